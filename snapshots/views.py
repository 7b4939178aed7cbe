"""HTMX pages for snapshots: the latest list (self-refreshing), run-now, and one snapshot's chain."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from snapshots.http import HtmxHttpRequest
from snapshots import market_calendar, selectors
from snapshots.models import ChainSnapshot
from snapshots.providers.base import ProviderError
from snapshots.services import snapshot_capture


@require_GET
@login_required
def snapshot_list(request: HtmxHttpRequest) -> HttpResponse:
    template = "snapshots/snapshot_list.html" + ("#snapshot-table" if request.htmx else "")
    now = timezone.now()
    return render(
        request,
        template,
        {
            "snapshots": selectors.snapshot_list(limit=60),
            "failures": selectors.failure_list(limit=10),
            "market_open": market_calendar.is_session_open(now),
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
            "chain": selectors.chain_view(snapshot),
            "context": selectors.context_for(snapshot),
            "checksum_ok": snapshot.verify_checksum(),
        },
    )
