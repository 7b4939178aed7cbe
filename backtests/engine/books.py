"""Phase 2 of a backtest: which candidates become trades, in time order (pure; no I/O).

Walks every (day, entry window) in order. At each window, per risk book: the strategies whose
spread passed selection are ranked with ``rules.rank_candidates`` (priority, credit per point of
width, name — as live), then each is checked with ``rules.risk_check`` against the book's state at
that instant, then the ML gate; the rest keep their selection reason. The state follows the live
order of work within a slot — entry windows first, then marks — so a trade whose exit falls on the
window's own minute still counts as open, and a stop counts against the day's later windows only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from backtests.engine.replay import Strategy
from strategy.quant import rules

NEW_YORK = ZoneInfo("America/New_York")
RISK_LIMIT = "risk_limit"
ML_GATE = "ml_gate"
TRADE_OK = "ok"


@dataclass
class Verdict:
    action: str  # TRADE | SKIP
    reason_code: str
    reason_message: str
    model_version: str = ""
    model_score: float | None = None


@dataclass
class _Held:
    entry_at: dt.datetime
    exit_at: dt.datetime | None
    stop_day: dt.date | None


def books_walk(
    candidates: Sequence[dict[str, Any]], strategies: Sequence[Strategy],
    gate: Callable[[dict[str, Any]], Any] | None = None,
) -> list[tuple[dict[str, Any], Verdict]]:
    """A verdict for every candidate, in (decided_at, priority, name) order.

    ``gate(features)`` returns an object with ``allowed``, ``reason``, ``model_version``, ``score``
    (``mlmodels.gate.gate``); None lets everything through.
    """
    by_key = {s.key: s for s in strategies}
    held: dict[str, list[_Held]] = defaultdict(list)
    entries: dict[tuple[str, dt.date], int] = defaultdict(int)
    slots: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in candidates:
        slots[c["decided_at"]].append(c)
    out: list[tuple[dict[str, Any], Verdict]] = []
    for decided_at in sorted(slots, key=dt.datetime.fromisoformat):
        at = dt.datetime.fromisoformat(decided_at)
        day = at.astimezone(NEW_YORK).date()
        group = sorted(slots[decided_at], key=lambda c: (by_key[c["strategy"]].priority, by_key[c["strategy"]].name, c["strategy"]))
        verdicts: dict[int, Verdict] = {}
        wanting: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in group:
            if c["passed"]:
                wanting[by_key[c["strategy"]].book].append(c)
        for book, members in wanting.items():
            ranked = rules.rank_candidates([
                (by_key[c["strategy"]].priority,
                 SimpleNamespace(credit_fill=c["credit_fill"], width_points=c["width_points"]), c["strategy"])
                for c in members
            ])
            state = held[book]
            open_now = sum(1 for h in state if h.entry_at < at and (h.exit_at is None or h.exit_at >= at))
            stops_today = sum(1 for h in state if h.stop_day == day and h.exit_at is not None and h.exit_at < at)
            for _, _, key in ranked:
                c = next(m for m in members if m["strategy"] == key)
                limits = by_key[key].limits
                verdict = rules.risk_check(open_trades=open_now, entries_today=entries[(book, day)],
                                           stops_today=stops_today, limits=limits)
                if not verdict.allowed:
                    verdicts[id(c)] = Verdict("SKIP", RISK_LIMIT, f"{verdict.reason}: {verdict.message}")
                    continue
                g = gate(c["features"]) if gate is not None else None
                if g is not None and not g.allowed:
                    verdicts[id(c)] = Verdict("SKIP", ML_GATE, f"model {g.model_version} score {g.score}: {g.reason}",
                                              g.model_version or "", g.score)
                    continue
                verdicts[id(c)] = Verdict("TRADE", TRADE_OK, f"selected ({g.reason if g is not None else 'no gate'})",
                                          getattr(g, "model_version", "") or "", getattr(g, "score", None))
                open_now += 1
                entries[(book, day)] += 1
                exit_ = c["exit"]
                exit_at = dt.datetime.fromisoformat(exit_["at"]) if exit_ else None
                stop_day = exit_at.astimezone(NEW_YORK).date() if exit_ and exit_["reason"] == "stop_loss" else None
                state.append(_Held(entry_at=at, exit_at=exit_at, stop_day=stop_day))
        for c in group:
            out.append((c, verdicts.get(id(c)) or Verdict("SKIP", c["reason_code"], c["reason_message"])))
    return out
