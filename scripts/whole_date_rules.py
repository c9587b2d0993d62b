#!/usr/bin/env python3
"""Whole-date rules of the self-check, compared offline on the product's own fills.

For every whole-date fill of the matrix (held-out windows x seeds x ``WHOLE_SCENARIOS``), runs
``core.reconstruct`` once with the check as it is, keeping what its hidden whole dates (the
donors) said of every weight of the model's brightness, and once per weight with that weight
forced, keeping what each weight really scores on the hidden dates. Any rule that maps the donors'
figures to a weight can then be scored without running the product again
(:func:`apply_rule`). Writes one JSON record per fill (``--out``).

    python scripts/whole_date_rules.py --out /tmp/rules.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundled_models as bm  # noqa: E402 (puts the repository on sys.path)
import product_eval as pe  # noqa: E402

import numpy as np  # noqa: E402

from smts_cloudfill_plugin.core.choose import candidate_errors as grid  # noqa: E402
from smts_cloudfill_plugin.core.choose import self_check  # noqa: E402
from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal  # noqa: E402
from smts_cloudfill_plugin.core.training.data import Sample  # noqa: E402
from smts_cloudfill_plugin.core.training.evaluate import ScoreSums  # noqa: E402

_DONORS: list[dict] = []


def _capture_donors():
    """Wrap the check's whole-date pass so each run's donors' sums are kept in _DONORS."""
    original = self_check._hide_whole

    def hide_whole(run, donors, hidden_whole, windows):
        original(run, donors, hidden_whole, windows)
        _DONORS.append({str(k): {"sums": e.sums.tolist(), "n": e.n.tolist()}
                        for k, e in hidden_whole.items()})
    self_check._hide_whole = hide_whole


def _window_job(args) -> list[dict]:
    import torch
    torch.set_num_threads(1)
    wi, season, idx, msi, sar, weights, seeds, scenarios, whole_kinds = args
    _capture_donors()
    if whole_kinds:
        from smts_cloudfill_plugin.core.choose import candidates
        grid.WHOLE_KINDS = tuple(getattr(candidates, k) for k in whole_kinds)
    work = tempfile.mkdtemp(prefix="smts_rules_")
    out = []
    try:
        for seed, name, truth, real, hidden, days in pe.window_cases(wi, season, idx, seeds,
                                                                      scenarios):
            sample = Sample(truth, real, hidden, None, days)
            if not sample.scored.any():
                continue
            missing = real | hidden

            def score(pred):
                s = ScoreSums()
                s.add(np.where(np.isnan(pred), truth, pred), sample)
                return s.sums.tolist()
            rec = {"window": wi, "seed": seed, "scenario": name,
                   "clear": bool(real.mean() <= pe.CLEAR),
                   "hidden": [int(t) for t in np.flatnonzero(hidden.any((1, 2)))],
                   "interp": score(interpolate_temporal(truth, missing, days).astype(np.float32))}
            _DONORS.clear()
            rec["default"] = score(pe.product_fill(msi, missing, sar, weights, work, True))
            rec["donors"] = _DONORS[0] if _DONORS else {}
            rec["forced"] = []
            for w in grid.WEIGHTS:
                with pe.fixed_weight(float(w)):
                    rec["forced"].append(score(pe.product_fill(msi, missing, sar, weights, work,
                                                               True)))
            out.append(rec)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=os.path.join(bm.ROOT, "model_weights", "smts_vit.pt"))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(bm.MATRIX_SEEDS))
    ap.add_argument("--scenarios", nargs="+", default=pe.WHOLE_SCENARIOS)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--whole-kinds", nargs="*", default=[],
                    help="candidate kinds offered on whole dates (names in core.choose.candidates)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    season, windows, msi_paths, sar_paths = bm.matrix_inputs()
    jobs = [(*inputs, args.weights, tuple(args.seeds), args.scenarios, args.whole_kinds)
            for inputs in pe.window_inputs(season, windows, msi_paths, sar_paths)]
    import multiprocessing as mp
    t0 = time.monotonic()
    records = []
    with mp.get_context("fork").Pool(args.processes) as pool:
        for i, part in enumerate(pool.imap_unordered(_window_job, jobs)):
            records += part
            print(f"  {i + 1}/{len(jobs)} windows, {time.monotonic() - t0:.0f} s", flush=True)
    with open(args.out, "w") as f:
        json.dump({"weights": list(grid.WEIGHTS), "records": records}, f)


if __name__ == "__main__":
    main()
