"""Strip buffering: rows of a band of columns handed to GDAL one whole block-row at a time."""
from __future__ import annotations

import numpy as np

from .raster import RasterWriter


class StripWriter:
    """Buffers rows of columns [x0, x1) of a :class:`RasterWriter`'s file, in pieces of at
    most ``max_piece_rows`` rows, and writes them block-row by block-row.

    Pieces arrive with :meth:`put` anywhere in the rows not yet written; :meth:`rows_done` says
    that all rows above ``y`` are complete. A block-row (the dataset's block height, e.g. 256
    rows of a tiled GeoTIFF) is written as soon as it is complete, and flushed column group by
    column group. With ``x0`` and ``x1`` on block boundaries (or the raster's edge), GDAL
    compresses each tile once, never holds partial tiles, and its cache never fills with output.
    It writes through its :class:`RasterWriter` and holds no dataset of its own, so aborting the
    writer (an error, a cancel) closes the file whatever still refers to this object.
    """

    def __init__(self, writer: RasterWriter, max_piece_rows: int, x0: int = 0,
                 x1: int | None = None, flush_columns: int = 1024) -> None:
        self.writer = writer
        ds = writer.ds
        self.bands = ds.RasterCount
        self.height = ds.RasterYSize
        self.x0, self.x1 = x0, ds.RasterXSize if x1 is None else x1
        bw, bh = writer.block_size
        self.block_h = min(bh, self.height)
        self.flush_columns = max(bw, flush_columns // bw * bw)
        self.top = 0   # first row not yet handed to GDAL
        rows = self.block_h + max_piece_rows
        self.buffer = np.zeros((self.bands, rows, self.x1 - self.x0), dtype=writer.dtype)

    def put(self, x: int, y: int, array: np.ndarray) -> None:
        """Store a (bands, h, w) piece at raster pixel (x, y); its rows must not be written yet."""
        a = array if array.ndim == 3 else array[None]
        dy, dx = y - self.top, x - self.x0
        self.buffer[:, dy:dy + a.shape[1], dx:dx + a.shape[2]] = a

    def rows_done(self, y: int) -> None:
        """Rows above ``y`` are complete: write every complete block-row."""
        while self.top < self.height and y >= min(self.top + self.block_h, self.height):
            n = min(self.block_h, self.height - self.top)
            self._write(n)
            rest = y - (self.top + n)
            if rest > 0:
                self.buffer[:, :rest] = self.buffer[:, n:n + rest].copy()
            self.top += n

    def _write(self, n: int) -> None:
        width = self.x1 - self.x0
        for c0 in range(0, width, self.flush_columns):
            c1 = min(width, c0 + self.flush_columns)
            self.writer.write(self.x0 + c0, self.top, self.buffer[:, :n, c0:c1])
            self.writer.flush()
