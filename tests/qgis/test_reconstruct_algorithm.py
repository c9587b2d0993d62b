"""The "Reconstruct cloudy MSI" algorithm inside QGIS: processing.run, loading, bad input, cancel."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import torch
from osgeo import gdal

from qgis.core import (QgsApplication, QgsProcessingException,
                       QgsProcessingFeedback, QgsProject, QgsRasterLayer)

from smts_cloudfill_plugin.core.model.config import smts_vit
from smts_cloudfill_plugin.core.model.network import SmtsVit
from smts_cloudfill_plugin.core.model.weights import save_weights

torch.set_num_threads(1)
from sample_stack import MSI, SAR, SCL  # noqa: E402 (tests/ is on sys.path)


def run(params: dict, feedback: QgsProcessingFeedback | None = None) -> dict:
    import processing
    return processing.run("smts_cloudfill:reconstruct", params, feedback=feedback)


def test_provider_lists_the_algorithm_with_help(provider):
    alg = QgsApplication.processingRegistry().algorithmById("smts_cloudfill:reconstruct")
    assert alg is not None and alg.displayName() == "Reconstruct cloudy MSI"
    assert "arXiv:2506.19591" in alg.shortHelpString() and "Copernicus" in alg.shortHelpString()
    for p in alg.parameterDefinitions():
        assert p.help(), f"parameter {p.name()} has no help text"


@pytest.mark.slow
def test_run_on_sample_keeps_grid_and_clear_pixels(provider, small_weights, tmp_path):
    out = tmp_path / "out"
    result = run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
                  "OUTPUT_FOLDER": str(out)})
    names = sorted(os.path.basename(p) for p in result["FILLED"])
    # Issue 19, item 15: the self-check's page is an HTML output (the Results Viewer lists it).
    assert result["CHECK_REPORT"] == str(out / "cloudfill_check.html")
    assert os.path.exists(result["CHECK_REPORT"])
    # The two dates the SCL marks cloudy in the sample (2019-04-11 cirrus, 2019-04-26 cloud).
    assert names == ["S2_0000280849BAC91C_20190411_filled.tif", "S2_0000280849BAC91C_20190426_filled.tif"]
    for filled, mask_path in zip(sorted(result["FILLED"]), sorted(result["FILLED_MASKS"])):
        src = gdal.Open(MSI[[os.path.basename(m)[:-4] for m in MSI].index(
            os.path.basename(filled)[:-len("_filled.tif")])])
        dst = gdal.Open(filled)
        assert dst.GetGeoTransform() == src.GetGeoTransform()
        assert dst.GetProjection() == src.GetProjection()
        assert [dst.GetRasterBand(i + 1).GetDescription() for i in range(dst.RasterCount)] == \
            [src.GetRasterBand(i + 1).GetDescription() for i in range(src.RasterCount)]
        filled_mask = gdal.Open(mask_path).ReadAsArray().astype(bool)
        a, b = src.ReadAsArray(), dst.ReadAsArray()
        assert filled_mask.any()
        assert np.array_equal(a[:, ~filled_mask], b[:, ~filled_mask])
        assert (a[:, filled_mask] != b[:, filled_mask]).any()
    # Issue 20, item 1: each checked date's expected error beside it, nodata where not filled.
    assert sorted(os.path.basename(p) for p in result["FILLED_RMSE"]) == \
        [n[:-4] + "_rmse.tif" for n in names]
    for rmse, mask_path in zip(sorted(result["FILLED_RMSE"]), sorted(result["FILLED_MASKS"])):
        error = gdal.Open(rmse).ReadAsArray()
        filled_mask = gdal.Open(mask_path).ReadAsArray().astype(bool)
        assert (error[filled_mask] > 0).all() and (error[~filled_mask] == -9999).all()


@pytest.mark.slow
def test_run_and_load_results_adds_styled_layers_in_a_group(provider, small_weights, tmp_path,
                                                             qgis_new_project):
    import processing
    project = QgsProject.instance()
    source = QgsRasterLayer(MSI[3], "cloudy 2019-04-26")
    project.addMapLayer(source)
    source.renderer().setRedBand(3)
    source.renderer().setGreenBand(2)
    source.renderer().setBlueBand(1)
    processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": MSI[:3] + [source.id()] + MSI[4:],
        "MASKS": SCL, "SAR": SAR, "MODEL": small_weights, "OUTPUT_FOLDER": str(tmp_path / "o")})
    groups = [g for g in project.layerTreeRoot().children() if g.name().startswith("SMTS CloudFill")]
    assert len(groups) == 1
    loaded = [n.layer() for n in groups[0].findLayers()]
    names = sorted(l.name() for l in loaded)
    assert "S2_0000280849BAC91C_20190426_filled" in names
    assert "S2_0000280849BAC91C_20190426_filled_mask" in names
    filled = next(l for l in loaded if l.name() == "S2_0000280849BAC91C_20190426_filled")
    r = filled.renderer()
    assert (r.redBand(), r.greenBand(), r.blueBand()) == (3, 2, 1)
    # Each output carries its acquisition day: the Temporal Controller plays the season.
    for layer in loaded:
        props = layer.temporalProperties()
        assert props.isActive(), layer.name()
        day = layer.name().split("_")[2]
        when = props.fixedTemporalRange()
        assert when.begin().date().toString("yyyyMMdd") == day
        assert when.end().date().toString("yyyyMMdd") == day


@pytest.mark.slow
def test_ndvi_layers_of_the_filled_dates(provider, small_weights, tmp_path, qgis_new_project):
    """Issue 20, item 4: optional NDVI of each filled date, loaded in NDVI colours under it."""
    import processing
    from qgis.core import QgsSingleBandPseudoColorRenderer
    result = processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights, "NDVI_LAYERS": True,
        "OUTPUT_FOLDER": str(tmp_path / "o")})
    assert sorted(os.path.basename(p) for p in result["FILLED_NDVI"]) == \
        sorted(os.path.basename(p)[:-4] + "_ndvi.tif" for p in result["FILLED"])
    for path in result["FILLED"]:
        filled = gdal.Open(path).ReadAsArray().astype(np.float64) * 1e-4
        expected = (filled[6] - filled[2]) / (filled[6] + filled[2])
        ndvi = gdal.Open(path[:-4] + "_ndvi.tif").ReadAsArray()
        np.testing.assert_allclose(ndvi, expected, atol=1e-6)
    group = next(g for g in QgsProject.instance().layerTreeRoot().children()
                 if g.name().startswith("SMTS CloudFill"))
    names = [n.name() for n in group.children()]
    for path in result["FILLED"]:
        stem = os.path.basename(path)[:-4]
        assert names.index(stem + "_ndvi") == names.index(stem) + 1
        node = next(n for n in group.children() if n.name() == stem + "_ndvi")
        assert isinstance(node.layer().renderer(), QgsSingleBandPseudoColorRenderer)
        assert not node.itemVisibilityChecked()


@pytest.mark.parametrize("case", ["mask_count", "other_bands", "too_few", "unwritable", "bad_dates"])
def test_bad_input_gives_a_clear_processing_error(provider, small_weights, tmp_path, case):
    params = {"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
              "OUTPUT_FOLDER": str(tmp_path / "o")}
    expected = {"mask_count": "cloud masks", "other_bands": "B05", "too_few": "needs at least 6",
                "unwritable": "output folder", "bad_dates": "not a date"}[case]
    if case == "mask_count":
        params["MASKS"] = SCL[:4]
    elif case == "other_bands":
        torch.manual_seed(0)
        cfg = smts_vit(msi_bands=("B02", "B03", "B04", "B08", "B05"), width=32, depth=1, heads=4,
                       window=20, pos_grid=4)
        path = str(tmp_path / "other.pt")
        save_weights(path, SmtsVit(cfg))
        # Drop band B05 from the stack by giving 4-band rasters.
        four = []
        for p in MSI:
            dst = str(tmp_path / ("4b_" + os.path.basename(p)))
            gdal.Translate(dst, p, bandList=[1, 2, 3, 7])
            four.append(dst)
        params.update(MSI=four, MODEL=path)
    elif case == "too_few":
        params.update(MSI=MSI[:4], MASKS=SCL[:4])
    elif case == "unwritable":
        # A folder inside a plain file cannot be created, whoever runs the test (root too).
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        params["OUTPUT_FOLDER"] = str(blocker / "out")
    elif case == "bad_dates":
        params["MSI_DATES"] = "2019-04-01,yesterday"
    with pytest.raises(QgsProcessingException, match=expected):
        run(params)
    out = params["OUTPUT_FOLDER"]
    assert not glob.glob(os.path.join(str(tmp_path), "**", "*filled*"), recursive=True)
    assert not glob.glob(os.path.join(out, "*filled*")) and not glob.glob(os.path.join(out, ".*part"))


def test_cancel_leaves_no_file(provider, small_weights, tmp_path):
    fb = QgsProcessingFeedback()
    fb.cancel()
    with pytest.raises(QgsProcessingException, match="[Cc]ancel"):
        run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
             "OUTPUT_FOLDER": str(tmp_path / "o")}, feedback=fb)
    assert not (tmp_path / "o").exists(), "no file, nor the folder the run made"


@pytest.mark.slow
def test_dates_parameter_overrides_file_names(provider, small_weights, tmp_path):
    """Files without dates in their names work once the dates are given."""
    renamed = []
    for i, p in enumerate(MSI):
        dst = tmp_path / f"date_{chr(97 + i)}.tif"
        gdal.Translate(str(dst), p)
        renamed.append(str(dst))
    dates = ",".join(f"2019-{os.path.basename(p)[-8:-6]}-{os.path.basename(p)[-6:-4]}" for p in MSI)
    result = run({"MSI": renamed, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
                  "MSI_DATES": dates, "OUTPUT_FOLDER": str(tmp_path / "o")})
    assert sorted(os.path.basename(p) for p in result["FILLED"]) == ["date_b_filled.tif", "date_d_filled.tif"]


# ----- issue 11: what the canvas shows after a run, table problems block Run, batch ----------
@pytest.mark.slow
def test_outputs_load_in_a_stable_order_with_the_looked_at_date_on_top(
        provider, small_weights, tmp_path, qgis_new_project, qgis_iface):
    """Item 11: the filled layer of the active date on top and ticked; the other filled date
    unticked below it; each mask unticked just above its filled layer (issue 19, item 12),
    transparent where nothing was filled."""
    import processing
    from qgis.core import QgsPalettedRasterRenderer
    project = QgsProject.instance()
    sources = [QgsRasterLayer(p, os.path.basename(p)[:-4]) for p in MSI]
    for layer in sources:
        project.addMapLayer(layer)
    qgis_iface.setActiveLayer(sources[1])  # 2019-04-11, the first cloudy date
    processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": [l.id() for l in sources], "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
        "OUTPUT_FOLDER": str(tmp_path / "o")})
    group = next(g for g in project.layerTreeRoot().children() if g.name().startswith("SMTS"))
    assert project.layerTreeRoot().children()[0] is group
    names = [(n.name(), n.itemVisibilityChecked()) for n in group.children()]
    stem = "S2_0000280849BAC91C_"
    assert names == [(stem + "20190411_filled_mask", False), (stem + "20190411_filled", True),
                     (stem + "20190426_filled_mask", False), (stem + "20190426_filled", False)]
    mask = group.children()[0].layer()
    assert isinstance(mask.renderer(), QgsPalettedRasterRenderer)
    assert [c.value for c in mask.renderer().classes()] == [1]  # 0: no class, transparent
    assert 0 < mask.renderer().opacity() < 1
    # The inputs have QGIS's default style (bands 1-2-3 = B02-B03-B04): the output is true colour.
    r = group.children()[1].layer().renderer()
    assert (r.redBand(), r.greenBand(), r.blueBand()) == (3, 2, 1)

    qgis_iface.setActiveLayer(sources[3])  # a second run, looking at 2019-04-26
    processing.runAndLoadResults("smts_cloudfill:reconstruct", {
        "MSI": [l.id() for l in sources], "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
        "OUTPUT_FOLDER": str(tmp_path / "o2")})
    group = project.layerTreeRoot().children()[0]
    assert [n.name() for n in group.children()][1::2] == [stem + "20190426_filled",
                                                          stem + "20190411_filled"]


def check(params: dict) -> tuple[bool, str]:
    from qgis.core import QgsProcessingContext
    alg = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:reconstruct")
    return alg.checkParameterValues(params, QgsProcessingContext())


def test_a_mask_of_another_date_blocks_the_run(provider, small_weights, tmp_path):
    """Item 5: the clear date's mask on the cloudy 2019-04-26 row would leave it unfilled."""
    masks = list(SCL)
    masks[3] = SCL[0]
    ok, message = check({"MSI": MSI, "MASKS": masks, "OUTPUT_FOLDER": str(tmp_path)})
    assert not ok
    assert "S2_0000280849BAC91C_20190426" in message and "mask of another date (2019-04-01)" in message
    assert check({"MSI": MSI, "MASKS": SCL, "OUTPUT_FOLDER": str(tmp_path)}) == (True, "")


