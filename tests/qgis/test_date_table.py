"""The per-date table: fills itself from the project, marks wrong rows, feeds the parameters."""
from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from osgeo import gdal

from qgis.core import QgsProject, QgsRasterLayer
from qgis.gui import QgsProcessingAlgorithmDialogBase

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"


def add_sample_layers(shuffle: bool = True) -> dict[str, list[QgsRasterLayer]]:
    """Add the sample's rasters to the project, in a scrambled order."""
    layers = {}
    for sub in ("msi", "scl", "sar"):
        paths = sorted(glob.glob(str(SAMPLE / sub / "*.tif")))
        order = paths[::-1] if shuffle else paths
        layers[sub] = [QgsRasterLayer(p, os.path.basename(p)[:-4]) for p in order]
        for layer in layers[sub]:
            assert layer.isValid()
            QgsProject.instance().addMapLayer(layer)
    return layers


@pytest.fixture
def table(qgis_app, qgis_new_project):
    from smts_cloudfill_plugin.gui.date_table import DateTableWidget
    return DateTableWidget()


def test_fills_from_project_sorted_with_masks_and_sar(table):
    from smts_cloudfill_plugin.gui.date_table import CLOUD, CHECK, MSI, SAR
    add_sample_layers()
    table.fill_from_project()
    msi_rows, sar_rows = table.rows(MSI), table.rows(SAR)
    assert len(msi_rows) == 6 and len(sar_rows) == 5
    assert max(msi_rows) < min(sar_rows), "Sentinel-1 rows come below the Sentinel-2 rows"
    dates = [table.date(r).isoformat() for r in msi_rows]
    assert dates == sorted(dates) and dates[0] == "2019-04-01" and dates[-1] == "2019-05-16"
    for r in msi_rows:
        layer, mask = table.layer(r), table.layer(r, 3)
        assert layer.name()[-8:] == mask.name()[-8:], "mask paired with its date"
        assert table.table.item(r, CHECK).text() == "ok"
    cloud = {table.date(r).isoformat(): float(table.table.item(r, CLOUD).text()) for r in msi_rows}
    # SCL clouds grown by the default buffer, as Reconstruct fills them (31 % as the SCL is)
    assert cloud["2019-04-26"] == pytest.approx(46.5, abs=0.6)
    assert cloud["2019-04-01"] == 0
    sorted_ids = [l.id() for l in sorted(
        [l for l in QgsProject.instance().mapLayers().values() if l.name().startswith("S2_")],
        key=lambda l: l.name())]
    assert table.msi_layer_ids() == sorted_ids
    assert len(table.mask_layer_ids()) == 6 and len(table.sar_layer_ids()) == 5
    assert table.dates_text(MSI).split(",")[3] == "2019-04-26"


def test_marks_a_row_on_another_crs_and_a_missing_date(table, tmp_path):
    from smts_cloudfill_plugin.gui.date_table import CHECK, DATE, MSI
    add_sample_layers()
    src = glob.glob(str(SAMPLE / "msi" / "*20190516.tif"))[0]
    other = str(tmp_path / "S2_other_20190521.tif")
    gdal.Warp(other, src, dstSRS="EPSG:3857")
    QgsProject.instance().addMapLayer(QgsRasterLayer(other, "S2_other_20190521"))
    table.fill_from_project()
    rows = table.rows(MSI)
    last = rows[-1]
    assert table.layer(last).name() == "S2_other_20190521"
    assert "EPSG:3857" in table.table.item(last, CHECK).text()
    table.table.item(rows[0], DATE).setText("")
    assert "no date" in table.table.item(rows[0], CHECK).text()
    problems = table.refresh_checks()
    assert len(problems) == 2


