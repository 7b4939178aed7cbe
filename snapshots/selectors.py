"""Reads for the snapshots app."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import QuerySet

from snapshots import charts
from snapshots.analytics import snapshot_analytics
from snapshots.models import CaptureFailure, ChainSnapshot, ContextSnapshot


def snapshot_list(*, limit: int | None = 50, target_dte: int | None = None,
                  purpose: str | None = None) -> QuerySet[ChainSnapshot]:
    """Newest first, without the payload column (it is large and list views never need it);
    ``limit=None`` leaves the queryset unsliced (for a paginator)."""
    qs = ChainSnapshot.objects.defer("payload_zstd").order_by("-ts", "target_dte")
    if target_dte is not None:
        qs = qs.filter(target_dte=target_dte)
    if purpose:
        qs = qs.filter(purpose=purpose)
    return qs if limit is None else qs[:limit]


def failure_list(*, limit: int = 20) -> QuerySet[CaptureFailure]:
    return CaptureFailure.objects.order_by("-occurred_at")[:limit]


def context_for(snapshot: ChainSnapshot) -> ContextSnapshot | None:
    return ContextSnapshot.objects.filter(underlying=snapshot.underlying, ts=snapshot.ts).first()


def latest_levels() -> dict[str, Any] | None:
    """The newest context with an index level: SPX spot and the VIX-style indexes (the vendor's VIX
    when captured, our own 30-day index beside it), its slot and a chain snapshot it was computed
    from (to link to). None before the first context capture."""
    context = (ContextSnapshot.objects.exclude(spx_price=None, vix_price=None, vix30_own=None)
               .order_by("-ts").first())
    if context is None:
        return None
    chains = ChainSnapshot.objects.defer("payload_zstd").filter(underlying=context.underlying, ts=context.ts)
    snapshot = (chains.filter(pk__in=context.chain_snapshots.values("pk")).order_by("target_dte").first()
                or chains.order_by("target_dte").first())
    return {"context": context, "snapshot": snapshot}


def context_list(*, limit: int = 50) -> QuerySet[ContextSnapshot]:
    return ContextSnapshot.objects.order_by("-ts")[:limit]


def _f(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def chain_view(snapshot: ChainSnapshot, *, strikes_each_side: int = 15, center: float | None = None,
               min_abs_delta: float | None = None) -> dict[str, Any]:
    """The snapshot's chain around the forward (or ``center``) with our IV and delta (and the
    vendor's beside them), plus the points of an IV smile chart. One root only (the snapshot's),
    so AM and PM never mix.

    ``strikes_each_side`` strikes either side of the middle at least; with ``min_abs_delta`` the
    window also reaches every strike whose put |Δ| (below the middle) or call Δ (above) is still at
    least that, so the 0.10–0.20 delta strikes the strategy sells are always on screen whatever
    the expiry's spread of strikes in points."""
    a = snapshot_analytics(snapshot)
    vendor = {
        str(o.get("symbol")): (o.get("greeks") or {}) for o in snapshot.payload_options() if o.get("root_symbol") == a.root
    }
    by_strike: dict[float, dict[str, Any]] = {}
    for i in range(a.n_options):
        k = float(a.strikes[i])
        row = by_strike.setdefault(k, {"strike": k})
        greeks = vendor.get(str(a.symbols[i]), {})
        row["call" if a.is_call[i] else "put"] = {
            "symbol": str(a.symbols[i]),
            "bid": _f(a.bid[i]),
            "ask": _f(a.ask[i]),
            "iv": _f(a.iv[i]),
            "delta": _f(a.delta[i]),
            "vendor_iv": greeks.get("mid_iv"),
            "vendor_delta": greeks.get("delta"),
        }
    strikes = sorted(by_strike)
    rows = [by_strike[k] for k in strikes]
    forward = a.fit.forward if a.fit.ok else None
    atm_index = 0
    if forward is not None and strikes:
        atm_index = min(range(len(strikes)), key=lambda i: abs(strikes[i] - forward))
    mid_index = atm_index
    if center is not None and strikes:
        mid_index = min(range(len(strikes)), key=lambda i: abs(strikes[i] - center))
    lo = max(0, mid_index - strikes_each_side)
    hi = mid_index + strikes_each_side + 1
    if min_abs_delta is not None:
        def reaches(side: str, i: int) -> bool:
            delta = (rows[i].get(side) or {}).get("delta")
            return delta is not None and abs(delta) >= min_abs_delta
        wide = [i for i in range(mid_index + 1) if reaches("put", i)]
        if wide:
            lo = min(lo, wide[0])
        wide = [i for i in range(mid_index, len(rows)) if reaches("call", i)]
        if wide:
            hi = max(hi, wide[-1] + 1)
    return {
        "analytics": a,
        "min_abs_delta": min_abs_delta,
        "rows": rows[lo:hi],
        "atm_strike": strikes[atm_index] if strikes else None,
        "strike_count": len(strikes),
        "smile": charts.smile_chart(a),
    }


