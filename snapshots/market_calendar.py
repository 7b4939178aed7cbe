"""The SPX / SPXW index-options trading calendar: trading days, RTH bounds, expirations, settlement.

Pure Python (no Django). Trading days and session times come from pandas_market_calendars'
``CBOE_Index_Options`` calendar, patched for the one gap documented in
``shared/reference/calendar.md`` §6: the library has no Christmas Eve early close, while Cboe
closes index options at 13:15 ET on a weekday Dec 24 that is a trading day (as on the day after
Thanksgiving and the day before Independence Day).

Conventions (calendar.md §2, §3, §7):

* Regular trading hours (RTH) of SPX/SPXW options: 09:30–16:15 ET, or 09:30–13:15 ET on early-close
  days. Curb and global trading hours are not modelled.
* Expiring PM-settled series (SPXW) stop at 16:00 ET (13:00 ET on early-close days) and settle on
  the official S&P 500 close at that instant.
* AM-settled monthly SPX settles on the opening print (SOQ) at 09:30 ET on the expiration day and
  last trades at the close of the previous trading day.

Every datetime returned is timezone-aware UTC; days are reasoned about in America/New_York.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import pandas_market_calendars as mcal

from strategy.quant.timemodel import NEW_YORK as ET

UTC = dt.UTC

ROOT_AM = "SPX"  # monthly, AM-settled (SOQ) on the third Friday
ROOT_PM = "SPXW"  # weeklys/dailies/quarterlys, PM-settled on the close

RTH_OPEN_ET = dt.time(9, 30)
RTH_CLOSE_ET = dt.time(16, 15)
EARLY_CLOSE_ET = dt.time(13, 15)
# Expiring PM series stop trading (and the index settles) 15 minutes before the options close.
_EXPIRING_CUTOFF = dt.timedelta(minutes=15)

_CALENDAR_NAME = "CBOE_Index_Options"
# The years this calendar answers for. The library's holiday rules are checked back through the
# 2000s (calendar.md §6; SPXW Weeklys date from 2005, Databento's OPRA from 2013); far out it
# knows no holidays (every weekday trades) and pandas timestamps stop in 2262, while year 1 gives
# nonsense. Callers taking dates from users (backtest launches) refuse days outside these years.
FIRST_SUPPORTED_YEAR = 2000
LAST_SUPPORTED_YEAR = 2099
# How far previous_/next_trading_day look before giving up; the longest US market closure in the
# library's history (9/11, 2001) is four sessions, so a few years is a generous bound.
_MAX_YEARS_SEARCHED = 3


@dataclass(frozen=True)
class _YearSessions:
    """All sessions of one calendar year: sorted trading days and their UTC (open, close)."""

    days: tuple[dt.date, ...]
    bounds: dict[dt.date, tuple[dt.datetime, dt.datetime]]


@lru_cache(maxsize=1)
def _exchange_calendar() -> mcal.MarketCalendar:
    return mcal.get_calendar(_CALENDAR_NAME)


def _to_utc(ts: pd.Timestamp) -> dt.datetime:
    """pandas Timestamp (tz-aware) → stdlib aware UTC datetime, whole seconds."""
    return dt.datetime.fromtimestamp(int(ts.timestamp()), tz=UTC)


def _et(day: dt.date, at: dt.time) -> dt.datetime:
    """Wall-clock ``at`` in New York on ``day`` as aware UTC (zoneinfo handles the DST switch)."""
    return dt.datetime.combine(day, at, tzinfo=ET).astimezone(UTC)


@lru_cache(maxsize=None)
def _year_sessions(year: int) -> _YearSessions:
    """One year's schedule, cached: building a pandas_market_calendars schedule takes ~20–200 ms."""
    schedule = _exchange_calendar().schedule(start_date=f"{year}-01-01", end_date=f"{year}-12-31")
    bounds: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
    for label, row in schedule.iterrows():
        day = pd.Timestamp(label).date()
        open_utc = _to_utc(row["market_open"])
        close_utc = _to_utc(row["market_close"])
        if day.month == 12 and day.day == 24:
            # The library's gap (calendar.md §6): Cboe closes index options early on a trading
            # Christmas Eve like the NYSE does (13:00 ET + 15 minutes).
            close_utc = min(close_utc, _et(day, EARLY_CLOSE_ET))
        bounds[day] = (open_utc, close_utc)
    return _YearSessions(days=tuple(sorted(bounds)), bounds=bounds)


def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    return _year_sessions(day.year).bounds.get(day)


def _require_aware(moment: dt.datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment!r}")


def is_supported(day: dt.date) -> bool:
    """True when ``day`` lies in the years this calendar answers for (``FIRST_``/``LAST_SUPPORTED_YEAR``)."""
    return FIRST_SUPPORTED_YEAR <= day.year <= LAST_SUPPORTED_YEAR


def is_trading_day(day: dt.date) -> bool:
    """True when SPX index options have a regular session on ``day`` (an ET calendar date)."""
    return _bounds(day) is not None


def session_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """RTH (open, close) of ``day`` as aware UTC datetimes; None on a closed day.

    Open is 09:30 ET; close is 16:15 ET, or 13:15 ET on early-close days.
    """
    return _bounds(day)


