"""The same-date residual correction's settings, measured (model_weights/EXPERIMENTS.md).

Interpolation plus the residual correction (:mod:`core.model.prior`) against interpolation alone, on
the matrix's scenarios, for a few Gaussian scales and ridges, on the validation part (which chose
the settings) or the test part (the matrix's windows). No model: this is the prior alone, the
model alone on whole 64 px windows (the product path is ``bundled_models.py eval``). Also the
variant that measures the residual against the date's own interpolation whatever its source
dates ("mixed pairs"), which the demo case ruled out.

    python scripts/residual_sweep.py --part validation
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundled_models as bm  # noqa: E402
import product_eval as pe  # noqa: E402
from smts_cloudfill_plugin.core.model import config as cfg  # noqa: E402
from smts_cloudfill_plugin.core.model.prior import RIDGE, gaussian_blur, residual_correction  # noqa: E402
from smts_cloudfill_plugin.core.choose.candidates import interpolation  # noqa: E402

SCENARIOS = ("paper 10", "paper 30", "paper 50", "1 date 20", "1 date 40", "real 1 date",
             "real all dates")


def mixed_pairs(x: torch.Tensor, missing: torch.Tensor, days: torch.Tensor, sigma: float
                ) -> torch.Tensor:
    """The residual against the date's leave-date-out interpolation, whatever its sources."""
    out = torch.zeros_like(x)
    for k in range(x.shape[1]):
        if not bool(missing[:, k].any()):
            continue
        m = missing.clone()
        m[:, k] = True
        line, _ = interpolation(x, m, days)
        support = (~missing[:, k]).to(x.dtype)
        resid = (x[:, k] - line[:, k]) * support.unsqueeze(1)
        b, c, h, w = resid.shape
        num = gaussian_blur(resid.reshape(b * c, h, w), sigma).view(b, c, h, w)
        den = gaussian_blur(support, sigma).unsqueeze(1)
        out[:, k] = torch.where(missing[:, k].unsqueeze(1), num / (den + RIDGE), out[:, k])
    return out


def scores(pred: torch.Tensor, truth: torch.Tensor, scored: torch.Tensor) -> np.ndarray:
    err = ((pred - truth) ** 2).mean(1)[scored].sum()
    cos = (pred * truth).sum(1) / ((pred ** 2).sum(1) * (truth ** 2).sum(1)).sqrt().clamp_min(1e-12)
    sam = torch.arccos(cos.clamp(-1, 1))[scored].sum()
    return np.array([float(err), float(sam), float(scored.sum())])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["validation", "test"], default="validation")
    p.add_argument("--scales", type=float, nargs="+", default=[2, 4, 8, 16])
    p.add_argument("--ridges", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    p.add_argument("--windows", type=int, default=30)
    args = p.parse_args()
    seasons, windows = bm.split(args.part, cfg.smts_vit(), 8 if args.part == "validation" else 0)
    season = seasons[0]
    settings = [(s, r) for s in args.scales for r in args.ridges]
    for name in SCENARIOS:
        acc = np.zeros((len(settings) + 2, 3))
        for wi, w in enumerate(windows[:args.windows]):
            idx = list(w.msi)
            truth = torch.from_numpy(season.msi[idx][None].astype(np.float32))
            real = season.missing[idx]
            days = torch.tensor([[(season.dates[i] - season.dates[idx[0]]).days for i in idx]],
                                dtype=torch.float32)
            rng = np.random.default_rng([7, wi, pe.SCENARIOS.index(name)])
            hidden = pe.scenario_hidden(name, season.missing, len(idx), rng) & ~real
            if not hidden.any():
                continue
            m = torch.from_numpy(real | hidden)[None]
            scored = torch.from_numpy(hidden)[None]
            interp, _ = interpolation(truth, m, days)
            t, s = truth.transpose(1, 2), lambda a: a.transpose(1, 2)  # noqa: E731
            acc[0] += scores(s(interp), t, scored)
            for j, (sigma, ridge) in enumerate(settings):
                acc[j + 1] += scores(s(interp + residual_correction(truth, m, days, sigma,
                                                                   ridge=ridge)), t, scored)
            acc[-1] += scores(s(interp + mixed_pairs(truth, m, days, 4.0)), t, scored)
        base = acc[0]
        cells = [f"s{sg:g} r{r:g} {100 * (a[0] / base[0] - 1):+.0f}/{100 * (a[1] / base[1] - 1):+.0f}"
                 for (sg, r), a in zip(settings, acc[1:-1])]
        cells.append(f"mixed pairs s4 {100 * (acc[-1, 0] / base[0] - 1):+.0f}/"
                     f"{100 * (acc[-1, 1] / base[1] - 1):+.0f}")
        print(f"{name}: interpolation MSE {base[0] / max(base[2], 1):.5f}; % MSE/SAM vs it: "
              + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
