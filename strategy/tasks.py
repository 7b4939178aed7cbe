"""Celery entry points for the strategy app."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone


@shared_task(bind=True, acks_late=True, max_retries=2, default_retry_delay=20)
def entry_window_run(self, window_iso: str | None = None) -> None:  # type: ignore[no-untyped-def]
    from strategy.services import NEW_YORK, entry_window_run as run  # lazy: no import cycles

    if window_iso:
        at = dt.datetime.fromisoformat(window_iso)
    else:
        # Beat fires on the hour; pin the window so a late start or a retry keeps its key.
        at = timezone.now().astimezone(NEW_YORK).replace(minute=0, second=0, microsecond=0)
    run(at=at)
