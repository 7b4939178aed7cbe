"""Scheduled market events: loading them from a CSV and reading them for the decision features.

CSV (header required; extra columns ignored)::

    day,kind,time,description
    2026-12-10,cpi,08:30,November CPI
    2026-12-04,nfp,08:30,November employment report

``kind`` is one of ``MarketEvent.Kind`` (fomc, cpi, nfp, other); ``time`` (HH:MM, New York) and
``description`` are optional. The whole file is checked before anything is written; a row for a
(day, kind) already loaded is updated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from django.db import transaction

from snapshots.models import MarketEvent


class EventFileError(ValueError):
    """The file cannot be loaded; the message names the line and the problem."""


@dataclass(frozen=True)
class EventImport:
    created: int
    updated: int


def events_import(text: str, *, source: str) -> EventImport:
    """Check every row of ``text`` (CSV, module docstring), then store them in one transaction."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "day" not in header or "kind" not in header:
        raise EventFileError("line 1: the header needs at least the columns day and kind")
    reader.fieldnames = header
    kinds = set(MarketEvent.Kind.values)
    rows: dict[tuple[dt.date, str], tuple[dt.time | None, str]] = {}
    for line, raw in enumerate(reader, start=2):
        try:
            day = dt.date.fromisoformat((raw.get("day") or "").strip())
        except ValueError:
            raise EventFileError(f"line {line}: day {raw.get('day')!r} is not YYYY-MM-DD") from None
        kind = (raw.get("kind") or "").strip().lower()
        if kind not in kinds:
            raise EventFileError(f"line {line}: kind {raw.get('kind')!r} is not one of {', '.join(sorted(kinds))}")
        when = (raw.get("time") or "").strip()
        try:
            time_et = dt.time.fromisoformat(when) if when else None
        except ValueError:
            raise EventFileError(f"line {line}: time {when!r} is not HH:MM") from None
        if (day, kind) in rows:
            raise EventFileError(f"line {line}: {kind} on {day} appears twice in the file")
        rows[(day, kind)] = (time_et, (raw.get("description") or "").strip()[:200])
    if not rows:
        raise EventFileError("the file has no rows")
    created = updated = 0
    with transaction.atomic():
        for (day, kind), (time_et, description) in rows.items():
            _, made = MarketEvent.objects.update_or_create(
                day=day, kind=kind, defaults={"time_et": time_et, "description": description, "source": source[:120]})
            created += made
            updated += not made
    return EventImport(created, updated)


def event_days(kind: str, start: dt.date, end: dt.date) -> tuple[dt.date, ...]:
    """The days with an event of ``kind`` from ``start`` to ``end``, ascending."""
    return tuple(MarketEvent.objects.filter(kind=kind, day__range=(start, end)).order_by("day")
                 .values_list("day", flat=True))
