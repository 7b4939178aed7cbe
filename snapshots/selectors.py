"""Reads for the snapshots app."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from snapshots.models import CaptureFailure, ChainSnapshot


def snapshot_list(*, limit: int = 50, target_dte: int | None = None) -> QuerySet[ChainSnapshot]:
    """Newest first, without the payload column (it is large and list views never need it)."""
    qs = ChainSnapshot.objects.defer("payload_zstd").order_by("-ts", "target_dte")
    if target_dte is not None:
        qs = qs.filter(target_dte=target_dte)
    return qs[:limit]


def failure_list(*, limit: int = 20) -> QuerySet[CaptureFailure]:
    return CaptureFailure.objects.order_by("-occurred_at")[:limit]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def chain_rows_near_money(snapshot: ChainSnapshot, *, strikes_each_side: int = 15) -> dict[str, Any]:
    """The chain around the money as rows of (strike, call and put bid/ask/IV/delta) for one root.

    The money is the strike where |call mid − put mid| is smallest (put–call parity puts the
    forward there); the root is the snapshot's own (SPXW preferred), so AM and PM never mix.
    """
    by_strike: dict[float, dict[str, Any]] = {}
    for o in snapshot.payload_options():
        if o.get("root_symbol") != snapshot.root:
            continue
        row = by_strike.setdefault(float(o["strike"]), {"strike": float(o["strike"])})
        greeks = o.get("greeks") or {}
        side = "call" if o.get("option_type") == "call" else "put"
        row[side] = {
            "symbol": o.get("symbol"),
            "bid": _num(o.get("bid")),
            "ask": _num(o.get("ask")),
            "iv": _num(greeks.get("mid_iv")),
            "delta": _num(greeks.get("delta")),
            "open_interest": o.get("open_interest"),
        }
    rows = [by_strike[k] for k in sorted(by_strike)]
    atm_index = 0
    best = float("inf")
    for i, row in enumerate(rows):
        call, put = row.get("call"), row.get("put")
        if not call or not put or None in (call["bid"], call["ask"], put["bid"], put["ask"]):
            continue
        gap = abs((call["bid"] + call["ask"]) / 2 - (put["bid"] + put["ask"]) / 2)
        if gap < best:
            best, atm_index = gap, i
    lo = max(0, atm_index - strikes_each_side)
    return {
        "rows": rows[lo : atm_index + strikes_each_side + 1],
        "atm_strike": rows[atm_index]["strike"] if rows else None,
        "strike_count": len(rows),
    }
