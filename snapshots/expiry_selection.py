"""Which listed expiration serves a DTE target (pure: no Django, no clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ExpiryChoice:
    target_dte: int
    expiration: dt.date | None
    actual_dte_days: int | None
    within_tolerance: bool
    reason: str = ""


def choose_expiration(
    today: dt.date, available: Iterable[dt.date], *, target_dte: int, tolerance_days: int, force: bool = False
) -> ExpiryChoice:
    """The expiration closest to ``today + target_dte`` calendar days, within ±``tolerance_days``.

    Ties (one day short vs one day long) go to the later date, so the trade never gets less time
    than it asked for. Expirations before ``today`` are ignored. A forced run with nothing inside
    the tolerance falls back to the closest expiration overall and says so; a scheduled run
    returns no expiration and the reason.
    """
    future = sorted({d for d in available if d >= today})
    if not future:
        return ExpiryChoice(target_dte, None, None, False, "no listed expirations on or after today")
    target = today + dt.timedelta(days=target_dte)
    best = min(future, key=lambda d: (abs((d - target).days), -d.toordinal()))
    dte = (best - today).days
    if abs(dte - target_dte) <= tolerance_days:
        return ExpiryChoice(target_dte, best, dte, True)
    if force:
        return ExpiryChoice(
            target_dte, best, dte, False, f"no expiration within ±{tolerance_days}d of {target}; forced to closest"
        )
    return ExpiryChoice(target_dte, None, None, False, f"no expiration within ±{tolerance_days}d of {target}")


def vix_terms(
    now_utc: dt.datetime,
    settlements: Iterable[tuple[dt.date, dt.datetime]],
    *,
    target_days: float,
    min_near_days: float = 1.0,
) -> tuple[dt.date, dt.date] | None:
    """The two expirations that bracket ``target_days``: (near, next) by time to settlement.

    ``settlements`` pairs each listed expiration with its settlement instant (UTC). Near is the
    last one settling at or before now + target (and at least ``min_near_days`` away: same-day
    options carry too little time value to price variance); next is the first one after. Cboe's
    rule for VIX (near > 23 days, next < 37 days) is what this gives on a daily-expiration listing.
    None when either side is missing.
    """
    horizon = now_utc + dt.timedelta(days=target_days)
    earliest = now_utc + dt.timedelta(days=min_near_days)
    ordered = sorted((s, d) for d, s in settlements)
    near = [d for s, d in ordered if earliest <= s <= horizon]
    after = [d for s, d in ordered if s > horizon]
    if not near or not after:
        return None
    return near[-1], after[0]
