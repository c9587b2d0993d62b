"""Preparing a time series from downloaded products (core.prepare: series, grid, cloud_mask, sar,
products), no QGIS.

The products are built by tests/s2_products.py from the shipped real sample: the 10 m bands as
they are, the 20 m bands and SCL at their native 20 m. Prepared on the sample's own extent, each
date must come back exactly as the sample (which repeats the 20 m pixels 2 x 2).
"""
from __future__ import annotations

import datetime as dt
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import s2_products as fx  # noqa: E402

from smts_cloudfill_plugin.core.errors import Cancelled, CloudFillError  # noqa: E402
from smts_cloudfill_plugin.core.prepare.cloud_mask import CloudPolygons, cloud_mask  # noqa: E402
from smts_cloudfill_plugin.core.prepare.grid import Extent, target_grid  # noqa: E402
from smts_cloudfill_plugin.core.prepare.series import prepare_series  # noqa: E402
from core_helpers import CallbackFeedback  # noqa: E402

gdal.UseExceptions()
SAMPLE_EXTENT = Extent(574680, 5621800, 575320, 5622440, "EPSG:32631")
BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


def sample(date: str) -> tuple[np.ndarray, np.ndarray]:
    return fx.sample_arrays(date)


def read(path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> list[str]:
    """The six sample dates as products: zips and folders, 2019-05-16 on baseline 04.00."""
    folder = tmp_path_factory.mktemp("products")
    return [fx.make_product(folder, d, zipped=i % 2 == 0,
                            baseline="04.00" if d == "20190516" else "02.11")
            for i, d in enumerate(fx.SAMPLE_DATES)]


def messages():
    said: list[str] = []
    return said, CallbackFeedback(on_message=said.append)


def test_products_become_the_sample_stacks_exactly(season, tmp_path):
    said, fb = messages()
    result = prepare_series(season, SAMPLE_EXTENT, str(tmp_path), feedback=fb, cloud_buffer=0)
    assert [d.date for d in result.dates] == [dt.date(2019, int(d[4:6]), int(d[6:]))
                                              for d in fx.SAMPLE_DATES]
    for d, stamp in zip(result.dates, fx.SAMPLE_DATES):
        assert os.path.basename(d.msi_path) == f"S2_{stamp}.tif"
        ds = gdal.Open(d.msi_path)
        assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(10)] == BANDS
        assert ds.GetGeoTransform() == fx_gt()
        assert ds.GetMetadataItem("ACQUISITION_DATE") == d.date.isoformat()
        assert ds.GetRasterBand(1).DataType == gdal.GDT_UInt16
        assert ds.GetRasterBand(1).GetNoDataValue() == 0
        msi, scl = sample(stamp)
        # band order, 20 m -> 10 m (nearest: the sample's 2 x 2 blocks), baseline 04.00 offset
        assert np.array_equal(read(d.msi_path), msi), stamp
        assert np.array_equal(read(d.scl_path), scl), stamp
        # without a buffer the mask is the SCL's cloud classes
        assert np.array_equal(read(d.mask_path).astype(bool),
                              np.isin(scl, (0, 3, 8, 9, 10, 11))), stamp
    assert any("BOA_ADD_OFFSET -1000 removed" in m for m in said)
    assert gdal.Open(result.dates[-1].msi_path).GetMetadataItem("PROCESSING_BASELINE") == "04.00"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part") or n.startswith(".")]
    # the run's log beside the stacks: every message, in order, then what was written
    log = (tmp_path / "cloudfill_prepare_log.txt").read_text(encoding="utf-8").splitlines()
    assert log[0].startswith(f"SMTS CloudFill Prepare into '{tmp_path}'")
    assert log[2:-1] == said and log[-1] == f"Wrote {len(fx.SAMPLE_DATES)} Sentinel-2 and 0 " \
        "Sentinel-1 dates."


def fx_gt():
    return (574680.0, 10.0, 0.0, 5622440.0, 0.0, -10.0)


def test_baseline_04_and_02_give_the_same_reflectance(tmp_path):
    old = fx.make_product(tmp_path / "a", "20190426", baseline="02.11")
    new = fx.make_product(tmp_path / "b", "20190426", baseline="04.00", zipped=True)
    a = prepare_series([old], SAMPLE_EXTENT, str(tmp_path / "oa"))
    b = prepare_series([new], SAMPLE_EXTENT, str(tmp_path / "ob"))
    raw = gdal.Open(f"/vsizip/{new}/" + next(
        n for n in __import__("zipfile").ZipFile(new).namelist() if n.endswith("_B02_10m.jp2"))
    ).ReadAsArray()
    assert raw.min() > 1000  # stored with the +1000 offset
    assert np.array_equal(read(a.dates[0].msi_path), read(b.dates[0].msi_path))


