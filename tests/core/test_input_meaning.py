"""What inputs mean is decided from what they hold, and said (issue 19, items 4-7 and 9).

A cloud mask's meaning (SCL, two values, a cloud probability) comes from its content and the log
says which was taken; a mask of another date, a date on another scale than its neighbours and a
model that fills only some of the bands are refused (tests/core/test_bad_input.py has those
refusals through the library and the command line); bands matched by position are warned of.
Built from the shipped sample; through reconstruct() and the command line.
"""
from __future__ import annotations

import datetime as dt
import os
import re

import numpy as np
import pytest

from core_helpers import CallbackFeedback, make_raster, read_raster, run_cli
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.fill_checks import LEVEL_FACTOR, check_levels
from smts_cloudfill_plugin.core.read.dates import mask_of_another_date
from smts_cloudfill_plugin.core.read.stack import Stack
from smts_cloudfill_plugin.core.reconstruct import reconstruct
from smts_cloudfill_plugin.core.write.raster import MASK_FILLED

#: SCL classes the sample's 0/1 and 0/255 masks are made of (clouds, shadows, cirrus).
CLOUDY = (3, 8, 9, 10, 11)


def _run(sample, out, masks, weights, **kw):
    said: list[str] = []
    results = reconstruct(sample["msi"], str(out), masks=masks, sar=sample["sar"],
                          weights=weights, device="cpu", self_check=False,
                          feedback=CallbackFeedback(on_message=said.append), **kw)
    return results, said


def _filled(results, t: int) -> np.ndarray:
    return read_raster(next(r for r in results if r.date_index == t).mask_path)[0] == MASK_FILLED


def test_a_0_255_mask_fills_its_clouds_and_says_so(sample, tmp_path, small_weights):
    """A 0/255 mask was read as SCL: class 0 (no data) everywhere it was clear, 255 no class:
    every clear pixel replaced, no cloud filled. Now 255 is cloud, and the log says so."""
    clouds = np.isin(read_raster(sample["scl"][3])[0], CLOUDY)
    m255 = make_raster(tmp_path / "clouds_20190426.tif", np.where(clouds, 255, 0).astype(np.uint8))
    results, said = _run(sample, tmp_path / "out", [None, None, None, m255, None, None],
                         small_weights)
    assert [r.date_index for r in results] == [3]
    np.testing.assert_array_equal(_filled(results, 3), clouds)
    assert "WARNING: Cloud mask 'clouds_20190426.tif' holds 0 and 255: read as 255 = cloud, " \
           "0 = clear. If 0 marks its clouds, invert it (a 0/1 mask with 1 = cloud)." in said
    assert f"  S2_0000280849BAC91C_20190426.tif: {100 * clouds.mean():.1f} % cloudy or no data" \
        in said


def test_a_float_cloud_probability_is_thresholded_and_said(sample, tmp_path, small_weights):
    """A Float32 0.1/0.9 mask made the whole date cloudy (every non-zero value was cloud)."""
    clouds = np.isin(read_raster(sample["scl"][3])[0], CLOUDY)
    prob = make_raster(tmp_path / "p_20190426.tif", np.where(clouds, 0.9, 0.1).astype(np.float32))
    results, said = _run(sample, tmp_path / "out", [None, None, None, prob, None, None],
                         small_weights)
    np.testing.assert_array_equal(_filled(results, 3), clouds)
    assert any(m.startswith("WARNING: Cloud mask 'p_20190426.tif' holds fractions from 0.1 to "
                            "0.9: read as a cloud probability (0.1 to 0.9), cloudy above 0.5.")
               for m in said), said


def test_scl_and_0_1_masks_are_named_in_the_log(sample, tmp_path, small_weights):
    clouds = np.isin(read_raster(sample["scl"][1])[0], CLOUDY)
    zero_one = make_raster(tmp_path / "m_20190411.tif", clouds.astype(np.uint8))
    masks = list(sample["scl"])
    masks[1] = zero_one
    _, said = _run(sample, tmp_path / "out", masks, small_weights)
    assert "Cloud mask read as 0/1 cloud mask (1 = cloud): 'm_20190411.tif'." in said
    assert any(re.fullmatch(r"Cloud masks read as Sentinel-2 scene classification \(SCL\), "
                            r"classes 0, 3, 8, 9, 10, 11 missing, clouds and shadows grown by 3 px: "
                            r"'SCL_0000280849BAC91C_20190401\.tif', .* and 2 more\.", m)
               for m in said), said
    assert not [m for m in said if m.startswith("WARNING")], said


