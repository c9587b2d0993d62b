"""Training loss: 0.5 MSE + 0.5 SAM, summed at scales 1, 1/2 and 1/4 (PAPER.md, Training).

Ours: the MSE term can be taken on standardised bands (``band_std``). On reflectance, MSE is
about 0.003 while SAM is about 0.15 radians, so the paper's sum is almost all SAM, and SAM does
not see brightness: a fill twice too bright costs nothing (the grey-green, too bright fills
seen on the sample). Standardised, both terms weigh alike.

The loss counts only pixels that were really clear and hidden by synthetic clouds (``weight``):
visible pixels are copied from the input at inference, and really cloudy ones have no truth.
Downsampling is 2x2 averaging, which is what bilinear resizing by exactly 1/2 computes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..metrics import spectral_angle


#: The standardised MSE is divided by this squared: with 2.5, it is about SAM's size (radians)
#: on interpolation's errors, so both weigh alike in relative terms.
STANDARDISED_MSE_SCALE = 2.5


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp_min(1e-6)


def mse_sam_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                 band_std: torch.Tensor | None = None) -> torch.Tensor:
    """0.5 MSE + 0.5 SAM for (B, T, C, H, W) stacks with a (B, T, H, W) pixel weight; the MSE
    on ``(pred - target) / band_std`` when a (C,) ``band_std`` is given."""
    diff = pred - target
    if band_std is not None:
        diff = diff / (band_std.reshape(1, 1, -1, 1, 1) * STANDARDISED_MSE_SCALE)
    mse = _masked_mean((diff ** 2).mean(2), weight)
    sam = _masked_mean(spectral_angle(pred, target, dim=2), weight)
    return 0.5 * mse + 0.5 * sam


def multiscale_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                    scales: tuple[int, ...] = (1, 2, 4),
                    band_std: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of :func:`mse_sam_loss` at full, half and quarter resolution.

    Pixels outside ``weight`` take the target's value in the prediction before downsampling,
    so a coarse pixel's error comes only from its weighted children.
    """
    keep = weight > 0
    pred = torch.where(keep.unsqueeze(2), pred, target)
    b, t, c, h, w = pred.shape
    total = pred.new_zeros(())
    for s in scales:
        if s == 1:
            total = total + mse_sam_loss(pred, target, weight, band_std)
            continue
        if h < s or w < s:
            break
        ps = F.avg_pool2d(pred.reshape(b, t * c, h, w), s).reshape(b, t, c, h // s, w // s)
        ts = F.avg_pool2d(target.reshape(b, t * c, h, w), s).reshape(b, t, c, h // s, w // s)
        ws = F.avg_pool2d(weight.float(), s)
        total = total + mse_sam_loss(ps, ts, ws, band_std)
    return total
