"""The file behind a layer (layer_sources): GDAL's and OGR's URIs decoded by QGIS's provider
registry, one rule for the algorithms and the dialogs."""
from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import QgsRasterLayer, QgsVectorLayer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sample_stack import MSI  # noqa: E402

from smts_cloudfill_plugin.qgis_io.layer_sources import layer_file, source_file  # noqa: E402


def test_gdal_ogr_and_memory_sources(tmp_path, qgis_app):
    assert layer_file(QgsRasterLayer(MSI[0], "a")) == MSI[0]
    assert source_file(MSI[0] + "|option:OVERVIEW_LEVEL=0") == MSI[0]
    gpkg = tmp_path / "p.gpkg"
    memory = QgsVectorLayer("Polygon?crs=EPSG:32631", "m", "memory")
    from qgis.core import QgsVectorFileWriter, QgsProject
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName, options.layerName = "GPKG", "fields"
    QgsVectorFileWriter.writeAsVectorFormatV2(memory, str(gpkg),
                                              QgsProject.instance().transformContext(), options)
    layer = QgsVectorLayer(f"{gpkg}|layername=fields", "f", "ogr")
    assert layer.isValid() and layer_file(layer) == str(gpkg)
    assert layer_file(memory) == memory.source()   # no file: the source as it is
