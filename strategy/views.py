"""Decision pages (the list with filters, HTMX table partial; one decision with its chain) and the strategy
config pages (the list; one config with every rule and its history; create, copy, edit, enable/disable)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.forms.models import model_to_dict
from django.http.response import HttpResponseBase
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from snapshots.csv_export import csv_response, wants_csv
from snapshots.http import HtmxHttpRequest
from strategy.exports import DECISION_COLUMNS
from snapshots.paging import page_get
from snapshots.params import QueryParams
from snapshots.permissions import CONFIG_CHANGE, CONFIG_CREATE, require_perm, user_can
from snapshots.selectors import chain_view
from strategy import configs, selectors
from strategy.forms import StrategyConfigForm
from strategy.models import StrategyConfig, StrategyConfigChange, TradeDecision
from strategy.rows import decision_rows_html

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
        "rows_html": decision_rows_html(rows),
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


# ------------------------------------------------------------------------------ strategy configs
# Any login may look; creating or copying needs a staff login with strategy.add_strategyconfig,
# editing, enabling and disabling strategy.change_strategyconfig (snapshots.permissions), as in admin.


@require_GET
@login_required
def config_list(request: HtmxHttpRequest) -> HttpResponse:
    paging = page_get(request, configs.config_list())
    template = "strategy/config_list.html" + ("#config-table" if request.htmx else "")
    return render(request, template, {**paging, "can_add": user_can(request.user, CONFIG_CREATE)})


@require_GET
@login_required
def config_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    config = get_object_or_404(StrategyConfig, pk=pk)
    paging = page_get(request, configs.config_history(config))
    template = "strategy/config_detail.html" + ("#config-history" if request.htmx else "")
    return render(request, template, {
        **paging,
        "config": config,
        "groups": configs.config_rules(config),
        "changes": configs.change_rows(paging["page"]),
        "decision_count": config.decisions.filter(backtest_run__isnull=True).count(),
        "can_add": user_can(request.user, CONFIG_CREATE),
        "can_change": user_can(request.user, CONFIG_CHANGE),
    })


def _config_saved(request: HtmxHttpRequest, form: StrategyConfigForm, *,
                  copied_from: StrategyConfig | None = None) -> HttpResponse | None:
    """Save a valid form through ``configs.config_save`` and go to the config's page; a refusal
    (the model's validation, a name taken meanwhile) goes on the form instead (None)."""
    config = form.save(commit=False)
    try:
        change = configs.config_save(config, user=request.user, via=StrategyConfigChange.Via.PAGE,
                                     copied_from=copied_from)
    except ValidationError as exc:
        form.add_error(None, exc)
        return None
    except IntegrityError:
        form.add_error(None, "not saved: the database refused it (was the name taken meanwhile?); check and try again")
        return None
    if change is None:
        messages.info(request, "Nothing changed.")
    else:
        n = len(change.diff)
        messages.success(request, f"{change.get_action_display()}: {n} field{'s' if n != 1 else ''} recorded in the history.")
    url = reverse("strategy:config-detail", args=[config.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _config_form_page(request: HtmxHttpRequest, form: StrategyConfigForm, *, mode: str,
                      config: StrategyConfig | None = None) -> HttpResponse:
    template = "strategy/config_form.html" + ("#config-form" if request.htmx else "")
    return render(request, template, {"form": form, "mode": mode, "config": config})


@require_http_methods(["GET", "POST"])
@login_required
def config_create(request: HtmxHttpRequest) -> HttpResponse:
    require_perm(request, CONFIG_CREATE)
    if request.method == "POST":
        form = StrategyConfigForm(request.POST)
        if form.is_valid() and (done := _config_saved(request, form)) is not None:
            return done
    else:
        # A config made here starts disabled: it joins the live entry windows once someone enables it.
        form = StrategyConfigForm(initial={"enabled": False})
    return _config_form_page(request, form, mode="create")


@require_http_methods(["GET", "POST"])
@login_required
def config_copy(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    require_perm(request, CONFIG_CREATE)
    source = get_object_or_404(StrategyConfig, pk=pk)
    if request.method == "POST":
        form = StrategyConfigForm(request.POST)
        if form.is_valid() and (done := _config_saved(request, form, copied_from=source)) is not None:
            return done
    else:
        initial = {**model_to_dict(source, fields=list(StrategyConfigForm.base_fields)),
                   "name": configs.copy_name(source.name), "enabled": False}
        form = StrategyConfigForm(initial=initial)
    return _config_form_page(request, form, mode="copy", config=source)


@require_http_methods(["GET", "POST"])
@login_required
def config_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    require_perm(request, CONFIG_CHANGE)
    config = get_object_or_404(StrategyConfig, pk=pk)
    if request.method == "POST":
        form = StrategyConfigForm(request.POST, instance=config)
        if form.is_valid() and (done := _config_saved(request, form)) is not None:
            return done
        config.refresh_from_db()  # the form wrote its values onto the instance: the page names the saved one
    else:
        form = StrategyConfigForm(instance=config)
    return _config_form_page(request, form, mode="edit", config=config)


@require_POST
@login_required
def config_enable(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Enable (``enabled=1``) or disable (``enabled=0``) a config for the live entry windows."""
    require_perm(request, CONFIG_CHANGE)
    config = get_object_or_404(StrategyConfig, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    if configs.config_set_enabled(config, enabled=enabled, user=request.user,
                                  via=StrategyConfigChange.Via.PAGE) is not None:
        messages.success(request, f"{config.name} {'enabled' if enabled else 'disabled'}.")
    url = reverse("strategy:config-detail", args=[config.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
