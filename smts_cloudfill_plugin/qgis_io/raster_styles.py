"""How the plugin styles a raster layer: true colour, a mask over its image, NDVI colours, and
a filled date's stretch computed from its clear pixels only.

Used when a run's outputs load (algorithms/output_layers.py) and by the swipe, which shows a
filled date and its cloudy input with one stretch (``clear_pixel_renderer``).
"""
from __future__ import annotations

import functools
import os

import numpy as np
from osgeo import gdal
from qgis.core import (QgsColorRampShader, QgsContrastEnhancement, QgsMultiBandColorRenderer,
                       QgsPalettedRasterRenderer, QgsRasterLayer, QgsRasterMinMaxOrigin,
                       QgsRasterRenderer, QgsRasterShader, QgsSingleBandGrayRenderer,
                       QgsSingleBandPseudoColorRenderer)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor

from ..core.gdal_scope import gdal_exceptions
from ..core.read.raster import canonical_band

#: A mask's legend entry (the label of its value 1) and its colour: filled pixels magenta, the
#: clouds to fill cyan (white on white clouds would not show).
FILLED, CLOUD, NDVI = "filled", "cloud", "NDVI"
MASK_COLOURS = {FILLED: QColor(255, 0, 255), CLOUD: QColor(0, 200, 255)}
#: Opacity of a ticked mask over its image: the image shows through.
MASK_OPACITY = 0.55
#: The clear pixels of a filled date are read at most this many pixels a side (GDAL's nearest
#: decimation: the same pixels of both files), about QGIS's own sample for a layer's statistics.
STRETCH_SAMPLE_SIDE = 512
#: With fewer clear pixels than this a stretch is left as it is.
MIN_CLEAR_PIXELS = 50


def true_colour_bands(layer: QgsRasterLayer) -> tuple[int, int, int] | None:
    """Band numbers of B04, B03, B02 (red, green, blue) found by band name, or None."""
    names = {canonical_band(layer.bandName(i + 1).split(":")[-1]): i + 1
             for i in range(layer.bandCount())}
    if all(b in names for b in ("B04", "B03", "B02")):
        return names["B04"], names["B03"], names["B02"]
    return None


def is_default_style(layer: QgsRasterLayer) -> bool:
    """QGIS's own choice for a multiband raster: bands 1, 2, 3 as red, green, blue."""
    r = layer.renderer()
    return isinstance(r, QgsMultiBandColorRenderer) and \
        (r.redBand(), r.greenBand(), r.blueBand()) == (1, 2, 3)


def set_true_colour(layer: QgsRasterLayer) -> bool:
    """A true-colour renderer (B04, B03, B02), stretched on the 2-98 % cumulative cut."""
    bands = true_colour_bands(layer)
    if bands is None or bands == (1, 2, 3):
        return False
    layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), *bands))
    layer.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                 QgsRasterMinMaxOrigin.CumulativeCut)
    return True


def _stretch_bands(renderer: QgsRasterRenderer) -> list[tuple[int, object]] | None:
    """(band, contrast enhancement) of each band a renderer stretches; None when it stretches
    nothing we can recompute (another renderer, a band without enhancement)."""
    if isinstance(renderer, QgsMultiBandColorRenderer):
        pairs = [(renderer.redBand(), renderer.redContrastEnhancement()),
                 (renderer.greenBand(), renderer.greenContrastEnhancement()),
                 (renderer.blueBand(), renderer.blueContrastEnhancement())]
        pairs = [(band, ce) for band, ce in pairs if band > 0]
    elif isinstance(renderer, QgsSingleBandGrayRenderer):
        pairs = [(renderer.grayBand(), renderer.contrastEnhancement())]
    else:
        return None
    return pairs if pairs and all(ce is not None for _, ce in pairs) else None


def clear_pixel_values(path: str, cloudy_path: str, bands: list[int],
                       max_side: int = STRETCH_SAMPLE_SIDE) -> np.ndarray | None:
    """(len(bands), n) values, as QGIS shows them (band scale and offset applied), of the pixels
    equal in both files in every one of ``bands`` and not no data: the clear pixels of a filled
    date and its cloudy input. None when the files differ in size or band count, or share fewer
    than MIN_CLEAR_PIXELS such pixels."""
    try:
        with gdal_exceptions():
            a, b = gdal.Open(path), gdal.Open(cloudy_path)
            if (a.RasterXSize, a.RasterYSize, a.RasterCount) != \
                    (b.RasterXSize, b.RasterYSize, b.RasterCount) or max(bands) > a.RasterCount:
                return None
            scale = min(1.0, max_side / max(a.RasterXSize, a.RasterYSize))
            size = dict(buf_xsize=max(1, round(a.RasterXSize * scale)),
                        buf_ysize=max(1, round(a.RasterYSize * scale)))
            clear, values = None, []
            for band in bands:
                ba, bb = a.GetRasterBand(band), b.GetRasterBand(band)
                va = ba.ReadAsArray(**size).astype(np.float64)
                vb = bb.ReadAsArray(**size).astype(np.float64)
                same = (va == vb) & np.isfinite(va)
                for nodata in {ba.GetNoDataValue(), bb.GetNoDataValue()} - {None}:
                    same &= va != nodata
                clear = same if clear is None else clear & same
                values.append(va * (ba.GetScale() or 1.0) + (ba.GetOffset() or 0.0))
    except (RuntimeError, AttributeError):
        return None
    if clear is None or clear.sum() < MIN_CLEAR_PIXELS:
        return None
    return np.stack([v[clear] for v in values])


