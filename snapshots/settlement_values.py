"""Official settlement values: loaded from a CSV by the operator, read first by every settlement.

CSV (header required, columns in any order, extra columns ignored)::

    day,root,settlement,value
    2025-12-19,SPX,AM,5899.27
    2025-12-19,SPXW,PM,5974.50

``day`` is the expiration (settlement) date, ``root`` SPX or SPXW, ``settlement`` AM or PM (SPX is
AM, SPXW is PM: a row that says otherwise is refused), ``value`` the index value in points (two
decimals at most). The whole file is checked before anything is written; a row for a day and root
already loaded replaces the old value (the latest file wins) and says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from snapshots.models import SettlementValue
from strategy.quant.timemodel import ROOT_SETTLEMENT

REQUIRED_COLUMNS = ("day", "root", "settlement", "value")


class SettlementFileError(ValueError):
    """The file cannot be loaded; the message names the line and the problem."""


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _parse(text: str) -> list[tuple[dt.date, str, str, Decimal]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise SettlementFileError(f"line 1: missing column(s) {', '.join(missing)} (need {', '.join(REQUIRED_COLUMNS)})")
    reader.fieldnames = header
    rows: dict[tuple[dt.date, str], tuple[dt.date, str, str, Decimal]] = {}
    for line, raw in enumerate(reader, start=2):
        try:
            day = dt.date.fromisoformat((raw["day"] or "").strip())
        except ValueError:
            raise SettlementFileError(f"line {line}: day {raw['day']!r} is not YYYY-MM-DD") from None
        root = (raw["root"] or "").strip().upper()
        if root not in ROOT_SETTLEMENT:
            raise SettlementFileError(f"line {line}: root {raw['root']!r} is not one of {', '.join(ROOT_SETTLEMENT)}")
        style = (raw["settlement"] or "").strip().upper()
        if style != ROOT_SETTLEMENT[root]:
            raise SettlementFileError(f"line {line}: {root} settles {ROOT_SETTLEMENT[root]}, the row says {style!r}")
        try:
            value = Decimal((raw["value"] or "").strip())
        except InvalidOperation:
            raise SettlementFileError(f"line {line}: value {raw['value']!r} is not a number") from None
        exponent = value.as_tuple().exponent
        if not value.is_finite() or value <= 0 or not isinstance(exponent, int) or exponent < -2:
            raise SettlementFileError(f"line {line}: value {raw['value']!r} must be positive with at most two decimals")
        if (day, root) in rows:
            raise SettlementFileError(f"line {line}: {root} {day} appears twice in the file")
        rows[(day, root)] = (day, root, style, value)
    if not rows:
        raise SettlementFileError("the file has no rows")
    return list(rows.values())


def settlements_import(text: str, *, source: str) -> ImportResult:
    """Check every row of ``text`` (CSV, module docstring), then store them in one transaction."""
    label = source.strip()
    if not label:
        raise SettlementFileError("give the values a source label (e.g. 'Cboe SET')")
    rows = _parse(text)
    created = updated = unchanged = 0
    with transaction.atomic():
        for day, root, style, value in rows:
            current = SettlementValue.objects.filter(expiration=day, root=root).first()
            if current is None:
                SettlementValue.objects.create(expiration=day, root=root, style=style, value=value, source=label[:80])
                created += 1
            elif current.value == value and current.source == label[:80]:
                unchanged += 1
            else:
                current.value, current.source, current.style = value, label[:80], style
                current.save()
                updated += 1
    return ImportResult(created, updated, unchanged)


def official_settlement(expiration: dt.date, root: str) -> tuple[float, str] | None:
    """(value, label) loaded for this series, or None."""
    row = SettlementValue.objects.filter(expiration=expiration, root=root).first()
    return (float(row.value), row.source) if row else None


def official_settlements(start: dt.date, end: dt.date) -> dict[tuple[str, dt.date], tuple[float, str]]:
    """{(root, expiration): (value, label)} for expirations from ``start`` to ``end``."""
    return {(r.root, r.expiration): (float(r.value), r.source)
            for r in SettlementValue.objects.filter(expiration__range=(start, end))}


def as_rows(values: dict[tuple[str, dt.date], tuple[float, str]]) -> list[list[object]]:
    """JSON-ready, sorted: [[expiration, root, value, label], ...] (stored with a backtest's params)."""
    return [[e.isoformat(), r, v, label] for (r, e), (v, label) in sorted(values.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def from_rows(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, dt.date], tuple[float, str]]:
    """The inverse of ``as_rows``."""
    return {(str(r), dt.date.fromisoformat(str(e))): (float(v), str(label)) for e, r, v, label in rows}
