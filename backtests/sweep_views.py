"""Sweep pages: the launch form with its live variant count, a sweep's results (heatmap, honest
selection, the variant table and its CSV), and one variant (equity curve, trades, materialise).

Thin: the form parses, ``services.sweeps`` launches, ``sweep_report`` computes; launching and
materialising need a staff login with ``backtests.add_backtestrun`` (``snapshots.permissions``),
as the run launch form and the API do."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from backtests import selectors, services, sweep_report
from backtests.models import BacktestRun
from backtests.services import sweeps
from backtests.services.sweep_materialise import variant_materialise
from backtests.sweep_forms import DEFAULT_WINDOWS, SweepLaunchForm
from snapshots.charts import equity_chart, usd
from snapshots.csv_export import csv_response
from snapshots.http import HtmxHttpRequest
from snapshots.paging import page_get
from snapshots.permissions import BACKTEST_LAUNCH, require_perm, user_can

VARIANT_TRADES_PER_PAGE = 100


def _launch(request: HtmxHttpRequest, form: SweepLaunchForm) -> BacktestRun | None:
    """Create and queue the sweep of a valid form; a refusal goes on the form's field (or above it)."""
    data = form.cleaned_data
    # A double-submitted form carries the same key and lands on the sweep the first submit created.
    key = (request.POST.get("idempotency_key") or "").strip()[:80] or None
    try:
        run, created = sweeps.sweep_create(
            config=data["config"], dims=form.dims, start=data["start"], end=data["end"],
            exit_check_minutes=data["exit_check_minutes"], chunk_days=data.get("chunk_days") or services.DEFAULT_CHUNK_DAYS,
            name=data.get("name") or "", idempotency_key=key)
    except services.BacktestError as exc:
        if exc.fields:
            for name, messages in exc.fields.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
        else:
            form.add_error(None, str(exc))
        return None
    if created:
        sweeps.sweep_launch(run)
    return run


@require_http_methods(["GET", "POST"])
@login_required
def sweep_new(request: HtmxHttpRequest) -> HttpResponse:
    """The launch form; an HTMX GET with the form's values answers just the variant count."""
    if request.htmx and request.method == "GET":
        return render(request, "backtests/sweep_new.html#sweep-count", {"preview": SweepLaunchForm(request.GET).preview()})
    ranges = selectors.data_ranges()
    if request.method == "POST":
        require_perm(request, BACKTEST_LAUNCH)
        form = SweepLaunchForm(request.POST)
        if form.is_valid() and (run := _launch(request, form)) is not None:
            return redirect("backtests:sweep-detail", pk=run.pk)
        preview = form.preview()
    else:
        form = SweepLaunchForm()
        initial: dict[str, Any] = {"window": DEFAULT_WINDOWS}
        if ranges:
            # Default to the latest run of imported days: a launch that works as it stands.
            initial.update(start=ranges[-1]["start"], end=ranges[-1]["end"])
            form.initial.update(start=ranges[-1]["start"], end=ranges[-1]["end"])
        preview = SweepLaunchForm(initial).preview()
    return render(request, "backtests/sweep_new.html", {
        "form": form, "preview": preview, "data_ranges": ranges, "can_launch": user_can(request.user, BACKTEST_LAUNCH),
        # A fresh key per rendering: after a refusal nothing was created, so the next submit is a new launch.
        "launch_key": uuid.uuid4().hex,
    })


def _sweep_or_404(pk: int) -> BacktestRun | HttpResponse:
    """The sweep run ``pk``; 404 for no run, the run's own page for a run that is not a sweep."""
    run = selectors.run_get(pk)
    if run is None:
        raise Http404("no such backtest run")
    if not selectors.run_is_sweep(run):
        return redirect("backtests:run-detail", pk=run.pk)
    return run


