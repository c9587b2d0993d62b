"""Self-check: what fills *this* scene best, date by date, never worse than interpolation?

A model trained on a few sites can lose to plain interpolation on another scene. Before
filling, reconstruct hides some clear pixels of each cloudy date (synthetic clouds on up to
:data:`CHECK_WINDOWS` windows spread over the raster) and fills them with every candidate:

    interpolation + residual(s) + w * (model - its prior)

with ``residual(s)`` the same-date residual correction at Gaussian scale ``s`` (none, or one of
:data:`.candidate_errors.SCALES`; :mod:`..model.prior`) and ``w`` the model's weight
(:data:`.candidate_errors.WEIGHTS`). Per date it
picks, of the candidates never worse than interpolation (no residual, ``w = 0``) on MSE, SAM
or SSIM in each of two independent draws of held-back pixels, the one with the lowest MSE.
Each date draws its held-back pixels from its own random stream, so its choice does not move
when another date of the group turns cloudy. The model's change is offered three ways
(:mod:`.candidates`' kinds): whole; as brightness only, along the spectrum it is added to (the
same spectral angle, and often most of its MSE gain); and with the residual as brightness too,
interpolation's spectrum scaled (its spectral angle interpolation's: where the residual's
spectra cost SAM, its brightness still counts). The fill then uses the chosen candidate
(:mod:`.candidates`); where it gives the model no weight, the model is not run at all. The
scores are :mod:`.candidate_errors`'; each date's finding is a :class:`.date_check.DateCheck`,
said in the log and in a small report (:mod:`.check_report`).

A date that is wholly (or almost wholly) cloudy has no clear pixels to hold back, and what
small clouds say does not tell how a whole missing date is best filled. For those dates the
check hides, in turn, whole clear dates of the same group (:data:`LOO_DONORS` of them, nearest
first: leave one date out), fills them every candidate way and chooses from those figures,
pooled over the hidden dates; a lone whole date inside the group (where interpolation spans a
short gap and is hard to beat) keeps that choice only where its gain exceeds the hidden dates'
disagreement (:meth:`.candidate_errors.CandidateErrors.agreed`). On such
dates the model's change is taken as brightness only, smoothed along interpolation's image
(:func:`.candidates.smooth_brightness`): its spectra lost to interpolation's on SAM there, its
brightness won on MSE, and the smoothing keeps it from adding texture (SSIM). With nothing at
all to check, a date is filled by interpolation: never by the model unchecked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..indices import index_positions
from ..model.network import SmtsVit
from ..model.prior import residual_correction
from ..plan.windows import WINDOWS_PER_CALL
from ..synthetic_clouds import cloud_bank
from . import confidence
from . import candidate_errors as grid  # its WEIGHTS, SCALES, DRAWS: one set, patched in one place
from .candidate_errors import CandidateErrors, whole_errors
from .candidates import interpolation_and_model, own_scale
from .date_check import (BASIS_AGREED, BASIS_NONE, BASIS_OWN, BASIS_POOLED, BASIS_RUN,
                         BASIS_WHOLE, DateCheck)

#: Windows the check runs on (spread over the raster); each is run once per cloudy date.
CHECK_WINDOWS = 12
#: Synthetic clouds per window hiding the held-back pixels (about a third of a window).
CHECK_CLOUDS = 20
#: A date's own check decides only with at least this many held-back pixels; below it, the
#: figures of all the group's cloudy dates are pooled.
MIN_PIXELS = 300
#: Whole dates hidden in turn to check the fill of whole cloudy dates (leave one date out).
LOO_DONORS = 3
#: A date can be hidden whole for that check when at least this share of its pixels in the check
#: windows is clear (what is scored is its clear pixels only).
LOO_MIN_CLEAR = 0.5

#: A date at most this clear in the check windows is a whole cloudy date (an overcast
#: acquisition): checked by hiding whole dates, not by the group's pooled held-back pixels.
WHOLE_MAX_CLEAR = 0.02


def held_back(missing: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(T, S, S) missing mask with synthetic clouds added on date ``k`` over its clear pixels."""
    size = missing.shape[-1]
    extra = cloud_bank(size).mask(CHECK_CLOUDS, rng)
    out = missing.copy()
    out[k] |= extra
    return out


