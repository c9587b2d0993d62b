"""Checks of a stack before it is filled, and the warnings a user must hear.

What is refused (dates out of order or given twice, too few dates for the model, a model that
fills only some of the stack's bands, a date on another scale than its neighbours) is refused
before anything is written; what is only doubtful (date spacing or SAR timing outside what the
model was trained on, whole dates with nothing clear, SAR with no value over the area, bands
matched by position, how each cloud mask is read) is said in the log, naming the files.
"""
from __future__ import annotations

import datetime as dt
import os

import numpy as np

from .errors import CloudFillError
from .model.config import ModelConfig
from .model.weights import describe
from .progress import Feedback
from .read.clouds import BINARY, PROBABILITY
from .read.dates import SAR_MARGIN_DAYS, STEP_DAYS, STEP_TOLERANCE, out_of_order
from .read.stack import Stack


def check_date_order(stack: Stack) -> None:
    """MSI dates in increasing order; a repeated date (a file given twice, or two files of one
    day) is named as what it is, before any order problem."""
    seen: dict = {}
    for info in stack.msi:
        first = seen.setdefault(info.date, info) if info.date else info
        if first is not info:
            if os.path.abspath(first.path) == os.path.abspath(info.path):
                raise CloudFillError(f"'{info.name}' is given twice as an MSI date: give each "
                                     "date once.")
            raise CloudFillError(f"'{first.name}' and '{info.name}' have the same date "
                                 f"({info.date}): give each MSI date once (keep one of them, or "
                                 "correct the date).")
    for i, j in out_of_order(stack.dates):
        raise CloudFillError(f"MSI dates must be in increasing date order: '{stack.msi[j].name}' "
                             f"({stack.dates[j]}) comes after '{stack.msi[i].name}' "
                             f"({stack.dates[i]}).")


def check_stack_fits_model(stack: Stack, config: ModelConfig, weights: str) -> None:
    """Enough MSI and SAR dates for the model, and a model for every band of the stack (the
    bands it does not fill would keep their cloudy values in pixels marked filled); name both
    sides when not."""
    ref = stack.reference
    if ref.band_count > len(config.msi_bands):
        unfilled = [name for b, name in enumerate(ref.band_names or []) if b not in
                    stack.band_indices[0]]
        which = f" ({', '.join(unfilled)})" if unfilled else ""
        raise CloudFillError(
            f"'{ref.name}' has {ref.band_count} bands but the model "
            f"'{os.path.basename(weights)}' ({describe(config)}) fills only "
            f"{len(config.msi_bands)} of them: the other {ref.band_count - len(config.msi_bands)}"
            f"{which} would keep their cloudy values in the filled pixels. Use a model of all "
            f"the stack's bands (\"Train on local stacks\" from scratch makes one), or rasters "
            f"of only the model's bands.")
    if len(stack.msi) < config.msi_dates:
        raise CloudFillError(f"The model '{os.path.basename(weights)}' ({describe(config)}) needs "
                             f"at least {config.msi_dates} MSI dates; {len(stack.msi)} were given.")
    if config.uses_sar and len(stack.sar) < config.sar_dates:
        raise CloudFillError(
            f"The model '{os.path.basename(weights)}' ({describe(config)}) needs at least "
            f"{config.sar_dates} SAR dates; {len(stack.sar)} were given. Without SAR, use the "
            f"MTS-ViT weights (the default when no SAR is given).")


def check_spacing(stack: Stack, group: list[int], sar_idx: list[int] | None,
                  feedback: Feedback) -> None:
    """Warn, naming the dates, when a group's date spacing or SAR timing is outside what the
    model was trained on; the self-check then decides how far to trust it."""
    dates = [stack.dates[t] for t in group]
    if any(d is None for d in dates):
        feedback.warn(f"Some MSI dates are unknown: the model assumes {STEP_DAYS:g}-day steps "
                      "between them.")
        return
    for a, b in zip(dates, dates[1:]):
        gap = (b - a).days
        if not STEP_DAYS - STEP_TOLERANCE <= gap <= STEP_DAYS + STEP_TOLERANCE:
            feedback.warn(f"MSI dates {a} and {b} are {gap} days apart; the model was trained on "
                          f"{STEP_DAYS - STEP_TOLERANCE:g}..{STEP_DAYS + STEP_TOLERANCE:g}-day "
                          "steps (the self-check decides how much to use it).")
    for i in sar_idx or []:
        d = stack.sar_dates[i]
        if d is not None and not (dates[0] - dt.timedelta(days=SAR_MARGIN_DAYS) <= d
                                  <= dates[-1] + dt.timedelta(days=SAR_MARGIN_DAYS)):
            feedback.warn(f"SAR date {d} ({stack.sar[i].name}) lies outside the MSI dates "
                          f"{dates[0]}..{dates[-1]} by more than {SAR_MARGIN_DAYS:g} days; the "
                          "model was trained on SAR within them.")


def warn_whole_dates(stack: Stack, fractions: list[float], feedback: Feedback) -> None:
    """Say so when whole dates are made up: a date with no clear pixel is filled entirely from
    the others (and SAR), and with one clear date or fewer there is almost nothing to go on."""
    empty = [i for i, f in enumerate(fractions) if f >= 1.0]
    for t in empty:
        feedback.warn(f"'{stack.msi[t].name}' ({stack.dates[t] or 'date unknown'}) has no clear "
                      "pixel: all of its output is made up from the other dates and SAR.")
    if len(stack.msi) - len(empty) <= 1 and len(empty) < len(stack.msi):
        feedback.warn(f"Only one of the {len(stack.msi)} MSI dates has clear pixels: every "
                      "other date is filled from that one date (and SAR); expect little detail.")


