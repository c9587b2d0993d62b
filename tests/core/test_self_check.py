"""The floor: an untrained model of our recipe is temporal interpolation, and the self-check
picks interpolation where the model loses and the model where it wins."""
from __future__ import annotations

import html

import numpy as np
import pytest
import torch

from core_helpers import sample_paths
from small_model import sample_normalisation
from smts_cloudfill_plugin.core.model import config
from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal
from smts_cloudfill_plugin.core.read.dates import day_numbers
from smts_cloudfill_plugin.core.model.network import SmtsVit
from smts_cloudfill_plugin.core.plan.windows import default_overlap
from smts_cloudfill_plugin.core.reconstruct import output_paths, reconstruct
from smts_cloudfill_plugin.core.choose.date_check import (BASIS_AGREED, BASIS_NONE, BASIS_WHOLE,
                                                          describe_check)
from smts_cloudfill_plugin.core.choose.self_check import check_group
from smts_cloudfill_plugin.core.read.stack import Stack
from smts_cloudfill_plugin.core.choose.candidates import BRIGHTNESS, FULL, SMOOTH, TONE
from smts_cloudfill_plugin.core.model.weights import save_weights

SMALL = {"width": 32, "depth": 1, "heads": 4, "window": 20, "pos_grid": 4}


def ours(**kw) -> SmtsVit:
    torch.manual_seed(0)
    return SmtsVit(config.smts_vit(**{**SMALL, **config.OURS, **kw}), sample_normalisation())


def test_untrained_model_of_our_recipe_is_interpolation_with_the_true_dates():
    model = ours(residual_scale=0.0).eval()
    rng = np.random.default_rng(0)
    msi = rng.random((1, 6, 10, 20, 20), dtype=np.float32)
    missing = rng.random((1, 6, 20, 20)) > 0.6
    missing[0, :, 0, 0] = True  # a pixel with no clear date: the band mean, not interpolated
    days = np.array([0, 7, 19, 30, 42, 50], np.float32)
    sar = torch.zeros(1, 5, 2, 20, 20)
    with torch.no_grad():
        out = model(torch.from_numpy(msi), torch.from_numpy(missing), sar,
                    torch.from_numpy(days)[None])[0].numpy()
    expected = interpolate_temporal(msi[0], missing[0], days)
    some_clear = ~missing[0].all(0)
    np.testing.assert_allclose(out[..., some_clear], expected[..., some_clear], atol=1e-5)
    # Dates unknown: the nominal 10-day steps, which gives another fill.
    with torch.no_grad():
        nominal = model(torch.from_numpy(msi), torch.from_numpy(missing), sar)[0].numpy()
    assert not np.allclose(nominal[..., some_clear], expected[..., some_clear], atol=1e-4)


def test_untrained_model_with_the_residual_prior_is_the_corrected_interpolation():
    from smts_cloudfill_plugin.core.model.prior import residual_correction
    from smts_cloudfill_plugin.core.choose.candidates import FillPlan, blended_fill, interpolation
    model = ours(residual_scale=4.0).eval()
    rng = np.random.default_rng(3)
    msi = torch.from_numpy(rng.random((1, 6, 10, 20, 20), dtype=np.float32))
    missing = torch.from_numpy(rng.random((1, 6, 20, 20)) > 0.6)
    some_clear = ~missing.all(1)      # elsewhere: the band mean against the date's mean
    days = torch.tensor([[0., 7, 19, 30, 42, 50]])
    sar = torch.zeros(1, 5, 2, 20, 20)
    with torch.no_grad():
        out = model(msi, missing, sar, days)
        interp, _ = interpolation(msi, missing, days)
        expected = interp + residual_correction(msi, missing, days, 4.0)
        assert torch.allclose(out[..., some_clear[0]], expected[..., some_clear[0]], atol=1e-5)
        # The check's candidates are built on the model's change to *its* prior: weight 0
        # with scale 4 and the model alone are the same fill.
        same = blended_fill(model, msi, missing, sar, days, FillPlan((0.0,) * 6, (4.0,) * 6))
        assert torch.allclose(same[..., some_clear[0]], out[..., some_clear[0]], atol=1e-5)
    with pytest.raises(ValueError, match="residual_scale"):
        config.smts_vit(residual_scale=4.0)          # the paper's zero prior has no line


def test_the_model_is_told_the_day_offsets():
    model = ours()
    torch.nn.init.normal_(model.refine[-1].weight, std=0.1)   # a trained-looking correction
    msi, missing = torch.rand(1, 6, 10, 20, 20), torch.rand(1, 6, 20, 20) > 0.7
    sar = torch.zeros(1, 5, 2, 20, 20)
    with torch.no_grad():
        a = model(msi, missing, sar, torch.tensor([[0., 10, 20, 30, 40, 50]]))
        b = model(msi, missing, sar, torch.tensor([[0., 5, 20, 35, 40, 55]]))
    assert not torch.allclose(a, b)


