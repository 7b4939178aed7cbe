"""Per-config exit rules with their defaults change nothing: a backtest of the seeded grid on the
compact days gives the rows it gave before the rules moved onto the configs (issue 16 §1).

The fingerprint below was recorded with the code before that change (the global
TAKE_PROFIT_FRACTION 0.5 / STOP_LOSS_MULTIPLE 2.0 settings); it covers every decision, trade,
outcome and mark in money and time fields (rounded values only, so it does not depend on the
last bit of a float)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from backtests import services
from backtests.tests.conftest import COMPACT_DAYS, HOLIDAY_DAYS
from execution.models import PositionMark, Trade
from strategy.models import DecisionOutcome, StrategyConfig, TradeDecision

pytestmark = pytest.mark.django_db

# Recorded before the change: (sha256, exits by reason).
GOLDEN_COMPACT = "6df3b34edb8d5d876911f6c6c14af81dc2dc41aafd349b5db03bc88e98c6b24e"  # 28 TP, 35 SL, 9 open at the end
GOLDEN_HOLIDAY = "e7cd5a1860d940e549439f8d5d44038adbecd69f3c8cdb6637f8882c03a8bf98"  # 53 TP, 26 SL, 1 settled, 7 open


def fingerprint(run) -> tuple[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    order = ("trading_day", "entry_window", "strategy_config__name")
    rows: dict[str, list] = {
        "decisions": list(TradeDecision.objects.filter(backtest_run=run).order_by(*order).values_list(
            "trading_day", "entry_window", "strategy_config__name", "action", "reason_code", "credit_mid", "credit_fill",
            "expiration")),
        "trades": list(Trade.objects.filter(backtest_run=run).order_by(*(f"decision__{f}" for f in order)).values_list(
            "decision__trading_day", "decision__entry_window", "strategy_config__name", "status", "entry_credit",
            "take_profit_debit", "stop_loss_debit", "exit_reason", "closed_at", "exit_debit", "settlement_price",
            "fees_usd", "realized_pnl_usd")),
        "outcomes": list(DecisionOutcome.objects.filter(decision__backtest_run=run)
                         .order_by(*(f"decision__{f}" for f in order)).values_list(
            "decision__trading_day", "decision__entry_window", "decision__strategy_config__name", "status",
            "exit_reason", "exit_at", "exit_debit", "pnl_usd", "label")),
        "marks": list(PositionMark.objects.filter(trade__backtest_run=run)
                      .order_by(*(f"trade__decision__{f}" for f in order), "ts").values_list(
            "trade__decision__trading_day", "trade__decision__entry_window", "trade__strategy_config__name", "ts",
            "debit_mid", "debit_fill", "unrealized_pnl_usd", "signal")),
    }
    text = json.dumps(rows, default=str, separators=(",", ":"))
    exits: dict[str, int] = {}
    for t in Trade.objects.filter(backtest_run=run):
        exits[t.exit_reason or t.status] = exits.get(t.exit_reason or t.status, 0) + 1
    return hashlib.sha256(text.encode()).hexdigest(), exits


def test_default_exit_rules_reproduce_the_recorded_rows(compact_market: Path) -> None:
    """Every config × window its own strategy, exits checked every minute (TP and SL exits)."""
    params = services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1],
                                   configs=StrategyConfig.objects.all(), exit_check_minutes=1)
    run = services.run_execute_inline(services.run_create(params, name="golden")[0])
    assert run.status == "done"
    sha, exits = fingerprint(run)
    assert sha == GOLDEN_COMPACT, exits


def test_default_exit_rules_reproduce_the_recorded_rows_of_a_holiday_week(market_dir: Path, holiday_files: list[Path],
                                                                        seeded_grid: list) -> None:
    """Thanksgiving week 2026 as live runs it (one budget, exits every 5 minutes): settlements too."""
    from backtests.data.dbn_import import import_files

    import_files(holiday_files, root_dir=market_dir, workers=1)
    params = services.params_build(start=HOLIDAY_DAYS[0], end=HOLIDAY_DAYS[-1], configs=StrategyConfig.objects.all(),
                                   risk_scope="per_strategy", exit_check_minutes=5)
    run = services.run_execute_inline(services.run_create(params, name="golden")[0])
    assert run.status == "done"
    sha, exits = fingerprint(run)
    assert sha == GOLDEN_HOLIDAY, exits
