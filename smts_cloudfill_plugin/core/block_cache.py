"""GDAL's block cache held near what one strip of windows needs.

By default GDAL's cache grows to 5 % of the RAM; reconstruct reads each block once or twice, so
a cap a little above the working set keeps memory flat at no cost in re-reading.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Sequence

from osgeo import gdal


@contextlib.contextmanager
def gdal_cache_limit(limit: int):
    """Lower GDAL's block cache to ``limit`` bytes for the block (never raise it).

    GDAL keeps every block it reads until its cache (by default 5 % of the RAM) is full; on a
    big raster that alone would make memory grow with the raster. The blocks reconstruct still
    needs are the most recently used ones, so a cap a little above that working set costs no
    re-reading. The cap is process-wide: nested or concurrent runs restore the original value
    when the last one ends.
    """
    with _cache_lock:
        if not _cache_users:
            _cache_saved.append(gdal.GetCacheMax())
        _cache_users.append(limit)
        gdal.SetCacheMax(min(_cache_saved[0], max(_cache_users)))
    try:
        yield
    finally:
        with _cache_lock:
            _cache_users.remove(limit)
            gdal.SetCacheMax(min(_cache_saved[0], max(_cache_users)) if _cache_users
                             else _cache_saved.pop())


_cache_lock = threading.Lock()


_cache_users: list[int] = []


_cache_saved: list[int] = []


def working_set(datasets: Sequence[gdal.Dataset], columns: int, rows: int) -> int:
    """Bytes of the blocks of ``datasets`` that cover ``columns`` x ``rows`` px (plus a block
    either side): what GDAL's cache must hold for a strip of windows to be read once."""
    total = 0
    for ds in datasets:
        band = ds.GetRasterBand(1)
        bx, by = band.GetBlockSize()
        px = sum(gdal.GetDataTypeSize(ds.GetRasterBand(i + 1).DataType) // 8
                 for i in range(ds.RasterCount))
        cols = min(ds.RasterXSize, (-(-columns // bx) + 1) * bx)
        total += cols * min(ds.RasterYSize, by + rows) * px
    return total
