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
pixels only (``qgis_io.raster_styles``: the stretch the swipe shows both sides with).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from qgis.core import (QgsDateTimeRange, QgsLayerTree, QgsLayerTreeGroup, QgsLayerTreeNode,
                       QgsMapLayer, QgsProcessingContext, QgsProcessingLayerPostProcessorInterface,
                       QgsProcessingUtils, QgsProject, QgsRasterLayer,
                       QgsRasterLayerTemporalProperties)
from qgis.PyQt.QtCore import QDate, QDateTime, QTime

from ..qgis_io.layer_sources import layer_file
from ..qgis_io.raster_styles import (CLOUD, FILLED, NDVI, clear_pixel_renderer, is_default_style,
                                     set_true_colour, style_mask, style_ndvi)

# Post-processors must outlive the algorithm run (QGIS keeps only a raw pointer).
_KEEP_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []
#: Layer-tree property that keeps the outputs of a run in their order, whatever order QGIS
#: loads them in.
RANK = "smts_cloudfill/rank"


def display_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


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
                    # the stretch the swipe shows both sides with (gui/swipe_item.py)
                    layer.setRenderer(clear_pixel_renderer(
                        layer.renderer(), layer_file(layer), layer_file(like)))
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
