"""Tests for scripts/convert_worldcereal.py against the real WorldCereal netCDF files.

The conversion tests need the shared data folder (``../shared/data/worldcereal``
next to the repository), which users do not have, so they skip without it. The
references are read with GDAL's multidimensional API, which returns the values
in storage order together with the ``y`` variable, independently of the
GDAL_NETCDF_BOTTOMUP option the script relies on.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

gdal = pytest.importorskip("osgeo.gdal")
osr = pytest.importorskip("osgeo.osr")
gdal.UseExceptions()

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "convert_worldcereal.py"
DATA_ROOT = REPO_ROOT.parent / "shared" / "data" / "worldcereal"
SITE = "0000280849BAC91C"
SITE_DIR = DATA_ROOT / SITE

needs_data = pytest.mark.skipif(
    not SITE_DIR.is_dir(),
    reason=f"WorldCereal sample data not found at {SITE_DIR} (shared data folder is not distributed)",
)

# A partly cloudy Sentinel-2 date and an S1 date of site 31UES; an off-centre window.
S2_DATE = "2019-04-26"
S1_DATE = "2019-04-23"
X0, Y0, W, H = 10, 6, 20, 16
S2_ORDER = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


def _load_module():
    """Import the script as a module (it lives outside any package)."""
    spec = importlib.util.spec_from_file_location("convert_worldcereal", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def _nc(kind: str) -> Path:
    hits = sorted(SITE_DIR.glob(f"{kind}_*.nc"))
    assert len(hits) == 1, hits
    return hits[0]


def _raw(path: Path, var: str) -> Tuple[np.ndarray, np.ndarray, List[dt.datetime], Dict[str, object]]:
    """(data in storage order, y values, acquisition times, global attributes) via the multidim API."""
    root = gdal.OpenEx(str(path), gdal.OF_MULTIDIM_RASTER).GetRootGroup()
    ts = root.OpenMDArray("timestamp")
    unit = ts.GetUnit()
    assert unit.startswith("seconds since "), unit
    base = dt.datetime.fromisoformat(unit[len("seconds since "):].strip())
    times = [base + dt.timedelta(seconds=float(s)) for s in ts.ReadAsArray()]
    attrs = {a.GetName(): a.Read() for a in root.GetAttributes()}
    return root.OpenMDArray(var).ReadAsArray(), root.OpenMDArray("y").ReadAsArray(), times, attrs


def _index_of(times: List[dt.datetime], day: str) -> int:
    hits = [i for i, t in enumerate(times) if t.date().isoformat() == day]
    assert len(hits) == 1, (day, hits)
    return hits[0]


def _north_up(a: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Rows sorted by descending y: the map orientation the GeoTIFFs must have."""
    return a[..., np.argsort(-ys), :]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wc")
    res = _run(str(SITE_DIR), str(out), "--window", str(X0), str(Y0), str(W), str(H),
               "--s2-dates", S2_DATE, "--s1-dates", S1_DATE)
    assert res.returncode == 0, res.stderr
    return out


def _day(d: str) -> str:
    return d.replace("-", "")


# --------------------------------------------------------------------------- conversion


@needs_data
def test_files_written_and_no_partial_left(converted: Path) -> None:
    files = sorted(p.relative_to(converted).as_posix() for p in converted.rglob("*") if p.is_file())
    assert files == [f"msi/S2_{SITE}_{_day(S2_DATE)}.tif", f"sar/S1_{SITE}_{_day(S1_DATE)}.tif",
                     f"scl/SCL_{SITE}_{_day(S2_DATE)}.tif"]


@needs_data
def test_msi_structure_and_georeferencing(converted: Path) -> None:
    ds = gdal.Open(str(converted / "msi" / f"S2_{SITE}_{_day(S2_DATE)}.tif"))
    assert (ds.RasterCount, ds.RasterXSize, ds.RasterYSize) == (10, W, H)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(10)] == S2_ORDER
    for i in range(10):
        band = ds.GetRasterBand(i + 1)
        assert band.DataType == gdal.GDT_UInt16
        assert band.GetNoDataValue() == 0
    _, _, _, attrs = _raw(_nc("S2_L2A_10m"), "B02")
    xmin, _, _, ymax = (float(v) for v in str(attrs["bounds"]).strip("(){}").split(","))
    assert xmin == 574680 and ymax == 5622440  # README bounds of site 31UES
    gt = ds.GetGeoTransform()
    assert gt == pytest.approx((xmin + X0 * 10, 10, 0, ymax - Y0 * 10, 0, -10))
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    srs.AutoIdentifyEPSG()
    assert srs.GetAuthorityCode(None) == "32631"
    assert ds.GetMetadataItem("ACQUISITION_DATE") == S2_DATE
    assert ds.GetMetadataItem("TIFFTAG_DATETIME").startswith(S2_DATE.replace("-", ":") + " ")
    assert ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") == "DEFLATE"
    assert ds.GetMetadataItem("ATTRIBUTION") == "Contains modified Copernicus Sentinel data 2019"


