"""Self-check: what fills *this* scene best, date by date, never worse than interpolation?

A model trained on a few sites can lose to plain interpolation on another scene. Before
filling, reconstruct hides some clear pixels of each cloudy date (synthetic clouds on up to
:data:`CHECK_WINDOWS` windows spread over the raster) and fills them with every candidate:

    interpolation + residual(s) + w * (model - its prior)

with ``residual(s)`` the same-date residual correction at Gaussian scale ``s`` (none, or one of
:data:`SCALES`; :mod:`..model.prior`) and ``w`` the model's weight (:data:`WEIGHTS`). Per date it
picks, of the candidates never worse than interpolation (no residual, ``w = 0``) on MSE, SAM
or SSIM in each of two independent draws of held-back pixels, the one with the lowest MSE.
Each date draws its held-back pixels from its own random stream, so its choice does not move
when another date of the group turns cloudy. The model's change is offered three ways
(:mod:`.candidates`' kinds): whole; as brightness only, along the spectrum it is added to (the
same spectral angle, and often most of its MSE gain); and with the residual as brightness too,
interpolation's spectrum scaled (its spectral angle interpolation's: where the residual's
spectra cost SAM, its brightness still counts). The fill then uses the chosen candidate
(:mod:`.candidates`); where it gives the model no weight, the model is not run at all. The
figures go to the log and to a small report (:mod:`.check_report`).

A date that is wholly (or almost wholly) cloudy has no clear pixels to hold back, and what
small clouds say does not tell how a whole missing date is best filled. For those dates the
check hides, in turn, whole clear dates of the same group (:data:`LOO_DONORS` of them, nearest
first: leave one date out), fills them every candidate way and chooses from those figures,
pooled over the hidden dates. On such dates the model's change is taken as brightness only
(:func:`.candidates.brightness_only`): its spectra lost to interpolation's on SAM there, its
brightness won on MSE. With nothing at all to check, a date is filled by interpolation: never
by the model unchecked.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model.network import SmtsVit
from ..model.prior import residual_correction
from ..indices import INDICES, index_positions
from ..synthetic_clouds import cloud_bank
from ..metrics import spectral_angle, ssim_to
from . import confidence
from .candidates import BRIGHTNESS, FULL, TONE, candidate_fill, interpolation_and_model, own_scale

#: Windows the check runs on (spread over the raster); each is run once per cloudy date.
CHECK_WINDOWS = 12
#: Synthetic clouds per window hiding the held-back pixels (about a third of a window).
CHECK_CLOUDS = 20
#: A date's own check decides only with at least this many held-back pixels; below it, the
#: figures of all the group's cloudy dates are pooled.
MIN_PIXELS = 300
#: Weights tried between interpolation (0) and the model (1).
WEIGHTS = tuple(np.linspace(0.0, 1.0, 11))
#: Gaussian scales (pixels) of the same-date residual correction tried; 0 = none. The
#: matrix's scenarios split between 4 (small clouds) and 8 (real shapes, larger clouds).
SCALES = (0.0, 4.0, 8.0)
#: The kinds of candidate tried on dates with clouds (:mod:`.candidates`); whole cloudy dates
#: take BRIGHTNESS only.
KINDS = (FULL, BRIGHTNESS, TONE)
#: The kinds offered on whole cloudy dates (chosen by the lowest worst ratio over the hidden
#: whole dates). The model's full spectra beside its brightness gained MSE and SAM on the
#: matrix's whole-date rows but lost SAM and SSIM on its fully clear windows
#: (model_weights/EXPERIMENTS.md, session 5): brightness only.
WHOLE_KINDS = (BRIGHTNESS,)
#: Independent draws of held-back pixels; a weight must beat interpolation on each.
DRAWS = 2
#: Whole dates hidden in turn to check the fill of whole cloudy dates (leave one date out).
LOO_DONORS = 3
#: A date can be hidden whole for that check when at least this share of its pixels in the check
#: windows is clear (what is scored is its clear pixels only).
LOO_MIN_CLEAR = 0.5

#: A date at most this clear in the check windows is a whole cloudy date (an overcast
#: acquisition): checked by hiding whole dates, not by the group's pooled held-back pixels.
WHOLE_MAX_CLEAR = 0.02

#: How a date's choice was made (``DateCheck.basis``).
BASIS_OWN = "this date"
BASIS_POOLED = "pooled over the group's dates"
BASIS_WHOLE = "whole dates hidden in turn"
BASIS_NONE = "nothing to check: interpolation"
BASIS_RUN = "one of {n} whole dates in a row"


@dataclass
class DateCheck:
    """The check of one cloudy date: held-back pixels, the errors of interpolation, the model
    and the chosen fill, and the chosen candidate."""

    name: str
    date: str
    pixels: int
    interp_mse: float
    model_mse: float
    interp_sam: float
    model_sam: float
    weight: float
    basis: str  # one of the BASIS_* texts (for whole dates, with the hidden dates named)
    scale: float = 0.0
    #: How the model's change enters the fill (candidates.FULL, BRIGHTNESS or TONE): BRIGHTNESS
    #: always on whole cloudy dates, the check's choice on other dates.
    kind: int = FULL
    chosen_mse: float = float("nan")
    chosen_sam: float = float("nan")
    #: The model alone's and the chosen fill's worst ratio to interpolation over the metrics and
    #: draws, with where it was: (ratio, "SSIM, draw 2"). :meth:`_Errors.best` says how the
    #: choice is made.
    model_worst: tuple[float, str] = (float("nan"), "")
    chosen_worst: tuple[float, str] = (float("nan"), "")
    #: The chosen fill's RMS error on the held-back pixels per band of distance to the date's
    #: nearest clear pixel (:mod:`.confidence`); None when nothing was checked.
    error_by_distance: tuple[float, ...] | None = None
    #: Per spectral index, the chosen fill's RMS error in index units over its RMS error in
    #: reflectance, on the held-back pixels (:meth:`_Errors.index_ratios`).
    index_ratios: dict[str, float] | None = None

    @property
    def why(self) -> str:
        """One sentence: why this candidate, even where the model alone has better means."""
        if self.basis == BASIS_NONE:
            return "Nothing could be held back or hidden: temporal interpolation, which needs no check."
        where = "on held-back clear pixels of this date" if self.basis == BASIS_OWN else \
            ("on the group's other cloudy dates" if self.basis == BASIS_POOLED else
             "on whole clear dates of the group hidden in turn")
        whole = BASIS_WHOLE in self.basis
        metrics = "MSE and SSIM" if whole else "MSE, SAM and SSIM"
        rule = ("the lowest worst ratio to interpolation" if whole else
                "the lowest MSE of the fills never worse than interpolation")
        text = (f"Scored {where}, in two independent draws, on {metrics}; the fill "
                f"chosen has {rule} (its worst ratio {self.chosen_worst[0]:.3f},"
                f" {self.chosen_worst[1]}).")
        if (self.weight < 0.999 or (self.kind != FULL and not whole)) and self.model_worst[1]:
            text += (f" The model alone's worst was {self.model_worst[0]:.3f} "
                     f"({self.model_worst[1]})")
            better = self.model_mse <= self.chosen_mse and self.model_sam <= self.chosen_sam
            text += (", although its mean MSE and SAM were lower: a choice must hold on every "
                     "metric of every draw." if better else ".")
        if self.kind == BRIGHTNESS and self.weight > 0.001:
            text += (" The model's change is taken as brightness only: the spectrum of "
                     "interpolation (with the same-date residual, if any), scaled, so the "
                     "spectral angle is that fill's" +
                     (", as on every whole cloudy date." if whole else "."))
        elif self.kind == TONE and (self.weight > 0.001 or self.scale > 0):
            text += (" The same-date residual and the model's change are taken as brightness "
                     "only: interpolation's spectrum, scaled, so the spectral angle is "
                     "interpolation's.")
        return text

    @property
    def verdict(self) -> str:
        if self.weight >= 0.999:
            used = "model"
        elif self.weight <= 0.001:
            used = "interpolation"
        else:
            used = f"blend {self.weight:.0%} model"
        if self.kind == BRIGHTNESS and self.weight > 0.001:
            used += "'s brightness"
        if self.scale > 0:
            used += f" + same-date residual ({self.scale:g} px)"
        if self.kind == TONE and (self.weight > 0.001 or self.scale > 0):
            used += ", as brightness on interpolation's spectrum"
        return used


class _Errors:
    """Per draw of held-back pixels and per candidate: summed squared error (mean over bands),
    spectral angle and SSIM dissimilarity (1 - SSIM) over the held-back pixels.

    A candidate is ``(kind, scale, weight)`` indices: :func:`.candidates.candidate_fill` of
    kind ``self.kinds[kind]`` from interpolation, the residual correction at ``SCALES[scale]``
    and ``WEIGHTS[weight]`` of the model's change. Candidate (0, 0, 0) is interpolation."""

    METRICS = 3
    ALL = (0, 1, 2)
    #: MSE and SSIM: on whole dates only brightness is offered, whose spectral angle is
    #: interpolation's by construction (every candidate ties on it).
    MSE_SSIM = (0, 2)

    def __init__(self, judged: tuple[int, ...] = ALL, kinds: tuple[int, ...] | None = None,
                 lowest_mse: bool = True, indices: dict[str, tuple[int, ...]] | None = None
                 ) -> None:
        self.kinds = KINDS if kinds is None else kinds
        self.sums = np.zeros((DRAWS, self.METRICS, len(self.kinds), len(SCALES), len(WEIGHTS)))
        self.n = np.zeros(DRAWS)
        self.labels = [f"draw {d + 1}" for d in range(DRAWS)]
        #: The metrics a choice is judged on: all three, or MSE and SSIM when every candidate
        #: keeps interpolation's spectral angle (brightness only).
        self.judged = judged
        #: How :meth:`best` chooses among the candidates never worse than interpolation: the
        #: lowest MSE (held-back pixels), or the lowest worst ratio (hidden whole dates).
        self.lowest_mse = lowest_mse
        #: Squared errors (mean over bands) and pixels per band of distance to the date's
        #: nearest clear pixel (:mod:`.confidence`), every draw together: the chosen fill's
        #: expected error by distance.
        self.band_sums = np.zeros((confidence.BANDS, len(self.kinds), len(SCALES), len(WEIGHTS)))
        self.band_n = np.zeros(confidence.BANDS)
        #: Spectral indices (name -> the model's band positions) whose errors are summed too:
        #: how much of a fill's error an index sees (bands err together: a brightness error
        #: leaves NDVI nearly as it is).
        self.indices = dict(indices or {})
        shape = (len(self.indices), len(self.kinds), len(SCALES), len(WEIGHTS))
        self.index_sums, self.index_n = np.zeros(shape), np.zeros(shape)

    def add(self, draw: int, interp: torch.Tensor, change: torch.Tensor,
            corrections: list[torch.Tensor], truth: torch.Tensor, scored: torch.Tensor,
            bands: np.ndarray | None = None) -> None:
        """(N, C, S, S) interpolation, the model's change to its prior, residual corrections
        (one per scale) and truth of one date, (N, S, S) held-back pixels and, when given, each
        pixel's band of distance to the date's nearest clear pixel."""
        keep = scored.unsqueeze(1)
        band_of = None
        if bands is not None:
            band_of = bands[scored.numpy()]
            self.band_n += np.bincount(band_of, minlength=confidence.BANDS)
        weights = torch.tensor(WEIGHTS, dtype=interp.dtype).view(-1, 1, 1, 1, 1)
        ssim = ssim_to(truth)                       # the truth's statistics once
        angle = lambda fills: torch.where(  # noqa: E731
            scored, spectral_angle(fills, truth, dim=-3), 0.0).sum((-3, -2, -1))
        # BRIGHTNESS keeps base's spectral angle and TONE interpolation's at every weight, by
        # construction: those are taken as they are (no rounding noise in the floor's ratios).
        interp_angle = float(angle(torch.where(keep, interp, truth)))
        for a, corr in enumerate(corrections):
            base_angle = float(angle(torch.where(keep, interp + corr, truth))) \
                if bool(corr.any()) else interp_angle
            for j, kind in enumerate(self.kinds):
                # Every weight's fill in one (W, N, C, S, S) tensor: one pass of each metric.
                fills = torch.where(keep, candidate_fill(interp, corr, change, weights, kind),
                                    truth)
                mse = ((fills - truth) ** 2).mean(2)
                dissim = 1 - ssim(fills)
                sam = angle(fills).tolist() if kind == FULL else \
                    [base_angle if kind == BRIGHTNESS else interp_angle] * len(WEIGHTS)
                # Weight 0 is base itself: the same number as the ties above (a sum over a
                # larger tensor can differ in the last bit, and a tie must not read as a loss).
                sam = [base_angle if float(w) == 0.0 and kind != TONE else v
                       for w, v in zip(WEIGHTS, sam)]
                for i in range(len(WEIGHTS)):
                    self.sums[draw, 0, j, a, i] += float(mse[i][scored].sum())
                    self.sums[draw, 1, j, a, i] += sam[i]
                    self.sums[draw, 2, j, a, i] += float(dissim[i][scored].sum())
                if self.indices:
                    self._add_indices(j, a, fills, truth, scored)
                if band_of is not None:
                    squares = mse[:, scored].double().numpy()      # (weights, pixels)
                    for i in range(len(WEIGHTS)):
                        self.band_sums[:, j, a, i] += np.bincount(
                            band_of, weights=squares[i], minlength=confidence.BANDS)
        self.n[draw] += float(scored.sum())

    def _add_indices(self, kind: int, scale: int, fills: torch.Tensor, truth: torch.Tensor,
                     scored: torch.Tensor) -> None:
        """Squared errors of each index on the held-back pixels, every weight at once."""
        f = fills.permute(0, 1, 3, 4, 2)[:, scored].double().numpy()      # (W, P, C)
        t = truth.permute(0, 2, 3, 1)[scored].double().numpy()            # (P, C)
        for i, (name, positions) in enumerate(self.indices.items()):
            formula = INDICES[name].formula
            with np.errstate(all="ignore"):
                err = (formula(*(f[..., p] for p in positions))
                       - formula(*(t[..., p] for p in positions))[None]) ** 2
            ok = np.isfinite(err)
            self.index_sums[i, kind, scale] += np.where(ok, err, 0.0).sum(1)
            self.index_n[i, kind, scale] += ok.sum(1)

    def index_ratios(self, candidate: tuple[int, int, int]) -> dict[str, float]:
        """Per index, a candidate's RMS error in index units over its RMS error in reflectance
        (mean over bands), on the held-back pixels: what a pixel's expected error becomes in
        that index."""
        refl = self.mean(0, candidate)
        out = {}
        for i, name in enumerate(self.indices):
            n = self.index_n[(i, *candidate)]
            if n > 0 and refl > 0:
                out[name] = float(np.sqrt(self.index_sums[(i, *candidate)] / n / refl))
        return out

    def merged(self, others: list["_Errors"]) -> "_Errors":
        out = _Errors(self.judged, self.kinds, self.lowest_mse, self.indices)
        for e in [self, *others]:
            out.sums += e.sums
            out.n += e.n
            out.band_sums += e.band_sums
            out.band_n += e.band_n
            out.index_sums += e.index_sums
            out.index_n += e.index_n
        return out

    def error_by_distance(self, candidate: tuple[int, int, int]) -> tuple[float, ...] | None:
        """A candidate's RMS error per band of distance to the nearest clear pixel. Bands
        farther than any held-back pixel take at least the error of the same candidate without
        the same-date residual (which fades far from the clear pixels it spreads from)."""
        far = self.mean(0, (candidate[0], 0, candidate[2])) if self.pixels else None
        return confidence.error_table(self.band_sums[(slice(None), *candidate)], self.band_n,
                                      None if far is None else float(np.sqrt(far)))

    @property
    def pixels(self) -> int:
        return int(self.n.sum())

    def mean(self, metric: int, candidate: tuple[int, int, int]) -> float:
        return float(self.sums[(slice(None), metric, *candidate)].sum() / max(self.pixels, 1))

    def candidate(self, scale: int, weight: int, kind: int = FULL) -> tuple[int, int, int]:
        """The indices of a candidate (its kind the first this set has when it lacks ``kind``)."""
        return (self.kinds.index(kind) if kind in self.kinds else 0, scale, weight)

    def kind(self, candidate: tuple[int, int, int]) -> int:
        return self.kinds[candidate[0]]

    METRIC_NAMES = ("MSE", "SAM", "SSIM")

    def _ratios(self) -> np.ndarray:
        """(draws, metrics, kinds, scales, weights) ratios to interpolation; -inf where not judged."""
        base = np.maximum(self.sums[:, :, :1, :1, :1], 1e-20)
        ratio = self.sums / base
        ratio[self.n == 0] = -np.inf
        ratio[:, [m for m in range(self.METRICS) if m not in self.judged]] = -np.inf
        return ratio

    def worst(self, candidate: tuple[int, int, int]) -> tuple[float, str]:
        """A candidate's worst ratio to interpolation over the metrics and draws, and where."""
        ratio = self._ratios()[(slice(None), slice(None), *candidate)]
        d, m = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        return float(ratio[d, m]), f"{self.METRIC_NAMES[m]}, {self.labels[d]}"

    def best(self) -> tuple[int, int, int]:
        """The chosen candidate. Only candidates never worse than interpolation on any judged
        metric (MSE, SAM, 1 - SSIM) of any independent draw are taken (a candidate must win on
        every draw, which keeps chance wins on a few pixels out); interpolation scores 1 on
        all, so there is always one. Among them, on held-back pixels, the lowest MSE; on hidden
        whole dates (brightness candidates), the lowest worst ratio to interpolation over
        metrics and draws: taking the lowest MSE there too cost SSIM on the whole-date
        scenarios (+0.0057 -> +0.0047 on one inner date) and on the fully clear windows
        (-0.0016 .. -0.0038). On a tie, interpolation."""
        if not (self.n > 0).any():
            return 0, 0, 0                                     # nothing scored: interpolation
        worst = self._ratios().max(axis=(0, 1))                # (kinds, scales, weights)
        if self.lowest_mse:
            # Held-back pixels of the date (or its group): among the candidates never worse,
            # the lowest MSE. The lowest worst ratio (below) was bound by the metric that gains
            # least, SSIM, and left MSE on the table: -0.8 / -2.5 % MSE on the matrix's 1 and 2
            # dates 40 (model_weights/EXPERIMENTS.md).
            mse = np.where(worst <= 1.0, self.sums[:, 0].sum(0), np.inf)
            c = np.unravel_index(int(np.argmin(mse)), mse.shape)
            if np.isfinite(mse[c]):
                return tuple(int(x) for x in c)
        c = np.unravel_index(int(np.argmin(worst)), worst.shape)
        return tuple(int(x) for x in c)