def _score(model: SmtsVit, device: torch.device, msi: np.ndarray, missing: np.ndarray,
           hidden: np.ndarray, sar: np.ndarray | None, days: torch.Tensor | None,
           dates: list[int], errors: dict[int, CandidateErrors], draw_of: np.ndarray,
           chunk: int, check) -> None:
    """Fill ``hidden`` (one copy of the n windows per date of ``dates``, (len(dates) * n, T, S,
    S)) every candidate way, the model run on ``chunk`` windows at a time (``check`` between:
    a cancel waits for one chunk only); add the errors on each date's hidden clear pixels to
    ``errors[date]``, window i to draw ``draw_of[i]``."""
    n = len(msi)
    rep = lambda a: None if a is None else torch.from_numpy(  # noqa: E731
        np.concatenate([a] * len(dates))).to(device)
    d = None if days is None else days.to(device)
    x, m = rep(msi), torch.from_numpy(hidden).to(device)
    s = rep(sar)
    parts = []
    for a in range(0, len(x), chunk):
        check()
        b = slice(a, a + chunk)
        parts.append(interpolation_and_model(model, x[b], m[b], None if s is None else s[b], d))
    interp, pred = (torch.cat([p[i] for p in parts]) for i in (0, 1))
    residual = None if parts[0][2] is None else torch.cat([p[2] for p in parts])
    clean = torch.nan_to_num(x)
    own = own_scale(model)
    corrections = [torch.zeros_like(interp) if s == 0 else residual if s == own else
                   residual_correction(clean, m, d, s, sorted(set(dates))) for s in grid.SCALES]
    change = pred - interp
    if own > 0:
        change = change - residual
    interp, change = interp.float().cpu(), change.float().cpu()
    corrections = [c.float().cpu() for c in corrections]
    truth_all = torch.from_numpy(msi)
    for j, k in enumerate(dates):
        part = slice(j * n, (j + 1) * n)
        scored = torch.from_numpy(hidden[part, k] & ~missing[:, k])
        bands = confidence.distance_band(confidence.distance_to_clear(hidden[part, k]))
        for draw in np.unique(draw_of):
            rows = torch.from_numpy(draw_of == draw)
            if scored[rows].any():
                errors[k].add(int(draw), interp[part, k][rows], change[part, k][rows],
                              [c[part, k][rows] for c in corrections], truth_all[rows, k],
                              scored[rows], bands[rows.numpy()])


def _clear_share(missing: np.ndarray) -> np.ndarray:
    """(T,) share of each date's pixels that is clear in (N, T, S, S) check windows."""
    return 1.0 - missing.mean(axis=(0, 2, 3))


def whole_dates(missing: np.ndarray, targets: list[int]) -> list[int]:
    """The targets that are (almost) wholly cloudy in the check windows ((N, T, S, S)
    ``missing``): at most WHOLE_MAX_CLEAR of their pixels clear. A date with more clear pixels,
    even too few to hold back on their own, is a date with clouds, not an overcast one: its
    choice is pooled with the group's other cloudy dates, whose residuals tell about it (hiding
    whole dates instead cost the matrix's one-date scenarios 2.7x their MSE)."""
    clear = _clear_share(missing)
    return [k for k in targets if clear[k] <= WHOLE_MAX_CLEAR]


def whole_run(whole: list[int], k: int) -> int:
    """How many whole dates in a row ``k`` is one of (0 when it is not whole)."""
    if k not in whole:
        return 0
    lo, hi = k, k
    while lo - 1 in whole:
        lo -= 1
    while hi + 1 in whole:
        hi += 1
    return hi - lo + 1