@needs_data
def test_row_order_matches_netcdf_y(converted: Path) -> None:
    ds = gdal.Open(str(converted / "msi" / f"S2_{SITE}_{_day(S2_DATE)}.tif"))
    out = ds.GetRasterBand(S2_ORDER.index("B04") + 1).ReadAsArray()
    raw, ys, times, _ = _raw(_nc("S2_L2A_10m"), "B04")
    t = _index_of(times, S2_DATE)
    # Rows of the netCDF inside the window, by y: the first output row is the northernmost one.
    ymax = ys.max() + 5
    in_window = np.where((ys < ymax - Y0 * 10) & (ys > ymax - (Y0 + H) * 10))[0]
    north = in_window[np.argmax(ys[in_window])]
    south = in_window[np.argmin(ys[in_window])]
    np.testing.assert_array_equal(out[0], raw[t, north, X0:X0 + W])
    np.testing.assert_array_equal(out[-1], raw[t, south, X0:X0 + W])
    # Whole window, and a guard that the comparison could fail (the patch is not symmetric).
    ref = _north_up(raw[t], ys)[Y0:Y0 + H, X0:X0 + W]
    np.testing.assert_array_equal(out, ref)
    assert not np.array_equal(out, ref[::-1])


@needs_data
def test_all_bands_equal_source_values(converted: Path) -> None:
    stack = gdal.Open(str(converted / "msi" / f"S2_{SITE}_{_day(S2_DATE)}.tif")).ReadAsArray()
    for k, band in enumerate(S2_ORDER):
        kind = "S2_L2A_10m" if band in ("B02", "B03", "B04", "B08") else "S2_L2A_20m"
        raw, ys, times, _ = _raw(_nc(kind), band)
        img = _north_up(raw[_index_of(times, S2_DATE)], ys)
        if kind == "S2_L2A_20m":
            img = np.repeat(np.repeat(img, 2, 0), 2, 1)
        np.testing.assert_array_equal(stack[k], img[Y0:Y0 + H, X0:X0 + W], err_msg=band)


