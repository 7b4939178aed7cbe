"""Live versus backtest, field by field: for days traded live (or live-style), what did the
backtest of the same days decide and how did its trades end?

Rows are paired on the decision's business key (trading day, entry window, strategy config). A
backtest reproduces live when it runs in ``shared`` risk scope (one budget, as live) with
``exit_check_minutes`` equal to the live marking interval (5), on the same quotes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from backtests.models import BacktestRun
from execution.models import Trade
from strategy.models import TradeDecision
from strategy.services import entry_filters_of, exit_rules_of

DECISION_FIELDS = ("action", "reason_code", "expiration", "short_symbol", "long_symbol", "credit_mid", "credit_fill",
                   "width_points", "exit_rules", "entry_filters")
TRADE_FIELDS = ("status", "entry_credit", "take_profit_debit", "stop_loss_debit", "exit_reason", "closed_at",
                "exit_debit", "settlement_price", "realized_pnl_usd")
OUTCOME_FIELDS = ("exit_reason", "exit_at", "exit_debit", "pnl_usd", "label")
FEATURE_TOLERANCE = 1e-9  # relative: the same quotes through the same code give the same floats


@dataclass(frozen=True)
class Difference:
    key: str  # "2026-03-16 10:00 config-name"
    field: str
    live: Any
    backtest: Any

    def __str__(self) -> str:
        return f"{self.key}: {self.field} live={self.live!r} backtest={self.backtest!r}"


@dataclass
class ParityReport:
    days: list[dt.date]
    decisions_compared: int
    trades_compared: int
    differences: list[Difference]
    outcomes_compared: int = 0

    @property
    def identical(self) -> bool:
        return not self.differences


def _decision_view(d: TradeDecision) -> dict[str, Any]:
    legs = d.legs or []
    return {
        "action": d.action, "reason_code": d.reason_code, "expiration": d.expiration,
        "short_symbol": legs[0]["symbol"] if legs else None, "long_symbol": legs[1]["symbol"] if len(legs) > 1 else None,
        "credit_mid": d.credit_mid, "credit_fill": d.credit_fill, "width_points": d.width_points,
        # The exit rules frozen on each side's decision (take profit, stop, time exit): the marks apply those.
        "exit_rules": exit_rules_of(d.config_params or {}),
        # And its entry filters (weekdays, event days, VIX and term ratio ranges, credit / width).
        "entry_filters": entry_filters_of(d.config_params or {}),
    }


def _feature_differences(label: str, a: TradeDecision, b: TradeDecision) -> list[Difference]:
    """Features equal within ``FEATURE_TOLERANCE`` (relative), missing (null) in the same places, same reasons."""
    fa, fb = a.features or {}, b.features or {}
    out = []
    for name in sorted(set(fa) | set(fb)):
        x, y = fa.get(name), fb.get(name)
        same = (x is None and y is None) or (
            x is not None and y is not None and math.isclose(float(x), float(y), rel_tol=FEATURE_TOLERANCE, abs_tol=1e-12))
        if not same:
            out.append(Difference(label, f"features.{name}", x, y))
    if set(a.feature_missing or {}) != set(b.feature_missing or {}):
        out.append(Difference(label, "feature_missing", sorted(a.feature_missing or {}), sorted(b.feature_missing or {})))
    return out


def _outcome_view(d: TradeDecision) -> dict[str, Any] | None:
    o = getattr(d, "outcome", None)
    if o is None or o.status != "resolved":
        return None
    return {f: getattr(o, f) for f in OUTCOME_FIELDS}


def _trade_view(t: Trade | None) -> dict[str, Any]:
    if t is None:
        return dict.fromkeys(TRADE_FIELDS)
    view = {f: getattr(t, f) for f in TRADE_FIELDS}
    # Still open when the compared days end: live says "open", the backtest "open at end of data".
    if view["status"] in (Trade.Status.OPEN, Trade.Status.OPEN_AT_END):
        view["status"] = "open at the end of the days compared"
    return view


def compare(run: BacktestRun, *, days: list[dt.date] | None = None, live_source: str | None = None) -> ParityReport:
    """Pair the run's decisions and trades with the live ones on the same days (``days`` or all the
    run's days that have live decisions) and list every field that differs."""
    live = TradeDecision.objects.filter(backtest_run__isnull=True).select_related("strategy_config", "outcome")
    if live_source:
        live = live.filter(source=live_source)
    mine = TradeDecision.objects.filter(backtest_run=run).select_related("strategy_config", "outcome")
    if days is None:
        days = sorted(set(live.filter(trading_day__range=(run.start_date, run.end_date))
                          .values_list("trading_day", flat=True)))
    live = live.filter(trading_day__in=days)
    mine = mine.filter(trading_day__in=days)

    def key_of(d: TradeDecision) -> tuple[dt.date, dt.time, int]:
        return d.trading_day, d.entry_window, d.strategy_config_id

    live_by = {key_of(d): d for d in live}
    mine_by = {key_of(d): d for d in mine}
    trades = {t.decision_id: t for t in Trade.objects.filter(decision__in=[*live_by.values(), *mine_by.values()])}
    diffs: list[Difference] = []
    trades_compared = outcomes_compared = 0
    for k in sorted(set(live_by) | set(mine_by), key=lambda k: (k[0], k[1], k[2])):
        a, b = live_by.get(k), mine_by.get(k)
        name = (a or b).strategy_config.name  # type: ignore[union-attr]
        label = f"{k[0]} {k[1]:%H:%M} {name}"
        if a is None or b is None:
            diffs.append(Difference(label, "decision", "missing" if a is None else a.action,
                                    "missing" if b is None else b.action))
            continue
        va, vb = _decision_view(a), _decision_view(b)
        diffs.extend(Difference(label, f, va[f], vb[f]) for f in DECISION_FIELDS if va[f] != vb[f])
        diffs.extend(_feature_differences(label, a, b))
        oa, ob = _outcome_view(a), _outcome_view(b)
        if oa is not None and ob is not None:  # both resolved (live may still be walking at the range's end)
            outcomes_compared += 1
            diffs.extend(Difference(label, f"outcome.{f}", oa[f], ob[f]) for f in OUTCOME_FIELDS if oa[f] != ob[f])
        ta, tb = trades.get(a.pk), trades.get(b.pk)
        if ta is None and tb is None:
            continue
        trades_compared += 1
        wa, wb = _trade_view(ta), _trade_view(tb)
        diffs.extend(Difference(label, f"trade.{f}", wa[f], wb[f]) for f in TRADE_FIELDS if wa[f] != wb[f])
    return ParityReport(days=list(days), decisions_compared=len(set(live_by) & set(mine_by)),
                        trades_compared=trades_compared, differences=diffs, outcomes_compared=outcomes_compared)
