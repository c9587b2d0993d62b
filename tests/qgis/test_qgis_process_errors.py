"""What qgis_process users see when their input is wrong or a run is stopped (issue 19).

The plugin is installed into a throw-away HOME as tests/qgis/test_install_package.py does it
(its ``home`` fixture); each case runs ``qgis_process.bin`` and checks the message, the exit
code, that no raw GDAL error nor traceback comes first, and that nothing is left behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_install_package import QGIS_PROCESS, home, needs_qgis_process, qgis_env, run  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"
sys.path.insert(0, str(ROOT / "tests"))
import s2_products as fx  # noqa: E402

pytestmark = [needs_qgis_process, pytest.mark.slow]  # each test starts qgis_process
MSI = sorted(str(p) for p in (SAMPLE / "msi").glob("*.tif"))
SCL = sorted(str(p) for p in (SAMPLE / "scl").glob("*.tif"))


def _said(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def _no_noise(text: str) -> None:
    assert "Traceback" not in text, text
    assert not [ln for ln in text.splitlines() if ln.startswith("ERROR 1:")], text


def test_a_truncated_file_is_named_without_gdal_s_raw_errors(home, tmp_path):
    """Its clear message came after 9 raw GDAL error lines (QGIS loading the file as a layer);
    the file is now checked as the engine opens it before QGIS loads it."""
    cut = tmp_path / os.path.basename(MSI[2])
    data = Path(MSI[2]).read_bytes()
    cut.write_bytes(data[:int(len(data) * 0.6)])
    msi = MSI[:2] + [str(cut)] + MSI[3:]
    out = tmp_path / "out"
    done = run([QGIS_PROCESS, "run", "smts_cloudfill:reconstruct", "--",
                *[f"MSI={p}" for p in msi], f"OUTPUT_FOLDER={out}"], home)
    assert done.returncode == 1
    assert f"MSI date 3 '{cut}' is truncated (" in _said(done)
    assert "copy or download it again." in _said(done)
    _no_noise(_said(done))
    assert not out.exists()


def test_a_refused_run_leaves_no_output_folder(home, tmp_path):
    """A mask of random values (it was read as SCL) is refused by the engine, through QGIS:
    the output folder the run had made is gone again."""
    noise = tmp_path / "noise_20190426.tif"
    from osgeo import gdal
    src = gdal.Open(SCL[3])
    ds = gdal.GetDriverByName("GTiff").Create(str(noise), 64, 64, 1, gdal.GDT_Byte)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.GetRasterBand(1).WriteArray(np.random.default_rng(1).integers(0, 256, (64, 64)))
    ds = src = None
    masks = SCL[:3] + [str(noise)] + SCL[4:]
    out = tmp_path / "out"
    done = run([QGIS_PROCESS, "run", "smts_cloudfill:reconstruct", "--",
                *[f"MSI={p}" for p in MSI], *[f"MASKS={p}" for p in masks], "DEVICE=cpu",
                f"OUTPUT_FOLDER={out}"], home)
    assert done.returncode == 1
    assert f"Cloud mask '{noise.name}' holds 256 different whole numbers from 0 to 255" \
        in _said(done)
    _no_noise(_said(done))
    assert not out.exists()


def test_prepare_refuses_a_product_without_its_scl_file(home, tmp_path):
    """With its SCL file missing, a clear date came out 100 % cloudy (exit 0)."""
    product = fx.make_product(tmp_path / "p", "20190426")
    [scl] = list(Path(product).rglob("*_SCL_20m.jp2"))
    scl.unlink()
    out = tmp_path / "out"
    done = run([QGIS_PROCESS, "run", "smts_cloudfill:prepare", "--", f"PRODUCTS={product}",
                "EXTENT=574680,575320,5621800,5622440 [EPSG:32631]", f"OUTPUT_FOLDER={out}"],
               home)
    assert done.returncode == 1, _said(done)
    assert (f"Sentinel-2 product '{product}' is incomplete: the file of its band SCL, "
            f"'{scl.name}', is missing. Download (or unzip) the product again.") in _said(done)
    _no_noise(_said(done))
    assert not out.exists() or not [n for n in os.listdir(out) if not n.startswith(".")]


def test_prepare_names_an_empty_parcels_layer(home, tmp_path):
    """It was told "give the area" though it gave one: a parcels layer without parcels."""
    from osgeo import ogr, osr
    path = str(tmp_path / "fields.gpkg")
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    ds.CreateLayer("fields", srs, ogr.wkbPolygon)
    ds = None
    done = run([QGIS_PROCESS, "run", "smts_cloudfill:prepare", "--",
                f"SAR={SAMPLE / 'sar' / 'S1_0000280849BAC91C_20190330.tif'}", f"PARCELS={path}",
                f"OUTPUT_FOLDER={tmp_path / 'out'}"], home)
    assert done.returncode == 1
    assert ("The parcels layer 'fields' holds no parcel to prepare (0 features, none with a "
            "geometry): choose the layer of your fields, or give an extent instead.") \
        in _said(done)
    assert "Give the area to prepare" not in _said(done)


def test_train_stopped_by_sigterm_says_so_and_keeps_the_best_model(home, tmp_path):
    """Train killed by SIGTERM exited without a message. It now stops as a cancel does."""
    out = tmp_path / "model.pt"
    proc = subprocess.Popen([QGIS_PROCESS, "run", "smts_cloudfill:train", "--",
                             *[f"MSI={p}" for p in MSI], *[f"MASKS={p}" for p in SCL],
                             "DEVICE=cpu", "MAX_MINUTES=5", f"OUTPUT_MODEL={out}"],
                            env=qgis_env(home), cwd=str(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not os.path.exists(str(out) + ".ckpt") and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.5)   # the first checkpoint: training runs
    assert proc.poll() is None, proc.communicate(timeout=60)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=240)
    said = stdout + stderr
    assert proc.returncode == 1, said
    assert "Stopped by a termination signal (SIGTERM) at step " in said, said
    assert f"the best model so far (step " in said and f"was written to {out}." in said
    assert "Traceback" not in said
    assert out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".part")]
