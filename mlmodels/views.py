"""Model pages: the versions with a training form, and one model (its walk-forward evidence, the
threshold sweep, importances, gated vs ungated equity, live monitoring, activation). Training,
activating and retiring need a staff login with ``mlmodels.add_trainingrequest`` / ``activate_model`` /
``retire_model`` (``snapshots.permissions``), as a staff session needs them on the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mlmodels import services
from mlmodels.forms import ActivateForm, TrainForm
from mlmodels.models import ModelVersion, TrainingRequest
from mlmodels.monitoring import PSI_FLAG, monitoring
from snapshots.charts import curves_chart, xy_chart
from snapshots.http import HtmxHttpRequest
from snapshots.permissions import MODEL_ACTIVATE, MODEL_RETIRE, MODEL_TRAIN, require_perm, user_can


@require_http_methods(["GET", "POST"])
@login_required
def model_list(request: HtmxHttpRequest) -> HttpResponse:
    form = TrainForm()
    if request.method == "POST":
        require_perm(request, MODEL_TRAIN)
        form = TrainForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            try:
                req, created = services.request_training(
                    dataset_spec={"source": d["source"], "run": d.get("run"), "start": d.get("start"), "end": d.get("end")},
                    group=d["group"], idempotency_key=(request.POST.get("idempotency_key") or "").strip(),
                    user=request.user)
            except services.ModelError as exc:
                form.add_error(None, str(exc))
            else:
                if created:
                    services.training_launch(req)
                return redirect("mlmodels:model-list")
    requests = list(TrainingRequest.objects.select_related("model")[:20])
    pending = any(r.status in (TrainingRequest.Status.PENDING, TrainingRequest.Status.RUNNING) for r in requests)
    template = "mlmodels/model_list.html" + ("#trainings" if request.htmx else "")
    return render(request, template, {
        "models": ModelVersion.objects.all()[:200], "requests": requests, "pending": pending, "form": form,
        "train_key": uuid.uuid4().hex, "can_train": user_can(request.user, MODEL_TRAIN),
    })


def _sweep_chart(sweep: list[dict[str, float]]) -> dict[str, Any] | None:
    pts = sorted((r["threshold"], r["expectancy_usd"]) for r in sweep)
    return xy_chart([("expectancy per trade (USD)", pts)], width=480, height=240, x_title="threshold",
                    y_title="USD per trade")


def _kept_chart(sweep: list[dict[str, float]]) -> dict[str, Any] | None:
    pts = sorted((r["threshold"], r["kept"]) for r in sweep)
    return xy_chart([("candidates kept", pts)], width=480, height=240, x_title="threshold", y_title="candidates")


@require_GET
@login_required
def model_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    mv = ModelVersion.objects.filter(pk=pk).first()
    if mv is None:
        raise Http404("no such model version")
    report = mv.report or {}
    oos = report.get("oos", {})
    reliability = xy_chart([("out of sample", [(b["mean_predicted"], b["observed"]) for b in oos.get("reliability", [])])],
                           x_range=(0.0, 1.0), y_range=(0.0, 1.0), diagonal=True, x_title="mean predicted probability",
                           y_title="observed frequency")
    equity = report.get("equity", [])
    curves = curves_chart([
        ("ungated (the rules)", [(dt.date.fromisoformat(r["day"]), r["ungated_usd"]) for r in equity]),
        ("gated (walk-forward, out of sample)", [(dt.date.fromisoformat(r["day"]), r["gated_usd"]) for r in equity]),
    ])
    m = monitoring(mv)
    live_reliability = xy_chart([
        ("live", [(b["mean_predicted"], b["observed"]) for b in m["reliability"]]),
        ("out of fold (training)", [(b["mean_predicted"], b["observed"]) for b in m["baseline_reliability"]]),
    ], x_range=(0.0, 1.0), y_range=(0.0, 1.0), diagonal=True, x_title="predicted", y_title="observed")
    rolling = xy_chart([("rolling Brier", [(r["n"], r["brier"]) for r in m["rolling_brier"]])], x_title="resolved decisions",
                       y_title="Brier score") if m["rolling_brier"] else None
    result = report.get("result", {})
    return render(request, "mlmodels/model_detail.html", {
        "mv": mv, "report": report, "oos": oos, "oos_lr": report.get("oos_logistic", {}),
        "result_rows": _result_rows(result), "result_lr_rows": _result_rows(report.get("result_logistic", {})),
        "reliability": reliability, "equity": curves, "sweep": _sweep_chart(report.get("sweep", [])),
        "kept": _kept_chart(report.get("sweep", [])), "importances": mv.importances[:25],
        "monitoring": m, "live_reliability": live_reliability, "rolling": rolling, "psi_flag": PSI_FLAG,
        "activate_form": ActivateForm(), "can_activate": user_can(request.user, MODEL_ACTIVATE),
        "can_retire": user_can(request.user, MODEL_RETIRE),
        "error": request.GET.get("error", ""),
    })


FIGURE_LABELS = [("trades", "trades kept", "0g"), ("win_rate", "win rate", "3"),
                 ("expectancy_usd", "expectancy (USD/trade)", "2g"), ("profit_factor", "profit factor", "2"),
                 ("total_pnl_usd", "total PnL (USD)", "0g"), ("max_drawdown_usd", "max drawdown (USD)", "0g")]


def _result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    if not result:
        return []
    return [{"label": label, "fmt": fmt, **{side: result.get(side, {}).get(key, {}) for side in ("gated", "ungated", "gain")}}
            for key, label, fmt in FIGURE_LABELS]


def _model_for_change(request: HtmxHttpRequest, pk: int, perm: str) -> ModelVersion:
    require_perm(request, perm)
    mv = ModelVersion.objects.filter(pk=pk).first()
    if mv is None:
        raise Http404("no such model version")
    return mv


@require_POST
@login_required
def model_activate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    mv = _model_for_change(request, pk, MODEL_ACTIVATE)
    form = ActivateForm(request.POST)
    form.is_valid()
    try:
        services.activate(mv, user=request.user, force=bool(form.cleaned_data.get("force")),
                          reason=form.cleaned_data.get("reason", ""))
    except services.ModelError as exc:
        return redirect(f"/models/{mv.pk}/?{urlencode({'error': str(exc)})}")
    return redirect("mlmodels:model-detail", pk=mv.pk)


@require_POST
@login_required
def model_retire(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    mv = _model_for_change(request, pk, MODEL_RETIRE)
    services.retire(mv, user=request.user, reason=(request.POST.get("reason") or "").strip())
    return redirect("mlmodels:model-detail", pk=mv.pk)
