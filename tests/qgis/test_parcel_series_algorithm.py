"""The "Parcel time series" algorithm in QGIS: help, processing.run to a CSV and a GeoPackage
equal to the engine's table, parcels in another CRS, bad input, and qgis_process."""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsFeature, QgsGeometry, QgsProcessingException, QgsProject,
                       QgsVectorFileWriter, QgsVectorLayer)

from test_install_package import QGIS_PROCESS, home, needs_qgis_process, run  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sample_stack import MSI  # noqa: E402

ALG = "smts_cloudfill:parcel_series"
X0, Y0 = 574680.0, 5622440.0
FIELDS = ["parcel", "date", "NDVI_mean", "NDVI_std", "pixels", "clear_share", "filled_share",
          "expected_error", "status", "NDVI_error"]


def box(x0: float, y0: float, x1: float, y1: float) -> str:
    """A rectangle from offsets (metres) east of and south of the sample's corner, as WKT."""
    return (f"POLYGON(({X0 + x0} {Y0 - y0}, {X0 + x1} {Y0 - y0}, {X0 + x1} {Y0 - y1}, "
            f"{X0 + x0} {Y0 - y1}, {X0 + x0} {Y0 - y0}))")


PARCELS = {"wheat": box(33, 21, 251, 263), "maize": box(-120, 303, 47, 452),
           "beet": box(301, 301, 503, 502)}


def parcel_layer(crs: str = "EPSG:32631") -> QgsVectorLayer:
    layer = QgsVectorLayer(f"Polygon?crs={crs}&field=name:string", "parcels", "memory")
    to_crs = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32631"),
                                    QgsCoordinateReferenceSystem(crs), QgsProject.instance())
    feats = []
    for name, wkt in PARCELS.items():
        f = QgsFeature(layer.fields())
        g = QgsGeometry.fromWkt(wkt)
        g.transform(to_crs)
        f.setGeometry(g)
        f.setAttribute("name", name)
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


def filled_folder(tmp_path: Path) -> str:
    """Reconstruct's output for 2019-04-26 as the engine names it: the date itself, and a mask
    filling its upper 20 rows."""
    from smts_cloudfill_plugin.core.write.names import filled_paths
    folder = tmp_path / "filled"
    folder.mkdir()
    names = filled_paths(MSI[3], str(folder))
    gdal.Translate(names.filled, MSI[3])
    mask = np.zeros((64, 64), np.uint8)
    mask[:20] = 1
    ds = gdal.GetDriverByName("GTiff").Create(names.mask, 64, 64, 1, gdal.GDT_Byte)
    src = gdal.Open(MSI[3])
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.GetRasterBand(1).WriteArray(mask)
    ds = src = None
    return str(folder)


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def engine_rows(folder: str | None) -> list:
    from osgeo import ogr
    from smts_cloudfill_plugin.core.parcels.series import Parcel, parcel_series
    parcels = [Parcel(n, ogr.CreateGeometryFromWkt(w).ExportToWkb()) for n, w in PARCELS.items()]
    return parcel_series(parcels, MSI, folder)


def test_listed_with_help_on_every_parameter(provider):
    alg = QgsApplication.processingRegistry().algorithmById(ALG)
    assert alg is not None and alg.displayName() == "Parcel time series"
    assert "NDVI" in alg.shortHelpString()
    for p in alg.parameterDefinitions():
        assert p.help(), f"parameter {p.name()} has no help text"


@pytest.mark.parametrize("crs", ["EPSG:32631", "EPSG:4326"])
def test_csv_table_equals_the_engine_s(provider, tmp_path, crs):
    import processing
    folder = filled_folder(tmp_path)
    out = tmp_path / "series.csv"
    result = processing.run(ALG, {"PARCELS": parcel_layer(crs), "ID_FIELD": "name", "MSI": MSI,
                                  "FILLED": folder, "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    rows = read_csv(out)
    assert list(rows[0]) == FIELDS
    expected = engine_rows(folder)
    assert len(rows) == len(expected) == 3 * 6
    for got, want in zip(rows, expected):
        assert (got["parcel"], got["date"], got["status"]) == (want.parcel, want.date, want.status)
        assert int(got["pixels"]) == want.pixels
        assert float(got["NDVI_mean"]) == pytest.approx(want.mean, abs=1e-6)
        assert float(got["filled_share"]) == pytest.approx(want.filled_share)
        assert got["expected_error"] == ""
    wheat = [r for r in rows if r["parcel"] == "wheat"]
    assert [r["status"] for r in wheat] == ["observed"] * 3 + ["partly filled"] + ["observed"] * 2


def test_geopackage_without_id_field_and_another_index(provider, tmp_path):
    import processing
    out = tmp_path / "series.gpkg"
    processing.run(ALG, {"PARCELS": parcel_layer(), "MSI": MSI, "INDEX": "evi",
                         "OUTPUT": str(out)})
    layer = QgsVectorLayer(str(out), "t", "ogr")
    assert layer.isValid() and layer.featureCount() == 18
    names = [f.name() for f in layer.fields()]
    assert "EVI_mean" in names and "EVI_std" in names and "parcel" in names
    assert sorted({f["parcel"] for f in layer.getFeatures()}) == [1, 2, 3]
    assert {f["status"] for f in layer.getFeatures()} == {"observed"}


def test_bad_input_gives_a_clear_message_and_no_table(provider, tmp_path):
    import processing
    out = tmp_path / "series.csv"
    far = QgsVectorLayer("Polygon?crs=EPSG:32631", "far", "memory")
    f = QgsFeature()
    f.setGeometry(QgsGeometry.fromWkt(box(-9000, 0, -8000, 900)))
    far.dataProvider().addFeatures([f])
    with pytest.raises(QgsProcessingException, match="No parcel covers a pixel centre"):
        processing.run(ALG, {"PARCELS": far, "MSI": MSI, "OUTPUT": str(out)})
    assert not out.exists()
    with pytest.raises(QgsProcessingException, match="Index 'NDXI' is not one of"):
        processing.run(ALG, {"PARCELS": parcel_layer(), "MSI": MSI, "INDEX": "NDXI",
                             "OUTPUT": str(out)})
    assert not out.exists()


@pytest.mark.slow
@needs_qgis_process
def test_qgis_process_runs_it(home, tmp_path):  # noqa: F811 (the fixture)
    layer = parcel_layer()
    gpkg = tmp_path / "parcels.gpkg"
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV2(layer, str(gpkg), QgsProject.instance()
                                                      .transformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    out = tmp_path / "series.csv"
    done = run([QGIS_PROCESS, "run", ALG, "--", f"PARCELS={gpkg}", "ID_FIELD=name",
                *[f"MSI={p}" for p in MSI], "INDEX=ndvi", f"OUTPUT={out}"], home)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_csv(out)
    assert len(rows) == 18 and rows[0]["parcel"] == "wheat"
    assert float(rows[0]["NDVI_mean"]) == pytest.approx(engine_rows(None)[0].mean, abs=1e-6)
    bad = run([QGIS_PROCESS, "run", ALG, "--", f"PARCELS={gpkg}", *[f"MSI={p}" for p in MSI],
               "INDEX=foo", f"OUTPUT={tmp_path / 'bad.csv'}"], home)
    assert bad.returncode != 0
    said = bad.stdout + bad.stderr
    assert "Index 'foo' is not one of" in said and "Traceback" not in said
    assert not os.path.exists(tmp_path / "bad.csv")
