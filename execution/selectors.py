"""Reads for the execution app."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from execution.models import AdoptedOrder, Order, PositionMark, Source, Trade, TradeLeg
from snapshots.models import ContextSnapshot
from execution.stats import ClosedTrade, PnlStats, pnl_stats, stats_by_bucket
from strategy import selectors as strategy_selectors
from strategy.models import TradeDecision
from strategy.quant.decision import BookState
from strategy.quant.osi import parse_symbol
from strategy.quant.timemodel import NEW_YORK

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


# The lists' source filter values (strategy.selectors.source_filters parses them).
LIVE, ALL = strategy_selectors.LIVE, strategy_selectors.ALL


# The decision's bulky columns, which no list of trades shows (the CSV joins the decision for its window).
DECISION_BULK = tuple(f"decision__{name}" for name in ("config_params", "legs", "features", "feature_missing"))


def trade_list(*, source: str | None = None, status: str | None = None, backtest_run_id: int | None = None,
               config_id: int | None = None, limit: int | None = 200) -> QuerySet[Trade]:
    """Trades newest entry first (opened, or decided for an entry that never filled).

    ``source``: a ``Source`` value, ``"live"`` (live paper + simulated, without a backtest run) or
    None/``"all"`` for every row. ``limit=None`` leaves the queryset unsliced (for a paginator).
    ``entry_at``: the opening time, else the decision's time; the decision itself is not loaded.
    """
    # Neither the decision nor the run is joined: the run is shown by id (joined, its metrics JSON came
    # back once per row), and the decision is needed only for the entry time of a trade never filled,
    # which COALESCE looks up for those rows alone. So the sort reads the trades table, not the decisions'.
    qs = Trade.objects.select_related("strategy_config")
    if source == LIVE:
        qs = qs.filter(backtest_run__isnull=True).exclude(source=Source.BACKTEST)
    elif source and source != ALL:
        qs = qs.filter(source=source)
    if config_id is not None:
        qs = qs.filter(strategy_config_id=config_id)
    if status == "open":
        qs = qs.filter(status__in=[Trade.Status.OPENING, Trade.Status.OPEN, Trade.Status.CLOSING])
    elif status:
        qs = qs.filter(status=status)
    if backtest_run_id is not None:
        qs = qs.filter(backtest_run_id=backtest_run_id)
    decided_at = TradeDecision.objects.filter(pk=OuterRef("decision_id")).values("decided_at")[:1]
    qs = qs.annotate(entry_at=Coalesce("opened_at", Subquery(decided_at))).order_by(F("entry_at").desc(), "-pk")
    return qs if limit is None else qs[:limit]


def bucket_of(trade: Trade) -> str:
    """DTE × delta × entry window × side, the grid the design reports PnL on."""
    d = trade.decision
    return bucket_label(trade.strategy_config.target_dte, d.config_params.get("short_delta_target"), d.entry_window,
                        trade.side)


def bucket_label(target_dte: int, delta_target: Any, window: dt.time, side: str) -> str:
    """``bucket_of``'s label from its parts: the config's DTE, the decision's frozen delta target, window, side."""
    return f"{target_dte}DTE {delta_target}d {window:%H:%M} {side}"


def closed_trades(*, source: str | None = None, backtest_run_id: int | None = None) -> list[ClosedTrade]:
    return [row for _, row in _closed_rows(source=source, backtest_run_id=backtest_run_id)]


def _closed_rows(*, source: str | None = None, backtest_run_id: int | None = None) -> list[tuple[str, ClosedTrade]]:
    """(source, ClosedTrade) of each closed trade: plain values, one query, no model instances (the
    dashboard and the trades page summarise the whole live book on every refresh)."""
    qs = Trade.objects.filter(status=Trade.Status.CLOSED, backtest_run_id=backtest_run_id)
    if source:
        qs = qs.filter(source=source)
    # The frozen delta as text, as bucket_of prints it ("0.100"; a JSON key transform would decode it
    # to 0.1 on SQLite). In the trades' own order, so the sums add up in the same order every time.
    rows = qs.order_by("-opened_at", "-pk").values_list("source", "closed_at", "realized_pnl_usd", "strategy_config__target_dte",
                                     KeyTextTransform("short_delta_target", "decision__config_params"),
                                     "decision__entry_window", "side")
    return [(src, ClosedTrade(timezone.localtime(closed_at).date(), float(pnl or 0),
                              bucket_label(dte, delta, window, side)))
            for src, closed_at, pnl, dte, delta, window, side in rows]


