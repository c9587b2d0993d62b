"""The parcel profile dock (issue 20, item 3): a click on a parcel shows its curve from the
Parcel time series table, observed and filled dates told apart, the interpolation for
comparison; PNG and CSV exports; in under a second."""
from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from qgis.core import QgsPointXY, QgsProject
from qgis.PyQt.QtGui import QColor

from test_parcel_series_algorithm import ALG, MSI, filled_folder, parcel_layer


@pytest.fixture
def season(provider, tmp_path, qgis_new_project):
    """Parcels and their table (one date filled in part) in the project."""
    import processing
    parcels = parcel_layer()
    parcels.setName("fields")
    result = processing.run(ALG, {"PARCELS": parcels, "ID_FIELD": "name", "MSI": MSI,
                                  "FILLED": filled_folder(tmp_path), "OUTPUT": "memory:"})
    table = result["OUTPUT"]
    table.setName("season")
    QgsProject.instance().addMapLayers([parcels, table])
    return parcels, table


@pytest.fixture
def dock(qgis_iface, season):
    from smts_cloudfill_plugin.gui.parcel_profile import ParcelProfileDock
    d = ParcelProfileDock(qgis_iface)
    d.parcels.setLayer(season[0])
    d.id_field.setField("name")
    d.table.setLayer(season[1])
    yield d
    d.deleteLater()


def test_a_click_inside_a_parcel_shows_its_season_in_under_a_second(dock, qgis_iface):
    qgis_iface.mapCanvas().setDestinationCrs(dock.parcels.currentLayer().crs())
    start = time.perf_counter()
    dock.show_point(QgsPointXY(574680.0 + 100.0, 5622440.0 - 100.0))   # inside "wheat"
    assert time.perf_counter() - start < 1.0
    profile = dock.chart.profile
    assert profile is not None and profile.parcel == "wheat" and profile.index == "NDVI"
    assert [p.status for p in profile.points] == ["observed"] * 3 + ["partly filled"] + \
        ["observed"] * 2
    assert "Parcel wheat: 6 dates, 1 of them filled" in dock.status.text()
    # The interpolation is drawn over the dates between the first and last observed one.
    assert [d for d, _ in profile.interpolation()] == [p.date for p in profile.points]
    dock.show_point(QgsPointXY(574680.0 + 1000.0, 5622440.0 - 1000.0))   # no parcel there
    assert dock.status.text() == "No parcel there." and dock.chart.profile is profile


def test_the_same_with_the_map_in_another_crs(dock, qgis_iface):
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform)
    wgs = QgsCoordinateReferenceSystem("EPSG:4326")
    qgis_iface.mapCanvas().setDestinationCrs(wgs)
    to_wgs = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32631"), wgs,
                                    QgsProject.instance())
    dock.show_point(to_wgs.transform(QgsPointXY(574680.0 + 400.0, 5622440.0 - 400.0)))
    assert dock.chart.profile.parcel == "beet"


def test_observed_dots_are_filled_and_the_filled_date_is_hollow_with_its_bar(dock):
    profile = dock.show_parcel("wheat")
    image = dock.chart.image(800, 450)
    size = (800, 450)
    line = dock.chart.palette()  # noqa: F841 (the chart draws with its own colours)
    from smts_cloudfill_plugin.gui.profile_chart import COLOURS
    for p in profile.points:
        centre = dock.chart.to_pixel(p.date, p.mean, size)
        x, y = int(round(centre.x())), int(round(centre.y()))
        colour = QColor(image.pixel(x, y))
        if p.status == "observed":
            assert colour == COLOURS["line"], (p, colour.name())
        else:
            # Half filled: the left half green, the right half white.
            assert QColor(image.pixel(x - 2, y)) == COLOURS["line"]
            assert QColor(image.pixel(x + 2, y)).lightness() > 240
    filled = next(p for p in profile.points if p.status != "observed")
    assert filled.error is None, "no _filled_rmse raster in this folder: no bar"


def test_exports(dock, tmp_path):
    from smts_cloudfill_plugin.gui.profile_table import write_profile_csv
    profile = dock.show_parcel("maize")
    png = tmp_path / "p.png"
    assert dock.chart.image().save(str(png))
    from qgis.PyQt.QtGui import QImage
    image = QImage(str(png))
    assert (image.width(), image.height()) == (800, 450)
    assert len({image.pixel(x, y) for x in range(0, 800, 7) for y in range(0, 450, 7)}) > 5
    path = tmp_path / "p.csv"
    write_profile_csv(str(path), profile)
    rows = list(csv.DictReader(open(path)))
    assert [r["date"] for r in rows] == [p.date.isoformat() for p in profile.points]
    assert np.allclose([float(r["NDVI_mean"]) for r in rows], [p.mean for p in profile.points])
    assert all(r["parcel"] == "maize" for r in rows)


def test_an_unknown_parcel_or_no_table_is_said(dock):
    assert dock.show_parcel("rye") is None
    assert "not in the table" in dock.status.text()
    dock.table.setLayer(None)
    assert dock.show_parcel("wheat") is None
    assert "Parcel time series" in dock.status.text()


def test_a_new_table_is_taken_at_once(dock, provider):
    import processing
    result = processing.run(ALG, {"PARCELS": dock.parcels.currentLayer(), "ID_FIELD": "name",
                                  "MSI": MSI, "INDEX": "NDMI", "OUTPUT": "memory:"})
    QgsProject.instance().addMapLayer(result["OUTPUT"])
    assert dock.table.currentLayer() is result["OUTPUT"]
    assert dock.show_parcel("wheat").index == "NDMI"
    dock.shut_down()


def test_the_dialog_opens_with_the_project_s_season_fills_and_parcels(provider, tmp_path,
                                                                      qgis_new_project):
    """The toolbar's Parcel time series: the project's Sentinel-2 dates in date order, the
    folder of their _filled layers, the parcels layer."""
    from qgis.core import QgsRasterLayer
    from smts_cloudfill_plugin.qgis_io.parcel_defaults import project_defaults
    project = QgsProject.instance()
    layers = [QgsRasterLayer(p, p.split("/")[-1][:-4]) for p in reversed(MSI)]
    folder = filled_folder(tmp_path)
    filled = QgsRasterLayer(f"{folder}/S2_0000280849BAC91C_20190426_filled.tif", "f")
    parcels = parcel_layer()
    project.addMapLayers([*layers, filled, parcels])
    found = project_defaults(project)
    assert [project.mapLayer(i).name() for i in found["MSI"]] == \
        [p.split("/")[-1][:-4] for p in MSI]
    assert found["FILLED"] == folder and found["PARCELS"] == parcels.id()
