"""The dashboard (``/``): market status, next entry window, the active meta-labelers and their drift
flags, open positions with their latest mark, today's decisions, the equity curve and PnL stats. One page, refreshed as one HTMX partial."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from snapshots.http import HtmxHttpRequest
from execution import selectors as execution_selectors
from execution.models import Source
from mlmodels.models import ModelVersion
from mlmodels.monitoring import PSI_FLAG, drift_flags
from snapshots import charts, market_calendar, selectors as snapshot_selectors
from strategy import selectors as strategy_selectors
from strategy.quant.timemodel import NEW_YORK
from strategy.services import ENTRY_WINDOWS, default_source


def next_entry_window(now: dt.datetime) -> dt.datetime:
    """The first 10:00/11:00/12:00 New York window strictly after ``now`` on a trading day (aware, New York)."""
    day = now.astimezone(NEW_YORK).date()
    if not market_calendar.is_trading_day(day):
        day = market_calendar.next_trading_day(day)
    while True:  # at most two rounds: every window of the next trading day is after now
        for window in ENTRY_WINDOWS:
            at = dt.datetime.combine(day, window, tzinfo=NEW_YORK)
            if at > now:
                return at
        day = market_calendar.next_trading_day(day)


@require_GET
@login_required
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    errors: list[str] = []
    source = request.GET.get("source") or default_source()
    if source not in Source.values:
        errors.append(f"source must be one of {', '.join(Source.values)}; showing {default_source()}")
        source = default_source()
    now = timezone.now()
    today = now.astimezone(NEW_YORK).date()
    stats, _ = execution_selectors.pnl_summary(source=source)
    template = "dashboard.html" + ("#dashboard-panel" if request.htmx else "")
    return render(request, template, {
        "errors": errors,
        "now": now,
        "today": today,
        "market_open": market_calendar.is_session_open(now),
        "session": market_calendar.session_bounds(today),
        "early_close": market_calendar.is_early_close(today),
        "next_window": next_entry_window(now),
        "latest_snapshot": snapshot_selectors.snapshot_list(limit=1).first(),
        "levels": snapshot_selectors.latest_levels(),
        "positions": execution_selectors.open_positions(),
        "adopted_positions": execution_selectors.adopted_positions(today=today),
        "decisions": strategy_selectors.decision_list(day=today, source=source),
        "source_label": Source(source).label,
        "stats": [execution_selectors.stats_row(stats, label=Source(source).label)],
        "equity": charts.equity_chart(stats.equity_curve),
        "models": _active_models(),
        "psi_flag": PSI_FLAG,
        "query": request.GET,
    })


def _active_models() -> list[dict[str, object]]:
    """Each active meta-labeler with its drift flags (PSI ≥ 0.25 of a feature or the score)."""
    return [{"model": mv, "flags": drift_flags(mv)}
            for mv in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)]