def test_patch_edge_jumps_find_5x5_blocks():
    """The matrix's block detector: a smooth ramp has the same jump at every grid phase; the
    same ramp averaged over 5 x 5 blocks jumps only at the block edges."""
    from smts_cloudfill_plugin.core.metrics import edge_ratio, patch_edge_jumps
    y, x = np.mgrid[0:40, 0:40].astype(np.float64)
    smooth = np.broadcast_to((x + y) / 80, (1, 2, 40, 40))
    blocky = smooth.reshape(1, 2, 8, 5, 8, 5).mean((3, 5)).repeat(5, 2).repeat(5, 3)
    mask = np.ones((1, 40, 40), bool)
    assert edge_ratio(patch_edge_jumps(smooth, mask)) == pytest.approx(1.0)
    assert edge_ratio(patch_edge_jumps(blocky, mask)) > 10


class _Oracle(torch.nn.Module):
    """A 'model' that returns a fixed image: the truth (always right) or the truth + an offset."""

    def __init__(self, truth: torch.Tensor, offset: float) -> None:
        super().__init__()
        self.truth, self.offset = truth, offset
        self.config = config.smts_vit(**SMALL)

    def forward(self, msi, missing, sar=None, days=None):
        # The check stacks one copy of its windows per date it scores: the truth of each.
        reps = msi.shape[0] // len(self.truth)
        return self.truth.repeat(reps, *(1,) * (self.truth.dim() - 1)) + self.offset

    def fill(self, msi, missing, sar=None, days=None):
        return self(msi, missing, sar, days), None   # its config's prior has no residual


@pytest.mark.parametrize("offset,weight", [(0.0, 1.0), (0.2, 0.0)])
def test_self_check_takes_the_model_where_it_wins_and_interpolation_where_it_loses(offset, weight):
    rng = np.random.default_rng(1)
    # A smooth season (interpolation is good but not exact) with one cloudy date.
    base = rng.random((1, 1, 10, 20, 20), dtype=np.float32) * 0.3
    trend = np.linspace(0, 0.1, 6, dtype=np.float32)[None, :, None, None, None] ** 2
    msi = base + trend + 0.01 * rng.random((1, 6, 10, 20, 20), dtype=np.float32)
    missing = np.zeros((1, 6, 20, 20), bool)
    missing[0, 2, 5:12, 5:12] = True
    model = _Oracle(torch.from_numpy(msi), offset)
    found = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2],
                        [f"d{i}" for i in range(6)], [str(i) for i in range(6)])
    assert len(found) == 1 and found[0].pixels > 0
    assert found[0].weight == pytest.approx(weight)
    if weight == 1.0:
        assert found[0].model_mse < found[0].interp_mse
    else:
        assert found[0].model_mse > found[0].interp_mse


def test_a_date_s_held_back_pixels_do_not_depend_on_the_group_s_other_cloudy_dates():
    """Each date draws its held-back pixels from its own random stream: another date of the
    group turning cloudy (the haze check flagging a few of its pixels, say) leaves this date's
    check, and so its choice, as it was."""
    rng = np.random.default_rng(2)
    base = rng.random((1, 1, 10, 20, 20), dtype=np.float32) * 0.3
    msi = base + 0.02 * rng.random((1, 6, 10, 20, 20), dtype=np.float32)
    missing = np.zeros((1, 6, 20, 20), bool)
    missing[0, 2, 5:12, 5:12] = True
    names, dates = [f"d{i}" for i in range(6)], [str(i) for i in range(6)]
    model = _Oracle(torch.from_numpy(msi), 0.01)
    alone = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2], names, dates)
    missing[0, 4, :3, :3] = True
    both = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2, 4], names,
                       dates)
    assert both[0].pixels == alone[0].pixels > 0
    assert (both[0].interp_mse, both[0].chosen_mse, both[0].weight) == \
        (alone[0].interp_mse, alone[0].chosen_mse, alone[0].weight)


