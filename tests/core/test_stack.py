"""Stack reader: masks, no data, band order, value encodings and SAR on another grid."""
from __future__ import annotations

import datetime as dt
import os
import re

import numpy as np
import pytest
from osgeo import gdal

from core_helpers import (SAMPLE_GT, copy_raster, damage_block, make_raster, read_raster,
                          truncate_copy)
from smts_cloudfill_plugin.core.model import config
from smts_cloudfill_plugin.core.read.clouds import scl_to_mask
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.progress import Feedback
from smts_cloudfill_plugin.core.read.missing import scan_missing
from smts_cloudfill_plugin.core.read.raster import (MaskSource, RasterSource, SarSource,
                                                   canonical_band)
from smts_cloudfill_plugin.core.read.stack import Stack

BANDS4 = ["B02", "B03", "B04", "B08"]


def _msi(tmp_path, name, data, **kw):
    kw.setdefault("descriptions", BANDS4)
    return make_raster(tmp_path / name, data, **kw)


def test_scl_mask_raster_through_the_stack(tmp_path):
    scl = np.arange(12, dtype=np.uint8).reshape(3, 4)
    msi = _msi(tmp_path, "a_20190401.tif", np.full((4, 3, 4), 1000, np.uint16), nodata=0)
    mask = make_raster(tmp_path / "scl.tif", scl, descriptions=["SCL"])
    with Stack([msi], [mask], bands=tuple(BANDS4), cloud_buffer=0) as st:
        np.testing.assert_array_equal(st.read(0, 0, 4, 3).missing[0], scl_to_mask(scl))
    with Stack([msi], [mask], bands=tuple(BANDS4), scl_classes=(4, 5)) as st:
        np.testing.assert_array_equal(st.read(0, 0, 4, 3).missing[0], np.isin(scl, (4, 5)))


def test_zero_one_mask_rasters(tmp_path):
    m = np.array([[0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]], np.uint8)
    msi = [_msi(tmp_path, f"a_2019040{i + 1}.tif", np.full((4, 3, 4), 900, np.uint16))
           for i in range(3)]
    masks = [make_raster(tmp_path / "m1.tif", m), None,
             make_raster(tmp_path / "m3.tif", np.zeros((3, 4), np.uint8))]
    with Stack(msi, masks, bands=tuple(BANDS4)) as st:
        missing = st.read(0, 0, 4, 3).missing
        np.testing.assert_array_equal(missing[0], m.astype(bool))
        assert not missing[1].any() and not missing[2].any()
        assert scan_missing(st, Feedback()).fractions == pytest.approx([m.mean(), 0, 0])


def test_msi_nodata_and_nan_count_as_missing(tmp_path):
    ints = np.full((4, 3, 4), 500, np.uint16)
    ints[2, 0, 0] = 0          # declared no data in one band
    ints[0, 1, 1] = 65535      # a valid value
    floats = np.full((4, 3, 4), 0.05, np.float32)
    floats[1, 2, 3] = np.nan
    floats[3, 0, 2] = -9999
    a = _msi(tmp_path, "a_20190401.tif", ints, nodata=0)
    b = _msi(tmp_path, "b_20190401.tif", floats, nodata=-9999)
    with Stack([a], bands=tuple(BANDS4)) as st:
        w = st.read(0, 0, 4, 3)
        assert np.argwhere(w.missing[0]).tolist() == [[0, 0]]
        assert (w.msi[0, :, 0, 0] == 0).all(), "missing pixels are zeroed for the model"
        assert w.raw[0, 2, 0, 0] == 0 and w.raw.dtype == np.uint16
    with Stack([b], bands=tuple(BANDS4)) as st:
        w = st.read(0, 0, 4, 3)
        assert sorted(map(tuple, np.argwhere(w.missing[0]))) == [(0, 2), (2, 3)]
        assert np.isfinite(w.msi).all()
    # Without a declared no-data value, DN 0 of an unsigned raster still means no data.
    c = _msi(tmp_path, "c_20190401.tif", ints)
    with Stack([c], bands=tuple(BANDS4)) as st:
        assert st.read(0, 0, 4, 3).missing[0, 0, 0]


