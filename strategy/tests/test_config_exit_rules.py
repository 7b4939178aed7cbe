"""Exit rules on the strategy config (issue 16 §1): defaults from the settings, validation in the
model and the admin form, the database constraints, the freeze on every decision, the migration."""

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

from strategy.models import StrategyConfig, TradeDecision
from strategy.quant.types import ExitRules
from strategy.services import exit_rules_of, strategy_spec
from strategy.tests.factories import StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db


def test_new_configs_take_their_exit_rules_from_the_settings(settings: Any) -> None:
    c = StrategyConfigFactory()
    c.refresh_from_db()
    assert (c.take_profit_fraction, c.stop_loss_multiple) == (Decimal("0.500"), Decimal("1.000"))
    assert c.exit_at_time is None and c.exit_minutes_before_settlement is None
    assert strategy_spec(c).exits == ExitRules()  # the rules the marks applied before: +50 % / -100 %
    settings.TAKE_PROFIT_FRACTION, settings.STOP_LOSS_CREDITS = 0.4, 1.5
    other = StrategyConfigFactory()
    other.refresh_from_db()
    assert (other.take_profit_fraction, other.stop_loss_multiple) == (Decimal("0.400"), Decimal("1.500"))
    c.refresh_from_db()
    assert c.take_profit_fraction == Decimal("0.500")  # a settings change moves only the defaults


@pytest.mark.parametrize(("fields", "bad"), [
    ({"take_profit_fraction": Decimal("0")}, {"take_profit_fraction"}),
    ({"take_profit_fraction": Decimal("1.001")}, {"take_profit_fraction"}),
    ({"stop_loss_multiple": Decimal("0")}, {"stop_loss_multiple"}),
    ({"stop_loss_multiple": Decimal("-1")}, {"stop_loss_multiple"}),
    ({"exit_at_time": dt.time(16, 0)}, {"exit_at_time"}),
    ({"exit_at_time": dt.time(9, 0)}, {"exit_at_time"}),
    ({"exit_minutes_before_settlement": 0}, {"exit_minutes_before_settlement"}),
    ({"exit_minutes_before_settlement": 391}, {"exit_minutes_before_settlement"}),
    ({"exit_at_time": dt.time(15, 30), "exit_minutes_before_settlement": 30},
     {"exit_at_time", "exit_minutes_before_settlement"}),
])
def test_the_model_refuses_exit_rules_out_of_range(fields: dict[str, Any], bad: set[str]) -> None:
    c = StrategyConfigFactory.build(name="checked", **fields)
    with pytest.raises(ValidationError) as e:
        c.full_clean()
    assert bad <= set(e.value.message_dict), e.value.message_dict


def test_valid_exit_rules_pass() -> None:
    for fields in ({"take_profit_fraction": Decimal("1"), "stop_loss_multiple": Decimal("0.5")},
                   {"take_profit_fraction": Decimal("0.25"), "stop_loss_multiple": Decimal("2")},
                   {"exit_at_time": dt.time(15, 30)}, {"exit_minutes_before_settlement": 30}):
        StrategyConfigFactory.build(name="fine", **fields).full_clean()


def test_the_database_refuses_them_too() -> None:
    c = StrategyConfigFactory()
    for update in ({"take_profit_fraction": 0}, {"stop_loss_multiple": 0},
                   {"exit_at_time": dt.time(15, 0), "exit_minutes_before_settlement": 30}):
        with pytest.raises(IntegrityError), transaction.atomic():
            StrategyConfig.objects.filter(pk=c.pk).update(**update)


