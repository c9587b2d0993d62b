"""Self-check: does the model beat temporal interpolation on *this* scene, date by date?

A model trained on a few sites can lose to plain interpolation on another scene. Before
filling, reconstruct hides some clear pixels of each cloudy date (synthetic clouds on up to
:data:`CHECK_WINDOWS` windows spread over the raster), fills them both ways, and picks per date
the weight ``w`` of the fill ``interpolation + w * (model - interpolation)`` that does best on
those held-back pixels, never worse than interpolation (``w = 0``) on MSE, SAM or SSIM, on each
of two independent draws of held-back pixels. The
fill then uses that weight. The figures go to the log and to a small report.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import torch

from .clouds import cloud_bank
from .metrics import spectral_angle, ssim_map
from .model import SmtsVit, temporal_prefill
from .writer import write_text

#: Windows the check runs on (spread over the raster); each is run once per cloudy date.
CHECK_WINDOWS = 12
#: Synthetic clouds per window hiding the held-back pixels (about a third of a window).
CHECK_CLOUDS = 20
#: A date's own check decides only with at least this many held-back pixels; below it, the
#: figures of all the group's cloudy dates are pooled.
MIN_PIXELS = 300
#: Weights tried between interpolation (0) and the model (1).
WEIGHTS = tuple(np.linspace(0.0, 1.0, 11))
#: Independent draws of held-back pixels; a weight must beat interpolation on each.
DRAWS = 2


def interpolation(msi: torch.Tensor, missing: torch.Tensor,
                  days: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal linear interpolation within the window, as :func:`baseline.interpolate_temporal`:
    true day offsets, the nearest clear date at the ends, and where a pixel has no clear date
    the date's mean over its clear pixels in the window. Returns the fill and where it is
    defined (False only on a date with no clear pixel in the window at all)."""
    clean = torch.nan_to_num(msi).masked_fill(missing.unsqueeze(2), 0.0)
    interp = temporal_prefill(clean, missing, days)
    never = missing.all(1, keepdim=True).expand_as(missing)          # (B, T, H, W)
    clear = (~missing).unsqueeze(2).to(clean.dtype)
    count = clear.sum((-2, -1), keepdim=True)
    date_mean = (clean * clear).sum((-2, -1), keepdim=True) / count.clamp_min(1)
    interp = torch.where(never.unsqueeze(2), date_mean.expand_as(interp), interp)
    defined = ~never | (count[:, :, 0] > 0)
    return interp, defined


