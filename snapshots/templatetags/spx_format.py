"""Display filters shared by every page: one money format, labels for codes, ET times with UTC on hover."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils import dateformat
from django.utils.html import format_html
from django.utils.safestring import SafeString

from snapshots.formatting import usd_billions_text, usd_text

register = template.Library()

NEW_YORK = ZoneInfo("America/New_York")

# Codes stored as plain strings (not model choices): the words a trader reads. Others lose their underscores.
CODE_LABELS = {
    "put_credit": "put credit", "call_credit": "call credit",
    "take_profit": "take profit", "stop_loss": "stop loss", "time_exit": "time exit", "settlement": "settlement",
    "risk_limit": "risk limit", "ok": "ok", "not_filled": "not filled", "open_at_end": "open at end of data",
    "live_paper": "live paper", "sell": "sell", "buy": "buy", "open": "open", "close": "close",
    "vix": "VIX", "target": "DTE target", "manual": "closed by the operator",
}


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    """0.2034 → "20.3%"; None/empty → ""."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def usd(value: Any) -> str:
    return usd_text(value)


@register.filter
def usd_bn(value: Any) -> str:
    return usd_billions_text(value)


@register.filter
def label(code: Any) -> str:
    """A stored code as words: "call_credit" → "call credit", "stop_loss" → "stop loss"."""
    if code is None:
        return ""
    text = str(code)
    return CODE_LABELS.get(text, text.replace("_", " "))


# Django date-format characters the pages use, as strftime directives: most pages show dozens of
# instants, and strftime is several times cheaper than django.utils.dateformat (English day names
# either way). Any other format goes through dateformat.
_STRFTIME = {"Y": "%Y", "m": "%m", "d": "%d", "H": "%H", "i": "%M", "s": "%S", "D": "%a"}


@functools.lru_cache(maxsize=64)
def _strftime_of(fmt: str) -> str | None:
    out = []
    for ch in fmt:
        if ch in _STRFTIME:
            out.append(_STRFTIME[ch])
        elif ch in " -:/T.,()":
            out.append(ch)
        else:
            return None
    return "".join(out)


@register.filter
def et(value: dt.datetime | None, fmt: str = "Y-m-d H:i") -> SafeString | str:
    """An aware datetime in New York time (``fmt`` is Django's date format), UTC on hover."""
    if not isinstance(value, dt.datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    utc = value.astimezone(dt.UTC)
    local = value.astimezone(NEW_YORK)
    pattern = _strftime_of(fmt)
    text = local.strftime(pattern) if pattern is not None else dateformat.format(local, fmt)
    return format_html('<time datetime="{}" title="{} UTC">{}</time>', utc.isoformat(),
                       utc.strftime("%Y-%m-%d %H:%M:%S"), text)
