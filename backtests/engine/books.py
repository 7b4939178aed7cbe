"""Phase 2 of a backtest: which candidates become trades, in time order (pure; no I/O).

Walks every entry-window instant in order and hands its candidates' evaluations to the live
decision core (``strategy.quant.decision.decide_window``) with each risk book's state at that
instant, computed from the trades the walk has taken so far. The state follows the live order of
work within a slot — entry windows first, then marks — so a trade whose exit falls on the
window's own minute still counts as open, and a stop counts against the day's later windows only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from backtests.engine.types import Candidate, Strategy
from strategy.quant.decision import TRADE, BookState, Gate, Verdict, decide_window
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import STOP_LOSS


@dataclass(frozen=True)
class _Held:
    entry_at: dt.datetime
    exit_at: dt.datetime | None
    stop_day: dt.date | None


def _state(held: Sequence[_Held], entries_today: int, at: dt.datetime) -> BookState:
    day = at.astimezone(NEW_YORK).date()
    return BookState(
        open_trades=sum(1 for h in held if h.entry_at < at and (h.exit_at is None or h.exit_at >= at)),
        entries_today=entries_today,
        stops_today=sum(1 for h in held if h.stop_day == day and h.exit_at is not None and h.exit_at < at),
    )


def books_walk(candidates: Sequence[Candidate], strategies: Sequence[Strategy],
               gate: Gate | None = None) -> list[tuple[Candidate, Verdict]]:
    """A verdict for every candidate, in (decided_at, priority, name, key) order."""
    by_key = {s.key: s for s in strategies}
    held: dict[str, list[_Held]] = defaultdict(list)
    entries: dict[tuple[str, dt.date], int] = defaultdict(int)
    slots: dict[dt.datetime, list[Candidate]] = defaultdict(list)
    held_day: list[dt.date] = []
    for c in candidates:
        slots[c.decided_at].append(c)
    out: list[tuple[Candidate, Verdict]] = []
    for at in sorted(slots):
        day = at.astimezone(NEW_YORK).date()
        if not held_day or held_day[0] != day:  # a new day: trades closed before it count for nothing now
            day_start = dt.datetime.combine(day, dt.time(0), tzinfo=NEW_YORK)
            for b in held:
                held[b] = [h for h in held[b] if h.exit_at is None or h.exit_at >= day_start]
            held_day[:] = [day]
        group = sorted(slots[at], key=lambda c: (by_key[c.strategy].spec.priority, by_key[c.strategy].name, c.strategy))
        books = {c.evaluation.spec.book for c in group}
        states = {b: _state(held[b], entries[(b, day)], at) for b in books}
        verdicts = decide_window([c.evaluation for c in group], states, gate=gate)
        for c, v in zip(group, verdicts):
            if v.action == TRADE:
                book = c.evaluation.spec.book
                entries[(book, day)] += 1
                exit_at = c.exit.at if c.exit else None
                stop_day = c.exit.at.astimezone(NEW_YORK).date() if c.exit and c.exit.reason == STOP_LOSS else None
                held[book].append(_Held(entry_at=at, exit_at=exit_at, stop_day=stop_day))
            out.append((c, v))
    return out
