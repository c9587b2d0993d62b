"""`make demo` on the shipped sample: outputs exist, are georeferenced, keep clear pixels."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"


@pytest.mark.slow
def test_demo_writes_filled_rasters_masks_and_picture(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "temporal interpolation" in done.stdout and "SMTS-ViT" in done.stdout
    png = tmp_path / "before_after.png"
    assert png.stat().st_size > 20_000
    filled = sorted(glob.glob(str(tmp_path / "*_filled.tif")))
    assert [os.path.basename(f) for f in filled] == [
        "S2_0000280849BAC91C_20190411_filled.tif", "S2_0000280849BAC91C_20190421_filled.tif",
        "S2_0000280849BAC91C_20190426_filled.tif"]
    for f in filled:
        src = gdal.Open(str(SAMPLE / "msi" / os.path.basename(f).replace("_filled", "")))
        out = gdal.Open(f)
        assert out.GetGeoTransform() == src.GetGeoTransform()
        assert out.GetProjection() == src.GetProjection()
        assert out.GetRasterBand(1).GetDescription() == "B02"
        mask = gdal.Open(f.replace("_filled.tif", "_filled_mask.tif")).ReadAsArray().astype(bool)
        a, b = src.ReadAsArray(), out.ReadAsArray()
        assert mask.any() and np.array_equal(a[:, ~mask], b[:, ~mask])
