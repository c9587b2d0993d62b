"""The per-date table: fills itself from the project, marks wrong rows, feeds the parameters."""
from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from osgeo import gdal

from qgis.core import QgsProject, QgsRasterLayer

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
    assert cloud["2019-04-26"] == pytest.approx(31, abs=1)
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
