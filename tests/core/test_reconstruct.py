"""Reconstruct end to end on the shipped sample, with a small random-init model (window 20)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from osgeo import gdal

from core_helpers import copy_raster, list_files, make_raster, read_raster
from smts_cloudfill_plugin.core.read.clouds import dilate, scl_to_mask
from core_helpers import CallbackFeedback
from smts_cloudfill_plugin.core.fill.settings import FillSettings
from smts_cloudfill_plugin.core.reconstruct import output_paths, reconstruct
from smts_cloudfill_plugin.core.read.clouds import DEFAULT_CLOUD_BUFFER
from smts_cloudfill_plugin.core.read.stack import Stack
from smts_cloudfill_plugin.core.feather import blend_weights
from smts_cloudfill_plugin.core.plan.windows import plan_windows
from smts_cloudfill_plugin.core.model.weights import load_model


def scl_missing(scl: np.ndarray, buffer: int = DEFAULT_CLOUD_BUFFER) -> np.ndarray:
    """What Reconstruct fills by default: SCL clouds and shadows grown by ``buffer``, no data."""
    return dilate(np.isin(scl, (3, 8, 9, 10, 11)), buffer) | (scl == 0)


def _expected_reflectance(weights: str, msi, scl, sar, overlap: int) -> np.ndarray:
    """The model's blended prediction for the whole raster, computed window by window here.

    Independent of the strip logic in reconstruct: every window is predicted on its own and
    accumulated in full-size arrays with the documented weights.
    """
    model, info = load_model(weights)
    size = info.config.window
    with Stack(msi, scl, sar, bands=info.config.msi_bands) as st:
        acc = np.zeros((6, 10, st.height, st.width))
        wsum = np.zeros((st.height, st.width))
        weights2d = blend_weights(size, overlap).astype(np.float64)
        for row in plan_windows(st.width, st.height, size, overlap):
            for w in row:
                win = st.read(w.x0, w.y0, w.w, w.h, sar_indices=list(range(5)))
                pad = ((0, size - w.h), (0, size - w.w))
                m = np.pad(win.msi, ((0, 0), (0, 0), *pad))
                miss = np.pad(win.missing, ((0, 0), *pad), constant_values=True)
                s = np.pad(win.sar, ((0, 0), (0, 0), *pad), constant_values=np.nan)
                with torch.no_grad():
                    p = model(torch.from_numpy(m)[None], torch.from_numpy(miss)[None],
                              torch.from_numpy(s)[None])[0].numpy()
                wt = weights2d[:w.h, :w.w]
                acc[..., w.y0:w.y0 + w.h, w.x0:w.x0 + w.w] += p[..., :w.h, :w.w] * wt
                wsum[w.y0:w.y0 + w.h, w.x0:w.x0 + w.w] += wt
    return acc / wsum


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, small_weights):
    from core_helpers import sample_paths
    msi, scl, sar = sample_paths("msi"), sample_paths("scl"), sample_paths("sar")
    out = tmp_path_factory.mktemp("out")
    progress = []
    # The model's own values (no self-check blending): what the tests below recompute.
    results = reconstruct(msi, str(out), masks=scl, sar=sar, weights=small_weights, device="cpu",
                          batch_size=3, self_check=False,
                          feedback=CallbackFeedback(on_progress=progress.append))
    return {"msi": msi, "scl": scl, "sar": sar, "out": out, "results": results,
            "progress": progress}


def test_every_cloudy_date_gets_both_files_and_nothing_else(sample_run):
    results, out = sample_run["results"], sample_run["out"]
    cloudy = [i for i, p in enumerate(sample_run["scl"]) if scl_to_mask(read_raster(p)[0]).any()]
    assert cloudy == [1, 3], "sample README: 2019-04-11 and 2019-04-26 are the cloudy dates"
    assert [r.date_index for r in results] == cloudy
    expected = []
    for r in results:
        path, mask_path = output_paths(sample_run["msi"][r.date_index], str(out))
        assert (r.path, r.mask_path) == (path, mask_path)
        assert path.endswith("_filled.tif") and mask_path.endswith("_filled_mask.tif")
        expected += [os.path.basename(path), os.path.basename(mask_path)]
    assert list_files(out) == sorted(expected + ["cloudfill_log.txt"]), \
        "no temporary or extra files"
    p = sample_run["progress"]
    assert p == sorted(p) and p[-1] == pytest.approx(1.0)


def test_clear_pixels_are_bit_exact_and_mask_is_the_scl_mask(sample_run):
    for r in sample_run["results"]:
        src = read_raster(sample_run["msi"][r.date_index])
        out = read_raster(r.path)
        mask = read_raster(r.mask_path)[0]
        scl_mask = scl_missing(read_raster(sample_run["scl"][r.date_index])[0])
        assert scl_mask.sum() > scl_to_mask(read_raster(sample_run["scl"][r.date_index])[0]).sum()
        assert out.dtype == src.dtype == np.uint16 and out.shape == src.shape
        assert mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, scl_mask.astype(np.uint8))
        np.testing.assert_array_equal(out[:, ~scl_mask], src[:, ~scl_mask])
        assert r.cloud_fraction == pytest.approx(scl_mask.mean())
        # Cloudy pixels take new values (the clouds were bright), never the no-data DN 0.
        changed = (out != src)[:, scl_mask]
        assert changed.mean() > 0.95
        assert (out[:, scl_mask] >= 1).all()


def test_cloudy_pixels_take_the_blended_model_values(sample_run, small_weights):
    expected = _expected_reflectance(small_weights, sample_run["msi"], sample_run["scl"],
                                     sample_run["sar"], overlap=20 // 3)
    for r in sample_run["results"]:
        mask = read_raster(r.mask_path)[0].astype(bool)
        out = read_raster(r.path).astype(np.float64)
        want = np.clip(np.rint(expected[r.date_index] * 1e4), 1, 65535)
        diff = np.abs(out - want)[:, mask]
        assert diff.max() <= 1, f"filled values are not the model's (max {diff.max()} DN)"
        assert (diff == 0).mean() > 0.99


def test_outputs_keep_georeferencing_and_band_names(sample_run):
    for r in sample_run["results"]:
        src = gdal.Open(sample_run["msi"][r.date_index])
        for path in (r.path, r.mask_path):
            ds = gdal.Open(path)
            assert ds.GetGeoTransform() == src.GetGeoTransform()
            assert ds.GetSpatialRef().IsSame(src.GetSpatialRef())
            assert ds.GetMetadataItem("SMTS_MODEL") == "SMTS-ViT"
            assert ds.GetMetadataItem("SMTS_SOURCE") == os.path.basename(src.GetDescription())
        ds = gdal.Open(r.path)
        assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(10)] == \
            [src.GetRasterBand(i + 1).GetDescription() for i in range(10)]
        assert ds.GetRasterBand(1).GetNoDataValue() == 0
        assert ds.GetMetadataItem("ACQUISITION_DATE") == src.GetMetadataItem("ACQUISITION_DATE")
        assert gdal.Open(r.mask_path).GetRasterBand(1).GetNoDataValue() is None


@pytest.mark.parametrize("win", [[27, 41, 37, 23], [24, 50, 13, 9]])
def test_odd_size_raster(tmp_path, sample, small_weights, win):
    """37 x 23 and 13 x 9 px cropped from the sample: windows stick out or exceed the raster;
    SAR stays on its own 20 m grid."""
    msi = [copy_raster(p, tmp_path / "in" / os.path.basename(p), srcWin=win) for p in sample["msi"]]
    scl = [copy_raster(p, tmp_path / "in" / os.path.basename(p), srcWin=win) for p in sample["scl"]]
    clouds = [scl_missing(read_raster(p)[0]) for p in scl]
    cloudy = [i for i, c in enumerate(clouds) if c.any()]
    assert len(cloudy) == 2, "both cloudy dates have clouds in this crop"
    out = tmp_path / "out"
    results = reconstruct(msi, str(out), masks=scl, sar=sample["sar"], weights=small_weights,
                          device="cpu", self_check=False)
    assert [r.date_index for r in results] == cloudy
    assert len(list_files(out)) == 5, "two dates' image and mask, and the run log"
    expected = _expected_reflectance(small_weights, msi, scl, sample["sar"], overlap=20 // 3)
    for r in results:
        src = read_raster(msi[r.date_index])
        res = read_raster(r.path)
        cloud = clouds[r.date_index]
        assert res.shape == src.shape == (10, win[3], win[2])
        np.testing.assert_array_equal(read_raster(r.mask_path)[0], cloud.astype(np.uint8))
        np.testing.assert_array_equal(res[:, ~cloud], src[:, ~cloud])
        want = np.clip(np.rint(expected[r.date_index] * 1e4), 1, 65535)
        assert np.abs(res.astype(np.float64) - want)[:, cloud].max() <= 1
        gt = gdal.Open(r.path).GetGeoTransform()
        assert gt == pytest.approx((574680.0 + 10 * win[0], 10.0, 0.0,
                                    5622440.0 - 10 * win[1], 0.0, -10.0))


def test_float_reflectance_in_gives_float_reflectance_out(tmp_path, sample, sample_run,
                                                          small_weights):
    msi = []
    for p in sample["msi"]:
        ds = gdal.Open(p)
        refl = (ds.ReadAsArray().astype(np.float64) * 1e-4).astype(np.float32)
        names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
        msi.append(make_raster(tmp_path / "in" / os.path.basename(p), refl, descriptions=names,
                               nodata=float("nan")))
    out = tmp_path / "out"
    results = reconstruct(msi, str(out), masks=sample["scl"], sar=sample["sar"],
                          weights=small_weights, device="cpu", self_check=False)
    assert [r.date_index for r in results] == [1, 3]
    for r, dn_run in zip(results, sample_run["results"]):
        src = read_raster(msi[r.date_index])
        res = read_raster(r.path)
        assert res.dtype == np.float32
        cloud = read_raster(r.mask_path)[0].astype(bool)
        np.testing.assert_array_equal(res[:, ~cloud], src[:, ~cloud])
        # Same model, same inputs: the DN run's values are these reflectances x 1e4, rounded.
        dn = read_raster(dn_run.path).astype(np.float64)
        np.testing.assert_allclose(res[:, cloud] * 1e4, dn[:, cloud], atol=0.51)


def test_no_cloudy_date_writes_nothing(tmp_path, sample, small_weights):
    clear = [0, 2, 4, 5, 0, 2]
    # The clear dates' SCL for every date, without their dates (a mask of another date is
    # refused): nothing is cloudy, nothing is written.
    masks = [make_raster(tmp_path / f"clear_{k}.tif", read_raster(sample["scl"][i])[0],
                         descriptions=["SCL"]) for k, i in enumerate(clear)]
    assert reconstruct(sample["msi"], str(tmp_path / "out"), masks=masks, sar=sample["sar"],
                       weights=small_weights, device="cpu") == []
    assert list_files(tmp_path / "out") == []


def test_sar_order_does_not_matter(tmp_path, sample, sample_run, small_weights):
    """SAR given out of date order reaches the model in date order: same result."""
    shuffled = [sample["sar"][i] for i in (3, 0, 4, 2, 1)]
    results = reconstruct(sample["msi"], str(tmp_path), masks=sample["scl"], sar=shuffled,
                          weights=small_weights, device="cpu", self_check=False)
    for r, ref in zip(results, sample_run["results"]):
        np.testing.assert_array_equal(read_raster(r.path), read_raster(ref.path))


def test_each_date_is_filled_in_its_own_type_and_band_order(tmp_path, sample, sample_run,
                                                             small_weights):
    """2019-04-26 as Float32 reflectance and 2019-04-11 with its bands in reverse order, in the
    UInt16 sample: each output keeps its input's type, scale and band order, with the values of
    the plain run (before: the Float32 date's clear pixels came out 0, the reversed one's fill
    went to the wrong bands)."""
    msi = list(sample["msi"])
    ds = gdal.Open(msi[3])
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    refl = (ds.ReadAsArray().astype(np.float64) * 1e-4).astype(np.float32)
    msi[3] = make_raster(tmp_path / "in" / os.path.basename(msi[3]), refl, descriptions=names,
                         nodata=float("nan"))
    order = list(range(10))[::-1]
    msi[1] = make_raster(tmp_path / "in" / os.path.basename(msi[1]), read_raster(msi[1])[order],
                         descriptions=[names[i] for i in order], nodata=0)
    results = reconstruct(msi, str(tmp_path / "out"), masks=sample["scl"], sar=sample["sar"],
                          weights=small_weights, device="cpu", self_check=False)
    assert [r.date_index for r in results] == [1, 3]
    plain = {r.date_index: read_raster(r.path) for r in sample_run["results"]}
    for r in results:
        src, res = read_raster(msi[r.date_index]), read_raster(r.path)
        cloud = read_raster(r.mask_path)[0].astype(bool)
        assert res.dtype == src.dtype and cloud.any()
        np.testing.assert_array_equal(res[:, ~cloud], src[:, ~cloud])
    reversed_out = read_raster(results[0].path)
    np.testing.assert_array_equal(reversed_out[order], plain[1])
    float_out = read_raster(results[1].path).astype(np.float64)
    cloud = read_raster(results[1].mask_path)[0].astype(bool)
    np.testing.assert_allclose(float_out[:, cloud] * 1e4, plain[3][:, cloud], atol=0.51)


def _clouds_in_part(tmp_path, scl: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """The sample's SCL with the clouds of 2019-04-11 kept in its left 22 columns only (its
    clouds are at the bottom) and those of 2019-04-26 in the top-right corner only (clear
    vegetation elsewhere)."""
    parts = {1: (slice(None), slice(0, 22)), 3: (slice(0, 12), slice(40, None))}
    paths, clouds = [], []
    for t, p in enumerate(scl):
        a = read_raster(p)[0]
        if t in parts:
            part = np.full(a.shape, 4, a.dtype)
            part[parts[t]] = a[parts[t]]
            a = part
        dst = copy_raster(p, tmp_path / "scl" / os.path.basename(p))
        ds = gdal.Open(dst, gdal.GA_Update)
        ds.GetRasterBand(1).WriteArray(a)
        ds = None
        paths.append(dst)
        clouds.append(scl_missing(a))
    return paths, clouds


@pytest.mark.parametrize("self_check, batch, block_windows", [(False, 3, 4), (True, 2, 1)])
def test_clear_windows_are_skipped_with_the_same_bits(tmp_path, sample,
                                                      small_weights, self_check, batch,
                                                      block_windows):
    """Clouds in two corners: only the windows that touch them run, and every output pixel
    has the bits of the run where every window runs (the reference, as before)."""
    scl, clouds = _clouds_in_part(tmp_path, sample["scl"])
    assert [t for t, c in enumerate(clouds) if c.any()] == [1, 3]
    runs = {}
    for skip in (False, True):
        messages: list[str] = []
        progress: list[float] = []
        results = reconstruct(sample["msi"], str(tmp_path / f"out_{skip}"), masks=scl,
                              sar=sample["sar"], weights=small_weights, device="cpu",
                              batch_size=batch, self_check=self_check,
                              feedback=CallbackFeedback(on_progress=progress.append,
                                                        on_message=messages.append),
                              fill=FillSettings(block_windows=block_windows,
                                                skip_clear_windows=skip))
        ran = [m for m in messages if "windows run" in m]
        assert len(ran) == 1, "one group: dates 1 and 3 share their six dates"
        runs[skip] = results, ran[0]
        assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    for skipped, every in zip(runs[True][0], runs[False][0]):
        assert skipped.date_index == every.date_index
        mask = read_raster(skipped.mask_path)[0]
        np.testing.assert_array_equal(mask, clouds[skipped.date_index].astype(np.uint8))
        np.testing.assert_array_equal(read_raster(skipped.path), read_raster(every.path))
        np.testing.assert_array_equal(mask, read_raster(every.mask_path)[0])
    windows = [w for row in plan_windows(64, 64, 20, 20 // 3) for w in row]
    touched = sum(bool((clouds[1] | clouds[3])[w.y0:w.y0 + w.h, w.x0:w.x0 + w.w].any())
                  for w in windows)
    assert 0 < touched < len(windows) == 25
    assert runs[False][1].strip() == "25 of 25 windows run (0 skipped: no missing pixel on the " \
                                     "dates filled)."
    assert runs[True][1].strip().startswith(f"{touched} of 25 windows run ({25 - touched} skipped")


def test_a_season_is_filled_in_the_passes_its_cover_plans_with_the_same_bits_skipped_or_not(
        tmp_path, sample, small_weights):
    """Twelve dates 10 days apart (the sample's six, twice), six of them with a cloud: one pass
    per group of the cover (each cloudy date with two dates on either side where the season
    allows), every cloudy date written once, by the group that serves it; and the same bits
    whether the windows with nothing missing on a pass's dates run or not."""
    import datetime as dt

    from smts_cloudfill_plugin.core.plan.date_groups import GROUP_MARGIN, cover_dates, serves
    start, cloudy = dt.date(2019, 4, 1), [1, 2, 4, 6, 7, 10]
    rng = np.random.default_rng(5)
    msi, masks, sar = [], [], []
    for i in range(12):
        day = start + dt.timedelta(days=10 * i)
        msi.append(copy_raster(sample["msi"][i % 6], tmp_path / "msi" / f"S2_{day:%Y%m%d}.tif"))
        cloud = np.zeros((64, 64), np.uint8)
        if i in cloudy:
            y, x = rng.integers(0, 44, 2)
            cloud[y:y + 20, x:x + 20] = 1
        masks.append(make_raster(tmp_path / "masks" / f"C_{day:%Y%m%d}.tif", cloud))
    for i in range(11):
        day = start + dt.timedelta(days=11 * i)
        sar.append(copy_raster(sample["sar"][i % 5], tmp_path / "sar" / f"S1_{day:%Y%m%d}.tif"))
    plan = cover_dates(cloudy, 12, 6)
    assert 1 < len(plan) < len(cloudy), "fewer passes than cloudy dates, more than one"
    runs = {}
    for skip in (False, True):
        messages: list[str] = []
        runs[skip] = reconstruct(msi, str(tmp_path / f"out_{skip}"), masks=masks, sar=sar,
                                 weights=small_weights, device="cpu", self_check=False,
                                 feedback=CallbackFeedback(on_message=messages.append),
                                 fill=FillSettings(skip_clear_windows=skip))
        assert sum("windows run" in m for m in messages) == len(plan)
        assert f"6 cloudy dates filled in {len(plan)} passes" in " ".join(messages)
    done = runs[True]
    assert sorted(r.date_index for r in done) == cloudy
    assert {r.group: sorted(x.date_index for x in done if x.group == r.group) for r in done} == \
        {tuple(g): ts for g, ts in plan}
    assert all(serves(r.group[0], r.date_index, 12, 6, GROUP_MARGIN) for r in done)
    for skipped, every in zip(runs[True], runs[False]):
        assert (skipped.date_index, skipped.group) == (every.date_index, every.group)
        assert skipped.windows_run < every.windows_run
        np.testing.assert_array_equal(read_raster(skipped.path), read_raster(every.path))
        np.testing.assert_array_equal(read_raster(skipped.mask_path),
                                      read_raster(every.mask_path))


@pytest.mark.slow
@pytest.mark.parametrize("where, fail_from, self_check",
                         [("fill", 3, False), ("fill", 1, False), ("check", 1, True)])
def test_cuda_out_of_memory_falls_back_once_on_the_main_thread(tmp_path, monkeypatch, sample,
                                                                small_weights, where, fail_from,
                                                                self_check):
    """A run that believes it is on CUDA (tensors stay on the CPU) whose model runs out of
    memory in the fill's workers (from their ``fail_from``-th batch) or in the self-check (the
    fill then runs no model here: the random model loses to interpolation): one warning,
    the model moved to the CPU once, on the main thread, while no batch runs; the outputs are
    those of a run on the CPU."""
    import threading
    from smts_cloudfill_plugin.core import reconstruct as rec

    def run(name: str) -> tuple[list, list[str], list[float]]:
        messages: list[str] = []
        progress: list[float] = []
        results = reconstruct(sample["msi"], str(tmp_path / name), masks=sample["scl"],
                              sar=sample["sar"], weights=small_weights, device="cpu",
                              batch_size=2, self_check=self_check,
                              feedback=CallbackFeedback(on_progress=progress.append,
                                                        on_message=messages.append),
                              fill=FillSettings(block_windows=2))   # several blocks in flight
        return results, messages, progress

    reference, ref_messages, _ = run("cpu")

    lock = threading.Lock()
    state = {"cuda": False, "running": 0, "calls": 0}
    moves: list[tuple[str, threading.Thread, int]] = []
    failed: list[threading.Thread] = []
    real_load, real_to = rec.load_model, torch.Tensor.to

    def load(*args, **kwargs):
        model, info = real_load(*args, **kwargs)
        fill = model.fill   # what forward and the self-check's blends call

        def fake_fill(*a, **k):
            on_main = threading.current_thread() is threading.main_thread()
            with lock:
                if state["cuda"] and on_main == (where == "check"):
                    state["calls"] += 1
                    if state["calls"] >= fail_from:
                        failed.append(threading.current_thread())
                        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
                state["running"] += 1
            try:
                return fill(*a, **k)
            finally:
                with lock:
                    state["running"] -= 1

        def fake_to(target, *a, **k):   # records the move; the parameters stay on the CPU
            with lock:
                moves.append((str(target), threading.current_thread(), state["running"]))
                state["cuda"] = str(target) == "cuda"
            return model

        model.fill, model.to = fake_fill, fake_to
        return model, info

    def is_cuda(a) -> bool:
        return (isinstance(a, torch.device) and a.type == "cuda") or \
            (isinstance(a, str) and a == "cuda")

    def tensor_to(self, *args, **kwargs):   # tensors sent to "cuda" stay on the CPU
        args = tuple(torch.device("cpu") if is_cuda(a) else a for a in args)
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(rec, "load_model", load)
    monkeypatch.setattr(rec, "choose_device", lambda requested, feedback: torch.device("cuda"))
    monkeypatch.setattr(torch.Tensor, "to", tensor_to)
    results, messages, progress = run("cuda")
    monkeypatch.undo()

    assert failed, "the simulated out-of-memory error was raised"
    main = threading.main_thread()
    assert all((t is main) == (where == "check") for t in failed), failed
    warnings = [m for m in messages if m.startswith("WARNING:")]
    assert warnings == ["WARNING: CUDA ran out of memory; continuing on the CPU (slower)."]
    assert moves == [("cuda", main, 0), ("cpu", main, 0)], \
        "moved to CUDA, then once to the CPU on the main thread with no batch running"
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    same = [m for m in ref_messages if m.startswith("  ")]   # each date, check, windows run
    assert [m for m in messages if m.startswith("  ")] == same, "the same, each window once"
    assert [r.date_index for r in results] == [r.date_index for r in reference] == [1, 3]
    for got, want in zip(results, reference):
        np.testing.assert_array_equal(read_raster(got.mask_path), read_raster(want.mask_path))
        np.testing.assert_array_equal(read_raster(got.path), read_raster(want.path))


@pytest.mark.slow
def test_cloud_buffer_0_fills_the_scl_as_it_is_and_0_1_masks_are_never_grown(tmp_path, sample,
                                                                             small_weights):
    """cloud_buffer=0 fills what Reconstruct filled before the buffer existed, bit for bit
    (self-check on): the same as the SCL turned into 0/1 masks, which no buffer grows."""
    binary = [make_raster(tmp_path / "bin" / f"CLOUDS_{i}.tif",
                          scl_to_mask(read_raster(p)[0]).astype(np.uint8))
              for i, p in enumerate(sample["scl"])]
    runs = {}
    for name, masks, buffer in (("scl", sample["scl"], 0), ("binary", binary, 7)):
        runs[name] = reconstruct(sample["msi"], str(tmp_path / name), masks=masks,
                                 sar=sample["sar"], weights=small_weights, device="cpu",
                                 cloud_buffer=buffer)
    assert [r.date_index for r in runs["scl"]] == [r.date_index for r in runs["binary"]] == [1, 3]
    for a, b in zip(runs["scl"], runs["binary"]):
        np.testing.assert_array_equal(read_raster(a.mask_path)[0],
                                      scl_to_mask(read_raster(sample["scl"][a.date_index])[0]))
        np.testing.assert_array_equal(read_raster(a.mask_path), read_raster(b.mask_path))
        np.testing.assert_array_equal(read_raster(a.path), read_raster(b.path))


@pytest.mark.parametrize("args, buffer", [([], DEFAULT_CLOUD_BUFFER), (["--cloud-buffer", "0"], 0),
                                          (["--cloud-buffer", "5"], 5)])
def test_cli_cloud_buffer_reaches_reconstruct(monkeypatch, tmp_path, sample, args, buffer):
    from smts_cloudfill_plugin.core import __main__ as cli
    from smts_cloudfill_plugin.core import reconstruct as rec
    seen = {}
    monkeypatch.setattr(rec, "reconstruct", lambda *a, **kw: seen.update(kw) or [])
    assert cli.main(["reconstruct", "--msi", *sample["msi"], "--masks", *sample["scl"],
                     "--out", str(tmp_path), *args]) == 0
    assert seen["cloud_buffer"] == buffer


def test_the_run_log_holds_every_message_and_the_summary_beside_the_outputs(tmp_path, sample):
    """cloudfill_log.txt: every message of the run, warnings marked (here: SAR given to a
    model without SAR), and last the summary the run ends with."""
    from small_model import save_small_model
    weights = save_small_model(tmp_path / "mts.pt", sar_dates=0)
    messages: list[str] = []
    out = tmp_path / "out"
    results = reconstruct(sample["msi"], str(out), masks=sample["scl"], sar=sample["sar"],
                          weights=weights, device="cpu",
                          feedback=CallbackFeedback(on_message=messages.append))
    assert [r.date_index for r in results] == [1, 3]
    lines = (out / "cloudfill_log.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("SMTS CloudFill Reconstruct with MTS-ViT (mts.pt)")
    assert lines[2:] == messages, "every message, in order, the summary last"
    assert any(m.startswith("WARNING: The model MTS-ViT") and "does not use SAR" in m
               for m in lines)
    short = lines.index("In short:")
    assert len(lines) - short - 1 == len(results) and lines[-1].startswith("  ")
    assert f"Run log: {out / 'cloudfill_log.txt'}" in lines


@pytest.mark.parametrize("stop", ["cancel", "failure"])
def test_a_run_that_stops_leaves_no_log(tmp_path, sample, small_weights, monkeypatch, stop):
    """The log is one of the outputs: a cancelled run, or one that fails at its last step
    (the self-check's report), leaves none of them, the log included."""
    from smts_cloudfill_plugin.core import reconstruct as rec
    from smts_cloudfill_plugin.core.errors import Cancelled, CloudFillError
    messages: list[str] = []
    if stop == "failure":
        def fail(*args, **kwargs):
            raise CloudFillError("the report cannot be written")
        monkeypatch.setattr(rec, "write_report", fail)
    feedback = CallbackFeedback(on_message=messages.append,
                                cancelled=lambda: stop == "cancel" and
                                any("windows run" in m for m in messages))
    with pytest.raises(Cancelled if stop == "cancel" else CloudFillError):
        reconstruct(sample["msi"], str(tmp_path / "out"), masks=sample["scl"],
                    sar=sample["sar"], weights=small_weights, device="cpu", feedback=feedback)
    assert any("windows run" in m for m in messages), "stopped after the fill"
    assert list_files(tmp_path / "out") == []


def test_index_rasters_are_outputs_of_the_run(tmp_path, sample, small_weights, monkeypatch):
    """NDVI of each filled date, written by the engine from the filled raster before it is put
    in place (the same values as computed afterwards from the final file), and committed with
    the other outputs: a run that fails after the fill leaves no NDVI behind either."""
    from smts_cloudfill_plugin.core import reconstruct as rec
    from smts_cloudfill_plugin.core.errors import CloudFillError
    from smts_cloudfill_plugin.core.parcels.index_raster import write_index_raster
    out = tmp_path / "out"
    results = reconstruct(sample["msi"], str(out), masks=sample["scl"], sar=sample["sar"],
                          weights=small_weights, device="cpu", index_rasters=("NDVI",))
    assert results
    for r in results:
        ndvi = r.index_paths["NDVI"]
        assert ndvi == r.path[:-4] + "_ndvi.tif"
        again = write_index_raster(r.path, "NDVI", out=str(tmp_path / "again.tif"))
        engine, after = gdal.Open(ndvi), gdal.Open(again)
        np.testing.assert_array_equal(engine.ReadAsArray(), after.ReadAsArray())
        assert engine.GetGeoTransform() == after.GetGeoTransform()
        assert engine.GetRasterBand(1).GetDescription() == "NDVI"
        assert engine.GetMetadataItem("SMTS_SOURCE") == os.path.basename(r.path)
    assert not [p for p in list_files(out) if ".part" in p or p.startswith(".")]

    def fail(*args, **kwargs):
        raise CloudFillError("the report cannot be written")
    monkeypatch.setattr(rec, "write_report", fail)
    with pytest.raises(CloudFillError):
        reconstruct(sample["msi"], str(tmp_path / "failed"), masks=sample["scl"],
                    sar=sample["sar"], weights=small_weights, device="cpu",
                    index_rasters=("NDVI",))
    assert list_files(tmp_path / "failed") == []
