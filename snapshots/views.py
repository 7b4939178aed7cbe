"""HTMX pages for snapshots: the latest list (self-refreshing), run-now, and one snapshot's chain."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from snapshots.http import HtmxHttpRequest
from snapshots.paging import page_get
from snapshots.params import QueryParams
from snapshots import market_calendar, selectors
from snapshots.permissions import FORCE_CAPTURE, require_perm, user_can
from snapshots.models import ChainSnapshot
from snapshots.providers.base import ProviderError
from snapshots.services import snapshot_capture

ALL = "all"
# The snapshot page's chain reaches out to these deltas on both sides (the strategy sells 0.10–0.20).
CHAIN_MIN_ABS_DELTA = 0.05
MAX_DTE_DAYS = 3660  # a DTE target filter past ten years matches nothing anyway


def _filters(request: HtmxHttpRequest) -> tuple[dict[str, Any], list[str]]:
    """Query-string filters; bad values are reported on the page, never a traceback. The purpose
    defaults to the DTE-target chains (the VIX terms and open-position chains are a choice away)."""
    errors: list[str] = []
    out: dict[str, Any] = {"purpose": ChainSnapshot.Purpose.TARGET}
    purpose = request.GET.get("purpose")
    if purpose == ALL:
        out["purpose"] = None
    elif purpose:
        if purpose in ChainSnapshot.Purpose.values:
            out["purpose"] = purpose
        else:
            errors.append(f"purpose must be one of {', '.join([*ChainSnapshot.Purpose.values, ALL])}")
    params = QueryParams(request.GET)
    if (dte := params.integer("dte", min_value=0, max_value=MAX_DTE_DAYS,
                                expected="a whole number of days")) is not None:
        out["target_dte"] = dte
    return out, errors + params.errors


@require_GET
@login_required
def snapshot_list(request: HtmxHttpRequest) -> HttpResponse:
    template = "snapshots/snapshot_list.html" + ("#snapshot-table" if request.htmx else "")
    now = timezone.now()
    filters, errors = _filters(request)
    snapshots = selectors.snapshot_list(**filters, limit=None) if not errors else ChainSnapshot.objects.none()
    return render(
        request,
        template,
        {
            **page_get(request, snapshots),
            "errors": errors,
            "purposes": [*ChainSnapshot.Purpose.choices, (ALL, "all")],
            "purpose": filters["purpose"] or ALL,
            "query": request.GET,
            "failures": selectors.failure_list(limit=10),
            "market_open": market_calendar.is_session_open(now),
            "can_capture": user_can(request.user, FORCE_CAPTURE),
            "now": now,
            "settings_view": {
                "provider": settings.MARKET_DATA_PROVIDER,
                "interval": settings.SNAPSHOT_INTERVAL_MINUTES,
                "targets": settings.SNAPSHOT_DTE_TARGETS,
                "outside_rth": settings.ALLOW_SNAPSHOT_OUTSIDE_RTH,
            },
        },
    )


@require_POST
@login_required
def snapshot_run(request: HtmxHttpRequest) -> HttpResponse:
    # A capture calls the provider (rate limits, a paid feed): staff with the permission only.
    require_perm(request, FORCE_CAPTURE)
    error = ""
    result = None
    try:
        result = snapshot_capture(now=timezone.now(), force=True)
    except ProviderError as exc:
        error = str(exc)
    return render(request, "snapshots/snapshot_list.html#run-result", {"result": result, "error": error})


@require_GET
@login_required
def snapshot_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    snapshot = get_object_or_404(ChainSnapshot, pk=pk)
    return render(
        request,
        "snapshots/snapshot_detail.html",
        {
            "snapshot": snapshot,
            "chain": selectors.chain_view(snapshot, strikes_each_side=10, min_abs_delta=CHAIN_MIN_ABS_DELTA),
            "context": selectors.context_for(snapshot),
            "checksum_ok": snapshot.verify_checksum(),
        },
    )
