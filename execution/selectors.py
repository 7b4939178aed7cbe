"""Reads for the execution app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from execution.models import Order, PositionMark, Source, Trade, TradeLeg
from execution.stats import ClosedTrade, PnlStats, pnl_stats, stats_by_bucket
from strategy.models import TradeDecision
from strategy.quant.decision import BookState

NEW_YORK = ZoneInfo("America/New_York")
NOT_CLOSED = (Trade.Status.OPENING, Trade.Status.OPEN, Trade.Status.CLOSING)


def risk_state(source: str, day: dt.date) -> BookState:
    """Open trades, today's entries and today's stops of the live book, for the risk rules.

    Open: trades not yet closed (their entry working, open, or closing), plus TRADE decisions whose
    trade has not been created yet (the hand-over is queued). Entries: today's TRADE decisions.
    Stops: trades closed by their stop-loss today (New York date).
    """
    decisions = TradeDecision.objects.filter(source=source, backtest_run_id=None, action=TradeDecision.Action.TRADE)
    trades = Trade.objects.filter(source=source, backtest_run_id=None)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=NEW_YORK)
    return BookState(
        open_trades=trades.filter(status__in=NOT_CLOSED).count()
        + decisions.filter(trade__isnull=True, expiration__gte=day).count(),
        entries_today=decisions.filter(trading_day=day).count(),
        stops_today=trades.filter(exit_reason=Trade.ExitReason.STOP_LOSS, closed_at__gte=start,
                                  closed_at__lt=start + dt.timedelta(days=1)).count(),
    )


def open_trade_expirations() -> list[dt.date]:
    return sorted(set(
        Trade.objects.filter(status__in=NOT_CLOSED).exclude(source=Source.BACKTEST).values_list("expiration", flat=True)
    ))


def trade_list(*, source: str | None = None, status: str | None = None, backtest_run_id: int | None = None,
               config_id: int | None = None, limit: int = 200) -> QuerySet[Trade]:
    qs = Trade.objects.select_related("strategy_config", "decision")
    if source:
        qs = qs.filter(source=source)
    if config_id is not None:
        qs = qs.filter(strategy_config_id=config_id)
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


# ------------------------------------------------------------------------------------ pages and API

# The status filters of ``trade_list`` offered to pages and the API: "open" means not closed yet.
STATUS_FILTERS = ("open", "closed", "not_filled")


def trade_get(pk: int) -> Trade | None:
    """One trade with its legs (short first), orders (oldest first) with their fills, and marks by slot."""
    return (
        Trade.objects.select_related("strategy_config", "decision")
        .prefetch_related(
            # "-side": "sell" sorts after "buy", so the short leg comes first
            Prefetch("legs", queryset=TradeLeg.objects.order_by("-side", "strike")),
            Prefetch("orders", queryset=Order.objects.order_by("created_at", "pk").prefetch_related("fills")),
            Prefetch("marks", queryset=PositionMark.objects.order_by("ts")),
        )
        .filter(pk=pk)
        .first()
    )


def latest_mark(trade: Trade) -> PositionMark | None:
    return trade.marks.order_by("-ts").first()


@dataclass(frozen=True)
class OpenPosition:
    trade: Trade
    mark: PositionMark | None  # the latest; None until the first mark after the fill


def open_positions() -> list[OpenPosition]:
    """Trades not closed yet (entry working, open, closing), live and simulated, each with its latest mark.

    Backtest trades are left out: a run's positions belong to its own page, not to the live book.
    """
    last_mark = PositionMark.objects.filter(trade=OuterRef("pk")).order_by("-ts").values("pk")[:1]
    trades = list(
        Trade.objects.filter(status__in=NOT_CLOSED).exclude(source=Source.BACKTEST)
        .select_related("strategy_config").annotate(last_mark_id=Subquery(last_mark)).order_by("expiration", "pk")
    )
    marks = PositionMark.objects.in_bulk(
        [t.last_mark_id for t in trades if t.last_mark_id]  # type: ignore[attr-defined]
    )
    return [OpenPosition(t, marks.get(t.last_mark_id)) for t in trades]  # type: ignore[attr-defined]


def linear_scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (v - lo) / span * (out_hi - out_lo)


def marks_chart(trade: Trade, marks: Sequence[PositionMark], *, width: int = 720,
                height: int = 260) -> dict[str, Any] | None:
    """SVG geometry of a trade's marks: the fill-model debit to close at each slot, with the take-profit and
    stop-loss debits and the entry credit as horizontal lines (points per share).

    x is the slot's rank, not its time, so nights and weekends take no room; a label marks each new day.
    """
    if not marks:
        return None
    left, right, top, bottom = 50, width - 110, 16, height - 28
    debits = [float(m.debit_fill) for m in marks]
    named = (("tp", "take profit", trade.take_profit_debit), ("sl", "stop loss", trade.stop_loss_debit),
             ("credit", "entry credit", trade.entry_credit))
    levels = [(key, label, float(value)) for key, label, value in named if value is not None]
    # The debit to close is never negative, so 0 is a natural floor and keeps charts comparable.
    hi = max(debits + [value for _, _, value in levels]) * 1.08
    y = linear_scale(0.0, hi, bottom, top)
    n = len(marks)
    x = (lambda i: (left + right) / 2) if n == 1 else (lambda i: left + i / (n - 1) * (right - left))
    days, previous_day = [], None
    dots = []
    for i, mark in enumerate(marks):
        local = mark.ts.astimezone(NEW_YORK)
        if local.date() != previous_day:
            days.append({"x": round(x(i), 1), "label": f"{local:%a %m-%d}"})
            previous_day = local.date()
        dots.append({"x": round(x(i), 1), "y": round(y(debits[i]), 1), "signal": mark.signal,
                     "title": f"{local:%m-%d %H:%M} ET debit {mark.debit_fill} (mid {mark.debit_mid}), "
                              f"unrealized ${mark.unrealized_pnl_usd}"})
    return {
        "width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "days": days,
        "levels": [{"key": key, "label": label, "value": value, "y": round(y(value), 1)} for key, label, value in levels],
        "y_max": hi, "n": n,
    }


def equity_chart(curve: Sequence[tuple[dt.date, float]], *, width: int = 720,
                 height: int = 220) -> dict[str, Any] | None:
    """SVG geometry of the equity curve (cumulative realized PnL, USD, one point per close date).

    It starts from 0, the account's starting equity, as ``stats.pnl_stats`` measures the drawdown from.
    """
    if not curve:
        return None
    left, right, top, bottom = 64, width - 16, 14, height - 26
    values = [0.0] + [float(v) for _, v in curve]
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    y = linear_scale(lo, hi, bottom, top)
    x = linear_scale(0, len(values) - 1, left, right)
    # Axis labels at the top, the bottom and 0, each once (0 is often the top or the bottom too).
    labels = {round(v): round(y(v), 1) for v in (hi, lo, 0.0)}
    return {
        "width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
        "points": " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values)),
        "zero_y": round(y(0.0), 1), "labels": [{"text": text, "y": label_y} for text, label_y in labels.items()],
        "last_day": curve[-1][0], "last": values[-1],
        "last_x": round(x(len(values) - 1), 1), "last_y": round(y(values[-1]), 1),
    }