def stretch_limits(values: np.ndarray, kind: int, cut: tuple[float, float] = (0.02, 0.98),
                   std_factor: float = 2.0) -> list[tuple[float, float]]:
    """Per band (rows of ``values``) minimum and maximum as QGIS's ``kind`` of stretch
    (QgsRasterMinMaxOrigin.Limits: MinMax, StdDev, else CumulativeCut) computes them."""
    limits = []
    for v in values:
        if kind == QgsRasterMinMaxOrigin.MinMax:
            lo, hi = float(v.min()), float(v.max())
        elif kind == QgsRasterMinMaxOrigin.StdDev:
            lo, hi = (float(v.mean() + k * std_factor * v.std()) for k in (-1, 1))
        else:  # CumulativeCut, QGIS's default for multiband rasters
            lo, hi = (float(q) for q in np.quantile(v, cut))
        limits.append((lo, hi if hi > lo else lo + 1.0))
    return limits


@functools.lru_cache(maxsize=32)
def _clear_limits(paths: tuple[str, str], _stamps: tuple, bands: tuple[int, ...], kind: int,
                  cut: tuple[float, float], std_factor: float) -> list | None:
    values = clear_pixel_values(paths[0], paths[1], list(bands))
    return None if values is None else stretch_limits(values, kind, cut, std_factor)


def clear_pixel_renderer(renderer: QgsRasterRenderer, path: str,
                         cloudy_path: str) -> QgsRasterRenderer:
    """A copy of ``renderer`` (of a filled date, file ``path``) whose contrast stretch is
    computed, the way the renderer computes it, from the clear pixels only: those equal in
    ``path`` and its cloudy input ``cloudy_path``. A cloudy date's own stretch is set by its
    clouds, and a filled date's by its fill: one stretch from the clear pixels shows a clear
    field alike in both. The copy's limits are fixed (user-defined), never recomputed by QGIS.
    A stretch typed in by the user, a renderer without one, or too few clear pixels: the copy
    is left as it is. Read once per pair of unchanged files."""
    renderer = renderer.clone()
    pairs = _stretch_bands(renderer)
    origin = renderer.minMaxOrigin()
    if pairs is None or origin.limits() == QgsRasterMinMaxOrigin.None_:
        return renderer
    stamps = tuple(os.stat(p).st_mtime_ns if os.path.exists(p) else 0
                   for p in (path, cloudy_path))
    limits = _clear_limits((path, cloudy_path), stamps, tuple(band for band, _ in pairs),
                           origin.limits(), (origin.cumulativeCutLower(),
                                             origin.cumulativeCutUpper()),
                           origin.stdDevFactor())
    if limits is None:
        return renderer
    for (_band, ce), (lo, hi) in zip(pairs, limits):
        ce.setMinimumValue(lo)
        ce.setMaximumValue(hi)
    origin.setLimits(QgsRasterMinMaxOrigin.None_)
    renderer.setMinMaxOrigin(origin)
    return renderer


def style_mask(layer: QgsRasterLayer, label: str = FILLED) -> None:
    """A 0/1 mask drawn only where it is 1, semi-transparent, in the colour of ``label``
    (FILLED or CLOUD), which is also its only legend entry. A paletted renderer draws values
    without a class (0, no data) transparent."""
    legend = QCoreApplication.translate("RasterStyles", label)
    classes = [QgsPalettedRasterRenderer.Class(1, MASK_COLOURS[label], legend)]
    renderer = QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)
    renderer.setOpacity(MASK_OPACITY)
    layer.setRenderer(renderer)


#: The usual NDVI colours: bare soil and water brown to pale, vegetation light to dark green.
NDVI_RAMP = ((-0.2, QColor(120, 80, 40)), (0.0, QColor(200, 170, 120)),
             (0.2, QColor(245, 240, 200)), (0.4, QColor(170, 210, 110)),
             (0.6, QColor(80, 170, 60)), (0.8, QColor(20, 110, 30)), (1.0, QColor(0, 60, 10)))


def style_ndvi(layer: QgsRasterLayer) -> None:
    """One-band NDVI in the NDVI_RAMP colours, interpolated, -0.2 .. 1."""
    shader = QgsColorRampShader(NDVI_RAMP[0][0], NDVI_RAMP[-1][0])
    shader.setColorRampType(QgsColorRampShader.Interpolated)
    shader.setColorRampItemList([QgsColorRampShader.ColorRampItem(v, c, f"{v:g}")
                                 for v, c in NDVI_RAMP])
    raster_shader = QgsRasterShader()
    raster_shader.setRasterShaderFunction(shader)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, raster_shader)
    renderer.setClassificationMin(NDVI_RAMP[0][0])
    renderer.setClassificationMax(NDVI_RAMP[-1][0])
    layer.setRenderer(renderer)
