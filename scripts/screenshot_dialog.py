"""Screenshot of an algorithm's dialog ("Reconstruct cloudy MSI" by default) with the sample
loaded, and a parcels layer (run under xvfb-run).

    xvfb-run -s "-screen 0 1280x1024x24" .venv/bin/python scripts/screenshot_dialog.py [OUT [ALG]]
"""
from __future__ import annotations

import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.append("/usr/share/qgis/python/plugins")

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer  # noqa: E402
from qgis.PyQt.QtCore import QTimer  # noqa: E402


def main(out: str, algorithm: str = "smts_cloudfill:reconstruct") -> None:
    app = QgsApplication([], True)
    app.initQgis()
    import qgis.utils
    from qgis.gui import QgsBrowserGuiModel
    from unittest import mock

    from qgis.gui import QgsMapCanvas
    from qgis.PyQt.QtWidgets import QMainWindow
    # A stand-in for the desktop's iface: real main window, canvas and browser model.
    window = QMainWindow()
    iface = mock.MagicMock()
    iface.mainWindow.return_value = window
    iface.mapCanvas.return_value = QgsMapCanvas(window)
    iface.browserModel.return_value = QgsBrowserGuiModel()
    iface.activeLayer.return_value = None
    qgis.utils.iface = iface
    from processing.core.Processing import Processing
    Processing.initialize()
    from smts_cloudfill_plugin.algorithms.provider import SmtsProvider
    # the desktop's hooks, as the plugin's initGui sets them (our pinned dialog)
    from smts_cloudfill_plugin.algorithms.desktop_hooks import set_desktop_hooks
    from smts_cloudfill_plugin.plugin import desktop_hooks
    set_desktop_hooks(desktop_hooks(iface))
    provider = SmtsProvider()  # keep a reference: the registry does not own Python objects
    QgsApplication.processingRegistry().addProvider(provider)
    sample = os.path.join(ROOT, "resources", "sample")
    for sub in ("sar", "scl", "msi"):
        for path in sorted(glob.glob(os.path.join(sample, sub, "*.tif")), reverse=True):
            QgsProject.instance().addMapLayer(QgsRasterLayer(path, os.path.basename(path)[:-4]))
    # One wrong row, to show how the table marks it: a date reprojected to another CRS.
    from osgeo import gdal
    wrong = os.path.join(os.environ.get("TMPDIR", "/tmp"), "S2_reprojected_20190521.tif")
    gdal.Warp(wrong, glob.glob(os.path.join(sample, "msi", "*20190516.tif"))[0], dstSRS="EPSG:3857")
    QgsProject.instance().addMapLayer(QgsRasterLayer(wrong, "S2_reprojected_20190521"))
    from qgis.core import QgsFeature, QgsGeometry, QgsRectangle, QgsVectorLayer
    parcels = QgsVectorLayer("Polygon?crs=EPSG:32631&field=name:string", "fields", "memory")
    f = QgsFeature(parcels.fields())
    f.setGeometry(QgsGeometry.fromRect(QgsRectangle(574720, 5621850, 574960, 5622050)))
    f.setAttribute("name", "wheat")
    parcels.dataProvider().addFeatures([f])
    QgsProject.instance().addMapLayer(parcels)
    import processing
    dialog = processing.createAlgorithmDialog(algorithm)
    if algorithm.endswith("parcel_series"):   # as the toolbar opens it
        from smts_cloudfill_plugin.qgis_io.parcel_defaults import project_defaults
        dialog.setParameters(project_defaults(QgsProject.instance()))
    dialog.resize(1180, 900)
    dialog.show()

    def grab() -> None:
        dialog.grab().save(out)
        print(f"wrote {out}")
        os._exit(0)  # skip Qt/QGIS teardown, which crashes with a mocked iface

    QTimer.singleShot(1500, grab)
    app.exec_()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "resources", "screenshots",
                                                            "reconstruct_dialog.png"),
         *sys.argv[2:3])
