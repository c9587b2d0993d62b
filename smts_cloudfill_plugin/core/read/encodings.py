"""How stored values encode what the model reads, both ways: MSI reflectance and SAR dB.

MSI is stored as DN (integers, or floats holding DN 0..10000) scaled by the band's own
scale/offset or by :data:`DN_SCALE`, or as float reflectance as is; SAR as dB, as linear power,
or as scaled integers (dB). Reading decodes into reflectance and dB; writing a fill encodes it
back as its date stores it. One rule each, for the stack, the writer and Prepare.
"""
from __future__ import annotations

import numpy as np

from .raster import RasterSource

#: Integer reflectance is DN x this when the band declares no scale of its own (Sentinel-2 L2A).
DN_SCALE = 1e-4
#: The two MSI encodings :func:`detect_encoding` tells apart.
DN, REFLECTANCE = "dn", "reflectance"


def detect_encoding(info: RasterSource) -> str:
    """'dn' (integers, or floats holding DN values 0..10000) or 'reflectance' (floats
    0..1), found from a thumbnail of each date's own file."""
    if info.numpy_dtype.kind != "f":
        return DN
    sample = info.read(buf_xsize=min(info.width, 128),
                       buf_ysize=min(info.height, 128)).astype(np.float64)
    nodata = [v for v in info.nodata if v is not None and not np.isnan(v)]
    finite = sample[np.isfinite(sample) & (sample != 0) & ~np.isin(sample, nodata)]
    return DN if finite.size > 0 and float(np.percentile(finite, 99)) > 2.0 else REFLECTANCE


def scale_offset(info: RasterSource, encoding: str, file_band: int) -> tuple[float, float]:
    """Reflectance = stored x scale + offset for band ``file_band`` (from 0) of ``info``."""
    if encoding == REFLECTANCE:
        return 1.0, 0.0
    scale, offset = info.scales[file_band], info.offsets[file_band]
    return (scale, offset) if scale != 1.0 or offset != 0.0 else (DN_SCALE, 0.0)


def to_reflectance(raw: np.ndarray, info: RasterSource, encoding: str,
                   index: list[int]) -> np.ndarray:
    """(…, B, h, w) stored values of ``info`` -> (…, C, h, w) float32 reflectance of its file
    bands ``index`` (the model's band order)."""
    picked = raw[..., index, :, :].astype(np.float32)
    for c, b in enumerate(index):
        scale, offset = scale_offset(info, encoding, b)
        picked[..., c, :, :] = picked[..., c, :, :] * scale + offset
    return picked


def from_reflectance(refl: np.ndarray, info: RasterSource, encoding: str,
                     index: list[int]) -> np.ndarray:
    """(…, C, h, w) reflectance -> stored values as ``info`` stores them (its type, encoding
    and scale; channel c goes to file band ``index[c]``)."""
    out = np.empty(refl.shape, dtype=np.float64)
    for c, b in enumerate(index):
        scale, offset = scale_offset(info, encoding, b)
        out[..., c, :, :] = (refl[..., c, :, :] - offset) / scale
    dtype = info.numpy_dtype
    if dtype.kind in "iu":
        limits = np.iinfo(dtype)
        nodata = info.nodata[0]
        low = limits.min
        if dtype.kind == "u" and (nodata is None or nodata == 0):
            low = 1  # DN 0 means no data in Sentinel-2: a filled pixel must never read as it
        out = np.clip(np.rint(out), low, limits.max)
    return out.astype(dtype)


def sar_dn_scale(scale: float | None) -> float:
    """dB per stored unit of integer SAR: the band's own scale, else :data:`DN_SCALE`."""
    return scale if scale not in (None, 1.0) else DN_SCALE


def looks_linear(values: np.ndarray) -> bool:
    """SAR in linear power (every finite value >= 0) rather than dB (which goes negative)."""
    finite = values[np.isfinite(values)]
    return finite.size > 0 and float(finite.min()) >= 0


def linear_to_db(values: np.ndarray) -> np.ndarray:
    """Linear power -> dB (10 log10); 0 and below become NaN (no dB value)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(np.where(values > 0, values, np.nan))