@pytest.mark.parametrize("offset,weight", [(0.0, 1.0), (0.2, 0.0)])
def test_a_whole_cloudy_date_is_chosen_for_by_hiding_whole_clear_dates(offset, weight):
    """Issue 18: date 2 is wholly cloudy, so none of its pixels can be held back; the check
    hides whole clear dates of the group in turn (the nearest first) and chooses from those."""
    rng = np.random.default_rng(1)
    base = rng.random((1, 1, 10, 20, 20), dtype=np.float32) * 0.3
    trend = np.linspace(0, 0.1, 6, dtype=np.float32)[None, :, None, None, None] ** 2
    msi = base + trend + 0.01 * rng.random((1, 6, 10, 20, 20), dtype=np.float32)
    msi = np.concatenate([msi, msi[:, :, :, ::-1]])   # two check windows: the two draws
    missing = np.zeros((2, 6, 20, 20), bool)
    missing[:, 2] = True
    missing[:, 1, :15] = True                          # too cloudy to be hidden whole
    model = _Oracle(torch.from_numpy(msi), offset)
    found = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2],
                        [f"d{i}" for i in range(6)], [str(i) for i in range(6)])
    whole = found[0]
    # Inner first, then the nearest; a lone date inside the group: each hidden date decides too.
    assert whole.basis == f"{BASIS_WHOLE}: d3, d4, d0; {BASIS_AGREED}"
    assert whole.pixels == 3 * 2 * 20 * 20          # three dates hidden whole, both windows
    # The model's brightness only: even a perfect model's is not the whole truth, so a high
    # weight, not necessarily 1; a wrong model's (0.2 too bright) none.
    assert whole.kind == SMOOTH
    assert whole.weight >= 0.5 if weight == 1.0 else whole.weight == 0.0
    assert (whole.model_mse < whole.interp_mse) == (weight == 1.0)
    assert whole.scale == 0.0   # no same-date residual without clear pixels of that date
    assert "whole clear dates of the group hidden in turn" in whole.why


def test_nothing_to_check_means_interpolation_never_the_model_unchecked():
    """Every date of the group cloudy in the check windows: nothing can be held back or hidden
    whole, so the date is filled by interpolation (it used to be the model, unchecked)."""
    rng = np.random.default_rng(4)
    msi = rng.random((1, 6, 10, 20, 20), dtype=np.float32)
    missing = rng.random((1, 6, 20, 20)) > 0.3     # 70 % cloudy everywhere
    missing[0, 2] = True
    model = _Oracle(torch.from_numpy(msi), 0.0)
    found = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2],
                        [f"d{i}" for i in range(6)], [str(i) for i in range(6)])
    assert found[0].basis == BASIS_NONE and found[0].weight == 0.0
    assert "temporal interpolation" in describe_check(found[0])


def test_reconstruct_with_an_untrained_model_of_our_recipe_fills_by_interpolation(tmp_path):
    """Through the product path (per-date rasters, windows, blending, writing): the floor by
    construction. An untrained model equals interpolation within each window."""
    weights = save_weights(str(tmp_path / "ours.pt"), ours(residual_scale=0.0)).path
    msi, scl, sar = sample_paths("msi"), sample_paths("scl"), sample_paths("sar")
    out = tmp_path / "out"
    results = reconstruct(msi, str(out), masks=scl, sar=sar, weights=weights, device="cpu",
                          self_check=False)
    assert results
    with Stack(msi, scl, sar, bands=config.S2_BANDS) as st:
        full = st.read(0, 0, st.width, st.height)
        days = np.array(day_numbers(st.dates))
    expected = interpolate_temporal(full.msi, full.missing, days)
    for r in results:
        with Stack([output_paths(r.source, str(out))[0]], bands=config.S2_BANDS) as s:
            got = s.read(0, 0, s.width, s.height).msi[0]
        m = full.missing[r.date_index]
        np.testing.assert_allclose(got[:, m], expected[r.date_index][:, m], atol=2e-4)


def test_self_check_takes_the_same_date_residual_where_the_date_is_off_the_line():
    """Date 2 is brighter than the line through its neighbours (haze, a faster crop): its clear
    pixels say so, and the check adds that residual; a model far off gets no weight."""
    rng = np.random.default_rng(2)
    field = rng.random((1, 1, 10, 40, 40), dtype=np.float32) * 0.3
    msi = field + 0.01 * np.arange(6, dtype=np.float32)[None, :, None, None, None]
    msi[:, 2] += 0.05
    missing = np.zeros((1, 6, 40, 40), bool)
    missing[0, 2, 10:22, 10:22] = True
    model = _Oracle(torch.from_numpy(msi), -0.2)   # darker still: any weight makes it worse
    found = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2],
                        [f"d{i}" for i in range(6)], [str(i) for i in range(6)])
    assert found[0].weight == 0.0 and found[0].scale > 0
    assert found[0].chosen_mse < 0.2 * found[0].interp_mse
    assert "same-date residual" in found[0].verdict


@pytest.mark.slow
def test_reconstruct_with_the_check_writes_what_it_chose(tmp_path):
    """Through the product: the check's report names each date's choice, and the fill of the
    real cloudy date is never the untrained model's interpolation made worse on the check."""
    weights = save_weights(str(tmp_path / "ours.pt"), ours()).path
    msi, scl, sar = sample_paths("msi"), sample_paths("scl"), sample_paths("sar")
    out = tmp_path / "out"
    messages = []
    from core_helpers import CallbackFeedback
    results = reconstruct(msi, str(out), masks=scl, sar=sar, weights=weights, device="cpu",
                          feedback=CallbackFeedback(on_message=messages.append))
    page = (out / "cloudfill_check.html").read_text()
    lines = [m for m in messages if "held-back clear pixels (" in m]
    assert results and len(lines) == len(results)
    for line in lines:
        assert "using " in line
        used = line.split("using ")[1].split(":")[0]
        assert html.escape(used) in page          # "model's brightness" is escaped there
    # Issue 19, item 15: each date's line says how the choice was made.
    assert page.count("lowest MSE of the fills never worse than interpolation") + \
        page.count("lowest worst ratio to interpolation (its") == len(results)


