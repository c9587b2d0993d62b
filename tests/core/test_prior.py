"""Same-date residual correction: it recovers what the date's clear pixels say, from the same
pair of source dates only, and says nothing far from any clear pixel."""
from __future__ import annotations

import numpy as np
import torch

from smts_cloudfill_plugin.core.model.prior import RIDGE, gaussian_blur, residual_correction
from smts_cloudfill_plugin.core.choose.candidates import interpolation

DAYS = torch.tensor([0.0, 10, 20, 30, 40, 50])


def season(offset: float = 0.05, size: int = 40) -> torch.Tensor:
    """(1, 6, 3, S, S): a textured field growing linearly in time; date 2 is ``offset``
    brighter than the line through its neighbours (a hazier sky, a faster crop)."""
    g = torch.Generator().manual_seed(0)
    field = 0.1 + 0.2 * torch.rand(1, 1, 3, size, size, generator=g)
    x = field + 0.01 * torch.arange(6.0).view(1, 6, 1, 1, 1)
    x[:, 2] += offset
    return x


def test_gaussian_blur_of_a_constant_is_the_constant_away_from_the_border():
    x = torch.full((1, 40, 40), 2.0)
    y = gaussian_blur(x, 3.0)
    assert torch.allclose(y[:, 15:25, 15:25], x[:, 15:25, 15:25], atol=1e-5)
    assert y[0, 0, 0] < 1.5   # outside the map counts as zero: normalise by the support's blur


def test_the_dates_offset_is_recovered_inside_a_cloud():
    x = season()
    missing = torch.zeros(1, 6, 40, 40, dtype=torch.bool)
    missing[0, 2, 15:25, 15:25] = True
    interp, _ = interpolation(x, missing, DAYS)
    fixed = interp + residual_correction(x, missing, DAYS, 4.0)
    m = missing[0, 2]
    before = (interp[0, 2][:, m] - x[0, 2][:, m]).abs().mean()
    after = (fixed[0, 2][:, m] - x[0, 2][:, m]).abs().mean()
    assert before > 0.045 and after < 0.1 * before
    # Nothing changes where nothing was missing.
    assert torch.equal(residual_correction(x, missing, DAYS, 4.0)[:, :, :, ~m], torch.zeros(1, 6, 3, 1500))


def test_the_correction_shrinks_to_nothing_far_from_clear_pixels():
    x = season(size=80)
    missing = torch.zeros(1, 6, 80, 80, dtype=torch.bool)
    missing[0, 2, :, 10:] = True        # only a 10 px strip of the date is clear
    corr = residual_correction(x, missing, DAYS, 2.0)[0, 2]
    assert corr[:, :, 12].mean() > 0.03      # next to the clear strip: most of the offset
    assert corr[:, :, 60:].abs().max() < 1e-6   # 50 px away: none


def test_a_pixel_takes_the_residual_of_its_own_source_dates_only():
    """Date 2's cloud sits where date 3 is cloudy too, so those pixels are interpolated from
    dates 1 and 4. Around the cloud, date 3 has bright undetected rims (2 -> 3 interpolation
    looks far off); the correction must not carry that into pixels that never used date 3."""
    x = season(offset=0.0)
    missing = torch.zeros(1, 6, 40, 40, dtype=torch.bool)
    missing[0, 2, 15:25, 15:25] = True
    missing[0, 3, 15:25, 15:25] = True
    x[0, 3, :, 12:28, 12:28] += 0.3          # rims of the date-3 cloud, not masked
    corr = residual_correction(x, missing, DAYS, 4.0)
    assert corr[0, 2][:, 15:25, 15:25].abs().max() < 1e-6


def test_ridge_shrinks_where_support_is_thin():
    x = season()
    missing = torch.zeros(1, 6, 40, 40, dtype=torch.bool)
    missing[0, 2] = True
    missing[0, 2, 0, 0] = False              # one clear pixel in a corner
    corr = residual_correction(x, missing, DAYS, 4.0)[0, 2]
    # One pixel's Gaussian weight (about 0.01 at scale 4) is the ridge's size: at most about
    # half of what it says is taken, and less with distance.
    assert 0.01 < corr[:, 1, 1].mean() < 0.6 * 0.05
    assert corr[:, 12, 12].abs().max() < 0.01 * 0.05
    assert RIDGE == 0.01


def test_unknown_dates_use_the_nominal_steps_and_nan_inputs_are_ignored():
    x = season()
    missing = torch.zeros(1, 6, 40, 40, dtype=torch.bool)
    missing[0, 2, 15:25, 15:25] = True
    x_nan = x.clone()
    x_nan[0, 2, :, 15:25, 15:25] = float("nan")
    a = residual_correction(x, missing, None, 4.0)
    b = residual_correction(x_nan, missing, DAYS, 4.0)
    assert torch.allclose(a, b, atol=1e-6) and not torch.isnan(b).any()
    assert np.isfinite(a.numpy()).all()
