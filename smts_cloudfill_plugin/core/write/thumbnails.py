"""Small true-colour pictures of a filled date for the run's report: before, after, filled pixels.

Read decimated by GDAL (at most :data:`SIDE` pixels a side), both pictures stretched alike (2-98 %
of the clear pixels of the input, per band), so what changed is what was filled; encoded as PNG
for embedding in the HTML report.
"""
from __future__ import annotations

import base64
import uuid

import numpy as np
from osgeo import gdal

from ..read.stack import Stack
from .raster import RasterWriter

#: The longer side of a thumbnail, in pixels.
SIDE = 240
#: Colour of the filled pixels in the mask picture (as the layers' legend: magenta).
FILLED_RGB = (255, 0, 255)


def _size(ds: gdal.Dataset) -> tuple[int, int]:
    scale = min(1.0, SIDE / max(ds.RasterXSize, ds.RasterYSize))
    return max(1, round(ds.RasterXSize * scale)), max(1, round(ds.RasterYSize * scale))


def _read(ds: gdal.Dataset, bands: list[int], size: tuple[int, int]) -> np.ndarray:
    return np.stack([ds.GetRasterBand(b + 1).ReadAsArray(buf_xsize=size[0], buf_ysize=size[1],
                                                         resample_alg=gdal.GRIORA_NearestNeighbour)
                     for b in bands]).astype(np.float64)


def png_base64(rgb: np.ndarray) -> str:
    """(3, h, w) uint8 -> base64 PNG text (for an <img src="data:image/png;base64,...">)."""
    mem = gdal.GetDriverByName("MEM").Create("", rgb.shape[2], rgb.shape[1], 3, gdal.GDT_Byte)
    for i in range(3):
        mem.GetRasterBand(i + 1).WriteArray(rgb[i])
    path = f"/vsimem/smts_thumb_{uuid.uuid4().hex}.png"
    gdal.GetDriverByName("PNG").CreateCopy(path, mem)
    try:
        f = gdal.VSIFOpenL(path, "rb")
        gdal.VSIFSeekL(f, 0, 2)
        n = gdal.VSIFTellL(f)
        gdal.VSIFSeekL(f, 0, 0)
        data = gdal.VSIFReadL(1, n, f)
        gdal.VSIFCloseL(f)
    finally:
        gdal.Unlink(path)
    return base64.b64encode(data).decode("ascii")


def thumbnails(before: gdal.Dataset, after: gdal.Dataset, mask: gdal.Dataset,
               rgb_bands: list[int]) -> tuple[str, str, str]:
    """Before, after and filled-pixel pictures (base64 PNG) of one date; ``rgb_bands`` the
    0-based file bands shown as red, green and blue (B04, B03, B02)."""
    size = _size(after)
    filled = mask.GetRasterBand(1).ReadAsArray(buf_xsize=size[0], buf_ysize=size[1],
                                               resample_alg=gdal.GRIORA_NearestNeighbour) != 0
    a, b = _read(before, rgb_bands, size), _read(after, rgb_bands, size)
    clear = ~filled
    out = []
    for image in (a, b):
        rgb = np.zeros(image.shape, np.uint8)
        for c in range(3):
            ref = a[c][clear] if clear.any() else a[c].ravel()
            lo, hi = np.percentile(ref, (2, 98)) if ref.size else (0.0, 1.0)
            rgb[c] = np.clip((image[c] - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
        out.append(rgb)
    shown = out[0].copy()
    for c in range(3):
        shown[c][filled] = FILLED_RGB[c]
    return png_base64(out[0]), png_base64(out[1]), png_base64(shown)


def date_pictures(stack: Stack, t: int, writers: tuple[RasterWriter, RasterWriter]
                  ) -> tuple[str, str, str] | None:
    """Before / after / filled-pixel thumbnails of date ``t`` of ``stack`` from its (image,
    mask) ``writers``, for the report (None when its bands hold no true colour, or GDAL cannot
    make them: a picture never stops a run)."""
    names = list(stack.bands or ())
    if not all(b in names for b in ("B04", "B03", "B02")):
        return None
    rgb = [stack.band_indices[t][names.index(b)] for b in ("B04", "B03", "B02")]
    image, mask = writers
    try:
        image.flush()
        mask.flush()
        return thumbnails(stack.msi[t].dataset, image.ds, mask.ds, rgb)
    except (RuntimeError, ValueError):
        return None
