"""Reconstruct in strips, blocks and threads: the same bits as the plain path, disk check, cancel.

The reference here is the straightforward reconstruct (each group of the date cover over
whole-width rows of windows, one after the other, a RowBlender, windows padded with
:func:`pad_to`), computed in memory; reconstruct's streamed output (strips of columns, blocks of
windows read ahead in threads, blended and written block by block) must equal it bit for bit.
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
from smts_cloudfill_plugin.core.fill import batches as fill_batches, fill_pass
from smts_cloudfill_plugin.core.fill.settings import FillSettings
from smts_cloudfill_plugin.core.model.config import smts_vit
from smts_cloudfill_plugin.core.plan.date_groups import cover_dates, sar_for_group
from smts_cloudfill_plugin.core.errors import Cancelled, CloudFillError
from smts_cloudfill_plugin.core.model.network import SmtsVit
from core_helpers import CallbackFeedback
from smts_cloudfill_plugin.core.read.stack import Stack
from smts_cloudfill_plugin.core.feather import RowBlender
from smts_cloudfill_plugin.core.plan.windows import default_overlap, iter_rows, plan_windows
from smts_cloudfill_plugin.core.model.weights import load_model, save_weights
from smts_cloudfill_plugin.core.write.raster import MASK_FILLED

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from bench import BenchStacks  # noqa: E402


def pad_to(array: np.ndarray, size: int, value: float | bool = 0) -> np.ndarray:
    """Pad the last two axes of ``array`` at the bottom/right to ``size`` x ``size``."""
    h, w = array.shape[-2:]
    return np.pad(array, [(0, 0)] * (array.ndim - 2) + [(0, size - h), (0, size - w)],
                  constant_values=value)


def straightforward(weights: str, msi, scl, sar, batch_size: int,
                    overlap: int | None = None) -> dict[int, tuple]:
    """{date: (filled image, mask)} as the plain strip-by-strip reconstruct makes them."""
    model, info = load_model(weights)
    cfg, size = info.config, info.config.window
    overlap = default_overlap(size, cfg.patch) if overlap is None else overlap
    out = {}
    with Stack(msi, scl, sar, bands=cfg.msi_bands) as st:
        targets = [t for t in range(len(st.msi))
                   if st.read_missing(t, 0, 0, st.width, st.height).any()]
        groups = cover_dates(targets, len(st.msi), cfg.msi_dates)
        rows = plan_windows(st.width, st.height, size, overlap)
        for group, group_targets in groups:
            sar_idx = sar_for_group(st.dates, st.sar_dates, group, cfg)
            keep = [group.index(t) for t in group_targets]
            for t in group_targets:
                out[t] = (np.zeros((st.reference.band_count, st.height, st.width),
                                   st.reference.numpy_dtype),
                          np.zeros((st.height, st.width), np.uint8))
            blender = RowBlender(len(keep) * 10, st.width, size, overlap)
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
                        blender.add(w.x0, w.y0, w.w, w.h, p[keep].reshape(-1, size, size))
                top = blender.top
                blended = blender.finish(0, st.width, next_top - top)
                blender.next_row(next_top)
                n = blended.shape[1]
                blended = blended.reshape(len(keep), 10, n, st.width)
                for j, (k, t) in enumerate(zip(keep, group_targets)):
                    raw = strip.raw[k, :, :n].copy()
                    missing = strip.missing[k, :n]
                    filled = st.from_reflectance(blended[j])
                    for c, b in enumerate(st.band_indices[0]):
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


@pytest.mark.slow
@pytest.mark.parametrize("where, batch, block_windows, workers, strip_columns, overlap", [
    ("sample", 3, 24, 2, 2048, None),
    ("sample", 2, 1, 1, 2048, None),
    ("bench", 5, 7, 2, 2048, None),     # 600 x 270 px: tiled output, several blocks, block-rows
    ("bench", 4, 1000, 1, 4096, None),  # one block per row, one worker: the plain order
    ("bench", 5, 7, 3, 256, None),      # two strips of columns, [0, 256) and [256, 600)
    ("small", 1, 1, 2, 256, None),      # 520 x 60 px, blocks of one window, some all halo
    ("small", 3, 4, 2, 256, 13),        # stride 7: three windows overlap every pixel
])
def test_streamed_output_is_bit_exact(tmp_path, stacks, small_weights, where, batch,
                                      block_windows, workers, strip_columns, overlap):
    if where == "sample":
        paths = {k: sample_paths(k) for k in ("msi", "scl", "sar")}
    else:
        paths = stacks.stack(600, 270) if where == "bench" else stacks.stack(520, 60)
    results = rec.reconstruct(paths["msi"], str(tmp_path), masks=paths["scl"], sar=paths["sar"],
                              weights=small_weights, device="cpu", batch_size=batch,
                              self_check=False,
                              fill=FillSettings(block_windows=block_windows, workers=workers,
                                                strip_columns=strip_columns, overlap=overlap))
    want = straightforward(small_weights, paths["msi"], paths["scl"], paths["sar"], batch,
                           overlap)
    assert [r.date_index for r in results] == sorted(want) == [1, 3]
    for r in results:
        image, mask = want[r.date_index]
        assert mask.any()
        np.testing.assert_array_equal(read_raster(r.path), image)
        np.testing.assert_array_equal(read_raster(r.mask_path)[0], mask)
    assert len(list_files(tmp_path)) == 5, "two dates' image and mask, the run log: no part"


DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.mark.slow
@pytest.mark.parametrize("free_mb, needed", [(0.5, "before the scan"), (3.5, "after the scan")])
def test_refuses_output_larger_than_free_space(tmp_path, monkeypatch, stacks, small_weights,
                                               free_mb, needed):
    """1024 x 1024 px, 10 UInt16 bands: 21 MB uncompressed a date, about 12.6 MB at 60 %; two
    cloudy dates about 25 MB. 0.5 MB free is refused before the scan for clouds (one date
    cannot fit), 20 MB after it (two dates do not)."""
    free = int(free_mb * 1e6) if needed == "before the scan" else int(20e6)
    monkeypatch.setattr(rec, "scan_missing", _fail_if_called if needed == "before the scan"
                        else rec.scan_missing)
    monkeypatch.setattr("shutil.disk_usage", lambda p: DiskUsage(10 ** 12, 10 ** 12 - free, free))
    paths = stacks.stack(1024, 1024)
    out = tmp_path / "out"
    with pytest.raises(CloudFillError) as e:
        rec.reconstruct(paths["msi"], str(out), masks=paths["scl"], sar=paths["sar"],
                        weights=small_weights, device="cpu")
    msg = str(e.value)
    dates = "1 cloudy date " if needed == "before the scan" else "2 cloudy dates"
    size = "13.2 MB" if needed == "before the scan" else "26.4 MB"
    raw = "22.0 MB" if needed == "before the scan" else "44.0 MB"
    assert dates in msg and f"needs about {size}" in msg and "1024 x 1024" in msg, msg
    assert f"of the {raw} uncompressed" in msg, msg
    free_text = "500 kB" if needed == "before the scan" else "20.0 MB"
    assert f"only {free_text} are free" in msg and str(out) in msg, msg
    assert "0.00" not in msg and "0.01 GB" not in msg, msg
    assert list_files(out) == []


def test_file_sizes_are_shown_in_a_unit_that_shows_them():
    from smts_cloudfill_plugin.core.write.disk import file_size
    assert [file_size(n) for n in (0, 999, 1000, 500e3, 13_212_057.6, 99.94e6, 250e6, 1.5e9,
                                   2.5e12)] == \
        ["0 bytes", "999 bytes", "1.0 kB", "500 kB", "13.2 MB", "99.9 MB", "250 MB", "1.5 GB",
         "2500 GB"]


def _fail_if_called(*a, **k):
    raise AssertionError("the disk check must come before the scan for clouds")


@pytest.mark.parametrize("when", ["scan", "model"])
def test_cancel_stops_before_the_next_block_and_leaves_no_file(tmp_path, monkeypatch, stacks,
                                                               small_weights, when):
    """A cancel asked during the scan for clouds runs no model at all; one asked while the
    model runs lets each worker finish at most the batch it had begun, starts no block after
    that, and writes nothing. Asserted on what happens, not on a time (a busy machine is slow).

    600 x 270 px with the small model: about 120 batches, so a run that did not stop would
    show. The cancel is asked from inside the run (when the scan starts, or at the third
    batch), so the test does not depend on timing either.
    """
    paths = stacks.stack(600, 270)
    lock = threading.Lock()
    events: list[tuple[str, bool]] = []     # (what, whether the workers were told to stop)
    asked = threading.Event()
    stopped = threading.Event()

    class Workers(fill_pass.OrderedWorkers):
        def close(self) -> None:
            stopped.set()
            super().close()

    def scan(*args, **kwargs):
        if when == "scan":
            asked.set()
        return real_scan(*args, **kwargs)

    def predict(*args, **kwargs):
        with lock:
            events.append(("batch", stopped.is_set()))
            if when == "model" and sum(e[0] == "batch" for e in events) >= 3:
                asked.set()
        return real_predict(*args, **kwargs)

    def read(self, *args, **kwargs):
        with lock:
            events.append(("read", stopped.is_set()))
        return real_read(self, *args, **kwargs)

    real_scan, real_predict, real_read = rec.scan_missing, fill_batches.predict, Stack.read
    monkeypatch.setattr(fill_pass, "OrderedWorkers", Workers)
    monkeypatch.setattr(rec, "scan_missing", scan)
    monkeypatch.setattr(fill_batches, "predict", predict)
    monkeypatch.setattr(Stack, "read", read)
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        rec.reconstruct(paths["msi"], str(out), masks=paths["scl"], sar=paths["sar"],
                        weights=small_weights, device="cpu", batch_size=8, self_check=False,
                        feedback=CallbackFeedback(cancelled=asked.is_set),
                        fill=FillSettings(workers=2, block_windows=8))
    batches = [e for e in events if e[0] == "batch"]
    if when == "scan":
        assert batches == [], "no model runs after a cancel during the scan"
    else:
        assert stopped.is_set()
        late = [e for e in events if e[1]]
        # Each of the 2 workers may have passed its last stop check just before the stop.
        assert len([e for e in late if e[0] == "batch"]) <= 2, events
        assert len([e for e in late if e[0] == "read"]) <= 2, events
        assert 3 <= len(batches) < 30, f"{len(batches)} batches of about 120 ran"
    assert list_files(out) == [], "neither outputs nor .part files are left"
    assert not [t for t in threading.enumerate() if t.name.startswith("smts-")], \
        "no reading thread is left running"


@pytest.mark.parametrize("workers", [1, 3, 6])
def test_pixels_missing_on_every_date_are_counted_exactly_by_any_number_of_threads(
        tmp_path, monkeypatch, workers):
    """Each date's own random no-data pixels (70 %, so about 0.7 ** 6 = 12 % on all six) and
    the sample's clouds; dates read in many small regions, each read slowed a little so the
    threads' updates of the shared map interleave. The count equals a plain date-by-date AND,
    and the fractions are those of a whole-raster read of each date."""
    from osgeo import gdal

    from smts_cloudfill_plugin.core.read import missing as scanning
    from smts_cloudfill_plugin.core.progress import Feedback
    rng = np.random.default_rng(11)
    msi = []
    for p in sample_paths("msi"):
        ds = gdal.GetDriverByName("GTiff").CreateCopy(str(tmp_path / p.split("/")[-1]),
                                                      gdal.Open(p))
        band = ds.GetRasterBand(1)
        data = band.ReadAsArray()
        data[rng.random(data.shape) < 0.7] = 0        # the image's no-data value
        band.WriteArray(data)
        msi.append(ds.GetDescription())
        ds = None
    real_blocks, real_missing = scanning.scan_blocks, Stack.read_missing

    def slow_missing(self, *args, **kwargs):
        time.sleep(0.002)
        return real_missing(self, *args, **kwargs)

    monkeypatch.setattr(scanning, "scan_blocks", lambda w, h, block: real_blocks(w, h, block, 1))
    monkeypatch.setattr(Stack, "read_missing", slow_missing)
    with Stack(msi, sample_paths("scl"), []) as st:
        scan = scanning.scan_missing(st, Feedback(), workers=workers)
        each = [real_missing(st, t, 0, 0, st.width, st.height) for t in range(len(st.msi))]
        every = np.logical_and.reduce(each)
        assert len(real_blocks(st.width, st.height, (64, 6), 1)) > 5, "many regions a date"
        assert scan.fractions == pytest.approx([m.mean() for m in each])
    assert 0 < every.sum() < every.size
    assert (scan.never_clear, scan.pixels) == (int(every.sum()), 64 * 64)