def test_algorithm_dialog_takes_its_parameters_from_the_table(qgis_app, provider, qgis_iface,
                                                              qgis_new_project, monkeypatch):
    from qgis.gui import QgsBrowserGuiModel
    import processing
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    layers = add_sample_layers()
    dialog = processing.createAlgorithmDialog("smts_cloudfill:reconstruct")
    params = dialog.mainWidget().createProcessingParameters()
    by_name = lambda ls: [l.id() for l in sorted(ls, key=lambda l: l.name())]  # noqa: E731
    assert params["MSI"] == by_name(layers["msi"])
    assert params["MASKS"] == by_name(layers["scl"])
    assert params["SAR"] == by_name(layers["sar"])
    assert params["MSI_DATES"].split(",") == ["2019-04-01", "2019-04-11", "2019-04-21",
                                              "2019-04-26", "2019-05-11", "2019-05-16"]
    assert params["SAR_DATES"].split(",")[0] == "2019-03-30"
    dialog.deleteLater()


# ----- issue 11: items 5, 12, 13 ----------------------------------------------------------
def open_dialog(qgis_iface, monkeypatch, params: dict | None = None):
    from qgis.gui import QgsBrowserGuiModel
    import processing
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    dialog = processing.createAlgorithmDialog("smts_cloudfill:reconstruct", params or {})
    table = next(w for w in dialog.findChildren(QWidget) if type(w).__name__ == "DateTableWidget")
    return dialog, table


from qgis.PyQt.QtWidgets import QWidget  # noqa: E402


def test_a_mask_of_another_date_is_marked(table):
    """Item 5: the 2019-04-01 (clear) mask on the cloudy 2019-04-26 row is not "ok"."""
    from smts_cloudfill_plugin.gui.date_table import CHECK, MASK, MSI
    layers = add_sample_layers()
    table.fill_from_project()
    row = table.rows(MSI)[3]
    clear_mask = next(l for l in layers["scl"] if l.name().endswith("20190401"))
    table.table.cellWidget(row, MASK).setLayer(clear_mask)
    assert table.table.item(row, CHECK).text() == "mask of another date (2019-04-01)"
    assert len(table.refresh_checks()) == 1


def test_a_wrong_first_row_does_not_mark_the_good_rows(table, tmp_path):
    from smts_cloudfill_plugin.gui.date_table import CHECK, MSI
    add_sample_layers()
    src = glob.glob(str(SAMPLE / "msi" / "*20190401.tif"))[0]
    other = str(tmp_path / "S2_other_20190321.tif")
    gdal.Warp(other, src, dstSRS="EPSG:3857")
    QgsProject.instance().addMapLayer(QgsRasterLayer(other, "S2_other_20190321"))
    table.fill_from_project()
    rows = table.rows(MSI)
    assert table.layer(rows[0]).name() == "S2_other_20190321"
    assert "EPSG:3857" in table.table.item(rows[0], CHECK).text()
    assert [table.table.item(r, CHECK).text() for r in rows[1:]] == ["ok"] * 6
    assert len(table.refresh_checks()) == 1


@pytest.mark.slow
def test_reopening_ignores_our_own_outputs(table, tmp_path):
    """Item 12: `*_filled` and `*_filled_mask` layers of a run are neither dates nor masks."""
    from smts_cloudfill_plugin.gui.date_table import MASK, MSI
    add_sample_layers()
    for sub, suffix in (("msi", "_filled"), ("scl", "_filled_mask")):
        src = glob.glob(str(SAMPLE / sub / "*20190426.tif"))[0]
        dst = str(tmp_path / (os.path.basename(src)[:-4] + suffix + ".tif"))
        gdal.Translate(dst, src)
        QgsProject.instance().addMapLayer(QgsRasterLayer(dst, os.path.basename(dst)[:-4]))
    table.fill_from_project()
    rows = table.rows(MSI)
    assert len(rows) == 6
    assert table.layer(rows[3], MASK).name() == "SCL_0000280849BAC91C_20190426"
    assert not any("_filled" in table.layer(r).name() for r in rows)


