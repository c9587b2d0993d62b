"""Cutting a raster into overlapping model windows, row by row.

Every window has the same side (the model's training window), so windows batch together;
those that stick out of the raster are padded with pixels marked missing. Neighbours overlap
so that :mod:`..feather` can even out their predictions without a seam.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

#: Windows per model call by default (Reconstruct's BATCH_SIZE, the command line's
#: --batch-size); lower only when a GPU runs out of memory.
WINDOWS_PER_CALL = 8


@dataclass(frozen=True)
class Window:
    """A model window: ``size`` x ``size`` pixels at (x0, y0); (w, h) of it lie in the raster."""

    x0: int
    y0: int
    w: int
    h: int


def axis_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets along one axis: stride ``size - overlap``, the last window flush with the
    end."""
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


def iter_rows(rows: list[list[Window]], height: int) -> Iterator[tuple[list[Window], int]]:
    """Each row of windows with the y where the next row starts (the raster height at the end)."""
    for i, row in enumerate(rows):
        yield row, rows[i + 1][0].y0 if i + 1 < len(rows) else height


def default_overlap(size: int, patch: int) -> int:
    """About a third of the window, with a stride that is not a multiple of the patch: the
    windows' patch grids then differ, and blending evens out any patch-edge step."""
    overlap = size // 3
    while overlap > 0 and (size - overlap) % patch == 0:
        overlap -= 2
    return max(overlap, 0)


def check_windows(rows: list[list[Window]], count: int) -> list[Window]:
    """Up to ``count`` whole windows spread over the raster, each overlapping those already
    taken by at most half its area (on a small raster, overlapping windows would only hold the
    same pixels back again)."""
    flat = [w for row in rows for w in row]
    whole = [w for w in flat if (w.w, w.h) == (flat[0].w, flat[0].h)] or flat
    if len(whole) > count:
        whole = [whole[int(i)] for i in np.linspace(0, len(whole) - 1, 4 * count).round()]
    chosen: list[Window] = []
    for w in whole:
        if all(_overlap(w, c) <= 0.5 * w.w * w.h for c in chosen):
            chosen.append(w)
    if len(chosen) > count:
        chosen = [chosen[int(i)] for i in np.linspace(0, len(chosen) - 1, count).round()]
    return chosen


def _overlap(a: Window, b: Window) -> int:
    return max(0, min(a.x0 + a.w, b.x0 + b.w) - max(a.x0, b.x0)) * \
        max(0, min(a.y0 + a.h, b.y0 + b.h) - max(a.y0, b.y0))
