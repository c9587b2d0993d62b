"""The fill of a window as a blend of candidates, date by date.

    interpolation + residual(s) + w * (model - its prior)

Temporal interpolation within the window, the same-date residual correction at a Gaussian
scale ``s`` (:mod:`..model.prior`) and a weight ``w`` of what the model changes to its own
prior: :class:`FillPlan` says which per date (:mod:`.self_check` chooses), :func:`blended_fill`
computes it.

The model's change enters a fill one of three ways, the candidate's *kind*:

- :data:`FULL`: ``base + w * change`` with ``base`` = interpolation + residual;
- :data:`BRIGHTNESS`: the change along base's spectrum only (:func:`brightness_only`), so the
  fill keeps base's spectral angle. On a wholly cloudy date it is the only way the model is
  used: measured on the held-out whole-date scenarios, the model's own spectra lose to
  interpolation's on SAM (+1.5 to +5 %) while its brightness wins on MSE (-7 to -20 % beyond one
  inner date);
- :data:`TONE`: interpolation's spectrum scaled towards ``interpolation + residual + w *
  change``: residual and model as brightness only, the fill's spectral angle interpolation's.
  Where the residual cuts MSE by three quarters but costs a few per cent of SAM in one draw
  (which the check's floor refuses), this keeps most of the gain: the matrix's 1 date 20 -86.0
  -> -89.0 % MSE vs interpolation, its fully clear windows -51 -> -74 %
  (model_weights/EXPERIMENTS.md);
- :data:`SMOOTH`: BRIGHTNESS with its per-pixel factor smoothed along base's image by a guided
  filter (:func:`smooth_brightness`), so the model's brightness adds no texture of its own. The
  only kind on whole cloudy dates: at every weight it scored the MSE of the raw factor and a
  better SSIM on the whole-date scenarios (one whole date at a window's end, weight 1: +0.0133
  against +0.0067 SSIM over interpolation; model_weights/EXPERIMENTS.md, session 7).

On other dates than whole cloudy ones the check offers FULL, BRIGHTNESS and TONE.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.network import SmtsVit
from ..model.prior import residual_correction, temporal_prefill


def interpolation(msi: torch.Tensor, missing: torch.Tensor,
                  days: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal linear interpolation within the window, as
    :func:`..training.baseline.interpolate_temporal`: true day offsets, the nearest clear date
    at the ends, and where a pixel has no clear date the date's mean over its clear pixels in
    the window. Returns the fill and where it is defined (False only on a date with no clear
    pixel in the window at all).

    Built on the model prior's interpolation (:func:`..model.prior.temporal_prefill`, torch)
    rather than the baseline's numpy: it runs on batches of windows on the model's device in
    float32, beside the model, and the self-check's scores and every fill depend on its bits;
    the baseline (float64, a whole season, one stack-wide fallback) is what evaluation and the
    model card report. Either one replaced by the other changes outputs."""
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
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Temporal interpolation (:func:`interpolation`) and the model's fill, both in
    reflectance, from one model run (where interpolation is undefined, both are the model's);
    and the residual correction inside the model's prior (:meth:`SmtsVit.fill`)."""
    pred, residual = model.fill(msi, missing, sar, days)
    interp, defined = interpolation(msi, missing, days)
    return torch.where(defined.unsqueeze(2), interp, pred), pred, residual


def brightness_only(interp: torch.Tensor, change: torch.Tensor, dim: int = 2) -> torch.Tensor:
    """The part of ``change`` along ``interp``'s spectrum (bands on ``dim``): added to
    ``interp``, it scales interp's spectrum by the factor that brings it closest to ``interp +
    change`` (least squares, at least a thousandth: never a zero or negative spectrum), so the
    spectral angle stays interp's, at any weight in [0, 1]."""
    return interp * _brightness_factor(interp, change, dim).clamp_min(-0.999)


def _brightness_factor(base: torch.Tensor, change: torch.Tensor, dim: int) -> torch.Tensor:
    """Per pixel, the least-squares factor f with base * f closest to ``change``."""
    return (change * base).sum(dim, keepdim=True) / \
        (base * base).sum(dim, keepdim=True).clamp_min(1e-12)


#: The kinds of candidate: how the model's change (and the residual) enter the fill.
FULL, BRIGHTNESS, TONE, SMOOTH = 0, 1, 2, 3

#: SMOOTH's guided filter: box radius (pixels) and regularisation (reflectance squared).
GUIDE_RADIUS = 2
GUIDE_EPS = 1e-4


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 box of the last two dims (the image's edges: the pixels inside)."""
    shape = x.shape
    flat = x.reshape(-1, 1, *shape[-2:])
    out = torch.nn.functional.avg_pool2d(flat, 2 * r + 1, stride=1, padding=r,
                                         count_include_pad=False)
    return out.reshape(shape)


def guided(p: torch.Tensor, guide: torch.Tensor, r: int = GUIDE_RADIUS,
           eps: float = GUIDE_EPS) -> torch.Tensor:
    """``p`` smoothed as a locally linear function of ``guide`` (He, Sun and Tang's guided
    filter, a few box means; written here rather than taken from OpenCV's ximgproc, which the
    plugin does not depend on): it keeps the guide's edges and adds none of its own."""
    mi, mp = _box(guide, r), _box(p, r)
    a = (_box(guide * p, r) - mi * mp) / (_box(guide * guide, r) - mi * mi + eps)
    b = mp - a * mi
    return _box(a, r) * guide + _box(b, r)


def smooth_brightness(base: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
    """:func:`brightness_only` with its factor guided-filtered by base's brightness (bands on
    dim -3): the model's brightness as a locally linear function of base's image."""
    factor = guided(_brightness_factor(base, change, -3), base.mean(-3, keepdim=True))
    return base * factor.clamp_min(-0.999)


def candidate_fill(interp: torch.Tensor, correction: torch.Tensor, change: torch.Tensor,
                   weight: torch.Tensor | float, kind: int) -> torch.Tensor:
    """One kind of candidate (:data:`FULL`, :data:`BRIGHTNESS` or :data:`TONE`) from
    interpolation, the residual correction and the model's change, bands on dim -3. ``weight``
    broadcasts against them: a tensor of weights with extra leading dims gives every weight's
    fill at once."""
    base = interp + correction
    if kind == FULL:
        return base + weight * change
    if kind == BRIGHTNESS:
        return base + weight * brightness_only(base, change, dim=-3)
    if kind == SMOOTH:
        return base + weight * smooth_brightness(base, change)
    return interp + brightness_only(interp, correction + weight * change, dim=-3)


@dataclass(frozen=True)
class FillPlan:
    """How each date of a group is filled: the model's weight, the residual scale (0: none) and
    the candidate's kind (:data:`FULL` where not given). ``FillPlan.model_alone(T, own)`` is the
    model without the check."""

    weights: tuple[float, ...]
    scales: tuple[float, ...]
    kinds: tuple[int, ...] = ()

    @classmethod
    def model_alone(cls, dates: int, own_scale: float = 0.0) -> "FillPlan":
        return cls((1.0,) * dates, (own_scale,) * dates)

    @property
    def needs_model(self) -> bool:
        return any(w > 0 for w in self.weights)


def own_scale(model: SmtsVit) -> float:
    """The residual scale already inside the model's prior (0: none)."""
    return model.config.residual_scale if model.config.prior == "temporal" else 0.0


def blended_fill(model: SmtsVit, msi: torch.Tensor, missing: torch.Tensor,
                 sar: torch.Tensor | None, days: torch.Tensor | None,
                 plan: FillPlan | None) -> torch.Tensor:
    """``interpolation + residual(s) + w * (model - its prior)`` per date, each of the plan's
    kind (:func:`candidate_fill`), in reflectance; the model alone where ``plan`` is None. The
    model is not run where no date needs it and interpolation is defined everywhere."""
    own = own_scale(model)
    if plan is None or plan == FillPlan.model_alone(msi.shape[1], own):
        return model(msi, missing, sar, days)
    interp, defined = interpolation(msi, missing, days)
    whole = bool(defined.all())
    clean = torch.nan_to_num(msi)
    needs_model = plan.needs_model or not whole
    # Each scale's correction once, for the dates that take it. Where the plan weighs the model
    # (the same for every batch of the run), its own scale, which its change is measured from,
    # comes with the model's run for every date: which of the two computations gives a
    # correction must not depend on the batch (they differ in the last bits).
    dates: dict[float, list[int]] = {}
    for k, scale in enumerate(plan.scales):
        if scale > 0:
            dates.setdefault(scale, []).append(k)
    corrections: dict[float, torch.Tensor] = {}
    if needs_model:
        pred, residual = model.fill(msi, missing, sar, days)
        if plan.needs_model and own > 0:
            corrections[own] = residual
        if not whole:   # the model where interpolation has nothing to go on
            interp = torch.where(defined.unsqueeze(2), interp, pred)
    corrections.update({s: residual_correction(clean, missing, days, s, ks)
                        for s, ks in dates.items() if s not in corrections})
    correction = torch.zeros_like(interp)
    for k, scale in enumerate(plan.scales):
        if scale > 0:
            correction[:, k] = corrections[scale][:, k]
    kinds = plan.kinds or (FULL,) * len(plan.weights)
    if not plan.needs_model and TONE not in kinds:
        return interp + correction
    change = torch.zeros_like(interp)    # no weight on the model: TONE is the residual's alone
    if plan.needs_model:
        change = pred - interp
        if own > 0:
            change = change - corrections[own]
    view = lambda values, dtype: torch.tensor(  # noqa: E731  (per date, on the T axis)
        values, dtype=dtype, device=interp.device).view(1, -1, 1, 1, 1)
    w = view(plan.weights, interp.dtype)
    out = None
    for kind in sorted(set(kinds)):
        fill = candidate_fill(interp, correction, change, w, kind)
        out = fill if out is None else torch.where(view([k == kind for k in kinds], torch.bool),
                                                   fill, out)
    return out
