"""Blending overlapping window predictions back into rows without seams.

Overlapping predictions are averaged with raised-cosine weights that fall towards each
window's edge, so no seam shows. Windows come row by row (:mod:`..plan.windows`), and the
:class:`RowBlender` hands back any column range of the rows no later window touches: memory
stays one window-row high whatever the raster's height.
"""
from __future__ import annotations

import numpy as np


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
