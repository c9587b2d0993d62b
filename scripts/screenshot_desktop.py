"""Screenshots of the real QGIS desktop after a user's work on the bundled sample (issue 19,
items 12, 13, 16): the Prepare dialog as it opens, the Layers panel after Prepare and
Reconstruct (parcels on top, each mask just above its image with its legend), the canvas with a
mask ticked, and the swipe between the filled 2019-04-26 and its cloudy input.

    .venv/bin/python scripts/screenshot_desktop.py [OUT_DIR]     (default out/screenshots/desktop)

It installs the plugin into a throw-away QGIS profile, starts ``qgis`` under ``xvfb-run`` with
this file as its ``--code`` and waits; inside QGIS the same file drives the desktop: a parcels
layer, Prepare from products made from the sample (tests/s2_products.py, no download) through
the toolbar's dialog, Reconstruct with the bundled model, the swipe tool. It writes PNGs and
``status.json`` (the layer tree, the dialog's width, the swipe's colours on clear pixels) to
OUT_DIR.
"""
from __future__ import annotations

import json
import os
import sys

# Inside QGIS (``--code``) the launcher gives the repository root: __file__ may be unset there.
ROOT = os.environ.get("SMTS_SHOT_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))
PLUGIN = "smts_cloudfill_plugin"
STAGE_ENV = "SMTS_SHOT_OUT"  # set for the run inside QGIS: the output folder
EXTENT = "574680,575320,5621800,5622440 [EPSG:32631]"
FOCUS_DATE = "20190426"


# ------------------------------------------------------------------ outside QGIS: the launcher
def launch(out_dir: str) -> int:
    import subprocess
    import tempfile
    from pathlib import Path

    import torch
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from install_plugin import copy_plugin
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="smts_desktop_"))
    default = root / "profiles" / "default"
    copy_plugin(default / "python" / "plugins" / PLUGIN)
    (default / "QGIS").mkdir(parents=True)
    (default / "QGIS" / "QGIS3.ini").write_text(f"[PythonPlugins]\n{PLUGIN}=true\n")
    home = root / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), SMTS_SHOT_ROOT=ROOT, **{STAGE_ENV: out_dir},
               PYTHONPATH=str(Path(torch.__file__).parents[1]), GDAL_PAM_ENABLED="NO")
    env.pop("QT_QPA_PLATFORM", None)  # a real (virtual) display
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", "qgis",
                           "--profiles-path", str(root), "--nologo", "--noversioncheck",
                           "--code", os.path.abspath(__file__)],
                          env=env, capture_output=True, text=True, timeout=600)
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith(("shot:", "Traceback", "  File", "Error")):
            print(line)
    status = os.path.join(out_dir, "status.json")
    if not os.path.exists(status):
        print(f"QGIS wrote no status (exit {proc.returncode})", file=sys.stderr)
        return 1
    result = json.load(open(status))
    if "error" in result:
        print(result["error"], file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=1))
    return 0


