"""Phase 1 and 2 of a parameter sweep: many variants of one base config, sharing what they share.

A sweep's variants differ in their selection rules (DTE, side, |delta|, width, entry window) and
their exit rules (take profit, stop, time exit). What is computed once:

- **the chain and its analytics** per (series, minute), and the window's market context and
  forward history: ``DayReplayer``'s caches, as for any set of strategies;
- **the candidate spread** per selection group (DTE, entry window, spread and risk rules — the
  variants that differ only in their exits): one ``decision.evaluate`` per group and window, which
  every variant of the group reuses;
- **one exit path** per (entry minute, leg pair, credit): the marks along the path are valued
  once a day (``debit_screen``), every exit rule still open on it is screened at once
  (``threshold_screen``, an exit rules × stamps mask), and the exact rule (``rules.exit_due`` on
  ``rules.close_debit``'s debit, the two halves of ``rules.mark_step``) runs only on the stamps
  the screen passes, each stamp's exact debit computed once for all the rules. Groups whose
  candidates pick the same legs at the same minute share the path too.

A variant's fate is then exactly what ``DayReplayer`` gives it run alone (a test compares them
field by field): the same first triggering stamp, the same summary marks per day, the same
settlement. Phase 2 (``variant_books``) walks each variant's own risk book in time order with the
live decision core (``decision.decide_window``), asked once per distinct book state: a book of one
strategy without a gate decides by its state alone.

Pure: no Django, no I/O. Values cross the process boundary once (``encode``/``decode``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zstandard

from backtests.engine import codec
from backtests.engine.daydata import DayData, ns
from backtests.engine.replay import (
    DayReplayer,
    _legs,
    _Open,
    _utc,
    check_stamps,
    debit_screen,
    threshold_screen,
    window_instant,
)
from backtests.engine.types import Candidate, Exit, Mark, Strategy
from snapshots import market_calendar
from snapshots.expiry_selection import ExpiryChoice
from strategy.quant import decision, rules
from strategy.quant.fills import COMPLEX_ORDER_TICK
from strategy.quant.decision import TRADE, BookState, Evaluation, StrategySpec
from strategy.quant.features import ForwardHistory, WindowContext
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import ExitRules, ExitSignal, Leg, RiskLimits, SpreadCandidate, TimeExit

__all__ = ["SweepPlan", "SweepReplayer", "Variant", "decode", "encode", "sweep_plan", "variant_books",
           "variant_candidates"]

REASONS = ("take_profit", "stop_loss", "time_exit", "settlement")
# The exact-debit screen's margin, points: the float thresholds C·(1 − f), C·(1 + m) and the debit
# differ from their decimal values (``fills.as_decimal``: shortest repr, 1e-8 quantum) by < 1e-8.
_EXACT_MARGIN = 1e-6


@dataclass(frozen=True)
class Variant:
    """One variant: its own strategy (key, book, rules), its selection group and its exit rules' index."""

    index: int
    strategy: Strategy
    group: int
    exit: int


@dataclass(frozen=True)
class SweepPlan:
    """The variants factored into selection groups (one evaluation each) × exit rules."""

    variants: tuple[Variant, ...]
    groups: tuple[Strategy, ...]  # one representative strategy per selection group (key "g<n>")
    exit_rules: tuple[ExitRules, ...]
    group_exits: tuple[tuple[int, ...], ...]  # per group: the exit rules its variants use


def sweep_plan(strategies: Sequence[Strategy]) -> SweepPlan:
    """Group ``strategies`` (the variants, in index order) by what their entries depend on."""
    group_of: dict[tuple[Any, ...], int] = {}
    exit_of: dict[ExitRules, int] = {}
    groups: list[Strategy] = []
    group_exits: list[set[int]] = []
    variants = []
    for i, s in enumerate(strategies):
        spec = s.spec
        key = (spec.target_dte, spec.rules, spec.limits, spec.priority, spec.ml_group, s.windows)
        if key not in group_of:
            n = group_of[key] = len(groups)
            # The group's evaluation does not read the exits: any rules do (the defaults).
            groups.append(Strategy(spec=dataclasses.replace(spec, key=f"g{n}", book=f"g{n}", exits=ExitRules()),
                                   config_id=s.config_id, name=f"group {n}", params={}, windows=s.windows))
            group_exits.append(set())
        g = group_of[key]
        e = exit_of.setdefault(spec.exits, len(exit_of))
        group_exits[g].add(e)
        variants.append(Variant(i, s, g, e))
    return SweepPlan(tuple(variants), tuple(groups), tuple(exit_of), tuple(tuple(sorted(x)) for x in group_exits))


