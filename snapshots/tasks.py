"""Celery entry points for the snapshots app: thin wrappers over services."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from snapshots.providers.base import ProviderUnavailable


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=15)
def snapshot_capture(self, slot_iso: str | None = None) -> None:
    from snapshots.services import slot_floor, snapshot_capture as capture  # lazy: no import cycles
    from django.conf import settings

    slot = dt.datetime.fromisoformat(slot_iso) if slot_iso else slot_floor(
        timezone.now(), minutes=settings.SNAPSHOT_INTERVAL_MINUTES
    )
    try:
        capture(now=slot)  # the service checks the trading calendar itself
    except ProviderUnavailable as exc:  # retry only what is transient; a retry keeps its slot
        raise self.retry(exc=exc, args=[slot.isoformat()])
