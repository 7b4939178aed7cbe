"""A run's metrics from its trades: summary, per-bucket grid, equity curve (``run.metrics``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backtests.engine import metrics as metrics_mod
from backtests.models import BacktestRun
from backtests.services.params import trading_days
from execution.models import PositionMark, Trade
from strategy.models import TradeDecision
from strategy.quant.timemodel import NEW_YORK


def run_metrics(run: BacktestRun, trades: Sequence[Trade]) -> dict[str, Any]:
    """Summary, per-bucket grid (DTE × delta × window × side) and the daily equity curve."""
    days = trading_days(run.start_date, run.end_date)
    closed = []
    open_at_end = [t for t in trades if t.status != Trade.Status.CLOSED]
    last_marks = {m.trade_id: m for m in PositionMark.objects.filter(trade__in=open_at_end).order_by("ts")}
    for t in trades:
        if t.status != Trade.Status.CLOSED:
            continue
        d = t.decision
        assert t.closed_at is not None and t.realized_pnl_usd is not None and t.entry_credit is not None
        assert t.max_profit_usd is not None and t.max_loss_usd is not None
        closed.append(metrics_mod.ClosedTrade(
            entry_day=d.trading_day, exit_day=t.closed_at.astimezone(NEW_YORK).date(),
            pnl_usd=float(t.realized_pnl_usd), entry_credit=float(t.entry_credit), max_profit_usd=float(t.max_profit_usd),
            max_loss_usd=float(t.max_loss_usd), exit_reason=t.exit_reason,
            bucket=(int(d.config_params["target_dte"]), float(d.config_params["short_delta_target"]),
                    d.entry_window.strftime("%H:%M"), t.side),
        ))
    summary = metrics_mod.summarise(closed, days)
    curve = metrics_mod.equity_curve(closed, days)
    buckets = metrics_mod.by_bucket(closed, days)
    decisions = TradeDecision.objects.filter(backtest_run=run)
    return {
        "summary": summary.as_dict(),
        "decisions": decisions.count(),
        "trade_decisions": decisions.filter(action="TRADE").count(),
        # Every trade of the run = closed (in the summary) + open at the end of the data (valued at
        # their last mark, kept out of the realized figures).
        "trades_total": len(trades),
        "open_trades": len(open_at_end),
        "open_at_end_mtm_usd": round(sum(float(m.unrealized_pnl_usd) for m in last_marks.values()), 2),
        "open_at_end_unmarked": sum(1 for t in open_at_end if t.pk not in last_marks),
        "equity": [{"day": p.day.isoformat(), "pnl_usd": round(p.pnl_usd, 2), "equity_usd": round(p.equity_usd, 2),
                    "drawdown_usd": round(p.drawdown_usd, 2)} for p in curve],
        "buckets": [{"bucket": metrics_mod.bucket_label(k), "dte": k[0], "delta": k[1], "window": k[2], "side": k[3],
                     **m.as_dict()} for k, m in buckets.items()],
    }