@dataclass
class _Path(_Open):
    """One exit path: a (minute, short leg, long leg, credit) entered by one or more groups, walked
    once for every exit rule still open on it."""

    index: int = 0
    open: dict[int, TimeExit | None] = field(default_factory=dict)  # exit rule → its time exit, still walking
    # exit rule → (exit, how many of ``marks`` precede it, the exit stamp's own mark or None for a settlement)
    exits: dict[int, tuple[Exit, int, Mark | None]] = field(default_factory=dict)


def exit_bounds(credit: float, take_profit_fraction: np.ndarray, stop_loss_multiple: np.ndarray
                ) -> tuple[list[float], list[float]]:
    """Per exit rule, (take, stop): an exact debit strictly between them cannot trigger the rule's
    take profit or stop (``rules.exit_due``'s C·(1 − f) and C·(1 + m) widened by ``_EXACT_MARGIN``),
    so only a debit outside reaches the exact rule (a test checks none that triggers is missed)."""
    take = credit * (1 - take_profit_fraction) + _EXACT_MARGIN
    stop = credit * (1 + stop_loss_multiple) - _EXACT_MARGIN
    return take.tolist(), stop.tolist()


_Q = 100_000_000  # as_decimal's quantum, 1e-8 points, as an integer scale
_TICK_UNITS = 5 * 10**14  # the 0.05 complex-order tick in 1e-16 units (a price × a fraction's scale)
_SAFE_UNITS = 5 * 10**9  # 50 points in 1e-8 units: products stay far inside int64


def _quanta(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``fills.as_decimal(x)`` in 1e-8 units, whether that is certain): the nearest integer to
    x·1e8 equals the half-up quantum of x's shortest repr when x·1e8 is within 0.25 of it (the repr
    and the float product differ from x·1e8 by far less than 0.25 below 1e6 points)."""
    scaled = x * _Q
    n = np.rint(scaled)
    ok = np.isfinite(scaled) & (np.abs(scaled - n) < 0.25) & (np.abs(x) < 1e6)  # NaN compares False, no warning
    return np.where(ok, n, 0).astype(np.int64), ok


def close_debits(sb: np.ndarray, sa: np.ndarray, lb: np.ndarray, la: np.ndarray, *, width_points: float | np.ndarray,
                 fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rules.close_debit`` of usable quotes, vectorised and exact: (debit_mid, debit_fill, exact).

    debit_mid is the same float expression; debit_fill is ``fills.exit_debit``'s decimal arithmetic
    done in integers (prices in 1e-8 units, the fill fraction × combo spread in 1e-16 units, the
    ceiling to the 0.05 tick, then k / 20 — a correctly rounded division, as ``float(Decimal)``
    is), floored at one tick and capped at the width as ``close_debit`` does. Where ``exact`` is
    False (a quantum not certain, or a price beyond 50 points) the fill is not computed: the caller
    asks ``rules.close_debit`` (a test compares both on random and on-tick quotes)."""
    debit_mid = (sb + sa) / 2 - (lb + la) / 2
    n = debit_mid.size
    q, ok = _quanta(np.concatenate([sb, sa, lb, la, np.maximum(debit_mid, 0.0), [fraction]]))
    qsb, qsa, qlb, qla, qm, qf = q[:n], q[n:2 * n], q[2 * n:3 * n], q[3 * n:4 * n], q[4 * n:5 * n], int(q[-1])
    spread_n = (qsa - qsb) + (qla - qlb)  # combo_spread_of: the decimal sum, exact
    spread = spread_n / _Q  # float(Decimal(n) · 1e-8): correctly rounded either way
    qspread, ok_spread = _quanta(spread)
    exact = (ok[:n] & ok[n:2 * n] & ok[2 * n:3 * n] & ok[3 * n:4 * n] & ok[4 * n:5 * n] & bool(ok[-1]) & ok_spread
             & (qspread == spread_n) & (spread_n >= 0) & (qm <= _SAFE_UNITS) & (spread_n <= _SAFE_UNITS)
             & (0 <= qf <= _Q))
    raw = np.where(exact, qm, 0) * _Q + qf * np.where(exact, spread_n, 0)  # 1e-16 units, ≥ 0
    k = (raw + _TICK_UNITS - 1) // _TICK_UNITS  # ROUND_CEILING to the tick
    fill = np.minimum(np.maximum(k / 20, COMPLEX_ORDER_TICK), np.asarray(width_points, dtype=np.float64))
    return debit_mid, fill, exact


