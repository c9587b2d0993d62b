"""Bad input is refused with a clear message, through reconstruct() and the command line.

Each case is built from the shipped sample in ``tmp_path``; the library call must raise
:class:`CloudFillError` with the message, and ``python -m smts_cloudfill_plugin.core
reconstruct`` must exit 2 with "Error: <message>" on stderr and no traceback. Nothing may be
written in either case.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
from osgeo import gdal

from core_helpers import (copy_raster, damage_block, list_files, make_raster, read_raster,
                          run_cli, sample_paths, start_cli, truncate_copy)
from smts_cloudfill_plugin.core.errors import Cancelled, CloudFillError
from core_helpers import CallbackFeedback
from smts_cloudfill_plugin.core.progress import Feedback
from smts_cloudfill_plugin.core.reconstruct import reconstruct
from smts_cloudfill_plugin.core.write.raster import MASK_FILLED


@dataclass
class Case:
    msi: list[str]
    masks: list[str] | None
    sar: list[str] | None
    weights: str
    message: str                       # a regular expression the message must match

    def cli_args(self, out: str) -> list[str]:
        args = ["reconstruct", "--msi", *self.msi, "--out", out, "--weights", self.weights,
                "--device", "cpu", "--quiet"]
        if self.masks:
            args += ["--masks", *self.masks]
        if self.sar:
            args += ["--sar", *self.sar]
        return args


def _copies(sample, folder) -> dict[str, list[str]]:
    """Plain copies of the sample (same names) to damage one by one."""
    out = {}
    for kind in ("msi", "scl"):
        out[kind] = []
        for p in sample[kind]:
            dst = os.path.join(str(folder), kind, os.path.basename(p))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(p, dst)
            out[kind].append(dst)
    out["sar"] = list(sample["sar"])
    return out


def _case(name: str, sample, tmp_path, weights: str) -> Case:
    s = _copies(sample, tmp_path / "in")
    msi, scl, sar = s["msi"], s["scl"], s["sar"]
    if name == "crs_mismatch":
        copy_raster(sample["msi"][2], msi[2], outputSRS="EPSG:32632")
        return Case(msi, scl, sar, weights, r"S2_0000280849BAC91C_20190421\.tif' is in EPSG:32632 "
                    r"but 'S2_0000280849BAC91C_20190401\.tif' .* is in EPSG:32631")
    if name == "grid_mismatch":
        ds = gdal.Open(msi[4], gdal.GA_Update)
        gt = list(ds.GetGeoTransform())
        gt[0] += 10.0
        ds.SetGeoTransform(gt)
        ds = None
        return Case(msi, scl, sar, weights, r"20190511\.tif' .*is not on the grid of")
    if name == "grid_size_mismatch":
        copy_raster(sample["msi"][1], msi[1], srcWin=[0, 0, 64, 60])
        return Case(msi, scl, sar, weights, r"\(64 x 60 px.*is not on the grid of .*\(64 x 64 px")
    if name == "wrong_band_count":
        copy_raster(sample["msi"][3], msi[3], bandList=list(range(1, 10)))
        return Case(msi, scl, sar, weights, r"20190426\.tif' has 9 bands but .* has 10")
    if name == "unnamed_bands":
        for p in msi:
            data = read_raster(p)[:4]
            make_raster(p, data, nodata=0)
        return Case(msi, scl, sar, weights, r"has 4 bands without names, but the model needs 10")
    if name == "too_few_dates":
        return Case(msi[:3], scl[:3], sar, weights, r"needs at least 6 MSI dates; 3 were given")
    if name == "all_cloud":
        ones = [make_raster(tmp_path / "in" / f"cloud_{i}.tif", np.ones((64, 64), np.uint8))
                for i in range(6)]
        return Case(msi, ones, sar, weights, r"Every pixel of every MSI date is cloudy")
    if name == "unreadable_file":
        with open(msi[0], "w") as f:
            f.write("this is not a GeoTIFF\n")
        return Case(msi, scl, sar, weights, r"Cannot read MSI date 1 '.*20190401\.tif' as a raster")
    if name == "truncated_msi":
        truncate_copy(sample["msi"][2], msi[2], 0.6)
        return Case(msi, scl, sar, weights, r"MSI date 3 '.*20190421\.tif' is truncated")
    if name == "truncated_mask":
        # Cut before its georeferencing tags: GDAL opens it as a mask in no CRS.
        truncate_copy(sample["scl"][0], scl[0], 0.3)
        return Case(msi, scl, sar, weights, r"Cloud mask 1 '.*20190401\.tif' is truncated")
    if name == "damaged_block":
        damage_block(sample["msi"][4], msi[4])
        return Case(msi, scl, sar, weights, r"Cannot read MSI date 5 '.*20190511\.tif': the file "
                    r"is damaged or truncated")
    if name == "nonexistent_file":
        os.remove(msi[5])
        return Case(msi, scl, sar, weights, r"MSI date 6 '.*20190516\.tif' does not exist")
    if name == "nonexistent_sar":
        return Case(msi, scl, sar[:4] + [str(tmp_path / "S1_20190517.tif")], weights,
                    r"SAR date 5 '.*S1_20190517\.tif' does not exist")
    if name == "mask_count":
        return Case(msi, scl[:5], sar, weights, r"5 cloud masks were given for 6 MSI dates")
    if name == "dates_out_of_order":
        # Names without dates (the command line would sort dated names): dates from metadata.
        plain_msi, plain_scl = [], []
        for i, (m, c) in enumerate(zip(msi, scl)):
            plain_msi.append(shutil.copy(m, str(tmp_path / "in" / f"image_{'abcdef'[i]}.tif")))
            plain_scl.append(shutil.copy(c, str(tmp_path / "in" / f"mask_{'abcdef'[i]}.tif")))
        order = [0, 1, 3, 2, 4, 5]
        return Case([plain_msi[i] for i in order], [plain_scl[i] for i in order], sar, weights,
                    r"increasing date order: 'image_c\.tif' \(2019-04-21\) comes after "
                    r"'image_d\.tif' \(2019-04-26\)")
    if name in ("duplicate_date", "same_file_twice"):
        # 2019-04-21 given twice: a second copy of it, or the very same file again.
        twice = msi[2] if name == "same_file_twice" else \
            shutil.copy(msi[2], str(tmp_path / "in" / "copy_of_0421.tif"))
        message = (r"'S2_0000280849BAC91C_20190421\.tif' is given twice as an MSI date"
                   if name == "same_file_twice" else
                   r"'S2_0000280849BAC91C_20190421\.tif' and 'copy_of_0421\.tif' have the same "
                   r"date \(2019-04-21\): give each MSI date once")
        return Case(msi[:3] + [twice] + msi[3:5], scl[:3] + [scl[2]] + scl[3:5], sar, weights,
                    message)
    if name == "corrupt_weights":
        bad = tmp_path / "bad.pt"
        bad.write_bytes(np.random.default_rng(0).bytes(2048))
        return Case(msi, scl, sar, str(bad), r"'.*bad\.pt' is not a readable weights file")
    if name == "missing_weights":
        return Case(msi, scl, sar, str(tmp_path / "none.pt"), r"Weights file '.*none\.pt' does "
                    r"not exist")
    if name == "no_sar_for_smts":
        return Case(msi, scl, None, weights, r"needs at least 5 SAR dates; 0 were given")
    # ----- issue 19: inputs that were filled silently wrong ------------------------------------
    if name == "random_mask":
        # Grey levels 0..255 were read as SCL: neither classes, nor two values, nor fractions.
        noise = np.random.default_rng(4).integers(0, 256, (64, 64)).astype(np.uint8)
        make_raster(scl[3], noise)
        return Case(msi, scl, sar, weights, r"Cloud mask 'SCL_0000280849BAC91C_20190426\.tif' "
                    r"holds 256 different whole numbers from 0 to 255: it is neither a Sentinel-2 "
                    r"scene classification .* Give the date's SCL, or a mask with 1 where")
    if name == "masks_out_of_order":
        # The command line filled 2019-04-11 with the clouds of 2019-04-26.
        swapped = scl[:1] + [scl[3], scl[2], scl[1]] + scl[4:]
        return Case(msi, swapped, sar, weights, r"Cloud mask 'SCL_0000280849BAC91C_20190426\.tif' "
                    r"is of 2019-04-26 but is given for 'S2_0000280849BAC91C_20190411\.tif' of "
                    r"2019-04-11: .* Give the masks in the order of the MSI dates")
    if name in ("clear_date_x10", "cloudy_date_x10", "cloudy_date_div10"):
        # Came out 7x too bright, or 10x too dark, without a word.
        t, factor = {"clear_date_x10": (2, 10), "cloudy_date_x10": (3, 10),
                     "cloudy_date_div10": (3, 0.1)}[name]
        values = np.clip(read_raster(sample["msi"][t]).astype(np.float64) * factor, 1, 65535)
        make_raster(msi[t], values.astype(np.uint16), nodata=0,
                    descriptions=["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11",
                                  "B12"])
        stem = os.path.basename(msi[t]).replace(".", r"\.")
        word = "brighter" if factor > 1 else "darker"
        return Case(msi, scl, sar, weights, rf"'{stem}' \(2019-04-2\d\) is about "
                    rf"(?:[789]\.\dx|1[0-3]x) {word} in "
                    r"every band than the dates around it \(.*\), on their clear pixels: its "
                    r"values are on another scale.* Put it on the scale of the other dates")
    if name == "six_band_model":
        # Left 4 bands of every filled pixel at the cloud values while the mask said filled.
        from small_model import save_small_model
        six = save_small_model(tmp_path / "six.pt", msi_bands=("B02", "B03", "B04", "B08", "B11",
                                                                "B12"))
        return Case(msi, scl, sar, six, r"'S2_0000280849BAC91C_20190401\.tif' has 10 bands but "
                    r"the model 'six\.pt' .* fills only 6 of them: the other 4 \(B05, B06, B07, "
                    r"B8A\) would keep their cloudy values")
    raise AssertionError(name)


@pytest.fixture(scope="module")
def sample_module():
    return {k: sample_paths(k) for k in ("msi", "scl", "sar")}


#: Issue 19's silent-wrong inputs: refused now, through the library and the command line.
SILENT_WRONG = ["random_mask", "masks_out_of_order", "clear_date_x10", "cloudy_date_x10",
                "cloudy_date_div10", "six_band_model"]
CASES = ["crs_mismatch", "grid_mismatch", "grid_size_mismatch", "wrong_band_count",
         "unnamed_bands", "too_few_dates", "all_cloud", "unreadable_file", "nonexistent_file",
         "nonexistent_sar", "mask_count", "dates_out_of_order", "corrupt_weights",
         "missing_weights", "no_sar_for_smts", "truncated_msi", "truncated_mask", "damaged_block",
         "duplicate_date", "same_file_twice"] + SILENT_WRONG


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_by_reconstruct(name, sample, tmp_path, small_weights):
    case = _case(name, sample, tmp_path, small_weights)
    out = tmp_path / "out"
    with pytest.raises(CloudFillError) as e:
        reconstruct(case.msi, str(out), masks=case.masks, sar=case.sar, weights=case.weights,
                    device="cpu")
    assert type(e.value) is CloudFillError
    assert re.search(case.message, str(e.value)), str(e.value)
    assert not out.exists(), "a refused run leaves no (empty) output folder"


#: The cases the command line must refuse too (the others share their code path with these).
CLI_CASES = ["crs_mismatch", "grid_mismatch", "wrong_band_count", "too_few_dates", "all_cloud",
             "unreadable_file", "nonexistent_file", "mask_count", "dates_out_of_order",
             "corrupt_weights", "truncated_mask", "damaged_block"] + SILENT_WRONG


@pytest.fixture(scope="module")
def cli_results(sample_module, tmp_path_factory, small_weights):
    """Run the command-line cases, four at a time (each is a new Python that imports torch)."""
    cases = {}
    for name in CLI_CASES:
        folder = tmp_path_factory.mktemp(name)
        cases[name] = (_case(name, sample_module, folder, small_weights), folder / "out")
    results, running, waiting = {}, {}, list(CLI_CASES)
    while waiting or running:
        while waiting and len(running) < 4:
            name = waiting.pop(0)
            running[name] = start_cli(*cases[name][0].cli_args(str(cases[name][1])))
        name = next(iter(running))
        proc = running.pop(name)
        stdout, stderr = proc.communicate(timeout=300)
        results[name] = (proc.returncode, stdout, stderr, *cases[name])
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", CLI_CASES)
def test_bad_input_is_refused_by_the_command_line(name, cli_results):
    returncode, stdout, stderr, case, out = cli_results[name]
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    line = [ln for ln in stderr.splitlines() if ln.startswith("Error: ")]
    assert len(line) == 1, stderr
    assert re.search(case.message, line[0]), line[0]
    assert stdout == ""
    assert not out.exists(), "a refused run leaves no (empty) output folder"


@pytest.mark.slow
def test_the_command_line_succeeds_on_the_sample(sample, tmp_path, small_weights):
    """The good case, so the failures above are not the command line failing for any input.
    Files are given out of date order: the command line sorts them by the dates in the names."""
    out = tmp_path / "out"
    msi, scl = sample["msi"][::-1], sample["scl"][::-1]
    r = run_cli("reconstruct", "--msi", *msi, "--masks", *scl, "--sar", *sample["sar"],
                "--weights", small_weights, "--out", str(out), "--device", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    written = r.stdout.split()
    assert [os.path.basename(p) for p in written] == ["S2_0000280849BAC91C_20190411_filled.tif",
                                                      "S2_0000280849BAC91C_20190426_filled.tif"]
    # Each filled date, its mask and its expected error, the check's report and the run log.
    assert len(list_files(out)) == 8 and "cloudfill_check.html" in list_files(out)
    assert "cloudfill_log.txt" in list_files(out)
    assert sum(f.endswith("_filled_rmse.tif") for f in list_files(out)) == 2
    info = run_cli("info", small_weights)
    assert info.returncode == 0 and '"variant": "SMTS-ViT"' in info.stdout


def test_cancel_before_writing_leaves_nothing(sample, tmp_path, small_weights):
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        reconstruct(sample["msi"], str(out), masks=sample["scl"], sar=sample["sar"],
                    weights=small_weights, device="cpu",
                    feedback=CallbackFeedback(cancelled=lambda: True))
    assert list_files(out) == []


def test_cancel_while_writing_leaves_nothing(sample, tmp_path, small_weights):
    out = tmp_path / "out"
    calls, seen = [], set()

    def on_progress(fraction):
        calls.append(fraction)
        seen.update(list_files(out))

    fb = CallbackFeedback(on_progress=on_progress, cancelled=lambda: len(calls) >= 3)
    with pytest.raises(Cancelled, match="no output was written"):
        reconstruct(sample["msi"], str(out), masks=sample["scl"], sar=sample["sar"],
                    weights=small_weights, device="cpu", batch_size=2, feedback=fb)
    assert len(calls) == 3 and calls[-1] < 1
    assert any(f.endswith(".part") for f in seen), "temporary files existed while writing"
    assert not any(f.endswith("_filled.tif") for f in seen)
    assert list_files(out) == []


class _Warnings(Feedback):
    """Keeps the warnings (the messages a user must read) apart from the log lines."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def _never_clear_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "no clear value on any" in w]


