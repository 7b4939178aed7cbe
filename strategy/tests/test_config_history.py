"""The history of config changes (issue 16 §1): one writer (``strategy.configs.config_save``) behind
the pages, the admin's save (its change form and its editable list columns) and scripts; the
admin shows the history read-only (the API: ``test_config_api.py``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from strategy.configs import config_diff, config_save, config_set_enabled, copy_name
from strategy.models import StrategyConfig, StrategyConfigChange
from strategy.tests.config_helpers import form_data, user_for
from strategy.tests.factories import StrategyConfigChangeFactory, StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------------------- the service

def test_a_script_save_is_recorded_without_a_user() -> None:
    config = StrategyConfig(name="scripted", side="put_credit", target_dte="3", short_delta_target="0.1")
    change = config_save(config)
    assert change is not None and (change.action, change.via, change.changed_by, change.changed_by_name) == (
        "created", "command", None, "")
    assert change.after["target_dte"] == 3 and change.after["short_delta_target"] == "0.100"  # as stored
    config.priority = 5
    edit = config_save(config)
    assert edit is not None and edit.diff == {"priority": [100, 5]} and edit.before["priority"] == 100
    assert config_save(config) is None  # nothing changed: no row
    assert config_set_enabled(config, enabled=False) is not None
    assert list(config.changes.values_list("action", flat=True)) == ["disabled", "edited", "created"]  # newest first


def test_the_service_refuses_what_the_model_refuses_and_saves_nothing() -> None:
    config = StrategyConfigFactory(name="checked")
    config.take_profit_fraction = Decimal("1.5")
    config.exit_at_time, config.exit_minutes_before_settlement = dt.time(15, 30), 30
    with pytest.raises(ValidationError) as refused:
        config_save(config)
    assert {"take_profit_fraction", "exit_at_time", "exit_minutes_before_settlement"} <= set(refused.value.message_dict)
    assert StrategyConfig.objects.get(pk=config.pk).take_profit_fraction == Decimal("0.500")
    assert not StrategyConfigChange.objects.exists()


def test_a_copy_records_its_source_and_the_differences() -> None:
    source = StrategyConfigFactory(name="source", width_points=Decimal("25"))
    copy = StrategyConfig(**{**{f.name: getattr(source, f.name) for f in StrategyConfig._meta.fields if f.name != "id"},
                             "name": copy_name("source"), "width_points": Decimal("20")})
    change = config_save(copy, copied_from=source)
    assert change is not None and change.action == "copied" and change.copied_from == source
    assert change.diff == {"name": ["source", "copy of source"], "width_points": ["25.00", "20.00"]}


def test_the_diff_covers_fields_on_one_side_only() -> None:
    assert config_diff({"a": 1, "gone": 2}, {"a": 1, "new": None}) == {"new": [None, None], "gone": [2, None]}
    assert config_diff(None, {"a": None}) == {"a": [None, None]}


def test_the_factory_makes_a_recorded_edit() -> None:
    change = StrategyConfigChangeFactory()
    assert change.action == "edited" and change.diff == {"priority": [100, 90]} and change.after["priority"] == 90


# ---------------------------------------------------------------------------------- the admin

@pytest.fixture
def admin_user_client() -> tuple[Client, Any]:
    user = user_for("superuser", [])
    user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client, user


def test_an_admin_add_and_change_are_recorded(admin_user_client: tuple[Client, Any]) -> None:
    client, user = admin_user_client
    body = form_data(StrategyConfigFactory.build(name="from admin"), take_profit_fraction="0.4")
    assert client.post(reverse("admin:strategy_strategyconfig_add"), body).status_code == 302
    config = StrategyConfig.objects.get(name="from admin")
    created = StrategyConfigChange.objects.get()
    assert (created.action, created.via, created.changed_by, created.changed_by_name) == (
        "created", "admin", user, user.username)
    url = reverse("admin:strategy_strategyconfig_change", args=[config.pk])
    assert client.post(url, form_data(config, stop_loss_multiple="2.5", exit_at_time="14:00")).status_code == 302
    edit = config.changes.first()
    assert edit is not None and (edit.action, edit.via) == ("edited", "admin")
    assert edit.diff == {"stop_loss_multiple": ["1.000", "2.500"], "exit_at_time": [None, "14:00"]}
    page = client.get(url).content.decode()
    assert 'id="config-history"' in page and "2.500" in page and "staff-superuser" in page  # read-only


def test_an_admin_list_toggle_is_recorded_as_disabled(admin_user_client: tuple[Client, Any]) -> None:
    client, _ = admin_user_client
    StrategyConfig.objects.exclude(name="only").delete()
    config = StrategyConfigFactory(name="only", priority=7)
    body = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(config.pk), "form-0-priority": "7", "_save": "Save"}  # "enabled" unticked
    assert client.post(reverse("admin:strategy_strategyconfig_changelist"), body).status_code == 302
    change = StrategyConfigChange.objects.get()
    assert (change.action, change.via, change.diff) == ("disabled", "admin", {"enabled": [True, False]})


def test_a_refused_admin_save_records_nothing(admin_user_client: tuple[Client, Any]) -> None:
    client, _ = admin_user_client
    config = StrategyConfigFactory(name="kept")
    url = reverse("admin:strategy_strategyconfig_change", args=[config.pk])
    page = client.post(url, form_data(config, take_profit_fraction="1.5"))
    assert page.status_code == 200 and "must lie in (0, 1]" in page.content.decode()
    assert not StrategyConfigChange.objects.exists()


def test_the_history_admin_is_read_only(admin_user_client: tuple[Client, Any]) -> None:
    client, _ = admin_user_client
    change = StrategyConfigChangeFactory()
    assert client.get(reverse("admin:strategy_strategyconfigchange_changelist")).status_code == 200
    assert client.get(reverse("admin:strategy_strategyconfigchange_add")).status_code == 403
    page = client.get(reverse("admin:strategy_strategyconfigchange_change", args=[change.pk]))
    assert page.status_code == 200 and 'name="action"' not in page.content.decode()
    assert client.post(reverse("admin:strategy_strategyconfigchange_delete", args=[change.pk]),
                       {"post": "yes"}).status_code == 403
    assert StrategyConfigChange.objects.filter(pk=change.pk).exists()


def test_staff_who_may_view_configs_see_their_history_in_the_admin() -> None:
    change = StrategyConfigChangeFactory(changed_by_name="alice")
    viewer = Client()
    viewer.force_login(user_for("viewer", ["strategy.view_strategyconfig"]))
    page = viewer.get(reverse("admin:strategy_strategyconfig_change", args=[change.config.pk]))
    assert page.status_code == 200 and "alice" in page.content.decode()


def test_a_long_history_links_the_full_list(admin_user_client: tuple[Client, Any]) -> None:
    client, _ = admin_user_client
    config = StrategyConfigFactory(name="long")
    for i in range(52):
        StrategyConfigChangeFactory(config=config, changed_by_name=f"u{i}",
                                    changed_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i))
    StrategyConfigChangeFactory(config=StrategyConfigFactory(name="other"), changed_by_name="elsewhere")
    page = client.get(reverse("admin:strategy_strategyconfig_change", args=[config.pk])).content.decode()
    assert "u51" in page and "u1<" not in page and "all 52 changes" in page
    listing = client.get(reverse("admin:strategy_strategyconfigchange_changelist") + f"?config__id__exact={config.pk}")
    assert listing.status_code == 200 and "52 strategy config changes" in listing.content.decode()


def test_a_decision_keeps_its_frozen_config_after_an_admin_edit(admin_user_client: tuple[Client, Any]) -> None:
    client, _ = admin_user_client
    config = StrategyConfigFactory(name="frozen")
    decision = TradeDecisionFactory(strategy_config=config)
    frozen = dict(decision.config_params)
    url = reverse("admin:strategy_strategyconfig_change", args=[config.pk])
    assert client.post(url, form_data(config, take_profit_fraction="0.2", width_points="15")).status_code == 302
    decision.refresh_from_db()
    assert decision.config_params == frozen
