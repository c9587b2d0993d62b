"""The fill of a window as a blend of candidates, date by date.

    interpolation + residual(s) + w * (model - its prior)

Temporal interpolation within the window, the same-date residual correction at a Gaussian
scale ``s`` (:mod:`..model.prior`) and a weight ``w`` of what the model changes to its own
prior: :class:`FillPlan` says which per date (:mod:`.self_check` chooses), :func:`blended_fill`
computes it.

The model's change can also be taken as a change of brightness only (:func:`brightness_only`):
the spectrum of interpolation (plus the residual, if any) scaled. On a wholly cloudy date it is
the only way the model is used: measured on the held-out whole-date scenarios, the model's own
spectra lose to interpolation's on SAM (+1.5 to +5 %) while its brightness wins on MSE (-7 to
-20 % beyond one inner date); scaled, the fill keeps interpolation's spectral angle exactly and
most of the model's MSE gain. On other dates the check offers it beside the model's full change.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.network import SmtsVit
from ..model.prior import residual_correction, temporal_prefill


def interpolation(msi: torch.Tensor, missing: torch.Tensor,
                  days: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Temporal linear interpolation within the window, as
    :func:`..training.baseline.interpolate_temporal`: true day offsets, the nearest clear date at the ends, and where a pixel has no clear date
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
    along = (change * interp).sum(dim, keepdim=True) / \
        (interp * interp).sum(dim, keepdim=True).clamp_min(1e-12)
    return interp * along.clamp_min(-0.999)


@dataclass(frozen=True)
class FillPlan:
    """How each date of a group is filled: the model's weight, the residual scale (0: none) and
    whether the model's change is taken as brightness only (:func:`brightness_only`; whole
    cloudy dates). ``FillPlan.model_alone(T, own)`` is the model without the check."""

    weights: tuple[float, ...]
    scales: tuple[float, ...]
    brightness: tuple[bool, ...] = ()

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
    """``interpolation + residual(s) + w * (model - its prior)`` per date, in reflectance; the
    model alone where ``plan`` is None. The model is not run where no date needs it and
    interpolation is defined everywhere."""
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
    base = interp.clone()
    for k, scale in enumerate(plan.scales):
        if scale > 0:
            base[:, k] = base[:, k] + corrections[scale][:, k]
    if not plan.needs_model:
        return base
    change = pred - interp
    if own > 0:
        change = change - corrections[own]
    if any(plan.brightness):
        # Along the spectrum of what it is added to: the spectral angle is base's.
        bright = torch.tensor(plan.brightness, device=pred.device).view(1, -1, 1, 1, 1)
        change = torch.where(bright, brightness_only(base, change), change)
    w = torch.tensor(plan.weights, dtype=pred.dtype, device=pred.device).view(1, -1, 1, 1, 1)
    return base + w * change
