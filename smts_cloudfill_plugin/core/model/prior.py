"""The prior: what a cloudy pixel holds before the network looks at it.

Two parts, both classical and both measured against the baseline on held-out dates:

- **temporal interpolation** between the nearest clear dates before and after, with the true
  day offsets (the baseline itself, :mod:`..training.baseline`, in torch and within a window:
  the runtime's copy of the rule, batched on the model's device in float32, where the
  baseline's numpy float64 over a whole season is what evaluation reports);
- the **same-date residual correction**: where the date itself differs from that line (a field
  cut, a brighter sky, growth faster than linear), the clear pixels of the same date around the
  cloud show by how much. The residual ``date - interpolation`` on those clear pixels is spread
  into the cloud with a normalised Gaussian average, shrinking towards no correction far from
  any clear pixel.

The residual is measured with the *same pair of source dates* as the pixel it corrects: a cloudy
pixel interpolated between dates p and n gets the residual of ``p -> n`` interpolation, measured
only on pixels clear on the date and on p and n. Mixing pairs failed badly on the demo case (a
neighbour's undetected cloud rims leaked into the fill: +1250 % MSE); pair-consistent, the same
case gained 58 % (``model_weights/EXPERIMENTS.md``).
"""
from __future__ import annotations

import functools
import math

import torch

from ..read.dates import STEP_DAYS


def nominal_days(days: torch.Tensor | None, missing: torch.Tensor) -> torch.Tensor:
    """(B, T) day offsets; the model's nominal steps (:data:`..read.dates.STEP_DAYS`) when
    unknown."""
    if days is not None:
        d = days.to(missing.device, torch.float32)
        return d.expand(missing.shape[0], -1) if d.dim() == 2 \
            else d.view(1, -1).expand(missing.shape[0], -1)
    t = missing.shape[1]
    steps = STEP_DAYS * torch.arange(t, device=missing.device, dtype=torch.float32)
    return steps.expand(missing.shape[0], t)


def neighbours(missing: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per pixel and date: the index of the nearest clear date at or before it, and at or after
    it (clamped into range), and whether each exists."""
    t = missing.shape[1]
    clear = ~missing
    idx = torch.arange(t, device=missing.device).view(1, t, 1, 1).expand_as(missing)
    prev = torch.where(clear, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    nxt = torch.where(clear, idx, torch.full_like(idx, t)).flip(1).cummin(dim=1).values.flip(1)
    has_prev, has_next = prev >= 0, nxt < t
    return idx, prev.clamp_min(0), nxt.clamp_max(t - 1), has_prev, has_next


def temporal_prefill(x: torch.Tensor, missing: torch.Tensor,
                     days: torch.Tensor | None = None) -> torch.Tensor:
    """Fill missing pixels of (B, T, C, H, W) by linear interpolation in time between the
    nearest clear dates (true day offsets; the nominal 10-day steps when ``days`` is None),
    the nearest clear date at the ends, 0 (the band mean) where a pixel has no clear date:
    the same as :func:`..training.baseline.interpolate_temporal` within the window."""
    b, t, h, w = missing.shape
    idx, prev, nxt, has_prev, has_next = neighbours(missing)
    p = torch.where(has_prev, prev, nxt)
    n = torch.where(has_next, nxt, p)
    d = nominal_days(days, missing).to(x.dtype).view(b, t, 1, 1).expand(b, t, h, w)
    dp, dn = torch.gather(d, 1, p), torch.gather(d, 1, n)
    span = dn - dp
    wgt = torch.where(span > 0, (d - dp) / span.clamp_min(1e-6), torch.zeros_like(span))
    gather = lambda i: torch.gather(x, 1, i.unsqueeze(2).expand_as(x))  # noqa: E731
    vp, vn = gather(p), gather(n)
    est = vp + wgt.unsqueeze(2) * (vn - vp)
    est = est.masked_fill(~(has_prev | has_next).unsqueeze(2), 0.0)
    return torch.where(missing.unsqueeze(2), est, x)


#: Shrinkage towards no correction where little clear support is near (a share of the
#: Gaussian's weight); chosen on the matrix's scenarios (0.002..0.03 within a few %).
RIDGE = 0.01


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian average of (N, H, W) maps (truncated at 4 sigma), zero outside the map
    (so that, applied to a 0/1 support map too, the ratio is a normalised average).

    Written as two small matrix products with banded (Toeplitz) kernels: the same sums as a
    zero-padded convolution, but matmul runs some 100x faster on the CPU than a one-channel
    convolution with a 33..65-tap kernel."""
    h, w = x.shape[-2:]
    rows = _band(h, sigma, x.dtype, x.device)
    cols = _band(w, sigma, x.dtype, x.device)
    return rows @ x @ cols


@functools.lru_cache(maxsize=32)
def _band(n: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, n) symmetric matrix of the normalised, truncated Gaussian kernel."""
    radius = max(1, int(math.ceil(4 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    i = torch.arange(n)
    offset = i.view(-1, 1) - i.view(1, -1)
    band = torch.where(offset.abs() <= radius, k[(offset + radius).clamp(0, 2 * radius)],
                       torch.zeros((), dtype=torch.float64))
    return band.to(dtype=dtype, device=device)


def residual_correction(x: torch.Tensor, missing: torch.Tensor, days: torch.Tensor | None,
                        sigma: float, dates: list[int] | None = None,
                        ridge: float = RIDGE) -> torch.Tensor:
    """(B, T, C, H, W) correction to add to temporal interpolation on the missing pixels
    (zero elsewhere, and on pixels with no clear date before or after).

    Args:
        x: (B, T, C, H, W) values; missing ones are ignored.
        missing: (B, T, H, W) bool.
        days: (T,) or (B, T) day offsets (nominal 10-day steps when None), as the
            interpolation uses.
        sigma: the Gaussian's standard deviation in pixels.
        dates: the dates to correct (all when None).
    """
    b, t, c, h, w = x.shape
    _, prev, nxt, has_prev, has_next = neighbours(missing)
    p = torch.where(has_prev, prev, nxt)
    n = torch.where(has_next, nxt, p)
    pair = torch.where(has_prev | has_next, p * t + n, torch.full_like(p, -1))
    d = nominal_days(days, missing).to(x.dtype)                       # (B, T)
    clear = ~missing
    out = torch.zeros_like(x)
    for k in (range(t) if dates is None else dates):
        todo = missing[:, k] & (pair[:, k] >= 0)
        if not bool(todo.any()):
            continue
        for code in torch.unique(pair[:, k][todo]).tolist():
            i, j = divmod(int(code), t)
            span = (d[:, j] - d[:, i]).view(b, 1, 1, 1)
            wgt = torch.where(span > 0, (d[:, k] - d[:, i]).view(b, 1, 1, 1) / span.clamp_min(1e-6),
                              torch.zeros_like(span))
            line = x[:, i] + wgt * (x[:, j] - x[:, i])
            support = (clear[:, k] & clear[:, i] & clear[:, j]).to(x.dtype)   # (B, H, W)
            resid = torch.nan_to_num(x[:, k] - line) * support.unsqueeze(1)
            num = gaussian_blur(resid.reshape(b * c, h, w), sigma).view(b, c, h, w)
            den = gaussian_blur(support, sigma).unsqueeze(1)
            here = (todo & (pair[:, k] == code)).unsqueeze(1)
            out[:, k] = torch.where(here, num / (den + ridge), out[:, k])
    return out