def test_our_own_outputs_and_date_order_block_the_run(provider, tmp_path):
    ok, message = check({"MSI": MSI[:3] + [MSI[1]] + MSI[4:], "OUTPUT_FOLDER": str(tmp_path)})
    assert not ok and "is not after" in message
    filled = tmp_path / "S2_x_20190430_filled.tif"
    gdal.Translate(str(filled), MSI[3])
    ok, message = check({"MSI": MSI + [str(filled)], "OUTPUT_FOLDER": str(tmp_path)})
    assert not ok and "a result of an earlier run" in message


@pytest.mark.slow
def test_batch_dialog_value_a_semicolon_list_runs(provider, small_weights, tmp_path):
    """Item 13: the 3.22 batch dialog gives a multiple-layer cell as 'a;b;c'."""
    result = run({"MSI": ";".join(MSI), "MASKS": ";".join(SCL), "SAR": ";".join(SAR),
                  "MODEL": small_weights, "OUTPUT_FOLDER": str(tmp_path / "o")})
    assert len(result["FILLED"]) == 2
    ok, message = check({"MSI": "", "OUTPUT_FOLDER": str(tmp_path)})
    assert not ok


def test_two_runs_into_one_folder_the_second_is_refused(provider, small_weights, tmp_path):
    """Item 8: the folder is locked while a run writes into it."""
    from smts_cloudfill_plugin.core.write.folder_lock import folder_lock
    import threading
    out = tmp_path / "o"
    held, release = threading.Event(), threading.Event()

    def other_run():
        with folder_lock(str(out)):
            held.set()
            release.wait(30)

    t = threading.Thread(target=other_run)
    t.start()
    try:
        assert held.wait(30)
        with pytest.raises(QgsProcessingException, match="in use by another SMTS CloudFill run"):
            run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
                 "OUTPUT_FOLDER": str(out)})
    finally:
        release.set()
        t.join()
    assert not out.exists(), "each run takes back the folder it made, left empty"


