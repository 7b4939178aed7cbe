"""Our own numbers for a stored chain: implied forward, discount, and per-option IV and delta.

Decisions and backtests use these, not the vendor's greeks (Tradier's come from ORATS and refresh
about hourly; OPRA has none). They are recomputed from the stored quotes whenever needed rather
than stored: a full SPX chain takes a few milliseconds (``bench/run.py`` prints both costs), and
recomputing keeps one source of truth — the checksummed payload.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from numpy.typing import NDArray

from snapshots import market_calendar
from snapshots.expiry_selection import vix_terms
from strategy.quant import analytics, timemodel
from strategy.quant.analytics import ChainAnalytics

__all__ = ["VIX_ROOT", "ChainAnalytics", "chain_analytics", "chain_analytics_arrays", "settlement_for",
           "snapshot_analytics", "vix_term_expirations"]
VIX_ROOT = "SPXW"  # PM-settled dailies: every term the VIX method needs exists in this one root


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def settlement_for(expiration: dt.date, root: str) -> dt.datetime:
    """Settlement instant (UTC) with the early-close rule from the trading calendar."""
    early = market_calendar.is_trading_day(expiration) and market_calendar.is_early_close(expiration)
    return timemodel.settlement_instant_utc(expiration, root, early_close=early)


def chain_analytics_arrays(
    *, symbols: NDArray[np.str_], strikes: NDArray[np.float64], is_call: NDArray[np.bool_],
    bid: NDArray[np.float64], ask: NDArray[np.float64], open_interest: NDArray[np.float64] | None = None,
    root: str, expiration: dt.date, at: dt.datetime,
) -> ChainAnalytics:
    """``strategy.quant.analytics.chain_analytics_arrays`` with the settlement instant from the calendar."""
    return analytics.chain_analytics_arrays(
        symbols=symbols, strikes=strikes, is_call=is_call, bid=bid, ask=ask, open_interest=open_interest,
        root=root, expiration=expiration, at=at, settles_at=settlement_for(expiration, root),
    )


def chain_analytics(options: list[dict[str, Any]], *, root: str, expiration: dt.date, at: dt.datetime) -> ChainAnalytics:
    """Forward, discount, IV and delta for the ``root`` series of one expiration's Tradier-shaped options.

    Only options of ``root`` are used, so AM (SPX) and PM (SPXW) series never mix.
    """
    rows = [o for o in options if o.get("root_symbol", root) == root]
    return chain_analytics_arrays(
        symbols=np.array([str(o.get("symbol", "")) for o in rows], dtype=str),
        strikes=np.array([_num(o.get("strike")) for o in rows]),
        is_call=np.array([o.get("option_type") == "call" for o in rows], dtype=bool),
        bid=np.array([_num(o.get("bid")) for o in rows]),
        ask=np.array([_num(o.get("ask")) for o in rows]),
        open_interest=np.array([_num(o.get("open_interest")) for o in rows]),
        root=root, expiration=expiration, at=at,
    )


def snapshot_analytics(snapshot: Any, *, root: str | None = None) -> ChainAnalytics:
    """``chain_analytics`` for a stored ``ChainSnapshot`` at its slot time (its own root by default)."""
    return chain_analytics(
        snapshot.payload_options(), root=root or snapshot.root, expiration=snapshot.expiration, at=snapshot.ts
    )


def vix_term_expirations(now: dt.datetime, listed: list[dt.date]) -> dict[int, tuple[dt.date, dt.date] | None]:
    """(near, next) SPXW expirations bracketing 9 and 30 days from ``now``."""
    settlements = []
    for day in listed:
        try:
            settlements.append((day, settlement_for(day, VIX_ROOT)))
        except ValueError:  # not a trading day: nothing settles there
            continue
    return {days: vix_terms(now, settlements, target_days=days) for days in (9, 30)}