def warn_empty_sar(stack: Stack, sar_idx: list[int] | None, batches: list[tuple],
                   feedback: Feedback) -> None:
    """Name the SAR rasters that hold no value over any of the checked windows (all NaN or no
    data): the model then runs as if there were no SAR."""
    if not sar_idx or not batches or batches[0][2] is None:
        return
    for j, i in enumerate(sar_idx):
        if all(np.isnan(b[2][:, j]).all() for b in batches):
            feedback.warn(f"The SAR raster '{stack.sar[i].name}' holds no value over the area "
                          "(all no data or NaN): the fill does without it there.")


def _files(infos: list) -> str:
    """'a.tif', 'b.tif' and 'c.tif' (or '..., and 5 more'): the files a message is about."""
    names = [f"'{i.name}'" for i in infos]
    if len(names) > 4:
        names = names[:3] + [f"{len(names) - 3} more"]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def describe_masks(stack: Stack, feedback: Feedback) -> None:
    """Say how each cloud mask is read, as its content decided (:func:`.clouds.mask_meaning`):
    SCL and 0/1 masks in the log; a mask of 0 and another value, or a cloud probability, as a
    warning that names the file and what to give instead if the guess is wrong."""
    by_kind: dict[str, list] = {}
    for mask in stack.masks:
        if mask is None:
            continue
        meaning = mask.meaning
        if meaning.kind == BINARY and meaning.cloud not in (None, 1):
            feedback.warn(f"Cloud mask '{mask.name}' holds 0 and {meaning.cloud:g}: read as "
                          f"{meaning.cloud:g} = cloud, 0 = clear. If 0 marks its clouds, invert "
                          "it (a 0/1 mask with 1 = cloud).")
        elif meaning.kind == PROBABILITY:
            feedback.warn(f"Cloud mask '{mask.name}' holds fractions from {meaning.low:g} to "
                          f"{meaning.high:g}: read as a {meaning.describe()}. For other clouds, "
                          "give a 0/1 mask (1 = cloud).")
        else:
            by_kind.setdefault(meaning.describe(), []).append(mask)
    for kind, masks in by_kind.items():
        extra = ""
        if masks[0].is_scl:
            extra = (f", classes {', '.join(map(str, stack.scl_classes))} missing, clouds and "
                     f"shadows grown by {stack.cloud_buffer} px")
        feedback.info(f"Cloud mask{'s' if len(masks) > 1 else ''} read as {kind}{extra}: "
                      f"{_files(masks)}.")


def warn_bands_by_position(stack: Stack, feedback: Feedback) -> None:
    """Warn when bands are matched by position (the file names none): a file holding them in
    another order would be filled with its bands mixed up, without any other sign."""
    unnamed = stack.by_position
    if not unnamed:
        return
    index = stack.band_indices[unnamed[0]]
    order = ", ".join(stack.bands[c] for c in sorted(range(len(index)), key=index.__getitem__))
    files = _files([stack.msi[t] for t in unnamed])
    feedback.warn(f"{files} name{'s' if len(unnamed) == 1 else ''} no bands: "
                  f"{'its' if len(unnamed) == 1 else 'their'} bands are taken by position, in "
                  f"this order: {order}. If a file holds them in another order, its fill mixes "
                  "the bands up: name its bands (descriptions B02 ... B12) or reorder them.")


#: A date whose clear pixels are this many times as bright, or as dark, as those of the dates
#: around it in every band is on another scale (a reflectance x 100000 file, a scale factor
#: lost). Between neighbouring dates of a real season no more than 2.3x in every band (both
#: WorldCereal seasons, 118 dates: haze, snow and harvests change some bands, not all ten alike).
LEVEL_FACTOR = 4.0
#: Dates on either side that a date's level is compared with.
LEVEL_NEIGHBOURS = 2


def check_levels(stack: Stack, levels: list[np.ndarray | None]) -> None:
    """Refuse a date on another scale than the dates around it: brighter (or darker) by
    :data:`LEVEL_FACTOR` or more in every band than most of them, on their clear pixels
    (``levels``: :attr:`.missing.MissingScan.levels`). Its fill, and the fills of the dates
    filled from it, would come out on the wrong scale."""
    known = [t for t, level in enumerate(levels) if level is not None]
    for k, t in enumerate(known):
        around = known[max(0, k - LEVEL_NEIGHBOURS):k] + known[k + 1:k + 1 + LEVEL_NEIGHBOURS]
        if not around:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = {u: levels[t] / levels[u] for u in around}
        for word, off in (("brighter", lambda r: bool((r >= LEVEL_FACTOR).all())),
                          ("darker", lambda r: bool((r <= 1 / LEVEL_FACTOR).all()))):
            odd = [u for u in around if off(ratios[u])]
            if 2 * len(odd) <= len(around):
                continue
            factor = float(np.median([np.median(ratios[u]) for u in odd]))
            factor = factor if word == "brighter" else 1 / factor
            times = f"{factor:.0f}x" if factor >= 10 else f"{factor:.1f}x"
            info = stack.msi[t]
            raise CloudFillError(
                f"'{info.name}' ({info.date or 'date unknown'}) is about {times} {word} in every "
                f"band than the dates around it ({_files([stack.msi[u] for u in odd])}), "
                "on their clear pixels: its values are on another scale, and its fill (and the "
                "fill of the dates filled from it) would come out wrong. Put it on the scale of "
                "the other dates (Sentinel-2 L2A: reflectance x 10000, or floats 0..1; or give "
                "its bands the right scale factor).")