# ------------------------------------------------------------------ inside QGIS: the walk
def desktop_walk(out_dir: str):
    """A generator: each ``yield`` turns the event loop once (see ``run_in_qgis``)."""
    import glob
    import tempfile
    import time

    from qgis.core import (QgsCoordinateReferenceSystem, QgsFeature, QgsFillSymbol, QgsGeometry,
                           QgsLayerTreeGroup, QgsProject, QgsRasterLayer, QgsRectangle,
                           QgsVectorLayer)
    from qgis.gui import QgsProcessingAlgorithmDialogBase
    from qgis.PyQt.QtWidgets import QApplication, QScrollArea
    from qgis.utils import iface, plugins

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import s2_products as fx
    status = STATUS

    def step(name):
        status["steps"].append(name)
        print(f"shot: {name}", flush=True)

    def pause(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            yield

    def save(widget, name):
        path = os.path.join(out_dir, name)
        widget.grab().save(path)
        step(f"wrote {path}")

    project = QgsProject.instance()
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:32631"))
    work = tempfile.mkdtemp(prefix="smts_shot_")
    products = [fx.make_product(os.path.join(work, "downloads"), d, zipped=i % 2 == 0)
                for i, d in enumerate(fx.SAMPLE_DATES)]
    sar = sorted(glob.glob(os.path.join(ROOT, "resources", "sample", "sar", "*.tif")))
    parcels = QgsVectorLayer("Polygon?crs=EPSG:32631", "parcels", "memory")
    feats = []
    for x0, y0, x1, y1 in ((574720, 5621850, 574960, 5622050), (574990, 5621850, 575280, 5622100),
                           (574720, 5622090, 574980, 5622400), (575010, 5622140, 575280, 5622400)):
        f = QgsFeature()
        f.setGeometry(QgsGeometry.fromRect(QgsRectangle(x0, y0, x1, y1)))
        feats.append(f)
    parcels.dataProvider().addFeatures(feats)
    parcels.renderer().setSymbol(QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "255,230,0", "outline_width": "0.8"}))
    project.addMapLayer(parcels)
    iface.setActiveLayer(parcels)
    canvas = iface.mapCanvas()
    step("parcels added")
    yield from pause(1)

    # 16: the Prepare dialog as the toolbar opens it (its own size, nothing resized here)
    plugin = plugins[PLUGIN]
    next(a for a in plugin.actions if a.text().startswith("Prepare")).trigger()
    while not [w for w in QApplication.topLevelWidgets()
               if isinstance(w, QgsProcessingAlgorithmDialogBase) and w.isVisible()]:
        yield
    dialog = next(w for w in QApplication.topLevelWidgets()
                  if isinstance(w, QgsProcessingAlgorithmDialogBase) and w.isVisible())
    dialog.setParameters({"PRODUCTS": products, "EXTENT": EXTENT, "SAR": sar,
                          "OUTPUT_FOLDER": os.path.join(work, "prepared")})
    yield from pause(1.5)
    status["prepare_dialog_size"] = [dialog.width(), dialog.height()]
    panel = dialog.mainWidget()
    scroll = next(a for a in dialog.findChildren(QScrollArea) if a.widget() is not None
                  and (a.widget() is panel or a.widget().isAncestorOf(panel)))
    status["prepare_parameters_width"] = {
        "shown": scroll.viewport().width(), "asked": panel.sizeHint().width(),
        "sideways_scroll_bar": scroll.horizontalScrollBar().isVisible()}
    save(dialog, "prepare_dialog_as_opened.png")
    dialog.close()
    del dialog
    yield from pause(0.5)

    # 12: Prepare, then Reconstruct looking at the cloudy date, loaded as the dialog loads them
    import processing
    processing.runAndLoadResults("smts_cloudfill:prepare", {
        "PRODUCTS": products, "EXTENT": EXTENT, "SAR": sar,
        "OUTPUT_FOLDER": os.path.join(work, "prepared")})
    step("prepared")
    layers = {l.name(): l for l in project.mapLayers().values()}
    s2 = [layers[f"S2_{d}"] for d in fx.SAMPLE_DATES]
    masks = [layers[f"CLOUDS_{d}"] for d in fx.SAMPLE_DATES]
    s1 = sorted((l for n, l in layers.items() if n.startswith("S1_")), key=lambda l: l.name())
    focus = layers[f"S2_{FOCUS_DATE}"]
    iface.setActiveLayer(focus)
    processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": [l.id() for l in s2], "MASKS": [l.id() for l in masks],
        "SAR": [l.id() for l in s1], "OUTPUT_FOLDER": os.path.join(work, "filled")})
    step("reconstructed")
    yield from pause(1)

    def tree(node, depth=0):
        rows = []
        for child in node.children():
            mark = "[x]" if child.itemVisibilityChecked() else "[ ]"
            rows.append(f"{'  ' * depth}{mark} {child.name()}")
            if isinstance(child, QgsLayerTreeGroup):
                rows += tree(child, depth + 1)
        return rows
    status["layer_tree"] = tree(project.layerTreeRoot())

    # Tick the cloudy date and its cloud mask, and the filled date's mask: all must show.
    root = project.layerTreeRoot()
    by_name = {n.name(): n for n in root.findLayers()}
    filled_name = f"S2_{FOCUS_DATE}_filled"
    by_name[f"{filled_name}_mask"].setItemVisibilityChecked(True)
    view = iface.layerTreeView()
    view.expandAll()
    for node in root.findLayers():  # legends of the masks only: the panel shows the order
        node.setExpanded("CLOUDS_" in node.name() or node.name().endswith("_mask"))
    panel = view.parent() if view.parent() is not None else view
    panel.resize(420, 900)
    canvas.setExtent(QgsRectangle(574680, 5621800, 575320, 5622440))
    canvas.refresh()
    yield from pause(2)
    save(panel, "layers_panel.png")
    save(iface.mainWindow(), "desktop_filled_mask_ticked.png")
    by_name[f"{filled_name}_mask"].setItemVisibilityChecked(False)
    # The run's group off, the cloudy date and its cloud mask on
    run_group = next(g for g in root.children() if g.name().startswith("SMTS CloudFill"))
    run_group.setItemVisibilityChecked(False)
    for node in root.findLayers():
        if node.name().startswith("S2_") and node.parent() is not run_group:
            node.setItemVisibilityChecked(node.name() == f"S2_{FOCUS_DATE}")
    by_name[f"CLOUDS_{FOCUS_DATE}"].setItemVisibilityChecked(True)
    canvas.refresh()
    yield from pause(2)
    save(canvas, "canvas_cloud_mask_ticked.png")
    by_name[f"CLOUDS_{FOCUS_DATE}"].setItemVisibilityChecked(False)
    run_group.setItemVisibilityChecked(True)

    # 13: the swipe, filled 2019-04-26 (left) / its cloudy input (right), after Prepare
    yield from swipe_shot(by_name[filled_name].layer(), "swipe_desktop.png", "swipe_prepared")

    # Issue 20: the parcels' season, the profile of a parcel, the Temporal Controller
    yield from parcel_shots(parcels, s2, os.path.join(work, "filled"), step, pause, save)

    # and on the sample's own files, opened by the user in QGIS's default style (bands 1-2-3,
    # each stretched on its own image: the cloudy date's on its clouds)
    run_group.setItemVisibilityChecked(False)
    sample = os.path.join(ROOT, "resources", "sample")
    msi = [QgsRasterLayer(p, os.path.basename(p)[:-4])
           for p in sorted(glob.glob(os.path.join(sample, "msi", "*.tif")))]
    project.addMapLayers(msi, False)  # in a group of their own, as a user would keep them
    opened = root.addGroup("sample files")
    for layer in msi:
        opened.addLayer(layer)
    focus = next(l for l in msi if l.name().endswith(FOCUS_DATE))
    iface.setActiveLayer(focus)
    processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": [l.id() for l in msi],
        "MASKS": sorted(glob.glob(os.path.join(sample, "scl", "*.tif"))),
        "SAR": sar, "OUTPUT_FOLDER": os.path.join(work, "filled_sample")})
    step("reconstructed the sample's files")
    second = next(g for g in root.children() if g.name().startswith("SMTS CloudFill")
                  and g is not run_group)
    filled = next(n.layer() for n in second.findLayers()
                  if n.name().endswith(f"{FOCUS_DATE}_filled"))
    status["layer_tree_after_second_run"] = tree(root)
    yield from swipe_shot(filled, "swipe_desktop_sample_default_style.png", "swipe_sample")
    step("done")


