"""Synthetic candidates (``mlmodels.synthetic``) stored as a backtest run's decisions and outcomes,
so the services, pages and API train on what ``ml_dataset`` reads, without replaying OPRA days."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from backtests.models import BacktestRun
from backtests.tests.factories import BacktestRunFactory
from mlmodels import synthetic
from snapshots.providers.simulated_market import regime_preset
from strategy.models import DecisionOutcome, Source, TradeDecision
from strategy.quant.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from strategy.tests.factories import StrategyConfigFactory

PLANTED = regime_preset("strong")


def stored_run(rows: list[dict[str, Any]], *, source: str = Source.BACKTEST) -> BacktestRun | None:
    """Store ``rows`` as decisions (TRADE, the fill credit, features, schema) with resolved outcomes:
    of a new done backtest run, or live ones (``source`` live/simulated: returns None)."""
    run = BacktestRunFactory(done=True) if source == Source.BACKTEST else None
    configs = {name: StrategyConfigFactory(name=name) for name in sorted({r["strategy"] for r in rows})}
    decisions = [
        TradeDecision(
            trading_day=r["trading_day"], entry_window=dt.time.fromisoformat(r["entry_window"]),
            strategy_config=configs[r["strategy"]], config_params={}, source=source, backtest_run=run,
            decided_at=r["entry_at"], action=TradeDecision.Action.TRADE, reason_code="ok",
            credit_fill=Decimal(str(round(r["credit_fill"], 2))), width_points=Decimal("25"),
            features={n: (None if not math.isfinite(r[n]) else r[n]) for n in FEATURE_NAMES},
            feature_schema=FEATURE_SCHEMA_VERSION,
        ) for r in rows
    ]
    TradeDecision.objects.bulk_create(decisions, batch_size=2000)
    stored = {(d.trading_day, d.entry_window, d.strategy_config_id): d
              for d in TradeDecision.objects.filter(backtest_run=run, source=source)}
    DecisionOutcome.objects.bulk_create([
        DecisionOutcome(
            decision=stored[(r["trading_day"], dt.time.fromisoformat(r["entry_window"]), configs[r["strategy"]].pk)],
            method=DecisionOutcome.Method.BACKTEST if run else DecisionOutcome.Method.SHADOW,
            status=DecisionOutcome.Status.RESOLVED, entry_credit=Decimal(str(round(r["credit_fill"], 2))),
            exit_reason=r["exit_reason"], exit_at=r["exit_at"], pnl_usd=Decimal(str(round(r["pnl_usd"], 2))),
            holding_minutes=r["holding_minutes"], label=r["label"],
        ) for r in rows
    ], batch_size=2000)
    return run


def planted_rows(start: dt.date, end: dt.date, seed: int = 3) -> list[dict[str, Any]]:
    return synthetic.candidates(seed, start, end, regime=PLANTED)