def test_remove_row_keeps_the_dates_in_step(qgis_app, provider, qgis_iface, qgis_new_project,
                                            monkeypatch):
    """Item 5: after Remove row, MSI and MSI_DATES still have one date per layer."""
    from smts_cloudfill_plugin.gui.date_table import MSI
    add_sample_layers()
    dialog, table = open_dialog(qgis_iface, monkeypatch)
    table.table.selectRow(table.rows(MSI)[2])
    table.remove_selected()
    params = dialog.mainWidget().createProcessingParameters()
    assert len(params["MSI"]) == 5 and len(params["MSI_DATES"].split(",")) == 5
    assert "2019-04-21" not in params["MSI_DATES"]
    assert len(params["MASKS"]) == 5
    dialog.deleteLater()


def test_table_problems_block_run(qgis_app, provider, qgis_iface, qgis_new_project, monkeypatch):
    """Item 5: what the table marks, the algorithm refuses before running."""
    from qgis.core import QgsProcessingContext
    from smts_cloudfill_plugin.gui.date_table import MASK, MSI
    layers = add_sample_layers()
    dialog, table = open_dialog(qgis_iface, monkeypatch)
    table.table.cellWidget(table.rows(MSI)[3], MASK).setLayer(
        next(l for l in layers["scl"] if l.name().endswith("20190401")))
    params = dialog.mainWidget().createProcessingParameters()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    ok, message = dialog.algorithm().checkParameterValues(params, context)
    assert not ok and "mask of another date" in message
    dialog.deleteLater()


def test_rerun_from_history_fills_the_table(qgis_app, provider, qgis_iface, qgis_new_project,
                                            monkeypatch):
    """Item 13: the history gives file paths; the table shows them, with masks and SAR."""
    paths = {sub: sorted(glob.glob(str(SAMPLE / sub / "*.tif"))) for sub in ("msi", "scl", "sar")}
    dialog, table = open_dialog(qgis_iface, monkeypatch, {
        "MSI": paths["msi"], "MASKS": paths["scl"], "SAR": paths["sar"]})
    params = dialog.mainWidget().createProcessingParameters()
    project = QgsProject.instance()
    sources = lambda ids: [project.mapLayer(i).source() for i in ids]  # noqa: E731
    assert sources(params["MSI"]) == paths["msi"]
    assert sources(params["MASKS"]) == paths["scl"]
    assert sources(params["SAR"]) == paths["sar"]
    assert len(params["MSI_DATES"].split(",")) == 6
    assert table.summary.text() == "6 Sentinel-2 dates, 6 masks, 5 Sentinel-1 dates"
    dialog.deleteLater()


def test_closing_the_dialog_with_the_window_x_is_quiet(qgis_app, provider, qgis_iface,
                                                       qgis_new_project, monkeypatch):
    """Item 13: the toolbar's dialog closed with X raised "wrapped C/C++ object ... deleted"."""
    from qgis.PyQt.QtWidgets import QApplication
    from qgis.gui import QgsBrowserGuiModel
    from smts_cloudfill_plugin.gui import toolbar
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    messages, logged = [], []
    monkeypatch.setattr(toolbar, "show_message", lambda plugin, text, *a, **k: messages.append(text))
    monkeypatch.setattr(toolbar, "log_exception", lambda where: logged.append(where))

    class Plugin:
        iface = qgis_iface
        dialogs: list = []

    def close_it():
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QgsProcessingAlgorithmDialogBase) and w.isVisible():
                w.close()

    toolbar.open_reconstruct_dialog(Plugin())
    close_it()
    from pytest_qgis.utils import wait
    wait(100)
    assert messages == [] and logged == []


def test_default_dialog_shows_layer_names_and_the_check_column(qgis_app, provider, qgis_iface,
                                                               qgis_new_project, monkeypatch):
    """Item 14: at the dialog's default size no column is pushed out of view or squeezed."""
    from pytest_qgis.utils import wait
    from smts_cloudfill_plugin.gui.date_table import CHECK, CLOUD, LAYER, MASK
    add_sample_layers()
    dialog, table = open_dialog(qgis_iface, monkeypatch)
    dialog.show()
    wait(50)
    table = next(w for w in dialog.findChildren(QWidget) if type(w).__name__ == "DateTableWidget")
    header = table.table.horizontalHeader()
    assert sum(header.sectionSize(c) for c in range(header.count())) <= \
        table.table.viewport().width() + 1, "no horizontal scrolling"
    assert dialog.width() >= 1100, "wide enough for the table next to the help panel"
    assert header.sectionSize(LAYER) >= 150 and header.sectionSize(MASK) >= 150
    assert header.sectionSize(CLOUD) > 0 and header.sectionSize(CHECK) >= 150
    dialog.close()


