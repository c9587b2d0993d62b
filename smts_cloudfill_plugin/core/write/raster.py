"""GeoTIFF outputs: same grid, CRS, no data, band names, type and scaling as the input.

A :class:`RasterWriter` writes under a hidden temporary name (a part,
:func:`.output_set.part_path`) that its :class:`.output_set.OutputSet` renames when the whole
run has succeeded; a :class:`.strips.StripWriter` hands it pieces row by row.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
from osgeo import gdal

from .. import gdal_scope
from ..errors import CloudFillError
from ..read.raster import RasterInfo
from ..workers import available_cores
from .disk import write_failed
from .output_set import part_path

#: Value of the filled-pixel mask raster: 0 kept from the input, 1 filled by the model.
MASK_KEPT, MASK_FILLED = 0, 1


@contextlib.contextmanager
def compression_threads():
    """Compress the outputs' tiles on all cores (GDAL's own threads), unless GDAL_NUM_THREADS is
    set; a thread-local setting, so the rest of the application is not touched."""
    if gdal.GetConfigOption("GDAL_NUM_THREADS") is not None:
        yield
        return
    gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", str(available_cores()))
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", None)


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
        self.tmp_path = part_path(path)
        self.ds = None
        gdal_scope.acquire()  # released by close/abort
        self._scoped = True
        count = band_count or like.band_count
        #: The file's data type (by default the one of ``like``: each date keeps its own).
        self.dtype = dtype = np.dtype(dtype or like.numpy_dtype)
        gdal_type = gdal.GetDataTypeByName({"uint8": "Byte"}.get(dtype.name,
                                                                 dtype.name.capitalize()))
        try:
            driver = gdal.GetDriverByName("GTiff")
            self.ds = driver.Create(self.tmp_path, like.width, like.height, count, gdal_type,
                                    creation_options(dtype, like.width, like.height))
        except RuntimeError as e:
            self.abort()
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
            desc = (descriptions or like.descriptions)[i] \
                if descriptions or band_count is None else ""
            if desc:
                band.SetDescription(desc)
            if copy_scaling and band_count is None:
                if like.scales[i] != 1.0:
                    band.SetScale(like.scales[i])
                if like.offsets[i] != 0.0:
                    band.SetOffset(like.offsets[i])

    @property
    def block_size(self) -> tuple[int, int]:
        """The file's block (tile) width and height."""
        return tuple(self.ds.GetRasterBand(1).GetBlockSize())

    def write(self, x0: int, y0: int, array: np.ndarray) -> None:
        """Write a (bands, h, w) or (h, w) array at pixel (x0, y0)."""
        a = array if array.ndim == 3 else array[None]
        failed = None
        try:
            for i in range(a.shape[0]):
                self.ds.GetRasterBand(i + 1).WriteArray(a[i], x0, y0)
        except RuntimeError as e:   # a full disk, a file size limit
            failed = str(e)
        self._raise_if(failed)

    def flush(self) -> None:
        """Hand what GDAL holds of the file to the disk (and free its cache of it)."""
        failed = None
        try:
            self.ds.FlushCache()
        except RuntimeError as e:
            failed = str(e)
        self._raise_if(failed)

    def _raise_if(self, failed: str | None) -> None:
        """GDAL could not write (a full disk): say so naming the file. Raised outside the
        ``except`` block, so no traceback of GDAL's error holds the dataset open: aborting then
        closes it at once and quietly, not at exit with a screen of GDAL's errors."""
        if failed is not None:
            raise CloudFillError(write_failed(self.path, failed))

    def close(self) -> None:
        try:
            if self.ds is not None:
                self.ds.FlushCache()
                self.ds = None
        finally:
            self._unscope()

    def commit(self) -> None:
        """Finish the file and move it to its final name (replacing an older one)."""
        self.close()
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Drop the temporary file. GDAL is kept quiet while it lets go of the dataset: a file
        that failed to write (a full disk) fails again on closing, which GDAL would print (or,
        raising from a destructor, Python as "Exception ignored")."""
        hook = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: None
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            self.ds = None
        finally:
            gdal.PopErrorHandler()
            sys.unraisablehook = hook
        self._unscope()
        if os.path.exists(self.tmp_path):
            os.remove(self.tmp_path)

    def _unscope(self) -> None:
        if self._scoped:
            self._scoped = False
            gdal_scope.release()
