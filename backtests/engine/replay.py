"""Phase 1 of a backtest: replay trading days minute by minute and find every entry's fate.

For each trading day and entry window, every strategy looks at the quotes in force at that minute
for its DTE bucket's expiration and is evaluated by the live decision core
(``strategy.quant.decision.evaluate``: our forward and IV/delta, ``select_spread`` with the fill
model, the features). Each tradable spread becomes a *candidate* whose exit is then found by
walking the minutes that follow (every ``exit_check_minutes``, from the entry minute on) with the
live mark rule (``rules.mark_quotes_usable``, ``rules.close_debit``, ``rules.exit_due`` with the
strategy's own exit rules, ``spec.exits``) until it takes profit, stops out, reaches its time exit or
is cash-settled at its expiration (``rules.settlement_exit`` on the value
from ``engine.settlement``).

A candidate's fate does not depend on any other trade, so phase 1 can run in parallel over chunks
of days; which candidates become trades — the risk rules, the ranking between strategies that share
a risk budget, the ML gate — is decided afterwards in time order (``engine.books``), which gives
exactly the decisions a sequential minute-by-minute replay makes.

Reads only what it needs: per day four quote columns, the entry minutes of the chosen expirations,
and the records of the open legs. No database: values are ``engine.types``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from backtests.engine.daydata import DayData, LegSeries, ns
from backtests.engine.settlement import Official, settlement_chain_order, settlement_estimate
from backtests.engine.types import Candidate, EngineParams, Exit, Mark, Strategy
from snapshots import market_calendar
from snapshots.analytics import VIX_ROOT, ChainAnalytics, settlement_for, vix_term_expirations
from snapshots.expiry_selection import ExpiryChoice, choose_expiration
from strategy.quant import decision, market, rules
from strategy.quant.analytics import ChainLayout, chain_analytics_batch, chain_forward, chain_layout
from strategy.quant.decision import ChainRead
from strategy.quant.features import ForwardHistory, WindowContext, history_minutes
from strategy.quant.fills import COMPLEX_ORDER_TICK
from strategy.quant.money import cents
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import ChainQuotes, Leg

__all__ = ["ChunkOutput", "DayReplayer", "EngineParams", "Strategy", "check_stamps", "debit_screen", "exit_screen",
           "threshold_screen", "window_instant"]


@dataclass
class _Open:
    """A candidate still walking toward its exit (the only mutable state of the engine)."""

    candidate: Candidate
    marks: list[Mark] = field(default_factory=list)
    exit: Exit | None = None

    def frozen(self) -> Candidate:
        return dataclasses.replace(self.candidate, marks=tuple(self.marks), exit=self.exit)


@dataclass
class ChunkOutput:
    """What a chunk found: every candidate (in decision order) and the days it read."""

    days_read: list[str] = field(default_factory=list)
    read_s: float = 0.0
    compute_s: float = 0.0
    _entries: list[Candidate | _Open] = field(default_factory=list)

    @property
    def candidates(self) -> list[Candidate]:
        return [e.frozen() if isinstance(e, _Open) else e for e in self._entries]


def window_instant(day: dt.date, window: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, window, tzinfo=NEW_YORK).astimezone(dt.UTC)


def check_stamps(day: dt.date, every_minutes: int) -> np.ndarray:
    """Exit-check instants of a session (ns): open + k × step for k ≥ 0 while before the close —
    with a 5-minute step exactly the live capture slots whose chains the marks read (09:30 included:
    beat captures at the open and marks a minute later)."""
    bounds = market_calendar.session_bounds(day)
    if bounds is None:
        return np.empty(0, dtype=np.int64)
    open_ns, close_ns = ns(bounds[0]), ns(bounds[1])
    step = every_minutes * 60 * 1_000_000_000
    return np.arange(open_ns, close_ns, step, dtype=np.int64)


def _utc(stamp_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp_ns // 1_000_000_000, tz=dt.UTC)


def debit_screen(
    sb: np.ndarray, sa: np.ndarray, lb: np.ndarray, la: np.ndarray, *, width_points: float | np.ndarray,
    fill_fraction: float = 0.30,
) -> tuple[np.ndarray, np.ndarray]:
    """(usable, approx): which stamps can be marked (``rules.mark_quotes_usable``, vectorised) and
    the float closing debit there — ``rules.close_debit`` without the rounding to the 0.05 tick, so
    within a tick of the exact one (NaN or meaningless where not usable)."""
    with np.errstate(invalid="ignore"):
        usable = (np.isfinite(sb) & np.isfinite(sa) & np.isfinite(lb) & np.isfinite(la) & (sa > 0) & (la > 0)
                  & (sb >= 0) & (lb >= 0) & (sa >= sb) & (la >= lb))
        mid = (sb + sa) / 2 - (lb + la) / 2
        approx = np.clip(np.maximum(mid, 0) + fill_fraction * ((sa - sb) + (la - lb)), COMPLEX_ORDER_TICK, width_points)
    return usable, approx


def threshold_screen(usable: np.ndarray, approx: np.ndarray, *, entry_credit: float,
                     take_profit_fraction: float | np.ndarray, stop_loss_multiple: float | np.ndarray) -> np.ndarray:
    """Which usable stamps might trigger TP/SL: the approximate debit within two ticks of (or past)
    C·(1 − f) or C·(1 + m). With arrays of E fractions and multiples (one per exit rule), an
    (E, stamps) mask: one path's marks screened for every exit rule at once."""
    f = np.asarray(take_profit_fraction, dtype=np.float64)
    m = np.asarray(stop_loss_multiple, dtype=np.float64)
    if f.ndim:  # one row per exit rule
        f, m = f[:, None], m[:, None]
    margin = 2 * COMPLEX_ORDER_TICK
    with np.errstate(invalid="ignore"):
        maybe: np.ndarray = usable & ((approx <= entry_credit * (1 - f) + margin)
                                      | (approx >= entry_credit * (1 + m) - margin))
    return maybe


