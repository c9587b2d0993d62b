"""Writer: GeoTIFFs like their input, written under a temporary name, all or nothing."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from core_helpers import list_files, make_raster, raster_info, read_raster
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.write.folder_lock import check_writable
from smts_cloudfill_plugin.core.write.output_set import OutputSet
from smts_cloudfill_plugin.core.write.raster import RasterWriter

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
    like = raster_info(src)
    dst = tmp_path / "dst.tif"
    with OutputSet() as outs:
        w = outs.add(RasterWriter(str(dst), like, metadata={"EXTRA": "1"}))
        w.write(0, 0, data[:, :4])
        w.write(0, 4, data[:, 4:])
        assert not dst.exists(), "the final name appears only on commit"
    assert list_files(tmp_path) == ["dst.tif", "src.tif"]
    ds, back = gdal.Open(str(dst)), raster_info(dst, "output")
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
    like = raster_info(src)
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
    like = raster_info(src)
    with OutputSet() as outs:
        outs.add(RasterWriter(str(tmp_path / "o.tif"), like)).write(0, 0, data)
    out = read_raster(tmp_path / "o.tif")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data)


def test_large_output_is_tiled(tmp_path):
    src = make_raster(tmp_path / "src.tif", np.zeros((1, 300, 280), np.uint16))
    like = raster_info(src)
    with OutputSet() as outs:
        outs.add(RasterWriter(str(tmp_path / "o.tif"), like)).write(
            0, 0, np.arange(300 * 280, dtype=np.uint16).reshape(1, 300, 280))
    ds = gdal.Open(str(tmp_path / "o.tif"))
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]
    assert ds.ReadAsArray()[299, 279] == (300 * 280 - 1) % 65536


def test_an_exception_leaves_no_file_at_all(tmp_path):
    src = make_raster(tmp_path / "in" / "src.tif", np.ones((2, 5, 5), np.uint16))
    like = raster_info(src)
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
    like = raster_info(src)
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


# ----- leftovers, all-or-nothing commit, one run per folder, SIGTERM (issue 11, items 6-8) -----
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

from core_helpers import REPO_ROOT, SUBPROCESS_ENV, readline_within  # noqa: E402
from smts_cloudfill_plugin.core.write.folder_lock import (LOCK_NAME, clean_stale_parts,  # noqa: E402
                                                      folder_lock)

# A child that opens an output set (and the folder lock), writes a part, says "ready" and waits.
CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from smts_cloudfill_plugin.core.read.raster import RasterSource
    from smts_cloudfill_plugin.core.write.folder_lock import folder_lock
    from smts_cloudfill_plugin.core.write.output_set import OutputSet
    from smts_cloudfill_plugin.core.write.raster import RasterWriter
    src, out = sys.argv[1], sys.argv[2]
    like = RasterSource.open(src, "input")
    like.close()
    with folder_lock(out), OutputSet() as outs:
        outs.add(RasterWriter(out + "/a_filled.tif", like)).write(0, 0, np.ones((2, 5, 5), np.uint16))
        print("ready", flush=True)
        time.sleep(60)
""")


