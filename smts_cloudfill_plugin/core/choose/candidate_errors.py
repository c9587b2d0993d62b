"""The self-check's scores: every candidate fill's errors against the held-back truth.

A candidate is a kind (:mod:`.candidates`), a scale of the same-date residual correction and a
weight of the model's change; its errors are summed per independent draw of held-back pixels,
and :meth:`CandidateErrors.best` chooses among them (never worse than interpolation).
"""
from __future__ import annotations

import numpy as np
import torch

from ..indices import INDICES
from ..metrics import spectral_angle, ssim_to
from . import confidence
from .candidates import BRIGHTNESS, FULL, SMOOTH, TONE, candidate_fill

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
#: (model_weights/EXPERIMENTS.md, session 5): brightness only, smoothed along interpolation's
#: image (SMOOTH), which at every weight scored the same MSE as the raw per-pixel factor
#: (BRIGHTNESS) and a better SSIM (session 7).
WHOLE_KINDS = (SMOOTH,)
#: A lone whole date inside its group keeps the pooled choice only if its gain over
#: interpolation (1 - its worst ratio) exceeds AGREEMENT x the spread (standard deviation) of the
#: hidden dates' own SSIM ratios at it: the dates agree on more than they disagree.
AGREEMENT = 1.0
#: Independent draws of held-back pixels; a weight must beat interpolation on each.
DRAWS = 2


class CandidateErrors:
    """Per draw of held-back pixels and per candidate: summed squared error (mean over bands),
    spectral angle and SSIM dissimilarity (1 - SSIM) over the held-back pixels.

    A candidate is ``(kind, scale, weight)`` indices: :func:`.candidates.candidate_fill` of
    kind ``self.kinds[kind]`` from interpolation, the residual correction at ``SCALES[scale]``
    and ``WEIGHTS[weight]`` of the model's change. Candidate (0, 0, 0) is interpolation."""

    METRICS = 3
    ALL = (0, 1, 2)
    #: MSE and SSIM: on whole dates only brightness is offered (SMOOTH), whose spectral angle
    #: is interpolation's by construction (every candidate ties on it).
    MSE_SSIM = (0, 2)
    SSIM = 2

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
                    [base_angle if kind in (BRIGHTNESS, SMOOTH) else interp_angle] * len(WEIGHTS)
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

    def merged(self, others: list["CandidateErrors"]) -> "CandidateErrors":
        out = CandidateErrors(self.judged, self.kinds, self.lowest_mse, self.indices)
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
        """(draws, metrics, kinds, scales, weights) ratios to interpolation; -inf where not
        judged."""
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

    def best(self, each: list["CandidateErrors"] | None = None) -> tuple[int, int, int]:
        """The chosen candidate. Only candidates never worse than interpolation on any judged
        metric (MSE, SAM, 1 - SSIM) of any independent draw are taken (a candidate must win on
        every draw, which keeps chance wins on a few pixels out); interpolation scores 1 on
        all, so there is always one. Among them, on held-back pixels, the lowest MSE; on hidden
        whole dates (brightness candidates), the lowest worst ratio to interpolation over
        metrics and draws: taking the lowest MSE there too cost SSIM on the whole-date
        scenarios (+0.0057 -> +0.0047 on one inner date) and on the fully clear windows
        (-0.0016 .. -0.0038). On a tie, interpolation. With ``each`` (the scores of the hidden
        dates one by one), the choice must also gain more than they disagree
        (:meth:`agreed`), or interpolation it is."""
        c = self._chosen()
        return c if not each or self.agreed(c, each) else (0, 0, 0)

    def agreed(self, candidate: tuple[int, int, int], each: list["CandidateErrors"]) -> bool:
        """Whether ``candidate``'s gain over interpolation here (1 - its worst ratio) exceeds
        AGREEMENT x the standard deviation of its SSIM ratio on each of ``each`` (the hidden
        dates one by one, their draws pooled)."""
        ratios = [e.sums[:, self.SSIM][(slice(None), *candidate)].sum() /
                  max(e.sums[:, self.SSIM, 0, 0, 0].sum(), 1e-20) for e in each if e.pixels]
        return 1.0 - self.worst(candidate)[0] > AGREEMENT * float(np.std(ratios))

    def _chosen(self) -> tuple[int, int, int]:
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


def judged_metrics(kinds: tuple[int, ...]) -> tuple[int, ...]:
    """MSE and SSIM when only brightness is offered (BRIGHTNESS or SMOOTH: its angle is
    interpolation's, every candidate ties on SAM), all three metrics otherwise."""
    return CandidateErrors.MSE_SSIM if set(kinds) <= {BRIGHTNESS, SMOOTH} else CandidateErrors.ALL


def whole_errors(indices: dict[str, tuple[int, ...]] | None = None) -> CandidateErrors:
    """The errors of whole dates hidden in turn: WHOLE_KINDS, chosen by the lowest worst ratio."""
    return CandidateErrors(judged_metrics(WHOLE_KINDS), tuple(WHOLE_KINDS), lowest_mse=False,
                           indices=indices)