def exit_screen(
    sb: np.ndarray, sa: np.ndarray, lb: np.ndarray, la: np.ndarray, *, width_points: float, entry_credit: float,
    take_profit_fraction: float, stop_loss_multiple: float, fill_fraction: float = 0.30,
) -> tuple[np.ndarray, np.ndarray]:
    """(usable, maybe): which stamps can be marked, and which might trigger TP/SL.

    A vectorised float pre-filter for ``rules.exit_due`` on ``rules.close_debit``: the exact
    decimal rule runs only where ``maybe`` is set. The float debit differs from the exact one by
    less than a tick (rounding to the 0.05 tick is skipped here), and the margin is two ticks, so
    no trigger is missed (a property test checks it on random quotes).
    """
    usable, approx = debit_screen(sb, sa, lb, la, width_points=width_points, fill_fraction=fill_fraction)
    maybe = threshold_screen(usable, approx, entry_credit=entry_credit, take_profit_fraction=take_profit_fraction,
                             stop_loss_multiple=stop_loss_multiple)
    return usable, maybe


class DayReplayer:
    """Runs phase 1 over consecutive days; keeps the candidates still open between days."""

    def __init__(self, strategies: Sequence[Strategy], params: EngineParams,
                 load_day: Callable[[dt.date], DayData | None], official: Official | None = None,
                 fomc_days: Sequence[dt.date] = ()) -> None:
        self.strategies = list(strategies)
        self.params = params
        self.load_day = load_day
        self.official = dict(official or {})
        self.fomc_days = tuple(sorted(fomc_days))
        self._closes: dict[dt.date, tuple[float, str]] = {}  # index level at each replayed day's settlement
        self.alive: list[_Open] = []
        self.out = ChunkOutput()
        self._analytics: dict[tuple[str, dt.date, int], ChainAnalytics] = {}
        self._quotes: dict[tuple[str, dt.date, int], ChainQuotes] = {}
        self._forwards: dict[tuple[str, dt.date, int], float] = {}
        self._layouts: dict[tuple[dt.date, str, dt.date], ChainLayout] = {}
        self._settlements: dict[tuple[str, dt.date], tuple[float, str] | None] = {}

    # ------------------------------------------------------------------------------ per day

    def run_day(self, day: dt.date, *, entries: bool) -> bool:
        """Replay ``day``: entries (if asked) then exits. False when the day has no data."""
        t0 = time.perf_counter()
        data = self.load_day(day)
        if data is None:
            return False
        opened = time.perf_counter() - t0
        self.out.days_read.append(day.isoformat())
        self._analytics.clear()
        self._quotes.clear()
        self._forwards.clear()
        self._layouts.clear()
        if entries:
            chosen, context = self._expirations(data), self._context_series(data)
            if not data.covers(self._entry_instants(data, context)):
                data.need(self._rows_needed(data, chosen, context))  # one read for the day's minute lookups
            self._entries(data, chosen, context)
        data.need(self._exit_rows(data))
        self._exits(data)
        if entries:
            self._closes[day] = self._index_at_settlement(data)
        read = opened + data.read_s
        self.out.read_s += read
        self.out.compute_s += time.perf_counter() - t0 - read
        return True

    def _expirations(self, data: DayData) -> dict[int, tuple[ExpiryChoice, str]]:
        """The expiration (and root) each DTE target trades today, as the live capture chooses it."""
        listed = data.listed()
        dates = sorted({e for _, e in listed})
        out = {}
        for dte in sorted({s.spec.target_dte for s in self.strategies}):
            choice = choose_expiration(data.day, dates, target_dte=dte, tolerance_days=self.params.dte_tolerance_days)
            root = "SPXW" if ("SPXW", choice.expiration) in listed else "SPX"
            out[dte] = (choice, root)
        return out

    def _context_series(self, data: DayData) -> dict[dt.time, set[tuple[str, dt.date]]]:
        """Per entry window, the series the live capture stores in that slot and computes the market
        context from: the platform's DTE targets' expirations and the SPXW chains bracketing 9 and 30
        days (``snapshots.context``), every root listed for those dates."""
        listed = data.listed()
        dates = sorted({e for _, e in listed})
        targets = set()
        for dte in self.params.context_dte_targets:
            choice = choose_expiration(data.day, dates, target_dte=dte, tolerance_days=self.params.dte_tolerance_days)
            if choice.expiration is not None:
                targets.add(choice.expiration)
        out = {}
        for window in sorted({w for s in self.strategies for w in s.windows}):
            terms = vix_term_expirations(window_instant(data.day, window), dates)
            expirations = targets | {e for pair in terms.values() if pair for e in pair}
            out[window] = {(r, e) for r, e in listed if e in expirations}
        return out

    def _entry_instants(self, data: DayData, context: dict[dt.time, set[tuple[str, dt.date]]]) -> list[int]:
        """Every instant (ns) the entries read quotes at: each window, its forward history, the open,
        and the settlement instant (the index level at the close)."""
        bounds = market_calendar.session_bounds(data.day)
        if bounds is None:
            return []
        out = [ns(bounds[0]), ns(market_calendar.expiring_series_close(data.day))]
        for window in context:
            at = window_instant(data.day, window)
            out.append(ns(at))
            out.extend(ns(m) for m in history_minutes(at) if m >= bounds[0])
        return out

    def _rows_needed(self, data: DayData, chosen: dict[int, tuple[ExpiryChoice, str]],
                     context: dict[dt.time, set[tuple[str, dt.date]]]) -> np.ndarray:
        """Definition rows a day without a slot book reads by minute: the open legs, today's entry
        chains, the chains of each window's market context, the two nearest SPXW chains (the index
        level at the close), and the chains that price the settlement of anything that may expire
        today."""
        parts = [self._exit_rows(data, ignore_book=True)]
        parts.extend(data.chain_rows(r, e) for series in context.values() for r, e in series)
        if context:
            parts.extend(data.chain_rows(r, e) for r, e in self._nearest_spxw(data))
        parts.extend(data.chain_rows(root, choice.expiration) for choice, root in chosen.values()
                     if choice.expiration is not None)
        parts.extend(self._settlement_rows(data, {(root, choice.expiration) for choice, root in chosen.values()
                                                  if choice.expiration is not None}))
        return np.concatenate(parts)

    def _exit_rows(self, data: DayData, *, ignore_book: bool = False) -> np.ndarray:
        """The open legs' rows (their minute records are the exit walk), and the chains that price
        the settlement of those expiring today when the slot book does not have that instant."""
        legs = data.rows_of_symbols(sorted({leg.symbol for p in self.alive for leg in _legs(p.candidate)}))
        expiring = {(p.candidate.root, p.candidate.expiration) for p in self.alive}
        return np.concatenate([legs, *self._settlement_rows(data, expiring, ignore_book=ignore_book)])

    def _settlement_rows(self, data: DayData, series: set[tuple[str | None, dt.date | None]], *,
                         ignore_book: bool = True) -> list[np.ndarray]:
        """The chains that price the settlement of those ``series`` settling today without an
        official value; unless ``ignore_book`` (a day read by minute), only when the slot book does not
        have the settlement instant."""
        bounds = market_calendar.session_bounds(data.day)
        out: list[np.ndarray] = []
        for root, expiration in series:
            assert root is not None and expiration is not None
            at = settlement_for(expiration, root)
            if (bounds and at <= bounds[1] and (root, expiration) not in self.official
                    and (ignore_book or not data.covers([ns(at)]))):
                out.extend(data.chain_rows(r, e)
                           for r, e in settlement_chain_order(data.listed(), root=root, expiration=expiration))
        return out

    def _layout(self, data: DayData, root: str, expiration: dt.date) -> ChainLayout:
        """The series' sort and strike pivot, once per day (the listing does not change intraday)."""
        key = (data.day, root, expiration)  # the previous session's close reads another day
        if key not in self._layouts:
            rows = data.chain_rows(root, expiration)
            self._layouts[key] = chain_layout(data.strike[rows], data.is_call[rows])
        return self._layouts[key]

    def _chain(self, data: DayData, root: str, expiration: dt.date, at: dt.datetime) -> ChainAnalytics:
        return self._chains(data, [(root, expiration)], at)[0]

    def _chains(self, data: DayData, series: Sequence[tuple[str, dt.date]], at: dt.datetime) -> list[ChainAnalytics]:
        """The analytics of ``series`` at ``at``, the ones not cached yet solved in one batch."""
        stamp = ns(at)
        todo = [s for s in dict.fromkeys(series) if (s[0], s[1], stamp) not in self._analytics]
        inputs = []
        for root, expiration in todo:
            rows = data.chain_rows(root, expiration)
            bid, ask = data.quotes_at(rows, stamp)
            inputs.append(dict(symbols=data.symbol[rows].astype(str), strikes=data.strike[rows],
                               is_call=data.is_call[rows], bid=bid, ask=ask, open_interest=data.open_interest(rows),
                               root=root, expiration=expiration, at=at, settles_at=settlement_for(expiration, root),
                               layout=self._layout(data, root, expiration)))
        for (root, expiration), a in zip(todo, chain_analytics_batch(inputs)):
            self._analytics[(root, expiration, stamp)] = a
        return [self._analytics[(r, e, stamp)] for r, e in series]

    # ------------------------------------------------------------------------------ market context

    def _nearest_spxw(self, data: DayData) -> list[tuple[str, dt.date]]:
        return sorted((r, e) for r, e in data.listed() if r == VIX_ROOT and e >= data.day)[:2]

    def _index_at_settlement(self, data: DayData) -> tuple[float, str]:
        """The index level at the day's PM settlement instant, from its nearest SPXW chains — what the
        OPRA replay quotes as SPX in that slot (``market.index_level``, to the cent)."""
        bounds = market_calendar.session_bounds(data.day)
        if bounds is None:
            return math.nan, "no session"
        at = market_calendar.expiring_series_close(data.day)
        value, how = market.index_level([self._chain(data, r, e, at) for r, e in self._nearest_spxw(data)])
        return (float(cents(value)), how) if math.isfinite(value) else (math.nan, how)

    def _prev_close(self, day: dt.date) -> tuple[float, str]:
        prev = market_calendar.previous_trading_day(day)
        if prev not in self._closes:
            data = self.load_day(prev)
            if data is None:
                return math.nan, f"the previous session ({prev}) is not imported"
            rows = np.concatenate([data.chain_rows(r, e) for r, e in self._nearest_spxw(data)] or [np.empty(0, np.int64)])
            if not data.covers([ns(market_calendar.expiring_series_close(prev))]):
                data.need(rows)
            self._closes[prev] = self._index_at_settlement(data)
        return self._closes[prev]

    def _window_context(self, data: DayData, at: dt.datetime, series: set[tuple[str, dt.date]]) -> WindowContext:
        """The window's market and calendar facts, as the live capture computes them for its slot."""
        reasons: dict[str, str] = {}
        keys = sorted(series)
        chains = dict(zip(keys, self._chains(data, keys, at)))
        terms = vix_term_expirations(at, sorted({e for _, e in data.listed()}))

        def vix_value(days: int) -> float:
            name, pair = ("vix30" if days == 30 else "vix9d"), terms.get(days)
            if pair is None or any((VIX_ROOT, e) not in chains for e in pair):
                reasons[name] = "term chains missing"
                return math.nan
            result = market.vix_of(chains[(VIX_ROOT, pair[0])], chains[(VIX_ROOT, pair[1])], target_days=days)
            if not result.calculable:
                reasons[name] = result.reason
                return math.nan
            return float(result.index)

        gex_total, used = market.gex_of(chains.values())
        if not used:
            reasons["gex_usd_per_pct"] = "no open interest in the slot's chains"
        prev_close, why = self._prev_close(data.day)
        if not math.isfinite(prev_close):
            reasons["prev_close"] = why
        bounds = market_calendar.session_bounds(data.day)
        return WindowContext(
            at=at, close_utc=bounds[1] if bounds else None, early_close=market_calendar.is_early_close(data.day),
            vix30=vix_value(30), vix9d=vix_value(9), gex_usd_per_pct=float(cents(gex_total)) if used else math.nan,
            prev_close=prev_close, monthly=market_calendar.next_monthly_expiration(data.day),
            fomc_days=tuple(d for d in self.fomc_days if d >= data.day)[:3], reasons=reasons,
        )

    def _forward(self, data: DayData, root: str, expiration: dt.date, at: dt.datetime) -> float:
        key = (root, expiration, ns(at))
        if key not in self._forwards:
            rows = data.chain_rows(root, expiration)
            bid, ask = data.quotes_at(rows, ns(at))
            fit = chain_forward(data.strike[rows], data.is_call[rows], bid, ask,
                                layout=self._layout(data, root, expiration))
            self._forwards[key] = fit.forward if fit.ok else math.nan
        return self._forwards[key]

    def _history(self, data: DayData, root: str, expiration: dt.date, at: dt.datetime) -> ForwardHistory:
        """The expiration's forward at the open and every 5 minutes over the last hour (NaN before the open)."""
        bounds = market_calendar.session_bounds(data.day)
        assert bounds is not None
        samples = tuple(self._forward(data, root, expiration, m) if m >= bounds[0] else math.nan
                        for m in history_minutes(at))
        return ForwardHistory(at_open=self._forward(data, root, expiration, bounds[0]), samples=samples)

    # ------------------------------------------------------------------------------ entries

    def _entries(self, data: DayData, chosen: dict[int, tuple[ExpiryChoice, str]],
                 context: dict[dt.time, set[tuple[str, dt.date]]]) -> None:
        day = data.day
        for window in sorted({w for s in self.strategies for w in s.windows}):
            at = window_instant(day, window)
            ctx = self._window_context(data, at, context[window])
            for s in (s for s in self.strategies if window in s.windows):
                candidate = self._evaluate(s, data, chosen[s.spec.target_dte], at, window, ctx)
                if candidate.passed:
                    entry = _Open(candidate)
                    self.alive.append(entry)
                    self.out._entries.append(entry)
                else:
                    self.out._entries.append(candidate)

    def _evaluate(self, s: Strategy, data: DayData, chosen: tuple[ExpiryChoice, str], at: dt.datetime,
                  window: dt.time, ctx: WindowContext) -> Candidate:
        choice, root = chosen
        if choice.expiration is None:
            evaluation = decision.missing(s.spec, window=ctx, reason_code=decision.NO_SNAPSHOT,
                                          reason_message=f"no {s.spec.target_dte}-DTE expiration: {choice.reason}")
            return Candidate(s.key, data.day, window, evaluation)
        a = self._chain(data, root, choice.expiration, at)
        key = (root, choice.expiration, ns(at))
        if a.fit.ok and a.t_years > 0 and key not in self._quotes:
            self._quotes[key] = decision.chain_quotes(a)  # one validated ChainQuotes per chain and minute
        evaluation = decision.evaluate(s.spec, ChainRead(a, choice.actual_dte_days), window=ctx,
                                       history=self._history(data, root, choice.expiration, at),
                                       quotes=self._quotes.get(key))
        return Candidate(s.key, data.day, window, evaluation, expiration=choice.expiration, root=root,
                         settles_at=settlement_for(choice.expiration, root) if evaluation.wants_to_trade else None)

    # ------------------------------------------------------------------------------ exits

    def _exits(self, data: DayData) -> None:
        if not self.alive:
            return
        stamps = check_stamps(data.day, self.params.exit_check_minutes)
        series = data.series(sorted({leg.symbol for p in self.alive for leg in _legs(p.candidate)}))
        bounds = market_calendar.session_bounds(data.day)
        close_ns = ns(bounds[1]) if bounds else 0
        still = []
        for p in self.alive:
            c = p.candidate
            assert c.settles_at is not None
            settles_ns = ns(c.settles_at)
            mine = stamps[(stamps >= ns(c.decided_at)) & (stamps <= settles_ns)]
            self._walk(p, mine, series)
            if p.exit is None and settles_ns <= close_ns:
                self._settle(p, data)
            if p.exit is None:
                still.append(p)
        self.alive = still

    def _walk(self, p: _Open, stamps: np.ndarray, series: dict[str, LegSeries]) -> None:
        """Mark ``p`` at each stamp; the first TP/SL — or, from its instant on, the time exit — closes
        it at that stamp's modelled debit (the strategy's frozen exit rules, ``spec.exits``)."""
        if stamps.size == 0:
            return
        c = p.candidate
        spread = c.evaluation.candidate
        assert spread is not None and c.expiration is not None and c.settles_at is not None
        exits = c.evaluation.spec.exits
        sb, sa = series[spread.short_leg.symbol].at(stamps)
        lb, la = series[spread.long_leg.symbol].at(stamps)
        width, credit = spread.width_points, spread.credit_fill
        prm = self.params
        usable, maybe_mask = exit_screen(sb, sa, lb, la, width_points=width, entry_credit=credit,
                                         take_profit_fraction=exits.take_profit_fraction,
                                         stop_loss_multiple=exits.stop_loss_multiple, fill_fraction=prm.fill_fraction)
        time_exit = rules.time_exit_for(exits, expiration=c.expiration, settles_at=c.settles_at)
        if time_exit is not None:
            # Only the first stamp from the time exit's instant that can be marked matters: it closes.
            due = usable & (stamps >= ns(time_exit.at)) & (stamps < ns(time_exit.settles_at))
            first = np.flatnonzero(due)[:1]
            maybe_mask = maybe_mask.copy()
            maybe_mask[first] = True
        for i in np.flatnonzero(maybe_mask):
            at = _utc(int(stamps[i]))
            step = rules.mark_step(float(sb[i]), float(sa[i]), float(lb[i]), float(la[i]), entry_credit=credit,
                                   width_points=width, exit_rules=exits, at=at, time_exit=time_exit,
                                   fraction=prm.fill_fraction)
            assert step is not None  # the screen only passes usable stamps
            debit_mid, debit_fill, signal = step
            if signal is not None:
                p.marks.append(Mark(at, debit_mid, debit_fill, signal.reason))
                p.exit = Exit(at, signal.reason, debit_fill, signal.message)
                return
        # Held through the day: one summary mark at the last usable stamp.
        last = np.flatnonzero(usable)
        if last.size:
            j = int(last[-1])
            debit_mid, debit_fill = rules.close_debit(float(sb[j]), float(sa[j]), float(lb[j]), float(la[j]),
                                                      width_points=width, fraction=prm.fill_fraction)
            p.marks.append(Mark(_utc(int(stamps[j])), debit_mid, debit_fill))

    def _settle(self, p: _Open, data: DayData) -> None:
        c = p.candidate
        spread = c.evaluation.candidate
        assert spread is not None and c.root is not None and c.expiration is not None and c.settles_at is not None
        key = (c.root, c.expiration)
        if key not in self._settlements:
            self._settlements[key] = settlement_estimate(data.series_quotes, data.listed(), root=c.root,
                                                         expiration=c.expiration, official=self.official)
        value = self._settlements[key]
        if value is None:
            return  # stays open; reported as open at the end of the data
        price, source = value
        signal = rules.settlement_exit(side=spread.side, short_strike=spread.short_leg.strike,
                                       long_strike=spread.long_leg.strike, settlement_price=price,
                                       entry_credit=spread.credit_fill)
        p.exit = Exit(c.settles_at, signal.reason, signal.debit_to_close, signal.message, price, source)


def _legs(c: Candidate) -> tuple[Leg, ...]:
    spread = c.evaluation.candidate
    return (spread.short_leg, spread.long_leg) if spread is not None else ()
