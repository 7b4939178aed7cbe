"""Small helpers shared by management commands."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone


def parse_at(value: str, *, flag: str = "--at") -> dt.datetime:
    """An ISO time from the command line, aware; New York time (TIME_ZONE) when it has no offset."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{flag}: {exc}") from exc
    if timezone.is_naive(when):
        when = timezone.make_aware(when, timezone.get_default_timezone())
    return when
