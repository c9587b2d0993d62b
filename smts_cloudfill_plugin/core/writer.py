"""Writing results as GeoTIFF: same grid, CRS, no data, band names, type and scaling as the input.

Files are written under a temporary name beside the destination and renamed only when the
whole run has succeeded (:class:`OutputSet`), so a failed or cancelled run leaves nothing half
written behind.
"""
from __future__ import annotations

import os
import uuid

import numpy as np
from osgeo import gdal

from .errors import CloudFillError
from .stack_reader import RasterInfo

gdal.UseExceptions()

#: Value of the filled-pixel mask raster: 0 kept from the input, 1 filled by the model.
MASK_KEPT, MASK_FILLED = 0, 1


def creation_options(dtype: np.dtype, width: int, height: int) -> list[str]:
    """Tiled (when large enough), DEFLATE-compressed GeoTIFF; BigTIFF when it may exceed 4 GB."""
    opts = ["COMPRESS=DEFLATE", "ZLEVEL=1", f"PREDICTOR={3 if np.dtype(dtype).kind == 'f' else 2}",
            "BIGTIFF=IF_SAFER"]
    if width > 256 or height > 256:
        opts += ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]
    return opts


class RasterWriter:
    """A GeoTIFF written window by window under a temporary name; :meth:`commit` renames it."""

    def __init__(self, path: str, like: RasterInfo, band_count: int | None = None,
                 dtype: np.dtype | None = None, descriptions: list[str] | None = None,
                 nodata: float | None | str = "like", metadata: dict[str, str] | None = None,
                 copy_scaling: bool = True) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        self.tmp_path = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.part")
        count = band_count or like.band_count
        #: The file's data type (by default the one of ``like``: each date keeps its own).
        self.dtype = dtype = np.dtype(dtype or like.numpy_dtype)
        gdal_type = gdal.GetDataTypeByName({"uint8": "Byte"}.get(dtype.name, dtype.name.capitalize()))
        try:
            driver = gdal.GetDriverByName("GTiff")
            self.ds = driver.Create(self.tmp_path, like.width, like.height, count, gdal_type,
                                    creation_options(dtype, like.width, like.height))
        except RuntimeError as e:
            raise CloudFillError(f"Cannot write '{path}': {e}") from None
        self.ds.SetGeoTransform(like.geotransform)
        if like.crs_wkt:
            self.ds.SetProjection(like.crs_wkt)
        md = dict(like.metadata) if band_count is None else {}
        md.update(metadata or {})
        if md:
            self.ds.SetMetadata(md)
        for i in range(count):
            band = self.ds.GetRasterBand(i + 1)
            nd = like.nodata[i] if nodata == "like" and i < len(like.nodata) else \
                (None if nodata == "like" else nodata)
            if nd is not None:
                band.SetNoDataValue(nd)
            desc = (descriptions or like.descriptions)[i] if descriptions or band_count is None else ""
            if desc:
                band.SetDescription(desc)
            if copy_scaling and band_count is None:
                if like.scales[i] != 1.0:
                    band.SetScale(like.scales[i])
                if like.offsets[i] != 0.0:
                    band.SetOffset(like.offsets[i])

    def write(self, x0: int, y0: int, array: np.ndarray) -> None:
        """Write a (bands, h, w) or (h, w) array at pixel (x0, y0)."""
        a = array if array.ndim == 3 else array[None]
        for i in range(a.shape[0]):
            self.ds.GetRasterBand(i + 1).WriteArray(a[i], x0, y0)

    def close(self) -> None:
        if self.ds is not None:
            self.ds.FlushCache()
            self.ds = None

    def commit(self) -> None:
        """Finish the file and move it to its final name (replacing an older one)."""
        self.close()
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Drop the temporary file."""
        self.ds = None
        if os.path.exists(self.tmp_path):
            os.remove(self.tmp_path)


class OutputSet:
    """All files of one run: renamed together on success, all removed on any failure.

    Use as a context manager: leaving the block with an exception (a cancel included) aborts
    every writer; leaving it normally commits them.
    """

    def __init__(self) -> None:
        self.writers: list[RasterWriter] = []

    def add(self, writer: RasterWriter) -> RasterWriter:
        self.writers.append(writer)
        return writer

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for w in self.writers:
                w.close()
            for w in self.writers:
                w.commit()
        else:
            for w in self.writers:
                w.abort()


def check_writable(folder: str) -> None:
    """A clear error when ``folder`` cannot be created or written to."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise CloudFillError(f"Cannot create the output folder '{folder}': {e.strerror}.") from None
    if not os.access(folder, os.W_OK):
        raise CloudFillError(f"The output folder '{folder}' is not writable.")
