"""Dates: parsing them, and which dates form one model input."""
from __future__ import annotations

import datetime as dt

import pytest

from core_helpers import sample_paths
from smts_cloudfill_plugin.core.read.dates import (as_date, date_from_file, day_numbers, out_of_order,
                                                   parse_date, pick_sar_dates)

D = dt.date(2019, 4, 1)


@pytest.mark.parametrize("text, expected", [
    ("20190401", D),
    ("2019-04-01", D),
    ("S2_x_20190401.tif", D),
    ("2019:04:01 10:00:00", D),                 # TIFFTAG_DATETIME
    ("2019-04-01T10:56:59Z", D),
    ("/data/S2_0000280849BAC91C_20190401.tif", D),
    ("T31UES_20190401T105031_B04.tif", D),
    ("no date here", None),
    ("image_1234.tif", None),
    ("S2_20191341.tif", None),                   # month 13 is not a date
    ("x_120190401.tif", None),                   # digits run on: not a date on its own
    ("", None),
])
def test_parse_date(text, expected):
    assert parse_date(text) == expected


class _QDate:
    """What a QGIS date field gives (QDate), without Qt."""

    def toPyDate(self) -> dt.date:  # noqa: N802 (Qt's name)
        return D


class _QDateTime:
    def date(self) -> _QDate:
        return _QDate()


@pytest.mark.parametrize("value, expected", [
    (D, D), (dt.datetime(2019, 4, 1, 10, 56), D), (_QDate(), D), (_QDateTime(), D),
    ("2019-04-01", D), ("20190401", D), (20190401, D),
    ("April", None), ("", None), (None, None),
])
def test_as_date_takes_what_a_field_or_parameter_holds(value, expected):
    got = as_date(value)
    assert got == expected and (got is None or type(got) is dt.date)


def test_date_from_file_prefers_the_name_then_metadata():
    assert date_from_file("a_20190401.tif", {"ACQUISITION_DATE": "2020-01-01"}) == D
    assert date_from_file("a.tif", {"ACQUISITION_DATE": "2019-04-01"}) == D
    assert date_from_file("a.tif", {"TIFFTAG_DATETIME": "2019:04:01 10:00:00"}) == D
    assert date_from_file("a.tif", {"OTHER": "2019-04-01"}) is None
    assert date_from_file("a.tif", None) is None


def test_sample_file_names_give_their_dates():
    got = [date_from_file(p) for p in sample_paths("msi")]
    assert got == [dt.date(2019, 4, d) for d in (1, 11, 21, 26)] + \
        [dt.date(2019, 5, 11), dt.date(2019, 5, 16)]


def test_day_numbers():
    assert day_numbers([D, dt.date(2019, 4, 11), dt.date(2019, 5, 1)]) == [0.0, 10.0, 30.0]
    assert day_numbers([D, None]) is None
    assert day_numbers([]) is None


def test_pick_sar_dates_for_the_sample():
    msi = [0, 10, 20, 25, 40, 45]                    # 2019-04-01 ... 2019-05-16
    sar = [-2, 10, 22, 34, 46]                       # 2019-03-30 ... 2019-05-17
    assert pick_sar_dates(msi, sar, 5) == [0, 1, 2, 3, 4]


def test_pick_sar_dates_nearest_to_even_times():
    msi = [0, 10, 20, 30, 40, 50]
    sar = list(range(-30, 90, 6))                    # every 6 days, far beyond the span
    picked = pick_sar_dates(msi, sar, 5)
    assert len(picked) == 5 and picked == sorted(set(picked))
    for i, want in zip(picked, [0, 12.5, 25, 37.5, 50]):
        assert abs(sar[i] - want) <= 3
    # One SAR date (S-ViT): the one nearest the MSI date.
    assert pick_sar_dates([17], [0, 12, 18, 30], 1) == [2]


def test_pick_sar_dates_one_beside_each_msi_date():
    # As many SAR as MSI dates: each MSI date gets its nearest SAR date, not the even times
    # (the sample's dates: 2019-04-01 ... 2019-05-16, SAR every 3 days).
    msi = [0, 10, 20, 25, 40, 45]
    sar = list(range(-2, 50, 3))
    picked = pick_sar_dates(msi, sar, 6)
    assert [sar[i] for i in picked] == [1, 10, 19, 25, 40, 46]
    assert [sar[i] for i in pick_sar_dates(msi, sar, 5)] == [1, 10, 22, 34, 46]


def test_pick_sar_dates_stays_distinct():
    # Both wanted times (10, 11) are nearest to SAR date 1 (day 10): the second takes the
    # next nearest, day 0 (11 days away) rather than day 30 (19 days away).
    assert pick_sar_dates([10, 11], [0, 10, 30], 2) == [0, 1]
    assert len(set(pick_sar_dates([0, 1, 2], [1, 50, 60], 3))) == 3
    with pytest.raises(ValueError, match="5 SAR dates"):
        pick_sar_dates([0, 10], [0, 5, 10], 5)


def test_pick_sar_dates_returns_date_order_for_unsorted_input():
    sar = [46, -2, 22, 10, 34]                       # the sample's SAR days, shuffled
    picked = pick_sar_dates([0, 10, 20, 25, 40, 45], sar, 5)
    assert [sar[i] for i in picked] == [-2, 10, 22, 34, 46]
    picked = pick_sar_dates([0, 10, 20, 25, 40, 45], sar, 3)
    assert [sar[i] for i in picked] == sorted(sar[i] for i in picked)


def test_date_order_is_one_rule_for_the_table_and_the_algorithms():
    """Each Sentinel-2 date must come after the known date before it (unknown dates skipped):
    the rule behind reconstruct's refusal, the algorithms' 'is not after' and the table's
    'dates must increase'."""
    d = [dt.date(2019, 4, day) for day in (1, 11, 21)]
    assert out_of_order(d) == []
    assert out_of_order([d[0], d[2], d[1]]) == [(1, 2)]
    assert out_of_order([d[1], None, d[0], d[0]]) == [(0, 2), (2, 3)]
    assert out_of_order([None, None]) == []
