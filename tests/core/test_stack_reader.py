"""Stack reader: masks, no data, band order, value encodings and SAR on another grid."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from core_helpers import SAMPLE_GT, make_raster, read_raster
from smts_cloudfill_plugin.core import config
from smts_cloudfill_plugin.core.clouds import scl_to_mask
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.stack_reader import Stack, canonical_band

BANDS4 = ["B02", "B03", "B04", "B08"]


def _msi(tmp_path, name, data, **kw):
    kw.setdefault("descriptions", BANDS4)
    return make_raster(tmp_path / name, data, **kw)


def test_scl_mask_raster_through_the_stack(tmp_path):
    scl = np.arange(12, dtype=np.uint8).reshape(3, 4)
    msi = _msi(tmp_path, "a_20190401.tif", np.full((4, 3, 4), 1000, np.uint16), nodata=0)
    mask = make_raster(tmp_path / "scl.tif", scl, descriptions=["SCL"])
    with Stack([msi], [mask], bands=tuple(BANDS4)) as st:
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
        assert st.cloud_fractions() == pytest.approx([m.mean(), 0, 0])


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
        assert st.band_index == [1, 2, 3, 0]
        np.testing.assert_allclose(st.read(0, 0, 2, 2).msi[0, :, 0, 0], [2e-3, 3e-3, 4e-3, 1e-3])
    with pytest.raises(CloudFillError, match="missing: B05"):
        Stack([path], bands=("B02", "B05"))
    unnamed = make_raster(tmp_path / "u.tif", data)
    with Stack([unnamed], bands=("B02", "B03", "B04", "B08")) as st:
        assert st.band_index == [0, 1, 2, 3]
    with pytest.raises(CloudFillError, match="without names"):
        Stack([unnamed], bands=config.S2_BANDS)
    assert [canonical_band(s) for s in ("B2", "b02", "B8A", "B02 (blue)", "vv", "")] == \
        ["B02", "B02", "B8A", "B02", "VV", ""]


def test_sample_stack_dates_and_fractions(sample):
    with Stack(sample["msi"], sample["scl"], sample["sar"], bands=config.S2_BANDS) as st:
        assert st.dates == [dt.date(2019, 4, d) for d in (1, 11, 21, 26)] + \
            [dt.date(2019, 5, 11), dt.date(2019, 5, 16)]
        assert st.sar_dates == [dt.date(2019, 3, 30), dt.date(2019, 4, 11), dt.date(2019, 4, 23),
                                dt.date(2019, 5, 5), dt.date(2019, 5, 17)]
        f = st.cloud_fractions()
        # README: 0 %, 7.9 %, 0 %, 31.2 %, 0 %, 0 %
        assert f == pytest.approx([0, 0.079, 0, 0.312, 0, 0], abs=0.001)
        assert st.encoding == "dn"


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