def test_default_overlap_puts_windows_off_the_patch_grid():
    for size, patch in ((60, 5), (20, 5), (64, 4)):
        overlap = default_overlap(size, patch)
        assert 0 < overlap < size and (size - overlap) % patch != 0


def test_made_up_dates_and_empty_sar_are_said(tmp_path):
    """Five of six dates fully cloudy and a SAR raster of no data: the run goes on (the model
    can still say something) but the log names each made-up date and the empty SAR file."""
    from core_helpers import make_raster, read_raster
    from core_helpers import CallbackFeedback
    weights = save_weights(str(tmp_path / "ours.pt"), ours()).path
    msi, sar = sample_paths("msi"), sample_paths("sar")
    masks = []
    for i, p in enumerate(msi):
        h, w = read_raster(p).shape[1:]
        masks.append(make_raster(tmp_path / f"mask_{i}.tif", np.full((h, w), int(i != 2), np.uint8)))
    empty = tmp_path / "S1_empty_20190411.tif"
    sar_arr = read_raster(sar[1]).astype(np.float32) * np.nan
    from osgeo import gdal
    src = gdal.Open(sar[1])
    make_raster(empty, sar_arr, geotransform=src.GetGeoTransform(), descriptions=["VV", "VH"])
    sar = [sar[0], str(empty), *sar[2:]]
    messages = []
    reconstruct(msi, str(tmp_path / "out"), masks=masks, sar=sar, weights=weights, device="cpu",
                feedback=CallbackFeedback(on_message=messages.append))
    warnings = [m for m in messages if m.startswith("WARNING")]
    assert sum("has no clear pixel" in m for m in warnings) == 5
    assert any("Only one of the 6 MSI dates" in m for m in warnings)
    assert any("S1_empty_20190411.tif" in m and "no value" in m for m in warnings)


@pytest.mark.parametrize("weights", [(0.0,) * 6, (0.0, 0.0, 0.5, 0.0, 0.0, 0.0)])
def test_a_window_s_fill_does_not_depend_on_what_else_is_in_its_batch(weights):
    """The plan's residual at the model's own scale comes from one computation for the whole
    run: a window batched with one whose interpolation is undefined somewhere (so the model
    runs for that batch even where the plan gives it no weight) gets the same bits as alone,
    which skipping windows relies on."""
    from smts_cloudfill_plugin.core.choose.candidates import FillPlan, blended_fill
    torch.manual_seed(0)
    model = SmtsVit(config.mts_vit(**SMALL, **config.OURS), sample_normalisation()).eval()
    with torch.no_grad():
        model.refine[-1].weight.normal_(0, 0.05)
    rng = np.random.default_rng(2)
    msi = torch.from_numpy(rng.random((2, 6, 10, 20, 20), dtype=np.float32) * 0.3)
    missing = torch.from_numpy(rng.random((2, 6, 20, 20)) < 0.2)
    missing[0, :, :4, :4] = True           # window 0: pixels clear on no date, on a date
    missing[0, 3] = True                   # with no clear pixel: interpolation undefined
    missing[1, 2, 5:12, 5:12] = True       # window 1: interpolation defined everywhere
    days = torch.tensor([0.0, 10, 20, 25, 40, 45])
    plan = FillPlan(weights, (4.0,) * 6)
    with torch.inference_mode():
        both = blended_fill(model, msi, missing, None, days, plan)
        alone = blended_fill(model, msi[1:], missing[1:], None, days, plan)
    assert torch.equal(both[1], alone[0])


@pytest.mark.slow
def test_progress_moves_through_the_self_check_not_only_the_fill(tmp_path):
    """Issue 19, item 14: the self-check (most of a small run) reports progress too, steadily:
    before the fill starts, the bar is well past the scan, and it never goes back."""
    weights = save_weights(str(tmp_path / "ours.pt"), ours()).path
    msi, scl, sar = sample_paths("msi"), sample_paths("scl"), sample_paths("sar")
    events: list = []
    from core_helpers import CallbackFeedback

    class Recorder(CallbackFeedback):
        def progress(self, fraction, message=None):
            events.append((fraction, message))

    reconstruct(msi, str(tmp_path / "out"), masks=scl, sar=sar, weights=weights, device="cpu",
                feedback=Recorder())
    values = [f for f, _ in events]
    assert values == sorted(values) and values[-1] == pytest.approx(1.0)
    check_start = next(i for i, (_, m) in enumerate(events) if m and m.startswith("Self-check"))
    during_check = [f for f, m in events[check_start:] if m is None]
    assert len(during_check) >= 4            # several steps inside the check, not one jump
    assert 0.02 <= events[check_start][0] < 0.5 and max(during_check) > 0.3


