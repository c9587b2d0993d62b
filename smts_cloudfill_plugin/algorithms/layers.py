"""Turning written rasters into project layers: a group per run, in a stable order.

After a run the user should see the filled image of the date they were looking at, not a
stack of every result: that date's filled layer is on top and ticked, the other filled dates
follow in date order (unticked). Each mask (a filled-pixel mask, a cloud mask) sits just above
its own image, unticked, with a one-entry legend ("filled", "cloud") and drawn semi-transparent
over the image where it is 1 and not at all elsewhere: ticked, it shows on the image below it
(under an opaque image it would show nothing). A run's group goes just above the project's
topmost imagery, below the user's vector layers (parcels), which imagery would hide. Filled
layers copy the style of their input, or get a true-colour style when the input has QGIS's
default one (bands 1-2-3, i.e. blue-green-red shown as red-green-blue), stretched on the clear
pixels only (``clear_pixel_renderer``, the stretch the swipe shows both sides with).
"""
from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass

import numpy as np
from osgeo import gdal
from qgis.core import (QgsColorRampShader, QgsContrastEnhancement, QgsDateTimeRange,
                       QgsLayerTree, QgsLayerTreeGroup,
                       QgsLayerTreeNode, QgsMapLayer, QgsMultiBandColorRenderer,
                       QgsPalettedRasterRenderer, QgsProcessingContext,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingUtils, QgsProject,
                       QgsRasterLayer, QgsRasterLayerTemporalProperties,
                       QgsRasterMinMaxOrigin, QgsRasterRenderer, QgsRasterShader,
                       QgsSingleBandGrayRenderer, QgsSingleBandPseudoColorRenderer)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime
from qgis.PyQt.QtGui import QColor

from ..layer_sources import layer_file
from ..core.gdal_scope import gdal_exceptions
from ..core.read.raster import canonical_band

# Post-processors must outlive the algorithm run (QGIS keeps only a raw pointer).
_KEEP_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []
#: Layer-tree property that keeps the outputs of a run in their order, whatever order QGIS
#: loads them in.
RANK = "smts_cloudfill/rank"
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


def layer_source_path(layer: QgsMapLayer) -> str:
    """The file behind a raster layer (without GDAL's '|option' suffixes)."""
    return layer_file(layer)


def display_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


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
    classes = [QgsPalettedRasterRenderer.Class(1, MASK_COLOURS[label], label)]
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


def _holds_raster(node: QgsLayerTreeNode) -> bool:
    if QgsLayerTree.isLayer(node):
        return isinstance(node.layer(), QgsRasterLayer)
    return QgsLayerTree.isGroup(node) and any(isinstance(n.layer(), QgsRasterLayer)
                                              for n in node.findLayers())


def imagery_index(root: QgsLayerTreeGroup, skip: QgsLayerTreeNode | None = None) -> int:
    """Where a new group of rasters goes in ``root``: just above the first top-level node that
    holds a raster (a layer or a group), so the vector layers above it (the user's parcels)
    stay on top; at the bottom when there is none. ``skip``: a node about to move away."""
    children = root.children()
    for i, child in enumerate(children):
        if child is not skip and _holds_raster(child):
            return i
    return len(children)


@dataclass
class Placement:
    group: str
    rank: int
    visible: bool
    like_layer_id: str | None = None
    #: A mask's legend label (FILLED, CLOUD, or NDVI for an NDVI raster); None for an image.
    mask: str | None = None
    #: The acquisition day: the layer's time in the Temporal Controller (None: no time).
    date: dt.date | None = None


def set_acquisition_day(layer: QgsMapLayer, date: dt.date) -> None:
    """Give a raster layer the acquisition day as its fixed time range (the whole day), so the
    Temporal Controller shows each date of a season in turn."""
    props = layer.temporalProperties()
    if not isinstance(props, QgsRasterLayerTemporalProperties):
        return
    start = QDateTime(QDate(date.year, date.month, date.day), QTime(0, 0, 0))
    props.setMode(QgsRasterLayerTemporalProperties.ModeFixedTemporalRange)
    props.setFixedTemporalRange(QgsDateTimeRange(start, start.addDays(1).addMSecs(-1)))
    props.setIsActive(True)