@pytest.mark.slow
def test_the_command_line_says_how_it_read_0_255_masks(sample, tmp_path, small_weights):
    """Through the command line: the cloudy dates' 0/255 masks read as 255 = cloud (a warning
    each; the clear dates' masks hold only 0, a 0/1 mask with no cloud), and the dates filled
    where their masks say."""
    masks = []
    for p in sample["scl"]:
        clouds = np.isin(read_raster(p)[0], CLOUDY)
        name = os.path.basename(p).replace("SCL_", "C255_")
        masks.append(make_raster(tmp_path / "m" / name, np.where(clouds, 255, 0).astype(np.uint8)))
    out = tmp_path / "out"
    r = run_cli("reconstruct", "--msi", *sample["msi"], "--masks", *masks, "--sar", *sample["sar"],
                "--weights", small_weights, "--out", str(out), "--device", "cpu",
                "--no-self-check")
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.splitlines() if ln.startswith("WARNING: Cloud mask 'C255_")]
    assert [w.split("'")[1] for w in warned] == ["C255_0000280849BAC91C_20190411.tif",
                                                 "C255_0000280849BAC91C_20190426.tif"]
    assert all("holds 0 and 255: read as 255 = cloud, 0 = clear" in w for w in warned)
    written = sorted(os.path.basename(p) for p in r.stdout.split())
    assert written == ["S2_0000280849BAC91C_20190411_filled.tif",
                       "S2_0000280849BAC91C_20190426_filled.tif"]
    for t, stamp in ((1, "20190411"), (3, "20190426")):
        filled = read_raster(out / f"S2_0000280849BAC91C_{stamp}_filled_mask.tif")[0] == 1
        np.testing.assert_array_equal(filled, read_raster(masks[t])[0] == 255)


def _unnamed_copies(sample, folder, reverse: bool = False) -> list[str]:
    """The sample's MSI without band names (their bands reversed when ``reverse``)."""
    out = []
    for p in sample["msi"]:
        data = read_raster(p)
        out.append(make_raster(os.path.join(str(folder), os.path.basename(p)),
                               data[::-1] if reverse else data, nodata=0))
    return out


@pytest.mark.slow
def test_bands_taken_by_position_are_warned_of(sample, tmp_path, small_weights):
    """Unnamed bands in reversed order gave a 1005 DN mean error without a word: bands
    without names are matched by position, and the log now says so, naming the files and the
    order taken."""
    msi = _unnamed_copies(sample, tmp_path / "in", reverse=True)
    out = tmp_path / "out"
    r = run_cli("reconstruct", "--msi", *msi, "--masks", *sample["scl"], "--sar", *sample["sar"],
                "--weights", small_weights, "--out", str(out), "--device", "cpu",
                "--no-self-check", "--quiet")
    assert r.returncode == 0, r.stderr
    assert ("WARNING: 'S2_0000280849BAC91C_20190401.tif', 'S2_0000280849BAC91C_20190411.tif', "
            "'S2_0000280849BAC91C_20190421.tif' and 3 more name no bands: their bands are taken "
            "by position, in this order: B02, B03, B04, B05, B06, B07, B08, B8A, B11, B12. If a "
            "file holds them in another order, its fill mixes the bands up: name its bands "
            "(descriptions B02 ... B12) or reorder them.") in r.stderr.splitlines()
    said: list[str] = []
    reconstruct(sample["msi"], str(tmp_path / "named"), masks=sample["scl"], sar=sample["sar"],
                weights=small_weights, device="cpu", self_check=False,
                feedback=CallbackFeedback(on_message=said.append))
    assert not [m for m in said if "name no bands" in m or "names no bands" in m]


