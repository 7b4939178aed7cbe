"""Parameter sweeps: a variant equals the same config run alone (trades, exits, PnL, rows once
materialised), the shared exit path equals walking each variant, the spec is refused before any
work, launches are idempotent, reruns give the same result file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from backtests import selectors, services
from backtests.models import BacktestRun
from backtests.services import sweeps
from backtests.tests.conftest import COMPACT_DAYS
from execution.models import PositionMark, Trade, TradeLeg
from strategy.models import StrategyConfig, TradeDecision

START, END = COMPACT_DAYS[0], COMPACT_DAYS[-1]
DIMS: dict[str, list[Any]] = {
    "target_dte": [0, 3], "side": ["put", "call"], "short_delta_target": ["0.10", "0.20"],
    "take_profit_fraction": ["0.3", "0.5"], "stop_loss_multiple": ["1", "2"], "exit_at_time": ["none", "14:00"],
}
WINDOWS = ["10:00", "11:00"]


def _base() -> StrategyConfig:
    return StrategyConfig.objects.get(name="3DTE put 10d")


def _sweep(name: str = "sweep", **kw: Any) -> BacktestRun:
    run, _ = sweeps.sweep_create(config=_base(), dims=kw.pop("dims", DIMS), windows=kw.pop("windows", WINDOWS),
                                 start=START, end=END, name=name, **kw)
    return services.run_execute_inline(run)


def _alone(run: BacktestRun, index: int) -> BacktestRun:
    """The variant's config saved as a config of its own and backtested alone."""
    strategy = sweeps.variant_strategy(run.params, index)
    frozen = dict(strategy["params"], name=f"alone {index}")
    config = StrategyConfig.objects.create(**frozen)
    params = services.params_build(start=START, end=END, configs=[config], windows=strategy["windows"])
    return services.run_execute_inline(services.run_create(params, name=f"alone {index}")[0])


TRADE_FIELDS = ("side", "root", "expiration", "quantity", "short_strike", "long_strike", "width_points", "opened_at",
                "entry_credit", "max_profit_usd", "max_loss_usd", "take_profit_debit", "stop_loss_debit", "status",
                "closed_at", "exit_reason", "exit_debit", "settlement_price", "settlement_source", "fees_usd",
                "realized_pnl_usd")


def _trades(run: BacktestRun) -> list[tuple[Any, ...]]:
    return [tuple(getattr(t, f) for f in TRADE_FIELDS) + (t.decision.trading_day, t.decision.entry_window)
            for t in Trade.objects.filter(backtest_run=run).select_related("decision").order_by("opened_at", "pk")]


def _rows(run: BacktestRun) -> tuple[list[Any], ...]:
    skip = {"id", "backtest_run", "strategy_config", "created_at", "updated_at", "decision", "trade"}
    dec = [tuple(v for k, v in sorted(d.items()) if k not in skip and not k.endswith("_id"))
           for d in TradeDecision.objects.filter(backtest_run=run).order_by("decided_at", "pk").values()]
    for d in dec:
        pass
    trades = _trades(run)
    legs = list(TradeLeg.objects.filter(trade__backtest_run=run).order_by("trade__opened_at", "pk")
                .values_list("symbol", "side", "strike", "option_type", "quantity", "entry_price", "exit_price"))
    marks = list(PositionMark.objects.filter(trade__backtest_run=run).order_by("trade__opened_at", "ts")
                 .values_list("ts", "debit_mid", "debit_fill", "signal", "unrealized_pnl_usd"))
    return dec, trades, legs, marks


def _file_trades(run: BacktestRun, index: int) -> list[tuple[Any, ...]]:
    out = []
    for r in selectors.sweep_variant_trades(run, index):
        out.append((r["side"], r["root"], r["expiration"], r["quantity"], Decimal(str(r["short_strike"])),
                    Decimal(str(r["long_strike"])), r["entry_credit"], r["status"], r["exit_at"], r["exit_reason"],
                    r["exit_debit"], r["settlement_price"], r["fees_usd"], r["realized_pnl_usd"], r["trading_day"],
                    r["entry_window"], r["decided_at"], r["max_profit_usd"], r["max_loss_usd"]))
    return out


def _as_file(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    f = {name: i for i, name in enumerate(TRADE_FIELDS)}
    out = []
    for t in rows:
        out.append((t[f["side"]], t[f["root"]], t[f["expiration"]], t[f["quantity"]], t[f["short_strike"]],
                    t[f["long_strike"]], t[f["entry_credit"]], t[f["status"]], t[f["closed_at"]],
                    t[f["exit_reason"]], t[f["exit_debit"]], t[f["settlement_price"]],
                    t[f["fees_usd"]] if t[f["status"]] == "closed" else None, t[f["realized_pnl_usd"]],
                    t[-2], t[-1].strftime("%H:%M"), t[f["opened_at"]], t[f["max_profit_usd"]], t[f["max_loss_usd"]]))
    return out


@pytest.mark.django_db(transaction=True)
def test_smoke(compact_market: Path) -> None:
    run = _sweep()
    assert run.status == BacktestRun.Status.DONE, run.error
    res = selectors.sweep_results(run)
    print(run.metrics, run.timings, len(res.variants))
    print(res.variants[0].metrics)
    n = sum(v.metrics["trades_total"] for v in res.variants)
    print("variant trades", n)
    reasons = {}
    for v in res.variants:
        for k, c in v.metrics["summary"]["exits"].items():
            reasons[k] = reasons.get(k, 0) + c
    print(reasons)
    import collections
    agg = collections.Counter()
    for v in res.variants:
        agg[(v.dims["target_dte"], v.dims["exit_at_time"], "open")] += v.metrics["open_trades"]
        for k, c in v.metrics["summary"]["exits"].items():
            agg[(v.dims["target_dte"], v.dims["exit_at_time"], k)] += c
    print(sorted(agg.items(), key=str))
    for r in selectors.sweep_variant_trades(run, 0)[:5]:
        print(r)
