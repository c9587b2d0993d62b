"""The haze check (core/read/haze.py): hazy clear pixels flagged, real changes kept."""
from __future__ import annotations

import numpy as np
import pytest

from smts_cloudfill_plugin.core.read.haze import (DEFAULT_HAZE_K, HAZE_NOISE, haze_excess,
                                                  haze_flags, neighbours)
from smts_cloudfill_plugin.core.reconstruct import reconstruct
from core_helpers import read_raster

T, H, W = 8, 24, 24


def season(seed: int = 0) -> np.ndarray:
    """(T, 2, H, W) blue and red of a quiet vegetated scene with a little noise."""
    rng = np.random.default_rng(seed)
    blue = 0.03 + 0.002 * rng.standard_normal((T, H, W))
    red = 0.04 + 0.002 * rng.standard_normal((T, H, W))
    return np.stack([blue, red], 1).astype(np.float32)


def test_neighbours_are_the_nearest_clear_dates_on_each_side():
    clear = np.array([True, False, True, True, False, False, True])
    before, after = neighbours(clear)
    assert before.tolist() == [-1, 0, 0, 2, 3, 3, 3]
    assert after.tolist() == [2, 2, 3, 6, 6, 6, 7]


def test_a_haze_blob_on_one_date_is_flagged_and_nothing_else():
    values, missing = season(), np.zeros((T, H, W), bool)
    blob = np.zeros((H, W), bool)
    blob[5:12, 6:14] = True
    values[3, 0][blob] += 0.06   # haze: blue up a lot, red a little
    values[3, 1][blob] += 0.02
    flags = haze_flags(values, missing)
    assert flags[3][blob].all()
    assert not flags[3][~blob].any()
    assert not np.delete(flags, 3, 0).any()


def test_a_harvest_that_persists_and_bare_soil_are_not_haze():
    values, missing = season(1), np.zeros((T, H, W), bool)
    field = np.zeros((H, W), bool)
    field[2:20, 2:10] = True
    values[4:, 0][:, field] += 0.04    # from date 4 on: bare soil, brighter in blue ...
    values[4:, 1][:, field] += 0.08    # ... and more in red
    other = np.zeros((H, W), bool)
    other[2:20, 14:22] = True
    values[5, 0][other] += 0.03        # one date of bare soil between two green ones
    values[5, 1][other] += 0.07
    assert not haze_flags(values, missing).any()


def test_a_step_in_blue_alone_that_persists_is_not_flagged():
    """'Brighter than both neighbours': a pixel that agrees with the date after it is no spike."""
    values, missing = season(2), np.zeros((T, H, W), bool)
    values[3:, 0] += 0.1
    assert not haze_flags(values, missing).any()


def test_threshold_missing_pixels_and_ends():
    values, missing = season(3), np.zeros((T, H, W), bool)
    just = DEFAULT_HAZE_K * HAZE_NOISE
    values[2, 0, 0, 0] += just * 2        # well above: flagged
    values[2, 0, 1, 1] += just * 0.5      # below: kept
    values[0, 0, 2, 2] += 0.2             # first date: one neighbour, never flagged
    values[5, 0, 3, 3] += 0.2
    missing[5, 3, 3] = True               # already missing: not flagged again
    values[6, 0, 4, 4] += 0.2             # neighbours: date 5 missing, so dates 4 and 7
    missing[5, 4, 4] = True
    flags = haze_flags(values, missing)
    assert flags[2, 0, 0] and not flags[2, 1, 1]
    assert not flags[0].any() and not flags[5].any()
    assert flags[6, 4, 4]
    assert np.isnan(haze_excess(values[:, :1], missing)[0]).all()


def test_two_hazy_dates_in_a_row_are_both_flagged_when_one_is_hazier():
    """The second pass sees the lighter haze once the heavier is left out; two dates exactly
    as hazy as each other hide each other (a limit of the rule, model_weights/HAZE.md)."""
    values, missing = season(4), np.zeros((T, H, W), bool)
    values[3, 0, 8:12, 8:12] += 0.12
    values[4, 0, 8:12, 8:12] += 0.06
    flags = haze_flags(values, missing)
    assert flags[3, 8:12, 8:12].all() and flags[4, 8:12, 8:12].all()
    assert not haze_flags(values, missing, passes=1)[4, 8:12, 8:12].any()


def test_reconstruct_fills_the_haze_it_flags_and_nothing_when_off(tmp_path, sample,
                                                                 small_weights):
    """The sample's hazy 2019-04-26: flagged pixels are filled (in its _filled_mask) on top of
    the SCL's; off (the default) gives the run of before, bit for bit, and says nothing."""
    from smts_cloudfill_plugin.core.progress import Feedback

    class Log(Feedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def info(self, message):
            self.lines.append(message)

    runs, logs = {}, {}
    for name, kw in (("off", {}), ("on", {"haze_check": True})):
        logs[name] = Log()
        runs[name] = reconstruct(sample["msi"], str(tmp_path / name), masks=sample["scl"],
                                 sar=sample["sar"], weights=small_weights, device="cpu",
                                 self_check=False, feedback=logs[name], **kw)
    off = {r.date_index: r for r in runs["off"]}
    on = {r.date_index: r for r in runs["on"]}
    assert not any("Haze check" in line for line in logs["off"].lines)
    added = [line for line in logs["on"].lines if "20190426" in line and "pixels (" in line]
    assert added and not added[0].split(": ")[1].startswith("0 pixels")
    assert set(off) <= set(on)
    mask_off, mask_on = (read_raster(r[3].mask_path)[0] > 0 for r in (off, on))
    assert (mask_on >= mask_off).all() and mask_on.sum() > mask_off.sum() + 50


@pytest.mark.parametrize("args, check, k", [([], False, DEFAULT_HAZE_K),
                                            (["--haze-check"], True, DEFAULT_HAZE_K),
                                            (["--haze-check", "--haze-k", "5"], True, 5.0),
                                            (["--no-haze-check"], False, DEFAULT_HAZE_K)])
def test_cli_haze_options_reach_reconstruct(monkeypatch, tmp_path, sample, args, check, k):
    from smts_cloudfill_plugin.core import __main__ as cli
    from smts_cloudfill_plugin.core import reconstruct as rec
    seen = {}
    monkeypatch.setattr(rec, "reconstruct", lambda *a, **kw: seen.update(kw) or [])
    assert cli.main(["reconstruct", "--msi", *sample["msi"], "--masks", *sample["scl"],
                     "--out", str(tmp_path), *args]) == 0
    assert seen["haze_check"] is check and seen["haze_k"] == k