def interpolation_and_model(model: SmtsVit, msi: torch.Tensor, missing: torch.Tensor,
                            sar: torch.Tensor | None, days: torch.Tensor | None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal interpolation (:func:`interpolation`) and the model's fill, both in
    reflectance, from one model run; where interpolation is undefined, both are the model's."""
    pred = model(msi, missing, sar, days)
    interp, defined = interpolation(msi, missing, days)
    return torch.where(defined.unsqueeze(2), interp, pred), pred


def blended_fill(model: SmtsVit, msi: torch.Tensor, missing: torch.Tensor,
                 sar: torch.Tensor | None, days: torch.Tensor | None,
                 weights: torch.Tensor | None) -> torch.Tensor:
    """``interpolation + w * (model - interpolation)`` per date (``w`` of shape (T,)), in
    reflectance; the model alone where ``weights`` is None."""
    if weights is None or bool((weights == 1).all()):  # the model alone: no blend to compute
        return model(msi, missing, sar, days)
    interp, pred = interpolation_and_model(model, msi, missing, sar, days)
    w = weights.to(pred.dtype).reshape(-1, msi.shape[1], 1, 1, 1)
    return interp + w * (pred - interp)


@dataclass
class DateCheck:
    """The check of one cloudy date: held-back pixels, both methods' errors, the chosen weight."""

    name: str
    date: str
    pixels: int
    interp_mse: float
    model_mse: float
    interp_sam: float
    model_sam: float
    weight: float
    basis: str  # "this date", "pooled over the group's dates", "not checked"

    @property
    def verdict(self) -> str:
        if self.weight >= 0.999:
            return "model"
        if self.weight <= 0.001:
            return "interpolation"
        return f"blend {self.weight:.0%} model"


class _Errors:
    """Per draw of held-back pixels and per weight: summed squared error (mean over bands),
    spectral angle and SSIM dissimilarity (1 - SSIM) over the held-back pixels."""

    METRICS = 3

    def __init__(self) -> None:
        self.sums = np.zeros((DRAWS, self.METRICS, len(WEIGHTS)))
        self.n = np.zeros(DRAWS)

    def add(self, draw: int, interp: torch.Tensor, model: torch.Tensor, truth: torch.Tensor,
            scored: torch.Tensor) -> None:
        """(N, C, S, S) fills and truth of one date, (N, S, S) held-back pixels."""
        keep = scored.unsqueeze(1)
        for i, w in enumerate(WEIGHTS):
            fill = torch.where(keep, interp + float(w) * (model - interp), truth)
            self.sums[draw, 0, i] += float(((fill - truth) ** 2).mean(1)[scored].sum())
            self.sums[draw, 1, i] += float(spectral_angle(fill, truth, dim=1)[scored].sum())
            self.sums[draw, 2, i] += float((1 - ssim_map(fill, truth))[scored].sum())
        self.n[draw] += float(scored.sum())

    def merged(self, others: list["_Errors"]) -> "_Errors":
        out = _Errors()
        for e in [self, *others]:
            out.sums += e.sums
            out.n += e.n
        return out

    @property
    def pixels(self) -> int:
        return int(self.n.sum())

    def mean(self, metric: int, weight: int) -> float:
        return float(self.sums[:, metric, weight].sum() / max(self.pixels, 1))

    def best_weight(self) -> int:
        """Index of the weight whose worst ratio to interpolation, over the metrics (MSE, SAM,
        1 - SSIM) and over the independent draws, is lowest. Interpolation scores 1 on all, so
        the choice is never worse than it on any metric of any draw: a weight must win on every
        draw, which keeps chance wins on a few pixels out."""
        base = np.maximum(self.sums[:, :, :1], 1e-20)
        ratio = (self.sums / base)[self.n > 0]
        if not len(ratio):
            return len(WEIGHTS) - 1
        return int(np.argmin(ratio.max(axis=(0, 1))))


def held_back(missing: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(T, S, S) missing mask with synthetic clouds added on date ``k`` over its clear pixels."""
    size = missing.shape[-1]
    extra = cloud_bank(size).mask(CHECK_CLOUDS, rng)
    out = missing.copy()
    out[k] |= extra
    return out


def check_group(model: SmtsVit, device: torch.device, batches: list[tuple], days: torch.Tensor | None,
                targets: list[int], names: list[str], dates: list[str],
                seed: int = 0, check=lambda: None) -> list[DateCheck]:
    """Check each target date of one group of dates.

    Args:
        batches: model inputs ``(msi, missing, sar)`` as numpy arrays of windows (padded), each
            (N, T, C, S, S), (N, T, S, S), (N, Ts, Cs, S, S) or None.
        days: (T,) day offsets of the group's dates, or None.
        targets: positions in the group of the dates to fill; ``names``/``dates`` label them.
        check: called between model runs (raises on cancel).
    """
    rng = np.random.default_rng(seed)
    errors = {k: _Errors() for k in targets}
    model.eval()
    with torch.inference_mode():
        for msi, missing, sar in batches:
            n = len(msi)
            rep = lambda a: None if a is None else torch.from_numpy(  # noqa: E731
                np.concatenate([a] * len(targets))).to(device)
            d = None if days is None else days.to(device)
            truth_all = torch.from_numpy(msi)
            for draw in range(DRAWS):
                check()
                # One copy of the windows per cloudy date, held-back pixels on that date only.
                hidden = np.concatenate([np.stack([held_back(m, k, rng) for m in missing])
                                         for k in targets])
                interp, pred = interpolation_and_model(model, rep(msi),
                                                       torch.from_numpy(hidden).to(device),
                                                       rep(sar), d)
                interp, pred = interp.float().cpu(), pred.float().cpu()
                for j, k in enumerate(targets):
                    part = slice(j * n, (j + 1) * n)
                    scored = torch.from_numpy(hidden[part, k] & ~missing[:, k])
                    if scored.any():
                        errors[k].add(draw, interp[part, k], pred[part, k], truth_all[:, k],
                                      scored)
    pooled = _Errors().merged(list(errors.values()))
    out = []
    for k in targets:
        e, basis = errors[k], "this date"
        if e.pixels < MIN_PIXELS:
            e, basis = pooled, "pooled over the group's dates"
        if e.pixels == 0:
            # Nothing to hold back anywhere (every target fully cloudy): the model decides.
            out.append(DateCheck(names[k], dates[k], 0, float("nan"), float("nan"),
                                 float("nan"), float("nan"), 1.0, "not checked"))
            continue
        i = e.best_weight()
        out.append(DateCheck(names[k], dates[k], e.pixels, e.mean(0, 0), e.mean(0, -1),
                             e.mean(1, 0), e.mean(1, -1), float(WEIGHTS[i]), basis))
    return out


def describe_check(c: DateCheck) -> str:
    """One log line."""
    if c.basis == "not checked":
        return (f"  {c.name}: no clear pixel to hold back on this date or its group; "
                "filled by the model unchecked.")
    change = 100 * (c.model_mse / c.interp_mse - 1) if c.interp_mse > 0 else 0.0
    return (f"  {c.name}: on {c.pixels} held-back clear pixels ({c.basis}), model MSE "
            f"{c.model_mse:.5f} vs interpolation {c.interp_mse:.5f} ({change:+.0f} %), SAM "
            f"{c.model_sam:.4f} vs {c.interp_sam:.4f}: using {c.verdict}.")


def write_report(path: str, model_name: str, checks: list[DateCheck]) -> None:
    """A small HTML page with the check of every filled date (written atomically)."""
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{c.date}</td><td>{c.pixels}</td>"
        f"<td>{c.interp_mse:.5f}</td><td>{c.model_mse:.5f}</td><td>{c.interp_sam:.4f}</td>"
        f"<td>{c.model_sam:.4f}</td><td>{html.escape(c.verdict)}</td>"
        f"<td>{html.escape(c.basis)}</td></tr>" for c in checks)
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>SMTS CloudFill check</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Fill check: {html.escape(model_name)} vs temporal interpolation</h1>
<p>Before filling, clear pixels of each cloudy date were hidden under synthetic clouds (two
independent draws) and filled both ways. Each date is filled with the weight of the model that
did best on them (interpolation + weight x (model - interpolation)), never worse than
interpolation on MSE, SAM or SSIM in either draw. Reflectance (data range 1); lower is
better.</p>
<table><tr><th>raster</th><th>date</th><th>held-back pixels</th><th>interpolation MSE</th>
<th>model MSE</th><th>interpolation SAM</th><th>model SAM</th><th>used</th><th>basis</th></tr>
{rows}</table></body></html>
"""
    write_text(path, page)