@pytest.mark.slow
def test_self_check_is_on_by_default_and_can_be_switched_off(provider, small_weights, tmp_path):
    """On: the log scores model vs interpolation per cloudy date and the report is written;
    off: the model alone, no report."""
    messages = []

    class Feedback(QgsProcessingFeedback):
        def pushInfo(self, info):  # noqa: N802
            messages.append(info)

    run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
         "OUTPUT_FOLDER": str(tmp_path / "on")}, Feedback())
    assert (tmp_path / "on" / "cloudfill_check.html").exists()
    checked = [m for m in messages if "held-back clear pixels (" in m]
    assert len(checked) == 2 and all("interpolation" in m for m in checked)
    run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights, "SELF_CHECK": False,
         "OUTPUT_FOLDER": str(tmp_path / "off")})
    assert not (tmp_path / "off" / "cloudfill_check.html").exists()


def test_pth_weights_are_accepted_like_pt(provider, small_weights, tmp_path):
    """The command line takes .pth weights; the QGIS algorithms must too (they refused them)."""
    import shutil
    pth = str(tmp_path / "model.pth")
    shutil.copy(small_weights, pth)
    for alg_id, name in (("smts_cloudfill:reconstruct", "MODEL"), ("smts_cloudfill:train", "INIT_MODEL")):
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        assert alg.parameterDefinition(name).checkValueIsAcceptable(pth), alg_id
    result = run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": pth, "SELF_CHECK": False,
                  "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert len(result["FILLED"]) == 2