def test_a_baseline_04_product_without_its_offset_is_refused(tmp_path):
    p = fx.make_product(tmp_path, "20190426", baseline="04.00", offset_in_xml=False)
    with pytest.raises(CloudFillError, match="baseline 04.00 but no BOA_ADD_OFFSET"):
        prepare_series([p], SAMPLE_EXTENT, str(tmp_path / "o"))


def test_level_1c_is_refused_naming_the_product(tmp_path):
    p = fx.make_product(tmp_path, "20190401", level="L1C")
    with pytest.raises(CloudFillError, match=r"MSIL1C.*Level-1C.*Level-2A"):
        prepare_series([p], SAMPLE_EXTENT, str(tmp_path / "o"))
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_a_product_off_the_extent_is_skipped_with_a_message(tmp_path):
    here = fx.make_product(tmp_path, "20190421")
    away = fx.make_product(tmp_path, "20190426", origin=(600000.0, 5700000.0), zipped=True)
    said, fb = messages()
    result = prepare_series([here, away], SAMPLE_EXTENT, str(tmp_path / "o"), feedback=fb)
    assert [d.date for d in result.dates] == [dt.date(2019, 4, 21)]
    assert any("20190426" in m and "does not cover the extent" in m for m in said)
    with pytest.raises(CloudFillError, match="None of the Sentinel-2 products covers"):
        prepare_series([away], SAMPLE_EXTENT, str(tmp_path / "o2"))


def test_clipping_to_a_smaller_extent_takes_the_same_pixels(season, tmp_path):
    # 200 m x 160 m inside the sample, not on the 20 m grid: snapped outwards
    ext = Extent(574885, 5622005, 575083, 5622161, "EPSG:32631")
    result = prepare_series(season[3:4], ext, str(tmp_path))
    ds = gdal.Open(result.dates[0].msi_path)
    assert ds.GetGeoTransform() == (574880.0, 10.0, 0.0, 5622180.0, 0.0, -10.0)
    assert (ds.RasterXSize, ds.RasterYSize) == (22, 18)
    msi, _ = sample("20190426")
    x0, y0 = (574880 - 574680) // 10, (5622440 - 5622180) // 10
    assert np.array_equal(ds.ReadAsArray(), msi[:, y0:y0 + 18, x0:x0 + 22])