@require_GET
@login_required
def sweep_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = _sweep_or_404(pk)
    if isinstance(run, HttpResponse):
        return run
    target = request.htmx.target if request.htmx else None
    context: dict[str, Any] = {
        "run": run, "progress": selectors.run_progress(run), "query": request.GET,
        "spec": sweep_report.spec_rows(run.params), "variants_total": run.params["sweep"]["variants"],
    }
    if run.status == BacktestRun.Status.DONE:
        table_only = target == "variant-table"  # a page of the table: no daily PnL needed
        res = selectors.sweep_results(run, with_daily=not table_only)
        q = sweep_report.sweep_query(request.GET, res.dims, run.days_total if table_only else len(res.days))
        paging = page_get(request, sweep_report.variants_sorted(res.variants, q.sort),
                          per_page=sweep_report.VARIANTS_PER_PAGE)
        names = list(res.dims)
        context.update({
            **paging, "q": q, "errors": q.errors, "dim_names": names,
            "dim_labels": [sweep_report.DIM_LABELS.get(n, n) for n in names],
            "headers": sweep_report.table_headers(q),
            "index_query": sweep_report.query_string(q, sort="-index" if q.sort == "index" else "index"),
            "rows": [sweep_report.variant_row(v, names) for v in paging["page"]],
        })
        if not table_only:
            context.update({
                "heatmap": sweep_report.heatmap(res, q), "controls": sweep_report.controls(res, q),
                "wf": sweep_report.walk_forward_panel(res, q), "dsr": sweep_report.deflated_sharpe_panel(res),
                "pbo": sweep_report.pbo_panel(res, q), "n_days": len(res.days),
            })
    if not request.htmx:
        return render(request, "backtests/sweep_detail.html", context)
    partial = "variant-table" if target == "variant-table" and run.status == BacktestRun.Status.DONE else "sweep-live"
    response = render(request, f"backtests/sweep_detail.html#{partial}", context)
    if partial == "sweep-live" and run.finished:
        # Nothing will change any more: swap in the results and tell htmx to stop polling (286).
        return HttpResponseStopPolling(response.content)
    return response


@require_GET
@login_required
def sweep_variants_csv(request: HtmxHttpRequest, pk: int) -> HttpResponseBase:
    """Every variant's dimensions and figures (``metrics["summary"]`` unformatted), in index order."""
    run = _sweep_or_404(pk)
    if isinstance(run, HttpResponse):
        return run
    res = selectors.sweep_results(run, with_daily=False)
    return csv_response(f"sweep-{run.pk}-variants.csv", sweep_report.csv_columns(list(res.dims)), res.variants)


def _variant_page(request: HtmxHttpRequest, run: BacktestRun, index: int, *, error: str = "",
                  status: int = 200) -> HttpResponse:
    res = selectors.sweep_results(run)
    variant = next((v for v in res.variants if v.index == index), None)
    if variant is None:
        raise Http404("no such variant")
    curve = sweep_report.variant_curve(res, index)
    summary = sweep_report.summary_of(variant)
    paging = page_get(request, selectors.sweep_variant_trades(run, index), per_page=VARIANT_TRADES_PER_PAGE)
    template = "backtests/sweep_variant.html" + ("#variant-trades" if request.htmx else "")
    return render(request, template, {
        **paging, "run": run, "variant": variant, "metrics": variant.metrics or {},
        "dims": [{"label": sweep_report.DIM_LABELS.get(n, n), "text": sweep_report.value_text(n, variant.dims.get(n)),
                  "n": len(vs)} for n, vs in res.dims.items()],
        "summary": selectors.summary_rows(summary),
        "equity": equity_chart(curve), "drawdown": equity_chart(sweep_report.drawdown_curve(curve), label="drawdown", cls="dd"),
        "curve_total": usd(curve[-1][1]) if curve else "", "n_days": len(res.days),
        "trades": paging["page"], "child": variant.materialized_run,
        "can_materialise": user_can(request.user, BACKTEST_LAUNCH), "error": error,
    }, status=status)


def _done_sweep(pk: int) -> BacktestRun | HttpResponse:
    run = _sweep_or_404(pk)
    if isinstance(run, BacktestRun) and run.status != BacktestRun.Status.DONE:
        return redirect("backtests:sweep-detail", pk=run.pk)  # no variants before the sweep is assembled
    return run


@require_GET
@login_required
def sweep_variant(request: HtmxHttpRequest, pk: int, index: int) -> HttpResponse:
    run = _done_sweep(pk)
    if isinstance(run, HttpResponse):
        return run
    return _variant_page(request, run, index)


@require_POST
@login_required
def sweep_variant_materialise(request: HtmxHttpRequest, pk: int, index: int) -> HttpResponse:
    """Write the variant as an ordinary run (``variant_materialise``: idempotent) and show its links."""
    require_perm(request, BACKTEST_LAUNCH)
    run = _done_sweep(pk)
    if isinstance(run, HttpResponse):
        return run
    if not run.sweep_variants.filter(index=index).exists():
        raise Http404("no such variant")
    try:
        variant_materialise(run, index)
    except services.BacktestError as exc:
        return _variant_page(request, run, index, error=str(exc), status=400)
    return redirect("backtests:sweep-variant", pk=run.pk, index=index)
