"""What the Parcel time series dialog opens with, read from the project: its season, the
folder of its fills and the parcels."""
from __future__ import annotations

import os

from qgis.core import QgsRasterLayer, QgsVectorLayer, QgsWkbTypes

from ..core.write.names import FILLED_SUFFIX
from .layer_sources import layer_file
from .raster_layers import MSI, by_date, project_rasters


def project_defaults(project) -> dict:
    """What the dialog opens with, from the project: the Sentinel-2 dates (sorted by date, one
    layer a file), the folder holding most of their ``_filled`` layers, and the active (else the
    first) polygon layer as the parcels."""
    out: dict = {}
    rasters = [l for l in project.mapLayers().values() if isinstance(l, QgsRasterLayer)]
    msi, seen = [], set()
    for kind, date, layer in project_rasters(project):
        if kind == MSI and layer_file(layer) not in seen:   # one layer a file
            seen.add(layer_file(layer))
            msi.append((date, layer))
    if msi:
        out["MSI"] = [layer.id() for _, layer in by_date(msi)]
        stems = {os.path.splitext(os.path.basename(layer_file(l)))[0] for _, l in msi}
        folders: dict[str, int] = {}
        for layer in rasters:
            stem = os.path.splitext(os.path.basename(layer_file(layer)))[0]
            if stem.endswith(FILLED_SUFFIX) and stem[:-len(FILLED_SUFFIX)] in stems:
                folder = os.path.dirname(layer_file(layer))
                folders[folder] = folders.get(folder, 0) + 1
        if folders:
            out["FILLED"] = max(folders, key=folders.get)
    try:
        from qgis.utils import iface
        active = iface.activeLayer() if iface is not None else None
    except Exception:  # noqa: BLE001 (no desktop: qgis_process, tests)
        active = None
    polygons = [l for l in project.mapLayers().values() if isinstance(l, QgsVectorLayer)
                and l.geometryType() == QgsWkbTypes.PolygonGeometry]
    if polygons:
        out["PARCELS"] = (active if active in polygons else polygons[0]).id()
    return out
