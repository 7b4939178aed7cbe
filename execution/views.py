"""Trade pages: the list with filters and PnL (one HTMX panel partial) and one trade with its marks chart."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http.response import HttpResponseBase
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from snapshots.http import HtmxHttpRequest
from execution import selectors
from execution.models import Source, Trade
from execution.rows import trade_rows
from snapshots import charts
from execution.exports import TRADE_COLUMNS
from snapshots.csv_export import csv_response, wants_csv
from snapshots.paging import page_get
from snapshots.params import QueryParams
from strategy.models import StrategyConfig
from strategy.selectors import SOURCE_CHOICES, source_filters

# The books summarised side by side. Backtest trades belong to their run (``closed_trades`` reads
# only trades without a run), so a backtest row here would always be empty.
STATS_SOURCES = (Source.LIVE_PAPER, Source.SIMULATED)
FINAL_STATUSES = (Trade.Status.CLOSED, Trade.Status.NOT_FILLED, Trade.Status.OPEN_AT_END)


def _filters(request: HtmxHttpRequest) -> tuple[dict[str, Any], list[str]]:
    """Query-string filters; bad values are reported on the page, never a traceback.

    The source defaults to the live books (live paper + simulated); ``source=backtest``, ``all`` or a
    ``run`` id brings backtest trades in.
    """
    out, errors = source_filters(request.GET)
    params = QueryParams(request.GET)
    if (status := params.choice("status", selectors.PAGE_STATUS_FILTERS)) is not None:
        out["status"] = status
    if (config := params.id("config", expected="a config id")) is not None:
        out["config_id"] = config
    errors += params.errors
    return out, errors


@require_GET
@login_required
def trade_list(request: HtmxHttpRequest) -> HttpResponseBase:
    filters, errors = _filters(request)
    template = "execution/trade_list.html" + ("#trade-panel" if request.htmx else "")
    source = filters["source"] if filters["source"] in Source.values else None
    # The stats of each book and the buckets of the chosen source (every live book by default), from one read.
    book_stats, buckets = selectors.pnl_summaries(STATS_SOURCES, bucket_source=source)
    trades = selectors.trade_list(**filters, limit=None) if not errors else Trade.objects.none()
    if wants_csv(request) and not errors:
        rows = trades.select_related("decision").defer(*selectors.DECISION_BULK)  # the entry window column
        return csv_response("trades.csv", TRADE_COLUMNS, rows.iterator(chunk_size=500))
    paging = page_get(request, trades)
    return render(request, template, {
        **paging,
        "trade_rows": trade_rows(paging["page"]),
        "errors": errors,
        "stats": [selectors.stats_row(book_stats[s], label=s.label) for s in STATS_SOURCES],
        "buckets": [selectors.stats_row(b, label=name) for name, b in buckets.items()],
        "bucket_source": Source(source).label if source else "live sources",
        "configs": StrategyConfig.objects.all(),
        "statuses": selectors.PAGE_STATUS_FILTERS,
        "sources": SOURCE_CHOICES,
        "source": filters["source"],
        "query": request.GET,
    })


def _forward_chart(trade: Trade, marks: list[Any]) -> dict[str, Any] | None:
    """The forward at each mark with the entry and the exit (the settlement value at expiry) as markers."""
    path = selectors.forward_path(trade, [m.ts for m in marks])
    if not path:
        return None
    entry = (trade.opened_at, path[0][1]) if trade.opened_at else None
    exit_value = float(trade.settlement_price) if trade.settlement_price is not None else path[-1][1]
    exit = (trade.closed_at, exit_value) if trade.closed_at else None
    strikes = [("short", float(trade.short_strike)), ("long", float(trade.long_strike))]
    return charts.forward_chart(path, entry=entry, exit=exit, strikes=strikes)


@require_GET
@login_required
def trade_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    trade = selectors.trade_get(pk)
    if trade is None:
        raise Http404("no such trade")
    marks = list(trade.marks.all())
    legs = list(trade.legs.all())
    orders = list(trade.orders.all())
    final = trade.status in FINAL_STATUSES
    template = "execution/trade_detail.html" + ("#trade-live" if request.htmx else "")
    response = render(request, template, {
        "trade": trade,
        "legs": legs,
        "has_exit_prices": any(leg.exit_price is not None for leg in legs),
        "orders": orders,
        "fills": sorted((f for o in orders for f in o.fills.all()), key=lambda f: f.filled_at),
        "marks": marks,
        "last_mark": marks[-1] if marks else None,
        "forward": _forward_chart(trade, marks),
        "chart": charts.marks_chart(
            [charts.MarkPoint(m.ts, m.debit_fill, m.debit_mid, m.unrealized_pnl_usd, m.signal) for m in marks],
            [("tp", "take profit", trade.take_profit_debit), ("sl", "stop loss", trade.stop_loss_debit),
             ("credit", "entry credit", trade.entry_credit)]),
        "live": not final,
    })
    if request.htmx and final:
        # Nothing will change any more: swap in this last state and tell htmx to stop polling (286).
        return HttpResponseStopPolling(response.content)
    return response
