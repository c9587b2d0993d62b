"""Streaming reconstruct: the same bits as the plain strip-by-strip path, disk check, cancel.

The reference here is the straightforward reconstruct (whole-width strips, one after the
other, :class:`tiler.StripBlender`, windows padded with :func:`tiler.pad_to`), computed in
memory; reconstruct's streamed output (blocks of windows read ahead in a thread, blended and
written block by block) must equal it bit for bit.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import namedtuple

import numpy as np
import pytest
import torch

from core_helpers import REPO_ROOT, list_files, read_raster, sample_paths
from smts_cloudfill_plugin.core import reconstruct as rec
from smts_cloudfill_plugin.core.config import smts_vit
from smts_cloudfill_plugin.core.dates import centred_group
from smts_cloudfill_plugin.core.errors import Cancelled, CloudFillError
from smts_cloudfill_plugin.core.model import SmtsVit
from smts_cloudfill_plugin.core.progress import CallbackFeedback
from smts_cloudfill_plugin.core.stack_reader import Stack
from smts_cloudfill_plugin.core.tiler import StripBlender, iter_rows, pad_to, plan_windows
from smts_cloudfill_plugin.core.weights import load_model, save_weights
from smts_cloudfill_plugin.core.writer import MASK_FILLED

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from bench import BenchStacks  # noqa: E402


def straightforward(weights: str, msi, scl, sar, batch_size: int,
                    overlap: int | None = None) -> dict[int, tuple]:
    """{date: (filled image, mask)} as the plain strip-by-strip reconstruct makes them."""
    model, info = load_model(weights)
    cfg, size = info.config, info.config.window
    overlap = size // 3 if overlap is None else overlap
    out = {}
    with Stack(msi, scl, sar, bands=cfg.msi_bands) as st:
        targets = [t for t, f in enumerate(st.cloud_fractions()) if f > 0]
        groups: dict[tuple, list[int]] = {}
        for t in targets:
            groups.setdefault(tuple(centred_group(t, len(st.msi), cfg.msi_dates)), []).append(t)
        rows = plan_windows(st.width, st.height, size, overlap)
        for group, group_targets in groups.items():
            sar_idx = rec.sar_for_group(st, list(group), cfg)
            keep = [group.index(t) for t in group_targets]
            for t in group_targets:
                out[t] = (np.zeros((st.reference.band_count, st.height, st.width),
                                   st.reference.numpy_dtype),
                          np.zeros((st.height, st.width), np.uint8))
            blender = StripBlender(len(keep) * 10, st.width, size, overlap)
            for row, next_top in iter_rows(rows, st.height):
                strip = st.read(0, row[0].y0, st.width, row[0].h, sar_idx, list(group))
                for start in range(0, len(row), batch_size):
                    chunk = row[start:start + batch_size]
                    cut = [(w, slice(w.x0, w.x0 + w.w)) for w in chunk]
                    m = np.stack([pad_to(strip.msi[..., :w.h, xs], size) for w, xs in cut])
                    miss = np.stack([pad_to(strip.missing[:, :w.h, xs], size, True)
                                     for w, xs in cut])
                    s = np.stack([pad_to(strip.sar[..., :w.h, xs], size, np.nan) for w, xs in cut])
                    with torch.inference_mode():
                        pred = model(torch.from_numpy(m), torch.from_numpy(miss),
                                     torch.from_numpy(s)).float().numpy()
                    for w, p in zip(chunk, pred):
                        blender.add(w, p[keep].reshape(-1, size, size))
                top, blended = blender.finish_row(next_top)
                n = blended.shape[1]
                blended = blended.reshape(len(keep), 10, n, st.width)
                for j, (k, t) in enumerate(zip(keep, group_targets)):
                    raw = strip.raw[k, :, :n].copy()
                    missing = strip.missing[k, :n]
                    filled = st.from_reflectance(blended[j])
                    for c, b in enumerate(st.band_index):
                        raw[b][missing] = filled[c][missing]
                    out[t][0][:, top:top + n] = raw
                    out[t][1][top:top + n] = missing * MASK_FILLED
    return out


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    return BenchStacks(str(tmp_path_factory.mktemp("bench")))


@pytest.fixture(scope="module")
def full_weights(tmp_path_factory):
    """The bundled architecture (width 128, depth 6, window 60) with random weights."""
    torch.manual_seed(0)
    return save_weights(str(tmp_path_factory.mktemp("w") / "smts.pt"), SmtsVit(smts_vit())).path


@pytest.mark.parametrize("where, batch, block_windows, workers, band_columns, overlap", [
    ("sample", 3, 24, 2, 2048, None),
    ("sample", 2, 1, 1, 2048, None),
    ("bench", 5, 7, 2, 2048, None),     # 600 x 270 px: tiled output, several blocks, block-rows
    ("bench", 4, 1000, 1, 4096, None),  # one block per row, one worker: the plain order
    ("bench", 5, 7, 3, 256, None),      # two bands of columns, [0, 256) and [256, 600)
    ("small", 1, 1, 2, 256, None),      # 520 x 60 px, blocks of one window, some all halo
    ("small", 3, 4, 2, 256, 13),        # stride 7: three windows overlap every pixel
])
def test_streamed_output_is_bit_exact(tmp_path, monkeypatch, stacks, small_weights, where, batch,
                                      block_windows, workers, band_columns, overlap):
    monkeypatch.setattr(rec, "BLOCK_WINDOWS", block_windows)
    monkeypatch.setattr(rec, "MODEL_WORKERS", workers)
    monkeypatch.setattr(rec, "BAND_COLUMNS", band_columns)
    if where == "sample":
        paths = {k: sample_paths(k) for k in ("msi", "scl", "sar")}
    else:
        paths = stacks.stack(600, 270) if where == "bench" else stacks.stack(520, 60)
    results = rec.reconstruct(paths["msi"], str(tmp_path), masks=paths["scl"], sar=paths["sar"],
                              weights=small_weights, device="cpu", batch_size=batch,
                              overlap=overlap)
    want = straightforward(small_weights, paths["msi"], paths["scl"], paths["sar"], batch,
                           overlap)
    assert [r.date_index for r in results] == sorted(want) == [1, 3]
    for r in results:
        image, mask = want[r.date_index]
        assert mask.any()
        np.testing.assert_array_equal(read_raster(r.path), image)
        np.testing.assert_array_equal(read_raster(r.mask_path)[0], mask)
    assert len(list_files(tmp_path)) == 4, "no temporary files left"


DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.mark.parametrize("free_mb, needed", [(0.5, "before the scan"), (3.5, "after the scan")])
def test_refuses_output_larger_than_free_space(tmp_path, monkeypatch, stacks, small_weights,
                                               free_mb, needed):
    """1024 x 1024 px, 10 UInt16 bands: 21 MB uncompressed a date, about 12.6 MB at 60 %; two
    cloudy dates about 25 MB. 0.5 MB free is refused before the scan for clouds (one date
    cannot fit), 20 MB after it (two dates do not)."""
    free = int(free_mb * 1e6) if needed == "before the scan" else int(20e6)
    monkeypatch.setattr(rec, "cloud_fractions", _fail_if_called if needed == "before the scan"
                        else rec.cloud_fractions)
    monkeypatch.setattr("shutil.disk_usage", lambda p: DiskUsage(10 ** 12, 10 ** 12 - free, free))
    paths = stacks.stack(1024, 1024)
    out = tmp_path / "out"
    with pytest.raises(CloudFillError) as e:
        rec.reconstruct(paths["msi"], str(out), masks=paths["scl"], sar=paths["sar"],
                        weights=small_weights, device="cpu")
    msg = str(e.value)
    dates = "1 cloudy date " if needed == "before the scan" else "2 cloudy dates"
    gb = "0.01 GB" if needed == "before the scan" else "0.03 GB"
    assert dates in msg and f"needs about {gb}" in msg and "1024 x 1024" in msg, msg
    assert f"{free / 1e9:.2f} GB are free" in msg and str(out) in msg, msg
    assert list_files(out) == []


def _fail_if_called(*a, **k):
    raise AssertionError("the disk check must come before the scan for clouds")


@pytest.mark.parametrize("after", [0.5, 2.0])
def test_cancel_stops_within_a_second_and_leaves_no_file(tmp_path, stacks, full_weights, after):
    """Cancel a 1024 px run with the bundled architecture after ``after`` s (0.5: during the
    scan for clouds or the first blocks; 2: while the model runs)."""
    paths = stacks.stack(1024, 1024)
    asked = threading.Event()
    when: list[float] = []

    def cancel():
        time.sleep(after)
        when.append(time.perf_counter())
        asked.set()

    out = tmp_path / "out"
    threading.Thread(target=cancel, daemon=True).start()
    with pytest.raises(Cancelled):
        rec.reconstruct(paths["msi"], str(out), masks=paths["scl"], sar=paths["sar"],
                        weights=full_weights, device="cpu",
                        feedback=CallbackFeedback(cancelled=asked.is_set))
    latency = time.perf_counter() - when[0]
    assert latency < 1.0, f"cancel took {latency:.2f} s"
    assert list_files(out) == [], "neither outputs nor .part files are left"
    assert not [t for t in threading.enumerate() if t.name.startswith("smts-")], \
        "no reading thread is left running"
