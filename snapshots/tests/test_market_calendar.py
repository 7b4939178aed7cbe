"""Pins the SPX options calendar to the tables of shared/reference/calendar.md §4 (2024–2027).

A library upgrade that changes a holiday, an early close or a session time fails here.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from snapshots import market_calendar as mc

ET = ZoneInfo("America/New_York")
UTC = dt.UTC


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def et(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ET)


# calendar.md §4, full-day closures: (date, weekday, holiday).
FULL_DAY_CLOSURES = [
    ("2024-01-01", "Mon", "New Year's Day"),
    ("2024-01-15", "Mon", "Martin Luther King Jr. Day"),
    ("2024-02-19", "Mon", "Washington's Birthday"),
    ("2024-03-29", "Fri", "Good Friday"),
    ("2024-05-27", "Mon", "Memorial Day"),
    ("2024-06-19", "Wed", "Juneteenth"),
    ("2024-07-04", "Thu", "Independence Day"),
    ("2024-09-02", "Mon", "Labor Day"),
    ("2024-11-28", "Thu", "Thanksgiving"),
    ("2024-12-25", "Wed", "Christmas"),
    ("2025-01-01", "Wed", "New Year's Day"),
    ("2025-01-09", "Thu", "National Day of Mourning (President Carter)"),
    ("2025-01-20", "Mon", "MLK Day"),
    ("2025-02-17", "Mon", "Washington's Birthday"),
    ("2025-04-18", "Fri", "Good Friday"),
    ("2025-05-26", "Mon", "Memorial Day"),
    ("2025-06-19", "Thu", "Juneteenth"),
    ("2025-07-04", "Fri", "Independence Day"),
    ("2025-09-01", "Mon", "Labor Day"),
    ("2025-11-27", "Thu", "Thanksgiving"),
    ("2025-12-25", "Thu", "Christmas"),
    ("2026-01-01", "Thu", "New Year's Day"),
    ("2026-01-19", "Mon", "MLK Day"),
    ("2026-02-16", "Mon", "Washington's Birthday"),
    ("2026-04-03", "Fri", "Good Friday"),
    ("2026-05-25", "Mon", "Memorial Day"),
    ("2026-06-19", "Fri", "Juneteenth"),
    ("2026-07-03", "Fri", "Independence Day observed"),
    ("2026-09-07", "Mon", "Labor Day"),
    ("2026-11-26", "Thu", "Thanksgiving"),
    ("2026-12-25", "Fri", "Christmas"),
    ("2027-01-01", "Fri", "New Year's Day"),
    ("2027-01-18", "Mon", "MLK Day"),
    ("2027-02-15", "Mon", "Washington's Birthday"),
    ("2027-03-26", "Fri", "Good Friday"),
    ("2027-05-31", "Mon", "Memorial Day"),
    ("2027-06-18", "Fri", "Juneteenth observed"),
    ("2027-07-05", "Mon", "Independence Day observed"),
    ("2027-09-06", "Mon", "Labor Day"),
    ("2027-11-25", "Thu", "Thanksgiving"),
    ("2027-12-24", "Fri", "Christmas observed"),
]

# calendar.md §4, early closes (SPX options 13:15 ET): (date, weekday, reason).
EARLY_CLOSES = [
    ("2024-07-03", "Wed", "day before Independence Day"),
    ("2024-11-29", "Fri", "day after Thanksgiving"),
    ("2024-12-24", "Tue", "Christmas Eve"),
    ("2025-07-03", "Thu", "day before Independence Day"),
    ("2025-11-28", "Fri", "day after Thanksgiving"),
    ("2025-12-24", "Wed", "Christmas Eve"),
    ("2026-11-27", "Fri", "day after Thanksgiving"),
    ("2026-12-24", "Thu", "Christmas Eve"),
    ("2027-11-26", "Fri", "day after Thanksgiving"),
]

# calendar.md §4, "not holidays": trading days with a full session.
NOT_HOLIDAYS = ["2026-10-12", "2026-11-11", "2027-12-31", "2026-07-02", "2027-07-02"]

TRADING_DAY_COUNTS = {2024: 252, 2025: 250, 2026: 251, 2027: 251}

# calendar.md §4 "Friday SPXW -> Thu": a closed Friday's weekly expiration is the Thursday before.
FRIDAY_SHIFTS = [
    ("2024-03-29", "2024-03-28"),
    ("2025-04-18", "2025-04-17"),
    ("2025-07-04", "2025-07-03"),
    ("2026-04-03", "2026-04-02"),
    ("2026-06-19", "2026-06-18"),
    ("2026-07-03", "2026-07-02"),
    ("2026-12-25", "2026-12-24"),
    ("2027-01-01", "2026-12-31"),
    ("2027-03-26", "2027-03-25"),
    ("2027-06-18", "2027-06-17"),
    ("2027-12-24", "2027-12-23"),
]

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@pytest.mark.parametrize(("day", "weekday", "holiday"), FULL_DAY_CLOSURES)
def test_full_day_closures(day: str, weekday: str, holiday: str) -> None:
    assert WEEKDAYS[d(day).weekday()] == weekday, holiday
    assert not mc.is_trading_day(d(day)), holiday
    assert mc.session_bounds(d(day)) is None
    assert not mc.is_early_close(d(day))
    with pytest.raises(ValueError):
        mc.expiring_series_close(d(day))


def test_no_other_weekday_closures_2024_2027() -> None:
    closed = {d(day) for day, _, _ in FULL_DAY_CLOSURES}
    day = d("2024-01-01")
    while day <= d("2027-12-31"):
        if day.weekday() < 5:
            assert mc.is_trading_day(day) == (day not in closed), day
        else:
            assert not mc.is_trading_day(day), day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(("day", "weekday", "reason"), EARLY_CLOSES)
def test_early_closes(day: str, weekday: str, reason: str) -> None:
    date = d(day)
    assert WEEKDAYS[date.weekday()] == weekday, reason
    assert mc.is_trading_day(date)
    assert mc.is_early_close(date), reason
    bounds = mc.session_bounds(date)
    assert bounds is not None
    assert bounds[0] == et(f"{day}T09:30")
    assert bounds[1] == et(f"{day}T13:15")
    assert mc.expiring_series_close(date) == et(f"{day}T13:00")
    assert mc.settlement_instant(date, "SPXW") == et(f"{day}T13:00")


def test_early_closes_are_exactly_the_table() -> None:
    found = [day for day in mc.trading_days(d("2024-01-01"), d("2027-12-31")) if mc.is_early_close(day)]
    assert found == [d(day) for day, _, _ in EARLY_CLOSES]


@pytest.mark.parametrize("day", ["2024-12-24", "2025-12-24", "2026-12-24"])
def test_christmas_eve_patch_over_the_library(day: str) -> None:
    """pandas_market_calendars 5.5.0 has these as full days (calendar.md §6); we close at 13:15 ET."""
    bounds = mc.session_bounds(d(day))
    assert bounds is not None and bounds[1].astimezone(ET).time() == dt.time(13, 15)


@pytest.mark.parametrize("day", NOT_HOLIDAYS)
def test_not_holidays_are_full_trading_days(day: str) -> None:
    date = d(day)
    assert mc.is_trading_day(date)
    assert not mc.is_early_close(date)
    assert mc.session_bounds(date) == (et(f"{day}T09:30"), et(f"{day}T16:15"))
    assert mc.expiring_series_close(date) == et(f"{day}T16:00")


@pytest.mark.parametrize(("year", "count"), sorted(TRADING_DAY_COUNTS.items()))
def test_trading_day_counts(year: int, count: int) -> None:
    days = mc.trading_days(dt.date(year, 1, 1), dt.date(year, 12, 31))
    assert len(days) == count
    assert days == sorted(days)
    assert all(mc.is_trading_day(day) for day in days)


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2025, 4, "2025-04-17"),
        (2026, 6, "2026-06-18"),
        (2027, 6, "2027-06-17"),
        (2024, 3, "2024-03-15"),
        (2025, 12, "2025-12-19"),
        (2026, 1, "2026-01-16"),
        (2026, 4, "2026-04-17"),
        (2026, 7, "2026-07-17"),
        (2026, 12, "2026-12-18"),
        (2027, 3, "2027-03-19"),
    ],
)
def test_spx_monthly_expiration(year: int, month: int, expected: str) -> None:
    assert mc.spx_monthly_expiration(year, month) == d(expected)


def test_monthly_shift_last_trading_day() -> None:
    """A shifted AM monthly last trades the trading day before its (Thursday) expiration."""
    for monthly, last_trade in [("2025-04-17", "2025-04-16"), ("2026-06-18", "2026-06-17"), ("2027-06-17", "2027-06-16")]:
        assert mc.previous_trading_day(d(monthly)) == d(last_trade)


def test_every_monthly_2024_2027_is_a_trading_friday_or_shifted() -> None:
    for year in range(2024, 2028):
        for month in range(1, 13):
            monthly = mc.spx_monthly_expiration(year, month)
            assert mc.is_trading_day(monthly)
            friday = mc.third_friday(year, month)
            assert friday.weekday() == 4 and 15 <= friday.day <= 21
            assert monthly == friday or (monthly < friday and not mc.is_trading_day(friday))


@pytest.mark.parametrize(("closed_friday", "thursday"), FRIDAY_SHIFTS)
def test_closed_friday_weekly_moves_to_thursday(closed_friday: str, thursday: str) -> None:
    friday = d(closed_friday)
    assert not mc.is_trading_day(friday)
    assert mc.previous_trading_day(friday) == d(thursday)
    listed = mc.listed_expirations(friday - dt.timedelta(days=10), 20)
    assert (d(thursday), "SPXW") in listed
    assert all(day != friday for day, _ in listed)


# DST: 2026-03-08 (EST → EDT) and 2026-11-01 (EDT → EST).
@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc", "expiring_utc"),
    [
        ("2026-03-06", "2026-03-06T14:30", "2026-03-06T21:15", "2026-03-06T21:00"),  # Fri, EST
        ("2026-03-09", "2026-03-09T13:30", "2026-03-09T20:15", "2026-03-09T20:00"),  # Mon, EDT
        ("2026-10-30", "2026-10-30T13:30", "2026-10-30T20:15", "2026-10-30T20:00"),  # Fri, EDT
        ("2026-11-02", "2026-11-02T14:30", "2026-11-02T21:15", "2026-11-02T21:00"),  # Mon, EST
        ("2026-11-27", "2026-11-27T14:30", "2026-11-27T18:15", "2026-11-27T18:00"),  # early close, EST
        ("2025-07-03", "2025-07-03T13:30", "2025-07-03T17:15", "2025-07-03T17:00"),  # early close, EDT
    ],
)
def test_dst_session_bounds_in_utc(day: str, open_utc: str, close_utc: str, expiring_utc: str) -> None:
    bounds = mc.session_bounds(d(day))
    assert bounds == (utc(open_utc), utc(close_utc))
    assert all(b.tzinfo is not None and b.utcoffset() == dt.timedelta(0) for b in bounds)
    assert mc.expiring_series_close(d(day)) == utc(expiring_utc)
    assert mc.settlement_instant(d(day), "SPXW") == utc(expiring_utc)
    assert mc.settlement_instant(d(day), "SPX") == utc(open_utc)


def test_dst_weekend_days_are_closed() -> None:
    assert not mc.is_trading_day(d("2026-03-08"))
    assert not mc.is_trading_day(d("2026-11-01"))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-03-06T14:29:59", False),
        ("2026-03-06T14:30:00", True),
        ("2026-03-06T21:14:59", True),
        ("2026-03-06T21:15:00", False),
        ("2026-03-09T13:29:59", False),
        ("2026-03-09T13:30:00", True),
        ("2026-03-09T20:14:59", True),
        ("2026-03-09T20:15:00", False),
        ("2026-11-02T13:30:00", False),  # 08:30 EST
        ("2026-11-02T14:30:00", True),
        ("2026-11-27T18:14:00", True),  # early close
        ("2026-11-27T18:15:00", False),
        ("2026-12-24T18:20:00", False),  # Christmas Eve early close
        ("2026-12-25T15:00:00", False),  # holiday
        ("2026-03-07T15:00:00", False),  # Saturday
    ],
)
def test_is_session_open(instant: str, expected: bool) -> None:
    assert mc.is_session_open(utc(instant)) is expected


def test_is_session_open_uses_the_new_york_date() -> None:
    # 00:30 UTC on Tuesday is Monday 20:30 ET: after Monday's close, not Tuesday's session.
    assert not mc.is_session_open(utc("2026-03-10T00:30:00"))
    # The same instant expressed in another zone gives the same answer.
    assert mc.is_session_open(et("2026-03-09T10:00")) is True


def test_is_session_open_rejects_naive() -> None:
    with pytest.raises(ValueError):
        mc.is_session_open(dt.datetime(2026, 3, 9, 15, 0))


def test_previous_and_next_trading_day() -> None:
    assert mc.previous_trading_day(d("2026-01-02")) == d("2025-12-31")
    assert mc.next_trading_day(d("2025-12-31")) == d("2026-01-02")
    assert mc.next_trading_day(d("2026-12-31")) == d("2027-01-04")
    assert mc.previous_trading_day(d("2027-01-04")) == d("2026-12-31")
    assert mc.previous_trading_day(d("2026-03-09")) == d("2026-03-06")
    assert mc.next_trading_day(d("2026-03-06")) == d("2026-03-09")
    assert mc.next_trading_day(d("2025-01-08")) == d("2025-01-10")  # over the mourning day
    # From a closed day, both directions land on trading days.
    assert mc.previous_trading_day(d("2026-12-25")) == d("2026-12-24")
    assert mc.next_trading_day(d("2026-12-25")) == d("2026-12-28")


def test_trading_days_inclusive_and_across_years() -> None:
    assert mc.trading_days(d("2026-12-24"), d("2027-01-04")) == [
        d("2026-12-24"),
        d("2026-12-28"),
        d("2026-12-29"),
        d("2026-12-30"),
        d("2026-12-31"),
        d("2027-01-04"),
    ]
    assert mc.trading_days(d("2026-03-09"), d("2026-03-09")) == [d("2026-03-09")]
    assert mc.trading_days(d("2026-03-08"), d("2026-03-08")) == []
    assert mc.trading_days(d("2026-03-10"), d("2026-03-09")) == []


def test_listed_expirations_roots_and_order() -> None:
    as_of = d("2026-06-01")
    listed = mc.listed_expirations(as_of, 60)
    assert listed == sorted(listed)
    spxw = [day for day, root in listed if root == "SPXW"]
    spx = [day for day, root in listed if root == "SPX"]
    assert spxw == mc.trading_days(as_of, as_of + dt.timedelta(days=60))
    assert spx == [d("2026-06-18"), d("2026-07-17")]
    assert (d("2026-06-18"), "SPX") in listed and (d("2026-06-18"), "SPXW") in listed
    assert d("2026-06-19") not in spxw  # Juneteenth
    assert d("2026-07-03") not in spxw  # Independence Day observed
    assert {root for _, root in listed} == {"SPX", "SPXW"}


def test_listed_expirations_am_monthly_not_on_its_own_day() -> None:
    """On the monthly's day the AM series has settled at the open; the PM series still trades."""
    listed = mc.listed_expirations(d("2026-06-18"), 0)
    assert listed == [(d("2026-06-18"), "SPXW")]
    assert (d("2026-06-18"), "SPX") in mc.listed_expirations(d("2026-06-17"), 1)


def test_listed_expirations_from_a_weekend() -> None:
    listed = mc.listed_expirations(d("2026-03-07"), 3)
    assert listed == [(d("2026-03-09"), "SPXW"), (d("2026-03-10"), "SPXW")]


def test_settlement_instant_roots() -> None:
    assert mc.settlement_instant(d("2026-01-16"), "SPX") == et("2026-01-16T09:30")
    assert mc.settlement_instant(d("2026-01-16"), "spxw") == et("2026-01-16T16:00")
    assert mc.settlement_instant(d("2026-12-24"), "SPXW") == et("2026-12-24T13:00")
    with pytest.raises(ValueError):
        mc.settlement_instant(d("2026-01-16"), "XSP")
    with pytest.raises(ValueError):
        mc.settlement_instant(d("2026-06-19"), "SPX")


def test_returned_datetimes_are_aware_utc() -> None:
    bounds = mc.session_bounds(d("2026-06-18"))
    assert bounds is not None
    for value in (*bounds, mc.expiring_series_close(d("2026-06-18")), mc.settlement_instant(d("2026-06-18"), "SPX")):
        assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0)
