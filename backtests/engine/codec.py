"""A chunk's candidates across the process boundary: serialised once, as zstd-compressed JSON.

The only place engine values become plain JSON and back; datetimes travel as ISO strings, floats
as JSON numbers (``repr``-exact; NaN as Python's json spells it), so ``decode(encode(x))`` gives
back equal values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import zstandard

from backtests.engine.types import Candidate, Exit, Mark, Strategy
from strategy.quant.decision import Evaluation
from strategy.quant.features import FeatureRow
from strategy.quant.types import Leg, SpreadCandidate

def _leg(leg: Leg) -> dict[str, Any]:
    return {"symbol": leg.symbol, "strike": leg.strike, "is_call": leg.is_call, "bid": leg.bid, "ask": leg.ask,
            "mid": leg.mid, "iv": leg.iv, "delta": leg.delta, "side": leg.side}


def _unleg(d: Mapping[str, Any]) -> Leg:
    return Leg(**d)


def _spread(c: SpreadCandidate | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"side": c.side, "short_leg": _leg(c.short_leg), "long_leg": _leg(c.long_leg), "quantity": c.quantity,
            "requested_width_points": c.requested_width_points, "width_points": c.width_points,
            "credit_mid": c.credit_mid, "combo_spread": c.combo_spread, "credit_fill": c.credit_fill,
            "max_profit_per_contract_usd": c.max_profit_per_contract_usd,
            "max_loss_per_contract_usd": c.max_loss_per_contract_usd, "breakeven": c.breakeven,
            "quality_flags": list(c.quality_flags), "failed_filters": list(c.failed_filters)}


def _unspread(d: Mapping[str, Any] | None) -> SpreadCandidate | None:
    if d is None:
        return None
    return SpreadCandidate(**{**d, "short_leg": _unleg(d["short_leg"]), "long_leg": _unleg(d["long_leg"]),
                              "quality_flags": tuple(d["quality_flags"]), "failed_filters": tuple(d["failed_filters"])})


def _iso(x: dt.date | dt.datetime | None) -> str | None:
    return x.isoformat() if x is not None else None


def _candidate(c: Candidate) -> dict[str, Any]:
    e = c.exit
    return {
        "strategy": c.strategy, "day": c.day.isoformat(), "window": c.window.strftime("%H:%M"),
        "at": c.evaluation.at.isoformat(), "spread": _spread(c.evaluation.candidate),
        "reason_code": c.evaluation.reason_code, "reason_message": c.evaluation.reason_message,
        "features": dict(c.evaluation.features.values), "missing": dict(c.evaluation.features.missing),
        "expiration": _iso(c.expiration), "root": c.root,
        "settles_at": _iso(c.settles_at),
        "exit": None if e is None else {"at": e.at.isoformat(), "reason": e.reason, "debit": e.debit, "message": e.message,
                                        "settlement_price": e.settlement_price, "settlement_source": e.settlement_source},
        "marks": [[m.ts.isoformat(), m.debit_mid, m.debit_fill, m.signal] for m in c.marks],
    }


def _uncandidate(d: Mapping[str, Any], strategies: Mapping[str, Strategy]) -> Candidate:
    e = d["exit"]
    return Candidate(
        strategy=d["strategy"], day=dt.date.fromisoformat(d["day"]), window=dt.time.fromisoformat(d["window"]),
        evaluation=Evaluation(strategies[d["strategy"]].spec, dt.datetime.fromisoformat(d["at"]),
                              _unspread(d["spread"]), d["reason_code"], d["reason_message"],
                              FeatureRow(d["features"], d["missing"])),
        expiration=dt.date.fromisoformat(d["expiration"]) if d["expiration"] else None, root=d["root"],
        settles_at=dt.datetime.fromisoformat(d["settles_at"]) if d["settles_at"] else None,
        exit=None if e is None else Exit(dt.datetime.fromisoformat(e["at"]), e["reason"], e["debit"], e["message"],
                                         e["settlement_price"], e["settlement_source"]),
        marks=tuple(Mark(dt.datetime.fromisoformat(ts), mid, fill, signal) for ts, mid, fill, signal in d["marks"]),
    )


def encode(candidates: Sequence[Candidate], days_read: Sequence[str]) -> bytes:
    """A chunk's result as stored on its row."""
    body = {"candidates": [_candidate(c) for c in candidates], "days_read": list(days_read)}
    return zstandard.ZstdCompressor(level=3).compress(json.dumps(body, separators=(",", ":")).encode())


def decode(blob: bytes, strategies: Mapping[str, Strategy]) -> tuple[list[Candidate], list[str]]:
    """(candidates, days read) of a stored chunk result; ``strategies`` by key give the specs back."""
    body = json.loads(zstandard.ZstdDecompressor().decompress(blob))
    return [_uncandidate(d, strategies) for d in body["candidates"]], list(body["days_read"])
