"""The groups of dates that one pass fills: every cloudy date served once, by as few as can be."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from smts_cloudfill_plugin.core.plan.date_groups import cover_dates, group_start, serves


def fewest_groups(targets: list[int], count: int, size: int, margin: int) -> int:
    """Brute force: the smallest number of group starts that serve every target."""
    starts = range(max(count - size, 0) + 1)
    for n in range(1, len(targets) + 1):
        for chosen in itertools.combinations(starts, n):
            if all(any(serves(s, t, count, size, margin) for s in chosen) for t in targets):
                return n
    raise AssertionError("no cover")


@pytest.mark.parametrize("count, size, margin", [(12, 6, 1), (12, 6, 2), (9, 6, 0), (7, 6, 2),
                                                 (10, 3, 1), (4, 6, 1), (8, 1, 1)])
def test_every_target_is_served_once_by_the_fewest_groups(count, size, margin):
    rng = np.random.default_rng(count * 10 + size + margin)
    for _ in range(40):
        targets = sorted(rng.choice(count, int(rng.integers(1, count + 1)), replace=False).tolist())
        groups = cover_dates(targets, count, size, margin)
        filled = [t for _, ts in groups for t in ts]
        assert sorted(filled) == targets, "each cloudy date filled exactly once"
        for group, ts in groups:
            assert group == list(range(group[0], group[0] + min(size, count)))
            assert all(serves(group[0], t, count, size, min(margin, (size - 1) // 2)) for t in ts)
        assert len(groups) == fewest_groups(targets, count, size, min(margin, (size - 1) // 2))


def test_a_cloudy_season_needs_one_pass_per_four_cloudy_dates_not_one_each():
    """26 cloudy dates in a row of 34: with one neighbour kept on either side, a group of six
    fills four, so 7 passes (the earlier grouping, one group centred on each date, made 23)."""
    groups = cover_dates(list(range(4, 30)), 34, 6, margin=1)
    assert len(groups) == 7
    assert [g[0] for g, _ in groups] == [3, 7, 11, 15, 19, 23, 27]


def test_each_date_keeps_its_neighbours_or_as_many_as_the_season_s_ends_allow():
    assert cover_dates([5], 12, 6, margin=2) == [([3, 4, 5, 6, 7, 8], [5])]
    assert cover_dates([0], 12, 6, margin=2) == [([0, 1, 2, 3, 4, 5], [0])]
    assert cover_dates([11], 12, 6, margin=2) == [([6, 7, 8, 9, 10, 11], [11])]
    assert cover_dates([1, 4], 12, 6, margin=1) == [([0, 1, 2, 3, 4, 5], [1, 4])]
    assert cover_dates([1, 5], 12, 6, margin=1) == [([0, 1, 2, 3, 4, 5], [1]),
                                                    ([4, 5, 6, 7, 8, 9], [5])]
    assert cover_dates([2], 4, 6) == [([0, 1, 2, 3], [2])], "fewer dates than a group"
    assert cover_dates([], 12, 6) == []
    assert group_start(9, 10, 6, 1) == 4
