"""Temporal linear interpolation: the baseline every result is compared with."""
from __future__ import annotations

import numpy as np
import pytest

from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal

TIMES = np.array([0.0, 3.0, 10.0, 11.0, 25.0, 40.0])  # uneven gaps


def _linear_series(h=5, w=4, bands=3):
    rng = np.random.default_rng(0)
    a = rng.random((bands, h, w))
    b = rng.random((bands, h, w)) * 0.01
    return (a[None] + b[None] * TIMES[:, None, None, None]).astype(np.float32), a, b


def test_exact_on_a_linear_series_with_uneven_times():
    msi, _, _ = _linear_series()
    missing = np.zeros((6, 5, 4), bool)
    missing[1, :, :2] = True             # one hidden date between clear ones
    missing[2:5, 0, 0] = True            # three hidden dates in a row
    missing[3, 4, 3] = True
    out = interpolate_temporal(msi, missing, TIMES)
    assert out.dtype == np.float32 and out.shape == msi.shape
    np.testing.assert_allclose(out, msi, rtol=1e-6, atol=1e-6)
    # Clear values are returned untouched.
    np.testing.assert_array_equal(out[~np.broadcast_to(missing[:, None], msi.shape)],
                                  msi[~np.broadcast_to(missing[:, None], msi.shape)])


def test_uses_the_times_not_the_indices():
    msi = np.array([0.0, 0.0, 30.0]).reshape(3, 1, 1, 1)
    missing = np.array([False, True, False]).reshape(3, 1, 1)
    assert interpolate_temporal(msi, missing, np.array([0.0, 10.0, 30.0]))[1, 0, 0, 0] == \
        pytest.approx(10.0)
    assert interpolate_temporal(msi, missing)[1, 0, 0, 0] == pytest.approx(15.0)


def test_hidden_values_do_not_leak():
    msi, _, _ = _linear_series()
    missing = np.zeros((6, 5, 4), bool)
    missing[2, 1, 1] = True
    spoiled = msi.copy()
    spoiled[2, :, 1, 1] = 1e6
    np.testing.assert_allclose(interpolate_temporal(spoiled, missing, TIMES), msi, rtol=1e-6)


def test_ends_take_the_nearest_clear_date():
    msi, _, _ = _linear_series()
    missing = np.zeros((6, 5, 4), bool)
    missing[:2, 2, 2] = True     # first two dates hidden: take date 2
    missing[4:, 3, 1] = True     # last two hidden: take date 3
    out = interpolate_temporal(msi, missing, TIMES)
    np.testing.assert_array_equal(out[0, :, 2, 2], msi[2, :, 2, 2])
    np.testing.assert_array_equal(out[1, :, 2, 2], msi[2, :, 2, 2])
    np.testing.assert_array_equal(out[4, :, 3, 1], msi[3, :, 3, 1])
    np.testing.assert_array_equal(out[5, :, 3, 1], msi[3, :, 3, 1])


def test_a_pixel_never_clear_takes_the_date_mean():
    msi, _, _ = _linear_series()
    missing = np.zeros((6, 5, 4), bool)
    missing[:, 1, 3] = True
    missing[2, 0, :] = True
    out = interpolate_temporal(msi, missing, TIMES)
    for t in range(6):
        clear = ~missing[t]
        expected = msi[t][:, clear].astype(np.float64).mean(axis=1)
        np.testing.assert_allclose(out[t, :, 1, 3], expected, rtol=1e-6)


def test_a_date_with_no_clear_pixel_falls_back_to_the_stack_mean():
    msi = np.stack([np.full((2, 2, 2), v, np.float32) for v in (1.0, 2.0, 3.0)])
    missing = np.zeros((3, 2, 2), bool)
    missing[:, 0, 0] = True          # never clear
    missing[1] = True                # date 1 has nothing clear
    out = interpolate_temporal(msi, missing)
    assert out[0, 0, 0, 0] == pytest.approx(1.0)
    assert out[2, 0, 0, 0] == pytest.approx(3.0)
    assert out[1, 0, 0, 0] == pytest.approx(2.0)   # mean of dates 0 and 2's clear pixels
    assert out[1, 0, 1, 1] == pytest.approx(2.0)   # interpolated between 1 and 3
    assert np.isfinite(out).all()


def test_integer_input_gives_float_output():
    msi = np.array([100, 0, 300], np.uint16).reshape(3, 1, 1, 1)
    missing = np.array([False, True, False]).reshape(3, 1, 1)
    out = interpolate_temporal(msi, missing)
    assert out.dtype == np.float64 and out[1, 0, 0, 0] == 200.0
