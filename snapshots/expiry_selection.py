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
