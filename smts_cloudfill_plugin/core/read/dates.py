"""Acquisition dates: parsing them, day offsets, and the SAR dates that go with MSI dates.

The model knows a date by its channel position and its day offset, so the engine hands it
MSI dates about 10 days apart and SAR dates spread over the same span (which MSI dates go
together: :mod:`..plan.date_groups`).
"""
from __future__ import annotations

import datetime as dt
import os
import re
from typing import Sequence

#: Date spacing the model expects, and how far a step may stray from it (days): training
#: forms its date windows so, and reconstruct warns about groups outside it.
STEP_DAYS, STEP_TOLERANCE = 10.0, 5.0
#: A SAR date may lie this many days outside the MSI dates it goes with.
SAR_MARGIN_DAYS = 6.0

_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})-?(\d{2})-?(\d{2})(?!\d)")


def parse_date(text: str) -> dt.date | None:
    """First plausible date (YYYYMMDD, YYYY-MM-DD or YYYY:MM:DD...) in ``text``, else None."""
    for m in _DATE_IN_NAME.finditer(text.replace(":", "-")):
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
    return None


def as_date(value: object) -> dt.date | None:
    """The date a field or parameter value holds: a Python date or datetime, a Qt QDate or
    QDateTime (recognised by ``toPyDate``, so this module stays QGIS-free), else the first date
    in its text (:func:`parse_date`); None when empty or dateless."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "toPyDate"):
        return value.toPyDate()
    if hasattr(value, "date") and hasattr(value.date(), "toPyDate"):
        return value.date().toPyDate()
    return parse_date(str(value)) if value not in (None, "") else None


def date_from_file(path: str, metadata: dict[str, str] | None = None) -> dt.date | None:
    """The date in the file name, else in ACQUISITION_DATE / TIFFTAG_DATETIME metadata."""
    found = parse_date(os.path.basename(path))
    if found or not metadata:
        return found
    for key in ("ACQUISITION_DATE", "DATE_ACQUIRED", "SENSING_TIME", "TIFFTAG_DATETIME"):
        if key in metadata and (found := parse_date(metadata[key])):
            return found
    return None


def out_of_order(dates: Sequence[dt.date | None]) -> list[tuple[int, int]]:
    """(i, j) for each date j not after the known date i before it (unknown dates skipped):
    the Sentinel-2 dates must increase, each given once. One rule for the engine, the
    algorithms and the dialog's date table."""
    known = [i for i, d in enumerate(dates) if d is not None]
    return [(i, j) for i, j in zip(known, known[1:]) if dates[j] <= dates[i]]


def mask_of_another_date(image: dt.date | None, mask: dt.date | None) -> bool:
    """Whether a cloud mask names another date (in its file name or metadata) than the image
    it is given for (``image``: the image's own date, else the date given for it): its clouds
    would be filled on the wrong date. A mask or image without a known date is taken as given.
    One rule for the engine, the algorithms and the date table."""
    return image is not None and mask is not None and mask != image


def day_numbers(dates: Sequence[dt.date | None]) -> list[float] | None:
    """Days since the first date, or None when any date is unknown."""
    if not dates or any(d is None for d in dates):
        return None
    return [float((d - dates[0]).days) for d in dates]


def pick_sar_dates(msi_days: Sequence[float], sar_days: Sequence[float], count: int) -> list[int]:
    """Indices of ``count`` distinct SAR dates nearest to evenly spaced times over the MSI span.

    With one SAR date per MSI date (S-ViT, or a model with as many SAR as MSI dates), each is
    the SAR date nearest to its MSI date: the radar of that day sits beside its image.
    The indices come in date order (the order of the model's SAR channels), whatever the
    order of ``sar_days``.
    """
    if len(sar_days) < count:
        raise ValueError(f"{count} SAR dates are needed, {len(sar_days)} given")
    first, last = msi_days[0], msi_days[-1]
    if count == len(msi_days):
        wanted = list(msi_days)
    else:
        wanted = [first + (last - first) * i / max(count - 1, 1) for i in range(count)] \
            if count > 1 else [(first + last) / 2]
    chosen: list[int] = []
    for w in wanted:
        order = sorted(range(len(sar_days)), key=lambda i: (abs(sar_days[i] - w), i))
        chosen.append(next(i for i in order if i not in chosen))
    return sorted(chosen, key=lambda i: (sar_days[i], i))
