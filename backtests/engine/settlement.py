"""Settlement values estimated from option quotes alone (OPRA carries no index prints).

At the settlement instant the expiring chain has (almost) no time value left, so put–call parity
on its last quotes gives the index level: C − P = D·(F − K) with D ≈ 1 and F ≈ S. The estimate is
the implied forward of the first chain in ``chains`` whose fit succeeds — the caller passes the
expiring series first (SPXW at 16:00 ET, or 13:00 on an early close) and, as fallbacks, the
nearest other expirations at the same minute. AM-settled SPX stops trading the day before its
09:30 settlement (SOQ), so its caller passes that morning's nearest SPXW chain at the first stamp
after the open.

The backtest engine and the OPRA replay provider both call this with the quotes in force at the
same minute, so a replayed day and its backtest settle at the same value. It is an estimate: the
official SET/SOQ can differ by cents; the ``source`` text says it is implied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

# Rounded like a published index value.
SETTLEMENT_DECIMALS = 2


def implied_settlement(chains: Iterable[Any]) -> tuple[float, str] | None:
    """(value, source) from the first chain (``ChainAnalytics``) whose forward fit succeeded, else None.

    ``chains`` may be lazy: the chains after the first that fits are never computed."""
    for a in chains:
        if a is not None and a.fit.ok:
            value = round(float(a.fit.forward), SETTLEMENT_DECIMALS)
            stamp = a.at.strftime("%Y-%m-%d %H:%M")
            return value, f"OPRA implied forward {a.root} {a.expiration.isoformat()} at {stamp}Z"
    return None


def settlement_quote_minute(settles_at: dt.datetime, root: str) -> dt.datetime:
    """The minute stamp whose quotes estimate the settlement: the settlement instant itself for PM
    series (the stamp closing the last minute of trading), the first stamp after the 09:30 open for
    AM series (their SOQ comes from the opening prices)."""

    return settles_at + dt.timedelta(minutes=1) if root == "SPX" else settles_at


def settlement_chain_order(
    listed: Iterable[tuple[str, dt.date]], *, root: str, expiration: dt.date, fallbacks: int = 2
) -> list[tuple[str, dt.date]]:
    """Which (root, expiration) chains to try, best first: the expiring PM series itself, then the
    nearest SPXW expirations on or after ``expiration`` (AM series: only those)."""
    pairs = set(listed)
    others = sorted((r, e) for r, e in pairs if r == "SPXW" and e >= expiration and (r, e) != (root, expiration))
    first = [(root, expiration)] if root != "SPX" and (root, expiration) in pairs else []
    return first + others[:fallbacks]
