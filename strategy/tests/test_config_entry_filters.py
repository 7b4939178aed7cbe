"""Entry filters and DTE targets 0–7 on the strategy config (issue 16 §1): blank by default (no
filter), validated by field in the model and the admin form, refused by the database, frozen on
every decision; a DTE the live capture does not take is said so, on save and in the SKIP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from strategy.admin import StrategyConfigAdmin
from strategy.models import StrategyConfig, TradeDecision
from strategy.quant.decision import BookState
from strategy.quant.types import EntryFilters
from strategy.services import entry_filters_of, entry_window_run, strategy_spec
from strategy.tests.factories import StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db

FILTER_FIELDS = ("vix_min", "vix_max", "term_ratio_min", "term_ratio_max", "entry_weekdays", "skip_event_days",
                 "min_credit_to_width")


def test_a_new_config_has_no_filter_and_decides_as_before() -> None:
    c = StrategyConfigFactory()
    c.refresh_from_db()
    assert {f: getattr(c, f) for f in FILTER_FIELDS} == {
        "vix_min": None, "vix_max": None, "term_ratio_min": None, "term_ratio_max": None, "entry_weekdays": "",
        "skip_event_days": False, "min_credit_to_width": None}
    assert strategy_spec(c).filters == EntryFilters() and not strategy_spec(c).filters.active


def test_parameters_frozen_before_the_filters_existed_read_as_no_filter() -> None:
    assert entry_filters_of({"side": "put_credit", "target_dte": 3}) == EntryFilters()


@pytest.mark.parametrize(("fields", "bad", "says"), [
    ({"target_dte": 8}, {"target_dte"}, "from 0 (the expiration of the entry day) to 7"),
    ({"target_dte": 30}, {"target_dte"}, "not 30"),
    ({"vix_min": Decimal("25"), "vix_max": Decimal("20")}, {"vix_min", "vix_max"}, "above the maximum"),
    ({"vix_min": Decimal("-1")}, {"vix_min"}, "never negative"),
    ({"term_ratio_max": Decimal("-0.1")}, {"term_ratio_max"}, "never negative"),
    ({"term_ratio_min": Decimal("1.2"), "term_ratio_max": Decimal("1.0")}, {"term_ratio_min", "term_ratio_max"},
     "below the minimum"),
    ({"min_credit_to_width": Decimal("0")}, {"min_credit_to_width"}, "(0, 1]"),
    ({"min_credit_to_width": Decimal("1.5")}, {"min_credit_to_width"}, "(0, 1]"),
    ({"entry_weekdays": "6"}, {"entry_weekdays"}, "'6' is not a trading weekday"),
    ({"entry_weekdays": "1,x"}, {"entry_weekdays"}, "'x' is not a trading weekday"),
    ({"entry_weekdays": "0,1"}, {"entry_weekdays"}, "ISO weekdays 1 (Monday) to 5 (Friday)"),
])
def test_the_model_refuses_filters_and_dte_out_of_range(fields: dict[str, Any], bad: set[str], says: str) -> None:
    c = StrategyConfigFactory.build(name="checked", **fields)
    with pytest.raises(ValidationError) as e:
        c.full_clean()
    assert bad <= set(e.value.message_dict), e.value.message_dict
    assert any(says in m for f in bad for m in e.value.message_dict[f]), e.value.message_dict


def test_valid_filters_and_every_dte_from_0_to_7_pass() -> None:
    for dte in range(8):
        StrategyConfigFactory.build(name="dte", target_dte=dte).full_clean()
    c = StrategyConfigFactory.build(name="filtered", vix_min=Decimal("12"), vix_max=Decimal("12"),
                                    term_ratio_min=Decimal("0"), term_ratio_max=Decimal("1"), entry_weekdays=" 5, 1,1",
                                    skip_event_days=True, min_credit_to_width=Decimal("1"))
    c.full_clean()
    assert c.entry_weekdays == "1,5"  # written back canonical


def test_the_database_refuses_them_too() -> None:
    c = StrategyConfigFactory()
    for update in ({"target_dte": 8}, {"vix_min": 30, "vix_max": 20}, {"vix_max": -1},
                   {"term_ratio_min": Decimal("1.1"), "term_ratio_max": 1}, {"term_ratio_min": -1},
                   {"min_credit_to_width": 0}, {"min_credit_to_width": Decimal("1.001")}):
        with pytest.raises(IntegrityError), transaction.atomic():
            StrategyConfig.objects.filter(pk=c.pk).update(**update)
    StrategyConfig.objects.filter(pk=c.pk).update(target_dte=0, vix_min=20, vix_max=20, min_credit_to_width=1)


def test_a_decision_freezes_the_filters_and_a_later_edit_changes_none_of_them() -> None:
    c = StrategyConfigFactory(vix_max=Decimal("30"), term_ratio_max=Decimal("1.05"), entry_weekdays="1,3",
                              skip_event_days=True, min_credit_to_width=Decimal("0.04"))
    d = TradeDecisionFactory(strategy_config=c)
    assert {k: d.config_params[k] for k in FILTER_FIELDS} == {
        "vix_min": None, "vix_max": "30.00", "term_ratio_min": None, "term_ratio_max": "1.050", "entry_weekdays": "1,3",
        "skip_event_days": True, "min_credit_to_width": "0.040"}
    frozen = EntryFilters(vix_max=30.0, term_ratio_max=1.05, weekdays=(1, 3), skip_event_days=True,
                          min_credit_to_width=0.04)
    assert entry_filters_of(d.config_params) == frozen == strategy_spec(c).filters
    c.vix_max, c.entry_weekdays, c.skip_event_days, c.min_credit_to_width = None, "", False, None
    c.save()
    d.refresh_from_db()
    assert entry_filters_of(d.config_params) == frozen
    assert strategy_spec(c).filters == EntryFilters(term_ratio_max=1.05)


def _admin_form(**fields: Any) -> dict[str, Any]:
    base = {"name": "filtered", "enabled": "on", "side": "put_credit", "target_dte": 3, "short_delta_target": "0.10",
            "width_points": "25", "quantity": 1, "min_credit": "0.50", "max_combo_spread": "1.50",
            "max_combo_spread_frac": "0.50", "max_width_mult": "1.50", "max_snapshot_age_minutes": 10,
            "max_open_trades": 1, "max_new_trades_per_day": 1, "no_new_after_stop": "on", "priority": 100,
            "ml_group": "spx-verticals", "take_profit_fraction": "0.5", "stop_loss_multiple": "1"}
    return {**base, **fields}


def test_the_admin_form_shows_the_filters_refuses_bad_ones_and_warns_about_the_capture(admin_client: Client,
                                                                                        settings: Any) -> None:
    # Every editable field is in the form's fieldsets (a field left out would silently vanish from it).
    listed = {f for _, opts in StrategyConfigAdmin.fieldsets for item in opts["fields"]
              for f in (item if isinstance(item, tuple) else (item,))}
    assert listed - set(StrategyConfigAdmin.readonly_fields) == {f.name for f in StrategyConfig._meta.fields
                                                                  if f.editable and not f.primary_key}
    url = reverse("admin:strategy_strategyconfig_add")
    page = admin_client.get(url).content.decode()
    assert "Entry filters" in page and all(f'name="{f}"' in page for f in FILTER_FIELDS)
    page = admin_client.post(url, _admin_form(vix_min="30", vix_max="20", entry_weekdays="1,7", target_dte=9))
    body = page.content.decode()
    assert page.status_code == 200 and not StrategyConfig.objects.filter(name="filtered").exists()
    assert "above the maximum" in body and "is not a trading weekday" in body and "to 7 calendar days" in body
    settings.SNAPSHOT_DTE_TARGETS = [3, 5, 7]
    page = admin_client.post(url, _admin_form(target_dte=0, vix_max="28", entry_weekdays="2,1",
                                              exit_at_time="10:00"), follow=True)
    c = StrategyConfig.objects.get(name="filtered")
    assert (c.target_dte, c.vix_max, c.entry_weekdays) == (0, Decimal("28.00"), "1,2")
    body = page.content.decode()
    assert "the live capture takes no 0-DTE chains (SNAPSHOT_DTE_TARGETS = 3,5,7)" in body
    assert "every trade closes at its entry window&#x27;s first mark" in body
    listing = admin_client.get(reverse("admin:strategy_strategyconfig_changelist")).content.decode()
    assert "vix30 ..28.00; weekdays 1,2" in listing
    settings.SNAPSHOT_DTE_TARGETS = [0, 3, 5, 7]
    c.exit_at_time = None
    assert c.warnings() == []


def test_a_live_config_whose_dte_is_not_captured_skips_saying_so(settings: Any) -> None:
    settings.SNAPSHOT_DTE_TARGETS = [3, 5, 7]
    StrategyConfig.objects.all().delete()
    StrategyConfigFactory(name="zero", target_dte=0)
    at = dt.datetime(2026, 3, 18, 14, 0, tzinfo=dt.UTC)  # Wednesday 10:00 ET
    result = entry_window_run(at=at, risk_state=lambda source, day: BookState(), hand_over=None, capture=False,
                              gate=lambda group, features: None)  # type: ignore[arg-type,return-value]
    [d] = result.created
    assert (d.action, d.reason_code) == ("SKIP", "no_snapshot")
    assert d.reason_message == ("no 0-DTE snapshot at or before 14:00Z: the live capture takes no 0-DTE chains "
                                "(SNAPSHOT_DTE_TARGETS = 3,5,7; add 0 there)")
    assert TradeDecision.objects.get(pk=d.pk).config_params["target_dte"] == 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_adds_no_filter_and_stops_on_a_dte_above_7() -> None:
    before, after = [("strategy", "0011_config_changes")], [("strategy", "0012_config_entry_filters")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("strategy", "StrategyConfig")
    kept = old.objects.create(name="old", side="put_credit", target_dte=7, short_delta_target=Decimal("0.10"))
    far = old.objects.create(name="far out", side="put_credit", target_dte=9, short_delta_target=Decimal("0.10"))
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    with pytest.raises(RuntimeError, match=r"edit or delete these configs first: 'far out' \(9 DTE\)"):
        executor.migrate(after)
    old.objects.filter(pk=far.pk).delete()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest state for the other tests
    c = StrategyConfig.objects.get(pk=kept.pk)
    assert strategy_spec(c).filters == EntryFilters() and c.entry_weekdays == "" and c.skip_event_days is False
