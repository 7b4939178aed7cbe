"""Beat schedules, defined in code and upserted into django-celery-beat by ``setup_periodic_tasks``.

Each entry is keyed by name; an operator's enable/disable in admin survives re-registration.
Crontabs are in America/New_York so they follow DST; the services still check the trading
calendar (holidays, early closes) themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

SCHEDULE_TZ = "America/New_York"


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    minute: str
    hour: str
    day_of_week: str
    expire_seconds: int


def periodic_definitions() -> list[Periodic]:
    interval = settings.SNAPSHOT_INTERVAL_MINUTES
    every_hour = settings.ALLOW_SNAPSHOT_OUTSIDE_RTH  # demo/always-on: fire around the clock
    return [
        Periodic(
            name="capture snapshots",
            task="snapshots.tasks.snapshot_capture",
            minute=f"*/{interval}",
            hour="*" if every_hour else "9-16",
            day_of_week="*" if every_hour else "mon-fri",
            # ~1.5× the interval: a backlog drops stale captures instead of running them late.
            expire_seconds=int(interval * 60 * 1.5),
        ),
        Periodic(
            name="entry windows",
            task="execution.tasks.entry_window_run",
            minute="0",
            hour="10,11,12",
            day_of_week="mon-fri",  # holidays are skipped by the service, from the trading calendar
            expire_seconds=15 * 60,
        ),
        Periodic(
            name="sync orders",
            task="execution.tasks.orders_sync",
            minute="*",
            hour="9-16",
            day_of_week="mon-fri",
            expire_seconds=50,
        ),
        Periodic(
            name="mark positions",
            task="execution.tasks.positions_mark",
            # One minute after each capture slot, so the mark reads that slot's chain.
            minute=f"1-59/{interval}",
            hour="*" if every_hour else "9-16",
            day_of_week="*" if every_hour else "mon-fri",
            expire_seconds=int(interval * 60 * 1.5),
        ),
        Periodic(
            name="shadow outcomes",
            task="strategy.tasks.shadow_outcomes_update",
            # With the marks: walks the slot's chains for candidates that did not trade.
            minute=f"2-59/{interval}",
            hour="*" if every_hour else "9-16",
            day_of_week="*" if every_hour else "mon-fri",
            expire_seconds=int(interval * 60 * 1.5),
        ),
        Periodic(
            name="ml monitoring",
            task="mlmodels.tasks.monitoring_check",
            # After the close: logs each active model's feature/score drift (PSI ≥ 0.25).
            minute="30",
            hour="16",
            day_of_week="mon-fri",
            expire_seconds=3600,
        ),
        Periodic(
            name="stuck backtest chunks",
            task="backtests.tasks.stuck_chunks_sweep",
            # Around the clock (runs go on at night and on weekends); a chunk counts as stuck only
            # after its hard time limit + BACKTEST_CHUNK_STUCK_MARGIN_S, so every 10 minutes is plenty.
            minute="*/10",
            hour="*",
            day_of_week="*",
            expire_seconds=15 * 60,
        ),
    ]


@transaction.atomic
def periodic_tasks_setup() -> list[tuple[str, str]]:
    """Upsert every defined schedule; returns (name, "created"|"rescheduled"|"updated") pairs
    ("rescheduled": its crontab, timezone or task changed, and its last run was reset)."""
    done = []
    for p in periodic_definitions():
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=p.minute, hour=p.hour, day_of_week=p.day_of_week, day_of_month="*", month_of_year="*",
            timezone=SCHEDULE_TZ,
        )
        task, created = PeriodicTask.objects.get_or_create(
            name=p.name,
            defaults={"task": p.task, "crontab": crontab, "expire_seconds": p.expire_seconds, "kwargs": json.dumps({})},
        )
        rescheduled = not created and (task.crontab_id != crontab.pk or task.interval_id is not None
                                       or task.task != p.task)
        if not created:
            # Keep `enabled` as the operator left it; everything else follows the code.
            task.task, task.crontab, task.interval = p.task, crontab, None
            task.expire_seconds = p.expire_seconds
            if rescheduled:
                # A run recorded under the old schedule (or timezone) says nothing about the new
                # one: judged against it, a days-old run would fire at once. Without it, beat counts
                # from this change (``date_changed``) and fires at the new schedule's next instant.
                task.last_run_at = None
            task.save()
        done.append((p.name, "created" if created else "rescheduled" if rescheduled else "updated"))
    # Beat's DatabaseScheduler re-reads its rows only when this stamp moves. ``save()`` moves it, but
    # a ``queryset.update()`` (a migration, a bulk edit) does not: running this command after one
    # restores the code's schedules and tells a running beat.
    PeriodicTasks.update_changed()
    return done