class IntoGroupStyled(QgsProcessingLayerPostProcessorInterface):
    """Styles a loaded output and moves it to its rank in the run's group."""

    def __init__(self, placement: Placement) -> None:
        super().__init__()
        self.placement = placement

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        p = self.placement
        project = context.project() or QgsProject.instance()
        if isinstance(layer, QgsRasterLayer) and p.date is not None:
            set_acquisition_day(layer, p.date)
        if isinstance(layer, QgsRasterLayer):
            if p.mask == NDVI:
                style_ndvi(layer)
            elif p.mask:
                style_mask(layer, p.mask)
            else:
                like = project.mapLayer(p.like_layer_id) if p.like_layer_id else None
                if like is not None and like.renderer() is not None and not is_default_style(like):
                    layer.setRenderer(like.renderer().clone())
                else:
                    set_true_colour(layer)
                if isinstance(like, QgsRasterLayer) and layer.renderer() is not None:
                    # the stretch the swipe shows both sides with (gui/swipe.py)
                    layer.setRenderer(clear_pixel_renderer(
                        layer.renderer(), layer_source_path(layer), layer_source_path(like)))
            layer.triggerRepaint()
        root = project.layerTreeRoot()
        node = root.findLayer(layer.id())
        if node is None:
            return
        group = root.findGroup(p.group) or root.insertGroup(imagery_index(root, node), p.group)
        # Moved as a clone, inserted before the original is removed: a layer whose last node
        # leaves the tree is removed from the project.
        clone = node.clone()
        clone.setCustomProperty(RANK, p.rank)
        clone.setItemVisibilityChecked(p.visible)
        children = group.children()
        after = [i for i, c in enumerate(children)
                 if c is not node and int(c.customProperty(RANK, 0)) > p.rank]
        group.insertChildNode(after[0] if after else len(children), clone)
        node.parent().removeChildNode(node)


def focus_layer_id(source_ids: list[str], project: QgsProject) -> str | None:
    """The input the user was looking at: the active layer when it is one of ``source_ids``,
    else the topmost visible of them in the layer tree, else the first."""
    try:
        from qgis.utils import iface
        active = iface.activeLayer() if iface is not None else None
        if isinstance(active, QgsMapLayer) and active.id() in source_ids:
            return active.id()
    except Exception:  # noqa: BLE001 (no GUI: qgis_process, tests)
        pass
    for node in project.layerTreeRoot().findLayers():
        if node.layerId() in source_ids and node.isVisible():
            return node.layerId()
    return source_ids[0] if source_ids else None


def load_run_outputs(context: QgsProcessingContext, loads: list[tuple],
                     group: str, filled_output: str, masks_output: str,
                     ndvi_output: str | None = None) -> None:
    """Ask Processing to load a run's (filled path, mask path, source layer id, date, NDVI path
    or None), in date order (each NDVI layer just below its filled layer, unticked),
    into ``group`` when the run completes (only the dialog and runAndLoadResults load): the
    looked-at date first, each filled-pixel mask just above its filled layer."""
    project = context.project() or QgsProject.instance()
    base, n = group, 1
    while project.layerTreeRoot().findGroup(group) is not None:  # two runs in one second
        n += 1
        group = f"{base} ({n})"
    focus = focus_layer_id([load[2] for load in loads], project)
    order = sorted(range(len(loads)), key=lambda i: (loads[i][2] != focus, i))
    for rank, i in enumerate(order):
        path, mask_path, source_id, date, ndvi = loads[i]
        _load(context, mask_path, masks_output,
              Placement(group, 3 * rank, False, None, mask=FILLED, date=date))
        _load(context, path, filled_output,
              Placement(group, 3 * rank + 1, source_id == focus, source_id, date=date))
        if ndvi and ndvi_output:
            _load(context, ndvi, ndvi_output,
                  Placement(group, 3 * rank + 2, False, None, mask=NDVI, date=date))


def _load(context: QgsProcessingContext, path: str, output_name: str, placement: Placement) -> None:
    details = QgsProcessingContext.LayerDetails(display_name(path), context.project(), output_name,
                                                QgsProcessingUtils.LayerHint.Raster)
    pp = IntoGroupStyled(placement)
    _KEEP_ALIVE.append(pp)
    details.setPostProcessor(pp)
    context.addLayerToLoadOnCompletion(path, details)


def load_series_outputs(context: QgsProcessingContext, loads: list[tuple], group: str,
                        output_name: str) -> None:
    """Ask Processing to load a prepared series, (date, kind 'S2' | 'mask' | 'S1', path), into
    ``group`` when the run completes: the Sentinel-2 stacks by date (the first ticked, in true
    colour), each with its cloud mask just above it (unticked; ticked, the clouds show
    semi-transparent on it), then the Sentinel-1 dates. The Reconstruct dialog's date table
    then fills itself from the project."""
    project = context.project() or QgsProject.instance()
    base, n = group, 1
    while project.layerTreeRoot().findGroup(group) is not None:
        n += 1
        group = f"{base} ({n})"
    order = {"mask": 0, "S2": 1}  # a date's mask above its image; Sentinel-1 last
    ranked = sorted(loads, key=lambda item: (item[1] == "S1", item[0], order.get(item[1], 0)))
    first_s2 = next((i for i, item in enumerate(ranked) if item[1] == "S2"), None)
    for rank, (date, kind, path) in enumerate(ranked):
        _load(context, path, output_name,
              Placement(group, rank, rank == first_s2, None,
                        mask=CLOUD if kind == "mask" else None, date=date))