def test_the_admin_form_shows_the_errors_and_saves_nothing(admin_client: Client) -> None:
    url = reverse("admin:strategy_strategyconfig_add")
    base = {"name": "timed", "enabled": "on", "side": "put_credit", "target_dte": 0, "short_delta_target": "0.10",
            "width_points": "25", "quantity": 1, "min_credit": "0.50", "max_combo_spread": "1.50",
            "max_combo_spread_frac": "0.50", "max_width_mult": "1.50", "max_snapshot_age_minutes": 10,
            "max_open_trades": 1, "max_new_trades_per_day": 1, "no_new_after_stop": "on", "priority": 100,
            "ml_group": "spx-verticals", "take_profit_fraction": "0.25", "stop_loss_multiple": "2"}
    page = admin_client.post(url, {**base, "exit_at_time": "15:30", "exit_minutes_before_settlement": 30})
    assert page.status_code == 200 and "set at most one time exit" in page.content.decode()
    page = admin_client.post(url, {**base, "take_profit_fraction": "1.5", "stop_loss_multiple": "0"})
    assert page.status_code == 200 and not StrategyConfig.objects.filter(name="timed").exists()
    assert "must lie in (0, 1]" in page.content.decode() or "less than or equal to 1" in page.content.decode()
    page = admin_client.post(url, {**base, "exit_at_time": "15:30"})
    assert page.status_code == 302
    c = StrategyConfig.objects.get(name="timed")
    assert strategy_spec(c).exits == ExitRules(0.25, 2.0, dt.time(15, 30), None)


def test_a_decision_freezes_the_rules_and_a_later_edit_changes_none_of_them() -> None:
    c = StrategyConfigFactory(take_profit_fraction=Decimal("0.25"), stop_loss_multiple=Decimal("2"),
                              exit_minutes_before_settlement=45)
    d = TradeDecisionFactory(strategy_config=c)
    assert {k: d.config_params[k] for k in ("take_profit_fraction", "stop_loss_multiple", "exit_at_time",
                                            "exit_minutes_before_settlement")} == {
        "take_profit_fraction": "0.250", "stop_loss_multiple": "2.000", "exit_at_time": None,
        "exit_minutes_before_settlement": 45}
    c.take_profit_fraction, c.exit_minutes_before_settlement, c.exit_at_time = Decimal("0.5"), None, dt.time(15, 0)
    c.save()
    d.refresh_from_db()
    assert exit_rules_of(d.config_params) == ExitRules(0.25, 2.0, None, 45)
    assert strategy_spec(c).exits == ExitRules(0.5, 2.0, dt.time(15, 0), None)
    assert StrategyConfigFactory(name="clock", exit_at_time=dt.time(15, 30)).frozen()["exit_at_time"] == "15:30"


def test_parameters_frozen_before_the_rules_existed_read_as_the_defaults() -> None:
    assert exit_rules_of({"side": "put_credit"}) == ExitRules()


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_configs_and_live_decisions_todays_rules() -> None:
    executor = MigrationExecutor(connection)
    before, after = [("strategy", "0008_strategyconfig_ml_group")], [("strategy", "0009_config_exit_rules")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    config = old.get_model("strategy", "StrategyConfig").objects.create(
        name="old", side="put_credit", target_dte=3, short_delta_target=Decimal("0.10"))
    params = {"name": "old", "side": "put_credit", "target_dte": 3}
    decision = old.get_model("strategy", "TradeDecision").objects.create(
        trading_day=dt.date(2026, 11, 20), entry_window=dt.time(10), strategy_config_id=config.pk,
        config_params=params, source="simulated", decided_at=dt.datetime(2026, 11, 20, 15, tzinfo=dt.UTC),
        action="SKIP", reason_code="no_snapshot")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest state for the other tests
    c = StrategyConfig.objects.get(pk=config.pk)
    assert (c.take_profit_fraction, c.stop_loss_multiple, c.exit_at_time, c.exit_minutes_before_settlement) == (
        Decimal("0.500"), Decimal("1.000"), None, None)
    frozen = TradeDecision.objects.get(pk=decision.pk).config_params
    assert frozen == {**params, "take_profit_fraction": "0.500", "stop_loss_multiple": "1.000", "exit_at_time": None,
                      "exit_minutes_before_settlement": None}