@dataclass
class SweepOutput:
    """What a sweep chunk found: every group's candidates (with their path, -1 when none) and the paths."""

    candidates: list[tuple[int, Candidate, int]] = field(default_factory=list)
    paths: list[_Path] = field(default_factory=list)


class SweepReplayer(DayReplayer):
    """``DayReplayer`` over a sweep's selection groups, with shared exit paths."""

    def __init__(self, plan: SweepPlan, *args: Any, **kwargs: Any) -> None:
        super().__init__(plan.groups, *args, **kwargs)
        self.plan = plan
        self.sweep = SweepOutput()
        self._paths: dict[tuple[Any, ...], _Path] = {}
        self._tp = np.array([r.take_profit_fraction for r in plan.exit_rules], dtype=np.float64)
        self._sl = np.array([r.stop_loss_multiple for r in plan.exit_rules], dtype=np.float64)
        self.exact_checks = 0  # stamps × rules that reached rules.exit_due (the screens' survivors), for the benchmark
        self._debits: dict[tuple[float, ...], tuple[float, float]] = {}
        self._due: dict[tuple[Any, ...], ExitSignal | None] = {}
        self._stamps: dict[int, dt.datetime] = {}
        self._time_exits: dict[tuple[Any, ...], TimeExit | None] = {}
        self._histories: dict[tuple[Any, ...], ForwardHistory] = {}

    def run_day(self, day: dt.date, *, entries: bool) -> bool:
        self._histories.clear()  # one day's forward histories (the groups of a DTE and window share one)
        return super().run_day(day, entries=entries)

    def _history(self, data: DayData, root: str, expiration: dt.date, at: dt.datetime) -> ForwardHistory:
        """``DayReplayer._history``, once per (series, instant) for all the groups reading it."""
        key = (data.day, root, expiration, at)
        h = self._histories.get(key)
        if h is None:
            h = self._histories[key] = super()._history(data, root, expiration, at)
        return h

    def _entries(self, data: DayData, chosen: dict[int, tuple[ExpiryChoice, str]],
                 context: dict[dt.time, set[tuple[str, dt.date]]]) -> None:
        bounds = market_calendar.session_bounds(data.day)
        for window in sorted({w for s in self.strategies for w in s.windows}):
            at = window_instant(data.day, window)
            if bounds is None or at >= bounds[1]:
                continue  # a window at or after an early close: no decision that day
            ctx: WindowContext = self._window_context(data, at, context[window])
            for g, s in enumerate(self.strategies):
                if window not in s.windows:
                    continue
                c = self._evaluate(s, data, chosen[s.spec.target_dte], at, window, ctx)
                self.sweep.candidates.append((g, c, self._path_for(g, c) if c.passed else -1))

    def _path_for(self, g: int, c: Candidate) -> int:
        spread = c.evaluation.candidate
        assert spread is not None and c.expiration is not None and c.settles_at is not None
        key = (c.decided_at, spread.short_leg.symbol, spread.long_leg.symbol, spread.credit_fill,
               spread.width_points, c.root, c.expiration)
        p = self._paths.get(key)
        if p is None:
            p = self._paths[key] = _Path(c, index=len(self.sweep.paths))
            self.sweep.paths.append(p)
            self.alive.append(p)
        for e in self.plan.group_exits[g]:
            if e not in p.open and e not in p.exits:
                k = (e, c.expiration, c.settles_at)
                if k not in self._time_exits:
                    self._time_exits[k] = rules.time_exit_for(self.plan.exit_rules[e], expiration=c.expiration,
                                                              settles_at=c.settles_at)
                p.open[e] = self._time_exits[k]
        return p.index

    def _exits(self, data: DayData) -> None:
        if not self.alive:
            return
        stamps = check_stamps(data.day, self.params.exit_check_minutes)
        self._debits.clear()  # the memos hold one day's values (bounded memory over a long chunk)
        self._due.clear()
        self._stamps.clear()
        series = data.series(sorted({leg.symbol for p in self.alive for leg in _legs(p.candidate)}))
        bounds = market_calendar.session_bounds(data.day)
        close_ns = ns(bounds[1]) if bounds else 0
        # Each leg's quotes in force at every stamp of the day, once per leg for all the paths on it
        # (a quote at a stamp depends on that stamp alone, so a path's stamps are a slice), then the
        # debit screen and the exact closing debits of every path's usable stamps in one numpy pass
        # over all of them (both are element-wise: the same values as path by path).
        quotes = {symbol: leg.at(stamps) for symbol, leg in series.items()}
        alive = [p for p in self.alive if isinstance(p, _Path)]
        assert len(alive) == len(self.alive)
        spans = []  # per path: (its first stamp's index, how many stamps) in the day's stamps
        for p in alive:
            assert p.candidate.settles_at is not None
            first = int(np.searchsorted(stamps, ns(p.candidate.decided_at), side="left"))
            last = int(np.searchsorted(stamps, ns(p.candidate.settles_at), side="right"))
            spans.append((first, max(last - first, 0)))
        day = self._day_marks(alive, spans, quotes)
        still: list[_Open] = []
        offset = 0
        for p, (first, n) in zip(alive, spans):
            c = p.candidate
            assert c.settles_at is not None
            settles_ns = ns(c.settles_at)
            self._walk_path(p, stamps[first:first + n], {k: v[offset:offset + n] for k, v in day.items()})
            offset += n
            if p.open and settles_ns <= close_ns:
                self._settle_path(p, data)
            if p.open:
                still.append(p)
        self.alive = still

    def _day_marks(self, alive: list[_Path], spans: list[tuple[int, int]],
                   quotes: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
        """Every path's stamps of the day end to end (``spans``: its first stamp and count): the
        leg quotes (sb, sa, lb, la), ``debit_screen``'s usable and approx, and at the usable stamps
        ``close_debits``' mid, fill and exact (NaN / False elsewhere)."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("sb", "sa", "lb", "la", "width")}
        for p, (first, n) in zip(alive, spans):
            spread = p.candidate.evaluation.candidate
            assert spread is not None
            for (bid, ask), (kb, ka) in ((quotes[spread.short_leg.symbol], ("sb", "sa")),
                                         (quotes[spread.long_leg.symbol], ("lb", "la"))):
                parts[kb].append(bid[first:first + n])
                parts[ka].append(ask[first:first + n])
            parts["width"].append(np.full(n, spread.width_points))
        day = {k: np.concatenate(v) if v else np.empty(0) for k, v in parts.items()}
        fraction = self.params.fill_fraction
        day["usable"], day["approx"] = debit_screen(day["sb"], day["sa"], day["lb"], day["la"],
                                                    width_points=day["width"], fill_fraction=fraction)
        size = day["sb"].size
        day["mid"], day["fill"], day["exact"] = np.full(size, np.nan), np.full(size, np.nan), np.zeros(size, bool)
        u = np.flatnonzero(day["usable"])
        if u.size:
            day["mid"][u], day["fill"][u], day["exact"][u] = close_debits(
                day["sb"][u], day["sa"][u], day["lb"][u], day["la"][u], width_points=day["width"][u], fraction=fraction)
        return day

    def _walk_path(self, p: _Path, stamps: np.ndarray, day: dict[str, np.ndarray]) -> None:
        """``DayReplayer._walk`` for every exit rule open on the path at once (same stamps, same order).

        Numpy over the rules × stamps: the float screen (``threshold_screen`` on the approximate
        debit, plus each time exit's first markable stamp) picks the stamps to value exactly; their
        exact debit (``rules.close_debit``'s, by ``close_debits`` in one integer pass, the rule's own
        function where that is not certain) is computed once per stamp for every rule; a second
        screen compares that exact debit with every rule's thresholds in float (an rules × stamps
        mask), with a margin (``_EXACT_MARGIN``) far wider than the float error of the products, so
        only a stamp that triggers (or ties within the margin) reaches ``rules.exit_due``, which
        decides — in stamp order, the first signal closing the rule, as alone. ``exit_due`` is a
        pure function of (credit, debit, rules, whether the time exit is due and its text): its
        answers are memoised per day (``_due``)."""
        if stamps.size == 0 or not p.open:
            return
        spread = p.candidate.evaluation.candidate
        assert spread is not None
        sb, sa, lb, la, usable, approx = (day[k] for k in ("sb", "sa", "lb", "la", "usable", "approx"))
        width, credit, fraction = spread.width_points, spread.credit_fill, self.params.fill_fraction
        exits = np.array(sorted(p.open), dtype=np.int64)
        tp, sl = self._tp[exits], self._sl[exits]
        maybe = threshold_screen(usable, approx, entry_credit=credit, take_profit_fraction=tp, stop_loss_multiple=sl)
        due_at: dict[int, int] = {}  # row → the time exit's first markable stamp (the only one that matters)
        for row, e in enumerate(exits.tolist()):
            te = p.open[e]
            if te is not None:
                first = np.flatnonzero(usable & (stamps >= ns(te.at)) & (stamps < ns(te.settles_at)))[:1]
                if first.size:
                    due_at[row] = int(first[0])
                    maybe[row, first] = True
        take, stop = exit_bounds(credit, tp, sl)
        last = np.flatnonzero(usable)[-1:]
        wanted: np.ndarray = np.asarray(maybe.any(axis=0))
        wanted[last] = True
        need = np.flatnonzero(wanted)  # the stamps valued exactly, once for every rule
        debit_mid = np.full(stamps.size, np.nan)
        debit_fill = np.full(stamps.size, np.nan)
        if need.size:  # every needed stamp is usable: its exact debit is in ``day`` (``_day_marks``)
            mids, fills, exact = day["mid"][need], day["fill"][need], day["exact"][need]
            for j in np.flatnonzero(~exact).tolist():  # beyond the integer path: the rule's own function
                i = int(need[j])
                mids[j], fills[j] = self._close_debit(float(sb[i]), float(sa[i]), float(lb[i]), float(la[i]),
                                                      width, fraction)
            debit_mid[need], debit_fill[need] = mids, fills
        # A stamp reaches the exact rule when its exact debit is not strictly inside both of the
        # rule's bounds, or it is the rule's time-exit stamp.
        clear = (np.asarray(take)[:, None] < debit_fill[None, :]) & (debit_fill[None, :] < np.asarray(stop)[:, None])
        check = maybe & ~clear
        for row, due in due_at.items():
            check[row, due] = True
        for row in np.flatnonzero(check.any(axis=1)).tolist():
            e = int(exits[row])
            exit_rules, te, first_due = self.plan.exit_rules[e], p.open[e], due_at.get(row, -1)
            for i in np.flatnonzero(check[row]).tolist():
                fill = float(debit_fill[i])
                is_due = i == first_due
                key = (credit, fill, e, te.rule if is_due and te is not None else None)
                self.exact_checks += 1
                if key in self._due:
                    signal = self._due[key]
                else:
                    signal = self._due[key] = rules.exit_due(
                        entry_credit=credit, debit_to_close=fill, exit_rules=exit_rules,
                        at=self._at(int(stamps[i])), time_exit=te)
                if signal is not None:
                    at = self._at(int(stamps[i]))
                    p.exits[e] = (Exit(at, signal.reason, fill, signal.message), len(p.marks),
                                  Mark(at, float(debit_mid[i]), fill, signal.reason))
                    del p.open[e]
                    break
        if p.open and last.size:  # held through the day: one summary mark at the last usable stamp
            j = int(last[0])
            p.marks.append(Mark(self._at(int(stamps[j])), float(debit_mid[j]), float(debit_fill[j])))

    def _at(self, stamp_ns: int) -> dt.datetime:
        """``_utc`` of a check stamp, memoised per day (the same ~390 stamps for every path)."""
        at = self._stamps.get(stamp_ns)
        if at is None:
            at = self._stamps[stamp_ns] = _utc(stamp_ns)
        return at

    def _close_debit(self, sb: float, sa: float, lb: float, la: float, width: float,
                     fraction: float) -> tuple[float, float]:
        """``rules.close_debit`` of usable quotes, memoised per day (paths on the same legs share them)."""
        key = (sb, sa, lb, la, width, fraction)
        out = self._debits.get(key)
        if out is None:
            assert rules.mark_quotes_usable(sb, sa, lb, la)  # the screen only passes usable stamps
            out = self._debits[key] = rules.close_debit(sb, sa, lb, la, width_points=width, fraction=fraction)
        return out

    def _settle_path(self, p: _Path, data: DayData) -> None:
        self._settle(p, data)  # sets p.exit when the series can be settled from the data
        if p.exit is None:
            return  # every open rule stays open; reported as open at the end of the data
        for e in sorted(p.open):
            p.exits[e] = (p.exit, len(p.marks), None)
        p.open.clear()


# ------------------------------------------------------------------------------------ a variant's view

def variant_fate(p: _Path, e: int) -> tuple[Exit | None, tuple[Mark, ...]]:
    """(exit or None while open, marks) of exit rule ``e`` on path ``p``, as ``DayReplayer`` gives them."""
    if e in p.exits:
        exit_, before, mark = p.exits[e]
        return exit_, tuple(p.marks[:before]) + ((mark,) if mark is not None else ())
    return None, tuple(p.marks)


def variant_candidates(plan: SweepPlan, index: int, candidates: Sequence[tuple[int, Candidate, int]],
                       paths: Sequence[_Path]) -> list[Candidate]:
    """Variant ``index``'s candidates with their fates, exactly as ``DayReplayer`` makes them for
    that variant's strategy run alone (its key, its spec, its exit and marks)."""
    v = plan.variants[index]
    out = []
    for g, c, path in candidates:
        if g != v.group:
            continue
        exit_, marks = variant_fate(paths[path], v.exit) if path >= 0 else (None, ())
        out.append(dataclasses.replace(c, strategy=v.strategy.key,
                                       evaluation=dataclasses.replace(c.evaluation, spec=v.strategy.spec),
                                       exit=exit_, marks=marks))
    return out


# ------------------------------------------------------------------------------------ phase 2

@dataclass(frozen=True)
class GroupEntries:
    """A selection group's candidates that want to trade, in time order: instant (ns), New York
    trading day (ordinal) and exit path (global index), as arrays."""

    at_ns: np.ndarray
    day: np.ndarray
    path: np.ndarray


@dataclass(frozen=True)
class ExitTable:
    """Every (path, exit rule) that ended, sorted by ``key`` = path × ``stride`` + rule: when (ns) and
    whether a stop (rows missing = still open at the end of the data)."""

    key: np.ndarray
    at_ns: np.ndarray
    stop: np.ndarray
    stride: int

    def rows(self, paths: np.ndarray, rule: int) -> np.ndarray:
        """Row of each (path, rule), -1 where that rule is still open on the path."""
        want = paths.astype(np.int64) * self.stride + rule
        if self.key.size == 0:
            return np.full(want.shape, -1, dtype=np.int64)
        i = np.minimum(np.searchsorted(self.key, want), self.key.size - 1)
        return np.where(self.key[i] == want, i, -1)


def _probe(spec: StrategySpec) -> Evaluation:
    """A wanting-to-trade evaluation of ``spec`` (its numbers do not matter in a book of one)."""
    leg = Leg(symbol="probe", strike=1.0, is_call=False, bid=1.0, ask=1.0, mid=1.0, iv=0.1, delta=-0.1, side="sell")
    spread = SpreadCandidate(side="put_credit", short_leg=leg, long_leg=dataclasses.replace(leg, strike=0.5, side="buy"),
                             quantity=1, requested_width_points=0.5, width_points=0.5, credit_mid=0.2, combo_spread=0.0,
                             credit_fill=0.2, max_profit_per_contract_usd=20.0, max_loss_per_contract_usd=30.0,
                             breakeven=0.8)
    return Evaluation(spec, dt.datetime(2000, 1, 3, tzinfo=dt.UTC), spread, "", "")


def _midnight_ns(day_ordinal: int) -> int:
    return ns(dt.datetime.combine(dt.date.fromordinal(day_ordinal), dt.time(0), tzinfo=NEW_YORK))


def variant_books(plan: SweepPlan, entries: Sequence[GroupEntries], exits: ExitTable) -> list[np.ndarray]:
    """Per variant, the positions (in its group's ``entries``) of the candidates it trades, and the
    exit row of each (``exits`` row, -1 = open at the end): its own risk book walked in time order
    with the state ``engine.books`` computes (trades open at the instant — an exit on the window's
    own minute still open —, entries today, stops earlier today), and the verdict of
    ``decision.decide_window`` for a book of one strategy without a gate, which depends on that
    state and the strategy's limits only: the core is asked once per distinct pair."""
    verdicts: dict[tuple[int, int, int, int], bool] = {}
    limits_of: dict[RiskLimits, int] = {}
    stop_days: dict[int, int] = {}
    midnights: dict[int, int] = {}
    out: list[np.ndarray] = []
    for v in plan.variants:
        spec = v.strategy.spec
        limits = limits_of.setdefault(spec.limits, len(limits_of))
        en = entries[v.group]
        rows = exits.rows(en.path, v.exit)
        exit_ns = np.where(rows >= 0, exits.at_ns[np.maximum(rows, 0)], -1).tolist() if rows.size else []
        stop = np.where(rows >= 0, exits.stop[np.maximum(rows, 0)], False).tolist() if rows.size else []
        traded: list[int] = []
        held: list[tuple[int, int, int]] = []  # (entry ns, exit ns or -1 = open, stop day ordinal or -1)
        day = -1
        entries_today = 0
        for j, (at, d) in enumerate(zip(en.at_ns.tolist(), en.day.tolist())):
            if d != day:
                day, entries_today = d, 0
                start = midnights.get(d)
                if start is None:
                    start = midnights[d] = _midnight_ns(d)
                held = [h for h in held if h[1] < 0 or h[1] >= start]
            open_trades = stops_today = 0
            for h in held:
                if h[0] < at and (h[1] < 0 or h[1] >= at):
                    open_trades += 1
                if h[2] == day and 0 <= h[1] < at:
                    stops_today += 1
            key = (limits, open_trades, entries_today, stops_today)  # plain ints hash faster than the dataclasses
            allowed = verdicts.get(key)
            if allowed is None:
                state = BookState(open_trades=open_trades, entries_today=entries_today, stops_today=stops_today)
                allowed = verdicts[key] = decision.decide_window([_probe(spec)], {spec.book: state})[0].action == TRADE
            if not allowed:
                continue
            x = exit_ns[j]
            stop_day = -1
            if stop[j] and x >= 0:
                stop_day = stop_days.get(x, -2)
                if stop_day == -2:
                    stop_day = stop_days[x] = _utc(x).astimezone(NEW_YORK).date().toordinal()
            held.append((at, x, stop_day))
            entries_today += 1
            traded.append(j)
        out.append(np.asarray(traded, dtype=np.int64))
    return out


# ------------------------------------------------------------------------------------ the boundary

def _mark(m: Mark) -> list[Any]:
    return [ns(m.ts), m.debit_mid, m.debit_fill, m.signal]


def _unmark(x: Sequence[Any]) -> Mark:
    return Mark(_utc(int(x[0])), float(x[1]), float(x[2]), str(x[3]))


def _trade(c: Candidate) -> list[Any]:
    """What a trade of the path stores (phase 2 writes it without decoding the evaluation)."""
    s = c.evaluation.candidate
    assert s is not None and c.expiration is not None
    return [s.side, s.short_leg.symbol, s.long_leg.symbol, s.short_leg.strike, s.long_leg.strike, s.width_points,
            s.quantity, s.credit_fill, c.root, c.expiration.isoformat(), c.window.strftime("%H:%M"), c.day.isoformat()]


EXIT_COLUMNS = ("path", "rule", "at_ns", "reason", "debit", "settlement_price", "source", "before", "mark_mid",
                "mark_fill", "has_mark")


def _frame(z: zstandard.ZstdCompressor, data: bytes) -> bytes:
    c = z.compress(data)
    return len(c).to_bytes(8, "little") + c


def encode(out: SweepOutput, days_read: Sequence[str]) -> bytes:
    """A sweep chunk's result, three zstd frames: ``core`` JSON (candidates' path links; paths with
    their trade fields and marks), the exits as columns (one row per path × exit rule that ended,
    sorted), then ``full`` JSON (each candidate's evaluation and each exit's message, read only to
    materialise a variant)."""
    index = {id(c): i for i, (_, c, _) in enumerate(out.candidates)}
    sources: dict[str, int] = {}
    cols: dict[str, list[Any]] = {name: [] for name in EXIT_COLUMNS}
    messages: list[str] = []
    for p in out.paths:
        for e, (x, before, m) in sorted(p.exits.items()):
            for name, value in zip(EXIT_COLUMNS, (
                    p.index, e, ns(x.at), REASONS.index(x.reason), x.debit,
                    x.settlement_price if x.settlement_price is not None else np.nan,
                    sources.setdefault(x.settlement_source, len(sources)), before,
                    m.debit_mid if m else np.nan, m.debit_fill if m else np.nan, m is not None)):
                cols[name].append(value)
            messages.append(x.message)
    arrays = b"".join(np.asarray(cols[n], dtype=_DTYPES[n]).tobytes() for n in EXIT_COLUMNS)
    core = {
        "days_read": list(days_read), "sources": list(sources), "exits": len(messages),
        "candidates": [[g, c.day.isoformat(), ns(c.decided_at), path] for g, c, path in out.candidates],
        "paths": [{"candidate": index[id(p.candidate)], "trade": _trade(p.candidate),
                   "marks": [_mark(m) for m in p.marks]} for p in out.paths],
    }
    full = {"candidates": [codec._candidate(c) for _, c, _ in out.candidates], "messages": messages}
    z = zstandard.ZstdCompressor(level=3)
    return (_frame(z, json.dumps(core, separators=(",", ":")).encode()) + _frame(z, arrays)
            + _frame(z, json.dumps(full, separators=(",", ":")).encode()))


_DTYPES = {"path": np.int32, "rule": np.int32, "at_ns": np.int64, "reason": np.int8, "debit": np.float64,
           "settlement_price": np.float64, "source": np.int32, "before": np.int32, "mark_mid": np.float64,
           "mark_fill": np.float64, "has_mark": np.bool_}


@dataclass
class Decoded:
    """A decoded sweep chunk: ``core`` and ``exits`` (columns) always; ``candidates``/``paths`` as
    engine values with ``groups``."""

    core: dict[str, Any]
    exits: dict[str, np.ndarray]
    candidates: list[tuple[int, Candidate, int]] = field(default_factory=list)
    paths: list[_Path] = field(default_factory=list)


def _frames(blob: bytes) -> list[bytes]:
    out, i, z = [], 0, zstandard.ZstdDecompressor()
    while i < len(blob):
        n = int.from_bytes(blob[i:i + 8], "little")
        out.append(z.decompress(blob[i + 8:i + 8 + n]))
        i += 8 + n
    return out


def decode(blob: bytes, groups: Sequence[Strategy] | None = None) -> Decoded:
    """A stored sweep chunk result. With ``groups`` (the plan's) the full candidates and paths too."""
    frames = _frames(blob)
    core = json.loads(frames[0])
    n = int(core["exits"])
    exits, offset = {}, 0
    for name in EXIT_COLUMNS:
        dtype = np.dtype(_DTYPES[name])
        exits[name] = np.frombuffer(frames[1], dtype=dtype, count=n, offset=offset)
        offset += n * dtype.itemsize
    out = Decoded(core, exits)
    if groups is None:
        return out
    by_key = {s.key: s for s in groups}
    full = json.loads(frames[2])
    cands = [codec._uncandidate(d, by_key) for d in full["candidates"]]
    out.candidates = [(int(g), c, int(path)) for (g, _, _, path), c in zip(core["candidates"], cands)]
    out.paths = [_Path(cands[d["candidate"]], index=i, marks=[_unmark(m) for m in d["marks"]])
                 for i, d in enumerate(core["paths"])]
    sources = core["sources"]
    for r in range(n):
        p = out.paths[int(exits["path"][r])]
        sp = float(exits["settlement_price"][r])
        x = Exit(_utc(int(exits["at_ns"][r])), REASONS[int(exits["reason"][r])], float(exits["debit"][r]),
                 full["messages"][r], None if np.isnan(sp) else sp, sources[int(exits["source"][r])])
        mark = (Mark(x.at, float(exits["mark_mid"][r]), float(exits["mark_fill"][r]), x.reason)
                if exits["has_mark"][r] else None)
        p.exits[int(exits["rule"][r])] = (x, int(exits["before"][r]), mark)
    return out
