"""Temporal linear interpolation: the baseline every result is compared with.

Per pixel and band, a missing value is the linear interpolation in time between the nearest
clear observations before and after; at the ends of the series, the nearest clear date.
That is what an agronomist would otherwise do by hand.

This numpy float64 version is the reference the evaluation reports; the runtime fills with
the same rule in torch (:func:`..choose.candidates.interpolation`, on the model's device,
within a window), whose bits the outputs depend on.
"""
from __future__ import annotations

import numpy as np


def interpolate_temporal(msi: np.ndarray, missing: np.ndarray,
                         times: np.ndarray | None = None) -> np.ndarray:
    """Fill ``missing`` pixels of ``msi`` by temporal linear interpolation.

    Args:
        msi: (T, C, H, W) values.
        missing: (T, H, W) bool, True where the value must be filled.
        times: (T,) acquisition times (any unit, increasing); date indices when None.

    Returns:
        A float copy of ``msi`` with missing values filled. Pixels with no clear date at all
        take that date's mean over its clear pixels (or the stack's, if the date has none).
    """
    t_count = msi.shape[0]
    times = np.arange(t_count, dtype=np.float64) if times is None else np.asarray(times, float)
    clear = ~missing
    prev_idx = np.full(missing.shape, -1, dtype=np.int64)
    next_idx = np.full(missing.shape, -1, dtype=np.int64)
    last = np.full(missing.shape[1:], -1, dtype=np.int64)
    for t in range(t_count):
        last = np.where(clear[t], t, last)
        prev_idx[t] = last
    last[:] = -1
    for t in range(t_count - 1, -1, -1):
        last = np.where(clear[t], t, last)
        next_idx[t] = last

    has_prev, has_next = prev_idx >= 0, next_idx >= 0
    p = np.where(has_prev, prev_idx, np.where(has_next, next_idx, 0))
    n = np.where(has_next, next_idx, p)
    p = np.where(has_prev, p, n)
    tp, tn, tt = times[p], times[n], times[:, None, None]
    span = tn - tp
    w = np.divide(tt - tp, span, out=np.zeros_like(span), where=span != 0)

    data = msi.astype(np.float64)
    vp = np.take_along_axis(data, p[:, None], axis=0)
    vn = np.take_along_axis(data, n[:, None], axis=0)
    filled = vp + w[:, None] * (vn - vp)

    never_clear = ~(has_prev | has_next)
    if never_clear.any():
        stack_mean = _masked_band_mean(data.swapaxes(0, 1).reshape(data.shape[1], -1),
                                       clear.reshape(-1))
        for t in range(t_count):
            if never_clear[t].any():
                mean = _masked_band_mean(data[t].reshape(data.shape[1], -1), clear[t].reshape(-1))
                mean = np.where(np.isfinite(mean), mean, stack_mean)
                filled[t][:, never_clear[t]] = np.nan_to_num(mean)[:, None]
    out = np.where(missing[:, None], filled, data)
    return out.astype(msi.dtype if msi.dtype.kind == "f" else np.float64)


def _masked_band_mean(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    if not keep.any():
        return np.full(values.shape[0], np.nan)
    return values[:, keep].mean(axis=1)


def nearest_clear(msi: np.ndarray, missing: np.ndarray, times: np.ndarray | None = None
                  ) -> np.ndarray:
    """The second baseline: each missing value from the clear date nearest in time (the
    earlier one on a tie); where a pixel has no clear date, as :func:`interpolate_temporal`."""
    t_count = msi.shape[0]
    times = np.arange(t_count, dtype=np.float64) if times is None else np.asarray(times, float)
    out = interpolate_temporal(msi, missing, times)
    clear = ~missing
    best = np.full(missing.shape, np.inf)
    for s in range(t_count):
        dist = np.abs(times - times[s])[:, None, None] + 1e-6 * (times[s] > times)[:, None, None]
        closer = clear[s][None] & missing & (dist < best)
        best = np.where(closer, dist, best)
        out = np.where(closer[:, None], msi[s][None].astype(out.dtype), out)
    return out.astype(np.float32)