def test_a_no_data_strip_on_every_date_is_warned_of(sample, tmp_path, small_weights):
    """Columns 0-4 have no value on any date (no data in the image on three dates, SCL
    'no data' on the other three, a wider strip on one): 5 x 64 = 320 px, 7.8 % of 64 x 64,
    which the fill can only make up. The user is told how many, and the masks mark them."""
    s = _copies(sample, tmp_path / "in")
    for t, (m, c) in enumerate(zip(s["msi"], s["scl"])):
        cols = 8 if t == 4 else 5
        # no data in the image (its no-data value, 0) on three dates, SCL class 0 on the others
        ds = gdal.Open(m if t < 3 else c, gdal.GA_Update)
        for b in range(ds.RasterCount):
            band = ds.GetRasterBand(b + 1)
            band.WriteArray(np.zeros((ds.RasterYSize, cols), np.uint16), 0, 0)
        ds = None
    fb = _Warnings()
    out = tmp_path / "out"
    results = reconstruct(s["msi"], str(out), masks=s["scl"], sar=s["sar"],
                          weights=small_weights, device="cpu", self_check=False, feedback=fb)
    found = _never_clear_warnings(fb.warnings)
    assert len(found) == 1, fb.warnings
    assert found[0].startswith("320 pixels (7.8 % of the raster) have no clear value on any of "
                               "the 6 MSI dates"), found[0]
    assert "no-data strip" in found[0] and "made-up values" in found[0]
    assert "'_filled_mask'" in found[0] and "Clip the inputs" in found[0]
    assert len(results) == 6, "every date has the strip to fill"
    for r in results:
        assert (read_raster(r.mask_path)[0][:, :5] == MASK_FILLED).all(), r.mask_path


