"""Settlement values of expiring series, for the backtester and the OPRA replay provider.

OPRA carries no index prints, so a settlement value comes from option quotes at the settlement
instant (``strategy.quant.settlement``), in this order:

1. an **official value** loaded by the operator (``manage.py settlement_import``), when there is one;
2. the **expiring series itself** at its settlement instant (SPXW 16:00 ET, 13:00 on an early close):
   put–call parity with no time value left, no-bid options worth 0 (``expiring_chain_value``);
3. only when the expiring series has no usable quotes then — always the case for an AM-settled SPX
   monthly, which stops trading the day before its 09:30 settlement — the index implied by the
   forwards of the two nearest later SPXW expirations at that instant (``spot_from_forwards``).
   The source text says which, and why.

The backtest engine and the OPRA replay provider both call ``settlement_estimate`` with the quotes
in force at the same minute, so a replayed day and its backtest settle at the same value. Both are
estimates: an official SET/SOQ can differ by cents, which is what the official values are for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from snapshots.analytics import chain_analytics_arrays, settlement_for
from strategy.quant import timemodel
from strategy.quant.settlement import SETTLEMENT_DECIMALS, expiring_chain_value, spot_from_forwards

ET = timemodel.NEW_YORK
FORWARD_CHAINS = 2  # later SPXW expirations whose forwards stand in for a series without quotes


class SeriesQuotes(NamedTuple):
    """One series' quotes at one minute, aligned: strike (points), is_call, bid (NaN/0 = none), ask."""

    strikes: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]


QuotesAt = Callable[[str, dt.date, dt.datetime], SeriesQuotes | None]
Official = Mapping[tuple[str, dt.date], tuple[float, str]]


def settlement_chain_order(listed: Iterable[tuple[str, dt.date]], *, root: str, expiration: dt.date) -> list[tuple[str, dt.date]]:
    """The (root, expiration) series ``settlement_estimate`` may read, in order: the expiring series
    (when listed that day), then the nearest later SPXW expirations."""
    pairs = set(listed)
    later = sorted((r, e) for r, e in pairs if r == "SPXW" and e >= expiration and (r, e) != (root, expiration))
    first = [(root, expiration)] if (root, expiration) in pairs else []
    return first + later[:FORWARD_CHAINS]


def _forward_of(q: SeriesQuotes, *, at: dt.datetime, root: str, expiration: dt.date) -> tuple[float, float] | None:
    """(t_years, implied forward) of a series from its quotes at ``at``, as the chain analytics fit
    it; None when the fit fails or the series has settled."""
    a = chain_analytics_arrays(symbols=np.full(q.strikes.size, "", dtype=str), strikes=q.strikes, is_call=q.is_call,
                               bid=q.bid, ask=q.ask, root=root, expiration=expiration, at=at)
    return (a.t_years, a.fit.forward) if a.fit.ok and a.t_years > 0 else None


def settlement_estimate(
    quotes_at: QuotesAt, listed: Iterable[tuple[str, dt.date]], *, root: str, expiration: dt.date,
    official: Official | None = None,
) -> tuple[float, str] | None:
    """(value, source) of the ``root`` series expiring on ``expiration``, or None when nothing fits.

    ``quotes_at(root, expiration, at)`` returns the quotes in force at ``at`` (None if the series
    has none); ``listed`` are the (root, expiration) pairs defined on the settlement day.
    """
    if official and (root, expiration) in official:
        value, label = official[(root, expiration)]
        return round(float(value), SETTLEMENT_DECIMALS), f"official {label}"[:200]
    at = settlement_for(expiration, root)
    stamp = f"{at.astimezone(ET):%H:%M} ET"
    order = settlement_chain_order(listed, root=root, expiration=expiration)
    why = f"{root} {expiration} not quoted on its settlement day"
    if order and order[0] == (root, expiration):
        order = order[1:]
        q = quotes_at(root, expiration, at)
        if q is not None:
            est = expiring_chain_value(q.strikes, q.is_call, q.bid, q.ask)
            if est.ok:
                return (round(est.value, SETTLEMENT_DECIMALS),
                        f"OPRA {root} {expiration} parity at expiry, {stamp}, {est.n_used} strikes")
        why = f"{root} {expiration} has no usable quotes at {stamp}"
    points, used = [], []
    for r, e in order:
        q = quotes_at(r, e, at)
        point = _forward_of(q, at=at, root=r, expiration=e) if q is not None else None
        if point is not None:
            points.append(point)
            used.append(e.isoformat())
    if not points:
        return None
    value = round(spot_from_forwards(points), SETTLEMENT_DECIMALS)
    return value, f"{why}; SPXW {'/'.join(used)} forwards at {stamp}"[:200]