def test_reflectance_encodings(tmp_path):
    dn = np.full((4, 2, 2), 1234, np.uint16)
    plain = _msi(tmp_path, "dn.tif", dn, nodata=0)
    scaled = _msi(tmp_path, "scaled.tif", dn, nodata=0, scale=2e-4, offset=-0.1)
    refl = _msi(tmp_path, "refl.tif", np.full((4, 2, 2), 0.1234, np.float32))
    fdn = _msi(tmp_path, "fdn.tif", dn.astype(np.float32))
    expect = {plain: 0.1234, scaled: 1234 * 2e-4 - 0.1, refl: 0.1234, fdn: 0.1234}
    for path, value in expect.items():
        with Stack([path], bands=tuple(BANDS4)) as st:
            w = st.read(0, 0, 2, 2)
            np.testing.assert_allclose(w.msi, value, rtol=1e-6)
            back = st.from_reflectance(w.msi)
            assert back.dtype == read_raster(path).dtype
            np.testing.assert_allclose(back[0], read_raster(path), rtol=1e-6)
    with Stack([plain], bands=tuple(BANDS4)) as st:
        # A filled DN never reads as the no-data value 0, and stays in range.
        refl = np.array([-0.5, 0.0, 0.00004, 9.0], np.float32).reshape(1, 4, 1, 1)
        out = st.from_reflectance(refl)
        assert out.ravel().tolist() == [1, 1, 1, 65535]


def test_bands_are_matched_by_name(tmp_path):
    data = np.stack([np.full((2, 2), v, np.uint16) for v in (10, 20, 30, 40)])
    path = make_raster(tmp_path / "x.tif", data, descriptions=["B8 (nir)", "b2", "B03", "B4"])
    with Stack([path], bands=("B02", "B03", "B04", "B08")) as st:
        assert st.band_indices[0] == [1, 2, 3, 0]
        np.testing.assert_allclose(st.read(0, 0, 2, 2).msi[0, :, 0, 0], [2e-3, 3e-3, 4e-3, 1e-3])
    with pytest.raises(CloudFillError, match="missing: B05"):
        Stack([path], bands=("B02", "B05"))
    unnamed = make_raster(tmp_path / "u.tif", data)
    with Stack([unnamed], bands=("B02", "B03", "B04", "B08")) as st:
        assert st.band_indices[0] == [0, 1, 2, 3]
    with pytest.raises(CloudFillError, match="without names"):
        Stack([unnamed], bands=config.S2_BANDS)
    assert [canonical_band(s) for s in ("B2", "b02", "B8A", "B02 (blue)", "vv", "")] == \
        ["B02", "B02", "B8A", "B02", "VV", ""]


def test_sample_stack_dates_and_fractions(sample):
    with Stack(sample["msi"], sample["scl"], sample["sar"], bands=config.S2_BANDS,
               cloud_buffer=0) as st:
        assert st.dates == [dt.date(2019, 4, d) for d in (1, 11, 21, 26)] + \
            [dt.date(2019, 5, 11), dt.date(2019, 5, 16)]
        assert st.sar_dates == [dt.date(2019, 3, 30), dt.date(2019, 4, 11), dt.date(2019, 4, 23),
                                dt.date(2019, 5, 5), dt.date(2019, 5, 17)]
        f = scan_missing(st, Feedback()).fractions
        # README: 0 %, 7.9 %, 0 %, 31.2 %, 0 %, 0 %
        assert f == pytest.approx([0, 0.079, 0, 0.312, 0, 0], abs=0.001)
        assert st.encodings[0] == "dn"


def _bilinear_2x(a: np.ndarray) -> np.ndarray:
    """Bilinear upsampling by 2 of a (h, w) grid, pixel-centre aligned, edges clamped."""
    def axis(n):
        pos = np.clip((np.arange(2 * n) + 0.5) / 2 - 0.5, 0, n - 1)
        i0 = np.floor(pos).astype(int)
        return i0, np.minimum(i0 + 1, n - 1), pos - i0
    y0, y1, fy = axis(a.shape[0])
    x0, x1, fx = axis(a.shape[1])
    rows = a[y0] * (1 - fy)[:, None] + a[y1] * fy[:, None]
    return rows[:, x0] * (1 - fx) + rows[:, x1] * fx


