"""Phase 1 of a backtest: replay trading days minute by minute and find every entry's fate.

For each trading day and entry window, every strategy looks at the quotes in force at that minute
for its DTE bucket's expiration and builds its spread with the live functions: our forward and
IV/delta (``snapshots.analytics.chain_analytics_arrays``), ``rules.select_spread`` with the fill
model, the same features. Each tradable spread becomes a *candidate* whose exit is then found by
walking the minutes that follow (every ``exit_check_minutes``, from the entry minute on) with the
live mark rule (``rules.mark_quotes_usable``, ``rules.close_debit``, ``rules.exit_due``) until it
takes profit, stops out or is cash-settled at its expiration (``rules.settlement_exit`` on the value
implied by the expiring chain, ``engine.settlement``).

A candidate's fate does not depend on any other trade, so phase 1 can run in parallel over chunks
of days; which candidates become trades — the risk rules, the ranking between strategies that share
a risk budget, the ML gate — is decided afterwards in time order (``engine.books``), which gives
exactly the decisions a sequential minute-by-minute replay makes.

Reads only what it needs: per day four quote columns, the entry minutes of the chosen expirations,
and the records of the open legs. Everything here is plain data (JSON-ready dicts), no database.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from backtests.engine.daydata import DayData, ns
from backtests.engine.settlement import Official, SeriesQuotes, settlement_chain_order, settlement_estimate
from snapshots import market_calendar
from snapshots.analytics import ChainAnalytics, chain_analytics_arrays, settlement_for
from snapshots.expiry_selection import ExpiryChoice, choose_expiration
from strategy.quant import rules
from strategy.quant.fills import COMPLEX_ORDER_TICK
from strategy.quant.types import ChainQuotes, NoCandidate, RiskLimits, SpreadRules
from strategy.services import NO_FORWARD, NO_SNAPSHOT, chain_quotes, features_of, leg_json

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Strategy:
    """One strategy of a run: a strategy config at some entry windows, in a risk book.

    ``key`` is unique in the run. Strategies with the same ``book`` share one risk budget (max open
    trades, trades per day, no new trade after a stop) and compete at a window like live configs do.
    """

    key: str
    config_id: int
    name: str
    params: dict[str, Any]
    rules: SpreadRules
    target_dte: int
    windows: tuple[dt.time, ...]
    priority: int
    limits: RiskLimits
    book: str


@dataclass(frozen=True)
class EngineParams:
    take_profit_frac: float = 0.5
    stop_loss_mult: float = 2.0
    fill_fraction: float = 0.30
    exit_check_minutes: int = 1
    dte_tolerance_days: int = 1
    fee_per_contract_usd: float = 0.0


@dataclass
class ChunkOutput:
    candidates: list[dict[str, Any]] = field(default_factory=list)
    days_read: list[str] = field(default_factory=list)
    read_s: float = 0.0
    compute_s: float = 0.0


def window_instant(day: dt.date, window: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, window, tzinfo=NEW_YORK).astimezone(dt.UTC)


def check_stamps(day: dt.date, every_minutes: int) -> np.ndarray:
    """Exit-check instants of a session (ns): open + k × step for k ≥ 1 while before the close —
    with a 5-minute step exactly the live snapshot slots at which positions are marked."""
    bounds = market_calendar.session_bounds(day)
    if bounds is None:
        return np.empty(0, dtype=np.int64)
    open_ns, close_ns = ns(bounds[0]), ns(bounds[1])
    step = every_minutes * 60 * 1_000_000_000
    return np.arange(open_ns + step, close_ns, step, dtype=np.int64)


def _utc(stamp_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp_ns // 1_000_000_000, tz=dt.UTC)


def exit_screen(
    sb: np.ndarray, sa: np.ndarray, lb: np.ndarray, la: np.ndarray, *, width_points: float, entry_credit: float,
    take_profit_frac: float, stop_loss_mult: float, fill_fraction: float = 0.30,
) -> tuple[np.ndarray, np.ndarray]:
    """(usable, maybe): which stamps can be marked, and which might trigger TP/SL.

    A vectorised float pre-filter for ``rules.exit_due`` on ``rules.close_debit``: the exact
    decimal rule runs only where ``maybe`` is set. The float debit differs from the exact one by
    less than a tick (rounding to the 0.05 tick is skipped here), and the margin is two ticks, so
    no trigger is missed (a property test checks it on random quotes).
    """
    with np.errstate(invalid="ignore"):
        usable = (np.isfinite(sb) & np.isfinite(sa) & np.isfinite(lb) & np.isfinite(la) & (sa > 0) & (la > 0)
                  & (sb >= 0) & (lb >= 0) & (sa >= sb) & (la >= lb))
        mid = (sb + sa) / 2 - (lb + la) / 2
        approx = np.clip(np.maximum(mid, 0) + fill_fraction * ((sa - sb) + (la - lb)), COMPLEX_ORDER_TICK, width_points)
        margin = 2 * COMPLEX_ORDER_TICK
        maybe = usable & ((approx <= entry_credit * (1 - take_profit_frac) + margin)
                          | (approx >= entry_credit * stop_loss_mult - margin))
    return usable, maybe


class DayReplayer:
    """Runs phase 1 over consecutive days; keeps the candidates still open between days."""

    def __init__(self, strategies: Sequence[Strategy], params: EngineParams,
                 load_day: Callable[[dt.date], DayData | None], official: Official | None = None) -> None:
        self.strategies = list(strategies)
        self.params = params
        self.load_day = load_day
        self.official = dict(official or {})
        self.alive: list[dict[str, Any]] = []
        self.out = ChunkOutput()
        self._analytics: dict[tuple[str, dt.date, int], ChainAnalytics] = {}
        self._quotes: dict[tuple[str, dt.date, int], ChainQuotes] = {}
        self._settlements: dict[tuple[str, dt.date], tuple[float, str] | None] = {}

    # ------------------------------------------------------------------------------ per day

    def run_day(self, day: dt.date, *, entries: bool) -> bool:
        """Replay ``day``: entries (if asked) then exits. False when the day has no data."""
        t0 = time.perf_counter()
        data = self.load_day(day)
        if data is None:
            return False
        chosen = self._expirations(data) if entries else {}
        rows = self._rows_needed(data, chosen)
        data.load(data.expirations_of(rows))
        t1 = time.perf_counter()
        self.out.read_s += t1 - t0
        self.out.days_read.append(day.isoformat())
        self._analytics.clear()
        self._quotes.clear()
        data.focus(rows)
        if entries:
            self._entries(data, chosen)
        self._exits(data)
        self.out.compute_s += time.perf_counter() - t1
        return True

    def _expirations(self, data: DayData) -> dict[int, tuple[ExpiryChoice, str]]:
        """The expiration (and root) each DTE target trades today, as the live capture chooses it."""
        listed = data.listed()
        dates = sorted({e for _, e in listed})
        out = {}
        for dte in sorted({s.target_dte for s in self.strategies}):
            choice = choose_expiration(data.day, dates, target_dte=dte, tolerance_days=self.params.dte_tolerance_days)
            root = "SPXW" if ("SPXW", choice.expiration) in listed else "SPX"
            out[dte] = (choice, root)
        return out

    def _rows_needed(self, data: DayData, chosen: dict[int, tuple[ExpiryChoice, str]]) -> np.ndarray:
        """Definition rows the day reads: the open legs, today's entry chains, and the chains that
        price the settlement of anything that may expire today (open trades or today's entries)."""
        parts = [data.rows_of_symbols(sorted({leg["symbol"] for c in self.alive for leg in c["legs"]}))]
        expiring = {(c["root"], dt.date.fromisoformat(c["expiration"])) for c in self.alive}
        for choice, root in chosen.values():
            if choice.expiration is not None:
                parts.append(data.chain_rows(root, choice.expiration))
                expiring.add((root, choice.expiration))
        bounds = market_calendar.session_bounds(data.day)
        for root, expiration in expiring:
            if bounds and settlement_for(expiration, root) <= bounds[1] and (root, expiration) not in self.official:
                parts.extend(data.chain_rows(r, e)
                             for r, e in settlement_chain_order(data.listed(), root=root, expiration=expiration))
        return np.concatenate(parts)

    def _chain(self, data: DayData, root: str, expiration: dt.date, at: dt.datetime) -> ChainAnalytics:
        key = (root, expiration, ns(at))
        if key not in self._analytics:
            rows = data.chain_rows(root, expiration)
            bid, ask = data.in_force(rows, ns(at))
            self._analytics[key] = chain_analytics_arrays(
                symbols=data.symbol[rows].astype(str), strikes=data.strike[rows], is_call=data.is_call[rows],
                bid=bid, ask=ask, root=root, expiration=expiration, at=at,
            )
        return self._analytics[key]

    def _entries(self, data: DayData, chosen: dict[int, tuple[ExpiryChoice, str]]) -> None:
        day = data.day
        windows = sorted({w for s in self.strategies for w in s.windows})
        for window in windows:
            at = window_instant(day, window)
            for s in (s for s in self.strategies if window in s.windows):
                self.out.candidates.append(self._evaluate(s, data, chosen[s.target_dte], at, window))

    def _evaluate(self, s: Strategy, data: DayData, chosen: tuple[ExpiryChoice, str], at: dt.datetime,
                  window: dt.time) -> dict[str, Any]:
        day = data.day
        c: dict[str, Any] = {
            "strategy": s.key, "day": day.isoformat(), "window": window.strftime("%H:%M"), "decided_at": at.isoformat(),
            "reason_code": "", "reason_message": "", "expiration": None, "root": None, "legs": [], "features": {},
            "credit_mid": None, "credit_fill": None, "width_points": None, "max_profit_usd": None,
            "max_loss_usd": None, "passed": False, "exit": None, "marks": [], "quantity": s.rules.quantity,
        }
        choice, root = chosen
        if choice.expiration is None:
            c["reason_code"], c["reason_message"] = NO_SNAPSHOT, f"no {s.target_dte}-DTE expiration: {choice.reason}"
            return c
        c["expiration"], c["root"] = choice.expiration.isoformat(), root
        a = self._chain(data, root, choice.expiration, at)
        if not a.fit.ok or a.t_years <= 0:
            c["reason_code"], c["reason_message"] = NO_FORWARD, f"no implied forward for the chain: {a.fit.reason}"
            c["features"] = self._features(s, at, choice.actual_dte_days, a, None)
            return c
        key = (root, choice.expiration, ns(at))
        if key not in self._quotes:  # one validated ChainQuotes per chain and minute, shared by the strategies
            self._quotes[key] = chain_quotes(a)
        result = rules.select_spread(self._quotes[key], s.rules)
        cand = result.candidate if isinstance(result, NoCandidate) else result
        c["features"] = self._features(s, at, choice.actual_dte_days, a, cand)
        if cand is not None:
            c.update(
                legs=[leg_json(cand.short_leg), leg_json(cand.long_leg)], credit_mid=cand.credit_mid,
                credit_fill=cand.credit_fill, width_points=cand.width_points,
                max_profit_usd=cand.max_profit_usd, max_loss_usd=cand.max_loss_usd,
            )
        if isinstance(result, NoCandidate):
            c["reason_code"], c["reason_message"] = result.reason, result.message
            return c
        c["passed"] = True
        c["settles_at"] = settlement_for(choice.expiration, root).isoformat()
        self.alive.append(c)
        return c

    def _features(self, s: Strategy, at: dt.datetime, actual_dte: int | None, a: ChainAnalytics, cand: Any) -> dict[str, Any]:
        return features_of(
            target_dte=s.target_dte, delta_target=s.rules.short_delta_target, side=s.rules.side,
            width_requested=s.rules.width_points, at=at, actual_dte_days=actual_dte, snapshot_age_minutes=0.0,
            a=a, context=None, candidate=cand,
        )

    # ------------------------------------------------------------------------------ exits

    def _exits(self, data: DayData) -> None:
        if not self.alive:
            return
        stamps = check_stamps(data.day, self.params.exit_check_minutes)
        symbols = sorted({leg["symbol"] for c in self.alive for leg in c["legs"]})
        series = data.series(symbols)
        bounds = market_calendar.session_bounds(data.day)
        close_ns = ns(bounds[1]) if bounds else 0
        still = []
        for c in self.alive:
            settles_ns = ns(dt.datetime.fromisoformat(c["settles_at"]))
            entry_ns = ns(dt.datetime.fromisoformat(c["decided_at"]))
            mine = stamps[(stamps >= entry_ns) & (stamps <= settles_ns)]
            self._walk(c, mine, series)
            if c["exit"] is None and settles_ns <= close_ns:
                self._settle(c, data)
            if c["exit"] is None:
                still.append(c)
        self.alive = still

    def _walk(self, c: dict[str, Any], stamps: np.ndarray, series: dict[str, Any]) -> None:
        """Mark ``c`` at each stamp; the first TP/SL closes it at that stamp's modelled debit."""
        if stamps.size == 0:
            return
        short, long_ = c["legs"]
        sb, sa = series[short["symbol"]].at(stamps)
        lb, lb_ask = series[long_["symbol"]].at(stamps)
        width = float(c["width_points"])
        credit = float(c["credit_fill"])
        usable, maybe_mask = exit_screen(sb, sa, lb, lb_ask, width_points=width, entry_credit=credit,
                                         take_profit_frac=self.params.take_profit_frac,
                                         stop_loss_mult=self.params.stop_loss_mult,
                                         fill_fraction=self.params.fill_fraction)
        maybe = np.flatnonzero(maybe_mask)
        for i in maybe:
            debit_mid, debit_fill = rules.close_debit(float(sb[i]), float(sa[i]), float(lb[i]), float(lb_ask[i]),
                                                      width_points=width, fraction=self.params.fill_fraction)
            signal = rules.exit_due(entry_credit=credit, debit_to_close=debit_fill,
                                    take_profit_frac=self.params.take_profit_frac,
                                    stop_loss_mult=self.params.stop_loss_mult)
            if signal is not None:
                at = _utc(int(stamps[i]))
                self._mark(c, at, debit_mid, debit_fill, signal.reason)
                c["exit"] = {"at": at.isoformat(), "reason": signal.reason, "debit": debit_fill,
                             "message": signal.message, "settlement_price": None, "settlement_source": ""}
                return
        # Held through the day: one summary mark at the last usable stamp.
        last = np.flatnonzero(usable)
        if last.size:
            i = int(last[-1])
            debit_mid, debit_fill = rules.close_debit(float(sb[i]), float(sa[i]), float(lb[i]), float(lb_ask[i]),
                                                      width_points=width, fraction=self.params.fill_fraction)
            self._mark(c, _utc(int(stamps[i])), debit_mid, debit_fill, "")

    def _mark(self, c: dict[str, Any], at: dt.datetime, debit_mid: float, debit_fill: float, signal: str) -> None:
        """A position mark as live stores it (raw floats; the writer rounds them as live does)."""
        c["marks"].append({"ts": at.isoformat(), "debit_mid": debit_mid, "debit_fill": debit_fill, "signal": signal})

    def _settle(self, c: dict[str, Any], data: DayData) -> None:
        expiration, root = dt.date.fromisoformat(c["expiration"]), c["root"]
        settles_at = dt.datetime.fromisoformat(c["settles_at"])

        def quotes_at(r: str, e: dt.date, at: dt.datetime) -> SeriesQuotes | None:
            rows = data.chain_rows(r, e)
            if rows.size == 0:
                return None
            bid, ask = data.in_force(rows, ns(at))
            return SeriesQuotes(data.strike[rows], data.is_call[rows], bid, ask)

        key = (root, expiration)
        if key not in self._settlements:
            self._settlements[key] = settlement_estimate(quotes_at, data.listed(), root=root, expiration=expiration,
                                                         official=self.official)
        value = self._settlements[key]
        if value is None:
            return  # stays open; reported as open at the end of the data
        price, source = value
        short, long_ = c["legs"]
        side = "call_credit" if short["is_call"] else "put_credit"
        signal = rules.settlement_exit(side=side, short_strike=short["strike"], long_strike=long_["strike"],
                                       settlement_price=price, entry_credit=float(c["credit_fill"]))
        c["exit"] = {"at": settles_at.isoformat(), "reason": signal.reason, "debit": signal.debit_to_close,
                     "message": signal.message, "settlement_price": price, "settlement_source": source}
