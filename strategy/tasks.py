"""Celery entry points for the strategy app (the entry-window task lives with execution, which owns
the risk state and the order hand-over)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True)
def shadow_outcomes_update() -> None:
    """A minute after each capture slot: advance every pending candidate's shadow outcome."""
    from snapshots.services import settlement_value_get
    from strategy import outcomes

    outcomes.shadow_outcomes_update(now=timezone.now(), settlement_value=settlement_value_get)
