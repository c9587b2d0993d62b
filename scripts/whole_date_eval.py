#!/usr/bin/env python3
"""Whole cloudy dates through the product path: the experiment harness of issue 18.

The matrix's whole-date scenarios (``product_eval.WHOLE_SCENARIOS``: one inner date, one date at
the window's end, two dates, three in a row) on the held-out 2019 windows, for the bundled models
with and without the self-check, the classical fill (interpolation + same-date residual, no
network) and interpolation; SAR's worth is SMTS-ViT against MTS-ViT on the same clouds. Prints
the table and writes the figures as JSON (``--out``); the model card is not touched (``make
eval`` writes it with these scenarios included).

    python scripts/whole_date_eval.py --seeds 0 1 --out /tmp/whole.json
    python scripts/whole_date_eval.py --models "SMTS-ViT=/tmp/x.pt" --scenarios "whole 1 inner"
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundled_models as bm  # noqa: E402 (puts the repository on sys.path)
import product_eval as pe  # noqa: E402

DEFAULT_MODELS = {
    "SMTS-ViT": ("smts_vit.pt", True),
    "MTS-ViT": ("mts_vit.pt", True),
    "SMTS-ViT, no self-check": ("smts_vit.pt", False),
    "MTS-ViT, no self-check": ("mts_vit.pt", False),
    pe.CLASSICAL: ("smts_vit.pt", True),
}


def worth_lines(rows: dict) -> list[str]:
    """Per scenario: each method against interpolation, and SAR's worth (SMTS vs MTS)."""
    out = []
    for name, r in rows.items():
        base = r["interpolation"]
        parts = [f"{m} MSE {100 * (v['mse'] / base['mse'] - 1):+.1f} % SAM "
                 f"{100 * (v['sam'] / base['sam'] - 1):+.1f} % SSIM {v['ssim'] - base['ssim']:+.4f}"
                 for m, v in r.items() if m not in ("truth", "interpolation")]
        out.append(f"{name}: " + "; ".join(parts))
        for a, b in (("SMTS-ViT", "MTS-ViT"), ("SMTS-ViT, no self-check", "MTS-ViT, no self-check")):
            if a in r and b in r:
                out.append(f"  SAR's worth ({a} vs {b}): MSE "
                           f"{100 * (r[a]['mse'] / r[b]['mse'] - 1):+.1f} %, SAM "
                           f"{100 * (r[a]['sam'] / r[b]['sam'] - 1):+.1f} %")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(bm.MATRIX_SEEDS))
    ap.add_argument("--scenarios", nargs="+", default=pe.WHOLE_SCENARIOS)
    ap.add_argument("--models", nargs="*", default=None,
                    help="LABEL=PATH[:nocheck] pairs replacing the default models")
    ap.add_argument("--whole-weights", type=float, nargs="*", default=[],
                    help="also fill at these fixed weights of SMTS-ViT and MTS-ViT (the check's "
                         "only candidate; the blend's own worth)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", help="JSON file for the figures")
    args = ap.parse_args()
    if args.models:
        models = {}
        for item in args.models:
            label, path = item.split("=", 1)
            check = not path.endswith(":nocheck")
            models[label] = (os.path.abspath(path.removesuffix(":nocheck")), check)
    else:
        models = {k: (os.path.join(bm.ROOT, "model_weights", f), c)
                  for k, (f, c) in DEFAULT_MODELS.items()}
    for w in args.whole_weights:
        for label, weights in (("SMTS-ViT", "smts_vit.pt"), ("MTS-ViT", "mts_vit.pt")):
            name = f"{label}, weight held at {w:g}"
            models[name] = (os.path.join(bm.ROOT, "model_weights", weights), True)
            pe.LABEL_CONTEXTS[name] = lambda w=w: pe.fixed_weight(w)
    season, windows, msi, sar = bm.matrix_inputs()
    t0 = time.monotonic()
    result = pe.evaluate_matrix(season, windows, msi, sar, models, tuple(args.seeds),
                                processes=args.processes, scenarios=args.scenarios,
                                log=lambda m: print(m, flush=True))
    print(pe.matrix_markdown(result))
    print("\n".join(worth_lines(result["rows"])))
    print(f"{result['windows']} windows x {len(args.seeds)} seeds per figure, "
          f"{time.monotonic() - t0:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