# ----- issue 12 item 3: the cloud buffer ---------------------------------------------------------
@pytest.mark.parametrize("alg_id", ["smts_cloudfill:reconstruct", "smts_cloudfill:train"])
def test_cloud_buffer_parameter_default_range_and_help(provider, alg_id):
    from qgis.core import QgsProcessingContext
    from smts_cloudfill_plugin.core.read.clouds import DEFAULT_CLOUD_BUFFER
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    p = alg.parameterDefinition("CLOUD_BUFFER")
    assert p.defaultValue() == DEFAULT_CLOUD_BUFFER == 3
    assert (p.minimum(), p.maximum()) == (0, 20)
    assert "SCL masks only" in p.help() and "0/1 mask" in p.help() and "Default 3" in p.help()
    assert "5 %" in p.help()
    context = QgsProcessingContext()
    assert not p.checkValueIsAcceptable(21, context) and p.checkValueIsAcceptable(0, context)


@pytest.mark.parametrize("given, expected", [({}, 3), ({"CLOUD_BUFFER": 0}, 0),
                                             ({"CLOUD_BUFFER": 7}, 7)])
def test_cloud_buffer_reaches_reconstruct_and_train(provider, small_weights, tmp_path,
                                                    monkeypatch, given, expected):
    from smts_cloudfill_plugin.core import reconstruct as rec
    from smts_cloudfill_plugin.core.training import local as local_training
    seen = {}
    monkeypatch.setattr(rec, "reconstruct", lambda *a, **kw: seen.setdefault("rec", kw) and [])
    run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
         "OUTPUT_FOLDER": str(tmp_path / "r"), **given})
    assert seen["rec"]["cloud_buffer"] == expected

    from smts_cloudfill_plugin.core.errors import CloudFillError

    def train(*a, **kw):
        seen["train"] = kw
        raise CloudFillError("stopped by the test")
    monkeypatch.setattr(local_training, "train_on_stacks", train)
    import processing
    with pytest.raises(QgsProcessingException, match="stopped by the test"):
        processing.run("smts_cloudfill:train", {"MSI": MSI, "MASKS": SCL, "SAR": SAR,
                                                "OUTPUT_MODEL": str(tmp_path / "m.pt"), **given})
    assert seen["train"]["cloud_buffer"] == expected


