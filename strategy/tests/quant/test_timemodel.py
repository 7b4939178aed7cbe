"""Time model: settlement instants (AM/PM/early close, DST), minutes and year fractions."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from strategy.quant.timemodel import (
    MINUTES_PER_YEAR,
    calendar_minutes_to_settlement,
    minutes_to_settlement,
    settlement_instant_utc,
    settlement_style,
    t_years,
    t_years_to_settlement,
)

UTC = dt.UTC
NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    "expiration, root, early_close, expected_utc",
    [
        (dt.date(2026, 1, 16), "SPXW", False, dt.datetime(2026, 1, 16, 21, 0, tzinfo=UTC)),  # EST
        (dt.date(2026, 7, 17), "SPXW", False, dt.datetime(2026, 7, 17, 20, 0, tzinfo=UTC)),  # EDT
        (dt.date(2026, 1, 16), "SPX", False, dt.datetime(2026, 1, 16, 14, 30, tzinfo=UTC)),
        (dt.date(2026, 7, 17), "SPX", False, dt.datetime(2026, 7, 17, 13, 30, tzinfo=UTC)),
        # Early closes (calendar.md §4): the day after Thanksgiving and Christmas Eve, 13:00 ET.
        (dt.date(2026, 11, 27), "SPXW", True, dt.datetime(2026, 11, 27, 18, 0, tzinfo=UTC)),
        (dt.date(2026, 12, 24), "SPXW", True, dt.datetime(2026, 12, 24, 18, 0, tzinfo=UTC)),
        (dt.date(2025, 7, 3), "SPXW", True, dt.datetime(2025, 7, 3, 17, 0, tzinfo=UTC)),
        # An early close does not move the AM settlement at the open.
        (dt.date(2026, 11, 27), "SPX", True, dt.datetime(2026, 11, 27, 14, 30, tzinfo=UTC)),
        (dt.date(2026, 3, 9), "spxw", False, dt.datetime(2026, 3, 9, 20, 0, tzinfo=UTC)),  # first EDT Monday
    ],
)
def test_settlement_instants(expiration: dt.date, root: str, early_close: bool, expected_utc: dt.datetime) -> None:
    got = settlement_instant_utc(expiration, root, early_close=early_close)
    assert got == expected_utc and got.utcoffset() == dt.timedelta(0)


def test_unknown_root_is_an_error_unless_its_settlement_is_stated() -> None:
    with pytest.raises(ValueError):
        settlement_instant_utc(dt.date(2026, 1, 16), "PLTR")
    with pytest.raises(ValueError):
        settlement_instant_utc(dt.date(2026, 1, 16), "PLTR", settlement="XX")  # type: ignore[arg-type]
    assert settlement_style("SPX") == "AM" and settlement_style("SPXW") == "PM"
    pm = settlement_instant_utc(dt.date(2026, 1, 16), "PLTR", settlement="PM")
    assert pm == dt.datetime(2026, 1, 16, 21, 0, tzinfo=UTC)
    # An explicit style wins over the root's own.
    assert settlement_instant_utc(dt.date(2026, 1, 16), "SPXW", settlement="AM").hour == 14


def test_minutes_and_years() -> None:
    now = dt.datetime(2026, 7, 17, 19, 0, tzinfo=UTC)  # 15:00 ET
    settle = settlement_instant_utc(dt.date(2026, 7, 17), "SPXW")
    assert minutes_to_settlement(now, settle) == 60.0
    assert t_years(60.0) == pytest.approx(60 / 525_600)
    assert MINUTES_PER_YEAR == 525_600
    assert t_years(525_600) == 1.0 and t_years(1440) == pytest.approx(1 / 365)
    np.testing.assert_allclose(t_years(np.array([0.0, 1440.0])), [0.0, 1 / 365])
    assert minutes_to_settlement(settle + dt.timedelta(minutes=5), settle) == -5.0
    assert minutes_to_settlement(now.astimezone(NY), settle) == 60.0  # any aware zone
    assert t_years_to_settlement(now, dt.date(2026, 7, 17), "SPXW") == pytest.approx(60 / 525_600)
    # Fractions of a minute are kept (quotes are stamped to the second).
    assert minutes_to_settlement(now + dt.timedelta(seconds=30), settle) == 59.5


def test_naive_datetimes_are_rejected() -> None:
    settle = settlement_instant_utc(dt.date(2026, 7, 17), "SPXW")
    with pytest.raises(ValueError):
        minutes_to_settlement(dt.datetime(2026, 7, 17, 15, 0), settle)
    with pytest.raises(ValueError):
        calendar_minutes_to_settlement(dt.datetime(2026, 7, 17, 15, 0), settle)


def test_cboe_minute_count_matches_the_white_paper_layout() -> None:
    # 10:46 ET (= 9:46 CT): 854 minutes to midnight; AM settlement 25 days later (510 minutes after
    # midnight, 24 whole days between) and PM settlement 32 days later (900 minutes, 31 days).
    now = dt.datetime(2026, 2, 2, 10, 46, tzinfo=NY)
    near = settlement_instant_utc(dt.date(2026, 2, 27), "SPX")
    nxt = settlement_instant_utc(dt.date(2026, 3, 6), "SPXW")
    assert calendar_minutes_to_settlement(now, near) == 854 + 510 + 24 * 1440
    assert calendar_minutes_to_settlement(now, nxt) == 854 + 900 + 31 * 1440
    assert minutes_to_settlement(now, nxt) == 854 + 900 + 31 * 1440  # no DST change in between


def test_dst_change_in_between_elapsed_versus_cboe_wall_clock() -> None:
    # Friday 2026-03-06 10:00 ET to Monday 2026-03-09 16:00 ET; clocks spring forward on the 8th.
    now = dt.datetime(2026, 3, 6, 10, 0, tzinfo=NY)
    settle = settlement_instant_utc(dt.date(2026, 3, 9), "SPXW")
    assert calendar_minutes_to_settlement(now, settle) == 3 * 1440 + 360
    assert minutes_to_settlement(now, settle) == 3 * 1440 + 360 - 60
    # And in November the elapsed time gains the hour.
    now = dt.datetime(2026, 10, 30, 10, 0, tzinfo=NY)
    settle = settlement_instant_utc(dt.date(2026, 11, 2), "SPXW")
    assert minutes_to_settlement(now, settle) == calendar_minutes_to_settlement(now, settle) + 60
