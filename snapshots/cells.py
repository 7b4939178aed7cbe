"""The cells of the list pages' rows, built in Python: the same text as the template tags and filters
they replace (``{% url %}``, ``|date``, ``|floatformat``, a number printed by ``{{ }}``), at a
fraction of the cost. A trades or decisions page has 50–300 rows of ~12 cells; looked up cell by
cell in a template they were most of the request's CPU (bench/README.md "Load").

Tests pin each helper to the template's own output (``snapshots/tests/test_cells.py``) and each
row renderer to the template row it replaced.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.template.defaultfilters import time as time_filter
from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language

_PK = 987654321  # a stand-in id: reversed once, then replaced by each row's id


@functools.lru_cache(maxsize=64)
def _url_pattern(name: str, prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(name, args=[_PK]).partition(str(_PK))
    return head, tail


def pk_url(name: str, pk: int) -> str:
    """``{% url name pk %}`` for a URL whose one argument is an id."""
    head, tail = _url_pattern(name, get_script_prefix())
    return f"{head}{int(pk)}{tail}"


def number_text(value: Any) -> str:
    """A number as ``{{ value }}`` prints it (no thousands separator, a Decimal's places as stored);
    None → "" (``|default_if_none:""``)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


@functools.lru_cache(maxsize=4096)
def _floatformat(value: Any, arg: str, language: str | None) -> str:
    return str(floatformat(value, arg))


def float_text(value: Any, arg: str) -> str:
    """``value|floatformat:arg`` (strikes: a few hundred distinct values, so remembered)."""
    return _floatformat(value, arg, get_language())


@functools.lru_cache(maxsize=4096)
def _date(value: dt.date | dt.time, fmt: str, language: str | None) -> str:
    return str(time_filter(value, fmt) if isinstance(value, dt.time) else date_filter(value, fmt))


def date_text(value: dt.date | dt.time | None, fmt: str) -> str:
    """``value|date:fmt`` of a day, ``value|time:fmt`` of a time of day (an instant takes ``|et``);
    the few hundred days and windows of a page's rows are remembered."""
    if value is None:
        return ""
    return _date(value, fmt, get_language())


def pnl_class(value: Any) -> str:
    """The class a PnL cell takes: "good" above 0, "bad" below, "" for 0 or None."""
    if value is None:
        return ""
    return "good" if value > 0 else "bad" if value < 0 else ""