def test_project_layer_signals_after_the_dialog_is_deleted_are_quiet(qgis_app, provider, qgis_iface,
                                                                     qgis_new_project, monkeypatch):
    """Item 13: Processing's panel refreshes every wrapper on each layer added to or removed
    from the project (``ParametersPanel.layerRegistryChanged``, which ignores AttributeError
    only). Once the closed dialog was deleted, the inherited refresh of the table's wrappers
    raised "wrapped C/C++ object of type DateTableWidget has been deleted"."""
    import sys
    from qgis.PyQt.QtCore import QCoreApplication, QEvent
    from smts_cloudfill_plugin.gui.date_table_wrapper import StackTableWrapper
    layers = add_sample_layers()
    raised = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: raised.append(exc))
    dialog, table = open_dialog(qgis_iface, monkeypatch)
    panel = dialog.mainWidget()
    ours = [w for w in panel.wrappers.values() if isinstance(w, StackTableWrapper)]
    assert len(ours) == 3
    panel.layerRegistryChanged([])  # while open: nothing to do, nothing raised
    dialog.show()
    dialog.close()  # the window's X: a close event; QGIS deletes the dialog later
    dialog.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    QCoreApplication.processEvents()
    from qgis.PyQt import sip
    assert sip.isdeleted(table)
    for wrapper in ours:
        wrapper.refresh()  # raised RuntimeError before
        wrapper.push_dates()
    extra = QgsRasterLayer(layers["msi"][0].source(), "added after close")
    QgsProject.instance().addMapLayer(extra)
    QgsProject.instance().removeMapLayer(extra.id())
    QgsProject.instance().clear()
    QCoreApplication.processEvents()
    assert raised == []


# ----- issue 12 item 3: the cloud % follows the cloud buffer ------------------------------------
def test_cloud_percent_is_what_the_stack_fills_for_each_buffer(qgis_app, qgis_new_project):
    from smts_cloudfill_plugin.core.progress import Feedback
    from smts_cloudfill_plugin.core.read.missing import scan_missing
    from smts_cloudfill_plugin.core.read.stack import Stack
    from smts_cloudfill_plugin.gui.date_table import cloud_percent
    layers = add_sample_layers(shuffle=False)
    msi = sorted(glob.glob(str(SAMPLE / "msi" / "*.tif")))
    scl = sorted(glob.glob(str(SAMPLE / "scl" / "*.tif")))
    for buffer in (0, 1, 3, 6):
        with Stack(msi, scl, cloud_buffer=buffer) as st:
            want = [100 * f for f in scan_missing(st, Feedback()).fractions]
        assert [cloud_percent(l, buffer) for l in layers["scl"]] == pytest.approx(want)


def test_the_dialog_s_cloud_buffer_drives_the_cloud_column(qgis_app, provider, qgis_iface,
                                                           qgis_new_project, monkeypatch):
    from smts_cloudfill_plugin.gui.date_table import CLOUD, MSI
    add_sample_layers()
    dialog, table = open_dialog(qgis_iface, monkeypatch)
    row = table.rows(MSI)[3]
    assert table.date(row).isoformat() == "2019-04-26"
    assert table.cloud_buffer == 3 and table.table.item(row, CLOUD).text() == "47"
    wrapper = dialog.mainWidget().wrappers["CLOUD_BUFFER"]
    from qgis.core import QgsProcessingContext
    wrapper.setParameterValue(0, QgsProcessingContext())
    assert table.cloud_buffer == 0 and table.table.item(row, CLOUD).text() == "31"
    dialog.deleteLater()
