"""A spectral index of a date as a raster (e.g. NDVI of each filled date, to look at in QGIS).

Read in strips through :class:`..read.stack.Stack` (encodings decoded to reflectance), written
Float32 on the input's grid, NaN where the index is undefined or the pixel has no data; the
file goes in place only when whole (written under a temporary name, then renamed).
"""
from __future__ import annotations

import os

import numpy as np

from ..indices import INDICES
from ..progress import Feedback
from ..write.raster import RasterWriter
from .series import band_positions, index_stack

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
    with index_stack([path], idx) as stack:
        positions = band_positions(stack, idx)
        writer = RasterWriter(out, stack.reference, band_count=1, dtype=np.float32,
                              descriptions=[index], nodata=float("nan"),
                              metadata={"SMTS_INDEX": index, "SMTS_SOURCE": os.path.basename(path)})
        try:
            for y in range(0, stack.height, ROWS):
                feedback.check()
                h = min(ROWS, stack.height - y)
                window = stack.read(0, y, stack.width, h)
                values = idx.compute({b: window.msi[0, p] for b, p in zip(idx.bands, positions)})
                values[window.missing[0]] = np.nan
                writer.write(0, y, values.astype(np.float32))
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    return out
