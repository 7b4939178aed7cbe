"""Market context for a capture slot: index quotes, our VIX-style indexes, term structure, GEX,
and the implied forward of every chain in the slot (issue: option analytics core, section 2)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from decimal import Decimal
from typing import Any

import numpy as np

from snapshots.analytics import ChainAnalytics, settlement_for, snapshot_analytics
from snapshots.expiry_selection import vix_terms
from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.providers.base import MarketDataProvider, ProviderError
from strategy.quant import gex, term, timemodel, vix

logger = logging.getLogger(__name__)
VIX_ROOT = "SPXW"  # PM-settled dailies: every term the method needs exists in this one root
INDEX_SYMBOLS = ("SPX", "VIX", "VIX9D")
FALLBACK_RATE = 0.04  # used only when a term's forward fit fails (then the index says so)


def _decimal(value: Any, places: str = "0.01") -> Decimal | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return Decimal(str(value)).quantize(Decimal(places))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def vix_term_expirations(now: dt.datetime, listed: list[dt.date]) -> dict[int, tuple[dt.date, dt.date] | None]:
    """(near, next) SPXW expirations bracketing 9 and 30 days from ``now``."""
    settlements = []
    for day in listed:
        try:
            settlements.append((day, settlement_for(day, VIX_ROOT)))
        except ValueError:  # not a trading day: nothing settles there
            continue
    return {days: vix_terms(now, settlements, target_days=days) for days in (9, 30)}


def term_quotes(a: ChainAnalytics) -> vix.TermQuotes:
    """The strike table the VIX method reads (one row per strike), at the calendar-minute count."""
    strikes = np.unique(a.strikes[np.isfinite(a.strikes)])
    table = {name: np.full(strikes.size, np.nan) for name in ("cb", "ca", "pb", "pa")}
    pos = np.searchsorted(strikes, a.strikes)
    for is_call, bid_key, ask_key in ((True, "cb", "ca"), (False, "pb", "pa")):
        rows = (a.is_call == is_call) & np.isfinite(a.strikes)
        table[bid_key][pos[rows]] = a.bid[rows]
        table[ask_key][pos[rows]] = a.ask[rows]
    minutes = timemodel.calendar_minutes_to_settlement(a.at, settlement_for(a.expiration, a.root))
    t = minutes / timemodel.MINUTES_PER_YEAR
    rate = -math.log(a.fit.discount) / t if a.fit.ok and t > 0 and a.fit.discount > 0 else FALLBACK_RATE
    return vix.TermQuotes(strikes, table["cb"], table["ca"], table["pb"], table["pa"], minutes, rate)


def _term_details(result: vix.VixResult, near: dt.date, next_: dt.date) -> dict[str, Any]:
    def one(t: vix.VixTerm, expiration: dt.date) -> dict[str, Any]:
        return {
            "expiration": expiration.isoformat(), "minutes": t.minutes_to_settlement, "rate": t.rate,
            "forward": _finite(t.forward), "k0": _finite(t.k0),
            "sigma2": _finite(t.sigma2), "n_puts": t.n_puts, "n_calls": t.n_calls,
            "calculable": t.calculable, "reason": t.reason,
        }

    return {
        "index": _finite(result.index), "calculable": result.calculable, "reason": result.reason,
        "complete": result.complete, "near": one(result.near, near), "next": one(result.next, next_),
    }


def context_capture(
    *,
    slot: dt.datetime,
    provider: MarketDataProvider,
    listed: list[dt.date],
    chains: list[ChainSnapshot],
    store_chain: Any,
) -> tuple[ContextSnapshot | None, list[tuple[str, Exception | str]]]:
    """Build and store the slot's ``ContextSnapshot`` (once per underlying and slot).

    ``chains`` are the slot's DTE-target snapshots; the VIX terms' chains are fetched here and
    stored through ``store_chain(chain, target_dte)`` (the capture service's writer) so every
    number is reproducible from checksummed rows. Returns the row (None if nothing could be
    computed) and the problems met, which the caller records as capture failures.
    """
    underlying = chains[0].underlying if chains else "SPX"
    existing = ContextSnapshot.objects.filter(underlying=underlying, ts=slot).first()
    if existing:
        return existing, []
    problems: list[tuple[str, Exception | str]] = []
    quotes: dict[str, dict[str, Any]] = {}
    try:
        quote_set = provider.quotes(list(INDEX_SYMBOLS))
        quotes = quote_set.quotes
        if quote_set.unmatched:
            problems.append(("quotes", f"unmatched symbols: {', '.join(quote_set.unmatched)}"))
    except ProviderError as exc:
        problems.append(("quotes", exc))

    by_expiration = {c.expiration: c for c in chains}
    terms = vix_term_expirations(slot, listed)
    for days, pair in terms.items():
        if pair is None:
            problems.append(("vix", f"no expirations bracket {days} days"))
            continue
        for expiration in pair:
            if expiration in by_expiration:
                continue
            try:
                chain = provider.chain(underlying, expiration, greeks=True)
            except ProviderError as exc:
                problems.append((f"vix chain {expiration}", exc))
                continue
            if not chain.options:
                problems.append((f"vix chain {expiration}", "empty chain returned"))
                continue
            by_expiration[expiration] = store_chain(chain, days)

    analytics: dict[tuple[dt.date, str], ChainAnalytics] = {}
    for snap in by_expiration.values():
        roots = {str(o.get("root_symbol")) for o in snap.payload_options()} & {"SPX", "SPXW"} or {snap.root}
        for root in sorted(roots):
            try:
                analytics[(snap.expiration, root)] = snapshot_analytics(snap, root=root)
            except ValueError as exc:  # e.g. a root with no settlement rule
                problems.append((f"analytics {snap.expiration} {root}", exc))
    if not analytics:
        return None, problems

    forwards = [
        {"expiration": exp.isoformat(), "root": root, "forward": _finite(a.fit.forward),
         "discount": _finite(a.fit.discount), "r_squared": _finite(a.fit.r_squared), "n_used": a.fit.n_used,
         "minutes_to_settlement": round(a.minutes_to_settlement, 1), "ok": a.fit.ok, "reason": a.fit.reason}
        for (exp, root), a in sorted(analytics.items())
    ]

    results: dict[int, vix.VixResult | None] = {}
    details: dict[str, Any] = {}
    for days, pair in terms.items():
        if pair is None or any((e, VIX_ROOT) not in analytics for e in pair):
            results[days] = None
            details[f"vix{days}d"] = {"calculable": False, "reason": "term chains missing"}
            continue
        near, next_ = (term_quotes(analytics[(e, VIX_ROOT)]) for e in pair)
        result = vix.vix_index(near, next_, target_days=days)
        results[days] = result
        details[f"vix{days}d"] = _term_details(result, *pair)

    def index(days: int) -> tuple[float | None, str]:
        r = results.get(days)
        if r is None:
            return None, details[f"vix{days}d"]["reason"]
        return (_finite(r.index) if r.calculable else None), ("" if r.calculable else r.reason)

    vix30, vix30_reason = index(30)
    vix9, vix9_reason = index(9)
    ts = term.term_structure(vix9 if vix9 is not None else math.nan, vix30 if vix30 is not None else math.nan)

    gex_total = 0.0
    gex_n = 0
    for a in analytics.values():
        if not a.fit.ok or a.t_years <= 0:
            continue
        g = gex.gex_black76(a.is_call, a.strikes, a.open_interest, a.fit.forward, a.t_years, a.fit.discount, a.iv)
        if g.n_used:
            gex_total += g.gex_usd_per_pct
            gex_n += g.n_used
    details["gex_options_used"] = gex_n
    details["quote_problems"] = [f"{where}: {err}" for where, err in problems]

    spx = quotes.get("SPX", {})
    row = ContextSnapshot.objects.create(
        ts=slot,
        underlying=underlying,
        provider=provider.name,
        spx_price=_decimal(spx.get("last")),
        vix_price=_decimal(quotes.get("VIX", {}).get("last")),
        vix9d_price=_decimal(quotes.get("VIX9D", {}).get("last")),
        vix30_own=vix30,
        vix9d_own=vix9,
        vix30_reason=vix30_reason[:120],
        vix9d_reason=vix9_reason[:120],
        term_ratio_9d_30d=_finite(ts.ratio_9d_30d),
        term_slope_pts_per_day=_finite(ts.slope_pts_per_day),
        gex_usd_per_pct=_decimal(gex_total) if gex_n else None,
        forwards=forwards,
        details=details,
    )
    row.chain_snapshots.set(by_expiration.values())
    return row, problems