def test_whole_dates_at_an_end_are_checked_on_the_other_end_first():
    """A whole cloudy first date is extrapolated: the check hides the clear last date (also
    extrapolated) before inner dates, which are interpolated."""
    from smts_cloudfill_plugin.core.choose.self_check import whole_date_donors
    missing = np.zeros((2, 6, 8, 8), bool)
    missing[:, 0] = True
    assert whole_date_donors(missing, [0]) == [5, 1, 2]
    assert whole_date_donors(missing, [0, 3]) == [1, 2, 4]   # both kinds: the nearest first
    missing[:, 5, :6] = True                                  # the other end too cloudy
    assert whole_date_donors(missing, [0]) == [1, 2, 3]


def test_a_run_with_sar_says_what_sar_is_worth(tmp_path):
    """Issue 18: SAR did not earn its place on the held-out seasons; the log says so."""
    from core_helpers import CallbackFeedback
    from smts_cloudfill_plugin.core.model.config import SAR_FINDING
    weights = save_weights(str(tmp_path / "ours.pt"), ours()).path
    msi, scl, sar = sample_paths("msi"), sample_paths("scl"), sample_paths("sar")
    messages: list[str] = []
    reconstruct(msi, str(tmp_path / "out"), masks=scl, sar=sar, weights=weights, device="cpu",
                self_check=False, feedback=CallbackFeedback(on_message=messages.append))
    assert any(SAR_FINDING in m and m.startswith("Sentinel-1") for m in messages)


def test_whole_dates_in_a_row_are_checked_on_one_date_gaps_and_say_so():
    """Three whole cloudy dates in a row: the group holds no like case but one-date gaps, so
    those decide, and the basis says the date is one of a run of three."""
    from smts_cloudfill_plugin.core.choose.date_check import BASIS_RUN
    from smts_cloudfill_plugin.core.choose.self_check import whole_run
    assert [whole_run([1, 2, 3, 5], k) for k in range(6)] == [0, 3, 3, 3, 0, 1]
    rng = np.random.default_rng(5)
    msi = rng.random((2, 8, 10, 20, 20), dtype=np.float32) * 0.3
    missing = np.zeros((2, 8, 20, 20), bool)
    missing[:, [1, 2, 3, 6]] = True
    found = check_group(_Oracle(torch.from_numpy(msi), 0.0), torch.device("cpu"),
                        [(msi, missing, None)], None, [1, 2, 3, 6],
                        [f"d{i}" for i in range(8)], [str(i) for i in range(8)])
    assert all(c.basis.startswith(f"{BASIS_RUN.format(n=3)}; {BASIS_WHOLE}") for c in found[:3])
    assert found[3].basis.startswith(BASIS_WHOLE)
    assert all(c.kind == SMOOTH and c.weight >= 0.5 for c in found)   # a perfect model's brightness
    assert "brightness only" in found[0].why and "'s brightness" in describe_check(found[0])


def test_brightness_only_keeps_interpolation_s_spectral_angle_and_scales_it_best():
    """On a whole cloudy date the model's change counts as brightness only: interpolation's
    spectrum times the least-squares factor towards the model's fill."""
    from smts_cloudfill_plugin.core.choose.candidates import brightness_only
    from smts_cloudfill_plugin.core.metrics import spectral_angle
    rng = np.random.default_rng(7)
    interp = torch.from_numpy(rng.random((2, 3, 10, 4, 4), dtype=np.float32) + 0.1)
    model = torch.from_numpy(rng.random((2, 3, 10, 4, 4), dtype=np.float32) + 0.1)
    fill = interp + brightness_only(interp, model - interp)
    truth = torch.from_numpy(rng.random((2, 3, 10, 4, 4), dtype=np.float32) + 0.1)
    assert torch.allclose(spectral_angle(fill, truth, dim=2), spectral_angle(interp, truth, dim=2),
                          atol=1e-5)
    assert not torch.allclose(spectral_angle(model, truth, dim=2),
                              spectral_angle(interp, truth, dim=2), atol=1e-3)
    factor = fill / interp                                   # one factor per pixel
    assert torch.allclose(factor, factor[:, :, :1].expand_as(factor), atol=1e-5)
    for f in (0.9, 1.1):                                     # least squares: no better factor
        assert ((fill * f - model) ** 2).sum() > ((fill - model) ** 2).sum()


