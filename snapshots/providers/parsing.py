"""One normaliser for Tradier's JSON shapes, used for real responses and simulated ones alike.

Tradier nests collections two levels deep (``{"options": {"option": ...}}``), returns a single
element as a bare object instead of a one-item list, and spells "empty" as a missing key, JSON
null, or the *string* ``"null"``. Errors can arrive inside HTTP 200 bodies. See
``shared/reference/tradier.md`` §3–4.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from typing import Any

from snapshots.providers.base import (
    CalendarDay,
    ChainResult,
    Expiration,
    MarketClock,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRequestError,
    ProviderUnavailable,
    QuoteSet,
)

# Substrings that mark a gateway fault as a credentials problem (e.g. faultstring "Access Token
# expired", errorcode "keymanagement.service.access_token_expired" or "oauth.v2.InvalidApiKey").
# Anything else in a fault envelope (QuantConnect sees "Datastore Error") is a transient gateway
# hiccup that is worth retrying, so it must not be reported as a refused request.
_AUTH_FAULT_MARKERS = ("token", "auth", "apikey", "keymanagement", "unauthorized")


def is_empty(value: Any) -> bool:
    return value is None or value == "null" or value == "" or value == {}


def to_list(value: Any) -> list[Any]:
    """Tradier collection value → list: list as is, one object → [object], null/"null"/missing → []."""
    if is_empty(value):
        return []
    if isinstance(value, list):
        return value
    return [value]


def unwrap(payload: Any, outer: str, inner: str) -> list[Any]:
    """``payload[outer][inner]`` as a list, accepting every empty spelling at either level."""
    if not isinstance(payload, dict):
        raise ProviderBadResponse(f"expected a JSON object with key {outer!r}, got {type(payload).__name__}")
    container = payload.get(outer)
    if is_empty(container):
        return []
    if not isinstance(container, dict):
        raise ProviderBadResponse(f"unexpected shape under {outer!r}: {type(container).__name__}")
    return to_list(container.get(inner))


def is_auth_fault(payload: Any) -> bool:
    """True for a gateway ``fault`` envelope about credentials (expired/invalid token or key)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("fault"), dict):
        return False
    fault = payload["fault"]
    detail = fault.get("detail")
    code = detail.get("errorcode", "") if isinstance(detail, dict) else ""
    text = f"{fault.get('faultstring', '')} {code}".lower()
    return any(marker in text for marker in _AUTH_FAULT_MARKERS)


def raise_for_body_errors(payload: Any) -> None:
    """Raise on ``{"errors": {"error": ...}}`` (HTTP 200 refusals) and gateway ``fault`` envelopes.

    Auth faults → ProviderAuthError (retrying cannot help); other faults → ProviderUnavailable
    (transient gateway trouble); ``errors.error`` (a string or a list) → ProviderRequestError.
    """
    if not isinstance(payload, dict):
        return
    if "fault" in payload and isinstance(payload["fault"], dict):
        fault = payload["fault"]
        text = str(fault.get("faultstring", "gateway fault"))
        detail = fault.get("detail")
        code = str(detail.get("errorcode", "")) if isinstance(detail, dict) else ""
        msg = f"{text} ({code})" if code else text
        if is_auth_fault(payload):
            raise ProviderAuthError(msg)
        raise ProviderUnavailable(f"gateway fault: {msg}")
    if "errors" in payload:
        errors = payload["errors"]
        messages = to_list(errors.get("error") if isinstance(errors, dict) else errors)
        raise ProviderRequestError("; ".join(str(m) for m in messages) or "error reported by provider")


