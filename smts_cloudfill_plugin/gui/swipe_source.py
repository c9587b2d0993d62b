"""Which layer the swipe compares a filled date with, and the dates its labels show.

The cloudy input a filled layer was made from is found by the file name in the output's
``SMTS_SOURCE`` metadata, else by its own file name (``<input>_filled.tif`` -> ``<input>.*``).
"""
from __future__ import annotations

import os

from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer

from ..core.write.names import FILLED_SUFFIX, SOURCE_KEY
from ..qgis_io.layer_sources import layer_file
from ..qgis_io.raster_layers import file_metadata, layer_date
from .lifetime import alive


def _stem(path: str) -> str:
    return os.path.normcase(os.path.splitext(os.path.basename(path))[0])


def is_source_file(layer: QgsMapLayer, source_name: str) -> bool:
    """Whether ``layer``'s file is ``source_name``: the whole file name when it has an
    extension, else the stem."""
    want = os.path.normcase(source_name)
    path = layer_file(layer)
    if os.path.splitext(want)[1]:
        return os.path.normcase(os.path.basename(path)) == want
    return _stem(path) == want


def source_file_name(layer: QgsMapLayer) -> str | None:
    """The input file name a filled output was made from: its ``SMTS_SOURCE`` metadata, else
    ``<input>`` from its own name ``<input>_filled.<ext>``; None for any other layer."""
    if not isinstance(layer, QgsRasterLayer):
        return None
    path = layer_file(layer)
    source = file_metadata(path)[0].get(SOURCE_KEY)
    if source:
        return os.path.basename(source)
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem.endswith(FILLED_SUFFIX) and len(stem) > len(FILLED_SUFFIX):
        return stem[:-len(FILLED_SUFFIX)]  # no extension known: matched on the stem
    return None


def find_source_layer(after: QgsMapLayer, source_name: str | None, canvas=None,
                      project: QgsProject | None = None) -> QgsRasterLayer | None:
    """The project raster whose file is ``source_name`` (the cloudy input of ``after``).

    A name with an extension is matched on the whole file name, one without on the stem. Of
    several matches, one the canvas draws wins, then the project's order.
    """
    if not source_name or after is None:
        return None
    project = project or QgsProject.instance()
    drawn = {lyr.id() for lyr in canvas.layers()} if alive(canvas) else set()
    found = []
    for layer in project.mapLayers().values():
        if (not isinstance(layer, QgsRasterLayer) or not alive(layer)
                or layer.id() == after.id() or not layer.isValid()):
            continue
        if is_source_file(layer, source_name):
            found.append(layer)
    found.sort(key=lambda lyr: lyr.id() not in drawn)  # stable: keeps the project's order
    return found[0] if found else None


def layer_date_text(layer: QgsMapLayer) -> str | None:
    """The layer's date as YYYY-MM-DD for a label, or None."""
    try:
        found = layer_date(layer)
    except Exception:  # noqa: BLE001 (a label never breaks the swipe)
        return None
    return found.isoformat() if found else None