@needs_data
def test_20m_band_is_exact_nearest_upsampling(converted: Path) -> None:
    ds = gdal.Open(str(converted / "msi" / f"S2_{SITE}_{_day(S2_DATE)}.tif"))
    b11 = ds.GetRasterBand(S2_ORDER.index("B11") + 1).ReadAsArray()
    blocks = b11.reshape(H // 2, 2, W // 2, 2)
    assert np.all(blocks == blocks[:, :1, :, :1])  # every 2x2 block is constant
    raw, ys, times, _ = _raw(_nc("S2_L2A_20m"), "B11")
    src = _north_up(raw[_index_of(times, S2_DATE)], ys)[Y0 // 2:(Y0 + H) // 2, X0 // 2:(X0 + W) // 2]
    np.testing.assert_array_equal(blocks[:, 0, :, 0], src)
    assert len(np.unique(src)) > 10  # real texture, not a constant patch


@needs_data
def test_scl(converted: Path) -> None:
    ds = gdal.Open(str(converted / "scl" / f"SCL_{SITE}_{_day(S2_DATE)}.tif"))
    assert (ds.RasterCount, ds.RasterXSize, ds.RasterYSize) == (1, W, H)
    band = ds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte
    assert band.GetDescription() == "SCL"
    assert band.GetNoDataValue() is None
    assert ds.GetMetadataItem("ACQUISITION_DATE") == S2_DATE
    scl = band.ReadAsArray()
    assert set(np.unique(scl)) <= set(range(12))
    raw, ys, times, _ = _raw(_nc("S2_L2A_20m"), "SCL")
    src = _north_up(raw[_index_of(times, S2_DATE)], ys)
    np.testing.assert_array_equal(scl, np.repeat(np.repeat(src, 2, 0), 2, 1)[Y0:Y0 + H, X0:X0 + W])


@needs_data
def test_sar(converted: Path) -> None:
    ds = gdal.Open(str(converted / "sar" / f"S1_{SITE}_{_day(S1_DATE)}.tif"))
    assert (ds.RasterCount, ds.RasterXSize, ds.RasterYSize) == (2, W // 2, H // 2)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(2)] == ["VV", "VH"]
    for i in range(2):
        assert ds.GetRasterBand(i + 1).DataType == gdal.GDT_Float32
        assert np.isnan(ds.GetRasterBand(i + 1).GetNoDataValue())
    assert ds.GetGeoTransform() == pytest.approx((574680 + X0 * 10, 20, 0, 5622440 - Y0 * 10, 0, -20))
    assert ds.GetMetadataItem("ACQUISITION_DATE") == S1_DATE
    vv, vh = ds.ReadAsArray()
    assert np.isfinite(vv).all() and np.isfinite(vh).all()  # this date has no fill values
    assert np.mean((vv > -30) & (vv < 15)) > 0.95
    assert np.mean((vh > -40) & (vh < 0)) > 0.95
    assert np.median(vh) < np.median(vv)  # cross-pol is weaker than co-pol
    raw, ys, times, _ = _raw(_nc("S1_GRD-ASCENDING_20m"), "VV")
    src = _north_up(raw[_index_of(times, S1_DATE)], ys)[Y0 // 2:(Y0 + H) // 2, X0 // 2:(X0 + W) // 2]
    np.testing.assert_allclose(vv, src * 1e-4, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- listing and errors


@needs_data
def test_list_prints_one_line_per_date_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _run(str(SITE_DIR), str(out), "--start", "2019-04-01", "--end", "2019-05-16", "--list")
    assert res.returncode == 0, res.stderr
    assert not out.exists()
    lines = res.stdout.splitlines()
    start, end = dt.date(2019, 4, 1), dt.date(2019, 5, 16)
    s2_days = sorted({t.date() for t in _raw(_nc("S2_L2A_10m"), "B02")[2] if start <= t.date() <= end})
    s1_days = sorted({t.date() for t in _raw(_nc("S1_GRD-ASCENDING_20m"), "VV")[2] if start <= t.date() <= end})
    s2_lines = [ln.split() for ln in lines if ln.startswith("S2 ")]
    s1_lines = [ln.split() for ln in lines if ln.startswith("S1 ")]
    assert len(s2_lines) + len(s1_lines) == len(lines)
    assert [ln[1] for ln in s2_lines] == [d.isoformat() for d in s2_days]
    assert [ln[1] for ln in s1_lines] == [d.isoformat() for d in s1_days]
    table = {ln[1]: (float(ln[2].split("=")[1]), float(ln[3].split("=")[1])) for ln in s2_lines}
    for cloud, nodata in table.values():
        assert 0.0 <= cloud <= 1.0 and 0.0 <= nodata <= 1.0
    # The cloud fraction is the share of SCL in {3, 8, 9, 10, 11} (20 m pixels count four times at 10 m).
    raw, _, times, _ = _raw(_nc("S2_L2A_20m"), "SCL")
    expected = np.isin(raw[_index_of(times, S2_DATE)], (3, 8, 9, 10, 11)).mean()
    assert table[S2_DATE][0] == pytest.approx(expected, abs=1e-4)
    assert 0.1 < table[S2_DATE][0] < 0.7  # partly cloudy
    assert table["2019-04-21"] == (0.0, 0.0)  # a clear date


@needs_data
@pytest.mark.parametrize("args, needle", [
    (["--start", "2019-13-01"], "bad date"),
    (["--start", "2019-06-01", "--end", "2019-05-01"], "after"),
    (["--s2-dates", "2019-04-27"], "not in the data"),
    (["--window", "1", "0", "10", "10"], "even"),
    (["--window", "60", "0", "10", "10"], "outside"),
])
def test_bad_arguments_exit_2(tmp_path: Path, args: List[str], needle: str) -> None:
    res = _run(str(SITE_DIR), str(tmp_path / "out"), *args)
    assert res.returncode == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_site_exits_2(tmp_path: Path) -> None:
    res = _run(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert res.returncode == 2
    assert "not found" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path: Path) -> None:
    res = _run(str(tmp_path), str(tmp_path / "out"))
    assert res.returncode == 2
    assert "S2_L2A_10m" in res.stderr and "Traceback" not in res.stderr


# --------------------------------------------------------------------------- helpers (no data needed)


def test_helpers() -> None:
    mod = _load_module()
    bounds = (574680, 5621800, 575320, 5622440)
    assert mod.parse_bounds("(574680, 5621800, 575320, 5622440)") == bounds
    assert mod.parse_bounds("{574680.0,5621800.0,575320.0,5622440.0}") == bounds
    assert mod.parse_time_units("seconds since 2018-08-04 10:50:22") \
        == dt.datetime(2018, 8, 4, 10, 50, 22)
    a = np.arange(6).reshape(2, 3)
    up = mod.upsample2(a)
    assert up.shape == (4, 6) and np.array_equal(up[::2, ::2], a) and np.array_equal(up[1::2, 1::2], a)
    times = [dt.datetime(2019, 4, 1, 10), dt.datetime(2019, 4, 1, 17), dt.datetime(2019, 4, 7, 17)]
    sel = mod.select_dates(times, "S1", None, None, None)
    assert [i for i, _ in sel] == [0, 2]  # the same-day duplicate is dropped, first kept


def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    mod = _load_module()
    target = tmp_path / "msi" / "S2_x_20190401.tif"
    bad = np.zeros((2, 4, 4), dtype=np.uint16)
    with pytest.raises(Exception):
        # Three descriptions for two bands: fails half-way through writing.
        mod.write_tif(str(target), bad, gdal.GDT_UInt16, (0, 10, 0, 0, 0, -10), 32631, ["a", "b", "c"], 0,
                      dt.datetime(2019, 4, 1), mod.INT_OPTIONS)
    assert list((tmp_path / "msi").iterdir()) == []
