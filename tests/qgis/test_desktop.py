"""Issue 19, crashes 1-3: runs started the ways users start them, in the real QGIS desktop.

Each case starts ``qgis`` under Xvfb with the plugin installed in a throw-away profile and drives
it with tests/desktop/walk.py: open the dialog (toolbar button, Processing Toolbox double click,
Processing History's re-run), set the parameters, press Run, optionally close the dialog with
the window's X mid-run, and wait for the layers. A QGIS that crashes writes no status file and
exits on a signal. Before the fix, toolbar, toolbar_close, toolbox_close and history_close all
crashed (signal 11), Train from History closed mid-run too.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sample_stack import MSI, SAR, SCL

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "tests" / "desktop" / "walk.py"
PLUGIN = "smts_cloudfill_plugin"

pytestmark = pytest.mark.slow  # each test starts the QGIS desktop under Xvfb


@pytest.fixture(scope="module")
def profiles(tmp_path_factory) -> Path:
    """A QGIS profiles folder with the plugin installed (the release zip's files) and enabled."""
    assert shutil.which("qgis") and shutil.which("xvfb-run"), \
        "make setup installs qgis and xvfb; the desktop tests need both"
    sys.path.insert(0, str(ROOT / "scripts"))
    from install_plugin import copy_plugin
    root = tmp_path_factory.mktemp("profiles")
    default = root / "profiles" / "default"
    copy_plugin(default / "python" / "plugins" / PLUGIN)
    (default / "QGIS").mkdir(parents=True)
    (default / "QGIS" / "QGIS3.ini").write_text(f"[PythonPlugins]\n{PLUGIN}=true\n")
    return root


def walk(profiles: Path, tmp_path: Path, scenario: str, params: dict,
         algorithm: str = "smts_cloudfill:reconstruct") -> dict:
    """Run one scenario in a fresh QGIS; its status (fails with the log when QGIS died)."""
    status = tmp_path / "status.json"
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), SMTS_WALK_SCENARIO=scenario,
               SMTS_WALK_ALGORITHM=algorithm, SMTS_WALK_PARAMS=json.dumps(params),
               SMTS_WALK_STATUS=str(status),
               # the desktop's Python is the system one: give it this venv's torch
               PYTHONPATH=str(Path(torch.__file__).parents[1]))
    env.pop("QT_QPA_PLATFORM", None)  # a real (virtual) display, not offscreen
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", "qgis", "--profiles-path",
         str(profiles), "--nologo", "--noversioncheck", "--code", str(WALK)],
        env=env, capture_output=True, text=True, timeout=400)
    log = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                    if line.startswith(("walk:", "QGIS died", "Traceback", "  File", "Error")))
    assert status.exists(), f"QGIS died (exit {proc.returncode}) in {scenario}:\n{log}"
    result = json.loads(status.read_text())
    assert "error" not in result, result["error"]
    return result


RECONSTRUCT_CASES = ["toolbar", "toolbar_close", "toolbox", "toolbox_close", "history",
                     "history_close"]


@pytest.mark.parametrize("scenario", RECONSTRUCT_CASES)
def test_reconstruct_from_the_desktop_keeps_qgis_alive_and_loads_the_layers(profiles, tmp_path,
                                                                            scenario):
    out = tmp_path / "filled"
    result = walk(profiles, tmp_path, scenario,
                  {"MSI": MSI, "MASKS": SCL, "SAR": SAR, "OUTPUT_FOLDER": str(out)})
    assert result["steps"][-2:] == ["task finished", "after run"]
    assert ("dialog closed mid-run" in result["steps"]) == scenario.endswith("_close")
    assert result.get("closed_while_running", True), "the run ended before the dialog closed"
    assert result["tasks_left"] == 0
    # The sample's two cloudy dates, each filled with its mask, on disk and in the project.
    cloudy = ("S2_0000280849BAC91C_20190411", "S2_0000280849BAC91C_20190426")
    for stem in cloudy:
        assert (out / f"{stem}_filled.tif").exists() and (out / f"{stem}_filled_mask.tif").exists()
        assert f"{stem}_filled" in result["layers"] and f"{stem}_filled_mask" in result["layers"]


def test_train_from_history_closed_mid_run_keeps_qgis_alive(profiles, tmp_path):
    model = tmp_path / "mine.pt"
    result = walk(profiles, tmp_path, "history_close",
                  {"MSI": MSI, "MASKS": SCL, "SAR": SAR, "EPOCHS": 1, "MAX_MINUTES": 0.3,
                   "OUTPUT_MODEL": str(model)}, algorithm="smts_cloudfill:train")
    assert "dialog closed mid-run" in result["steps"] and result["steps"][-1] == "after run"
    assert result["closed_while_running"]
    assert result["tasks_left"] == 0 and model.exists()


def test_reconstruct_with_ndvi_layers_then_parcel_time_series_from_the_toolbar(profiles, tmp_path):
    """Issue 20: the new runs as users start them: Reconstruct from the toolbar with NDVI
    layers, then Parcel time series from the toolbar on its output, each to completion, QGIS
    alive, layers loaded."""
    out = tmp_path / "filled"
    first = tmp_path / "reconstruct"
    first.mkdir()
    result = walk(profiles, first, "toolbar", {"MSI": MSI, "MASKS": SCL, "SAR": SAR,
                                               "NDVI_LAYERS": True, "OUTPUT_FOLDER": str(out)})
    assert result["steps"][-2:] == ["task finished", "after run"] and result["tasks_left"] == 0
    for stem in ("S2_0000280849BAC91C_20190411", "S2_0000280849BAC91C_20190426"):
        assert f"{stem}_filled_ndvi" in result["layers"]
        assert (out / f"{stem}_filled_rmse.tif").exists()
    from osgeo import ogr, osr
    gpkg = tmp_path / "fields.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(gpkg))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    layer = ds.CreateLayer("fields", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for name, (x0, y0, x1, y1) in {"north": (574713, 5622097, 574963, 5622397),
                                   "south": (574993, 5621853, 575273, 5622103)}.items():
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("name", name)
        f.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"))
        layer.CreateFeature(f)
    ds = None
    table = tmp_path / "season.csv"
    second = tmp_path / "parcels"
    second.mkdir()
    result = walk(profiles, second, "toolbar",
                  {"PARCELS": str(gpkg), "ID_FIELD": "name", "MSI": MSI, "FILLED": str(out),
                   "OUTPUT": str(table)}, algorithm="smts_cloudfill:parcel_series")
    assert result["steps"][-2:] == ["task finished", "after run"] and result["tasks_left"] == 0
    assert any(str(table) in s for s in result["layer_sources"]), result["layers"]
    rows = table.read_text().splitlines()
    assert len(rows) == 1 + 2 * 6 and rows[0].startswith("parcel,date,NDVI_mean")
    assert any(",partly filled," in r and r.split(",")[7] for r in rows[1:]), \
        "a partly filled date with its expected error"
