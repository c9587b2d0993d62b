"""Turning written rasters into project layers: a group per run, styled like their inputs."""
from __future__ import annotations

import os

from qgis.core import (QgsMapLayer, QgsProcessingContext, QgsProcessingLayerPostProcessorInterface,
                       QgsProcessingUtils, QgsProject, QgsRasterLayer)

# Post-processors must outlive the algorithm run (QGIS keeps only a raw pointer).
_KEEP_ALIVE: list[QgsProcessingLayerPostProcessorInterface] = []


def layer_source_path(layer: QgsMapLayer) -> str:
    """The file behind a raster layer (without GDAL's '|option' suffixes)."""
    return layer.source().split("|")[0]


class IntoGroupStyledLike(QgsProcessingLayerPostProcessorInterface):
    """Moves a loaded output into a named group and copies the renderer of its source layer."""

    def __init__(self, group: str, like_layer_id: str | None) -> None:
        super().__init__()
        self.group, self.like_layer_id = group, like_layer_id

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        project = context.project() or QgsProject.instance()
        like = project.mapLayer(self.like_layer_id) if self.like_layer_id else None
        if like is not None and isinstance(layer, QgsRasterLayer) and like.renderer() is not None:
            layer.setRenderer(like.renderer().clone())
            layer.triggerRepaint()
        root = project.layerTreeRoot()
        group = root.findGroup(self.group) or root.insertGroup(0, self.group)
        node = root.findLayer(layer.id())
        if node is not None and node.parent() is not group:
            clone = node.clone()
            group.addChildNode(clone)
            node.parent().removeChildNode(node)


def load_on_completion(context: QgsProcessingContext, path: str, name: str, group: str,
                       like_layer_id: str | None, output_name: str) -> None:
    """Ask Processing to load ``path`` when the run completes, into ``group``."""
    details = QgsProcessingContext.LayerDetails(name, context.project(), output_name,
                                                QgsProcessingUtils.LayerHint.Raster)
    pp = IntoGroupStyledLike(group, like_layer_id)
    _KEEP_ALIVE.append(pp)
    details.setPostProcessor(pp)
    context.addLayerToLoadOnCompletion(path, details)


def display_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
