"""A filled date's expected-error raster (``<name>_filled_rmse.tif``), one of the run's outputs."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..choose import confidence
from ..read.raster import RasterInfo
from .names import SOURCE_KEY, filled_paths
from .output_set import OutputSet
from .raster import RasterWriter


def add_confidence_raster(outputs: OutputSet, like: RasterInfo, mask: RasterWriter,
                          table: tuple[float, ...], ratios: dict[str, float], folder: str,
                          check: Callable[[], None]) -> str:
    """``<name>_filled_rmse.tif`` beside a date's mask: each filled pixel's expected RMS error
    (reflectance) by its distance to the date's nearest clear pixel, as the self-check measured
    it on this scene (:mod:`..choose.confidence`), and in its metadata what that error becomes in
    each spectral index; committed with the other ``outputs``. Return its path."""
    path = filled_paths(like.path, folder).rmse
    writer = outputs.add(RasterWriter(path, like, band_count=1, dtype=np.float32,
                                      descriptions=["expected RMS error (reflectance)"],
                                      nodata=confidence.NODATA,
                                      metadata={SOURCE_KEY: like.name,
                                                **confidence.metadata(table, ratios)}))
    mask.flush()
    confidence.write_confidence(mask.ds, writer.ds, table, writer.tmp_path + ".distance.tif",
                                check=check)
    writer.flush()
    return path
