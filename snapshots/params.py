"""One strict parser for query-string values, shared by every app's pages and API (it sits in the
lowest app so all can import it).

Integers are bounded to what a database column holds (SQLite INTEGER and PostgreSQL bigint are
signed 64-bit): a wider number never reaches a query, where it would raise ``OverflowError`` and
answer 500. Dates are ``YYYY-MM-DD`` only (``date.fromisoformat`` alone would also take
``20261120`` or ``2026-W47-5``).

- Pages: ``QueryParams(request.GET)`` collects one message per bad parameter in ``.errors``; the
  page shows them and ignores the filter.
- API: ``IdField``, ``BoundedIntegerField`` and ``StrictDateField`` in the views' input serializers,
  so a bad value is a 400 ``{error, fields: {<param>: [...]}}``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework import serializers

DB_INT_MAX = 2**63 - 1  # the widest integer column (SQLite INTEGER, PostgreSQL bigint)
DB_INT_MIN = -(2**63)
_INT_RE = re.compile(r"[+-]?[0-9]{1,25}")  # ASCII digits only ("²".isdigit() is True; int("²") fails)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ParamError(ValueError):
    """A query value that does not parse; the message says what was expected ("a whole number")."""


def parse_int(raw: str, *, min_value: int = DB_INT_MIN, max_value: int = DB_INT_MAX) -> int:
    """``raw`` as an int within [min_value, max_value] (never wider than a 64-bit column)."""
    text = raw.strip()
    if not _INT_RE.fullmatch(text):
        raise ParamError("a whole number")
    value = int(text)
    lo, hi = max(min_value, DB_INT_MIN), min(max_value, DB_INT_MAX)
    if not lo <= value <= hi:
        raise ParamError(f"a whole number from {lo} to {hi}")
    return value


def parse_date(raw: str) -> dt.date:
    """``raw`` as a date, strictly ``YYYY-MM-DD``."""
    text = raw.strip()
    if not _DATE_RE.fullmatch(text):
        raise ParamError("a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ParamError("a real date (YYYY-MM-DD)") from None


class QueryParams:
    """A page's query string, read one parameter at a time: a missing or blank value is None, a bad
    one is None plus a message in ``errors``: ``"<name> must be <expected>, got '<raw>'"``, where
    ``expected`` is the caller's words ("a config id") or the parser's ("a whole number")."""

    def __init__(self, query: Mapping[str, str]) -> None:
        self.query = query
        self.errors: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.query.get(name)
        if value is None or not str(value).strip():
            return None
        return str(value)

    def _fail(self, name: str, raw: str, expected: str) -> None:
        self.errors.append(f"{name} must be {expected}, got {raw[:40]!r}")

    def id(self, name: str, *, expected: str | None = None) -> int | None:
        """A row id: 1 … 2^63 − 1."""
        return self.integer(name, min_value=1, expected=expected)

    def integer(self, name: str, *, min_value: int = DB_INT_MIN, max_value: int = DB_INT_MAX,
            expected: str | None = None) -> int | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            return parse_int(raw, min_value=min_value, max_value=max_value)
        except ParamError as exc:
            self._fail(name, raw, expected or str(exc))
            return None

    def date(self, name: str) -> dt.date | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            return parse_date(raw)
        except ParamError as exc:
            self._fail(name, raw, str(exc))
            return None

    def choice(self, name: str, choices: Iterable[str], *, expected: str | None = None) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        options = list(choices)
        if raw in options:
            return raw
        self._fail(name, raw, expected or f"one of {', '.join(options)}")
        return None


class BoundedIntegerField(serializers.IntegerField):
    """DRF's ``IntegerField`` that never lets through a number wider than a 64-bit column."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["min_value"] = max(kwargs.get("min_value", DB_INT_MIN), DB_INT_MIN)
        kwargs["max_value"] = min(kwargs.get("max_value", DB_INT_MAX), DB_INT_MAX)
        super().__init__(**kwargs)


class IdField(BoundedIntegerField):
    """A row id in a query or body: 1 … 2^63 − 1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


class StrictDateField(serializers.DateField):
    """DRF's ``DateField`` taking ``YYYY-MM-DD`` only."""

    def to_internal_value(self, value: Any) -> dt.date:
        if isinstance(value, str) and not _DATE_RE.fullmatch(value.strip()):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)