def is_session_open(now: dt.datetime) -> bool:
    """True when ``now`` (aware) falls in RTH: open <= now < close of its New York trading day."""
    _require_aware(now, "now")
    bounds = _bounds(now.astimezone(ET).date())
    return bounds is not None and bounds[0] <= now < bounds[1]


def is_early_close(day: dt.date) -> bool:
    """True on trading days whose RTH ends at 13:15 ET instead of 16:15 ET (False on closed days)."""
    bounds = _bounds(day)
    return bounds is not None and bounds[1].astimezone(ET).time() < RTH_CLOSE_ET


def expiring_series_close(day: dt.date) -> dt.datetime:
    """Aware UTC instant PM-settled series expiring on ``day`` stop and settle.

    16:00 ET, or 13:00 ET on early-close days (calendar.md §3: inferred, 15 minutes before the
    index-option close as on normal days). Raises ValueError on a closed day.
    """
    bounds = _bounds(day)
    if bounds is None:
        raise ValueError(f"{day} is not an SPX options trading day")
    return bounds[1] - _EXPIRING_CUTOFF


def previous_trading_day(day: dt.date) -> dt.date:
    """The last trading day strictly before ``day``."""
    for year in range(day.year, day.year - _MAX_YEARS_SEARCHED - 1, -1):
        days = _year_sessions(year).days
        index = bisect.bisect_left(days, day) if year == day.year else len(days)
        if index > 0:
            return days[index - 1]
    raise ValueError(f"no trading day found before {day}")


def next_trading_day(day: dt.date) -> dt.date:
    """The first trading day strictly after ``day``."""
    for year in range(day.year, day.year + _MAX_YEARS_SEARCHED + 1):
        days = _year_sessions(year).days
        index = bisect.bisect_right(days, day) if year == day.year else 0
        if index < len(days):
            return days[index]
    raise ValueError(f"no trading day found after {day}")


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Trading days from ``start`` to ``end``, both inclusive, ascending (empty if start > end)."""
    out: list[dt.date] = []
    for year in range(start.year, end.year + 1):
        days = _year_sessions(year).days
        out.extend(days[bisect.bisect_left(days, start) : bisect.bisect_right(days, end)])
    return out


def third_friday(year: int, month: int) -> dt.date:
    """The calendar third Friday of a month (before any holiday adjustment)."""
    first = dt.date(year, month, 1)
    # weekday(): Monday 0 … Friday 4.
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def spx_monthly_expiration(year: int, month: int) -> dt.date:
    """Expiration date of the AM-settled monthly SPX series of a month.

    The third Friday, moved to the preceding trading day when the exchange is closed that day
    (calendar.md §5), e.g. 2025-04-17 (Good Friday), 2026-06-18 and 2027-06-17 (Juneteenth).
    """
    friday = third_friday(year, month)
    return friday if is_trading_day(friday) else previous_trading_day(friday)


def is_monthly_expiration(day: dt.date) -> bool:
    """True when ``day`` is the (holiday-adjusted) monthly SPX expiration of its month."""
    return spx_monthly_expiration(day.year, day.month) == day


def next_monthly_expiration(day: dt.date) -> dt.date:
    """The first AM-settled SPX monthly expiration on or after ``day``."""
    year, month = day.year, day.month
    while (monthly := spx_monthly_expiration(year, month)) < day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return monthly


def listed_expirations(as_of: dt.date, horizon_days: int) -> list[tuple[dt.date, str]]:
    """(expiration, root) pairs a market lists on ``as_of`` up to ``as_of + horizon_days``, sorted.

    * SPXW (PM): every trading day from ``as_of`` (a 0-DTE series trades on its expiration day).
    * SPX (AM): each monthly expiration strictly after ``as_of``; on its expiration day the AM
      series has already settled at the open (its last trading day was the day before).
    """
    if horizon_days < 0:
        raise ValueError("horizon_days must be >= 0")
    end = as_of + dt.timedelta(days=horizon_days)
    out: list[tuple[dt.date, str]] = [(day, ROOT_PM) for day in trading_days(as_of, end)]
    year, month = as_of.year, as_of.month
    # A holiday shift moves a monthly back by a day or two, never out of its month, so walking the
    # months from as_of's to end's covers every monthly in range.
    while (year, month) <= (end.year, end.month):
        monthly = spx_monthly_expiration(year, month)
        if as_of < monthly <= end:
            out.append((monthly, ROOT_AM))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(out)


def settlement_instant(expiration: dt.date, root: str) -> dt.datetime:
    """Aware UTC instant an expiring series settles (the end of its time-to-expiry clock).

    SPX (AM): 09:30 ET on the expiration day (the opening quotation). SPXW (PM):
    ``expiring_series_close`` — 16:00 ET, or 13:00 ET on early-close days. Raises ValueError for
    another root or a closed day.
    """
    key = root.upper()
    bounds = _bounds(expiration)
    if bounds is None:
        raise ValueError(f"{expiration} is not an SPX options trading day")
    if key == ROOT_AM:
        return bounds[0]
    if key == ROOT_PM:
        return bounds[1] - _EXPIRING_CUTOFF
    raise ValueError(f"unknown SPX option root {root!r} (expected SPX or SPXW)")
