"""SAR on the MSI grid: each raster warped lazily onto it, read window by window in dB.

SAR may lie on another grid than the MSI: a GDAL warped VRT (bilinear) puts it on the MSI grid
without resampling the whole raster, and each window read is decoded to dB
(:mod:`.encodings`).
"""
from __future__ import annotations

import numpy as np
from osgeo import gdal

from ..errors import CloudFillError
from .encodings import linear_to_db, looks_linear, sar_dn_scale
from .raster import RasterInfo, SarSource


def warp_to_grid(sar: SarSource, ref: RasterInfo) -> None:
    """Give a SAR raster its warped VRT on ``ref``'s grid (bilinear), read lazily by window."""
    if sar.band_count < 2:
        raise CloudFillError(f"SAR '{sar.name}' has {sar.band_count} band; SAR needs VV "
                             "and VH (2 bands, VV first unless named).")
    gt = ref.geotransform
    bounds = (gt[0], gt[3] + gt[5] * ref.height, gt[0] + gt[1] * ref.width, gt[3])
    try:
        sar.warped = gdal.Warp("", sar.dataset, format="VRT", outputBounds=bounds,
                               width=ref.width, height=ref.height,
                               dstSRS=ref.crs_wkt or None, resampleAlg="bilinear",
                               dstNodata=float("nan"), outputType=gdal.GDT_Float32)
    except RuntimeError as e:
        raise CloudFillError(f"Cannot resample SAR '{sar.name}' onto the MSI grid: {e}") from None


def detect_linear(sar: SarSource, width: int, height: int) -> bool:
    """SAR in linear power (all values >= 0) rather than dB? From the warped view (the
    area used, no data as NaN), in up to 3 x 3 small windows spread over the ``width`` x
    ``height`` MSI grid: a thumbnail of it warps the whole grid, one of the file decodes the
    whole file."""
    if sar.numpy_dtype.kind != "f":
        return False
    side = min(64, width, height)
    xs = np.linspace(0, width - side, 3).round().astype(int)
    ys = np.linspace(0, height - side, 3).round().astype(int)
    sample = np.concatenate([sar.read_warped(int(x), int(y), side, side).ravel()
                             for y in sorted(set(ys)) for x in sorted(set(xs))])
    return looks_linear(sample)


def read_db(sar: SarSource, linear: bool, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """(2, h, w) float32 VV and VH in dB, a window of the MSI grid (``linear``: the raster
    holds linear power, :func:`detect_linear`)."""
    out = np.stack([sar.read_warped(x0, y0, w, h, band=b + 1).astype(np.float32)
                    for b in sar.vv_vh])
    if sar.numpy_dtype.kind in "iu":
        scale = sar_dn_scale(sar.scales[0])
        nd = sar.nodata[0]
        if nd is not None:
            out[out == nd] = np.nan
        out = out * scale + sar.offsets[0]
    elif linear:
        out = linear_to_db(out)
    return out
