"""How trustworthy is ``<name>_filled_rmse.tif``? Calibration and discrimination on held-out windows.

Through the product path, as ``product_eval`` runs it: for each held-out date window of the
matrix (``bundled_models.matrix_inputs``) and each scenario, the scenario's clouds hide clear
pixels, ``core.reconstruct`` fills them (self-check on) and writes each filled date's expected
error; on the hidden clear pixels, the actual error is the RMS over bands of fill - truth.

- Calibration, as UnCRtainTS' UCE: the pixels in 10 bins of predicted error (quantiles, ties
  kept together), per bin the actual RMS error against the predicted RMS error;
  UCE = sum_b n_b |actual_b - predicted_b| / sum_b n_b actual_b (0 is perfect).
- Discrimination: actual RMS error of the half of the pixels with the higher predicted error
  over that of the lower half (ties split at random; 1 means the prediction does not rank).

Usage: python scripts/confidence_eval.py [--scenarios ...] [--seeds 0 1] [--processes 2]
(about 2 min per scenario and seed on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCENARIOS = ["1 date 20", "paper 30", "real 1 date", "real all dates", "whole 1 inner",
             "whole 3 in a row"]


def _job(args) -> dict:
    import torch
    import product_eval as pe
    from osgeo import gdal
    from smts_cloudfill_plugin.core.model.config import S2_BANDS
    from smts_cloudfill_plugin.core.progress import Feedback
    from smts_cloudfill_plugin.core.read.stack import Stack
    from smts_cloudfill_plugin.core.reconstruct import reconstruct
    from smts_cloudfill_plugin.core.write.names import filled_paths
    torch.set_num_threads(1)
    wi, season, idx, msi, sar, weights, seeds, scenarios = args
    truth, real = season.msi[idx], season.missing[idx]
    out: dict[str, list] = {}
    work = tempfile.mkdtemp(prefix="smts_conf_")
    try:
        for seed in seeds:
            for name in scenarios:
                rng = np.random.default_rng([seed, wi, pe.SCENARIOS.index(name)])
                hidden = pe.scenario_hidden(name, season.missing, len(idx), rng, real) & ~real
                if not hidden.any():
                    continue
                missing = real | hidden
                masks = []
                for t, path in enumerate(msi):
                    masks.append(os.path.join(work, f"mask_{t}.tif"))
                    pe.write_mask(masks[-1], path, missing[t])
                folder = os.path.join(work, "out")
                shutil.rmtree(folder, ignore_errors=True)
                reconstruct(msi, folder, masks=masks, sar=sar, weights=weights, device="cpu",
                            feedback=Feedback())
                for t in np.flatnonzero(hidden.reshape(len(idx), -1).any(1)):
                    names = filled_paths(msi[t], folder)
                    if not os.path.exists(names.filled):
                        continue
                    with Stack([names.filled], bands=S2_BANDS) as s:
                        fill = s.read(0, 0, s.width, s.height).msi[0]
                    scored = hidden[t]
                    actual = ((fill - truth[t]) ** 2).mean(0)[scored]
                    if os.path.exists(names.rmse):
                        predicted = gdal.Open(names.rmse).ReadAsArray()[scored]
                    else:
                        predicted = np.full(actual.shape, np.nan, np.float32)
                    part = out.setdefault(name, [[], []])
                    part[0].append(predicted.astype(np.float64))
                    part[1].append(actual.astype(np.float64))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in out.items()}


def calibration(predicted: np.ndarray, squares: np.ndarray, bins: int = 10,
                seed: int = 0) -> dict:
    """UCE, discrimination and the bins' (predicted, actual) RMS errors, on pixels with a
    prediction."""
    ok = np.isfinite(predicted) & (predicted >= 0)
    p, a = predicted[ok], squares[ok]
    if p.size == 0:
        return {"pixels": 0, "without_prediction": int((~ok).sum())}
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, p, side="right")
    table, gap, total = [], 0.0, 0.0
    for b in np.unique(which):
        sel = which == b
        actual, pred = float(np.sqrt(a[sel].mean())), float(np.sqrt((p[sel] ** 2).mean()))
        table.append((int(sel.sum()), pred, actual))
        gap += sel.sum() * abs(actual - pred)
        total += sel.sum() * actual
    rank = np.lexsort((np.random.default_rng(seed).random(p.size), p))
    lower, upper = rank[:p.size // 2], rank[p.size // 2:]
    return {"pixels": int(p.size), "without_prediction": int((~ok).sum()),
            "uce": gap / total, "discrimination": float(np.sqrt(a[upper].mean() / a[lower].mean())),
            "predicted_rmse": float(np.sqrt((p ** 2).mean())),
            "actual_rmse": float(np.sqrt(a.mean())),
            "bins": table}


def main() -> None:
    import multiprocessing as mp
    import bundled_models as bm
    import product_eval as pe
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", nargs="+", default=SCENARIOS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    season, windows, msi_paths, sar_paths = bm.matrix_inputs()
    weights = os.path.join(bm.ROOT, "model_weights", "smts_vit.pt")
    jobs = []
    for wi, w in enumerate(windows):
        idx = list(w.msi)
        dates = [season.dates[i] for i in idx]
        jobs.append((wi, season, idx, [msi_paths[d] for d in dates],
                     pe._sar_near(sar_paths, dates[0], dates[-1]), weights, tuple(args.seeds),
                     args.scenarios))
    t0 = time.monotonic()
    pooled: dict[str, list] = {}
    with mp.get_context("fork").Pool(args.processes) as pool:
        for i, part in enumerate(pool.imap_unordered(_job, jobs)):
            for k, (p, a) in part.items():
                pooled.setdefault(k, [[], []])
                pooled[k][0].append(p)
                pooled[k][1].append(a)
            print(f"  {i + 1}/{len(jobs)} windows, {time.monotonic() - t0:.0f} s", flush=True)
    result = {}
    everything = [[], []]
    for name in args.scenarios:
        if name not in pooled:
            continue
        p, a = np.concatenate(pooled[name][0]), np.concatenate(pooled[name][1])
        everything[0].append(p)
        everything[1].append(a)
        result[name] = calibration(p, a)
    result["all scenarios"] = calibration(np.concatenate(everything[0]),
                                          np.concatenate(everything[1]))
    for name, r in result.items():
        if r.get("pixels"):
            print(f"{name:>18}: UCE {r['uce']:.3f}, upper/lower half {r['discrimination']:.2f}, "
                  f"predicted RMSE {r['predicted_rmse']:.4f}, actual {r['actual_rmse']:.4f} "
                  f"({r['pixels']} px, {r['without_prediction']} without a prediction)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"windows": len(windows), "seeds": args.seeds, "results": result,
                       "seconds": round(time.monotonic() - t0)}, f, indent=1)


if __name__ == "__main__":
    main()
