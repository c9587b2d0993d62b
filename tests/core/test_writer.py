"""Writer: GeoTIFFs like their input, written under a temporary name, all or nothing."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from core_helpers import list_files, make_raster, read_raster
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.stack_reader import open_raster
from smts_cloudfill_plugin.core.writer import OutputSet, RasterWriter, check_writable

GT = (500000.0, 20.0, 0.0, 4600000.0, 0.0, -20.0)


@pytest.mark.parametrize("dtype, nodata, scale, offset", [
    (np.uint16, 0, [1e-4, 2e-4, 1e-4], [0.0, -0.1, 0.0]),
    (np.int16, -9999, None, None),
    (np.float32, float("nan"), None, None),
    (np.uint8, 255, 0.5, 3.0),
])
def test_round_trip_keeps_everything(tmp_path, dtype, nodata, scale, offset):
    rng = np.random.default_rng(1)
    data = (rng.random((3, 7, 11)) * 200).astype(dtype)
    meta = {"ACQUISITION_DATE": "2019-04-26", "SOURCE": "test"}
    src = make_raster(tmp_path / "src.tif", data, geotransform=GT, epsg=32633, nodata=nodata,
                      descriptions=["B02", "B03", "B04"], scale=scale, offset=offset, metadata=meta)
    _, like = open_raster(src, "input")
    dst = tmp_path / "dst.tif"
    with OutputSet() as outs:
        w = outs.add(RasterWriter(str(dst), like, metadata={"EXTRA": "1"}))
        w.write(0, 0, data[:, :4])
        w.write(0, 4, data[:, 4:])
        assert not dst.exists(), "the final name appears only on commit"
    assert list_files(tmp_path) == ["dst.tif", "src.tif"]
    ds, back = gdal.Open(str(dst)), open_raster(str(dst), "output")[1]
    np.testing.assert_array_equal(read_raster(dst), data)
    assert read_raster(dst).dtype == np.dtype(dtype)
    assert back.geotransform == GT
    assert ds.GetSpatialRef().GetAuthorityCode(None) == "32633"
    assert back.descriptions == ["B02", "B03", "B04"]
    if np.isnan(nodata):
        assert all(np.isnan(n) for n in back.nodata)
    else:
        assert back.nodata == [nodata] * 3
    assert back.scales == pytest.approx(like.scales) and back.offsets == pytest.approx(like.offsets)
    if scale is not None:
        assert back.scales != [1.0] * 3
    for k, v in meta.items():
        assert back.metadata[k] == v
    assert back.metadata["EXTRA"] == "1"


def test_single_band_output_with_its_own_type(tmp_path):
    src = make_raster(tmp_path / "src.tif", np.ones((4, 5, 6), np.uint16), nodata=0,
                      descriptions=list("abcd"), scale=1e-4)
    _, like = open_raster(src, "input")
    with OutputSet() as outs:
        w = outs.add(RasterWriter(str(tmp_path / "m.tif"), like, band_count=1, dtype=np.uint8,
                                  descriptions=["filled"], nodata=None))
        w.write(0, 0, np.eye(5, 6, dtype=np.uint8))
    ds = gdal.Open(str(tmp_path / "m.tif"))
    assert ds.RasterCount == 1 and ds.GetRasterBand(1).DataType == gdal.GDT_Byte
    assert ds.GetRasterBand(1).GetNoDataValue() is None
    assert ds.GetRasterBand(1).GetDescription() == "filled"
    assert ds.GetRasterBand(1).GetScale() in (None, 1.0)
    np.testing.assert_array_equal(ds.ReadAsArray(), np.eye(5, 6))


def test_float32_reflectance_stays_float32(tmp_path):
    data = np.random.default_rng(0).random((2, 6, 6)).astype(np.float32) * 0.3
    src = make_raster(tmp_path / "src.tif", data)
    _, like = open_raster(src, "input")
    with OutputSet() as outs:
        outs.add(RasterWriter(str(tmp_path / "o.tif"), like)).write(0, 0, data)
    out = read_raster(tmp_path / "o.tif")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data)


def test_large_output_is_tiled(tmp_path):
    src = make_raster(tmp_path / "src.tif", np.zeros((1, 300, 280), np.uint16))
    _, like = open_raster(src, "input")
    with OutputSet() as outs:
        outs.add(RasterWriter(str(tmp_path / "o.tif"), like)).write(
            0, 0, np.arange(300 * 280, dtype=np.uint16).reshape(1, 300, 280))
    ds = gdal.Open(str(tmp_path / "o.tif"))
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]
    assert ds.ReadAsArray()[299, 279] == (300 * 280 - 1) % 65536


def test_an_exception_leaves_no_file_at_all(tmp_path):
    src = make_raster(tmp_path / "in" / "src.tif", np.ones((2, 5, 5), np.uint16))
    _, like = open_raster(src, "input")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        with OutputSet() as outs:
            a = outs.add(RasterWriter(str(out / "a.tif"), like))
            outs.add(RasterWriter(str(out / "b.tif"), like, band_count=1))
            a.write(0, 0, np.ones((2, 5, 5), np.uint16))
            assert len(list_files(out)) == 2, "temporary files exist while writing"
            raise RuntimeError("boom")
    assert list_files(out) == []


def test_commit_replaces_an_older_output(tmp_path):
    src = make_raster(tmp_path / "src.tif", np.full((1, 3, 3), 7, np.uint16))
    old = make_raster(tmp_path / "o.tif", np.zeros((1, 9, 9), np.uint8))
    _, like = open_raster(src, "input")
    with OutputSet() as outs:
        outs.add(RasterWriter(old, like)).write(0, 0, np.full((1, 3, 3), 7, np.uint16))
    assert read_raster(old).shape == (1, 3, 3) and (read_raster(old) == 7).all()


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CloudFillError, match="Cannot create the output folder"):
        check_writable(str(blocker / "sub"))
    check_writable(str(tmp_path / "new" / "deep"))
    assert (tmp_path / "new" / "deep").is_dir()
