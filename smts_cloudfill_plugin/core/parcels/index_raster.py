"""A spectral index of a date as a raster (e.g. NDVI of each filled date, to look at in QGIS).

Read in strips through :class:`..read.stack.Stack` (encodings decoded to reflectance), written
Float32 on the input's grid, NaN where the index is undefined or the pixel has no data; the
file goes in place only when whole (written under a temporary name, then renamed).
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import CloudFillError
from ..progress import Feedback
from ..read.raster import RasterSource
from ..read.stack import Stack
from ..write.writer import RasterWriter
from ..indices import INDICES

#: Rows read and written at a time.
ROWS = 512


def index_path(path: str, index: str = "NDVI") -> str:
    """``<name>_<index>.tif`` beside the raster (``..._filled_ndvi.tif``)."""
    stem, _ = os.path.splitext(path)
    return f"{stem}_{index.lower()}.tif"


def write_index_raster(path: str, index: str = "NDVI", out: str | None = None,
                       feedback: Feedback | None = None) -> str:
    """Write ``index`` of the raster at ``path`` to ``out`` (default :func:`index_path`)."""
    feedback = feedback or Feedback()
    idx = INDICES[index]
    out = out or index_path(path, index)
    source = RasterSource.open(path, "Raster")
    try:
        names = source.band_names
    finally:
        source.close()
    if names is None or any(b not in names for b in idx.bands):
        raise CloudFillError(f"'{os.path.basename(path)}' does not name the bands {index} needs "
                             f"({', '.join(idx.bands)}).")
    with Stack([path], bands=idx.bands) as stack:
        writer = RasterWriter(out, stack.reference, band_count=1, dtype=np.float32,
                              descriptions=[index], nodata=float("nan"),
                              metadata={"SMTS_INDEX": index, "SMTS_SOURCE": os.path.basename(path)})
        try:
            for y in range(0, stack.height, ROWS):
                feedback.check()
                h = min(ROWS, stack.height - y)
                window = stack.read(0, y, stack.width, h)
                values = idx.compute({b: window.msi[0, c] for c, b in enumerate(idx.bands)})
                values[window.missing[0]] = np.nan
                writer.write(0, y, values.astype(np.float32))
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return out