def _date(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ProviderBadResponse(f"bad date {value!r}") from exc


def _strikes(value: Any) -> tuple[float, ...]:
    """``{"strike": 5.0 | [5.0, ...]}`` (or an empty spelling) → sorted tuple of floats."""
    try:
        return tuple(sorted(float(s) for s in unwrap({"strikes": value}, "strikes", "strike")))
    except (TypeError, ValueError) as exc:
        raise ProviderBadResponse(f"bad strike list: {exc}") from exc


def parse_expirations(payload: Any) -> list[Expiration]:
    """Both shapes: ``{"expirations": {"date": [...]}}`` and ``{"expirations": {"expiration": [{...}]}}``."""
    raise_for_body_errors(payload)
    out: list[Expiration] = []
    for item in unwrap(payload, "expirations", "date"):
        out.append(Expiration(date=_date(item)))
    for item in unwrap(payload, "expirations", "expiration"):
        if not isinstance(item, dict):
            raise ProviderBadResponse("expiration entry is not an object")
        strikes_value = item.get("strikes")
        out.append(
            Expiration(
                date=_date(item.get("date")),
                # None means "not requested"; () means "requested, none listed".
                strikes=None if strikes_value is None else _strikes(strikes_value),
                expiration_type=item.get("expiration_type"),
                contract_size=item.get("contract_size"),
            )
        )
    return sorted(out, key=lambda e: e.date)


def _is_number(value: Any) -> bool:
    # bool is an int subclass; a true/false strike would be a broken body, not strike 1/0.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _option_sort_key(option: dict[str, Any]) -> tuple[float, str, str]:
    return (float(option["strike"]), str(option.get("option_type", "")), str(option.get("symbol", "")))


def parse_chain(
    payload: Any, *, underlying: str, expiration: dt.date, received_at: dt.datetime
) -> ChainResult:
    """``{"options": {"option": [...]}}`` → ChainResult with options sorted (Tradier's order is not guaranteed).

    ``options`` holds copies (each option dict and its ``greeks`` dict, the only nested object Tradier
    sends there): callers annotate option dicts, and the stored ``payload`` (whose canonical JSON is
    checksummed) must stay what the provider sent. A full deepcopy cost ~7× more on a real-size chain.
    """
    raise_for_body_errors(payload)
    options = unwrap(payload, "options", "option")
    for option in options:
        if not isinstance(option, dict) or "symbol" not in option or not _is_number(option.get("strike")):
            raise ProviderBadResponse("chain entry without symbol or numeric strike")
    return ChainResult(
        underlying=underlying,
        expiration=expiration,
        payload=payload,
        options=sorted((_copy_option(o) for o in options), key=_option_sort_key),
        received_at=received_at,
    )


def _copy_option(option: dict[str, Any]) -> dict[str, Any]:
    copied = {k: (copy.deepcopy(v) if isinstance(v, (dict, list)) else v) for k, v in option.items()}
    return copied


def parse_quotes(payload: Any, requested: Sequence[str] = ()) -> QuoteSet:
    """``{"quotes": {"quote": obj|[...], "unmatched_symbols": {"symbol": ...}}}`` → QuoteSet by symbol.

    A requested symbol that is neither quoted nor listed as unmatched is reported as unmatched
    too, because Tradier sometimes just leaves unknown symbols out.
    """
    raise_for_body_errors(payload)
    quotes = {str(q["symbol"]): q for q in unwrap(payload, "quotes", "quote") if isinstance(q, dict) and "symbol" in q}
    container = payload.get("quotes")
    unmatched_value = container.get("unmatched_symbols") if isinstance(container, dict) else None
    unmatched = [str(s) for s in unwrap({"unmatched": unmatched_value}, "unmatched", "symbol")]
    unmatched += [s for s in requested if s not in quotes and s not in unmatched]
    return QuoteSet(quotes=quotes, unmatched=tuple(unmatched))


def parse_clock(payload: Any) -> MarketClock:
    raise_for_body_errors(payload)
    clock = payload.get("clock") if isinstance(payload, dict) else None
    if not isinstance(clock, dict):
        raise ProviderBadResponse("clock response without a clock object")
    try:
        return MarketClock(
            date=_date(clock["date"]),
            state=str(clock["state"]),
            # Epoch *seconds* here, unlike the millisecond trade/bid/ask dates.
            timestamp=dt.datetime.fromtimestamp(int(clock["timestamp"]), tz=dt.UTC),
            next_change=clock.get("next_change"),
            next_state=clock.get("next_state"),
            description=str(clock.get("description", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderBadResponse(f"bad clock object: {exc}") from exc


def parse_calendar(payload: Any) -> list[CalendarDay]:
    raise_for_body_errors(payload)
    cal = payload.get("calendar") if isinstance(payload, dict) else None
    if is_empty(cal):
        return []
    if not isinstance(cal, dict):
        raise ProviderBadResponse("bad calendar object")
    out: list[CalendarDay] = []
    for day in unwrap(cal, "days", "day"):
        if not isinstance(day, dict):
            raise ProviderBadResponse("calendar day is not an object")
        # Closed days may come without session objects, or with an empty spelling.
        session = day.get("open")
        if not isinstance(session, dict):
            session = {}
        out.append(
            CalendarDay(
                date=_date(day.get("date")),
                status=str(day.get("status", "")),
                description=str(day.get("description", "")),
                open_start=session.get("start"),
                open_end=session.get("end"),
            )
        )
    return out
