"""Haze that the cloud mask misses: a temporal outlier check on the clear pixels.

Sentinel-2's scene classification calls some hazy pixels clear (class 7 "unclassified", 5
"not vegetated", 4 "vegetation" next to thin clouds; whole cloudy dates called snow, 11, which
is now counted as cloudy by default). Kept
as clear, they are copied into the output as they are, and the fill next to them spreads their
brightness into the cloud. This check looks at each clear pixel's haze index, blue - 0.5 red
(the idea of the haze optimized transform: haze raises blue more than red), against its own
time series: the nearest clear observation before and the nearest after. A pixel is flagged
when its index is above that of *both* neighbours by more than k times the index's noise
(:data:`HAZE_NOISE`, measured on the real seasons by ``scripts/haze_check.py``), as FORCE's
interpolation-residual filter removes positive outliers. "Above both" rather than "far from
their line" keeps the real changes that persist (a harvest, ploughing, a crop's growth: the
pixel then agrees with one neighbour), and the index keeps bare soil appearing (red rises at
least as much as blue) from reading as haze.

The noise is a fixed figure, not one taken from the scene: a pixel's flag depends only on its
own time series (and, grown by :data:`HAZE_GROW` px, on its neighbours'), so any window of the
raster gives the crop of the whole raster's flags. First and last dates (one neighbour only)
are never flagged, nor a pixel without a clear observation on both sides. Flagged pixels join
the date's missing mask and are filled. Figures and the default: model_weights/HAZE.md.
"""
from __future__ import annotations

import numpy as np

#: Bands the check reads (Sentinel-2 names): blue and red, for the haze index.
HAZE_BANDS = ("B02", "B04")
#: Weight of red in the haze index blue - RED_WEIGHT x red (the haze optimized transform's
#: idea, Zhang et al. 2002: haze raises blue more than red, while bare soil, a harvest or
#: ploughing raise red at least as much as blue).
RED_WEIGHT = 0.5
#: Robust noise (reflectance) of the haze index's excess over its temporal neighbours, measured
#: by ``scripts/haze_check.py`` on the wholly clear dates of the real seasons.
HAZE_NOISE = 0.011
#: A clear pixel is hazy when its haze index exceeds that of both its nearest clear
#: observations before and after by more than this many times :data:`HAZE_NOISE`. Chosen by
#: measurement (model_weights/HAZE.md).
DEFAULT_HAZE_K = 3.0
#: Whether Reconstruct runs the check by default (model_weights/HAZE.md).
DEFAULT_HAZE_CHECK = False


