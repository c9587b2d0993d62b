"""Which dates the model sees together: the groups of consecutive dates that cover a season.

The model fills ``size`` consecutive MSI dates at once, and one pass over the raster fills
every date of a group that needs it. A cloudy date is best filled with neighbours on both
sides (temporal context before and after): it is *served* by a group where at least
``margin`` dates precede it and ``margin`` follow it, or by the group that comes closest to
that when the season's start or end leaves no such group.

:func:`cover_dates` finds the fewest groups that serve every cloudy date (greedy left to right,
which is optimal for covering points on a line with intervals of one length): a season with
many cloudy dates needs about one pass per ``size - 2 * margin`` cloudy dates, not one each
(the real 2019 season, 30 cloudy dates of 48: 18 passes instead of 27). :func:`sar_for_group`
gives each group its SAR dates.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from ..errors import CloudFillError
from ..model.config import ModelConfig
from ..read.dates import day_numbers, pick_sar_dates

#: Dates each cloudy date keeps on either side within its group (see :func:`cover_dates`).
#: Measured on the held-out 2019 season through reconstruct (scripts/season_eval.py, 10 seeds
#: of real cloud shapes hidden on the clear dates, two scenarios): 2 fills as well as a group
#: centred on each date (masked MSE -0.1 % / -0.1 %, SAM +0.9 % / +0.4 %, paired by seed) in
#: about half the passes; 1 needs a third of the passes but costs 3-5 % SAM; 0 is erratic.
GROUP_MARGIN = 2


def group_start(target: int, count: int, size: int, margin: int) -> int:
    """The first date of the group of ``size`` that puts ``target`` ``margin`` dates in (as
    near as the season's ends allow)."""
    return min(max(target - margin, 0), max(count - size, 0))


def serves(start: int, target: int, count: int, size: int, margin: int) -> bool:
    """Whether the group starting at ``start`` gives ``target`` its neighbours: ``margin``
    dates on each side, or as many as the season's ends allow."""
    end = min(start + size, count)
    if not start <= target < end:
        return False
    before = min(margin, target)                   # a date near the start has fewer before it
    after = min(margin, count - 1 - target)        # ... and near the end, fewer after it
    return target - start >= before and end - 1 - target >= after


def cover_dates(targets: list[int], count: int, size: int,
                margin: int = GROUP_MARGIN) -> list[tuple[list[int], list[int]]]:
    """The fewest groups of ``size`` consecutive dates (of ``count``) that serve every target.

    Returns (group, the targets it fills) in date order; each target is filled by exactly one
    group. ``margin`` is capped at what a group of ``size`` allows ((size - 1) // 2).
    """
    margin = max(0, min(margin, (size - 1) // 2))
    out: list[tuple[list[int], list[int]]] = []
    for t in sorted(set(targets)):
        if out and serves(out[-1][0][0], t, count, size, margin):
            out[-1][1].append(t)
            continue
        start = group_start(t, count, size, margin)
        out.append((list(range(start, min(start + size, count))), [t]))
    return out


def sar_for_group(msi_dates: Sequence[dt.date | None], sar_dates: Sequence[dt.date | None],
                  group: list[int], config: ModelConfig) -> list[int] | None:
    """The SAR dates (indices of ``sar_dates``) that go with a group of MSI dates, None when the
    model takes no SAR; by date, or by position when exactly the model's counts are given."""
    if not config.uses_sar:
        return None
    n = config.sar_dates
    all_days = day_numbers([*msi_dates, *sar_dates])
    if all_days is not None:
        return pick_sar_dates([all_days[t] for t in group], all_days[len(msi_dates):], n)
    if len(sar_dates) == n and len(msi_dates) == config.msi_dates:
        return list(range(n))
    raise CloudFillError(
        f"{len(sar_dates)} SAR rasters were given for {n} SAR slots, but the dates of some "
        f"rasters are unknown, so the SAR dates cannot be matched to the MSI dates. Put the date "
        f"(YYYYMMDD or YYYY-MM-DD) in the file names or give exactly {n} SAR rasters for "
        f"{config.msi_dates} MSI dates.")