def parcel_shots(parcels, s2, filled_folder: str, step, pause, save):
    """Parcel time series through the toolbar's algorithm (run as the dialog runs it), the
    profile dock on the parcel most filled on the focus date, and the season in the Temporal
    Controller at that date."""
    import datetime as dt

    import processing
    from qgis.core import QgsDateTimeRange, QgsInterval, QgsProject, QgsTemporalNavigationObject
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime
    from qgis.PyQt.QtWidgets import QDockWidget
    from qgis.utils import iface, plugins
    project = QgsProject.instance()
    processing.runAndLoadResults("smts_cloudfill:parcel_series", {
        "PARCELS": parcels, "MSI": [l.id() for l in s2], "FILLED": filled_folder,
        "OUTPUT": "TEMPORARY_OUTPUT"})
    step("parcel series")
    table = next(l for l in project.mapLayers().values() if l.name() == "Parcel time series")
    rows = [f for f in table.getFeatures() if f["date"] == "2019-04-26"]
    best = max(rows, key=lambda f: f["filled_share"])
    STATUS["parcel_rows"] = table.featureCount()
    plugin = plugins[PLUGIN]
    next(a for a in plugin.actions if a.text() == "Parcel profile").trigger()
    dock = plugin.profile_dock
    dock.parcels.setLayer(parcels)
    dock.id_field.setField("")
    dock.table.setLayer(table)
    centre = parcels.getFeature(int(best["parcel"])).geometry().centroid().asPoint()
    dock.show_point(centre)
    STATUS["profile"] = {"parcel": best["parcel"], "status": dock.status.text(),
                         "points": [(p.date.isoformat(), p.status, p.error)
                                    for p in dock.chart.profile.points]}
    yield from pause(1.5)
    save(dock, "parcel_profile_dock.png")
    save(iface.mainWindow(), "desktop_parcel_profile.png")
    # The Temporal Controller on the focus date: only that day's layers draw.
    controller = iface.mapCanvas().temporalController()
    day = QDateTime(QDate(2019, 4, 26), QTime(0, 0))
    start = QDateTime(QDate(2019, 4, 1), QTime(0, 0))
    controller.setNavigationMode(QgsTemporalNavigationObject.Animated)
    controller.setTemporalExtents(QgsDateTimeRange(start, QDateTime(QDate(2019, 5, 17),
                                                                    QTime(0, 0))))
    controller.setFrameDuration(QgsInterval(86400))   # a day a frame
    controller.setCurrentFrameNumber(start.daysTo(day))
    temporal = [d for d in iface.mainWindow().findChildren(QDockWidget)
                if "temporal" in d.windowTitle().lower()]
    for d in temporal:
        d.show()
        d.raise_()
    # Every date ticked: the controller, not the ticks, picks what is drawn.
    for node in project.layerTreeRoot().findLayers():
        if node.name().startswith("S2_") and not node.name().endswith("_mask"):
            node.setItemVisibilityChecked(True)
    canvas = iface.mapCanvas()
    canvas.refresh()
    yield from pause(2)
    STATUS["temporal_range"] = canvas.temporalRange().begin().toString("yyyy-MM-dd")
    STATUS["temporal_dock"] = bool(temporal)
    save(iface.mainWindow(), "desktop_temporal_controller.png")
    first = canvas.grab().toImage()
    controller.setCurrentFrameNumber(start.daysTo(QDateTime(QDate(2019, 4, 11), QTime(0, 0))))
    canvas.refresh()
    yield from pause(2)
    STATUS["temporal_frames_differ"] = first != canvas.grab().toImage()
    save(canvas, "canvas_temporal_20190411.png")
    step(f"temporal controller at {dt.date(2019, 4, 26)}")