def test_the_choice_is_the_lowest_mse_never_worse_and_on_whole_dates_the_lowest_worst_ratio():
    """Of two candidates never worse than interpolation, one gains little on both metrics
    (worst ratio 0.9), the other much on MSE and little on SSIM (worst ratio 0.99): held-back
    pixels take the second (lowest MSE), hidden whole dates the first (lowest worst ratio); a
    candidate worse on one draw is never taken."""
    from smts_cloudfill_plugin.core.choose.candidate_errors import DRAWS, WEIGHTS, CandidateErrors
    for lowest_mse, expected in ((True, 2), (False, 1)):
        e = CandidateErrors(CandidateErrors.ALL, (FULL,), lowest_mse)
        e.n[:] = 100
        e.sums[:] = 1.0                          # every candidate ties with interpolation
        e.sums[:, :, 0, 0, 1] = 0.9              # weight 1: 10 % better on all metrics
        e.sums[:, 0, 0, 0, 2] = 0.5              # weight 2: half the MSE, 1 % better elsewhere
        e.sums[:, 1:, 0, 0, 2] = 0.99
        e.sums[:, 0, 0, 0, 3] = 0.1              # weight 3: the best MSE, but worse on one draw
        e.sums[DRAWS - 1, 2, 0, 0, 3] = 1.01
        assert e.best() == (0, 0, expected) and len(WEIGHTS) > 3


@pytest.mark.parametrize("kinds", [(FULL, BRIGHTNESS), (FULL, BRIGHTNESS, TONE)])
def test_a_model_right_on_brightness_and_wrong_on_spectra_lends_its_brightness_to_a_cloudy_date(
        kinds, monkeypatch):
    """A cloudy date 30 % brighter than its neighbours, and a model that gets the brightness
    but tilts the spectrum: its full change loses on SAM, so is never taken. Without TONE, its
    brightness along interpolation's spectrum wins MSE at the same angle, and is taken; with
    TONE, the same-date residual (which also sees the date's brightness) joins it there, at
    interpolation's angle exactly."""
    from smts_cloudfill_plugin.core.choose import candidate_errors
    monkeypatch.setattr(candidate_errors, "KINDS", kinds)
    rng = np.random.default_rng(4)
    base = 0.05 + rng.random((1, 1, 10, 20, 20), dtype=np.float32) * 0.3
    msi = np.repeat(base, 6, axis=1) * (1 + 0.01 * rng.random((1, 6, 10, 20, 20), dtype=np.float32))
    msi[:, 2] *= 1.3
    missing = np.zeros((1, 6, 20, 20), bool)
    missing[0, 2, 5:12, 5:12] = True
    tilt = torch.tensor([1.15, 0.85] * 5).view(1, 1, 10, 1, 1)
    model = _Oracle(torch.from_numpy(msi) * tilt, 0.0)
    found = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [2],
                        [f"d{i}" for i in range(6)], [str(i) for i in range(6)])[0]
    assert found.model_sam > found.interp_sam                 # the model's spectra lose
    assert found.chosen_mse < 0.5 * found.interp_mse
    if TONE not in kinds:
        assert found.kind == BRIGHTNESS and found.weight >= 0.5
        assert "'s brightness" in found.verdict and "brightness only" in found.why
        assert found.chosen_sam <= found.interp_sam * (1 + 1e-6) or found.scale > 0
    else:
        assert found.kind == TONE and found.chosen_sam == found.interp_sam
        assert "interpolation's spectrum" in found.verdict and "brightness only" in found.why


def test_the_fill_takes_the_model_s_brightness_along_the_residual_corrected_spectrum():
    """A date filled with the same-date residual and the model's brightness has the spectral
    angle of interpolation + residual, whatever the weight."""
    from smts_cloudfill_plugin.core.choose.candidates import FillPlan, blended_fill
    from smts_cloudfill_plugin.core.metrics import spectral_angle
    model = ours(residual_scale=0.0).eval()
    torch.manual_seed(1)
    for p in model.parameters():                  # an untrained model would be interpolation
        p.data.add_(0.05 * torch.randn_like(p))
    rng = np.random.default_rng(8)
    msi = torch.from_numpy(0.05 + rng.random((1, 6, 10, 20, 20), dtype=np.float32) * 0.3)
    missing = torch.zeros(1, 6, 20, 20, dtype=torch.bool)
    missing[0, 2, 4:14, 4:14] = True
    days = torch.tensor([[0., 10, 20, 30, 40, 50]])
    truth = msi[:, 2]
    with torch.no_grad():
        sar = torch.zeros(1, 5, 2, 20, 20)
        fills = {w: blended_fill(model, msi, missing, sar, days,
                                 FillPlan((0.0, 0.0, w, 0.0, 0.0, 0.0), (0.0, 0.0, 4.0, 0.0, 0.0, 0.0),
                                          (FULL, FULL, BRIGHTNESS, FULL, FULL, FULL)))[:, 2]
                 for w in (0.0, 0.5, 1.0)}
    angle = {w: spectral_angle(f, truth, dim=1)[missing[:, 2]] for w, f in fills.items()}
    assert not torch.allclose(fills[1.0], fills[0.0], atol=1e-4)      # the model moved it
    for w in (0.5, 1.0):
        assert torch.allclose(angle[w], angle[0.0], atol=2e-4)