def test_the_filled_area_is_the_grown_scl(provider, small_weights, tmp_path):
    """CLOUD_BUFFER grows the SCL's clouds in what is filled; 0 fills the SCL as it is."""
    from smts_cloudfill_plugin.core.read.stack import Stack
    for buffer in (0, 2):
        result = run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
                      "SELF_CHECK": False,
                      "CLOUD_BUFFER": buffer, "OUTPUT_FOLDER": str(tmp_path / str(buffer))})
        with Stack(MSI, SCL, cloud_buffer=buffer) as st:
            want = st.read(0, 0, st.width, st.height).missing
        for path in sorted(result["FILLED_MASKS"]):
            t = [os.path.basename(m)[:-4] for m in MSI].index(
                os.path.basename(path)[:-len("_filled_mask.tif")])
            np.testing.assert_array_equal(gdal.Open(path).ReadAsArray().astype(bool), want[t])


@pytest.mark.slow
def test_qgis_process_accepts_cloud_buffer(small_weights, tmp_path):
    import subprocess
    from smts_cloudfill_plugin.core.read.stack import Stack
    from smts_cloudfill_plugin.dependencies import dependency_folder
    from test_install_package import link_torch
    from test_prepare_algorithm import QGIS_PROCESS, qgis_home
    if QGIS_PROCESS is None:
        pytest.skip("no qgis_process.bin")
    env, home = qgis_home(tmp_path / "qgis")
    link_torch(dependency_folder(str(home / "profiles" / "default")))
    out = tmp_path / "out"
    done = subprocess.run([QGIS_PROCESS, "run", "smts_cloudfill:reconstruct", "--",
                           *[f"MSI={p}" for p in MSI], *[f"MASKS={p}" for p in SCL],
                           *[f"SAR={p}" for p in SAR],
                           f"MODEL={small_weights}", "DEVICE=cpu", "SELF_CHECK=false",
                           "CLOUD_BUFFER=1", f"OUTPUT_FOLDER={out}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with Stack(MSI, SCL, cloud_buffer=1) as st:
        want = st.read(0, 0, st.width, st.height).missing
    masks = sorted(out.glob("*_filled_mask.tif"))
    assert [m.name[:-len("_filled_mask.tif")] for m in masks] == \
        [os.path.basename(p)[:-4] for p in (MSI[1], MSI[3])]
    for t, m in zip((1, 3), masks):
        np.testing.assert_array_equal(gdal.Open(str(m)).ReadAsArray().astype(bool), want[t])


# ----- one source for every default --------------------------------------------------------------
@pytest.mark.parametrize("alg_id", ["smts_cloudfill:reconstruct", "smts_cloudfill:train"])
def test_device_choices_follow_core_devices(provider, alg_id):
    from qgis.core import QgsProcessingContext
    from smts_cloudfill_plugin.algorithms.base import device_name
    from smts_cloudfill_plugin.core.model.device import DEVICES
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    p = alg.parameterDefinition("DEVICE")
    assert [o.lower() for o in p.options()] == list(DEVICES) and p.defaultValue() == 0
    assert p.options() == ["Auto", "CPU", "CUDA"]
    context = QgsProcessingContext()
    for index, name in enumerate(DEVICES):
        assert device_name(index) == device_name(name.upper()) == name
        assert alg.device({"DEVICE": index}, context) == name
    assert device_name(len(DEVICES)) is None and device_name("tpu") is None
    ok, message = alg.checkParameterValues({"DEVICE": "tpu"}, context)
    assert not ok and "not one of auto, cpu, cuda (or the index 0, 1, 2)" in message


def test_scl_classes_default_and_help_come_from_the_core_constant(provider):
    from smts_cloudfill_plugin.core.read.clouds import DEFAULT_SCL_MISSING, SCL_CLASS_NAMES
    from smts_cloudfill_plugin.core.read.clouds import GROWN_CLASSES
    alg = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:reconstruct")
    p = alg.parameterDefinition("SCL_CLASSES")
    assert tuple(int(c) for c in p.defaultValue().split(",")) == DEFAULT_SCL_MISSING
    for c in DEFAULT_SCL_MISSING:
        assert f"{c} ({SCL_CLASS_NAMES[c]})" in p.help()
    assert p.help().endswith("10 (thin cirrus) and 11 (snow).")
    buffer_help = alg.parameterDefinition("CLOUD_BUFFER").help()
    assert f"(classes {', '.join(map(str, GROWN_CLASSES))})" in buffer_help
    assert "(classes 3, 8, 9, 10, 11)" in buffer_help
    prepare = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:prepare")
    extra = prepare.parameterDefinition("EXTRA_SCL_CLASSES").help()
    assert extra.startswith("SCL classes to count as cloudy besides 0 (no data), 3 (cloud "
                            "shadow), 8 (cloud, medium probability), 9 (cloud, high "
                            "probability), 10 (thin cirrus) and 11 (snow), comma separated")


@pytest.mark.slow
def test_the_run_says_what_its_first_seconds_go_to(provider, small_weights, tmp_path):
    """Issue 19, item 14: before PyTorch loads, the progress is a percentage with a text, not a
    busy stripe; the self-check reports progress before the fill."""
    texts, values = [], []

    class Recorder(QgsProcessingFeedback):
        def setProgressText(self, text):  # noqa: N802 (QGIS's name)
            texts.append(text)
            super().setProgressText(text)

    fb = Recorder()
    fb.progressChanged.connect(values.append)
    run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
         "OUTPUT_FOLDER": str(tmp_path / "o")}, feedback=fb)
    assert texts[0] == "Loading PyTorch and the model..."
    assert any(t.startswith("Self-check") for t in texts)
    assert values == sorted(values) and values[-1] == pytest.approx(100)


