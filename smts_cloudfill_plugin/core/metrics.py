"""Image-quality metrics on reflectance (data range 1), on filled pixels or on all pixels.

MSE, SAM (spectral angle, radians), PSNR and SSIM as in the paper; each can be restricted to a
pixel mask (the filled pixels), which is what the model card reports.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-8


def _as_tensor(a) -> torch.Tensor:
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a, dtype=np.float64))


def spectral_angle(pred: torch.Tensor, target: torch.Tensor, dim: int = -3) -> torch.Tensor:
    """Per-pixel angle (radians) between spectra along ``dim`` (the band axis).

    Identical spectra give 0. When a gradient is needed (the loss), the cosine is kept just
    inside (-1, 1), where ``acos`` has a finite derivative.
    """
    dot = (pred * target).sum(dim)
    norm = pred.norm(dim=dim) * target.norm(dim=dim)
    limit = 1 - 1e-7 if (pred.requires_grad or target.requires_grad) else 1.0
    return torch.acos(torch.clamp(dot / norm.clamp_min(EPS), -limit, limit))


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM (Gaussian window 11, sigma 1.5) for (N, C, H, W) images, mean over C."""
    return ssim_to(target, data_range)(pred)


def ssim_to(target: torch.Tensor, data_range: float = 1.0):
    """:func:`ssim_map` against one (N, C, H, W) ``target``, its local statistics computed
    once: returns ``f(pred)`` for preds of shape (..., N, C, H, W) (many candidate fills of
    the same truth in one call, as the self-check scores them), SSIM of shape (..., N, H, W)."""
    size, sigma = 11, 1.5
    x = torch.arange(size, dtype=target.dtype) - size // 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = (g / g.sum())
    c = target.shape[1]
    kx = g.view(1, 1, 1, size).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, size, 1).repeat(c, 1, 1, 1)

    def blur(z: torch.Tensor) -> torch.Tensor:
        shape = z.shape
        z = z.reshape(-1, *shape[-3:])
        z = F.pad(z, (size // 2,) * 4, mode="reflect") if min(z.shape[-2:]) > size // 2 else \
            F.pad(z, (size // 2,) * 4, mode="replicate")
        return F.conv2d(F.conv2d(z, kx, groups=c), ky, groups=c).view(shape)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_y = blur(target)
    syy = blur(target * target) - mu_y ** 2

    def f(pred: torch.Tensor) -> torch.Tensor:
        mu_x = blur(pred)
        sxx = blur(pred * pred) - mu_x ** 2
        sxy = blur(pred * target) - mu_x * mu_y
        s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / \
            ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
        return s.mean(-3)
    return f


def image_metrics(pred, target, mask=None) -> dict[str, float]:
    """MSE, SAM, PSNR and SSIM between two (T, C, H, W) reflectance stacks.

    Args:
        pred, target: arrays or tensors of the same shape, reflectance.
        mask: optional (T, H, W) bool; the metrics average over True pixels only.
    """
    p, t = _as_tensor(pred).double(), _as_tensor(target).double()
    if p.dim() == 3:
        p, t = p.unsqueeze(0), t.unsqueeze(0)
    m = torch.ones(p.shape[0], *p.shape[-2:], dtype=torch.bool) if mask is None else \
        _as_tensor(mask).bool().reshape(p.shape[0], *p.shape[-2:])
    n = int(m.sum())
    if n == 0:
        return {"mse": float("nan"), "sam": float("nan"), "psnr": float("nan"),
                "ssim": float("nan"), "pixels": 0}
    sq = ((p - t) ** 2).mean(1)
    mse = float(sq[m].mean())
    sam = float(spectral_angle(p, t, dim=1)[m].mean())
    ssim = float(ssim_map(p, t)[m].mean())
    psnr = 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")
    return {"mse": mse, "sam": sam, "psnr": psnr, "ssim": ssim, "pixels": n}


def patch_edge_jumps(image: np.ndarray, mask: np.ndarray, patch: int = 5) -> np.ndarray:
    """(2, patch): summed and counted jumps |x[i+1] - x[i]| (mean over bands) between
    neighbouring pixels that are both in ``mask``, across columns and rows, by grid phase
    ``i % patch``. A model that fills patch by patch shows a larger jump at one phase (the
    patch edges); :func:`edge_ratio` turns this into a ratio.

    Args:
        image: (T, C, H, W) values; mask: (T, H, W) bool.
    """
    out = np.zeros((2, patch))
    x = np.asarray(image, dtype=np.float64)
    for axis in (2, 3):
        n = x.shape[axis]
        a = np.take(x, range(n - 1), axis=axis)
        b = np.take(x, range(1, n), axis=axis)
        jump = np.abs(b - a).mean(1)
        both = np.take(mask, range(n - 1), axis=axis - 1) \
            & np.take(mask, range(1, n), axis=axis - 1)
        phase = np.arange(n - 1) % patch
        for p in range(patch):
            sel = np.take(both, np.flatnonzero(phase == p), axis=axis - 1)
            out[0, p] += float(np.take(jump, np.flatnonzero(phase == p), axis=axis - 1)[sel].sum())
            out[1, p] += float(sel.sum())
    return out


def edge_ratio(jumps: np.ndarray) -> float:
    """Worst grid phase: its mean jump over the mean jump of the other phases."""
    mean = jumps[0] / np.maximum(jumps[1], 1)
    ratios = []
    for p in range(len(mean)):
        other = float(np.mean(np.delete(mean, p)))
        # Jumps only at one phase: infinitely blocky; no jumps at all: flat, no edge.
        ratios.append(mean[p] / other if other > 0 else (np.inf if mean[p] > 0 else 1.0))
    return float(max(ratios))