def test_sar_on_the_20m_grid_is_resampled_onto_the_msi_grid(sample):
    with Stack(sample["msi"], None, sample["sar"], bands=config.S2_BANDS) as st:
        w = st.read(0, 0, 64, 64, sar_indices=[0, 2, 4])
        part = st.read(10, 20, 17, 9, sar_indices=[1])
    assert w.sar.shape == (3, 2, 64, 64) and w.sar.dtype == np.float32
    assert np.isfinite(w.sar).all()
    for k, i in enumerate([0, 2, 4]):
        src = read_raster(sample["sar"][i]).astype(np.float64)
        assert src.shape == (2, 32, 32)
        for b in range(2):
            assert abs(w.sar[k, b].mean() - src[b].mean()) < 0.05
            np.testing.assert_allclose(w.sar[k, b], _bilinear_2x(src[b]), atol=1e-3)
    # VV is the stronger backscatter (dB), and a window reads the same values as the whole.
    assert w.sar[:, 0].mean() > w.sar[:, 1].mean()
    src1 = read_raster(sample["sar"][1]).astype(np.float64)
    full = np.stack([_bilinear_2x(b) for b in src1])
    np.testing.assert_allclose(part.sar[0], full[:, 20:29, 10:27],
                               atol=1e-3)


def test_linear_and_integer_sar_become_db(tmp_path):
    msi = _msi(tmp_path, "m_20190401.tif", np.full((4, 4, 4), 800, np.uint16))
    db = np.array([[-10.0, -20.0], [-5.0, -15.0]], np.float32)
    linear = make_raster(tmp_path / "lin.tif", np.stack([10 ** (db / 10), 10 ** ((db - 7) / 10)]),
                         geotransform=(SAMPLE_GT[0], 20, 0, SAMPLE_GT[3], 0, -20),
                         descriptions=["VH", "VV"])
    ints = make_raster(tmp_path / "int.tif", np.stack([db * 1e4, (db - 7) * 1e4]).astype(np.int32),
                       geotransform=(SAMPLE_GT[0], 20, 0, SAMPLE_GT[3], 0, -20), nodata=-2**31)
    with Stack([msi], sar_paths=[linear, ints], bands=tuple(BANDS4)) as st:
        w = st.read(0, 0, 4, 4, sar_indices=[0, 1])
    # Linear: the bands named VH, VV in the file come out VV, VH, in dB. The corner pixel of
    # the 10 m grid lies inside the first 20 m pixel's corner quarter: its value is that pixel's.
    assert w.sar[0, 0, 0, 0] == pytest.approx(-17.0, abs=1e-3)
    assert w.sar[0, 1, 0, 0] == pytest.approx(-10.0, abs=1e-3)
    assert (w.sar[0, 0] < w.sar[0, 1]).all() and np.nanmax(w.sar[0]) < 0
    assert (w.sar[1, 0] > w.sar[1, 1]).all() and np.nanmax(w.sar[1]) < 0
    assert w.sar[1, 0, 0, 0] == pytest.approx(-10.0, abs=1e-3), "integer DN x 1e-4 in dB"


def test_linear_sar_with_a_no_data_value_is_still_linear(tmp_path):
    """A linear-power file whose no-data value is negative (-9999 on a swath edge) is linear:
    the check reads the warped view, where no data is NaN, not the file's raw values."""
    msi = _msi(tmp_path, "m_20190401.tif", np.full((4, 40, 40), 800, np.uint16))
    power = np.full((2, 20, 20), 0.05, np.float32)
    power[:, :, :5] = -9999.0
    sar = make_raster(tmp_path / "lin_nd.tif", power, nodata=-9999.0,
                      geotransform=(SAMPLE_GT[0], 20, 0, SAMPLE_GT[3], 0, -20))
    with Stack([msi], sar_paths=[sar], bands=tuple(BANDS4)) as st:
        w = st.read(0, 0, 40, 40, sar_indices=[0])
    assert np.isnan(w.sar[0, :, :, :8]).all()
    assert np.nanmax(np.abs(w.sar[0] - 10 * np.log10(0.05))) < 1e-3, "dB of the linear power"