def swipe_shot(filled, png: str, key: str):
    """Swipe ``filled`` (left) against its cloudy input (right) from the toolbar, save the
    canvas, and note how far apart the two sides' colours are on the clear pixels."""
    import time

    import numpy as np
    from osgeo import gdal
    from qgis.PyQt.QtCore import QEvent, QPointF, Qt
    from qgis.PyQt.QtGui import QColor, QMouseEvent
    from qgis.PyQt.QtWidgets import QApplication
    from qgis.utils import iface, plugins

    canvas = iface.mapCanvas()
    plugin = plugins[PLUGIN]
    iface.setActiveLayer(filled)
    swipe = next(a for a in plugin.actions if a.text().startswith("Swipe"))
    swipe.trigger()
    tool = plugin.swipe_tool
    viewport = canvas.viewport()
    x, y = canvas.width() // 2, canvas.height() // 2
    for kind, button, buttons, px in ((QEvent.MouseButtonPress, Qt.LeftButton, Qt.LeftButton, 60),
                                      (QEvent.MouseMove, Qt.NoButton, Qt.LeftButton, x),
                                      (QEvent.MouseButtonRelease, Qt.LeftButton, Qt.NoButton, x)):
        QApplication.sendEvent(viewport, QMouseEvent(kind, QPointF(px, y), button, buttons,
                                                     Qt.NoModifier))
    end = time.monotonic() + 1
    while time.monotonic() < end or tool.item is None or tool.item.is_rendering() \
            or tool.item.image().isNull():
        yield
    end = time.monotonic() + 1
    while time.monotonic() < end:
        yield
    path = os.path.join(os.environ[STAGE_ENV], png)
    canvas.grab().save(path)
    STATUS["steps"].append(f"wrote {path}")
    print(f"shot: wrote {path}", flush=True)
    item = tool.item
    after_img, before_img = item.image("after"), item.image("before")
    a = gdal.Open(filled.source()).ReadAsArray()
    b = gdal.Open(item.before_layer().source()).ReadAsArray()
    clear = (a == b).all(axis=0)
    gt = gdal.Open(filled.source()).GetGeoTransform()
    m2p = canvas.mapSettings().mapToPixel()
    diffs = []
    for row, col in zip(*np.nonzero(clear)):
        p = m2p.transform(gt[0] + (col + 0.5) * gt[1], gt[3] + (row + 0.5) * gt[5])
        px, py = int(p.x()), int(p.y())
        if 0 <= px < after_img.width() and 0 <= py < after_img.height():
            ca, cb = QColor(after_img.pixel(px, py)), QColor(before_img.pixel(px, py))
            diffs.append(max(abs(ca.red() - cb.red()), abs(ca.green() - cb.green()),
                             abs(ca.blue() - cb.blue())))
    shared = item.shared_renderer() if hasattr(item, "shared_renderer") else None
    own = [filled.renderer(), item.before_layer().renderer()]

    def describe(r):
        if r is None or not hasattr(r, "redBand"):
            return None
        ce = r.redContrastEnhancement()
        return {"bands": [r.redBand(), r.greenBand(), r.blueBand()],
                "red_min_max": [ce.minimumValue(), ce.maximumValue()] if ce else None}
    STATUS[key] = {
        "labels": list(item.labels()), "after": filled.name(),
        "before": item.before_layer().name(),
        "own_styles": [describe(r) for r in own], "drawn_with": describe(shared),
        "clear_pixels_compared": len(diffs),
        "clear_pixel_colour_difference": {"mean": float(np.mean(diffs)) if diffs else None,
                                          "max": int(max(diffs)) if diffs else None}}
    swipe.trigger()  # off


STATUS: dict = {"steps": []}


def run_in_qgis(out_dir: str) -> None:
    import traceback

    from qgis.core import QgsProject
    from qgis.PyQt.QtCore import QTimer

    routine = desktop_walk(out_dir)

    def finish():
        with open(os.path.join(out_dir, "status.json"), "w") as f:
            json.dump(STATUS, f, indent=1)
        QgsProject.instance().setDirty(False)
        os._exit(0)

    def tick():
        try:
            next(routine)
        except StopIteration:
            finish()
            return
        except Exception:  # noqa: BLE001 (written to the status)
            STATUS["error"] = traceback.format_exc()
            finish()
            return
        QTimer.singleShot(20, tick)

    QTimer.singleShot(1500, tick)


if os.environ.get(STAGE_ENV):  # set by the launcher for QGIS only
    run_in_qgis(os.environ[STAGE_ENV])
elif __name__ == "__main__":
    sys.exit(launch(sys.argv[1] if len(sys.argv) > 1
                    else os.path.join(ROOT, "out", "screenshots", "desktop")))