def pnl_summary(*, source: str | None = None) -> tuple[PnlStats, dict[str, PnlStats]]:
    rows = closed_trades(source=source)
    return pnl_stats(rows), stats_by_bucket(rows)


def pnl_summaries(sources: Iterable[str], *, bucket_source: str | None = None
                  ) -> tuple[dict[str, PnlStats], dict[str, PnlStats]]:
    """``pnl_summary(source=s)``'s stats for each of ``sources`` and ``pnl_summary(source=bucket_source)``'s
    buckets (every live trade's when None), from one read of the closed trades."""
    rows = _closed_rows()
    stats = {s: pnl_stats([row for src, row in rows if src == s]) for s in sources}
    return stats, stats_by_bucket([row for src, row in rows if bucket_source in (None, src)])


# ------------------------------------------------------------------------------------ pages and API

# The status filters of ``trade_list`` offered to pages and the API: "open" means not closed yet.
STATUS_FILTERS = ("open", "closed", "not_filled")
# The page adds the backtest-only state (a run's trade still open when the data ended).
PAGE_STATUS_FILTERS = (*STATUS_FILTERS, "open_at_end")


def trade_get(pk: int) -> Trade | None:
    """One trade with its legs (short first), orders (oldest first) with their fills, and marks by slot."""
    return (
        Trade.objects.select_related("strategy_config", "decision", "backtest_run")
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
        [t.last_mark_id for t in trades if t.last_mark_id]
    )
    return [OpenPosition(t, marks.get(t.last_mark_id)) for t in trades]


@dataclass(frozen=True)
class AdoptedPosition:
    """The filled part of a broker order no strategy placed (recovered or external): its own line."""

    order: AdoptedOrder
    expiration: dt.date | None  # the latest of its legs' expirations; None if a symbol is not OSI


def adopted_positions(*, today: dt.date | None = None) -> list[AdoptedPosition]:
    """Adopted orders with a fill whose legs have not all expired (B1 #13, #14): shown beside the
    strategies' positions, marked by origin. They are not a strategy's trade, so ``risk_state``
    does not count them against any config's max open trades."""
    today = today or timezone.now().astimezone(NEW_YORK).date()
    out = []
    for order in AdoptedOrder.objects.filter(filled_quantity__gt=0).order_by("broker_created_at", "pk"):
        try:
            expiration = max(parse_symbol(str(leg.get("option_symbol", ""))).expiration for leg in order.legs)
        except ValueError:
            expiration = None  # not an option package we can read: shown, never hidden
        if expiration is None or expiration >= today:
            out.append(AdoptedPosition(order, expiration))
    return out


def stats_row(stats: PnlStats, *, label: str) -> dict[str, Any]:
    """``PnlStats`` for a table row: ratios undefined without trades (NaN) become None, and a profit
    factor without any losing trade (∞) is flagged, so a page never prints "nan" or "inf"."""

    def finite(value: float) -> float | None:
        return value if math.isfinite(value) else None

    return {
        "label": label, "trades": stats.trades, "winners": stats.winners,
        "win_rate": finite(stats.win_rate), "expectancy_usd": finite(stats.expectancy_usd),
        "profit_factor": finite(stats.profit_factor), "profit_factor_infinite": math.isinf(stats.profit_factor),
        "max_drawdown_usd": stats.max_drawdown_usd, "total_pnl_usd": stats.total_pnl_usd,
    }


def forward_path(trade: Trade, stamps: list[dt.datetime]) -> list[tuple[dt.datetime, float]]:
    """The implied forward of the trade's expiration at each mark slot, from the slot's stored market
    context (``ContextSnapshot.forwards``; the SPX quote where that chain's fit failed). Slots without
    a stored context (a backtest's marks) are left out."""
    if not stamps:
        return []
    contexts = ContextSnapshot.objects.filter(ts__in=stamps).only("ts", "forwards", "spx_price")
    out = []
    for ctx in sorted(contexts, key=lambda c: c.ts):
        forward = next((f.get("forward") for f in ctx.forwards or []
                        if f.get("expiration") == trade.expiration.isoformat() and f.get("root") == trade.root
                        and f.get("ok") and f.get("forward") is not None), None)
        if forward is None and ctx.spx_price is not None:
            forward = float(ctx.spx_price)
        if forward is not None:
            out.append((ctx.ts, float(forward)))
    return out
