from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from snapshots.models import ChainSnapshot
from spx_site.celery import app as celery_app
from spx_site.schedules import periodic_tasks_setup
from snapshots.tasks import snapshot_capture

NY = ZoneInfo("America/New_York")
pytestmark = pytest.mark.django_db


def targets():  # type: ignore[no-untyped-def]
    """The DTE-target snapshots (a capture also stores the VIX terms' chains)."""
    return ChainSnapshot.objects.filter(purpose=ChainSnapshot.Purpose.TARGET)


@pytest.fixture
def sim(settings):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_INTERVAL_MINUTES = 5
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    return settings


def test_task_twice_for_one_slot_gives_one_set_of_rows(sim) -> None:  # type: ignore[no-untyped-def]
    slot = dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC).isoformat()  # 10:30 ET Friday
    snapshot_capture.apply(args=[slot]).get()
    snapshot_capture.apply(args=[slot]).get()
    assert targets().count() == 3
    assert set(targets().values_list("ts", flat=True)) == {dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC)}


def test_task_outside_session_stores_nothing(sim) -> None:  # type: ignore[no-untyped-def]
    snapshot_capture.apply(args=[dt.datetime(2026, 11, 26, 16, 0, tzinfo=dt.UTC).isoformat()]).get()  # Thanksgiving
    assert targets().count() == 0


def test_setup_registers_ny_crontab_and_keeps_operator_toggle(sim) -> None:  # type: ignore[no-untyped-def]
    names = ["capture snapshots", "entry windows", "sync orders", "mark positions", "shadow outcomes", "ml monitoring",
             "stuck backtest chunks"]
    assert periodic_tasks_setup() == [(n, "created") for n in names]
    task = PeriodicTask.objects.get(name="capture snapshots")
    assert task.task == "snapshots.tasks.snapshot_capture"
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("*/5", "9-16", "mon-fri")
    assert str(task.crontab.timezone) == "America/New_York"
    assert task.expire_seconds == 450
    task.enabled = False
    task.save()
    assert periodic_tasks_setup() == [(n, "updated") for n in names]
    assert PeriodicTask.objects.get(name="capture snapshots").enabled is False
    assert PeriodicTask.objects.filter(name="capture snapshots").count() == 1


def test_outside_rth_setting_schedules_around_the_clock(sim) -> None:  # type: ignore[no-untyped-def]
    sim.ALLOW_SNAPSHOT_OUTSIDE_RTH = True
    sim.SNAPSHOT_INTERVAL_MINUTES = 1
    periodic_tasks_setup()
    crontab = PeriodicTask.objects.get(name="capture snapshots").crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("*/1", "*", "*")


def _beat() -> DatabaseScheduler:
    """A DatabaseScheduler on the test database, as beat builds it (its first read happens here)."""
    return DatabaseScheduler(app=celery_app)


def _minutes(entry: Any) -> set[int]:
    return set(entry.schedule.minute)


@pytest.mark.django_db(transaction=True)  # beat commits and closes connections as it reads
def test_a_changed_setting_resets_last_run_and_a_running_beat_picks_up_the_new_schedule(sim) -> None:  # type: ignore[no-untyped-def]
    periodic_tasks_setup()
    ran_at = timezone.now() - dt.timedelta(days=3)  # beat's sync wrote a run under the old schedule
    PeriodicTask.objects.filter(name__in=["capture snapshots", "sync orders"]).update(last_run_at=ran_at)
    beat = _beat()
    entry = beat.schedule["capture snapshots"]
    assert _minutes(entry) == set(range(0, 60, 5)) and entry.last_run_at == ran_at

    sim.SNAPSHOT_INTERVAL_MINUTES = 1
    done = dict(periodic_tasks_setup())
    assert done["capture snapshots"] == "rescheduled" and done["sync orders"] == "updated"

    capture = PeriodicTask.objects.get(name="capture snapshots")
    assert capture.last_run_at is None  # reset: the old run says nothing about the new schedule
    assert PeriodicTask.objects.get(name="sync orders").last_run_at == ran_at  # unchanged: kept
    entry = beat.schedule["capture snapshots"]  # the same scheduler instance, as a running beat
    assert _minutes(entry) == set(range(60))
    assert str(entry.schedule.tz) == "America/New_York"
    # Counted from the change, not from three days ago: not due at once, due within the minute.
    assert entry.last_run_at == capture.date_changed
    assert beat.schedule["sync orders"].last_run_at == ran_at


