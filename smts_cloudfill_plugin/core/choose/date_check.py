"""What the self-check found for one cloudy date, and how it is said (log line, reasons).

The figures come from :mod:`.self_check`; :mod:`.check_report` tables them.
"""
from __future__ import annotations

from dataclasses import dataclass

from .candidates import BRIGHTNESS, FULL, SMOOTH, TONE

#: How a date's choice was made (``DateCheck.basis``).
BASIS_OWN = "this date"
BASIS_POOLED = "pooled over the group's dates"
BASIS_WHOLE = "whole dates hidden in turn"
BASIS_NONE = "nothing to check: interpolation"
BASIS_RUN = "one of {n} whole dates in a row"
BASIS_AGREED = "a lone date inside the group: its gain must exceed the hidden dates' disagreement"


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
    #: How the model's change enters the fill (candidates.FULL, BRIGHTNESS, TONE or SMOOTH):
    #: SMOOTH always on whole cloudy dates, the check's choice on other dates.
    kind: int = FULL
    chosen_mse: float = float("nan")
    chosen_sam: float = float("nan")
    #: The model alone's and the chosen fill's worst ratio to interpolation over the metrics and
    #: draws, with where it was: (ratio, "SSIM, draw 2"). :meth:`CandidateErrors.best` says how the
    #: choice is made.
    model_worst: tuple[float, str] = (float("nan"), "")
    chosen_worst: tuple[float, str] = (float("nan"), "")
    #: The chosen fill's RMS error on the held-back pixels per band of distance to the date's
    #: nearest clear pixel (:mod:`.confidence`); None when nothing was checked.
    error_by_distance: tuple[float, ...] | None = None
    #: Per spectral index, the chosen fill's RMS error in index units over its RMS error in
    #: reflectance, on the held-back pixels (:meth:`CandidateErrors.index_ratios`).
    index_ratios: dict[str, float] | None = None

    @property
    def why(self) -> str:
        """One sentence: why this candidate, even where the model alone has better means."""
        if self.basis == BASIS_NONE:
            return ("Nothing could be held back or hidden: temporal interpolation, which needs "
                    "no check.")
        where = "on held-back clear pixels of this date" if self.basis == BASIS_OWN else \
            ("on the group's other cloudy dates" if self.basis == BASIS_POOLED else
             "on whole clear dates of the group hidden in turn")
        whole = BASIS_WHOLE in self.basis
        metrics = "MSE and SSIM" if whole else "MSE, SAM and SSIM"
        rule = ("the lowest worst ratio to interpolation" if whole else
                "the lowest MSE of the fills never worse than interpolation")
        if BASIS_AGREED in self.basis:
            rule += (", kept only where its gain exceeds the spread of the hidden dates' own SSIM "
                     "ratios")
        text = (f"Scored {where}, in two independent draws, on {metrics}; the fill "
                f"chosen has {rule} (its worst ratio {self.chosen_worst[0]:.3f},"
                f" {self.chosen_worst[1]}).")
        if (self.weight < 0.999 or (self.kind != FULL and not whole)) and self.model_worst[1]:
            text += (f" The model alone's worst was {self.model_worst[0]:.3f} "
                     f"({self.model_worst[1]})")
            better = self.model_mse <= self.chosen_mse and self.model_sam <= self.chosen_sam
            text += (", although its mean MSE and SAM were lower: a choice must hold on every "
                     "metric of every draw." if better else ".")
        if self.kind == SMOOTH and self.weight > 0.001:
            text += (" The model's change is taken as brightness only, smoothed along "
                     "interpolation's image (it adds no texture of its own): interpolation's "
                     "spectrum scaled, so the spectral angle is interpolation's, as on every "
                     "whole cloudy date.")
        elif self.kind == BRIGHTNESS and self.weight > 0.001:
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
        if self.kind in (BRIGHTNESS, SMOOTH) and self.weight > 0.001:
            used += "'s brightness" + (", smoothed" if self.kind == SMOOTH else "")
        if self.scale > 0:
            used += f" + same-date residual ({self.scale:g} px)"
        if self.kind == TONE and (self.weight > 0.001 or self.scale > 0):
            used += ", as brightness on interpolation's spectrum"
        return used


def describe_check(c: DateCheck) -> str:
    """One log line."""
    if c.basis == BASIS_NONE:
        return (f"  {c.name}: no clear pixel to hold back on this date or its group, and no "
                "mostly clear date to hide whole; filled by temporal interpolation.")
    pct = lambda a, b: 100 * (a / b - 1) if b > 0 else 0.0  # noqa: E731
    return (f"  {c.name}: on {c.pixels} held-back clear pixels ({c.basis}), interpolation MSE "
            f"{c.interp_mse:.5f}, model {c.model_mse:.5f} "
            f"({pct(c.model_mse, c.interp_mse):+.0f} %); "
            f"using {c.verdict}: MSE {c.chosen_mse:.5f} "
            f"({pct(c.chosen_mse, c.interp_mse):+.0f} %), "
            f"SAM {c.chosen_sam:.4f} ({pct(c.chosen_sam, c.interp_sam):+.0f} %).")
