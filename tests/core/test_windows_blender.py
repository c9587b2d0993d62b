"""Tiler: windows cover every pixel, and blending overlapping predictions leaves no seam."""
from __future__ import annotations

import numpy as np
import pytest

from smts_cloudfill_plugin.core.feather import RowBlender, blend_weights
from smts_cloudfill_plugin.core.plan.windows import Window, axis_starts, iter_rows, plan_windows


def _coverage(rows: list[list[Window]], width: int, height: int, size: int) -> np.ndarray:
    count = np.zeros((height, width), dtype=int)
    for row in rows:
        assert len({w.y0 for w in row}) == 1, "a row of windows shares its top"
        for w in row:
            assert 0 <= w.x0 and 0 <= w.y0
            assert w.x0 + w.w <= width and w.y0 + w.h <= height
            assert w.w == min(size, width - w.x0) and w.h == min(size, height - w.y0)
            count[w.y0:w.y0 + w.h, w.x0:w.x0 + w.w] += 1
    return count


@pytest.mark.parametrize("width, height, size, overlap", [
    (7, 5, 20, 6),        # smaller than one window
    (20, 20, 20, 6),      # exactly one window
    (37, 23, 20, 6),      # not multiples of the patch or of the stride
    (64, 64, 20, 6),      # the sample
    (1013, 777, 60, 20),  # large
    (300, 61, 60, 0),     # no overlap
    (100, 100, 20, 15),   # overlap beyond half a window
])
def test_windows_cover_every_pixel(width, height, size, overlap):
    rows = plan_windows(width, height, size, overlap)
    count = _coverage(rows, width, height, size)
    assert count.min() >= 1
    tops = [r[0].y0 for r in rows]
    assert tops == sorted(set(tops))
    if width > size:
        # Neighbours overlap by at least ``overlap`` and the last window is flush with the edge.
        xs = [w.x0 for w in rows[0]]
        assert all(b - a <= size - overlap for a, b in zip(xs, xs[1:]))
        assert xs[-1] == width - size
    else:
        assert len(rows[0]) == 1


def test_axis_starts_and_bad_overlap():
    assert axis_starts(10, 20, 5) == [0]
    assert axis_starts(50, 20, 5) == [0, 15, 30]
    assert axis_starts(51, 20, 5) == [0, 15, 30, 31]
    with pytest.raises(ValueError):
        plan_windows(100, 100, 20, 20)
    with pytest.raises(ValueError):
        plan_windows(100, 100, 20, -1)


def test_blend_weights_are_positive_and_symmetric():
    w = blend_weights(20, 6)
    assert w.shape == (20, 20) and w.min() > 0 and w.max() == 1
    np.testing.assert_array_equal(w, w[::-1, ::-1])
    np.testing.assert_array_equal(w, w.T)
    assert (w[10, :6] < 1).all() and (w[10, 6:14] == 1).all()
    assert (blend_weights(20, 0) == 1).all()


def _blend(image: np.ndarray, size: int, overlap: int, noise: float = 0.0) -> np.ndarray:
    """Run the windows of ``image`` (channels, h, w) through the blender as reconstruct does."""
    c, height, width = image.shape
    rows = plan_windows(width, height, size, overlap)
    blender = RowBlender(c, width, size, overlap)
    out = np.full(image.shape, np.nan, dtype=np.float32)
    rng = np.random.default_rng(0)
    for row, next_top in iter_rows(rows, height):
        for w in row:
            pred = np.full((c, size, size), 1e6, np.float32)   # padding must never leak in
            pred[:, :w.h, :w.w] = image[:, w.y0:w.y0 + w.h, w.x0:w.x0 + w.w]
            pred = pred + noise * rng.standard_normal(pred.shape).astype(np.float32)
            blender.add(w.x0, w.y0, w.w, w.h, pred)
        top = blender.top
        done = blender.finish(0, width, next_top - top)
        blender.next_row(next_top)
        assert done.shape == (c, next_top - top, width)
        assert np.isnan(out[:, top:next_top]).all(), "rows are handed back once"
        out[:, top:next_top] = done
    assert not np.isnan(out).any(), "every row was handed back"
    return out


@pytest.mark.parametrize("width, height, size, overlap", [
    (64, 64, 20, 6), (37, 23, 20, 6), (7, 5, 20, 6), (130, 95, 30, 20), (50, 50, 20, 0)])
def test_blending_a_constant_gives_the_constant(width, height, size, overlap):
    image = np.full((3, height, width), 0.3172, dtype=np.float32)
    out = _blend(image, size, overlap)
    np.testing.assert_allclose(out, 0.3172, rtol=0, atol=1e-6)


@pytest.mark.parametrize("width, height, size, overlap", [
    (64, 64, 20, 6), (37, 23, 20, 6), (130, 95, 30, 20)])
def test_blending_a_ramp_gives_the_ramp(width, height, size, overlap):
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([0.001 * x + 0.002 * y + 0.05, 0.4 - 0.003 * x])
    out = _blend(image, size, overlap)
    np.testing.assert_allclose(out, image, rtol=0, atol=1e-6)


def test_blending_averages_disagreeing_windows_smoothly():
    """Where two windows disagree, the result moves gradually from one to the other."""
    width, height, size, overlap = 34, 20, 20, 6
    rows = plan_windows(width, height, size, overlap)
    assert [w.x0 for w in rows[0]] == [0, 14]
    blender = RowBlender(1, width, size, overlap)
    for w, value in zip(rows[0], (0.0, 1.0)):
        blender.add(w.x0, w.y0, w.w, w.h, np.full((1, size, size), value, np.float32))
    out = blender.finish(0, width, height)
    line = out[0, 10]
    assert (line[:14] == 0).all() and (line[20:] == 1).all()
    assert (np.diff(line[13:21]) > 0).all(), "monotone transition in the overlap, no jump"
    assert np.abs(np.diff(line)).max() < 0.5
