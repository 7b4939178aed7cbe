"""Time to expiry for SPX options: minutes to the settlement instant, and year fractions.

Conventions (``shared/design.md`` "Time", ``shared/reference/calendar.md`` §1, §3, §7):

* Settlement instants, America/New_York: AM-settled SPX at 09:30 (the opening "SOQ" on the
  expiration morning); PM-settled SPXW at 16:00, or 13:00 on an early-close day (our inference,
  calendar.md §3: the official close that day is 13:00). The caller passes ``early_close`` from
  the trading calendar; this module never reads a calendar or a clock.
* A year is 525,600 minutes (365 days × 1,440), as in the Cboe VIX methodology, so
  ``t_years = minutes / 525_600`` and one calendar day is 1/365 year (``theta_per_day``).
* ``minutes_to_settlement`` is elapsed time (UTC difference). ``calendar_minutes_to_settlement``
  is the Cboe VIX count — minutes left until midnight + minutes from midnight to settlement on the
  expiration day + 1,440 per whole day between, on the New York wall clock — which differs from
  elapsed time by ±60 minutes when a daylight-saving change falls in between.

Both take timezone-aware datetimes and raise ``ValueError`` on naive ones: a naive timestamp is a
bug upstream (reliability.md row 41), not a value to guess a zone for.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray

NEW_YORK: Final = ZoneInfo("America/New_York")
MINUTES_PER_YEAR: Final = 525_600.0
MINUTES_PER_DAY: Final = 1_440.0

AM_SETTLEMENT_ET: Final = dt.time(9, 30)
PM_SETTLEMENT_ET: Final = dt.time(16, 0)
PM_SETTLEMENT_EARLY_CLOSE_ET: Final = dt.time(13, 0)

Settlement = Literal["AM", "PM"]
# Roots this project trades. Both are S&P 500 index options with a $100 multiplier; they differ
# only in settlement style (calendar.md §1).
ROOT_SETTLEMENT: Final[dict[str, Settlement]] = {"SPX": "AM", "SPXW": "PM"}


def _require_aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")


def settlement_style(root: str) -> Settlement:
    """ "AM" for SPX (monthly, SOQ-settled), "PM" for SPXW; ``ValueError`` for any other root."""
    try:
        return ROOT_SETTLEMENT[root.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown option root {root!r}; expected one of {sorted(ROOT_SETTLEMENT)}") from None


def settlement_instant_utc(
    expiration: dt.date, root: str, *, early_close: bool = False, settlement: Settlement | None = None
) -> dt.datetime:
    """The settlement instant of an SPX/SPXW expiration, as an aware UTC datetime.

    SPX (AM): 09:30 ET on ``expiration`` (early closes do not move the open). SPXW (PM): 16:00 ET,
    or 13:00 ET when ``early_close`` (the caller looks the date up in the trading calendar).
    Converted with zoneinfo America/New_York, so DST is handled (16:00 ET is 20:00 UTC in summer,
    21:00 UTC in winter). Any other root raises ``ValueError`` unless ``settlement`` ("AM" or "PM")
    states its style explicitly — guessing would be wrong for AM-settled roots such as NDX or RUT.
    Source: Cboe SPX product specification; calendar.md §1, §3, §7.
    """
    if settlement is None:
        style = settlement_style(root)
    elif settlement in ("AM", "PM"):
        style = settlement
    else:
        raise ValueError(f"settlement must be 'AM' or 'PM', not {settlement!r}")
    if style == "AM":
        local_time = AM_SETTLEMENT_ET
    else:
        local_time = PM_SETTLEMENT_EARLY_CLOSE_ET if early_close else PM_SETTLEMENT_ET
    return dt.datetime.combine(expiration, local_time, tzinfo=NEW_YORK).astimezone(dt.UTC)


def minutes_to_settlement(now_utc: dt.datetime, settlement_utc: dt.datetime) -> float:
    """Elapsed minutes from ``now_utc`` to ``settlement_utc`` (fractional; negative once past).

    Both must be timezone-aware (any zone; the difference is taken on the absolute time line).
    """
    _require_aware("now_utc", now_utc)
    _require_aware("settlement_utc", settlement_utc)
    return (settlement_utc - now_utc).total_seconds() / 60.0


def calendar_minutes_to_settlement(now_utc: dt.datetime, settlement_utc: dt.datetime) -> float:
    """Minutes to settlement counted the Cboe VIX way, on the New York wall clock (fractional).

    Cboe: T = (M_current day + M_settlement day + M_other days) / 525,600, where M_current day is
    the minutes left until midnight, M_settlement day the minutes from midnight to settlement and
    M_other days 1,440 per whole day in between. That sum is the difference of the two local wall
    clock readings, so a DST change in between does not add or remove an hour. Source: Cboe VIX
    white paper / VIX Mathematics Methodology, "Step 1"; calendar.md §7.
    """
    _require_aware("now_utc", now_utc)
    _require_aware("settlement_utc", settlement_utc)
    now_local = now_utc.astimezone(NEW_YORK).replace(tzinfo=None)
    settle_local = settlement_utc.astimezone(NEW_YORK).replace(tzinfo=None)
    return (settle_local - now_local).total_seconds() / 60.0


def t_years(minutes: ArrayLike) -> NDArray[np.float64] | float:
    """Year fraction for minutes to settlement: minutes / 525,600 (scalars in give a float)."""
    out = np.asarray(minutes, dtype=np.float64) / MINUTES_PER_YEAR
    return float(out) if out.ndim == 0 else out


def t_years_to_settlement(
    now_utc: dt.datetime,
    expiration: dt.date,
    root: str,
    *,
    early_close: bool = False,
    settlement: Settlement | None = None,
) -> float:
    """Convenience: ``t_years(minutes_to_settlement(now, settlement_instant_utc(...)))``."""
    settle = settlement_instant_utc(expiration, root, early_close=early_close, settlement=settlement)
    return float(minutes_to_settlement(now_utc, settle) / MINUTES_PER_YEAR)
