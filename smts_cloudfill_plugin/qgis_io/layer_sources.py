"""The file behind a QGIS layer, in one place for the algorithms and the dialogs.

QGIS describes a layer's data by a provider-specific URI ('path|layername=...' for OGR, options
after '|' for GDAL, 'file:///...?crs=...' for delimited text); the provider registry decodes it.
What has no path (a memory layer, a web service) keeps its source as it is.
"""
from __future__ import annotations

from qgis.core import QgsMapLayer, QgsProviderRegistry


def source_file(source: str, provider: str = "gdal") -> str:
    """The file of a layer source string as ``provider`` writes it."""
    try:
        parts = QgsProviderRegistry.instance().decodeUri(provider, source)
    except Exception:  # noqa: BLE001 (an unknown provider: the usual GDAL/OGR form)
        parts = {}
    path = parts.get("path") if isinstance(parts, dict) else None
    return path or source.split("|")[0]


def layer_file(layer: QgsMapLayer) -> str:
    """The file behind a layer (without GDAL's or OGR's '|option' suffixes)."""
    return source_file(layer.source(), layer.providerType())
