"""Backtest pages: the runs with the launch form, one run (live progress, then its results) and two
runs compared. Launching and cancelling need a staff login with ``backtests.add_backtestrun`` /
``backtests.cancel_run`` (``snapshots.permissions``), as a staff session needs them on the API."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http.response import HttpResponseBase
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from snapshots.http import HtmxHttpRequest
from backtests import capital, parity, selectors, services
from backtests.forms import CapitalForm, RunLaunchForm
from backtests.models import BacktestRun
from snapshots.charts import MONTHS, curves_chart, equity_chart, histogram_chart, monthly_table
from snapshots.csv_export import csv_response
from snapshots.paging import page_get
from snapshots.params import QueryParams
from snapshots.permissions import BACKTEST_CANCEL, BACKTEST_LAUNCH, require_perm, user_can

LIST_LIMIT = 100
RUNS_PER_PAGE = 25


def _launch(request: HtmxHttpRequest, form: RunLaunchForm) -> BacktestRun | None:
    """Create and queue the run of a valid form; a refusal (no data, bad window …) goes on the form."""
    data = form.cleaned_data
    # A double-submitted form carries the same key and lands on the run the first submit created.
    key = (request.POST.get("idempotency_key") or "").strip()[:80] or None
    try:
        params = services.params_build(
            start=data["start"], end=data["end"], configs=data["configs"], windows=data["windows"],
            risk_scope=data["risk_scope"], exit_check_minutes=data["exit_check_minutes"],
            chunk_days=data.get("chunk_days") or services.DEFAULT_CHUNK_DAYS,
            ml_model=(data.get("ml_model") or "").strip() or None,
        )
        # The default of the run's capital and sizing view (a view over its trades: no row depends on it).
        params["sizing"] = capital.sizing_params(capital_usd=data.get("capital_usd"),
                                                 risk_fraction=data.get("risk_fraction"))
        run, created = services.run_create(params, name=data.get("name") or "", idempotency_key=key)
    except services.BacktestError as exc:
        if exc.fields and set(exc.fields) <= set(form.fields):
            for name, messages in exc.fields.items():
                for message in messages:
                    form.add_error(name, message)
        else:
            form.add_error(None, str(exc))
        return None
    if created:
        services.run_launch(run)
    return run


@require_http_methods(["GET", "POST"])
@login_required
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    form = RunLaunchForm()
    ranges = selectors.data_ranges() if not request.htmx else []
    if ranges:
        # Default to the latest run of imported days: a launch that works as it stands.
        form.initial.update(start=ranges[-1]["start"], end=ranges[-1]["end"])
    if request.method == "POST":
        require_perm(request, BACKTEST_LAUNCH)
        form = RunLaunchForm(request.POST)
        if form.is_valid() and (run := _launch(request, form)) is not None:
            return redirect("backtests:run-detail", pk=run.pk)
    paging = page_get(request, selectors.run_list(limit=None), per_page=RUNS_PER_PAGE)
    runs = list(paging["page"])
    active = any(not r.finished for r in runs)
    template = "backtests/run_list.html" + ("#run-table" if request.htmx else "")
    response = render(request, template, {
        **paging,
        "query": request.GET,
        "runs": [_row(r) for r in runs],
        "active": active,
        "form": form,
        # A fresh key per rendering: after a refusal nothing was created, so the next submit is a new launch.
        "launch_key": uuid.uuid4().hex,
        "can_launch": user_can(request.user, BACKTEST_LAUNCH),
        "data_ranges": ranges,
    })
    if request.htmx and not active:
        return HttpResponseStopPolling(response.content)
    return response


def _row(run: BacktestRun) -> dict[str, Any]:
    strategies, configs = selectors.run_strategy_counts(run)
    summary = (run.metrics or {}).get("summary") or {}
    return {
        "run": run, "strategies": strategies, "configs": configs, "progress": selectors.run_progress(run),
        "trades": summary.get("trades"), "pnl": summary.get("total_pnl_usd"),
        "pnl_text": selectors.metric_text(summary.get("total_pnl_usd"), "usd") if summary else "",
        "win_rate": selectors.metric_text(summary.get("win_rate"), "pct") if summary else "",
    }


@require_GET
@login_required
def run_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = _run_or_404(pk)
    context: dict[str, Any] = {
        "run": run, "progress": selectors.run_progress(run), "chunks": selectors.run_chunks(run),
        "can_cancel": user_can(request.user, BACKTEST_CANCEL) and not run.finished,
    }
    if run.status == BacktestRun.Status.DONE:
        sizing = _capital_context(request, run)
        if request.htmx and request.htmx.target == "capital-sizing":
            # The sizing form's own swap: that section alone, none of the page's other queries.
            return render(request, "backtests/run_detail.html#capital-sizing", {"run": run, **sizing})
        context.update(sizing)
        # The results exist only once the run is assembled; a poll of a running run stays cheap.
        metrics = run.metrics or {}
        context.update({
            "summary": selectors.summary_rows(metrics.get("summary") or {}),
            "metrics": metrics,
            "equity": equity_chart(selectors.equity_points(metrics, "equity_usd")),
            "drawdown": equity_chart(selectors.equity_points(metrics, "drawdown_usd"), label="drawdown", cls="dd"),
            "monthly": monthly_table(selectors.equity_points(metrics, "pnl_usd")),
            "histogram": histogram_chart(selectors.run_trade_pnls(run)),
            "heatmap": selectors.bucket_heatmap(metrics.get("buckets") or []),
            "buckets": selectors.bucket_rows(metrics.get("buckets") or []),
            "trades": selectors.run_trades(run),
            "trade_count": selectors.run_trade_count(run),
            "trades_shown": selectors.RUN_TRADES_PAGE,
            "reasons": selectors.decision_reasons(run),
        })
    if not request.htmx:
        strategies, configs = selectors.run_strategy_counts(run)
        context.update({"strategies": strategies, "configs": configs,
                        "strategy_params": (run.params or {}).get("strategies", [])})
    template = "backtests/run_detail.html" + ("#run-live" if request.htmx else "")
    response = render(request, template, context)
    if request.htmx and run.finished:
        # Nothing will change any more: swap in this last state and tell htmx to stop polling (286).
        return HttpResponseStopPolling(response.content)
    return response


CAPITAL_INPUTS = ("capital_usd", "risk_fraction", "book")


def _capital_context(request: HtmxHttpRequest, run: BacktestRun) -> dict[str, Any]:
    """The "Capital and sizing" section: its form (the run's sizing unless the query says otherwise)
    and, when the inputs are valid, the run's trades sized by them (``backtests.capital``)."""
    if selectors.run_is_sweep(run):
        # A sweep's variant trades live in its Parquet results, not in Trade rows: materialise a variant to size it.
        return {"capital_sweep": True, "capital_form": None, "capital": None}
    books = capital.run_books(run)
    defaults = capital.sizing_default(run)
    asked = any(k in request.GET for k in CAPITAL_INPUTS)
    form = CapitalForm(request.GET if asked else None, books=[(b.key, b.name) for b in books], defaults=defaults)
    out: dict[str, Any] = {"capital_form": form, "capital_defaults": defaults, "capital": None}
    if asked and not form.is_valid():
        return out  # the form shows what is wrong; no figures for inputs that make none
    c, f, book = ((form.cleaned_data["capital_usd"], form.cleaned_data["risk_fraction"], form.cleaned_data["book"])
                  if asked else (*defaults, ""))
    sized = capital.run_capital(run, capital_usd=c, risk_fraction=f, book=book or None)
    out.update({
        "capital": sized, "capital_report": sized.report, "capital_months": MONTHS,
        "capital_monthly": capital.monthly_rows(sized.report),
        "capital_histogram": capital.histogram_chart(sized.report),
        "capital_period": capital.period_text(sized.report),
        "capital_median_contracts": sized.contracts_at(sized.max_loss_median_usd),
        "capital_query": {"capital_usd": capital.input_text(c), "risk_fraction": capital.input_text(f)},
    })
    return out


BUCKET_COLUMNS = [(key, (lambda k: lambda b: b.get(k))(key)) for key in (
    "bucket", "dte", "delta", "window", "side", "trades", "wins", "losses", "win_rate", "total_pnl_usd",
    "expectancy_usd", "profit_factor", "sharpe_daily_annualised", "max_drawdown_usd")]


@require_GET
@login_required
def run_buckets_csv(request: HtmxHttpRequest, pk: int) -> HttpResponseBase:
    """The run's bucket table as CSV: the figures of ``run.metrics["buckets"]`` unformatted."""
    run = _run_or_404(pk)
    buckets = sorted((run.metrics or {}).get("buckets") or [], key=lambda b: (b.get("dte", 0), b.get("delta", 0.0),
                                                                               b.get("window", ""), b.get("side", "")))
    return csv_response(f"backtest-{run.pk}-buckets.csv", BUCKET_COLUMNS, buckets)


def _run_or_404(pk: int) -> BacktestRun:
    run = selectors.run_get(pk)
    if run is None:
        raise Http404("no such backtest run")
    return run


def _live_like(run: BacktestRun) -> bool:
    """Set up as live trades: one shared risk budget, exits checked at the 5-minute marking slots."""
    params = run.params or {}
    return params.get("risk_scope") == "shared" and params.get("exit_check_minutes") == 5


@require_GET
@login_required
def run_parity(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Live versus this backtest, field by field (``backtests.parity.compare``, as ``backtest_parity`` prints it)."""
    run = _run_or_404(pk)
    report = parity.compare(run) if run.status == BacktestRun.Status.DONE else None
    return render(request, "backtests/run_parity.html", {"run": run, "report": report, "live_like": _live_like(run)})


@require_GET
@login_required
def latest_parity(request: HtmxHttpRequest) -> HttpResponse:
    """The parity page of the newest finished run set up as live (the dashboard links here)."""
    for run in selectors.run_list(status=BacktestRun.Status.DONE, limit=50):
        if _live_like(run):
            return redirect("backtests:run-parity", pk=run.pk)
    return render(request, "backtests/run_parity.html", {"run": None, "report": None, "live_like": False})


@require_POST
@login_required
def run_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    require_perm(request, BACKTEST_CANCEL)
    run = _run_or_404(pk)
    services.run_cancel(run)
    return redirect("backtests:run-detail", pk=run.pk)


def _compare_ids(request: HtmxHttpRequest) -> tuple[dict[str, int], list[str]]:
    """The ``a`` and ``b`` run ids of the query; bad values are reported on the page, never a traceback."""
    params = QueryParams(request.GET)
    ids = {side: pk for side in ("a", "b") if (pk := params.id(side, expected="a run id (a whole number)")) is not None}
    errors = params.errors
    return ids, errors


@require_GET
@login_required
def run_compare(request: HtmxHttpRequest) -> HttpResponse:
    ids, errors = _compare_ids(request)
    runs: dict[str, BacktestRun] = {}
    for side, pk in ids.items():
        run = selectors.run_get(pk)
        if run is None:
            errors.append(f"there is no backtest run #{pk} ({side})")
        elif run.status != BacktestRun.Status.DONE:
            errors.append(f"run #{pk} ({side}) is {run.status}: only finished runs have results to compare")
        else:
            runs[side] = run
    if not errors and request.GET and len(ids) < 2:
        errors.append("choose two runs to compare")
    context: dict[str, Any] = {"errors": errors, "query": request.GET,
                               "choices": selectors.run_list(status=BacktestRun.Status.DONE, limit=LIST_LIMIT)}
    if not errors and len(runs) == 2:
        a, b = runs["a"], runs["b"]
        ma, mb = a.metrics or {}, b.metrics or {}
        context.update({
            "a": a, "b": b,
            "summary": selectors.summary_compare(ma.get("summary") or {}, mb.get("summary") or {}),
            "chart": curves_chart([(f"#{a.pk} {a.name}".strip(), selectors.equity_points(ma)),
                                             (f"#{b.pk} {b.name}".strip(), selectors.equity_points(mb))]),
            "buckets": selectors.bucket_compare(ma.get("buckets") or [], mb.get("buckets") or []),
        })
    context.update(_compare_capital(request, runs.get("a") if len(runs) == 2 and not errors else None, runs.get("b")))
    return render(request, "backtests/run_compare.html", context)


def _compare_capital(request: HtmxHttpRequest, a: BacktestRun | None, b: BacktestRun | None) -> dict[str, Any]:
    """Both runs sized alike — the query's capital and fraction, else the settings' (not each run's
    own: a comparison needs one basis); a bad input is a form error, the rest of the page stays."""
    form = CapitalForm(request.GET, books=None,
                       defaults=(float(settings.BACKTEST_CAPITAL_USD), float(settings.BACKTEST_RISK_FRACTION)))
    if not form.is_valid() or a is None or b is None or selectors.run_is_sweep(a) or selectors.run_is_sweep(b):
        return {"capital_form": form, "capital_rows": None}
    c, f = form.cleaned_data["capital_usd"], form.cleaned_data["risk_fraction"]
    ra = capital.run_capital(a, capital_usd=c, risk_fraction=f).report
    rb = capital.run_capital(b, capital_usd=c, risk_fraction=f).report
    return {"capital_form": form, "capital_rows": capital.compare_rows(ra, rb), "capital_rule": ra.rule}