def test_a_later_unnamed_date_is_said_to_follow_the_first(sample, tmp_path):
    """Named first date, an unnamed later one: taken in the first's order, and named."""
    unnamed = _unnamed_copies(sample, tmp_path, reverse=False)
    with Stack([sample["msi"][0], unnamed[1]], bands=("B04", "B03", "B02")) as st:
        assert st.by_position == [1]
        said: list[str] = []
        from smts_cloudfill_plugin.core.fill_checks import warn_bands_by_position
        warn_bands_by_position(st, CallbackFeedback(on_message=said.append))
    assert said == ["WARNING: 'S2_0000280849BAC91C_20190411.tif' names no bands: its bands are "
                    "taken by position, in this order: B02, B03, B04. If a file holds them in "
                    "another order, its fill mixes the bands up: name its bands (descriptions "
                    "B02 ... B12) or reorder them."]


# ----- a date's level against its neighbours -----------------------------------------------------
def _levels(*factors: float | None) -> list[np.ndarray | None]:
    """Ten-band levels of a season with a typical spectrum, each date scaled by its factor."""
    spectrum = np.array([0.04, 0.07, 0.05, 0.11, 0.25, 0.3, 0.33, 0.35, 0.2, 0.1])
    return [None if f is None else spectrum * f for f in factors]


class _Stack:
    """What check_levels reads of a stack: each date's name and date."""

    def __init__(self, n: int) -> None:
        self.msi = [type("Info", (), {"name": f"d{t}.tif",
                                      "date": dt.date(2019, 4, 1) + dt.timedelta(10 * t)})()
                    for t in range(n)]


def test_natural_changes_between_dates_are_not_refused():
    """Haze, snow or a harvest change some bands by far more than LEVEL_FACTOR, never all."""
    levels = _levels(1, 1.2, 0.8, None, 1, 1)
    hazy = levels[2].copy()
    hazy[:4] *= 6  # the visible bands of a hazy date
    levels[2] = hazy
    check_levels(_Stack(6), levels)
    check_levels(_Stack(6), _levels(1, 2.2, 1, 0.5, 1, 1))   # the most real seasons show
    check_levels(_Stack(1), _levels(10))


@pytest.mark.parametrize("factors, date, word", [
    ((1, 1, 10, 1, 1, 1), "d2.tif", "brighter"),
    ((10, 1, 1, 1, 1, 1), "d0.tif", "brighter"),
    ((1, 10, 1, 1, 1, 1), "d1.tif", "brighter"),  # not d0, whose one neighbour on the left is off
    ((1, 1, 1, 0.1, 1, 1), "d3.tif", "darker"),
    ((1, 1, None, 10, None, 1), "d3.tif", "brighter"),  # dates without clear pixels skipped
])
def test_the_date_on_another_scale_is_the_one_named(factors, date, word):
    with pytest.raises(CloudFillError, match=rf"^'{re.escape(date)}' \(2019-0\d-\d\d\) is about "
                                             rf"10x {word} in every band"):
        check_levels(_Stack(len(factors)), _levels(*factors))
    assert LEVEL_FACTOR == 4.0


# ----- a mask's date -----------------------------------------------------------------------------
def test_a_mask_s_date_is_checked_against_its_image_s_own_date(sample, tmp_path):
    """One rule (read.dates.mask_of_another_date) for the engine and the date table: a mask
    naming another date is refused; a corrected image date does not make its mask another
    date's; a mask without a date is taken as given."""
    d = dt.date(2019, 4, 11)
    assert mask_of_another_date(d, dt.date(2019, 4, 26))
    assert not mask_of_another_date(d, d) and not mask_of_another_date(None, d)
    assert not mask_of_another_date(d, None)
    with pytest.raises(CloudFillError, match=r"Cloud mask 'SCL_0000280849BAC91C_20190426\.tif' "
                                             r"is of 2019-04-26 but is given for"):
        Stack(sample["msi"][:2], [sample["scl"][0], sample["scl"][3]])
    corrected = [dt.date(2019, 4, 2), dt.date(2019, 4, 12)]
    with Stack(sample["msi"][:2], sample["scl"][:2], msi_dates=corrected) as st:
        assert st.dates == corrected
    dateless = make_raster(tmp_path / "clouds.tif", np.zeros((64, 64), np.uint8))
    with Stack(sample["msi"][:2], [sample["scl"][0], dateless]) as st:
        assert not st.masks[1].is_scl
