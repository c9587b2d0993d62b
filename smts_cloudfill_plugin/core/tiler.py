"""Cutting a raster into overlapping model windows and blending the results back seamlessly.

Every window has the same side (the model's training window), so windows batch together;
those that stick out of the raster are padded with pixels marked missing. Overlapping
predictions are averaged with raised-cosine weights that fall towards each window's edge, so
no seam shows. Windows come row by row, and the :class:`RowBlender` hands back each strip of
rows as soon as no later window touches it: memory stays one window-row high whatever the
raster's height.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class Window:
    """A model window: ``size`` x ``size`` pixels at (x0, y0); (w, h) of it lie in the raster."""

    x0: int
    y0: int
    w: int
    h: int


def axis_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets along one axis: stride ``size - overlap``, the last window flush with the end."""
    if length <= size:
        return [0]
    stride = size - overlap
    starts = list(range(0, length - size, stride))
    starts.append(length - size)
    return starts


def plan_windows(width: int, height: int, size: int, overlap: int) -> list[list[Window]]:
    """Windows covering the raster, grouped in rows (top to bottom)."""
    if not 0 <= overlap < size:
        raise ValueError(f"overlap {overlap} must be in [0, {size})")
    xs, ys = axis_starts(width, size, overlap), axis_starts(height, size, overlap)
    return [[Window(x, y, min(size, width - x), min(size, height - y)) for x in xs] for y in ys]


def blend_weights(size: int, overlap: int) -> np.ndarray:
    """(size, size) weights: 1 in the centre, a raised-cosine ramp over ``overlap`` px to the edges.

    Weights stay above zero at the very edge, so a pixel covered by one window only (the raster's
    border) still gets exactly that window's value after normalisation.
    """
    ramp = np.ones(size, dtype=np.float64)
    if overlap > 0:
        i = np.arange(overlap)
        r = 0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / overlap)
        ramp[:overlap] = np.minimum(ramp[:overlap], r)
        ramp[size - overlap:] = np.minimum(ramp[size - overlap:], r[::-1])
    return np.outer(ramp, ramp).astype(np.float32)


def pad_to(array: np.ndarray, size: int, value: float | bool = 0) -> np.ndarray:
    """Pad the last two axes of ``array`` at the bottom/right to ``size`` x ``size``."""
    h, w = array.shape[-2:]
    if (h, w) == (size, size):
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, size - h), (0, size - w)]
    return np.pad(array, pad, constant_values=value)


class RowBlender:
    """Weighted blending of one row of windows at a time, finished left to right.

    Float32 sums of prediction x weight in window order, divided by the summed weights;
    :meth:`finish` hands back any column range of the finished rows, so the caller never needs
    a whole strip of inputs at once. Memory: ``channels`` x window x width float32.
    """

    def __init__(self, channels: int, width: int, size: int, overlap: int) -> None:
        self.size, self.width, self.channels = size, width, channels
        self.weights = blend_weights(size, overlap)
        self.top = 0
        self._sum = np.zeros((channels, size, width), dtype=np.float32)
        self._weight = np.zeros((size, width), dtype=np.float32)

    def add(self, x0: int, y0: int, w: int, h: int, prediction: np.ndarray) -> None:
        """Add a (channels, >=h, >=w) prediction for the window at (x0, y0) of valid size w x h."""
        dy = y0 - self.top
        wgt = self.weights[:h, :w]
        ys, xs = slice(dy, dy + h), slice(x0, x0 + w)
        self._sum[:, ys, xs] += prediction[:, :h, :w] * wgt
        self._weight[ys, xs] += wgt

    def finish(self, x0: int, x1: int, rows: int) -> np.ndarray:
        """Blended (channels, rows, x1 - x0) of the first ``rows`` rows, columns [x0, x1)."""
        return self._sum[:, :rows, x0:x1] / np.maximum(self._weight[:rows, x0:x1], 1e-12)

    def next_row(self, next_top: int) -> None:
        """Drop the rows above ``next_top`` (all finished) and shift the rest up."""
        n = next_top - self.top
        keep = self.size - n
        if keep > 0:
            self._sum[:, :keep] = self._sum[:, n:].copy()
            self._weight[:keep] = self._weight[n:].copy()
        self._sum[:, max(keep, 0):] = 0
        self._weight[max(keep, 0):] = 0
        self.top = next_top



class StripBlender(RowBlender):
    """A :class:`RowBlender` driven by :class:`Window` objects, handing back whole strips.

    Call :meth:`add` for every window of a row, then :meth:`finish_row` with the next row's
    start (or the raster height) to get the finished rows ``[y_start, y_end)`` as
    (channels, rows, width) arrays.
    """

    def add(self, window: Window, prediction: np.ndarray) -> None:  # type: ignore[override]
        """Add a (channels, size, size) prediction for ``window`` (its valid part is used)."""
        super().add(window.x0, window.y0, window.w, window.h, prediction)

    def finish_row(self, next_top: int) -> tuple[int, np.ndarray]:
        """Return (y_start, blended rows up to ``next_top``) and shift the buffer."""
        start = self.top
        done = self.finish(0, self.width, next_top - start)
        self.next_row(next_top)
        return start, done


def iter_rows(rows: list[list[Window]], height: int) -> Iterator[tuple[list[Window], int]]:
    """Each row of windows with the y where the next row starts (the raster height at the end)."""
    for i, row in enumerate(rows):
        yield row, rows[i + 1][0].y0 if i + 1 < len(rows) else height
