"""The strategy config pages (issue 16 §1): the list and a config's page for any login; create, copy,
edit and enable/disable for staff with ``strategy.add_strategyconfig`` / ``change_strategyconfig``.
Each save writes exactly one history row with its diff; refused input is shown per field with the
model's messages and writes nothing; bad ids are 404s; decisions keep the rules they froze."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from strategy.configs import OTHER_GROUP, config_fields, field_groups
from strategy.forms import EXCLUDED_FIELDS, StrategyConfigForm
from strategy.models import StrategyConfig, StrategyConfigChange
from strategy.tests.config_helpers import client_for, form_data
from strategy.tests.factories import StrategyConfigChangeFactory, StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # wider than any id column (2^63 - 1)


def _state() -> tuple[Any, ...]:
    """Everything a refused request must leave as it was: the configs' rules and the history."""
    return (tuple(c.frozen().items() for c in StrategyConfig.objects.order_by("pk")),
            StrategyConfigChange.objects.count())


@pytest.fixture
def config() -> StrategyConfig:
    return StrategyConfigFactory(name="put 5d 10", priority=10)


# ---------------------------------------------------------------------------------- who may

def _writes(config: StrategyConfig) -> list[tuple[str, dict[str, Any]]]:
    return [
        (reverse("strategy:config-create"), form_data(StrategyConfigFactory.build(name="made by anyone"))),
        (reverse("strategy:config-copy", args=[config.pk]), form_data(config, name="copied by anyone")),
        (reverse("strategy:config-edit", args=[config.pk]), form_data(config, width_points="50")),
        (reverse("strategy:config-enable", args=[config.pk]), {"enabled": "0"}),
    ]


def test_anonymous_users_are_sent_to_the_login_for_every_page_and_write(config: StrategyConfig) -> None:
    client = client_for("anonymous")
    for name, args in (("config-list", []), ("config-detail", [config.pk]), ("config-create", []),
                       ("config-copy", [config.pk]), ("config-edit", [config.pk])):
        response = client.get(reverse(f"strategy:{name}", args=args))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), name
    before = _state()
    for url, body in _writes(config):
        response = client.post(url, body)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    assert _state() == before


