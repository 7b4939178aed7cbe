"""Decision pages: the list with filters (HTMX table partial) and one decision with its chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from snapshots.http import HtmxHttpRequest
from snapshots.selectors import chain_view
from strategy import selectors
from strategy.models import StrategyConfig, TradeDecision


def _filters(request: HtmxHttpRequest) -> tuple[dict[str, Any], list[str]]:
    """Query-string filters; bad values are reported on the page, never a traceback."""
    errors: list[str] = []
    out: dict[str, object] = {}
    if day := request.GET.get("day"):
        try:
            out["day"] = dt.date.fromisoformat(day)
        except ValueError:
            errors.append(f"day {day!r} is not a date (YYYY-MM-DD)")
    if config := request.GET.get("config"):
        if config.isdigit():
            out["config_id"] = int(config)
        else:
            errors.append("config must be a config id")
    if action := request.GET.get("action"):
        if action in TradeDecision.Action.values:
            out["action"] = action
        else:
            errors.append("action must be TRADE or SKIP")
    if reason := request.GET.get("reason"):
        out["reason"] = reason
    return out, errors


@require_GET
@login_required
def decision_list(request: HtmxHttpRequest) -> HttpResponse:
    filters, errors = _filters(request)
    template = "strategy/decision_list.html" + ("#decision-table" if request.htmx else "")
    return render(request, template, {
        "decisions": selectors.decision_list(**filters) if not errors else [],
        "errors": errors,
        "configs": StrategyConfig.objects.all(),
        "reasons": TradeDecision.objects.values_list("reason_code", flat=True).distinct().order_by("reason_code"),
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
