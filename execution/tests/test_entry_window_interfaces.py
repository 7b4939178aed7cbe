"""Entry-window beat schedule (DST), task, command, pages and API."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask
from snapshots.tests.factories import read_token_client

from spx_site.schedules import periodic_tasks_setup
from strategy.models import TradeDecision
from execution.tasks import entry_window_run as entry_window_task
from strategy.tests.factories import TradeDecisionFactory

NY = ZoneInfo("America/New_York")
pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(settings):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    return settings


@pytest.mark.parametrize(
    ("last_run_et", "next_utc"),
    [
        # Summer time (EDT, UTC−4): 10:00 ET is 14:00 UTC, then 11:00 ET.
        (dt.datetime(2026, 3, 9, 10, 0, tzinfo=NY), dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC)),
        # Friday noon before the March change → Monday 10:00 EDT = 14:00 UTC.
        (dt.datetime(2026, 3, 6, 12, 0, tzinfo=NY), dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)),
        # Friday noon before the November change → Monday 10:00 EST = 15:00 UTC.
        (dt.datetime(2026, 10, 30, 12, 0, tzinfo=NY), dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)),
        (dt.datetime(2026, 11, 2, 11, 0, tzinfo=NY), dt.datetime(2026, 11, 2, 17, 0, tzinfo=dt.UTC)),
    ],
)
def test_entry_windows_fire_at_10_11_12_new_york_across_dst(sim, last_run_et, next_utc) -> None:  # type: ignore[no-untyped-def]
    periodic_tasks_setup()
    task = PeriodicTask.objects.get(name="entry windows")
    assert task.task == "execution.tasks.entry_window_run" and str(task.crontab.timezone) == "America/New_York"
    schedule = task.crontab.schedule
    frozen = last_run_et + dt.timedelta(seconds=1)
    schedule.nowfun = lambda: frozen.astimezone(schedule.tz)
    fire_at = frozen.astimezone(dt.UTC) + schedule.remaining_estimate(last_run_et.astimezone(schedule.tz))
    assert fire_at == next_utc


def test_task_pins_the_window_and_is_idempotent(sim) -> None:  # type: ignore[no-untyped-def]
    window = dt.datetime(2026, 11, 20, 11, 0, tzinfo=NY).isoformat()
    entry_window_task.apply(args=[window]).get()
    entry_window_task.apply(args=[window]).get()
    assert TradeDecision.objects.filter(entry_window=dt.time(11, 0)).count() == 12
    assert TradeDecision.objects.filter(action="TRADE").count() == 1


def test_command_runs_a_window_against_the_simulated_market(sim) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("run_entry_window", "--at", "2026-11-20T10:00", stdout=out)
    text = out.getvalue()
    assert "2026-11-20 10:00 ET, source simulated: 12 new" in text and "TRADE" in text
    with pytest.raises(CommandError, match="not an entry window"):
        call_command("run_entry_window", "--at", "2026-11-20T10:30")
    with pytest.raises(CommandError, match="--at"):
        call_command("run_entry_window", "--at", "tomorrow")


@pytest.fixture
def trader(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


def test_decision_pages_filter_and_detail(sim, trader: Client) -> None:  # type: ignore[no-untyped-def]
    call_command("run_entry_window", "--at", "2026-11-20T10:00", stdout=StringIO())
    trade = TradeDecision.objects.get(action="TRADE")
    html = trader.get("/decisions/?action=TRADE").content.decode()
    assert f"/decisions/{trade.pk}/" in html and html.count('<tr id="decision-') == 1
    partial = trader.get("/decisions/?action=SKIP", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="decision-table"') and partial.count('<tr id="decision-') == 11
    bad = trader.get("/decisions/?day=not-a-day&action=MAYBE")
    assert bad.status_code == 200 and b"day must be a date (YYYY-MM-DD)" in bad.content and b"TRADE or SKIP" in bad.content
    detail = trader.get(f"/decisions/{trade.pk}/").content.decode()
    assert trade.snapshot_checksum in detail and 'class="atm"' in detail
    assert trade.legs[0]["symbol"] in detail
    # Features grouped as the schema groups them, each missing one with its reason.
    import re

    groups = re.findall(r'<table class="features" id="features-(\w+)"', detail)
    assert groups == ["candidate", "market", "calendar"]
    assert "<code>credit_to_width</code>" in detail and "<code>days_to_fomc</code>" in detail
    assert "missing: no forward at every 5-minute sample of the last 60 minutes" in detail  # 10:00: under an hour old


def test_decision_api_list_filters_and_detail(sim) -> None:  # type: ignore[no-untyped-def]
    api = read_token_client()
    skip = TradeDecisionFactory()
    TradeDecisionFactory(trading_day=dt.date(2026, 11, 19), action="TRADE", reason_code="ok")
    items = api.get("/api/decisions?day=2026-11-20").json()["items"]
    assert [i["id"] for i in items] == [skip.pk]
    assert items[0]["reason_code"] == "stale_snapshot" and items[0]["strategy_config"] == skip.strategy_config.name
    assert len(api.get("/api/decisions?action=TRADE").json()["items"]) == 1
    assert api.get("/api/decisions?action=MAYBE").status_code == 400
    assert api.get("/api/decisions?limit=0").status_code == 400
    assert api.get(f"/api/decisions/{skip.pk}").json()["config_params"]["width_points"] == "25.00"
    assert api.get("/api/decisions/999999").status_code == 404


def test_messages_queued_under_the_old_task_name_still_run(sim) -> None:  # type: ignore[no-untyped-def]
    from spx_site.celery import app

    old = app.tasks["strategy.tasks.entry_window_run"]
    old.apply(args=[dt.datetime(2026, 11, 20, 12, 0, tzinfo=NY).isoformat()]).get()
    assert TradeDecision.objects.filter(entry_window=dt.time(12, 0)).count() == 12
