"""Checks of a stack before it is filled, and the warnings a user must hear.

What is refused (dates out of order or given twice, too few dates for the model) is refused
before anything is read or written; what is only doubtful (date spacing or SAR timing outside
what the model was trained on, whole dates with nothing clear, SAR with no value over the area)
is said in the log, naming the files.
"""
from __future__ import annotations

import datetime as dt
import os

import numpy as np

from ..errors import CloudFillError
from ..model.config import ModelConfig
from ..model.weights import describe
from ..progress import Feedback
from .dates import SAR_MARGIN_DAYS, STEP_DAYS, STEP_TOLERANCE, out_of_order
from .stack import Stack


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
    """Enough MSI and SAR dates for the model; name both sides when not."""
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
        feedback.warn("Some MSI dates are unknown: the model assumes 10-day steps between them.")
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
