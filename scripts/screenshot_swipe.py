"""Screenshot of the swipe on the shipped real sample: filled (left) / cloudy (right).

Fills the cloudy Sentinel-2 date 2019-04-26 of resources/sample through the command line, opens
a real window (a QgsMapCanvas in a QMainWindow, 800 x 600) with the cloudy date at the bottom,
the other filled dates of the run above it and the filled 2019-04-26 on top, all in true colour
(B04, B03, B02, 0..1800 DN), turns the swipe tool on with the filled layer as the "after" layer,
drags the divider to the middle and saves the window. The right side shows the filled layer's
own cloudy input (found by its SMTS_SOURCE metadata), not the other filled dates drawn below it,
and each side is labelled on the canvas next to the divider:

    xvfb-run -s "-screen 0 1024x768x24" .venv/bin/python scripts/screenshot_swipe.py

Weights: ``--weights`` or model_weights/smts_vit.pt; when neither exists, an untrained
SMTS-ViT is written to a temporary file (the fill then only shows that the pipeline runs).
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# QGIS computes histograms when it opens a raster; GDAL would save them as .aux.xml files next
# to the shipped sample. Keep the sample folder untouched.
os.environ["GDAL_PAM_ENABLED"] = "NO"

SAMPLE = os.path.join(ROOT, "resources", "sample")
CLOUDY = os.path.join(SAMPLE, "msi", "S2_0000280849BAC91C_20190426.tif")
DEFAULT_WEIGHTS = os.path.join(ROOT, "model_weights", "smts_vit.pt")
DEFAULT_OUT = os.path.join(ROOT, "resources", "screenshots", "swipe.png")
TRUE_COLOUR = (3, 2, 1)  # B04, B03, B02 in the 10-band MSI files
STRETCH = (0, 1800)  # DN


def untrained_weights(path: str) -> str:
    code = ("import sys; from smts_cloudfill_plugin.core.model.network import SmtsVit; "
            "from smts_cloudfill_plugin.core.model.config import smts_vit, Normalisation; "
            "from smts_cloudfill_plugin.core.model.weights import save_weights; "
            "save_weights(sys.argv[1], SmtsVit(smts_vit(), "
            "Normalisation((0.1,)*10, (0.1,)*10, (-12, -18), (4, 4))))")
    subprocess.run([sys.executable, "-c", code, path], check=True, cwd=ROOT)
    return path


def fill_sample(weights: str, out_dir: str) -> str:
    """Run the reconstruct command on the sample; return the filled 2019-04-26 GeoTIFF."""
    def files(kind):
        return sorted(glob.glob(os.path.join(SAMPLE, kind, "*.tif")))
    cmd = [sys.executable, "-m", "smts_cloudfill_plugin.core", "reconstruct",
           "--msi", *files("msi"), "--masks", *files("scl"), "--sar", *files("sar"),
           "--out", out_dir, "--weights", weights, "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    filled = os.path.join(out_dir, "S2_0000280849BAC91C_20190426_filled.tif")
    if not os.path.exists(filled):
        raise SystemExit(f"reconstruct wrote no {filled}")
    return filled


def true_colour(layer):
    from qgis.core import QgsContrastEnhancement, QgsMultiBandColorRenderer
    renderer = QgsMultiBandColorRenderer(layer.dataProvider(), *TRUE_COLOUR)
    setters = (renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
               renderer.setBlueContrastEnhancement)
    for band, setter in zip(TRUE_COLOUR, setters):
        ce = QgsContrastEnhancement(layer.dataProvider().dataType(band))
        ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        ce.setMinimumValue(STRETCH[0])
        ce.setMaximumValue(STRETCH[1])
        setter(ce)
    layer.setRenderer(renderer)


def wait(app, condition, timeout=20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.02)
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="weights file (default: model_weights/smts_vit.pt, "
                    "else an untrained model)")
    ap.add_argument("--filled", help="an existing filled GeoTIFF of 2019-04-26 (skips the fill)")
    ap.add_argument("--work", default=None, help="folder for the fill (default: a temp folder)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="PNG to write")
    ap.add_argument("--split", type=float, default=0.5, help="divider position, 0..1 of width")
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="swipe_demo_")
    os.makedirs(work, exist_ok=True)
    trained = True
    filled = args.filled
    if filled is None:
        weights = args.weights or (DEFAULT_WEIGHTS if os.path.exists(DEFAULT_WEIGHTS) else None)
        if weights is None:
            trained = False
            print("No weights given and no model_weights/smts_vit.pt: using an UNTRAINED model.")
            weights = untrained_weights(os.path.join(work, "untrained.pt"))
        filled = fill_sample(weights, work)

    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsRectangle
    from qgis.gui import QgsMapCanvas
    from qgis.PyQt.QtCore import QEvent, QPointF, Qt
    from qgis.PyQt.QtGui import QMouseEvent
    from qgis.PyQt.QtWidgets import QLabel, QMainWindow

    from smts_cloudfill_plugin.gui.swipe_tool import SwipeMapTool

    app = QgsApplication([], True)
    app.initQgis()

    cloudy = QgsRasterLayer(CLOUDY, "S2 2019-04-26 (cloudy)")
    after = QgsRasterLayer(filled, "S2 2019-04-26 filled")
    # the other dates the run filled: drawn between, as QGIS loads a run's outputs
    others = [QgsRasterLayer(path, os.path.splitext(os.path.basename(path))[0])
              for path in sorted(glob.glob(os.path.join(os.path.dirname(filled), "*_filled.tif")))
              if os.path.abspath(path) != os.path.abspath(filled)]
    for layer in (cloudy, after, *others):
        if not layer.isValid():
            raise SystemExit(f"cannot open {layer.source()}")
        true_colour(layer)
    QgsProject.instance().addMapLayers([cloudy, *others, after])

    window = QMainWindow()
    window.setWindowTitle("SMTS CloudFill: swipe filled / cloudy")
    canvas = QgsMapCanvas(window)
    canvas.setFrameStyle(0)
    window.setCentralWidget(canvas)
    note = "" if trained else "  (untrained demo weights)"
    window.statusBar().addWidget(QLabel(
        f"  Left: filled by SMTS-ViT{note}   |   Right: cloudy Sentinel-2 2019-04-26"))
    window.resize(800, 600)
    canvas.setDestinationCrs(cloudy.crs())
    canvas.setLayers([after, *others, cloudy])  # the looked-at filled date on top, as in QGIS
    canvas.setCurrentLayer(after)
    window.show()
    wait(app, lambda: canvas.isVisible() and canvas.width() > 700, 5)
    extent = QgsRectangle(cloudy.extent())
    extent.scale(1.02)
    canvas.setExtent(extent)
    canvas.refresh()

    tool = SwipeMapTool(canvas)  # the plugin path: "after" = the current raster layer
    canvas.setMapTool(tool)
    x = int(canvas.width() * args.split)
    y = canvas.height() // 2
    viewport = canvas.viewport()
    for kind, button, buttons, px in ((QEvent.MouseButtonPress, Qt.LeftButton, Qt.LeftButton, 60),
                                      (QEvent.MouseMove, Qt.NoButton, Qt.LeftButton, x),
                                      (QEvent.MouseButtonRelease, Qt.LeftButton, Qt.NoButton, x)):
        app.sendEvent(viewport, QMouseEvent(kind, QPointF(px, y), button, buttons, Qt.NoModifier))
    ok = wait(app, lambda: not canvas.isDrawing() and tool.item is not None
              and not tool.item.image().isNull() and not tool.item.is_rendering())
    wait(app, lambda: False, 0.5)  # let the last repaint through
    if not ok:
        print("warning: the swipe image was not ready in time", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if not window.grab().save(args.out):
        raise SystemExit(f"could not write {args.out}")
    before = tool.item.before_layer()
    print(f"Wrote {args.out} (split at x={tool.item.split_x:.0f} of {canvas.width()}; "
          f"filled: {filled}; compared with: {before.source() if before else 'the canvas'}; "
          f"labels: {' | '.join(tool.item.labels())}; {len(others)} other filled date(s) below)")
    canvas.unsetMapTool(tool)
    canvas.setLayers([])
    window.close()
    del tool, canvas, window
    QgsProject.instance().removeAllMapLayers()
    app.processEvents()
    app.exitQgis()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