def start_child(tmp_path, code: str = CHILD, *args: str) -> subprocess.Popen:
    src = make_raster(tmp_path / "in" / "src.tif", np.ones((2, 5, 5), np.uint16))
    (tmp_path / "out").mkdir(exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", code, src, str(tmp_path / "out"), *args],
                             cwd=REPO_ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    if readline_within(child, child.stdout, 60).strip() != "ready":
        child.kill()
        pytest.fail(child.communicate(timeout=30)[1])
    return child


def test_parts_and_lock_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    child = start_child(tmp_path)
    out = tmp_path / "out"
    assert any(n.endswith(".part") for n in list_files(out)) and LOCK_NAME in list_files(out)
    child.kill()  # kill -9: no cleanup runs in the child
    child.wait(30)
    older = out / ".b_filled.tif.1a2b3c4d.part"  # the naming of earlier versions
    older.write_bytes(b"x" * 10)
    foreign = out / "notes.part"  # not ours: kept
    foreign.write_text("x")
    with folder_lock(str(out)):
        assert list_files(out) == sorted([LOCK_NAME, "notes.part"])
    assert list_files(out) == ["notes.part"]


def test_check_writable_keeps_the_parts_of_a_live_run(tmp_path):
    child = start_child(tmp_path)
    try:
        out = tmp_path / "out"
        check_writable(str(out))
        assert clean_stale_parts(str(out)) == []
        assert any(n.endswith(".part") for n in list_files(out))
    finally:
        child.kill()
        child.wait(30)
    assert len(clean_stale_parts(str(out))) == 1
    assert not any(n.endswith(".part") for n in list_files(out))


def test_sigterm_stops_like_a_cancel(tmp_path):
    child = start_child(tmp_path)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert "Terminated" in err and "Traceback" in err  # the child's own script does not catch it
    assert list_files(tmp_path / "out") == [], "no part, no lock, no output"


@pytest.mark.slow
def test_cli_exits_143_on_sigterm_with_nothing_written(tmp_path):
    code = textwrap.dedent("""
        import sys, time
        import numpy as np
        import smts_cloudfill_plugin.core.reconstruct as rec
        from smts_cloudfill_plugin.core.__main__ import main
        from smts_cloudfill_plugin.core.read.raster import RasterSource
        from smts_cloudfill_plugin.core.write.output_set import OutputSet
        from smts_cloudfill_plugin.core.write.raster import RasterWriter
        def fake(msi, out, **kw):
            like = RasterSource.open(msi[0], "input")
            like.close()
            with OutputSet() as outs:
                outs.add(RasterWriter(out + "/a_filled.tif", like)).write(0, 0, np.ones((2, 5, 5), np.uint16))
                print("ready", flush=True)
                time.sleep(60)
        rec.reconstruct = fake
        sys.exit(main(["reconstruct", "--msi", sys.argv[1], "--out", sys.argv[2]]))
    """)
    child = start_child(tmp_path, code)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 143, err
    assert "SIGTERM" in err and "Traceback" not in err
    assert list_files(tmp_path / "out") == []


def test_a_second_run_into_the_folder_is_refused(tmp_path):
    child = start_child(tmp_path)
    try:
        with pytest.raises(CloudFillError, match=r"in use by another SMTS CloudFill run \(process "
                                                 rf"{child.pid} on this computer"):
            with folder_lock(str(tmp_path / "out")):
                pass
    finally:
        child.kill()
        child.wait(30)


def test_folder_lock_is_taken_once_and_released(tmp_path):
    """The engine alone takes the lock: a second taking, even in the same thread, is refused
    (it is not re-entrant) and leaves the first one held; the lock goes with the block."""
    with folder_lock(str(tmp_path)):
        with pytest.raises(CloudFillError, match="in use by another SMTS CloudFill run"):
            with folder_lock(str(tmp_path)):
                pass
        assert LOCK_NAME in list_files(tmp_path)
    assert list_files(tmp_path) == []


def test_a_failed_rename_leaves_no_partial_set(tmp_path):
    src = make_raster(tmp_path / "in" / "src.tif", np.ones((2, 5, 5), np.uint16))
    like = raster_info(src)
    out = tmp_path / "out"
    out.mkdir()
    old = make_raster(out / "a.tif", np.full((1, 5, 5), 3, np.uint16))
    (out / "c.tif").mkdir()  # a folder where an output must go
    with pytest.raises(CloudFillError, match=r"Cannot put 'c.tif' in place: .* is a folder\. "
                                             "Nothing was written"):
        with OutputSet() as outs:
            for name in ("a.tif", "b.tif", "c.tif", "d.tif"):
                outs.add(RasterWriter(str(out / name), like)).write(0, 0, np.ones((2, 5, 5),
                                                                                   np.uint16))
    assert list_files(out) == ["a.tif"], "no new output, no part"
    assert (read_raster(old) == 3).all(), "the older output is kept"


def test_a_rename_failing_midway_is_rolled_back(tmp_path, monkeypatch):
    src = make_raster(tmp_path / "in" / "src.tif", np.ones((2, 5, 5), np.uint16))
    like = raster_info(src)
    out = tmp_path / "out"
    out.mkdir()
    old = make_raster(out / "a.tif", np.full((1, 5, 5), 3, np.uint16))
    real_replace = os.replace

    def replace(a, b):
        if str(b).endswith("c.tif"):
            raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(CloudFillError, match=r"Cannot put '.*c.tif' in place: No space left"):
        with OutputSet() as outs:
            for name in ("a.tif", "b.tif", "c.tif"):
                outs.add(RasterWriter(str(out / name), like)).write(0, 0, np.ones((2, 5, 5),
                                                                                   np.uint16))
    assert list_files(out) == ["a.tif"]
    assert (read_raster(old) == 3).all()


@pytest.mark.slow
def test_gdal_exception_mode_is_left_as_found(tmp_path):
    """Other plugins in the QGIS process keep GDAL's mode: ours is on only while we read/write."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from osgeo import gdal
        import smts_cloudfill_plugin.core.reconstruct, smts_cloudfill_plugin.core.__main__
        from smts_cloudfill_plugin.core.read.raster import RasterSource
        from smts_cloudfill_plugin.core.read.stack import Stack
        from smts_cloudfill_plugin.core.write.output_set import OutputSet
        from smts_cloudfill_plugin.core.write.raster import RasterWriter
        assert not gdal.GetUseExceptions(), "set at import"
        with Stack([sys.argv[1]]) as st:
            assert gdal.GetUseExceptions()
            with OutputSet() as outs:
                outs.add(RasterWriter(sys.argv[2] + "/o.tif", st.msi[0]))
        assert not gdal.GetUseExceptions(), "left on"
        like = RasterSource.open(sys.argv[1], "input")
        assert not gdal.GetUseExceptions()
        like.close()
        print("ok")
    """)
    src = make_raster(tmp_path / "src.tif", np.ones((4, 5, 5), np.uint16))
    done = subprocess.run([sys.executable, "-c", code, src, str(tmp_path)], cwd=REPO_ROOT,
                          env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_long_output_names_get_a_part_name_that_fits(tmp_path):
    """An input name of 230 characters: its output name fits the file system, so the run must
    not fail on the temporary name (it did: the part name added about 25 characters)."""
    from smts_cloudfill_plugin.core.write.output_set import PART_NAME, part_path
    long_name = "S2_" + "x" * 220 + "_filled.tif"
    assert len(long_name) <= 255
    part = part_path(str(tmp_path / long_name))
    base = os.path.basename(part)
    assert len(base.encode()) <= 255 and PART_NAME.match(base)
    with open(part, "w") as f:  # the file system takes it
        f.write("x")
    os.replace(part, tmp_path / long_name)
    assert (tmp_path / long_name).exists()
    short = os.path.basename(part_path(str(tmp_path / "a.tif")))
    assert short.startswith(".a.tif.") and PART_NAME.match(short)
