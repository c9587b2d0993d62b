"""Planning the order of work: strips of output columns, and blocks of windows within them.

The raster is processed strip by strip (each top to bottom), so memory depends on the strip's
width, not on the raster's size. Within a strip, each window-row is cut into blocks of whole
batches that one worker reads and runs together; a block finishes the output columns
[x_from, x_to) of its rows (the last block of a row finishes the row).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .windows import Window, iter_rows


def column_strips(width: int, block_width: int, strip_width: int) -> list[tuple[int, int]]:
    """Split [0, width) into strips of about ``strip_width`` columns on the output's block
    (tile) boundaries; a last strip narrower than half a strip joins the one before."""
    step = max(block_width, strip_width // block_width * block_width)
    starts = list(range(0, width, step))
    if len(starts) > 1 and width - starts[-1] < step // 2:
        starts.pop()
    return [(x, starts[i + 1] if i + 1 < len(starts) else width) for i, x in enumerate(starts)]


def split_batches(windows: Sequence, batch_size: int, per_chunk: int) -> list[list]:
    """Windows of one row in chunks of whole batches (``per_chunk`` windows, rounded to batches)."""
    step = max(1, -(-per_chunk // batch_size)) * batch_size
    return [list(windows[i:i + step]) for i in range(0, len(windows), step)]


@dataclass
class Block:
    """Windows of one row and one strip, run together; they finish columns [x_from, x_to)."""

    strip: int
    windows: list[Window]
    next_top: int
    x_from: int
    x_to: int
    row_end: bool


def plan_blocks(rows: list[list[Window]], height: int, strips: list[tuple[int, int]],
                batch_size: int, block_windows: int) -> tuple[list[Block], list[tuple[int, int]]]:
    """Blocks strip by strip, row by row, left to right, about ``block_windows`` windows each
    (whole batches); and each strip's window span (the windows that touch a strip reach past
    its edges, and are run for both strips it straddles)."""
    blocks, spans = [], []
    for s, (x0, x1) in enumerate(strips):
        spans.append((0, 0))
        for row, next_top in iter_rows(rows, height):
            mine = [w for w in row if w.x0 < x1 and w.x0 + w.w > x0]
            spans[s] = (mine[0].x0, max(w.x0 + w.w for w in mine))
            parts = split_batches(mine, batch_size, block_windows)
            x_from = x0
            for i, part in enumerate(parts):
                x_to = min(x1, parts[i + 1][0].x0) if i + 1 < len(parts) else x1
                blocks.append(Block(s, part, next_top, x_from, max(x_from, x_to),
                                    i + 1 == len(parts)))
                x_from = max(x_from, x_to)
    return blocks, spans