def test_mask_checks(tmp_path, sample):
    msi = sample["msi"][:2]
    other = make_raster(tmp_path / "m.tif", np.zeros((64, 64), np.uint8), epsg=32632)
    with pytest.raises(CloudFillError, match="EPSG:32632"):
        Stack(msi, [other, None], bands=config.S2_BANDS)
    two = make_raster(tmp_path / "two.tif", np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(CloudFillError, match="2 bands"):
        Stack(msi, [two, None], bands=config.S2_BANDS)
    with pytest.raises(CloudFillError, match="empty"):
        Stack([], bands=config.S2_BANDS)


def test_each_date_is_read_and_written_in_its_own_encoding(tmp_path):
    """A UInt16 DN date, a Float32 reflectance date and a Float32 DN date (0..10000) in one
    stack: every date reads as the same reflectance, and converts back to its own type and
    scale (the encoding and scale are found per date, not on the first date only)."""
    dn = np.full((4, 2, 2), 1234, np.uint16)
    paths = [_msi(tmp_path, "a_20190401.tif", dn, nodata=0),
             _msi(tmp_path, "b_20190411.tif", (dn * 1e-4).astype(np.float32)),
             _msi(tmp_path, "c_20190421.tif", dn.astype(np.float32)),
             _msi(tmp_path, "d_20190501.tif", dn, nodata=0, scale=2e-4, offset=-0.1)]
    with Stack(paths, bands=tuple(BANDS4)) as st:
        assert st.encodings == ["dn", "reflectance", "dn", "dn"]
        w = st.read(0, 0, 2, 2)
        np.testing.assert_allclose(w.msi[:3], 0.1234, rtol=1e-6)
        np.testing.assert_allclose(w.msi[3], 1234 * 2e-4 - 0.1, rtol=1e-6)
        assert not w.missing.any()
        for t, path in enumerate(paths):
            src = read_raster(path)
            back = st.from_reflectance(w.msi[t], t)
            assert back.dtype == src.dtype, path
            np.testing.assert_allclose(back, src, rtol=1e-6)
            np.testing.assert_array_equal(w.raw[t].astype(src.dtype), src)
        # A window of some dates only knows which dates it holds.
        assert st.read(0, 0, 2, 2, dates=[3, 1]).dates == [3, 1]


def test_bands_are_matched_by_name_on_every_date(tmp_path):
    """A later date with the same bands in another order is read in the model's order."""
    values = {"B02": 100, "B03": 200, "B04": 300, "B08": 400}
    first = _msi(tmp_path, "a_20190401.tif",
                 np.stack([np.full((2, 2), values[b], np.uint16) for b in BANDS4]))
    order = ["B08", "B04", "B02", "B03"]
    later = _msi(tmp_path, "b_20190411.tif",
                 np.stack([np.full((2, 2), values[b], np.uint16) for b in order]),
                 descriptions=order)
    unnamed = make_raster(tmp_path / "c_20190421.tif",
                          np.stack([np.full((2, 2), values[b], np.uint16) for b in BANDS4]))
    with Stack([first, later, unnamed], bands=("B02", "B03", "B04", "B08")) as st:
        assert st.band_indices == [[0, 1, 2, 3], [2, 3, 1, 0], [0, 1, 2, 3]]
        w = st.read(0, 0, 2, 2)
        for t in range(3):
            np.testing.assert_allclose(w.msi[t, :, 0, 0], [0.01, 0.02, 0.03, 0.04], rtol=1e-6)
        # Back to the stored layout of each date.
        np.testing.assert_array_equal(st.from_reflectance(w.msi[1], 1)[:, 0, 0],
                                      [100, 200, 300, 400])
    # Without a band list, the first date's bands are the order; later dates follow by name.
    with Stack([first, later]) as st:
        assert st.bands == tuple(BANDS4) and st.band_indices[1] == [2, 3, 1, 0]
    other = _msi(tmp_path, "d_20190501.tif", np.ones((4, 2, 2), np.uint16),
                 descriptions=["B02", "B03", "B04", "B05"])
    with pytest.raises(CloudFillError, match=r"'d_20190501\.tif' has bands B02, B03, B04, B05 "
                       r"but the model needs .*missing: B08"):
        Stack([first, other], bands=tuple(BANDS4))


def test_training_reads_mixed_dates_alike(tmp_path, sample):
    """Training reads through the same stack: a Float32 reflectance date and a date with its
    bands in another order give the season that the plain sample gives."""
    from smts_cloudfill_plugin.core.training.data import load_season
    msi = list(sample["msi"])
    src = read_raster(msi[3])
    names = _descriptions(msi[3])
    msi[3] = make_raster(tmp_path / "S2_20190426.tif", (src * 1e-4).astype(np.float32),
                         descriptions=names, nodata=float("nan"))
    order = list(range(10))[::-1]
    msi[1] = make_raster(tmp_path / "S2_20190411.tif", read_raster(msi[1])[order],
                         descriptions=[_descriptions(msi[1])[i] for i in order], nodata=0)
    plain = load_season(sample["msi"], sample["scl"], None, config.S2_BANDS)
    mixed = load_season(msi, sample["scl"], None, config.S2_BANDS)
    np.testing.assert_array_equal(mixed.missing, plain.missing)
    np.testing.assert_allclose(mixed.msi, plain.msi, rtol=1e-6, atol=1e-7)


def _descriptions(path) -> list[str]:
    from osgeo import gdal
    ds = gdal.Open(str(path))
    return [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]


def test_truncated_files_are_named_when_opened(tmp_path, sample):
    """A cut-off GeoTIFF opens in GDAL without a word (a cut mask even opens without its CRS):
    the stack names the file as truncated instead of failing mid-read or blaming the CRS."""
    msi = list(sample["msi"][:2])
    msi[1] = truncate_copy(msi[1], tmp_path / "S2_20190411.tif", 0.6)
    with pytest.raises(CloudFillError, match=r"MSI date 2 '.*S2_20190411\.tif' is truncated"):
        Stack(msi, bands=config.S2_BANDS)
    mask = truncate_copy(sample["scl"][0], tmp_path / "SCL_20190401.tif", 0.3)
    with pytest.raises(CloudFillError) as e:
        Stack(sample["msi"][:1], [mask], bands=config.S2_BANDS)
    assert re.search(r"Cloud mask 1 '.*SCL_20190401\.tif' is truncated", str(e.value)), e.value
    assert "CRS" not in str(e.value)


def test_a_read_error_mid_raster_names_the_file(tmp_path, sample):
    msi = list(sample["msi"][:2])
    msi[1] = damage_block(msi[1], tmp_path / "S2_20190411.tif")
    with Stack(msi, bands=config.S2_BANDS) as st:
        st.read(0, 0, 64, 24)   # the blocks above the damaged one read fine
        with pytest.raises(CloudFillError, match=r"Cannot read MSI date 2 '.*S2_20190411\.tif': "
                           r"the file is damaged or truncated \(.*IReadBlock failed"):
            st.read(0, 0, 64, 64)


def test_a_mask_without_crs_is_said_to_have_none(tmp_path, sample):
    bare = make_raster(tmp_path / "m.tif", np.zeros((64, 64), np.uint8), epsg=None)
    with pytest.raises(CloudFillError, match=r"Cloud mask 'm\.tif' has no CRS but "
                       r"'S2_0000280849BAC91C_20190401\.tif' \(the first MSI date\) is in "
                       r"EPSG:32631"):
        Stack(sample["msi"][:1], [bare], bands=config.S2_BANDS)


def test_a_stack_that_fails_to_open_closes_what_it_opened(tmp_path, sample, monkeypatch):
    """The error's traceback keeps the half-opened stack alive; its datasets must be closed at
    once, in order, not left to the garbage collector (which crashed the process at exit)."""
    import sys
    from osgeo import gdal
    opened: list[gdal.Dataset] = []

    def spy(cls, path, role):
        source = real(cls, path, role)
        opened.append(source.dataset)
        return source

    real = RasterSource.open.__func__
    monkeypatch.setattr(RasterSource, "open", classmethod(spy))
    other = make_raster(tmp_path / "m.tif", np.zeros((64, 64), np.uint8), epsg=32632)
    with pytest.raises(CloudFillError, match="EPSG:32632") as e:
        Stack(sample["msi"][:2], [None, other], bands=config.S2_BANDS)
    assert len(opened) == 3
    # Referenced as often as a dataset held by the list alone: the stack let go of them all.
    opened.append(gdal.Open(sample["msi"][0]))
    counts = [sys.getrefcount(ds) for ds in opened]
    opened.clear()  # e's traceback holds this frame in a cycle: hold no dataset in it either
    assert counts[:3] == [counts[3]] * 3, e.value



def test_a_stack_s_sources_own_their_datasets_until_it_closes(tmp_path, sample):
    """Each source holds its dataset (a SAR source also its view on the MSI grid) until the
    stack closes them; what the stack found of a mask (SCL or 0/1) and of a SAR raster (which
    bands are VV and VH) are fields of its source."""
    zero_one = make_raster(tmp_path / "m.tif", np.zeros((64, 64), np.uint8))
    swapped = make_raster(tmp_path / "s_20190411.tif", read_raster(sample["sar"][1])[::-1],
                          geotransform=(SAMPLE_GT[0], 20, 0, SAMPLE_GT[3], 0, -20),
                          descriptions=["VH", "VV"])
    st = Stack(sample["msi"][:2], [sample["scl"][0], zero_one], [sample["sar"][0], swapped],
               bands=config.S2_BANDS)
    assert all(type(m) is MaskSource for m in st.masks)
    assert all(type(s) is SarSource for s in st.sar) and type(st.msi[0]) is RasterSource
    assert [m.is_scl for m in st.masks] == [True, False]
    assert [s.vv_vh for s in st.sar] == [(0, 1), (1, 0)]
    assert st.msi[0].block_size == (64, 6)
    assert st.datasets([1], [1]) == [st.msi[1].dataset, st.masks[1].dataset, st.sar[1].warped]
    sources = [*st.msi, *st.masks, *st.sar]
    assert all(s.dataset is not None for s in sources) and all(s.warped for s in st.sar)
    st.close()
    assert all(s.dataset is None for s in sources) and all(s.warped is None for s in st.sar)
    assert st.msi[1].name == "S2_0000280849BAC91C_20190411.tif", "what is known stays known"

# ----- issue 12 item 3: the cloud buffer ---------------------------------------------------------
def _chebyshev_grown(seeds: np.ndarray, n: int) -> np.ndarray:
    """Pixels within Chebyshev distance ``n`` of a seed, by brute force."""
    ys, xs = np.nonzero(seeds)
    yy, xx = np.mgrid[:seeds.shape[0], :seeds.shape[1]]
    out = np.zeros(seeds.shape, bool)
    for y, x in zip(ys, xs):
        out |= np.maximum(abs(yy - y), abs(xx - x)) <= n
    return out


def _scl_scene() -> np.ndarray:
    """30 x 40 SCL, vegetation (4) with a cloud, a shadow at the edge, cirrus, no data, water."""
    scl = np.full((30, 40), 4, np.uint8)
    scl[10:13, 15:17] = 9      # cloud high
    scl[0, 39] = 3             # shadow in a corner: growing stops at the raster's edge
    scl[25, 5] = 10            # thin cirrus
    scl[20, 30] = 0            # no data: not grown
    scl[5, 5] = 6              # water: not cloudy
    scl[28, 30] = 7            # unclassified: cloudy only when chosen, and never grown
    return scl


@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_scl_clouds_and_shadows_grow_by_exactly_n_pixels(tmp_path, n):
    scl = _scl_scene()
    msi = _msi(tmp_path, "a_20190401.tif", np.full((4, 30, 40), 900, np.uint16), nodata=0,
               geotransform=(500000.0, 10.0, 0.0, 5650000.0, 0.0, -10.0))
    mask = make_raster(tmp_path / "scl.tif", scl, descriptions=["SCL"],
                       geotransform=(500000.0, 10.0, 0.0, 5650000.0, 0.0, -10.0))
    clouds = np.isin(scl, (3, 9, 10))
    want = _chebyshev_grown(clouds, n) | (scl == 0)
    with Stack([msi], [mask], bands=tuple(BANDS4), cloud_buffer=n) as st:
        got = st.read(0, 0, 40, 30).missing[0]
        np.testing.assert_array_equal(got, want)
        assert scan_missing(st, Feedback()).fractions == pytest.approx([want.mean()])
    assert got[20, 30] and not got[20, 29:32:2].any(), "no data is missing, but not grown"
    with Stack([msi], [mask], bands=tuple(BANDS4), cloud_buffer=n,
               scl_classes=(0, 3, 7, 8, 9, 10)) as st:
        got7 = st.read(0, 0, 40, 30).missing[0]
    np.testing.assert_array_equal(got7, want | (scl == 7))


def test_the_default_buffer_is_the_measured_one_shared_with_prepare(tmp_path):
    from smts_cloudfill_plugin.core.prepare import series as prepare
    from smts_cloudfill_plugin.core.read.clouds import DEFAULT_CLOUD_BUFFER, GROWN_CLASSES
    assert prepare.DEFAULT_CLOUD_BUFFER is DEFAULT_CLOUD_BUFFER == 3
    assert GROWN_CLASSES == (3, 8, 9, 10, 11)
    scl = _scl_scene()
    gt = (500000.0, 10.0, 0.0, 5650000.0, 0.0, -10.0)
    msi = _msi(tmp_path, "a_20190401.tif", np.full((4, 30, 40), 900, np.uint16), geotransform=gt)
    mask = make_raster(tmp_path / "scl.tif", scl, descriptions=["SCL"], geotransform=gt)
    with Stack([msi], [mask], bands=tuple(BANDS4)) as st:
        assert st.cloud_buffer == 3
        np.testing.assert_array_equal(st.read(0, 0, 40, 30).missing[0],
                                      _chebyshev_grown(np.isin(scl, (3, 9, 10)), 3) | (scl == 0))
    with pytest.raises(CloudFillError, match="cloud buffer is a number of pixels"):
        Stack([msi], [mask], bands=tuple(BANDS4), cloud_buffer=-1)


def test_a_zero_one_mask_is_taken_as_it_is(tmp_path):
    m = np.zeros((30, 40), np.uint8)
    m[10:13, 15:17] = 1
    gt = (500000.0, 10.0, 0.0, 5650000.0, 0.0, -10.0)
    msi = _msi(tmp_path, "a_20190401.tif", np.full((4, 30, 40), 900, np.uint16), geotransform=gt)
    mask = make_raster(tmp_path / "m.tif", m, geotransform=gt)
    with Stack([msi], [mask], bands=tuple(BANDS4), cloud_buffer=5) as st:
        np.testing.assert_array_equal(st.read(0, 0, 40, 30).missing[0], m.astype(bool))
        np.testing.assert_array_equal(st.read(14, 9, 5, 6).missing[0], m[9:15, 14:19] == 1)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_a_window_s_mask_is_the_crop_of_the_whole_raster_s(sample, n):
    """However the raster is cut (edges, corners, 1 px windows, windows smaller than the
    buffer), a window's missing mask is the crop of the whole raster's."""
    rng = np.random.default_rng(n)
    with Stack(sample["msi"], sample["scl"], bands=config.S2_BANDS, cloud_buffer=n) as st:
        whole = st.read(0, 0, st.width, st.height).missing
        windows = [(0, 0, 64, 64), (0, 0, 1, 1), (63, 63, 1, 1), (0, 30, 64, 5), (30, 0, 2, 64),
                   (61, 0, 3, 3)] + [tuple(int(v) for v in (x, y, rng.integers(1, 65 - x),
                                                              rng.integers(1, 65 - y)))
                                      for x, y in rng.integers(0, 64, (20, 2))]
        for x0, y0, w, h in windows:
            np.testing.assert_array_equal(st.read(x0, y0, w, h).missing,
                                          whole[:, y0:y0 + h, x0:x0 + w], f"{(x0, y0, w, h)}")
    with Stack(sample["msi"], sample["scl"], bands=config.S2_BANDS, cloud_buffer=0) as st:
        assert (whole.sum((1, 2)) >= st.read(0, 0, 64, 64).missing.sum((1, 2))).all()
        assert whole.sum() > st.read(0, 0, 64, 64).missing.sum()


def test_opening_a_stack_again_reads_no_thumbnail(tmp_path, sample, monkeypatch):
    """Every worker opens the stack again for every pass: what its opening finds by reading
    (masks' kind, float dates' encoding, SAR's units) is found once per unchanged file."""
    msi = [copy_raster(p, tmp_path / os.path.basename(p), outputType=gdal.GDT_Float32)
           for p in sample["msi"]]
    sar = [copy_raster(p, tmp_path / os.path.basename(p)) for p in sample["sar"]]
    with Stack(msi, sample["scl"], sar) as first:
        expected = (first.encodings, [m.is_scl for m in first.masks], first.sar_linear)
    reads: list[str] = []
    real_read, real_warped = RasterSource.read, SarSource.read_warped
    monkeypatch.setattr(RasterSource, "read", lambda self, *a, **k: reads.append(self.name)
                        or real_read(self, *a, **k))
    monkeypatch.setattr(SarSource, "read_warped", lambda self, *a, **k: reads.append(self.name)
                        or real_warped(self, *a, **k))
    with Stack(msi, sample["scl"], sar) as again:
        assert (again.encodings, [m.is_scl for m in again.masks], again.sar_linear) == expected
    assert reads == []
