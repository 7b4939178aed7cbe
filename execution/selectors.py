"""Reads for the execution app."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from execution.models import Trade
from execution.stats import ClosedTrade, PnlStats, pnl_stats, stats_by_bucket


def open_trade_expirations() -> list[dt.date]:
    return sorted(set(
        Trade.objects.filter(status__in=[Trade.Status.OPEN, Trade.Status.CLOSING, Trade.Status.OPENING])
        .exclude(source="backtest").values_list("expiration", flat=True)
    ))


def trade_list(*, source: str | None = None, status: str | None = None, backtest_run_id: int | None = None,
               limit: int = 200) -> QuerySet[Trade]:
    qs = Trade.objects.select_related("strategy_config", "decision")
    if source:
        qs = qs.filter(source=source)
    if status == "open":
        qs = qs.filter(status__in=[Trade.Status.OPENING, Trade.Status.OPEN, Trade.Status.CLOSING])
    elif status:
        qs = qs.filter(status=status)
    if backtest_run_id is not None:
        qs = qs.filter(backtest_run_id=backtest_run_id)
    return qs.order_by("-created_at")[:limit]


def bucket_of(trade: Trade) -> str:
    """DTE × delta × entry window × side, the grid the design reports PnL on."""
    d = trade.decision
    return f"{trade.strategy_config.target_dte}DTE {d.config_params.get('short_delta_target')}d " \
           f"{d.entry_window:%H:%M} {trade.side}"


def closed_trades(*, source: str | None = None, backtest_run_id: int | None = None) -> list[ClosedTrade]:
    qs = Trade.objects.filter(status=Trade.Status.CLOSED, backtest_run_id=backtest_run_id).select_related(
        "decision", "strategy_config")
    if source:
        qs = qs.filter(source=source)
    return [ClosedTrade(timezone.localtime(t.closed_at).date(), float(t.realized_pnl_usd or 0), bucket_of(t)) for t in qs]


def pnl_summary(*, source: str | None = None) -> tuple[PnlStats, dict[str, PnlStats]]:
    rows = closed_trades(source=source)
    return pnl_stats(rows), stats_by_bucket(rows)