@pytest.mark.django_db(transaction=True)
def test_a_bulk_update_is_unseen_by_beat_until_setup_periodic_tasks_restores_and_announces_it(sim) -> None:  # type: ignore[no-untyped-def]
    """``queryset.update`` sends no signal, so beat keeps its old entry until ``update_changed()``;
    the command puts the code's schedule back (its own timezone, whatever the row was moved to),
    resets the run and tells the running beat, which follows."""
    periodic_tasks_setup()
    # Saving a crontab announces itself to beat (a signal): make it before beat starts.
    utc_half_hours, _ = CrontabSchedule.objects.get_or_create(
        minute="*/30", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC")
    beat = _beat()
    assert _minutes(beat.schedule["entry windows"]) == {0}
    PeriodicTask.objects.filter(name="entry windows").update(
        crontab=utc_half_hours, last_run_at=timezone.now() - dt.timedelta(days=3))
    assert _minutes(beat.schedule["entry windows"]) == {0}  # the bulk update went unnoticed
    PeriodicTasks.update_changed()  # what a migration doing such an update must call
    moved = beat.schedule["entry windows"]
    assert _minutes(moved) == {0, 30} and str(moved.schedule.tz) == "UTC"

    out = StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    assert "rescheduled: entry windows" in out.getvalue() and "updated: capture snapshots" in out.getvalue()
    entry = beat.schedule["entry windows"]
    assert _minutes(entry) == {0} and set(entry.schedule.hour) == {10, 11, 12}
    assert str(entry.schedule.tz) == "America/New_York"
    row = PeriodicTask.objects.get(name="entry windows")
    assert row.last_run_at is None and entry.last_run_at == row.date_changed


@pytest.mark.parametrize(
    ("last_run_et", "next_utc"),
    [
        # Friday before the March DST change -> Monday 09:00 EDT is 13:00 UTC.
        (dt.datetime(2026, 3, 6, 16, 55, tzinfo=NY), dt.datetime(2026, 3, 9, 13, 0, tzinfo=dt.UTC)),
        # Friday before the November change -> Monday 09:00 EST is 14:00 UTC.
        (dt.datetime(2026, 10, 30, 16, 55, tzinfo=NY), dt.datetime(2026, 11, 2, 14, 0, tzinfo=dt.UTC)),
        # Within a session: the next 5-minute mark, in New York time.
        (dt.datetime(2026, 3, 9, 9, 35, tzinfo=NY), dt.datetime(2026, 3, 9, 13, 40, tzinfo=dt.UTC)),
        (dt.datetime(2026, 11, 2, 9, 35, tzinfo=NY), dt.datetime(2026, 11, 2, 14, 40, tzinfo=dt.UTC)),
    ],
)
def test_crontab_follows_new_york_across_dst(sim, last_run_et, next_utc) -> None:  # type: ignore[no-untyped-def]
    periodic_tasks_setup()
    schedule = PeriodicTask.objects.get(name="capture snapshots").crontab.schedule
    frozen_now = last_run_et + dt.timedelta(seconds=1)
    schedule.nowfun = lambda: frozen_now.astimezone(schedule.tz)
    # remaining_estimate is elapsed (absolute) time, which is what beat sleeps: add it in UTC.
    fire_at = frozen_now.astimezone(dt.UTC) + schedule.remaining_estimate(last_run_et.astimezone(schedule.tz))
    assert fire_at.astimezone(dt.UTC) == next_utc


def test_capture_command_at_a_time_prints_json(sim) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("capture_snapshots", "--at", "2026-11-20T10:00", stdout=out)
    result = json.loads(out.getvalue())
    assert result["slot"] == "2026-11-20T15:00:00+00:00"
    assert [r["target_dte"] for r in result["inserted"]] == [3, 5, 7]
    with pytest.raises(CommandError, match="--at"):
        call_command("capture_snapshots", "--at", "not-a-time")


def test_list_expirations_and_setup_commands(sim) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("list_expirations", "--symbol", "SPX", stdout=out)
    lines = out.getvalue().splitlines()
    assert "from simulated" in lines[0] and len(lines) > 20
    dt.date.fromisoformat(lines[1])
    out = StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    assert "created: capture snapshots" in out.getvalue()


def test_ensure_operator_creates_once(sim, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    sim.VAR_DIR = tmp_path
    monkeypatch.delenv("OPERATOR_PASSWORD", raising=False)
    monkeypatch.setenv("OPERATOR_USERNAME", "ops")
    out = StringIO()
    call_command("ensure_operator", stdout=out)
    username, password = (tmp_path / "operator_login.txt").read_text().split()
    assert username == "ops" and password in out.getvalue()
    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser and user.check_password(password)
    out = StringIO()
    call_command("ensure_operator", stdout=out)
    assert "exists" in out.getvalue() and get_user_model().objects.count() == 1
