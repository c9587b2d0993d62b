"""The "Prepare Sentinel-1/2 time series" algorithm in QGIS: processing.run, loading as a group
sorted by date, parcels and cloud polygons as layers, bad input, cancel, qgis_process; and the
prepared stacks through "Reconstruct cloudy MSI" end to end."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from osgeo import gdal
from qgis.core import (QgsApplication, QgsFeature, QgsGeometry, QgsProcessingException,
                       QgsProcessingFeedback, QgsProject, QgsVectorLayer)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import s2_products as fx  # noqa: E402
from sample_stack import SAR  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
QGIS_PROCESS = shutil.which("qgis_process.bin")
EXTENT = "574680,575320,5621800,5622440 [EPSG:32631]"


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("products")
    return [fx.make_product(folder, d, zipped=i % 2 == 0,
                            baseline="04.00" if d == "20190516" else "02.11")
            for i, d in enumerate(fx.SAMPLE_DATES)]


def run(params: dict, feedback=None) -> dict:
    import processing
    return processing.run("smts_cloudfill:prepare", params, feedback=feedback)


def polygon_layer(wkts: list[str], dates: list | None = None,
                  field_type: str = "string") -> QgsVectorLayer:
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:32631&field=day:{field_type}", "polys", "memory")
    feats = []
    for i, wkt in enumerate(wkts):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        f.setAttribute("day", dates[i] if dates else None)
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


def test_listed_with_help_on_every_parameter(provider):
    alg = QgsApplication.processingRegistry().algorithmById("smts_cloudfill:prepare")
    assert alg is not None and alg.displayName() == "Prepare Sentinel-1/2 time series"
    assert "Copernicus" in alg.shortHelpString()
    for p in alg.parameterDefinitions():
        assert p.help(), f"parameter {p.name()} has no help text"


def test_products_to_stacks_masks_and_sar(provider, products, tmp_path):
    out = tmp_path / "o"
    result = run({"PRODUCTS": products, "EXTENT": EXTENT, "SAR": SAR, "CLOUD_BUFFER": 0,
                  "OUTPUT_FOLDER": str(out)})
    assert [os.path.basename(p) for p in result["MSI"]] == [f"S2_{d}.tif" for d in fx.SAMPLE_DATES]
    assert len(result["MASKS"]) == 6 and len(result["SCL"]) == 6 and len(result["SAR_OUTPUT"]) == 5
    for path, d in zip(result["MSI"], fx.SAMPLE_DATES):
        assert np.array_equal(gdal.Open(path).ReadAsArray(), fx.sample_arrays(d)[0])


@pytest.mark.parametrize("field_type", ["string", "date", "datetime"])
def test_parcels_with_a_margin_and_cloud_polygons_by_date(provider, products, tmp_path,
                                                          field_type):
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime
    day = {"string": "2019-04-21", "date": QDate(2019, 4, 21),
           "datetime": QDateTime(QDate(2019, 4, 21), QTime(10, 56))}[field_type]
    parcels = polygon_layer(["POLYGON((574900 5622000, 575000 5622000, 575000 5622100, "
                             "574900 5622100, 574900 5622000))"])
    clouds = polygon_layer(["POLYGON((574900 5622000, 574940 5622000, 574940 5622040, "
                            "574900 5622040, 574900 5622000))"], [day], field_type)
    assert type(next(clouds.getFeatures())["day"]) is type(day)
    result = run({"PRODUCTS": products[1:3], "PARCELS": parcels, "EXTENT_BUFFER": 40,
                  "CLOUD_POLYGONS": clouds, "CLOUD_DATE_FIELD": "day", "CLOUD_BUFFER": 0,
                  "OUTPUT_FOLDER": str(tmp_path / "o")})
    ds = gdal.Open(result["MSI"][0])
    assert ds.GetGeoTransform() == (574860.0, 10.0, 0.0, 5622140.0, 0.0, -10.0)
    assert (ds.RasterXSize, ds.RasterYSize) == (18, 18)
    masks = [gdal.Open(p).ReadAsArray() for p in result["MASKS"]]  # 04-11, 04-21
    assert masks[1][10:14, 4:8].all() and masks[1].sum() == 16
    assert not masks[0][10:14, 4:8].any()


def test_run_and_load_results_group_sorted_by_date_fills_the_date_table(
        provider, products, tmp_path, qgis_new_project):
    import processing
    from smts_cloudfill_plugin.gui.date_table import DateTableWidget
    processing.runAndLoadResults("smts_cloudfill:prepare", {
        "PRODUCTS": products[::-1], "EXTENT": EXTENT, "SAR": SAR,
        "OUTPUT_FOLDER": str(tmp_path / "o")})
    project = QgsProject.instance()
    group = next(g for g in project.layerTreeRoot().children()
                 if g.name().startswith("Sentinel-1/2 time series"))
    names = [n.name() for n in group.children()]
    assert names == ([name for d in fx.SAMPLE_DATES for name in (f"CLOUDS_{d}", f"S2_{d}")]
                     + [f"S1_{os.path.basename(p)[-12:-4]}" for p in SAR])
    assert [n.itemVisibilityChecked() for n in group.children()][:3] == [False, True, False]
    r = group.children()[1].layer().renderer()
    assert (r.redBand(), r.greenBand(), r.blueBand()) == (3, 2, 1)
    for node in group.children():   # the Temporal Controller plays the season
        when = node.layer().temporalProperties().fixedTemporalRange()
        assert node.layer().temporalProperties().isActive()
        assert when.begin().date().toString("yyyyMMdd") == node.name()[-8:]
    table = DateTableWidget()
    table.fill_from_project(project)
    assert [table.layer(r).name() for r in table.rows("S2")] == [f"S2_{d}" for d in fx.SAMPLE_DATES]
    assert [table.layer(r, 3).name() for r in table.rows("S2")] == \
        [f"CLOUDS_{d}" for d in fx.SAMPLE_DATES]
    assert len(table.rows("S1")) == 5
    assert not table.refresh_checks()
    table.deleteLater()


@pytest.mark.parametrize("case", ["l1c", "no_area", "off_extent", "bad_classes", "nothing"])
def test_bad_input_gives_a_clear_message_and_no_file(provider, products, tmp_path, case):
    params = {"PRODUCTS": products[:1], "EXTENT": EXTENT, "OUTPUT_FOLDER": str(tmp_path / "o")}
    if case == "l1c":
        params["PRODUCTS"] = [fx.make_product(tmp_path, "20190401", level="L1C")]
        expected = "Level-1C"
    elif case == "no_area":
        del params["EXTENT"]
        expected = "Give the area"
    elif case == "off_extent":
        params["EXTENT"] = "600000,600500,5700000,5700500 [EPSG:32631]"
        expected = "None of the Sentinel-2 products covers"
    elif case == "bad_classes":
        params["EXTRA_SCL_CLASSES"] = "7, clouds"
        expected = "whole numbers"
    else:
        params["PRODUCTS"] = []
        expected = "Give Sentinel-2 products"
    with pytest.raises(QgsProcessingException, match=expected):
        run(params)
    out = tmp_path / "o"
    assert not out.exists() or not [n for n in os.listdir(out) if n.endswith(".tif")]


def test_cancel_leaves_no_file(provider, products, tmp_path):
    fb = QgsProcessingFeedback()
    fb.cancel()
    with pytest.raises(QgsProcessingException, match="[Cc]ancel"):
        run({"PRODUCTS": products, "EXTENT": EXTENT, "OUTPUT_FOLDER": str(tmp_path / "o")}, fb)
    out = tmp_path / "o"
    assert not out.exists() or not [n for n in os.listdir(out) if n.endswith(".tif")]


@pytest.mark.slow
def test_prepared_stacks_go_through_reconstruct(provider, products, small_weights, tmp_path):
    """Two algorithm runs, no manual band stacking: products -> prepare -> reconstruct."""
    import processing
    prepared = run({"PRODUCTS": products, "EXTENT": EXTENT, "SAR": SAR,
                    "OUTPUT_FOLDER": str(tmp_path / "prepared")})
    filled = processing.run("smts_cloudfill:reconstruct", {
        "MSI": prepared["MSI"], "MASKS": prepared["MASKS"], "SAR": prepared["SAR_OUTPUT"],
        "MODEL": small_weights, "OUTPUT_FOLDER": str(tmp_path / "filled")})
    names = sorted(os.path.basename(p) for p in filled["FILLED"])
    assert names == ["S2_20190411_filled.tif", "S2_20190426_filled.tif"]
    src = gdal.Open(prepared["MSI"][3]).ReadAsArray()
    out = gdal.Open(sorted(filled["FILLED"])[1]).ReadAsArray()
    mask = gdal.Open(prepared["MASKS"][3]).ReadAsArray().astype(bool)
    assert np.array_equal(src[:, ~mask], out[:, ~mask])


# ----- qgis_process ----------------------------------------------------------------------------
def qgis_home(tmp_path: Path) -> tuple[dict, Path]:
    """A throw-away QGIS profile whose plugin folder links to this checkout's plugin."""
    plugins = tmp_path / "profiles" / "default" / "python" / "plugins" / "smts_cloudfill_plugin"
    plugins.mkdir(parents=True)
    src = ROOT / "smts_cloudfill_plugin"
    for entry in src.iterdir():
        if entry.name != "__pycache__":
            os.symlink(entry, plugins / entry.name)
    shutil.copy(ROOT / "metadata.txt", plugins / "metadata.txt")
    os.symlink(ROOT / "resources", plugins / "resources")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "QGIS_PLUGINPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(tmp_path), QT_QPA_PLATFORM="offscreen",
               OMP_NUM_THREADS="1", HOME=str(tmp_path))
    done = subprocess.run([QGIS_PROCESS, "plugins", "enable", "smts_cloudfill_plugin"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return env, tmp_path


@pytest.mark.slow
@pytest.mark.skipif(QGIS_PROCESS is None, reason="no qgis_process.bin")
def test_qgis_process_prepares_and_refuses_l1c(products, tmp_path):
    env, _ = qgis_home(tmp_path / "qgis")
    out = tmp_path / "out"
    args = [f"PRODUCTS={p}" for p in products] + [f"SAR={p}" for p in SAR]
    done = subprocess.run([QGIS_PROCESS, "run", "smts_cloudfill:prepare", "--", *args,
                           f"EXTENT={EXTENT}", "CLOUD_BUFFER=2", f"OUTPUT_FOLDER={out}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in out.glob("S2_*.tif")) == [f"S2_{d}.tif" for d in fx.SAMPLE_DATES]
    assert "BOA_ADD_OFFSET -1000 removed" in done.stdout
    assert len(list(out.glob("S1_*.tif"))) == 5
    l1c = fx.make_product(tmp_path, "20190401", level="L1C")
    bad = subprocess.run([QGIS_PROCESS, "run", "smts_cloudfill:prepare", "--",
                          f"PRODUCTS={l1c}", f"EXTENT={EXTENT}",
                          f"OUTPUT_FOLDER={tmp_path / 'bad'}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1
    assert "Level-1C" in bad.stdout + bad.stderr and "Traceback" not in bad.stdout + bad.stderr


# ----- issue 12 item 4: DEVICE by name as well as by index --------------------------------------
@pytest.mark.parametrize("device", ["cpu", "CPU", 1, "1", "auto"])
def test_reconstruct_device_by_name_or_index(provider, products, small_weights, tmp_path, device):
    from qgis.core import QgsProcessingContext
    from sample_stack import MSI, SCL
    alg = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:reconstruct")
    params = {"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights, "DEVICE": device,
              "OUTPUT_FOLDER": str(tmp_path / "o")}
    assert alg.checkParameterValues(params, QgsProcessingContext()) == (True, "")
    if device == "cpu":
        import processing
        result = processing.run("smts_cloudfill:reconstruct", params)
        assert len(result["FILLED"]) == 2
    ok, message = alg.checkParameterValues({**params, "DEVICE": "gpu"}, QgsProcessingContext())
    assert not ok and "auto, cpu, cuda" in message


@pytest.mark.slow
@pytest.mark.skipif(QGIS_PROCESS is None, reason="no qgis_process.bin")
def test_qgis_process_device_cpu_on_prepared_stacks(products, small_weights, tmp_path):
    """DEVICE=cpu in qgis_process, on the stacks the prepare algorithm wrote."""
    from smts_cloudfill_plugin.dependencies import dependency_folder
    from test_install_package import link_torch
    env, home = qgis_home(tmp_path / "qgis")
    link_torch(dependency_folder(str(home / "profiles" / "default")))
    prepared = tmp_path / "prepared"
    done = subprocess.run([QGIS_PROCESS, "run", "smts_cloudfill:prepare", "--",
                           *[f"PRODUCTS={p}" for p in products], *[f"SAR={p}" for p in SAR],
                           f"EXTENT={EXTENT}", f"OUTPUT_FOLDER={prepared}"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    args = [f"MSI={p}" for p in sorted(prepared.glob("S2_*.tif"))]
    args += [f"MASKS={p}" for p in sorted(prepared.glob("CLOUDS_*.tif"))]
    args += [f"SAR={p}" for p in sorted(prepared.glob("S1_*.tif"))]
    out = tmp_path / "filled"
    done = subprocess.run([QGIS_PROCESS, "run", "smts_cloudfill:reconstruct", "--", *args,
                           f"MODEL={small_weights}", "DEVICE=cpu", f"OUTPUT_FOLDER={out}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Device: CPU" in done.stdout
    assert sorted(p.name for p in out.glob("*_filled.tif")) == ["S2_20190411_filled.tif",
                                                                "S2_20190426_filled.tif"]


# ----- issue 12: the products picker of the dialog; products of one day ------------------------
def products_wrapper(dialog):
    return dialog.mainWidget().wrappers["PRODUCTS"]


def test_dialog_shows_the_products_it_is_given_and_runs_with_them(
        qgis_app, provider, products, qgis_iface, qgis_new_project, monkeypatch, tmp_path):
    """QGIS 3.22's own widget dropped every product set by a preset or a re-run ('0 inputs
    selected') and ran without them."""
    import processing
    from qgis.gui import QgsBrowserGuiModel
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    dialog = processing.createAlgorithmDialog("smts_cloudfill:prepare", {"PRODUCTS": products})
    widget = products_wrapper(dialog).widget
    assert widget.summary.text() == "6 products chosen"
    assert dialog.mainWidget().createProcessingParameters()["PRODUCTS"] == products
    dialog.deleteLater()


def test_dialog_picker_adds_zips_safe_folders_and_per_band_folders(
        qgis_app, provider, products, qgis_iface, qgis_new_project, monkeypatch, tmp_path):
    import processing
    from qgis.gui import QgsBrowserGuiModel
    from qgis.PyQt.QtWidgets import QFileDialog
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    dialog = processing.createAlgorithmDialog("smts_cloudfill:prepare")
    widget = products_wrapper(dialog).widget
    assert widget.summary.text() == "No product chosen"
    # a folder of products: all six
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: os.path.dirname(products[0])))
    widget.add_folder()
    assert widget.summary.text() == "6 products chosen"
    widget.set_paths([])
    # a SAFE .zip and an unzipped product's MTD_MSIL2A.xml with the file picker ...
    zipped, safe = products[0], products[1]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(
        lambda *a, **k: ([zipped, os.path.join(safe, "MTD_MSIL2A.xml")], "")))
    widget.add_files()
    # ... a .SAFE folder and a per-band folder with the folder picker
    for folder in (products[3], fx.per_band_folder(tmp_path / "RT_20190501", "20190511")):
        monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                            staticmethod(lambda *a, f=folder, **k: f))
        widget.add_folder()
    assert widget.summary.text() == "4 products chosen"
    params = dialog.mainWidget().createProcessingParameters()
    dialog.deleteLater()
    result = run({**params, "EXTENT": EXTENT, "CLOUD_BUFFER": 0,
                  "OUTPUT_FOLDER": str(tmp_path / "o")})
    assert [os.path.basename(p) for p in result["MSI"]] == \
        [f"S2_{d}.tif" for d in ("20190401", "20190411", "20190426", "20190511")]


@pytest.mark.parametrize("same_day", ["clearer", 1, "1"])
def test_keep_the_clearer_of_two_products_of_one_day(provider, tmp_path, same_day):
    from qgis.core import QgsProcessingContext
    msi, _ = fx.sample_arrays("20190426")
    cloudy, scl = msi.copy(), np.full((64, 64), 4, np.uint8)
    cloudy[:, :32] = 6000
    cloudy_scl = scl.copy()
    cloudy_scl[:32] = 9
    pair = [fx.make_product(tmp_path, "20190426", msi=cloudy, scl=cloudy_scl, tile="31UES"),
            fx.make_product(tmp_path, "20190426", msi=msi, scl=scl, tile="31UFS")]
    params = {"PRODUCTS": pair, "EXTENT": EXTENT, "SAME_DAY": same_day, "CLOUD_BUFFER": 0,
              "OUTPUT_FOLDER": str(tmp_path / "o")}
    feedback = QgsProcessingFeedback()
    result = run(params, feedback)
    assert np.array_equal(gdal.Open(result["MSI"][0]).ReadAsArray(), msi)
    assert "kept the clearer of 2 products" in feedback.textLog()
    alg = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:prepare")
    ok, message = alg.checkParameterValues({**params, "SAME_DAY": "best"},
                                           QgsProcessingContext())
    assert not ok and "mosaic, clearer" in message
    mosaic = run({**params, "SAME_DAY": 0, "OUTPUT_FOLDER": str(tmp_path / "m")})
    assert gdal.Open(mosaic["MASKS"][0]).ReadAsArray()[:32].all()
