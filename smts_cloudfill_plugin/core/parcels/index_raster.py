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
from ..write.names import INDEX_KEY, SOURCE_KEY
from ..write.output_set import OutputSet
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
    out = out or index_path(path, index)
    made: list[RasterWriter] = []   # the writer, once made: aborted if anything fails

    def make(like) -> RasterWriter:
        made.append(RasterWriter(out, like, **_layout(path, index)))
        return made[0]

    try:
        _index_into(path, index, make, feedback or Feedback()).commit()
    except BaseException:
        for writer in made:
            writer.abort()
        raise
    return out


def add_index_raster(outputs: OutputSet, image: RasterWriter, index: str = "NDVI",
                     feedback: Feedback | None = None) -> str:
    """``index`` of a filled date still being written (``image``, flushed and read from its
    temporary file) as one more output of the run: put in place with the others, all or
    nothing. Return its final path."""
    image.flush()
    out = index_path(image.path, index)
    _index_into(image.tmp_path, index,
                lambda like: outputs.add(RasterWriter(out, like, **_layout(image.path, index))),
                feedback or Feedback(), msi_dates=[None])
    return out


def _layout(source: str, index: str) -> dict:
    """An index raster's band, type, nodata and metadata (its source named by ``source``)."""
    return dict(band_count=1, dtype=np.float32, descriptions=[index], nodata=float("nan"),
                metadata={INDEX_KEY: index, SOURCE_KEY: os.path.basename(source)})


def _index_into(path: str, index: str, make_writer, feedback: Feedback,
                msi_dates=None) -> RasterWriter:
    """Compute ``index`` of the raster at ``path`` strip by strip into the writer that
    ``make_writer(like)`` gives; return that writer (not committed)."""
    idx = INDICES[index]
    with index_stack([path], idx, msi_dates=msi_dates) as stack:
        positions = band_positions(stack, idx)
        writer = make_writer(stack.reference)
        for y in range(0, stack.height, ROWS):
            feedback.check()
            h = min(ROWS, stack.height - y)
            window = stack.read(0, y, stack.width, h)
            values = idx.compute({b: window.msi[0, p] for b, p in zip(idx.bands, positions)})
            values[window.missing[0]] = np.nan
            writer.write(0, y, values.astype(np.float32))
    return writer
