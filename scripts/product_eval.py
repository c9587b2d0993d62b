"""The evaluation matrix, through the product path: ``core.reconstruct`` on per-date rasters.

Exactly what QGIS runs: for each held-out date window (6 Sentinel-2 dates of the test part,
never trained on), the per-date GeoTIFFs converted from the shared data, a 0/1 cloud mask per
date (the real SCL clouds plus the scenario's synthetic ones), the Sentinel-1 rasters around
them; ``reconstruct`` writes the filled rasters, which are read back and scored on the hidden
clear pixels only. The baselines see the same inputs.

Scenarios (PAPER.md and issue 10):
- ``paper K``: the paper's synthetic clouds, K = 10..50, on all 6 dates;
- ``1 date K`` / ``2 dates K``: the same clouds on exactly 1 or 2 inner dates (clear neighbours);
- ``real 1 date`` / ``real all dates``: real SCL cloud shapes of other, partly cloudy dates of
  the same season on 1 inner date / on every date;
- ``whole 1 inner`` / ``whole 1 end`` / ``whole 2`` / ``whole 3 in a row``: wholly cloudy dates
  (an overcast acquisition): one inner date, one date at the window's first or last place, two
  inner dates, three consecutive inner dates (a month without a clear view); mostly clear dates
  are chosen, so that their clear pixels can be scored;
- ``demo``: the shipped sample with 2019-04-21 under the real clouds of 2019-04-26, its SCL masks
  grown by the product's default cloud buffer (as ``make demo`` runs it).

Metrics: masked MSE, SAM, PSNR, SSIM (reflectance, data range 1), pooled over windows, and the
patch-edge ratio: the mean jump between neighbouring filled pixels across a 5-pixel grid line
over the mean jump elsewhere, the worst of the 5 grid phases (the truth's value beside it).
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import time

import numpy as np
from osgeo import gdal

from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal, nearest_clear
from smts_cloudfill_plugin.core.synthetic_clouds import synthetic_cloud_masks
from smts_cloudfill_plugin.core.model.config import S2_BANDS
from smts_cloudfill_plugin.core.training.evaluate import ScoreSums
from smts_cloudfill_plugin.core.metrics import edge_ratio, patch_edge_jumps
from smts_cloudfill_plugin.core.progress import Feedback
from smts_cloudfill_plugin.core.reconstruct import output_paths, reconstruct
from smts_cloudfill_plugin.core.read.stack import Stack
from smts_cloudfill_plugin.core.training.data import Sample

gdal.UseExceptions()

CLOUDS = (10, 20, 30, 40, 50)
#: A window whose dates are at most this cloudy (on average) counts as fully clear.
CLEAR = 0.01
FEW_CLOUDS = (20, 40)
WHOLE_SCENARIOS = ["whole 1 inner", "whole 1 end", "whole 2", "whole 3 in a row"]
SCENARIOS = ([f"paper {k}" for k in CLOUDS] + [f"1 date {k}" for k in FEW_CLOUDS]
             + [f"2 dates {k}" for k in FEW_CLOUDS] + ["real 1 date", "real all dates"]
             + WHOLE_SCENARIOS)
#: The matrix's rows in order: the scenarios, the demo, the scenarios on the clear windows.
ROWS = [*SCENARIOS, "demo", *(f"clear windows: {n}" for n in SCENARIOS)]


def whole_dates(name: str, missing: np.ndarray, rng: np.random.Generator) -> list[int]:
    """The dates a whole-date scenario hides, among the window's mostly clear ones where it can
    (``missing``: the window's (T, H, W) real mask)."""
    dates = len(missing)
    clear = missing.reshape(dates, -1).mean(1) <= 0.5
    inner = [t for t in range(1, dates - 1) if clear[t]] or list(range(1, dates - 1))
    if name == "whole 1 inner":
        return [int(rng.choice(inner))]
    if name == "whole 1 end":
        ends = [t for t in (0, dates - 1) if clear[t]] or [0, dates - 1]
        return [int(rng.choice(ends))]
    if name == "whole 2":
        return [int(t) for t in rng.choice(inner, min(2, len(inner)), replace=False)]
    starts = list(range(1, dates - 3))  # three in a row, all inner
    scored = [a for a in starts if clear[a:a + 3].any()] or starts
    a = int(rng.choice(scored))
    return [a, a + 1, a + 2]


def scenario_hidden(name: str, missing: np.ndarray, dates: int, rng: np.random.Generator,
                    window: np.ndarray | None = None) -> np.ndarray:
    """(dates, H, W) synthetic clouds of a scenario; ``missing`` is the season's real mask
    (donor shapes for the real-shape scenarios), ``window`` the window's own (whole dates are
    chosen among its mostly clear dates)."""
    h, w = missing.shape[-2:]
    inner = list(range(1, dates - 1))
    if name.startswith("whole"):
        out = np.zeros((dates, h, w), bool)
        out[whole_dates(name, np.zeros((dates, h, w), bool) if window is None else window,
                        rng)] = True
        return out
    if name.startswith("paper"):
        return synthetic_cloud_masks(dates, h, w, int(name.split()[-1]), rng)
    if name.startswith(("1 date", "2 dates")):
        n = 1 if name.startswith("1 ") else 2
        out = np.zeros((dates, h, w), bool)
        for t in rng.choice(inner, n, replace=False):
            out[t] = synthetic_cloud_masks(1, h, w, int(name.split()[-1]), rng)[0]
        return out
    frac = missing.reshape(len(missing), -1).mean(1)
    donors = np.flatnonzero((frac >= 0.1) & (frac <= 0.7))
    which = [int(rng.choice(inner))] if name == "real 1 date" else list(range(dates))
    out = np.zeros((dates, h, w), bool)
    for t in which:
        out[t] = missing[rng.choice(donors)]
    return out


def write_mask(path: str, like: str, mask: np.ndarray) -> None:
    """A 0/1 cloud mask on the grid of ``like``."""
    src = gdal.Open(like)
    ds = gdal.GetDriverByName("GTiff").Create(path, src.RasterXSize, src.RasterYSize, 1,
                                              gdal.GDT_Byte)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
    ds = None


def product_fill(msi: list[str], missing: np.ndarray, sar: list[str] | None, weights: str,
                 work: str, self_check: bool = True) -> np.ndarray:
    """Run ``reconstruct`` on the per-date rasters with ``missing`` as their 0/1 masks and read
    the filled reflectance back: (T, C, H, W), NaN on dates that were not written."""
    masks = []
    for t, path in enumerate(msi):
        masks.append(os.path.join(work, f"mask_{t}.tif"))
        write_mask(masks[-1], path, missing[t])
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    reconstruct(msi, out, masks=masks, sar=sar, weights=weights, device="cpu",
                self_check=self_check, feedback=Feedback())
    filled = None
    for t, path in enumerate(msi):
        target = output_paths(path, out)[0]
        if not os.path.exists(target):
            continue
        with Stack([target], bands=S2_BANDS) as s:
            a = s.read(0, 0, s.width, s.height).msi[0]
        if filled is None:
            filled = np.full((len(msi), *a.shape), np.nan, np.float32)
        filled[t] = a
    return filled


def _sar_near(sar: list[tuple[object, str]], first, last, margin: int = 12) -> list[str]:
    return [p for d, p in sar if (first - d).days <= margin and (d - last).days <= margin]


class Pool(ScoreSums):
    """Scores pooled over windows for one (method, scenario), plus the patch-edge jumps."""

    def __init__(self) -> None:
        super().__init__()
        self.jumps = np.zeros((2, 5))

    def add(self, pred: np.ndarray, sample: Sample) -> None:
        super().add(pred, sample)
        self.jumps += patch_edge_jumps(pred, sample.scored)

    def merge(self, other: "Pool") -> None:
        super().merge(other)
        self.jumps += other.jumps

    def result(self) -> dict:
        return {**vars(self.scores()), "edge_ratio": edge_ratio(self.jumps)}


#: The classical fill, no network: the self-check choosing per date among interpolation and the
#: same-date residual corrections (whole, or as brightness on interpolation's spectrum), the
#: model's weight held at 0 (so the fill never runs it).
CLASSICAL = "interp. + same-date residual"


@contextlib.contextmanager
def check_settings(**settings):
    """The self-check with some of its module settings (WEIGHTS, SCALES, KINDS) held, for a variant."""
    from smts_cloudfill_plugin.core.choose import candidate_errors
    saved = {k: getattr(candidate_errors, k) for k in settings}
    for k, v in settings.items():
        setattr(candidate_errors, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(candidate_errors, k, v)


def classical_only():
    """The self-check with the model's weight held at 0 (for the CLASSICAL row): what the
    product does without the network, the same-date residual whole or as brightness (TONE)."""
    from smts_cloudfill_plugin.core.choose.candidates import FULL, TONE
    return check_settings(WEIGHTS=(0.0,), KINDS=(FULL, TONE))


#: Labels whose fills run inside a context (an experiment's variant of the product): label ->
#: context manager factory. CLASSICAL holds the model's weight at 0.
LABEL_CONTEXTS = {CLASSICAL: classical_only}


def fixed_weight(weight: float):
    """An experiment's variant: every date filled as interpolation + ``weight`` x the model's
    change (on whole dates its brightness only), no same-date residual; the check's only
    candidate, so it is taken wherever the check runs."""
    from smts_cloudfill_plugin.core.choose.candidates import FULL
    return check_settings(WEIGHTS=(float(weight),), SCALES=(0.0,), KINDS=(FULL,))


def _fill_all(pools: list[dict], truth, real, hidden, days, msi, sar, models, work) -> None:
    """Every method on one window and scenario; the scores go to each of ``pools``. A model
    whose label is in LABEL_CONTEXTS runs inside its context (CLASSICAL: the model's weight
    held at 0)."""
    sample = Sample(truth, real, hidden, None, days)
    if not sample.scored.any():
        return
    missing = real | hidden
    fills = {"truth": truth,
             "interpolation": interpolate_temporal(truth, missing, days).astype(np.float32),
             "nearest clear date": nearest_clear(truth, missing, days)}
    for label, (weights, check) in models.items():
        with LABEL_CONTEXTS.get(label, contextlib.nullcontext)():
            filled = product_fill(msi, missing, sar, weights, work, check)
        fills[label] = np.where(np.isnan(filled), truth, filled)
    for m, pred in fills.items():
        for p in pools:
            p.setdefault(m, Pool()).add(pred, sample)


def window_inputs(season, windows, msi_paths: dict, sar_paths: list):
    """Per date window: its index, the season, its season indices, its per-date MSI paths and
    the SAR paths near its span (what every window job starts from)."""
    for wi, w in enumerate(windows):
        idx = list(w.msi)
        dates = [season.dates[i] for i in idx]
        yield (wi, season, idx, [msi_paths[d] for d in dates],
               _sar_near(sar_paths, dates[0], dates[-1]))


def window_cases(wi: int, season, idx: list[int], seeds, scenarios):
    """Each (seed, scenario) case of date window ``wi`` (season indices ``idx``): yields seed,
    scenario, truth (T, C, H, W), real mask, the scenario's hidden pixels (not real clouds) and
    the dates' day offsets. The same clouds for every method and harness."""
    truth, real = season.msi[idx], season.missing[idx]
    dates = [season.dates[i] for i in idx]
    days = np.array([(d - dates[0]).days for d in dates], float)
    for seed in seeds:
        for name in scenarios:
            rng = np.random.default_rng([seed, wi, SCENARIOS.index(name)])
            hidden = scenario_hidden(name, season.missing, len(idx), rng, real) & ~real
            yield seed, name, truth, real, hidden, days


def _window_job(args) -> dict:
    """All scenarios and seeds of one date window, in a worker process; a fully clear window's
    scores also go to the ``clear windows: <scenario>`` rows."""
    import torch
    torch.set_num_threads(1)
    wi, season, idx, msi, sar, models, seeds, scenarios = args
    work = tempfile.mkdtemp(prefix="smts_eval_")
    rows: dict[str, dict[str, Pool]] = {}
    try:
        for _, name, truth, real, hidden, days in window_cases(wi, season, idx, seeds, scenarios):
            pools = [rows.setdefault(name, {})]
            if real.mean() <= CLEAR:
                pools.append(rows.setdefault(f"clear windows: {name}", {}))
            _fill_all(pools, truth, real, hidden, days, msi, sar, models, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def demo_job(args) -> dict:
    """The card's demo rows, one job for a worker process: args is (demo case, models)."""
    import torch
    torch.set_num_threads(1)
    (msi, real, sar, hidden_i, donor_mask, truth, days), models = args
    hidden = np.zeros_like(real)
    hidden[hidden_i] = donor_mask & ~real[hidden_i]
    work = tempfile.mkdtemp(prefix="smts_eval_")
    rows: dict[str, dict[str, Pool]] = {}
    try:
        _fill_all([rows.setdefault("demo", {})], truth, real, hidden, days, msi, sar, models, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def evaluate_matrix(season, windows, msi_paths: dict, sar_paths: list, models: dict[str, tuple],
                    seeds: tuple[int, ...], demo: tuple | None = None, processes: int = 2,
                    log=print, scenarios: list[str] | None = None) -> dict:
    """models: label -> (weights path, self_check). Windows run in ``processes`` worker
    processes; ``scenarios`` a subset of SCENARIOS (all by default; each keeps its clouds).
    Returns {"rows": {scenario: {method: scores}}, ...}."""
    scenarios = list(scenarios or SCENARIOS)
    import multiprocessing as mp
    t0 = time.monotonic()
    jobs = [(*inputs, models, tuple(seeds), scenarios)
            for inputs in window_inputs(season, windows, msi_paths, sar_paths)]
    rows: dict[str, dict[str, Pool]] = {}

    def merge(part: dict) -> None:
        for name, pools in part.items():
            for m, p in pools.items():
                rows.setdefault(name, {}).setdefault(m, Pool()).merge(p)

    with mp.get_context("fork").Pool(processes) as pool:
        pending = [pool.apply_async(demo_job, ((demo, models),))] if demo is not None else []
        for i, part in enumerate(pool.imap_unordered(_window_job, jobs)):
            merge(part)
            log(f"  {i + 1}/{len(jobs)} windows done, {time.monotonic() - t0:.0f} s")
        for p in pending:
            merge(p.get())
    clear = sum(int(season.missing[list(w.msi)].mean() <= CLEAR) for w in windows)
    return {"rows": {n: {m: p.result() for m, p in rows[n].items()} for n in ROWS if n in rows},
            "windows": len(windows), "clear_windows": clear, "seeds": list(seeds),
            "seconds": round(time.monotonic() - t0)}


def demo_case(sample_dir: str):
    """The demo's case on the shipped sample: inputs for :func:`evaluate_matrix`."""
    from smts_cloudfill_plugin.core.read.dates import day_numbers
    msi = sorted(glob.glob(os.path.join(sample_dir, "msi", "*.tif")))
    scl = sorted(glob.glob(os.path.join(sample_dir, "scl", "*.tif")))
    sar = sorted(glob.glob(os.path.join(sample_dir, "sar", "*.tif")))
    hidden_i = next(i for i, f in enumerate(msi) if "20190421" in f)
    donor_i = next(i for i, f in enumerate(msi) if "20190426" in f)
    with Stack(msi, scl, sar, bands=S2_BANDS) as stack:
        full = stack.read(0, 0, stack.width, stack.height)
        days = np.array(day_numbers(stack.dates))
    return msi, full.missing, sar, hidden_i, full.missing[donor_i], full.msi, days


def matrix_markdown(result: dict, reference: str = "interpolation") -> str:
    """scenario x method -> MSE, SAM, PSNR, SSIM, edge ratio, change vs interpolation."""
    lines = ["| scenario | method | masked MSE | SAM (rad) | PSNR (dB) | SSIM | patch-edge ratio "
             "| MSE vs interp. | SAM vs interp. | SSIM vs interp. |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, methods in result["rows"].items():
        base = methods[reference]
        for m, r in methods.items():
            if m == "truth":
                lines.append(f"| {name} | truth | | | | | {r['edge_ratio']:.2f} | | | |")
                continue
            d = "" if m == reference else (
                f"{100 * (r['mse'] / base['mse'] - 1):+.1f} % | {100 * (r['sam'] / base['sam'] - 1):+.1f} % "
                f"| {r['ssim'] - base['ssim']:+.4f}")
            d = d or " | "
            lines.append(f"| {name} | {m} | {r['mse']:.5f} | {r['sam']:.4f} | {r['psnr']:.2f} | "
                         f"{r['ssim']:.4f} | {r['edge_ratio']:.2f} | {d} |")
    return "\n".join(lines)
