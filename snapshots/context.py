"""Market context for a capture slot: index quotes, our VIX-style indexes, term structure, GEX,
and the implied forward of every chain in the slot (issue: option analytics core, section 2)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from decimal import Decimal
from typing import Any


from snapshots.analytics import VIX_ROOT, ChainAnalytics, snapshot_analytics, vix_term_expirations
from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.providers.base import MarketDataProvider, ProviderError
from strategy.quant import market, term, vix
from strategy.quant.money import cents

logger = logging.getLogger(__name__)

INDEX_SYMBOLS = ("SPX", "VIX", "VIX9D")


def _decimal(value: Any) -> Decimal | None:
    """A price or dollar figure as stored: half up to the cent (``strategy.quant.money``); None if unknown."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return cents(value)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


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
        result = market.vix_of(analytics[(pair[0], VIX_ROOT)], analytics[(pair[1], VIX_ROOT)], target_days=days)
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

    gex_total, gex_n = market.gex_of(analytics.values())
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
