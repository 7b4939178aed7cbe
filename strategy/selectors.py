"""Reads for the strategy app."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from snapshots.models import ChainSnapshot, ContextSnapshot
from strategy.models import TradeDecision

NEW_YORK = ZoneInfo("America/New_York")


def latest_snapshot(*, underlying: str, target_dte: int, at: dt.datetime) -> ChainSnapshot | None:
    """The newest DTE-target snapshot of the bucket at or before ``at`` (its age is checked by the caller)."""
    return (
        ChainSnapshot.objects.filter(
            underlying=underlying, target_dte=target_dte, purpose=ChainSnapshot.Purpose.TARGET, ts__lte=at
        )
        .defer("payload_zstd")
        .order_by("-ts")
        .first()
    )


def context_at(*, underlying: str, ts: dt.datetime) -> ContextSnapshot | None:
    return ContextSnapshot.objects.filter(underlying=underlying, ts=ts).first()


@dataclass
class RiskState:
    open_trades: int
    entries_today: int
    stops_today: int


def risk_state(*, source: str, day: dt.date, backtest_run_id: int | None = None) -> RiskState:
    """Open trades, today's entries and today's stops for the risk rules.

    Open: trades not yet closed (their entry working, open, or closing), plus TRADE decisions whose
    trade has not been created yet (the hand-over is queued). Entries: today's TRADE decisions.
    Stops: trades closed by their stop-loss today (New York date).
    """
    from execution.models import Trade  # lazy: strategy does not import execution at load

    decisions = TradeDecision.objects.filter(
        source=source, backtest_run_id=backtest_run_id, action=TradeDecision.Action.TRADE
    )
    trades = Trade.objects.filter(source=source, backtest_run_id=backtest_run_id)
    open_statuses = [Trade.Status.OPENING, Trade.Status.OPEN, Trade.Status.CLOSING]
    start = dt.datetime.combine(day, dt.time(0), tzinfo=NEW_YORK)
    return RiskState(
        open_trades=trades.filter(status__in=open_statuses).count()
        + decisions.filter(trade__isnull=True, expiration__gte=day).count(),
        entries_today=decisions.filter(trading_day=day).count(),
        stops_today=trades.filter(exit_reason=Trade.ExitReason.STOP_LOSS, closed_at__gte=start,
                                  closed_at__lt=start + dt.timedelta(days=1)).count(),
    )


def decision_list(
    *,
    day: dt.date | None = None,
    config_id: int | None = None,
    action: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    limit: int = 200,
) -> QuerySet[TradeDecision]:
    qs = TradeDecision.objects.select_related("strategy_config", "snapshot").defer("snapshot__payload_zstd")
    if day:
        qs = qs.filter(trading_day=day)
    if config_id:
        qs = qs.filter(strategy_config_id=config_id)
    if action:
        qs = qs.filter(action=action)
    if reason:
        qs = qs.filter(reason_code=reason)
    if source:
        qs = qs.filter(source=source)
    return qs[:limit]