def _judged(kinds: tuple[int, ...]) -> tuple[int, ...]:
    """MSE and SSIM when only brightness is offered (its angle is interpolation's: every
    candidate ties on SAM), all three metrics otherwise."""
    return _Errors.MSE_SSIM if tuple(kinds) == (BRIGHTNESS,) else _Errors.ALL


def _whole_errors(indices: dict[str, tuple[int, ...]] | None = None) -> _Errors:
    """The errors of whole dates hidden in turn: WHOLE_KINDS, chosen by the lowest worst ratio."""
    return _Errors(_judged(WHOLE_KINDS), tuple(WHOLE_KINDS), lowest_mse=False, indices=indices)


def held_back(missing: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(T, S, S) missing mask with synthetic clouds added on date ``k`` over its clear pixels."""
    size = missing.shape[-1]
    extra = cloud_bank(size).mask(CHECK_CLOUDS, rng)
    out = missing.copy()
    out[k] |= extra
    return out


def _score(model: SmtsVit, device: torch.device, msi: np.ndarray, missing: np.ndarray,
           hidden: np.ndarray, sar: np.ndarray | None, days: torch.Tensor | None,
           dates: list[int], errors: dict[int, _Errors], draw_of: np.ndarray,
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
                   residual_correction(clean, m, d, s, sorted(set(dates))) for s in SCALES]
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


def check_group(model: SmtsVit, device: torch.device, batches: list[tuple], days: torch.Tensor | None,
                targets: list[int], names: list[str], dates: list[str],
                seed: int = 0, check=lambda: None, chunk: int = 8,
                progress=lambda fraction: None) -> list[DateCheck]:
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
    # One random stream per date: a date's held-back pixels do not depend on which other
    # dates of the group are cloudy (turning the haze check on once changed another date's).
    rngs = {k: np.random.default_rng([seed, k]) for k in targets}
    indices = index_positions(tuple(getattr(getattr(model, "config", None), "msi_bands", ())))
    errors = {k: _Errors(indices=indices) for k in targets}
    model.eval()
    with torch.inference_mode():
        runs = len(batches) * DRAWS
        for b, (msi, missing, sar) in enumerate(batches):
            for draw in range(DRAWS):
                check()
                # One copy of the windows per cloudy date, held-back pixels on that date only.
                hidden = np.concatenate([np.stack([held_back(m, k, rngs[k]) for m in missing])
                                         for k in targets])
                _score(model, device, msi, missing, hidden, sar, days, targets, errors,
                       np.full(len(msi), draw), chunk, check)
                progress((b * DRAWS + draw + 1) / (runs + len(batches)))
        # Whole cloudy dates: hide whole mostly clear dates of the group in turn.
        all_missing = np.concatenate([b[1] for b in batches]) if batches else None
        whole = [] if all_missing is None else whole_dates(all_missing, targets)
        donors = whole_date_donors(all_missing, whole) if whole else []
        hidden_whole = {k: _whole_errors(indices) for k in donors}
        if donors:
            # The two draws are the even and the odd check windows (hiding is not random).
            first = 0
            for msi, missing, sar in batches:
                check()
                hidden = np.concatenate([missing.copy() for _ in donors])
                for j, k in enumerate(donors):
                    hidden[j * len(msi):(j + 1) * len(msi), k] = True
                _score(model, device, msi, missing, hidden, sar, days, donors, hidden_whole,
                       (first + np.arange(len(msi))) % DRAWS, chunk, check)
                first += len(msi)
                progress((runs + first / len(all_missing) * len(batches)) /
                         (runs + len(batches)))
    pooled = _Errors(indices=indices).merged(list(errors.values()))
    # The dates hidden whole are pooled, each draw apart: with brightness-only candidates (the
    # spectral angle is interpolation's) pooled figures kept the floor on the held-out whole-date
    # scenarios, where asking a win on every hidden date (18 ratios) left the model's gain at
    # -0.2..-0.7 % MSE (model_weights/EXPERIMENTS.md).
    by_whole = _whole_errors(indices).merged(list(hidden_whole.values()))
    whole_basis = f"{BASIS_WHOLE}: " + ", ".join(names[k] for k in donors)
    # The model alone: weight 1 with its own residual scale (none unless its prior has one).
    alone = SCALES.index(own_scale(model)) if own_scale(model) in SCALES else 0
    out = []
    for k in targets:
        e, basis = errors[k], BASIS_OWN
        if e.pixels < MIN_PIXELS:
            e, basis = (by_whole, whole_basis) if k in whole and by_whole.pixels >= MIN_PIXELS \
                else (pooled, BASIS_POOLED)
        is_whole = e is by_whole
        run = whole_run(whole, k)
        if is_whole and run > 1:
            # Inside a longer gap, one-date gaps are the only like case a group of 6 dates
            # holds; the model's spectra lost there on SAM (+1.2 %), its brightness does not
            # change the angle and won on MSE (three in a row: -8 %).
            basis = f"{BASIS_RUN.format(n=run)}; {basis}"
        if e.pixels == 0:
            # Nothing to hold back anywhere: interpolation, the fill that needs no check.
            out.append(DateCheck(names[k], dates[k], 0, float("nan"), float("nan"),
                                 float("nan"), float("nan"), 0.0, BASIS_NONE))
            continue
        c = e.best()
        interp, model_alone = (0, 0, 0), e.candidate(alone, len(WEIGHTS) - 1)
        out.append(DateCheck(names[k], dates[k], e.pixels, e.mean(0, interp),
                             e.mean(0, model_alone), e.mean(1, interp), e.mean(1, model_alone),
                             float(WEIGHTS[c[2]]), basis, float(SCALES[c[1]]),
                             e.kind(c), e.mean(0, c), e.mean(1, c),
                             e.worst(model_alone), e.worst(c), e.error_by_distance(c),
                             e.index_ratios(c)))
    return out


def describe_check(c: DateCheck) -> str:
    """One log line."""
    if c.basis == BASIS_NONE:
        return (f"  {c.name}: no clear pixel to hold back on this date or its group, and no "
                "mostly clear date to hide whole; filled by temporal interpolation.")
    pct = lambda a, b: 100 * (a / b - 1) if b > 0 else 0.0  # noqa: E731
    return (f"  {c.name}: on {c.pixels} held-back clear pixels ({c.basis}), interpolation MSE "
            f"{c.interp_mse:.5f}, model {c.model_mse:.5f} ({pct(c.model_mse, c.interp_mse):+.0f} %); "
            f"using {c.verdict}: MSE {c.chosen_mse:.5f} ({pct(c.chosen_mse, c.interp_mse):+.0f} %), "
            f"SAM {c.chosen_sam:.4f} ({pct(c.chosen_sam, c.interp_sam):+.0f} %).")