def test_no_warning_when_every_pixel_is_clear_somewhere(sample, tmp_path, small_weights):
    """The sample: two cloudy dates, each pixel clear on some date. No such warning."""
    fb = _Warnings()
    reconstruct(sample["msi"], str(tmp_path / "out"), masks=sample["scl"], sar=sample["sar"],
                weights=small_weights, device="cpu", self_check=False, feedback=fb)
    assert _never_clear_warnings(fb.warnings) == [], fb.warnings


@pytest.mark.slow
@pytest.mark.parametrize("option, message", [
    (["--batch-size", "0"], r"The batch size is 0: a model call takes 1 window or more"),
    (["--scl-classes", "3,x"], r"SCL classes '3,x': 'x' is not a class number\. Give whole "
                               r"numbers separated by commas"),
    (["--scl-classes", "300"], r"SCL class 300 does not exist: Sentinel-2's scene classes run "
                               r"from 0 to 11"),
])
def test_bad_options_are_refused_by_the_command_line(option, message, sample, tmp_path,
                                                     small_weights):
    """Issue 19: '--batch-size 0' and '--scl-classes 3,x' printed ValueError tracebacks;
    '--scl-classes 300' (no such class) reported 'nothing to fill'. Refused runs left an empty
    output folder."""
    out = tmp_path / "out"
    r = run_cli("reconstruct", "--msi", *sample["msi"], "--masks", *sample["scl"], "--sar",
                *sample["sar"], "--weights", small_weights, "--out", str(out), "--device", "cpu",
                "--quiet", *option)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(r"^Error: " + message, r.stderr), r.stderr
    assert not out.exists()
    with pytest.raises(CloudFillError, match=message):
        reconstruct(sample["msi"], str(out), masks=sample["scl"], sar=sample["sar"],
                    weights=small_weights, device="cpu",
                    batch_size=int(option[1]) if option[0] == "--batch-size" else 8,
                    scl_classes=option[1] if option[0] == "--scl-classes" else (3, 8, 9, 10))
    assert not out.exists()