@pytest.mark.parametrize("kind", ["trader", "viewer"])
def test_a_trader_or_view_only_staff_may_look_but_gets_403_on_every_form_and_post(kind: str,
                                                                                  config: StrategyConfig) -> None:
    client = client_for(kind)
    listing = client.get(reverse("strategy:config-list"))
    assert listing.status_code == 200 and "put 5d 10" in listing.content.decode()
    assert 'id="config-new"' not in listing.content.decode()
    page = client.get(reverse("strategy:config-detail", args=[config.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="config-actions"' not in html and 'id="config-edit"' not in html and 'id="config-copy"' not in html
    for name, args in (("config-create", []), ("config-copy", [config.pk]), ("config-edit", [config.pk])):
        assert client.get(reverse(f"strategy:{name}", args=args)).status_code == 403, name
    before = _state()
    for url, body in _writes(config):
        response = client.post(url, body)
        assert response.status_code == 403, url
        assert "strategy." in response.content.decode()  # the 403 page names the permission
    assert _state() == before


def test_add_allows_create_and_copy_and_change_allows_edit_and_enable_only(config: StrategyConfig) -> None:
    adder, changer = client_for("adder"), client_for("changer")
    assert adder.get(reverse("strategy:config-create")).status_code == 200
    assert adder.get(reverse("strategy:config-copy", args=[config.pk])).status_code == 200
    assert adder.get(reverse("strategy:config-edit", args=[config.pk])).status_code == 403
    assert adder.post(reverse("strategy:config-enable", args=[config.pk]), {"enabled": "0"}).status_code == 403
    assert changer.get(reverse("strategy:config-edit", args=[config.pk])).status_code == 200
    assert changer.get(reverse("strategy:config-create")).status_code == 403
    assert changer.get(reverse("strategy:config-copy", args=[config.pk])).status_code == 403
    html = changer.get(reverse("strategy:config-detail", args=[config.pk])).content.decode()
    assert 'id="config-edit"' in html and 'id="config-toggle"' in html and 'id="config-copy"' not in html
    assert StrategyConfigChange.objects.count() == 0


# ------------------------------------------------------------------------------- happy paths

def test_create_writes_the_config_and_one_created_row() -> None:
    client = client_for("editor")
    page = client.get(reverse("strategy:config-create"))
    assert page.status_code == 200 and 'id="config-form"' in page.content.decode()
    assert 'name="enabled"' in page.content.decode() and "checked" not in page.content.decode().split('name="enabled"')[1][:40]
    body = form_data(StrategyConfigFactory.build(name="call 3d 20", side="call_credit", target_dte=3,
                                                 short_delta_target=Decimal("0.20")),
                     take_profit_fraction="0.4", stop_loss_multiple="1.5", exit_minutes_before_settlement="30")
    response = client.post(reverse("strategy:config-create"), body)
    made = StrategyConfig.objects.get(name="call 3d 20")
    assert response.status_code == 302 and response["Location"] == reverse("strategy:config-detail", args=[made.pk])
    change = StrategyConfigChange.objects.get()
    assert (change.config, change.action, change.via, change.changed_by_name) == (made, "created", "page", "staff-editor")
    assert change.changed_by is not None and change.before is None and change.copied_from is None
    assert change.after == made.frozen()
    assert change.diff == {k: [None, v] for k, v in made.frozen().items()}  # every field, against nothing
    assert made.frozen()["take_profit_fraction"] == "0.400" and made.exit_minutes_before_settlement == 30
    page = client.get(response["Location"])
    assert "Created: " in page.content.decode() and f'id="change-{change.pk}"' in page.content.decode()


def test_copy_is_prefilled_under_a_new_name_and_records_its_diff_from_the_source(config: StrategyConfig) -> None:
    client = client_for("editor")
    page = client.get(reverse("strategy:config-copy", args=[config.pk]))
    form = page.context["form"]
    assert form.initial["name"] == "copy of put 5d 10" and form.initial["enabled"] is False
    assert form.initial["short_delta_target"] == config.short_delta_target and form.initial["priority"] == 10
    body = form_data(config, name="copy of put 5d 10", enabled=False, width_points="50")
    response = client.post(reverse("strategy:config-copy", args=[config.pk]), body)
    copy = StrategyConfig.objects.get(name="copy of put 5d 10")
    assert response.status_code == 302 and response["Location"] == reverse("strategy:config-detail", args=[copy.pk])
    change = StrategyConfigChange.objects.get()
    assert (change.config, change.action, change.copied_from) == (copy, "copied", config)
    assert change.diff == {"name": ["put 5d 10", "copy of put 5d 10"], "enabled": [True, False],
                           "width_points": ["25.00", "50.00"]}
    assert change.before == config.frozen() and change.after == copy.frozen()
    config.refresh_from_db()
    assert config.width_points == Decimal("25") and config.enabled  # the source is untouched
    html = client.get(response["Location"]).content.decode()
    assert "put 5d 10</a>" in html  # "copied from" links the source


def test_copy_names_are_cut_to_the_column() -> None:
    long = StrategyConfigFactory(name="x" * 60)
    form = client_for("editor").get(reverse("strategy:config-copy", args=[long.pk])).context["form"]
    assert form.initial["name"] == ("copy of " + "x" * 60)[:60]


def test_edit_records_one_edited_row_with_old_and_new(config: StrategyConfig) -> None:
    client = client_for("editor")
    page = client.get(reverse("strategy:config-edit", args=[config.pk]))
    assert page.status_code == 200 and page.context["form"].instance == config
    body = form_data(config, take_profit_fraction="0.3", stop_loss_multiple="2", exit_at_time="15:30")
    response = client.post(reverse("strategy:config-edit", args=[config.pk]), body)
    assert response.status_code == 302
    change = StrategyConfigChange.objects.get()
    assert change.action == "edited" and change.config == config
    assert change.diff == {"take_profit_fraction": ["0.500", "0.300"], "stop_loss_multiple": ["1.000", "2.000"],
                           "exit_at_time": [None, "15:30"]}
    config.refresh_from_db()
    assert change.after == config.frozen() and change.before == {**config.frozen(), "take_profit_fraction": "0.500",
                                                                 "stop_loss_multiple": "1.000", "exit_at_time": None}
    html = client.get(response["Location"]).content.decode()
    assert "Edited: 3 fields recorded" in html and "15:30" in html


def test_an_edit_that_changes_nothing_records_nothing(config: StrategyConfig) -> None:
    client = client_for("editor")
    response = client.post(reverse("strategy:config-edit", args=[config.pk]), form_data(config), follow=True)
    assert response.status_code == 200 and "Nothing changed." in response.content.decode()
    assert not StrategyConfigChange.objects.exists()


def test_enable_and_disable_record_their_own_actions(config: StrategyConfig) -> None:
    client = client_for("changer")
    url = reverse("strategy:config-enable", args=[config.pk])
    assert client.post(url, {"enabled": "0"}).status_code == 302
    assert client.post(url, {"enabled": "0"}).status_code == 302  # already off: nothing to record
    assert client.post(url, {"enabled": "1"}).status_code == 302
    rows = list(StrategyConfigChange.objects.order_by("pk").values_list("action", "diff"))
    assert rows == [("disabled", {"enabled": [True, False]}), ("enabled", {"enabled": [False, True]})]
    config.refresh_from_db()
    assert config.enabled


def test_an_edit_changes_no_past_decision(config: StrategyConfig) -> None:
    decision = TradeDecisionFactory(strategy_config=config)
    frozen = decision.config_params
    body = form_data(config, take_profit_fraction="0.25", stop_loss_multiple="3", width_points="10",
                     exit_minutes_before_settlement="45", enabled=False)
    assert client_for("editor").post(reverse("strategy:config-edit", args=[config.pk]), body).status_code == 302
    decision.refresh_from_db()
    assert decision.config_params == frozen and frozen["take_profit_fraction"] == "0.500"
    config.refresh_from_db()
    assert config.frozen() != frozen and config.width_points == Decimal("10")


# -------------------------------------------------------------------------- refused input

@pytest.mark.parametrize(("overrides", "bad", "message"), [
    ({"take_profit_fraction": "1.5"}, ["take_profit_fraction"], "must lie in (0, 1]"),
    ({"take_profit_fraction": "0"}, ["take_profit_fraction"], "must lie in (0, 1]"),
    ({"stop_loss_multiple": "0"}, ["stop_loss_multiple"], "must be above 0"),
    ({"exit_at_time": "15:30", "exit_minutes_before_settlement": "30"},
     ["exit_at_time", "exit_minutes_before_settlement"], "set at most one time exit"),
    ({"exit_at_time": "16:00"}, ["exit_at_time"], "between 09:30 and 15:59"),
    ({"exit_minutes_before_settlement": "391"}, ["exit_minutes_before_settlement"], "less than or equal to 390"),
    ({"short_delta_target": "abc"}, ["short_delta_target"], "Enter a number"),
    ({"width_points": "0"}, ["width_points"], "greater than or equal to 0.05"),
    ({"name": ""}, ["name"], "This field is required"),
    ({"name": "taken"}, ["name"], "already exists"),
])
@pytest.mark.parametrize("page", ["create", "copy", "edit"])
def test_refused_input_is_shown_per_field_and_writes_nothing(config: StrategyConfig, page: str,
                                                             overrides: dict[str, str], bad: list[str],
                                                             message: str) -> None:
    StrategyConfigFactory(name="taken")
    url = {"create": reverse("strategy:config-create"), "copy": reverse("strategy:config-copy", args=[config.pk]),
           "edit": reverse("strategy:config-edit", args=[config.pk])}[page]
    name = {"create": "brand new", "copy": "copy of put 5d 10", "edit": config.name}[page]
    before = _state()
    response = client_for("editor").post(url, form_data(config, **{"name": name, **overrides}))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="form-errors"' in html and "Traceback" not in html
    for field in bad:
        block = html.split(f'id="errors-{field}"')[1].split("</ul>")[0]
        assert message in block.replace("&#x27;", "'"), (field, block)
    assert set(response.context["form"].errors) == set(bad)
    assert _state() == before


def test_an_htmx_post_gets_the_form_partial_back_or_a_client_redirect(config: StrategyConfig) -> None:
    client = client_for("editor")
    url = reverse("strategy:config-edit", args=[config.pk])
    refused = client.post(url, form_data(config, take_profit_fraction="1.5"), headers={"HX-Request": "true"})
    html = refused.content.decode()
    assert refused.status_code == 200 and html.lstrip().startswith('<form id="config-form"') and "<html" not in html
    assert 'id="errors-take_profit_fraction"' in html
    saved = client.post(url, form_data(config, take_profit_fraction="0.75"), headers={"HX-Request": "true"})
    assert saved.status_code == 200 and saved["HX-Redirect"] == reverse("strategy:config-detail", args=[config.pk])
    assert StrategyConfigChange.objects.get().diff == {"take_profit_fraction": ["0.500", "0.750"]}


# ------------------------------------------------------------------------------------ pages

def test_the_list_links_every_config_from_the_nav() -> None:
    StrategyConfigFactory(name="b second", priority=20)
    StrategyConfigFactory(name="a first", priority=10, enabled=False)
    client = client_for("trader")
    html = client.get(reverse("strategy:config-list")).content.decode()
    assert f'href="{reverse("strategy:config-list")}"' in html  # the nav
    assert html.index("a first") < html.index("b second") and "disabled" in html
    partial = client.get(reverse("strategy:config-list"), headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="config-table"') and "<html" not in partial


def test_a_configs_page_shows_every_rule_grouped_and_its_history(config: StrategyConfig) -> None:
    StrategyConfigChangeFactory(config=config, changed_by_name="alice")
    html = client_for("trader").get(reverse("strategy:config-detail", args=[config.pk])).content.decode()
    for field in config_fields():
        assert f'id="rule-{field.name}"' in html, field.name
    for title in ("Entry: the spread", "Exits", "Risk limits"):
        assert title in html
    assert "alice" in html and "edited" in html and "Priority" in html
    history = client_for("trader").get(reverse("strategy:config-detail", args=[config.pk]),
                                       headers={"HX-Request": "true"}).content.decode()
    assert history.lstrip().startswith('<div id="config-history"') and "alice" in history


def test_the_history_is_paginated() -> None:
    config = StrategyConfigFactory(name="busy")
    for i in range(55):
        StrategyConfigChangeFactory(config=config, changed_by_name=f"user{i:02d}",
                                    changed_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i))
    client = client_for("trader")
    first = client.get(reverse("strategy:config-detail", args=[config.pk])).content.decode()
    assert "user54" in first and "user04" not in first and "page 1 of 2" in first
    second = client.get(reverse("strategy:config-detail", args=[config.pk]) + "?page=2").content.decode()
    assert "user04" in second and "user54" not in second


def test_the_form_takes_every_editable_field_of_the_model() -> None:
    """A field added to the model later is on the form, the page and the history without an edit."""
    editable = {f.name for f in config_fields()}
    assert set(StrategyConfigForm.base_fields) == editable - set(EXCLUDED_FIELDS)
    grouped = {n for _, names in field_groups(sorted(editable)) for n in names}
    assert grouped == editable
    assert field_groups(["name", "vix_max", "brand_new_rule"]) == [
        ("Config", ["name"]), ("Entry filters (blank = no filter)", ["vix_max"]), (OTHER_GROUP, ["brand_new_rule"])]


# ---------------------------------------------------------------------------------- bad ids

@pytest.mark.parametrize("pk", ["999999", HUGE])
def test_unknown_and_huge_ids_are_404_not_500(pk: str) -> None:
    client = client_for("editor")
    before = _state()
    for path in (f"/configs/{pk}/", f"/configs/{pk}/copy/", f"/configs/{pk}/edit/"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/configs/{pk}/edit/", {"name": "x"}).status_code == 404
    assert client.post(f"/configs/{pk}/copy/", {"name": "x"}).status_code == 404
    assert client.post(f"/configs/{pk}/enabled/", {"enabled": "0"}).status_code == 404
    assert client_for("trader").get(f"/configs/{pk}/").status_code == 404
    assert _state() == before


def test_non_numeric_ids_are_404_and_gets_of_the_toggle_405(config: StrategyConfig) -> None:
    client = client_for("editor")
    assert client.get("/configs/abc/").status_code == 404
    assert client.get("/configs/-1/edit/").status_code == 404
    assert client.get(reverse("strategy:config-enable", args=[config.pk])).status_code == 405
