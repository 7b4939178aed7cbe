"""Decision pages: the list with filters (HTMX table partial) and one decision with its chain."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http.response import HttpResponseBase
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from snapshots.csv_export import csv_response, wants_csv
from snapshots.http import HtmxHttpRequest
from strategy.exports import DECISION_COLUMNS
from snapshots.paging import page_get
from snapshots.params import QueryParams
from snapshots.selectors import chain_view
from strategy import selectors
from strategy.models import StrategyConfig, TradeDecision

WINDOWS_PER_PAGE = 9  # entry windows per page: three trading days of 10:00, 11:00 and 12:00


def _filters(request: HtmxHttpRequest) -> tuple[dict[str, Any], list[str]]:
    """Query-string filters; bad values are reported on the page, never a traceback.

    The source defaults to the live books (live paper + simulated); ``source=backtest``, ``all`` or a
    ``run`` id brings a backtest's decisions in.
    """
    out, errors = selectors.source_filters(request.GET)
    params = QueryParams(request.GET)
    if (day := params.date("day")) is not None:
        out["day"] = day
    if (config := params.id("config", expected="a config id")) is not None:
        out["config_id"] = config
    if (action := params.choice("action", TradeDecision.Action.values, expected="TRADE or SKIP")) is not None:
        out["action"] = action
    if reason := request.GET.get("reason"):
        out["reason"] = reason
    errors += params.errors
    return out, errors


@require_GET
@login_required
def decision_list(request: HtmxHttpRequest) -> HttpResponseBase:
    filters, errors = _filters(request)
    template = "strategy/decision_list.html" + ("#decision-table" if request.htmx else "")
    decisions = selectors.decision_list(**filters, limit=None) if not errors else TradeDecision.objects.none()
    if wants_csv(request) and not errors:
        return csv_response("decisions.csv", DECISION_COLUMNS, decisions.iterator(chunk_size=500))
    # One page is a few whole entry windows, so a window's grouped SKIP counts are complete.
    paging = page_get(request, selectors.decision_windows(decisions), per_page=WINDOWS_PER_PAGE)
    # The page shows no features nor frozen config: a backtest window's 36 rows come without their JSON.
    page_rows = decisions.defer("features", "feature_missing", "config_params")
    rows = selectors.decision_rows(selectors.decisions_in_windows(page_rows, paging["page"]))
    return render(request, template, {
        **paging,
        "rows": rows,
        "errors": errors,
        "configs": StrategyConfig.objects.all(),
        "reasons": TradeDecision.objects.values_list("reason_code", flat=True).distinct().order_by("reason_code"),
        "sources": selectors.SOURCE_CHOICES,
        "source": filters["source"],
        "query": request.GET,
    })


@require_GET
@login_required
def decision_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    decision = get_object_or_404(TradeDecision.objects.select_related("strategy_config", "snapshot", "context"), pk=pk)
    chain = None
    if decision.snapshot is not None:
        strikes = [leg["strike"] for leg in decision.legs]
        # Centre the table between the chosen strikes rather than on the forward.
        center = (min(strikes) + max(strikes)) / 2 if strikes else None
        chain = chain_view(decision.snapshot, strikes_each_side=14, center=center)
        chain["chosen"] = strikes
    return render(request, "strategy/decision_detail.html",
                  {"decision": decision, "chain": chain, "feature_groups": selectors.feature_groups(decision)})