def whole_date_donors(missing: np.ndarray, whole: list[int], limit: int = LOO_DONORS
                      ) -> list[int]:
    """Dates of the group that can be hidden whole to check the fill of the ``whole`` dates:
    mostly clear in the check windows ((N, T, S, S) ``missing``), not themselves among the whole
    dates. Those in the same place as a whole date first (an end of the group, where the fill
    extrapolates, or inside it, where it interpolates), then the nearest (their neighbours and
    gaps are the most alike)."""
    dates = missing.shape[1]
    clear = _clear_share(missing)
    end = lambda t: t in (0, dates - 1)  # noqa: E731
    kinds = {end(k) for k in whole}
    candidates = [t for t in range(dates) if t not in whole and clear[t] >= LOO_MIN_CLEAR]
    candidates.sort(key=lambda t: (end(t) not in kinds, min(abs(t - k) for k in whole),
                                   -clear[t], t))
    return candidates[:limit]


def check_group(model: SmtsVit, device: torch.device, batches: list[tuple],
                days: torch.Tensor | None, targets: list[int], names: list[str],
                dates: list[str], seed: int = 0, check=lambda: None,
                chunk: int = WINDOWS_PER_CALL, progress=lambda fraction: None
                ) -> list[DateCheck]:
    """Check each target date of one group of dates.

    Args:
        batches: model inputs ``(msi, missing, sar)`` as numpy arrays of windows (padded), each
            (N, T, C, S, S), (N, T, S, S), (N, Ts, Cs, S, S) or None.
        days: (T,) day offsets of the group's dates, or None.
        targets: positions in the group of the dates to fill; ``names``/``dates`` label them.
        check: called between model runs (raises on cancel).
        chunk: windows per model run (the results do not depend on it).
        progress: told the share of the check done, in [0, 1].
    """
    run = _Run(model, device, batches, days, chunk, check, progress)
    indices = index_positions(tuple(getattr(getattr(model, "config", None), "msi_bands", ())))
    errors = {k: CandidateErrors(indices=indices) for k in targets}
    model.eval()
    with torch.inference_mode():
        _hold_back(run, targets, errors, seed)
        # Whole cloudy dates: hide whole mostly clear dates of the group in turn.
        all_missing = np.concatenate([b[1] for b in batches]) if batches else None
        whole = [] if all_missing is None else whole_dates(all_missing, targets)
        donors = whole_date_donors(all_missing, whole) if whole else []
        hidden_whole = {k: whole_errors(indices) for k in donors}
        if donors:
            _hide_whole(run, donors, hidden_whole, len(all_missing))
    pooled = CandidateErrors(indices=indices).merged(list(errors.values()))
    # The dates hidden whole are pooled, each draw apart: with brightness-only candidates (the
    # spectral angle is interpolation's) pooled figures kept the floor on the held-out whole-date
    # scenarios, where asking a win on every hidden date (18 ratios) left the model's gain at
    # -0.2..-0.7 % MSE (model_weights/EXPERIMENTS.md).
    by_whole = whole_errors(indices).merged(list(hidden_whole.values()))
    whole_basis = f"{BASIS_WHOLE}: " + ", ".join(names[k] for k in donors)
    # The model alone: weight 1 with its own residual scale (none unless its prior has one).
    alone = grid.SCALES.index(own_scale(model)) if own_scale(model) in grid.SCALES else 0
    out = []
    for k in targets:
        e, basis = errors[k], BASIS_OWN
        if e.pixels < MIN_PIXELS:
            e, basis = (by_whole, whole_basis) if k in whole and by_whole.pixels >= MIN_PIXELS \
                else (pooled, BASIS_POOLED)
        in_a_row, each = whole_run(whole, k), []
        if e is by_whole and in_a_row > 1:
            # Inside a longer gap, one-date gaps are the only like case a group of 6 dates
            # holds; the model's spectra lost there on SAM (+1.2 %), its brightness does not
            # change the angle and won on MSE (three in a row: -8 %).
            basis = f"{BASIS_RUN.format(n=in_a_row)}; {basis}"
        elif e is by_whole and 0 < k < all_missing.shape[1] - 1:
            # A lone whole date inside the group: between clear neighbours the model gains
            # little, and the pooled figures of other dates chose weights that lost to
            # interpolation on the fully clear windows; the choice stands only where its gain
            # exceeds the hidden dates' disagreement (model_weights/EXPERIMENTS.md, session 7).
            each = [hidden_whole[d] for d in donors]
            basis = f"{basis}; {BASIS_AGREED}"
        out.append(_date_check(names[k], dates[k], e, basis, alone, each))
    return out