def test_a_residual_right_on_brightness_and_wrong_on_spectra_is_taken_as_tone():
    """A date 30 % brighter than interpolation says, and a residual correction that gets the
    brightness but tilts the spectrum: whole, or with the model's brightness along it, it loses
    on SAM, so the floor refuses it; as interpolation's spectrum scaled (TONE) it keeps
    interpolation's angle exactly and most of the MSE gain, and is chosen."""
    from smts_cloudfill_plugin.core.choose.candidate_errors import DRAWS, SCALES, CandidateErrors
    from smts_cloudfill_plugin.core.choose.date_check import DateCheck
    gen = torch.Generator().manual_seed(3)
    e = CandidateErrors()
    for draw in range(DRAWS):
        interp = 0.05 + 0.3 * torch.rand(4, 10, 16, 16, generator=gen)
        truth = interp * 1.3 * (1 + 0.02 * torch.randn(4, 10, 16, 16, generator=gen))
        tilt = torch.tensor([1.2, 0.8] * 5).view(1, 10, 1, 1)
        corrections = [torch.zeros_like(interp)] + [(truth - interp) * tilt] * (len(SCALES) - 1)
        scored = torch.rand(4, 16, 16, generator=gen) < 0.3
        e.add(draw, interp, torch.zeros_like(interp), corrections, truth, scored)
    kind, scale, weight = e.best()
    assert e.kinds[kind] == TONE and scale > 0
    full = e.candidate(scale, 0, FULL)
    assert e.mean(1, full) > e.mean(1, (0, 0, 0))            # the residual's spectra lose SAM
    assert e.mean(1, (kind, scale, weight)) == e.mean(1, (0, 0, 0))   # tone: interp's angle
    assert e.mean(0, (kind, scale, weight)) < 0.2 * e.mean(0, (0, 0, 0))
    found = DateCheck("d2", "2", e.pixels, e.mean(0, (0, 0, 0)), 0.0, e.mean(1, (0, 0, 0)), 0.0,
                      0.0, "this date", float(SCALES[scale]), TONE, e.mean(0, (kind, scale, weight)),
                      e.mean(1, (kind, scale, weight)), (1.0, "SSIM, draw 1"), e.worst((kind, scale, weight)))
    assert found.verdict.startswith("interpolation + same-date residual")
    assert "interpolation's spectrum" in found.verdict and "brightness only" in found.why


def test_a_tone_fill_keeps_interpolation_s_spectral_angle_at_every_weight_and_scale():
    """TONE: interpolation's spectrum scaled towards interpolation + residual + w * model; its
    spectral angle is interpolation's whatever the weight, where FULL's moves."""
    from smts_cloudfill_plugin.core.choose.candidates import FillPlan, blended_fill, interpolation
    from smts_cloudfill_plugin.core.metrics import spectral_angle
    model = ours(residual_scale=0.0).eval()
    torch.manual_seed(1)
    for p in model.parameters():                  # an untrained model would be interpolation
        p.data.add_(0.05 * torch.randn_like(p))
    rng = np.random.default_rng(9)
    msi = torch.from_numpy(0.05 + rng.random((1, 6, 10, 20, 20), dtype=np.float32) * 0.3)
    missing = torch.zeros(1, 6, 20, 20, dtype=torch.bool)
    missing[0, 2, 4:14, 4:14] = True
    days = torch.tensor([[0., 10, 20, 30, 40, 50]])
    truth = msi[:, 2]
    plan = lambda w, kind: FillPlan((0.0, 0.0, w, 0.0, 0.0, 0.0),  # noqa: E731
                                    (0.0, 0.0, 4.0, 0.0, 0.0, 0.0), (FULL, FULL, kind, FULL, FULL, FULL))
    with torch.no_grad():
        sar = torch.zeros(1, 5, 2, 20, 20)
        interp = interpolation(msi, missing, days)[0][:, 2]
        angle = lambda f: spectral_angle(f, truth, dim=1)[missing[:, 2]]  # noqa: E731
        for w in (0.0, 0.5, 1.0):
            tone = blended_fill(model, msi, missing, sar, days, plan(w, TONE))[:, 2]
            full = blended_fill(model, msi, missing, sar, days, plan(w, FULL))[:, 2]
            assert torch.allclose(angle(tone), angle(interp), atol=2e-4)
            assert not torch.allclose(angle(full), angle(interp), atol=2e-3)
            assert not torch.allclose(tone, interp, atol=1e-4)      # residual and model moved it


