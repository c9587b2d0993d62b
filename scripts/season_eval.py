"""A whole held-out season through ``core.reconstruct``: how the dates are grouped into passes.

The model fills 6 consecutive dates at once and one pass over the raster fills every date of a
group (``core/plan/date_groups.py``). This runs the real 2019 season of the test site (dates
never trained on, 2019-03-01 on), with synthetic clouds hidden on clear pixels of several dates
on top of the real SCL clouds, under each grouping:

- ``centred``: each cloudy date in its own group, two dates before it (the earlier behaviour:
  about one pass per cloudy date);
- ``cover m``: the fewest groups that leave each cloudy date ``m`` dates on either side.

and reports the passes, the windows the model ran, the time, and the masked MSE / SAM on the
hidden pixels, next to temporal interpolation over the whole season (the baseline users have).

    .venv/bin/python scripts/season_eval.py [--seeds 0 1] [--scenarios every other]
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import glob
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bundled_models as bm  # noqa: E402
import product_eval as pe  # noqa: E402
from smts_cloudfill_plugin.core import reconstruct as rec  # noqa: E402
from smts_cloudfill_plugin.core.plan.date_groups import cover_dates  # noqa: E402
from smts_cloudfill_plugin.core.read.dates import day_numbers, parse_date  # noqa: E402
from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal  # noqa: E402
from smts_cloudfill_plugin.core.training.data import Sample  # noqa: E402

START = dt.date(2019, 3, 1)


def centred(targets: list[int], count: int, size: int) -> list[tuple[list[int], list[int]]]:
    """The earlier grouping: each cloudy date's own group of ``size`` dates, the date third."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for t in targets:
        start = min(max(t - (size - 1) // 2, 0), max(count - size, 0))
        groups.setdefault(tuple(range(start, min(start + size, count))), []).append(t)
    return [(list(g), ts) for g, ts in groups.items()]


GROUPINGS = {"centred": centred,
             **{f"cover {m}": functools.partial(cover_dates, margin=m) for m in (2, 1, 0)}}


def hidden_clouds(scenario: str, missing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W) clouds hidden on top of the real ones: real cloud shapes of other dates, on
    every date that is mostly clear (``every``) or on every other such date (``other``)."""
    frac = missing.reshape(len(missing), -1).mean(1)
    donors = np.flatnonzero((frac >= 0.1) & (frac <= 0.7))
    clear = np.flatnonzero(frac <= 0.5)
    chosen = clear if scenario == "every" else clear[::2]
    out = np.zeros_like(missing)
    for t in chosen:
        out[t] = missing[rng.choice(donors)] & ~missing[t]
    return out


def per_date_mse(pred: np.ndarray, truth: np.ndarray, scored: np.ndarray) -> dict[int, float]:
    """Masked MSE of each date with scored pixels."""
    err = ((pred - truth) ** 2).mean(1)
    return {t: float(err[t][scored[t]].mean()) for t in range(len(truth)) if scored[t].any()}


def run(seeds: list[int], scenarios: list[str], groupings: list[str], weights: str) -> dict:
    season = bm.slice_season(bm.site_season(bm.SITE_B), START, None)
    folder = bm.converted_site(bm.SITE_B)
    by_date = {parse_date(os.path.basename(p)): p for p in glob.glob(os.path.join(folder, "msi", "*.tif"))}
    msi = [by_date[d] for d in season.dates]
    sar = pe._sar_near(sorted((parse_date(os.path.basename(p)), p)
                              for p in glob.glob(os.path.join(folder, "sar", "*.tif"))),
                       season.dates[0], season.dates[-1])
    days = np.array(day_numbers(season.dates), np.float32)
    truth, real = season.msi, season.missing
    results: dict = {"dates": len(msi), "first": str(season.dates[0]), "last": str(season.dates[-1])}
    for scenario in scenarios:
        for seed in seeds:
            hidden = hidden_clouds(scenario, real, np.random.default_rng(seed))
            sample = Sample(truth, real, hidden, None, days)
            missing = real | hidden
            cloudy = int((missing.reshape(len(msi), -1).any(1)).sum())
            rows = results.setdefault(scenario, {})
            interp = pe.Pool()
            interp.add(interpolate_temporal(truth, missing, days).astype(np.float32), sample)
            interp_fill = interpolate_temporal(truth, missing, days).astype(np.float32)
            rows.setdefault("interpolation", []).append(
                {**interp.result(), "seed": seed,
                 "per_date": per_date_mse(interp_fill, truth, sample.scored)})
            for name in groupings:
                rec.cover_dates = GROUPINGS[name]
                with tempfile.TemporaryDirectory() as work:
                    t0 = time.perf_counter()
                    filled = pe.product_fill(msi, missing, sar, weights, work)
                    seconds = time.perf_counter() - t0
                pool = pe.Pool()
                pred = np.where(np.isnan(filled), truth, filled)
                pool.add(pred, sample)
                groups = GROUPINGS[name](
                    [t for t in range(len(msi)) if missing[t].any()], len(msi), 6)
                rows.setdefault(name, []).append(
                    {**pool.result(), "seed": seed, "passes": len(groups), "cloudy": cloudy,
                     "seconds": seconds, "per_date": per_date_mse(pred, truth, sample.scored)})
                print(f"{scenario} seed {seed} {name}: {len(groups)} passes for {cloudy} cloudy "
                      f"dates, {seconds:.1f} s, MSE {rows[name][-1]['mse']:.5f} "
                      f"(interpolation {rows['interpolation'][-1]['mse']:.5f})", flush=True)
    return results


def pattern() -> list[float]:
    """Each 2019 date's cloudy share as the product sees it (SCL, default cloud buffer): the
    ``SEASON_2019`` constant of ``scripts/bench.py``."""
    from smts_cloudfill_plugin.core.progress import Feedback
    from smts_cloudfill_plugin.core.read.missing import scan_missing
    from smts_cloudfill_plugin.core.read.stack import Stack
    folder = bm.converted_site(bm.SITE_B)
    msi = sorted(p for p in glob.glob(os.path.join(folder, "msi", "*.tif")) if "_2019" in p)
    scl = sorted(p for p in glob.glob(os.path.join(folder, "scl", "*.tif")) if "_2019" in p)
    with Stack(msi, scl) as st:
        return [round(f, 3) for f in scan_missing(st, Feedback()).fractions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--scenarios", nargs="+", default=["every", "other"])
    ap.add_argument("--groupings", nargs="+", default=list(GROUPINGS))
    ap.add_argument("--weights", default=os.path.join(bm.ROOT, "model_weights", "smts_vit.pt"))
    ap.add_argument("--out", default=os.path.join(bm.ROOT, "out", "season_eval.json"))
    ap.add_argument("--pattern", action="store_true",
                    help="print the 2019 season's cloudy share per date (for scripts/bench.py)")
    args = ap.parse_args()
    if args.pattern:
        print(pattern())
        return
    result = run(args.seeds, args.scenarios, args.groupings, args.weights)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{'scenario':<8} {'grouping':<14} {'passes':>6} {'seconds':>8} {'MSE':>9} {'SAM':>7}")
    for scenario in args.scenarios:
        for name, rows in result[scenario].items():
            mean = {k: float(np.mean([r[k] for r in rows])) for k in ("mse", "sam")}
            extra = (f"{np.mean([r['passes'] for r in rows]):>6.1f} "
                     f"{np.mean([r['seconds'] for r in rows]):>8.1f}") if "passes" in rows[0] \
                else f"{'':>6} {'':>8}"
            print(f"{scenario:<8} {name:<14} {extra} {mean['mse']:>9.5f} {mean['sam']:>7.4f}")


if __name__ == "__main__":
    main()