def test_an_extent_in_another_crs_gets_the_utm_zone_of_its_centre(season, tmp_path):
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32631)
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(utm, wgs)
    (lon0, lat0, _), (lon1, lat1, _) = ct.TransformPoint(574800, 5621900), \
        ct.TransformPoint(575200, 5622300)
    grid = target_grid(Extent(lon0, lat0, lon1, lat1, "EPSG:4326"))
    assert grid.epsg == 32631
    b = grid.bounds
    assert b[0] <= 574800 and b[1] <= 5621900 and b[2] >= 575200 and b[3] >= 5622300
    assert b[0] % 20 == 0 and b[3] % 20 == 0
    result = prepare_series(season[0:1], Extent(lon0, lat0, lon1, lat1, "EPSG:4326"),
                            str(tmp_path))
    msi, _ = sample("20190401")
    x0, y0 = int((b[0] - 574680) // 10), int((5622440 - b[3]) // 10)
    out = read(result.dates[0].msi_path)
    assert np.array_equal(out, msi[:, y0:y0 + out.shape[1], x0:x0 + out.shape[2]])


def test_buffer_grows_clouds_by_n_pixels_and_keeps_no_data_as_is():
    scl = np.full((20, 20), 4, np.uint8)
    scl[9:11, 9:11] = 9        # a 2 x 2 cloud
    scl[0, 0] = 0              # no data is filled but not grown
    mask = cloud_mask(scl, np.zeros((20, 20), bool), (0, 3, 8, 9, 10), 3)
    assert mask[6:14, 6:14].all() and mask.sum() == 8 * 8 + 1
    assert cloud_mask(scl, np.zeros((20, 20), bool), (0, 3, 8, 9, 10), 0).sum() == 5
    extra = cloud_mask(np.where(scl == 4, 7, scl), np.zeros((20, 20), bool), (0, 3, 7, 8, 9, 10), 0)
    assert extra.all()         # an extra class (7, unclassified) counts too


def test_buffer_and_user_polygons_in_the_written_masks(season, tmp_path):
    # a square of missed cloud drawn on 2019-04-21 (a clear date), one on every date
    poly_0421 = "POLYGON((574900 5622200, 575000 5622200, 575000 5622300, 574900 5622300, " \
                "574900 5622200))"
    everywhere = "POLYGON((574700 5621820, 574720 5621820, 574720 5621840, 574700 5621840, " \
                 "574700 5621820))"
    polys = CloudPolygons([(poly_0421, dt.date(2019, 4, 21)), (everywhere, None)], "EPSG:32631")
    result = prepare_series(season, SAMPLE_EXTENT, str(tmp_path), cloud_buffer=2,
                            cloud_polygons=polys)
    m = {d.date.isoformat(): read(d.mask_path).astype(bool) for d in result.dates}
    assert m["2019-04-21"][14:24, 22:32].all()          # the drawn square, rows/cols of it
    assert not m["2019-04-01"][14:24, 22:32].any()      # not on the other clear dates
    for mask in m.values():
        assert mask[60:62, 2:4].all()                    # the undated polygon on every date
    _, scl = sample("20190426")
    cloudy = np.isin(scl, (3, 8, 9, 10, 11))
    from smts_cloudfill_plugin.core.read.clouds import dilate
    assert np.array_equal(m["2019-04-26"], dilate(cloudy, 2) | m["2019-04-01"])
    assert abs(result.dates[3].cloud_fraction - m["2019-04-26"].mean()) < 1e-9


def test_two_products_of_one_day_are_mosaicked(tmp_path):
    msi, scl = sample("20190426")
    west, east = msi.copy(), msi.copy()
    west[:, :, 32:] = 0
    east[:, :, :32] = 0
    a = fx.make_product(tmp_path, "20190426", msi=west, scl=np.where(np.arange(64) < 32, scl, 0)
                        .astype(np.uint8), tile="31UES")
    b = fx.make_product(tmp_path, "20190426", msi=east, scl=np.where(np.arange(64) >= 32, scl, 0)
                        .astype(np.uint8), tile="31UFS", zipped=True)
    said, fb = messages()
    result = prepare_series([a, b], SAMPLE_EXTENT, str(tmp_path / "o"), feedback=fb)
    assert len(result.dates) == 1
    assert np.array_equal(read(result.dates[0].msi_path), msi)
    assert np.array_equal(read(result.dates[0].scl_path), scl)
    assert any("2 products mosaicked" in m for m in said)


def one_day_pair(folder, cloudy_first: bool = True) -> tuple[list[str], np.ndarray]:
    """Two full products of 2019-04-26: one with a bright SCL cloud (rows 10-39), one clear
    (SCL 4 everywhere); return them in the asked order and the clear one's MSI."""
    msi, _ = sample("20190426")
    clear_scl = np.full((64, 64), 4, np.uint8)
    cloudy, cloudy_scl = msi.copy(), clear_scl.copy()
    cloudy[:, 10:40] = 6000
    cloudy_scl[10:40] = 9
    a = fx.make_product(folder, "20190426", msi=cloudy, scl=cloudy_scl, tile="31UES")
    b = fx.make_product(folder, "20190426", msi=msi, scl=clear_scl, tile="31UFS", zipped=True)
    return ([a, b] if cloudy_first else [b, a]), msi


@pytest.mark.parametrize("cloudy_first", [True, False])
def test_keep_the_clearer_of_two_products_of_one_day(tmp_path, cloudy_first):
    pair, clear_msi = one_day_pair(tmp_path / "p", cloudy_first)
    said, fb = messages()
    result = prepare_series(pair, SAMPLE_EXTENT, str(tmp_path / "o"), cloud_buffer=0,
                            same_day="clearer", feedback=fb)
    d = result.dates[0]
    assert np.array_equal(read(d.msi_path), clear_msi)
    assert not read(d.mask_path).any()  # none of the cloudy product's pixels came in
    assert d.products == [p for p in pair if "31UFS" in p]
    kept = [m for m in said if "kept the clearer of 2 products" in m]
    assert len(kept) == 1 and "T31UFS" in kept[0].split("(")[0]
    assert "46.9 %" in kept[0] and "0.0 %" in kept[0]  # 30 of 64 rows cloudy, and none
    assert "T31UES" in gdal.Open(d.msi_path).GetMetadataItem("SAME_DAY_NOT_USED")
    # the default mosaic takes the first product's pixels, clouds included
    mosaic = prepare_series(pair, SAMPLE_EXTENT, str(tmp_path / "m"), cloud_buffer=0)
    assert read(mosaic.dates[0].mask_path).any() == cloudy_first


def test_keep_the_clearer_needs_an_scl_else_mosaics_and_says_why(tmp_path):
    folder = Path(fx.per_band_folder(tmp_path / "RT_20190426"))
    next(folder.glob("*_SCL.tif")).unlink()
    safe = fx.make_product(tmp_path, "20190426")
    said, fb = messages()
    result = prepare_series([str(folder), safe], SAMPLE_EXTENT, str(tmp_path / "o"),
                            same_day="clearer", feedback=fb)
    assert len(result.dates[0].products) == 2
    assert any("cannot tell which product is clearer" in m and "RT_20190426" in m
               for m in said)
    with pytest.raises(CloudFillError, match="'best' is not one of mosaic, clearer"):
        prepare_series([safe], SAMPLE_EXTENT, str(tmp_path / "o2"), same_day="best")


def test_files_of_a_product_stand_for_it(tmp_path):
    """What QGIS's multi-file picker gives: a SAFE folder's files, per-band files."""
    safe = Path(fx.make_product(tmp_path, "20190421"))
    bands = Path(fx.per_band_folder(tmp_path / "RT_20190426"))
    picked = ([str(safe / "MTD_MSIL2A.xml")] + sorted(str(p) for p in safe.rglob("*.jp2"))
              + sorted(str(p) for p in bands.iterdir()))
    result = prepare_series(picked, SAMPLE_EXTENT, str(tmp_path / "o"), cloud_buffer=0)
    assert [d.products for d in result.dates] == [[str(safe)], [str(bands)]]
    for d, stamp in zip(result.dates, ("20190421", "20190426")):
        assert np.array_equal(read(d.msi_path), sample(stamp)[0])


def test_a_product_in_another_utm_zone_is_reprojected(tmp_path):
    utm31, utm32 = osr.SpatialReference(), osr.SpatialReference()
    utm31.ImportFromEPSG(32631)
    utm32.ImportFromEPSG(32632)
    for s in (utm31, utm32):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x, y, _ = osr.CoordinateTransformation(utm31, utm32).TransformPoint(574680.0, 5622440.0)
    origin = (round(x / 60) * 60, round(y / 60) * 60)
    p = fx.make_product(tmp_path, "20190426", origin=origin, epsg=32632, tile="32ULB")
    # an extent inside the zone-32 product, given in zone 31 coordinates
    result = prepare_series([p], Extent(574900, 5622000, 575100, 5622200, "EPSG:32631"),
                            str(tmp_path / "o"))
    ds = gdal.Open(result.dates[0].msi_path)
    assert osr.SpatialReference(wkt=ds.GetProjection()).GetAuthorityCode(None) == "32631"
    out = ds.ReadAsArray()
    msi, _ = sample("20190426")
    assert (out > 0).mean() > 0.5
    assert abs(float(np.median(out[2][out[2] > 0])) - float(np.median(msi[2]))) < 300


def test_per_band_folder(tmp_path):
    folder = fx.per_band_folder(tmp_path / "RT_20190426")
    result = prepare_series([folder], SAMPLE_EXTENT, str(tmp_path / "o"))
    msi, scl = sample("20190426")
    assert np.array_equal(read(result.dates[0].msi_path), msi)
    assert np.array_equal(read(result.dates[0].scl_path), scl)


def test_a_folder_of_products_stands_for_all_of_them(season, tmp_path):
    folder = os.path.dirname(season[0])
    result = prepare_series([folder], SAMPLE_EXTENT, str(tmp_path))
    assert len(result.dates) == 6


@pytest.mark.parametrize("case", ["not_a_product", "damaged_zip", "no_such_file", "empty_folder"])
def test_bad_products_are_named(tmp_path, case):
    if case == "not_a_product":
        path = tmp_path / "notes.zip"
        import zipfile
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "hello")
        expected = "not a Sentinel-2 product"
    elif case == "damaged_zip":
        good = fx.make_product(tmp_path, "20190426", zipped=True)
        path = tmp_path / "cut.zip"
        path.write_bytes(Path(good).read_bytes()[: os.path.getsize(good) // 2])
        expected = "cut.zip"
    elif case == "no_such_file":
        path = tmp_path / "missing.zip"
        expected = "does not exist"
    else:
        path = tmp_path / "empty"
        path.mkdir()
        expected = "holds no Sentinel-2 product"
    with pytest.raises(CloudFillError, match=expected):
        prepare_series([str(path)], SAMPLE_EXTENT, str(tmp_path / "o"))


def test_cancel_writes_nothing(season, tmp_path):
    with pytest.raises(Cancelled):
        prepare_series(season, SAMPLE_EXTENT, str(tmp_path / "o"),
                       feedback=CallbackFeedback(cancelled=lambda: True))
    assert not os.path.exists(tmp_path / "o") or \
        not [n for n in os.listdir(tmp_path / "o") if not n.startswith(".smts")]


# ----- Sentinel-1 ------------------------------------------------------------------------------
def sar_file(path, bands: list[np.ndarray], names: list[str] | None, res=20.0, meta=None):
    from core_helpers import make_raster
    return make_raster(path, np.stack(bands).astype(np.float32),
                       geotransform=(574680.0, res, 0.0, 5622440.0, 0.0, -res),
                       descriptions=names, metadata=meta)


def test_sentinel1_db_and_linear_give_the_same_db(tmp_path):
    yy, xx = np.mgrid[0:32, 0:32]
    vv, vh = -10 + 3 * np.sin(xx / 5.0) * np.cos(yy / 7.0), -18 + 4 * np.cos(xx / 6.0)
    db = sar_file(tmp_path / "S1_ASC_20190411.tif", [vv, vh], ["VV", "VH"])
    lin_vv = sar_file(tmp_path / "lin/S1A_IW_20190423_DESCENDING_VV.tif", [10 ** (vv / 10)], None)
    lin_vh = sar_file(tmp_path / "lin/S1A_IW_20190423_DESCENDING_VH.tif", [10 ** (vh / 10)], None)
    said, fb = messages()
    result = prepare_series([], SAMPLE_EXTENT, str(tmp_path / "o"), sar=[db, lin_vv, lin_vh],
                            feedback=fb)
    assert [s.date for s in result.sar] == [dt.date(2019, 4, 11), dt.date(2019, 4, 23)]
    a, b = read(result.sar[0].path), read(result.sar[1].path)
    assert a.shape == (2, 64, 64)
    # resampled bilinearly in the source's own units (power for linear), then in dB
    assert np.nanmax(np.abs(a - b)) < 0.5 and np.nanmean(np.abs(a - b)) < 0.1
    assert abs(float(np.nanmean(a[0])) - vv.mean()) < 0.3
    assert result.sar[0].units == "dB" and result.sar[1].units == "linear"
    assert result.sar[0].orbit_direction == "ASCENDING"
    assert result.sar[1].orbit_direction == "DESCENDING"
    ds = gdal.Open(result.sar[1].path)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in (0, 1)] == ["VV", "VH"]
    assert ds.GetMetadataItem("ORBIT_DIRECTION") == "DESCENDING"
    assert any("mix ascending and descending" in m for m in said)


@pytest.mark.parametrize("case", ["no_date", "no_vh", "no_pol"])
def test_sentinel1_bad_input(tmp_path, case):
    x = np.full((32, 32), -10.0)
    if case == "no_date":
        files = [sar_file(tmp_path / "s1.tif", [x, x], ["VV", "VH"])]
        expected = "no date"
    elif case == "no_vh":
        files = [sar_file(tmp_path / "S1_20190411_VV.tif", [x], None)]
        expected = "has no VH band"
    else:
        files = [sar_file(tmp_path / "S1_20190411.tif", [x], None)]
        expected = "no polarisation"
    with pytest.raises(CloudFillError, match=expected):
        prepare_series([], SAMPLE_EXTENT, str(tmp_path / "o"), sar=files)


@pytest.mark.parametrize("band, zipped", [("SCL", False), ("SCL", True), ("B03", False),
                                          ("B11", True)])
def test_a_product_missing_a_band_file_is_refused_naming_it(tmp_path, band, zipped):
    """Issue 19, item 8: GDAL opens a product whose listed band file is gone and reads that
    band as 0: without its SCL a clear date came out 100 % cloudy (exit 0), without a band
    "no data over the extent". Now the product and the missing file are named."""
    import zipfile
    path = fx.make_product(tmp_path / "p", "20190426", zipped=zipped)
    if zipped:
        whole = str(path) + ".whole"
        os.replace(path, whole)
        with zipfile.ZipFile(whole) as src, zipfile.ZipFile(path, "w") as dst:
            for item in src.infolist():
                if f"_{band}_" not in os.path.basename(item.filename):
                    dst.writestr(item, src.read(item.filename))
    else:
        [victim] = [p for p in Path(path).rglob("*.jp2") if f"_{band}_" in p.name]
        victim.unlink()
    expected = (rf"Sentinel-2 product '{re.escape(str(path))}' is incomplete: the file of its "
                rf"band {band}, 'T31UES_20190426T105031_{band}_[12]0m\.jp2', is missing\. "
                r"Download \(or unzip\) the product again\.")
    with pytest.raises(CloudFillError, match=expected):
        prepare_series([str(path)], SAMPLE_EXTENT, str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()
