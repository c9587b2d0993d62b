"""Screenshots of "Prepare Sentinel-1/2 time series" with fixture products, and of the
Reconstruct dialog after the prepared series was loaded (its date table filled by itself).
Run under xvfb-run:

    xvfb-run -s "-screen 0 1280x1024x24" .venv/bin/python scripts/screenshot_prepare.py OUT_DIR

The products are built from the shipped sample by tests/s2_products.py (no download).
"""
from __future__ import annotations

import glob
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.append("/usr/share/qgis/python/plugins")

from qgis.core import QgsApplication, QgsProject, QgsVectorLayer  # noqa: E402
from qgis.PyQt.QtCore import QTimer  # noqa: E402


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    app = QgsApplication([], True)
    app.initQgis()
    import qgis.utils
    from unittest import mock

    from qgis.gui import QgsBrowserGuiModel, QgsMapCanvas
    from qgis.PyQt.QtWidgets import QMainWindow
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
    provider = SmtsProvider()
    QgsApplication.processingRegistry().addProvider(provider)

    import s2_products as fx
    work = tempfile.mkdtemp(prefix="smts_prepare_")
    products = [fx.make_product(os.path.join(work, "downloads"), d, zipped=i % 2 == 0,
                                baseline="04.00" if d == "20190516" else "02.11")
                for i, d in enumerate(fx.SAMPLE_DATES)]
    parcels = QgsVectorLayer("Polygon?crs=EPSG:32631", "parcels", "memory")
    from qgis.core import QgsFeature, QgsGeometry
    f = QgsFeature()
    f.setGeometry(QgsGeometry.fromWkt("POLYGON((574700 5621820, 575300 5621820, 575300 5622420, "
                                      "574700 5622420, 574700 5621820))"))
    parcels.dataProvider().addFeatures([f])
    QgsProject.instance().addMapLayer(parcels)
    sar = sorted(glob.glob(os.path.join(ROOT, "resources", "sample", "sar", "*.tif")))
    params = {"PRODUCTS": products, "PARCELS": parcels.id(), "EXTENT_BUFFER": 20, "SAR": sar,
              "OUTPUT_FOLDER": os.path.join(work, "prepared")}
    import processing
    dialog = processing.createAlgorithmDialog("smts_cloudfill:prepare", params)
    dialog.resize(1180, 900)
    dialog.show()
    state = {}

    def second() -> None:
        dialog.grab().save(os.path.join(out_dir, "prepare_dialog.png"))
        print(f"wrote {out_dir}/prepare_dialog.png")
        dialog.close()
        processing.runAndLoadResults("smts_cloudfill:prepare", params)
        state["rec"] = rec = processing.createAlgorithmDialog("smts_cloudfill:reconstruct")
        rec.resize(1180, 900)
        rec.show()
        QTimer.singleShot(1500, third)

    def third() -> None:
        state["rec"].grab().save(os.path.join(out_dir, "reconstruct_after_prepare.png"))
        print(f"wrote {out_dir}/reconstruct_after_prepare.png")
        os._exit(0)  # skip Qt/QGIS teardown, which crashes with a mocked iface

    QTimer.singleShot(1500, second)
    app.exec_()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "out", "screenshots"))