# ----- issue 18 item 4: the haze check -----------------------------------------------------------
def test_haze_parameters_default_help_and_advanced(provider):
    from qgis.core import QgsProcessingParameterDefinition
    from smts_cloudfill_plugin.core.read.haze import DEFAULT_HAZE_CHECK, DEFAULT_HAZE_K
    alg = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:reconstruct")
    check, k = alg.parameterDefinition("HAZE_CHECK"), alg.parameterDefinition("HAZE_K")
    assert check.defaultValue() is DEFAULT_HAZE_CHECK is False
    assert k.defaultValue() == DEFAULT_HAZE_K == 3.0
    assert "both the nearest clear date before and after" in check.help()
    assert "HAZE.md" in check.help() and "Default 3" in k.help()
    assert k.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert not check.flags() & QgsProcessingParameterDefinition.FlagAdvanced


@pytest.mark.parametrize("given, check, k", [({}, False, 3.0), ({"HAZE_CHECK": True}, True, 3.0),
                                             ({"HAZE_CHECK": True, "HAZE_K": 5}, True, 5.0)])
def test_haze_check_reaches_reconstruct(provider, small_weights, tmp_path, monkeypatch, given,
                                        check, k):
    from smts_cloudfill_plugin.core import reconstruct as rec
    seen = {}
    monkeypatch.setattr(rec, "reconstruct", lambda *a, **kw: seen.setdefault("rec", kw) and [])
    run({"MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": small_weights,
         "OUTPUT_FOLDER": str(tmp_path / "r"), **given})
    assert seen["rec"]["haze_check"] is check and seen["rec"]["haze_k"] == k
