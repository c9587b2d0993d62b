"""Turning written rasters into project layers: a group per run, in a stable order.

After a run the user should see the filled image of the date they were looking at, not a
stack of every result and the opaque filled-pixel masks: that date's filled layer is on top
and ticked, the other filled dates follow in date order (unticked), the masks come last,
unticked and styled so that ticking one shows only the filled pixels (half transparent) over
the image. Filled layers copy the style of their input, or get a true-colour style when the
input has QGIS's default one (bands 1-2-3, i.e. blue-green-red shown as red-green-blue).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from qgis.core import (QgsContrastEnhancement, QgsMapLayer, QgsMultiBandColorRenderer,
                       QgsPalettedRasterRenderer, QgsProcessingContext,
                       QgsProcessingLayerPostProcessorInterface, QgsProcessingUtils, QgsProject,
                       QgsRasterLayer, QgsRasterMinMaxOrigin)
from qgis.PyQt.QtGui import QColor

from ..core.read.raster import canonical_band

# Post-processors must outlive the algorithm run (QGIS keeps only a raw pointer).
_KEEP_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []
#: Layer-tree property that keeps the outputs of a run in their order, whatever order QGIS
#: loads them in.
RANK = "smts_cloudfill/rank"
#: Colour of the filled pixels when a filled-pixel mask is ticked.
FILLED_COLOUR = QColor(255, 0, 255, 140)


def layer_source_path(layer: QgsMapLayer) -> str:
    """The file behind a raster layer (without GDAL's '|option' suffixes)."""
    return layer.source().split("|")[0]


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


def style_filled_mask(layer: QgsRasterLayer) -> None:
    """Kept pixels transparent, filled pixels half-transparent magenta."""
    classes = [QgsPalettedRasterRenderer.Class(0, QColor(0, 0, 0, 0), "kept"),
               QgsPalettedRasterRenderer.Class(1, FILLED_COLOUR, "filled")]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


@dataclass
class Placement:
    group: str
    rank: int
    visible: bool
    like_layer_id: str | None = None
    is_mask: bool = False


class IntoGroupStyled(QgsProcessingLayerPostProcessorInterface):
    """Styles a loaded output and moves it to its rank in the run's group."""

    def __init__(self, placement: Placement) -> None:
        super().__init__()
        self.placement = placement

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        p = self.placement
        project = context.project() or QgsProject.instance()
        if isinstance(layer, QgsRasterLayer):
            if p.is_mask:
                style_filled_mask(layer)
            else:
                like = project.mapLayer(p.like_layer_id) if p.like_layer_id else None
                if like is not None and like.renderer() is not None and not is_default_style(like):
                    layer.setRenderer(like.renderer().clone())
                else:
                    set_true_colour(layer)
            layer.triggerRepaint()
        root = project.layerTreeRoot()
        group = root.findGroup(p.group) or root.insertGroup(0, p.group)
        node = root.findLayer(layer.id())
        if node is None:
            return
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


def load_run_outputs(context: QgsProcessingContext, loads: list[tuple[str, str, str]],
                     group: str, filled_output: str, masks_output: str) -> None:
    """Ask Processing to load a run's (filled path, mask path, source layer id), in date order,
    into ``group`` when the run completes (only the dialog and runAndLoadResults load)."""
    project = context.project() or QgsProject.instance()
    base, n = group, 1
    while project.layerTreeRoot().findGroup(group) is not None:  # two runs in one second
        n += 1
        group = f"{base} ({n})"
    focus = focus_layer_id([s for _, _, s in loads], project)
    order = sorted(range(len(loads)), key=lambda i: (loads[i][2] != focus, i))
    for rank, i in enumerate(order):
        path, mask_path, source_id = loads[i]
        _load(context, path, filled_output,
              Placement(group, rank, source_id == focus, source_id))
        _load(context, mask_path, masks_output,
              Placement(group, len(loads) + i, False, None, is_mask=True))


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
    colour), then the cloud masks (unticked; ticked, clouds show half transparent), then the
    Sentinel-1 dates. The Reconstruct dialog's date table then fills itself from the project."""
    project = context.project() or QgsProject.instance()
    base, n = group, 1
    while project.layerTreeRoot().findGroup(group) is not None:
        n += 1
        group = f"{base} ({n})"
    order = {"S2": 0, "mask": 1, "S1": 2}
    ranked = sorted(loads, key=lambda item: (order[item[1]], item[0]))
    for rank, (date, kind, path) in enumerate(ranked):
        _load(context, path, output_name,
              Placement(group, rank, kind == "S2" and rank == 0, None, is_mask=kind == "mask"))