@dataclass
class _Run:
    """What every model run of one group's check shares (see :func:`check_group`)."""

    model: SmtsVit
    device: torch.device
    batches: list[tuple]
    days: torch.Tensor | None
    chunk: int
    check: Callable[[], None]
    progress: Callable[[float], None]

    @property
    def runs(self) -> int:
        """Model passes over the batches for held-back pixels (the whole dates' pass after)."""
        return len(self.batches) * grid.DRAWS


def _hold_back(run: _Run, targets: list[int], errors: dict[int, CandidateErrors],
               seed: int) -> None:
    """Score every candidate on synthetic clouds over each target date's clear pixels, in
    :data:`DRAWS` independent draws per batch."""
    # One random stream per date: a date's held-back pixels do not depend on which other
    # dates of the group are cloudy (turning the haze check on once changed another date's).
    rngs = {k: np.random.default_rng([seed, k]) for k in targets}
    total = run.runs + len(run.batches)
    for b, (msi, missing, sar) in enumerate(run.batches):
        for draw in range(grid.DRAWS):
            run.check()
            # One copy of the windows per cloudy date, held-back pixels on that date only.
            hidden = np.concatenate([np.stack([held_back(m, k, rngs[k]) for m in missing])
                                     for k in targets])
            _score(run.model, run.device, msi, missing, hidden, sar, run.days, targets, errors,
                   np.full(len(msi), draw), run.chunk, run.check)
            run.progress((b * grid.DRAWS + draw + 1) / total)


def _hide_whole(run: _Run, donors: list[int], hidden_whole: dict[int, CandidateErrors],
                windows: int) -> None:
    """Score every candidate on the ``donors`` hidden whole in turn (``windows``: the check
    windows of all batches)."""
    # The two draws are the even and the odd check windows (hiding is not random).
    first = 0
    for msi, missing, sar in run.batches:
        run.check()
        hidden = np.concatenate([missing.copy() for _ in donors])
        for j, k in enumerate(donors):
            hidden[j * len(msi):(j + 1) * len(msi), k] = True
        _score(run.model, run.device, msi, missing, hidden, sar, run.days, donors, hidden_whole,
               (first + np.arange(len(msi))) % grid.DRAWS, run.chunk, run.check)
        first += len(msi)
        run.progress((run.runs + first / windows * len(run.batches)) /
                     (run.runs + len(run.batches)))


def _date_check(name: str, date: str, e: CandidateErrors, basis: str, alone: int,
                each: list[CandidateErrors] | None = None) -> DateCheck:
    """The choice for one date from its scores ``e`` (``alone``: the model alone's scale; with
    ``each``, the hidden dates one by one, the choice must gain more than they disagree)."""
    if e.pixels == 0:
        # Nothing to hold back anywhere: interpolation, the fill that needs no check.
        return DateCheck(name, date, 0, float("nan"), float("nan"), float("nan"), float("nan"),
                         0.0, BASIS_NONE)
    c = e.best(each)
    interp, model_alone = (0, 0, 0), e.candidate(alone, len(grid.WEIGHTS) - 1)
    return DateCheck(name, date, e.pixels, e.mean(0, interp), e.mean(0, model_alone),
                     e.mean(1, interp), e.mean(1, model_alone), float(grid.WEIGHTS[c[2]]),
                     basis, float(grid.SCALES[c[1]]), e.kind(c), e.mean(0, c), e.mean(1, c),
                     e.worst(model_alone), e.worst(c), e.error_by_distance(c),
                     e.index_ratios(c))
