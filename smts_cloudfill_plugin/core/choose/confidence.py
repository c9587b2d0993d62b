"""How far to trust each filled pixel: its expected error, measured on the user's own scene.

The self-check fills held-back clear pixels of each cloudy date (or whole hidden dates) and
knows their true values; how wrong its chosen fill was there depends above all on how far a
pixel lies from the date's nearest clear pixel (next to a cloud's rim the same-date residual
knows nearly everything, in a cloud's heart nothing). So the check keeps the chosen fill's
squared error per band of distance (:data:`DISTANCE_EDGES`), and Reconstruct writes, for
every filled pixel, the RMS error of its distance band: ``<name>_filled_rmse.tif``.
Distances are Euclidean, in pixels, to the nearest pixel that is not missing on that date
(GDAL's proximity), the same way in the check's windows and on the written raster.
"""
from __future__ import annotations

import numpy as np
from osgeo import gdal

#: Upper edges (pixels) of the distance bands; the last band is everything farther.
DISTANCE_EDGES = (1.5, 2.5, 4.0, 6.0, 9.0, 13.0, 20.0, 30.0)
BANDS = len(DISTANCE_EDGES) + 1
#: A band's error is measured from at least this many held-back pixels, else taken from the
#: nearest measured band closer to the clear pixels (or farther, for the first bands).
MIN_BAND_PIXELS = 30
#: Distance given to pixels of a date with no clear pixel at all (farther than every edge).
FAR = 1e6
#: The confidence raster's no-data value (pixels that were not filled).
NODATA = -9999.0
#: Metadata keys of the confidence raster: the error table by distance band ('0.0123,...'), and
#: per spectral index the fill's error in index units over its error in reflectance, measured by
#: the self-check ('NDVI=2.13;NDWI=1.02;...').
TABLE_KEY = "SMTS_ERROR_BY_DISTANCE"
INDEX_RATIOS_KEY = "SMTS_INDEX_ERROR_RATIOS"


def format_ratios(ratios: dict[str, float]) -> str:
    return ";".join(f"{k}={v:.6g}" for k, v in ratios.items())


def metadata(table: tuple[float, ...], ratios: dict[str, float]) -> dict[str, str]:
    """The confidence raster's metadata: its table and index ratios, readable back."""
    return {TABLE_KEY: ",".join(f"{v:.8g}" for v in table),
            INDEX_RATIOS_KEY: format_ratios(ratios)}


def parse_ratios(text: str | None) -> dict[str, float]:
    """:func:`format_ratios` read back (unreadable entries left out)."""
    out = {}
    for part in (text or "").split(";"):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            continue
    return out


def distance_to_clear(missing: np.ndarray) -> np.ndarray:
    """(..., H, W) bool missing masks -> float32 distance (pixels) of each pixel to the
    nearest pixel that is not missing in its own (H, W) slice; 0 on those, FAR where a slice has
    none."""
    m = np.asarray(missing, dtype=bool)
    flat = m.reshape(-1, *m.shape[-2:])
    out = np.zeros(flat.shape, dtype=np.float32)
    h, w = flat.shape[-2:]
    driver = gdal.GetDriverByName("MEM")
    for i, plane in enumerate(flat):
        if not plane.any():
            continue
        if plane.all():
            out[i] = FAR
            continue
        src = driver.Create("", w, h, 1, gdal.GDT_Byte)
        src.GetRasterBand(1).WriteArray((~plane).astype(np.uint8))
        dst = driver.Create("", w, h, 1, gdal.GDT_Float32)
        gdal.ComputeProximity(src.GetRasterBand(1), dst.GetRasterBand(1),
                              ["VALUES=1", "DISTUNITS=PIXEL"])
        out[i] = dst.GetRasterBand(1).ReadAsArray()
    return out.reshape(m.shape)


def distance_band(distance: np.ndarray) -> np.ndarray:
    """Each distance's band index, 0 .. BANDS - 1."""
    return np.searchsorted(np.asarray(DISTANCE_EDGES), distance, side="right").astype(np.int64)


def error_table(squares: np.ndarray, counts: np.ndarray, far: float | None = None
                ) -> tuple[float, ...] | None:
    """RMS error per distance band from per-band sums of squared errors (mean over bands) and
    pixel counts; bands with too few pixels take the nearest measured one closer in (else the
    nearest farther out), and those beyond the farthest measured one at least ``far`` (the
    error with no same-date information, when known); never smaller than a closer band's
    (farther from clear pixels, a fill knows less). None when nothing was measured."""
    counts = np.asarray(counts, dtype=float)
    measured = counts >= MIN_BAND_PIXELS
    if not measured.any():
        measured = counts > 0
        if not measured.any():
            return None
    rmse = np.sqrt(np.where(measured, np.asarray(squares) / np.maximum(counts, 1), np.nan))
    known = np.flatnonzero(measured)
    for b in range(len(rmse)):
        if not measured[b]:
            closer = known[known < b]
            rmse[b] = rmse[closer[-1]] if closer.size else rmse[known[0]]
    if far is not None:
        rmse[known[-1] + 1:] = np.maximum(rmse[known[-1] + 1:], far)
    return tuple(float(v) for v in np.maximum.accumulate(rmse))


def describe_table(table: tuple[float, ...] | None) -> str:
    """'0.021 next to clear pixels, 0.034 at 4-6 px, 0.052 beyond 30 px' (RMS reflectance)."""
    if table is None:
        return "not measured"
    edges = (0.0, *DISTANCE_EDGES)
    return (f"{table[0]:.3f} next to clear pixels, {table[3]:.3f} at {edges[3]:g}-{edges[4]:g} px, "
            f"{table[-1]:.3f} beyond {DISTANCE_EDGES[-1]:g} px")


def expected_error(table: tuple[float, ...], distance: np.ndarray) -> np.ndarray:
    """Float32 expected RMS error of pixels at these distances."""
    return np.asarray(table, dtype=np.float32)[distance_band(distance)]


def write_confidence(mask: gdal.Dataset, out: gdal.Dataset, table: tuple[float, ...],
                     scratch: str, rows: int = 512, check=lambda: None) -> None:
    """Fill ``out`` (one Float32 band, the mask's grid) with each filled pixel's expected error
    (``table`` by its distance to the nearest unfilled pixel, 0 in ``mask``) and NODATA
    elsewhere. The distances go to an uncompressed scratch file (GDAL's proximity runs line by
    line, so memory stays small; written into a compressed output it would rewrite its tiles),
    removed at the end; ``out`` is then written once, ``rows`` at a time."""
    width, height = out.RasterXSize, out.RasterYSize
    driver = gdal.GetDriverByName("GTiff")
    distances = driver.Create(scratch, width, height, 1, gdal.GDT_Float32)
    try:
        gdal.ComputeProximity(mask.GetRasterBand(1), distances.GetRasterBand(1),
                              ["VALUES=0", "DISTUNITS=PIXEL", f"NODATA={FAR}",
                               f"MAXDIST={FAR / 2}"])
        source, band = mask.GetRasterBand(1), out.GetRasterBand(1)
        for y in range(0, height, rows):
            check()
            n = min(rows, height - y)
            filled = source.ReadAsArray(0, y, width, n) != 0
            distance = distances.GetRasterBand(1).ReadAsArray(0, y, width, n)
            band.WriteArray(np.where(filled, expected_error(table, distance), NODATA)
                            .astype(np.float32), 0, y)
    finally:
        distances = None
        driver.Delete(scratch)