def test_smoothed_brightness_keeps_the_angle_and_field_factors_and_adds_no_texture():
    """Whole cloudy dates take the model's brightness smoothed along interpolation's image
    (a guided filter): the spectral angle stays interpolation's, a factor constant over a field
    stays what it is up to the field's edge, and per-pixel noise in the factor is smoothed away
    (the raw factor's texture cost SSIM on the fully clear windows)."""
    from smts_cloudfill_plugin.core.choose.candidates import smooth_brightness
    from smts_cloudfill_plugin.core.metrics import spectral_angle
    rng = np.random.default_rng(11)
    spectrum = torch.from_numpy(0.05 + rng.random((10, 1, 1), dtype=np.float32) * 0.3)
    base = spectrum.repeat(1, 16, 16)[None].clone()             # (1, C, 16, 16): two fields
    base[..., 8:] *= 2.0
    factor = torch.full((1, 1, 16, 16), 0.2)
    factor[..., 8:] = -0.1                                       # one field brighter, one darker
    noise = torch.from_numpy(rng.normal(0, 0.05, (1, 1, 16, 16)).astype(np.float32))
    change = base * (factor + noise)
    fill = base + smooth_brightness(base, change)
    truth = torch.from_numpy(rng.random((1, 10, 16, 16), dtype=np.float32) + 0.1)
    assert torch.allclose(spectral_angle(fill, truth, dim=1), spectral_angle(base, truth, dim=1),
                          atol=1e-5)
    got = (fill / base - 1)[:, :1]                               # the factor applied per pixel
    assert (got - factor).abs().mean() < 0.25 * noise.abs().mean()       # the noise mostly gone
    edge = (got - factor)[..., 7:9]                              # both sides of the fields' edge
    assert edge.abs().mean() < 0.5 * noise.abs().mean()                  # the edge kept, not blurred
    flat = base + smooth_brightness(base, base * 0.2)            # a constant factor: kept exactly
    assert torch.allclose(flat, base * 1.2, atol=1e-5)


def test_a_lone_date_s_choice_stands_only_where_the_hidden_dates_agree():
    """best(each=...): the pooled figures favour the model's brightness by 10 %; where the hidden
    dates one by one disagree by more than that (0.8, 0.8, 1.05: spread 0.12) interpolation is
    chosen, where they agree (0.88, 0.9, 0.92) the model."""
    from smts_cloudfill_plugin.core.choose.candidate_errors import whole_errors

    def dates(ratios):
        parts = [whole_errors() for _ in ratios]
        for e, ratio in zip(parts, ratios):
            e.n[:] = 100
            e.sums[:] = 1.0
            e.sums[:, :, :, :, -1] = ratio                       # weight 1: the model's brightness
        return parts
    pooled = whole_errors()
    pooled.n[:] = 300
    pooled.sums[:] = 1.0
    pooled.sums[:, :, :, :, -1] = 0.9
    last = len(pooled.sums[0, 0, 0, 0]) - 1
    assert pooled.best()[2] == last
    assert pooled.best(dates((0.8, 0.8, 1.05))) == (0, 0, 0)
    assert pooled.best(dates((0.88, 0.9, 0.92)))[2] == last


@pytest.mark.parametrize("cloudy,agreement,model_taken", [(2, None, False), (2, 0.0, True),
                                                          (5, None, True)])
def test_a_lone_inner_whole_date_is_refused_a_model_one_hidden_date_says_is_wrong(
        cloudy, agreement, model_taken, monkeypatch):
    """A model right on every date but one (date 4, 5 % too bright): the hidden dates' pooled
    figures still favour it (as asking no agreement shows). For a lone whole date inside the
    group (2), whose hidden dates include date 4, the hidden dates disagree by more than the
    pooled gain, so interpolation fills it; at the group's end (5) the pooled figures decide and
    the model's brightness is taken."""
    from smts_cloudfill_plugin.core.choose import candidate_errors
    if agreement is not None:
        monkeypatch.setattr(candidate_errors, "AGREEMENT", agreement)
    rng = np.random.default_rng(1)
    base = rng.random((1, 1, 10, 20, 20), dtype=np.float32) * 0.3
    trend = np.linspace(0, 0.3, 6, dtype=np.float32)[None, :, None, None, None] ** 2
    msi = base + trend + 0.01 * rng.random((1, 6, 10, 20, 20), dtype=np.float32)
    msi = np.concatenate([msi, msi[:, :, :, ::-1]])
    missing = np.zeros((2, 6, 20, 20), bool)
    missing[:, cloudy] = True
    wrong = torch.ones(1, 6, 1, 1, 1)
    wrong[:, 4] = 1.05
    model = _Oracle(torch.from_numpy(msi) * wrong, 0.0)
    found = check_group(model, torch.device("cpu"), [(msi, missing, None)], None, [cloudy],
                        [f"d{i}" for i in range(6)], [str(i) for i in range(6)])[0]
    assert "d4" in found.basis
    assert (BASIS_AGREED in found.basis) == (cloudy == 2)
    assert (found.weight > 0) == model_taken
    if cloudy == 2:
        assert "hidden dates' own SSIM ratios" in found.why
