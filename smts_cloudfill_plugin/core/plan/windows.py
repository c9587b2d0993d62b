"""Cutting a raster into overlapping model windows, row by row.

Every window has the same side (the model's training window), so windows batch together;
those that stick out of the raster are padded with pixels marked missing. Neighbours overlap
so that :mod:`..blend.blender` can even out their predictions without a seam.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


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


def iter_rows(rows: list[list[Window]], height: int) -> Iterator[tuple[list[Window], int]]:
    """Each row of windows with the y where the next row starts (the raster height at the end)."""
    for i, row in enumerate(rows):
        yield row, rows[i + 1][0].y0 if i + 1 < len(rows) else height