def neighbours(clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (T, ...) ``clear``: the index of the nearest clear date before each date (-1: none)
    and after (T: none), per pixel."""
    t = clear.shape[0]
    idx = np.arange(t).reshape((t,) + (1,) * (clear.ndim - 1))
    last = np.maximum.accumulate(np.where(clear, idx, -1), axis=0)
    first = np.minimum.accumulate(np.where(clear, idx, t)[::-1], axis=0)[::-1]
    before = np.concatenate([np.full((1,) + clear.shape[1:], -1), last[:-1]])
    after = np.concatenate([first[1:], np.full((1,) + clear.shape[1:], t)])
    return before, after


def haze_excess(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """(T, C, h, w) reflectance, (T, h, w) missing -> (T, C, h, w) how much brighter each clear
    pixel is than the brighter of its nearest clear observations before and after, per band;
    NaN where it is missing or lacks a neighbour on either side."""
    t = values.shape[0]
    clear = ~missing
    before, after = neighbours(clear)
    has = clear & (before >= 0) & (after < t)
    b = np.clip(before, 0, t - 1)[:, None]
    a = np.clip(after, 0, t - 1)[:, None]
    shape = values.shape
    vb = np.take_along_axis(values, np.broadcast_to(b, shape), 0)
    va = np.take_along_axis(values, np.broadcast_to(a, shape), 0)
    excess = values - np.maximum(vb, va)
    return np.where(has[:, None], excess, np.nan)


def haze_index(values: np.ndarray) -> np.ndarray:
    """(T, 2, h, w) blue and red reflectance -> (T, 1, h, w) blue - RED_WEIGHT x red."""
    values = np.asarray(values, np.float32)
    return values[:, :1] - RED_WEIGHT * values[:, 1:2]


def haze_flags(values: np.ndarray, missing: np.ndarray, k: float = DEFAULT_HAZE_K,
               noise: float = HAZE_NOISE, passes: int = 2) -> np.ndarray:
    """(T, h, w) True where a clear pixel is hazy by the rule of this module.

    Args:
        values: (T, 2, h, w) reflectance of :data:`HAZE_BANDS` (blue, red), in date order.
        missing: (T, h, w) the dates' missing masks (clouds, no data); never flagged again.
        k: the haze index's excess needed, in multiples of ``noise``.
        noise: the noise of the excess (reflectance).
        passes: a hazy neighbour hides a hazy pixel (its index is high too): after each pass
            the flagged pixels are left out and the check is run again (two hazy dates in a
            row, one hazier than the other; two exactly as hazy hide each other).
    """
    index = haze_index(values)
    flags = np.zeros(missing.shape, bool)
    if index.shape[0] < 3:
        return flags
    for _ in range(passes):
        excess = haze_excess(index, missing | flags)[:, 0]
        with np.errstate(invalid="ignore"):
            new = (excess > k * noise) & ~flags
        if not new.any():
            break
        flags |= new
    return flags


#: Flagged areas are grown by this many pixels (the rims of a hazy patch are hazy too, a bit
#: less: below the threshold but still brighter than the fill next to them).
HAZE_GROW = 1
#: Side of the tiles the raster is checked in (every date of a tile is held at once).
HAZE_TILE = 256


def haze_tile(stack, x0: int, y0: int, w: int, h: int, k: float,
              grow: int = HAZE_GROW) -> np.ndarray:
    """(T, h, w) haze flags of a window of ``stack`` (every date), grown by ``grow`` px: read
    with a margin of ``grow`` (clipped at the raster's edge) and cropped after, so a window's
    flags are the crop of the whole raster's, however it is cut."""
    bands = [stack.bands.index(b) for b in HAZE_BANDS]
    ax0, ay0 = max(x0 - grow, 0), max(y0 - grow, 0)
    ax1, ay1 = min(x0 + w + grow, stack.width), min(y0 + h + grow, stack.height)
    window = stack.read(ax0, ay0, ax1 - ax0, ay1 - ay0)
    from .clouds import dilate
    flags = dilate(haze_flags(window.msi[:, bands], window.missing, k=k), grow) & ~window.missing
    return flags[:, y0 - ay0:y0 - ay0 + h, x0 - ax0:x0 - ax0 + w]


def can_check(bands) -> bool:
    """Whether a stack of these (model) bands has what the check reads."""
    return all(b in tuple(bands) for b in HAZE_BANDS)


def write_haze_masks(stack, k: float, folder: str, check=lambda: None) -> tuple[list[str], list[int]]:
    """Check every date of ``stack`` for haze, tile by tile, and write one 0/1 mask per date
    (Byte GeoTIFF, DEFLATE, under ``folder``: a /vsimem/ folder will do). Return the masks'
    paths and the pixels flagged per date. ``check`` is called between tiles (cancel)."""
    from osgeo import gdal
    n = len(stack.msi)
    driver = gdal.GetDriverByName("GTiff")
    paths, outs = [], []
    for t in range(n):
        path = f"{folder}/haze_{t:04d}.tif"
        ds = driver.Create(path, stack.width, stack.height, 1, gdal.GDT_Byte,
                           ["COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=256",
                            "BLOCKYSIZE=256", "SPARSE_OK=TRUE"])
        ds.SetGeoTransform(stack.reference.geotransform)
        if stack.reference.crs_wkt:
            ds.SetProjection(stack.reference.crs_wkt)
        paths.append(path)
        outs.append(ds)
    counts = [0] * n
    try:
        for y in range(0, stack.height, HAZE_TILE):
            for x in range(0, stack.width, HAZE_TILE):
                check()
                w, h = min(HAZE_TILE, stack.width - x), min(HAZE_TILE, stack.height - y)
                flags = haze_tile(stack, x, y, w, h, k)
                for t in range(n):
                    if flags[t].any():
                        counts[t] += int(flags[t].sum())
                        outs[t].GetRasterBand(1).WriteArray(flags[t].astype(np.uint8), x, y)
    finally:
        for ds in outs:
            ds.FlushCache()
        outs.clear()
    return paths, counts
