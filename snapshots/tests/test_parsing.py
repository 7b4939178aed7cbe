"""Tests for the Tradier shape normaliser against every recorded fixture and every collection shape.

Bodies written inline here (expirations with strikes, calendars, unmatched symbols) are synthetic:
no real recording of those shapes exists (fixtures SOURCES.md, "Gaps"); they follow the documented
shapes in ``shared/reference/tradier.md`` §5.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapshots.providers.base import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRequestError,
    ProviderUnavailable,
)
from snapshots.providers.parsing import (
    is_auth_fault,
    parse_calendar,
    parse_chain,
    parse_clock,
    parse_expirations,
    parse_quotes,
    raise_for_body_errors,
    to_list,
    unwrap,
)

RECEIVED = dt.datetime(2024, 6, 28, 16, 6, 2, tzinfo=dt.UTC)
PLTR_EXP = dt.date(2026, 6, 18)
SPY_EXP = dt.date(2018, 4, 4)


def load(fixtures: Path, name: str) -> Any:
    return json.loads((fixtures / name).read_bytes())


def strikes_of(options: list[dict[str, Any]]) -> list[float]:
    return [float(o["strike"]) for o in options]


# ---------------------------------------------------------------------- every fixture parses


def check_chain_pltr(payload: Any) -> None:
    result = parse_chain(payload, underlying="PLTR", expiration=PLTR_EXP, received_at=RECEIVED)
    assert len(result.options) == 22
    assert strikes_of(result.options) == sorted(strikes_of(result.options))
    assert result.options[0]["strike"] == 13.0 and result.options[-1]["strike"] == 37.0
    assert all("greeks" in o and o["greeks"]["updated_at"] == "2024-06-28 14:58:59" for o in result.options)
    # Each strike is one call then one put: the tie-break on option_type is deterministic.
    assert [o["option_type"] for o in result.options] == ["call", "put"] * 11
    assert all(o["root_symbol"] == "PLTR" and o["expiration_date"] == "2026-06-18" for o in result.options)
    assert result.payload is payload


def check_chain_spy(payload: Any) -> None:
    raw = unwrap(payload, "options", "option")
    # The capture is in no strike order at all, which is why the parser sorts.
    assert strikes_of(raw) != sorted(strikes_of(raw))
    result = parse_chain(payload, underlying="SPY", expiration=SPY_EXP, received_at=RECEIVED)
    assert len(result.options) == 180
    assert strikes_of(result.options) == sorted(strikes_of(result.options))
    assert not any("greeks" in o for o in result.options)
    assert {o["symbol"] for o in result.options} == {o["symbol"] for o in raw}


def check_expirations_pltr(payload: Any) -> None:
    exps = parse_expirations(payload)
    assert len(exps) == 19
    assert exps[0].date == dt.date(2024, 6, 28) and exps[-1].date == dt.date(2026, 12, 18)
    assert dt.date(2026, 6, 18) in {e.date for e in exps}
    assert all(e.strikes is None and e.expiration_type is None for e in exps)


def check_quote_single_pltr(payload: Any) -> None:
    assert isinstance(payload["quotes"]["quote"], dict)  # the shape this fixture exists for
    qs = parse_quotes(payload, ["PLTR"])
    assert list(qs.quotes) == ["PLTR"] and qs.unmatched == ()
    assert qs.quotes["PLTR"]["last"] == 25.5 and qs.quotes["PLTR"]["close"] is None
    assert "greeks" not in qs.quotes["PLTR"]


def check_quotes_list(payload: Any) -> None:
    assert isinstance(payload["quotes"]["quote"], list)
    qs = parse_quotes(payload, ["SPY", "SPY251219P00450000"])
    assert set(qs.quotes) == {"SPY", "SPY251219P00450000"} and qs.unmatched == ()
    assert qs.quotes["SPY"]["type"] == "etf"
    option = qs.quotes["SPY251219P00450000"]
    assert option["type"] == "option" and option["strike"] == 450.0
    assert option["greeks"]["delta"] == pytest.approx(-0.136692803567622)


def check_quote_premarket(payload: Any) -> None:
    quote = parse_quotes(payload).quotes["AAPL"]
    assert [quote[k] for k in ("open", "high", "low", "close")] == [None, None, None, None]
    assert quote["change"] == 0.0 and quote["last"] == 125.02


def check_clock(payload: Any) -> None:
    clock = parse_clock(payload)
    assert clock.timestamp == dt.datetime(2019, 5, 6, 15, 36, 28, tzinfo=dt.UTC)
    assert clock.timestamp.tzinfo is dt.UTC
    assert (clock.date, clock.state, clock.next_state, clock.next_change) == (
        dt.date(2019, 5, 6),
        "open",
        "postmarket",
        "16:00",
    )


def check_orders_list(payload: Any) -> None:
    raise_for_body_errors(payload)
    orders = unwrap(payload, "orders", "order")
    assert len(orders) == 8 and orders[0]["quantity"] == 20.0
    assert {o["status"] for o in orders} == {"filled", "canceled"}


def check_null_string(outer: str, inner: str) -> Callable[[Any], None]:
    def check(payload: Any) -> None:
        assert payload[outer] == "null"  # the string, not JSON null
        raise_for_body_errors(payload)
        assert to_list(payload[outer]) == []
        assert unwrap(payload, outer, inner) == []

    return check


def check_order_ok(payload: Any) -> None:
    raise_for_body_errors(payload)
    [order] = to_list(payload["order"])
    assert isinstance(order["id"], int) and order["status"] == "ok"


def check_order_preview(payload: Any) -> None:
    raise_for_body_errors(payload)
    assert payload["order"]["order_cost"] == -69.0 and "id" not in payload["order"]


def check_order_error(payload: Any) -> None:
    with pytest.raises(ProviderRequestError) as info:
        raise_for_body_errors(payload)
    assert str(info.value) == "You do not have enough buying power for this trade."


def check_gainloss(payload: Any) -> None:
    raise_for_body_errors(payload)
    closed = unwrap(payload, "gainloss", "closed_position")
    assert len(closed) == 10 and sum(1 for c in closed if c["quantity"] < 0) == 4


def check_balances(payload: Any) -> None:
    raise_for_body_errors(payload)
    assert payload["balances"]["margin"]["option_buying_power"] == pytest.approx(6363.86)


def check_fault(payload: Any) -> None:
    assert is_auth_fault(payload)
    with pytest.raises(ProviderAuthError) as info:
        raise_for_body_errors(payload)
    assert "Access Token expired" in str(info.value)
    assert "keymanagement.service.access_token_expired" in str(info.value)


FIXTURE_CHECKS: dict[str, Callable[[Any], None]] = {
    "chain_pltr_2026-06-18_greeks_sandbox.json": check_chain_pltr,
    "chain_spy_2018-04-04_nogreeks_captured.json": check_chain_spy,
    "expirations_pltr_list_sandbox.json": check_expirations_pltr,
    "quote_single_object_pltr_sandbox.json": check_quote_single_pltr,
    "quotes_list_etf_and_option_greeks_sandbox.json": check_quotes_list,
    "quote_single_object_premarket_nulls_aapl_sandbox.json": check_quote_premarket,
    "clock_docs_example.json": check_clock,
    "orders_list_equity_captured.json": check_orders_list,
    "orders_empty_null_string_observed.json": check_null_string("orders", "order"),
    "positions_empty_null_string_observed.json": check_null_string("positions", "position"),
    "order_create_ok_captured.json": check_order_ok,
    "order_create_docs_example.json": check_order_ok,
    "order_preview_multileg_credit_spread_captured.json": check_order_preview,
    "order_error_buying_power_captured.json": check_order_error,
    "gainloss_closed_positions_captured.json": check_gainloss,
    "balances_margin_docs_example_edited.json": check_balances,
    "error_fault_access_token_expired_observed.json": check_fault,
}


def test_every_fixture_file_has_a_check(tradier_fixtures: Path) -> None:
    # A fixture added later without a parser check should fail here, not go silently untested.
    bodies = {p.name for p in tradier_fixtures.glob("*.json") if not p.name.endswith(".headers.json")}
    assert bodies == set(FIXTURE_CHECKS)


@pytest.mark.parametrize("name", sorted(FIXTURE_CHECKS))
def test_fixture_parses(tradier_fixtures: Path, name: str) -> None:
    FIXTURE_CHECKS[name](load(tradier_fixtures, name))


# ---------------------------------------------------------------------- chain specifics


def test_chain_options_are_copies_so_payload_stays_as_received(tradier_fixtures: Path) -> None:
    payload = load(tradier_fixtures, "chain_pltr_2026-06-18_greeks_sandbox.json")
    pristine = copy.deepcopy(payload)
    result = parse_chain(payload, underlying="PLTR", expiration=PLTR_EXP, received_at=RECEIVED)
    result.options[0]["mid"] = 1.0
    result.options[0]["greeks"]["delta"] = 0.0
    assert result.payload == pristine


@pytest.fixture(scope="module")
def pltr_options(tradier_fixtures: Path) -> list[dict[str, Any]]:
    # Module scope because hypothesis runs many examples per test call and rejects
    # function-scoped fixtures; the recorded list is only read, never mutated.
    options: list[dict[str, Any]] = load(tradier_fixtures, "chain_pltr_2026-06-18_greeks_sandbox.json")["options"]["option"]
    return options


@given(data=st.data())
def test_chain_sort_ignores_provider_order(pltr_options: list[dict[str, Any]], data: st.DataObject) -> None:
    expected = [o["symbol"] for o in sorted(pltr_options, key=lambda o: (o["strike"], o["option_type"]))]
    shuffled = {"options": {"option": data.draw(st.permutations(pltr_options))}}
    result = parse_chain(shuffled, underlying="PLTR", expiration=PLTR_EXP, received_at=RECEIVED)
    assert [o["symbol"] for o in result.options] == expected


@pytest.mark.parametrize(
    "option",
    [
        {"symbol": "X"},
        {"strike": 10.0},
        {"symbol": "X", "strike": "10"},
        {"symbol": "X", "strike": True},
        "not-an-object",
    ],
)
def test_chain_entry_without_symbol_or_numeric_strike_is_bad_response(option: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        parse_chain({"options": {"option": [option]}}, underlying="X", expiration=PLTR_EXP, received_at=RECEIVED)


# ---------------------------------------------------------------------- collection shapes

OPTION_A = {"symbol": "SPXW251219C05800000", "strike": 5800.0, "option_type": "call"}
OPTION_B = {"symbol": "SPXW251219P05700000", "strike": 5700.0, "option_type": "put"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"options": {"option": [OPTION_A, OPTION_B]}}, [OPTION_A, OPTION_B]),  # list
        ({"options": {"option": OPTION_A}}, [OPTION_A]),  # single object
        ({"options": {"option": None}}, []),  # inner JSON null
        ({"options": {"option": "null"}}, []),  # inner string "null"
        ({"options": {}}, []),  # inner key missing
        ({"options": None}, []),  # outer JSON null
        ({"options": "null"}, []),  # outer string "null"
        ({}, []),  # outer key missing
    ],
    ids=["list", "single", "inner-null", "inner-null-string", "inner-missing", "null", "null-string", "missing"],
)
def test_unwrap_every_collection_shape(payload: Any, expected: list[Any]) -> None:
    assert unwrap(payload, "options", "option") == expected


@pytest.mark.parametrize(
    ("options_value", "expected_symbols"),
    [
        ([OPTION_A, OPTION_B], [OPTION_B["symbol"], OPTION_A["symbol"]]),
        (OPTION_A, [OPTION_A["symbol"]]),
        (None, []),
        ("null", []),
    ],
    ids=["list", "single", "null", "null-string"],
)
def test_parse_chain_every_collection_shape(options_value: Any, expected_symbols: list[str]) -> None:
    payload = {"options": {"option": options_value}}
    result = parse_chain(payload, underlying="SPX", expiration=dt.date(2025, 12, 19), received_at=RECEIVED)
    assert [o["symbol"] for o in result.options] == expected_symbols


@pytest.mark.parametrize("payload", [{"options": None}, {"options": "null"}, {}])
def test_parse_chain_empty_spellings(payload: Any) -> None:
    result = parse_chain(payload, underlying="SPX", expiration=dt.date(2025, 12, 19), received_at=RECEIVED)
    assert result.options == [] and result.payload is payload


@pytest.mark.parametrize("payload", [None, "null", [], 3])
def test_unwrap_rejects_non_object_body(payload: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        unwrap(payload, "options", "option")


def test_unwrap_rejects_list_where_container_object_expected() -> None:
    with pytest.raises(ProviderBadResponse):
        unwrap({"options": [OPTION_A]}, "options", "option")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"expirations": {"date": "2025-12-19"}}, [dt.date(2025, 12, 19)]),  # one date: a bare string
        ({"expirations": {"date": ["2025-12-19", "2025-12-17"]}}, [dt.date(2025, 12, 17), dt.date(2025, 12, 19)]),
        ({"expirations": None}, []),  # symbol with no listed options
        ({"expirations": "null"}, []),
        ({"expirations": {"date": "null"}}, []),
        ({}, []),
    ],
    ids=["single-string", "list-unsorted", "null", "null-string", "inner-null-string", "missing"],
)
def test_parse_expirations_date_shapes(payload: Any, expected: list[dt.date]) -> None:
    assert [e.date for e in parse_expirations(payload)] == expected


def test_parse_expirations_with_strikes_list_shape() -> None:
    payload = {
        "expirations": {
            "expiration": [
                {
                    "date": "2025-12-19",
                    "contract_size": 100,
                    "expiration_type": "standard",
                    "strikes": {"strike": [5800.0, 5700.0, 5750.0]},
                },
                {
                    "date": "2025-12-17",
                    "contract_size": 100,
                    "expiration_type": "weeklys",
                    "strikes": {"strike": 5800.0},  # one strike: a bare number
                },
            ]
        }
    }
    exps = parse_expirations(payload)
    assert [e.date for e in exps] == [dt.date(2025, 12, 17), dt.date(2025, 12, 19)]
    assert exps[0].strikes == (5800.0,)
    assert exps[1].strikes == (5700.0, 5750.0, 5800.0)
    assert (exps[1].expiration_type, exps[1].contract_size) == ("standard", 100)


def test_parse_expirations_with_strikes_single_object_shape() -> None:
    payload = {"expirations": {"expiration": {"date": "2025-12-19", "strikes": {"strike": [5800.0, 5700.0]}}}}
    [exp] = parse_expirations(payload)
    assert exp.date == dt.date(2025, 12, 19)
    assert exp.strikes == (5700.0, 5800.0)
    assert exp.expiration_type is None


@pytest.mark.parametrize(("strikes_value", "expected"), [("null", ()), ({"strike": None}, ()), ({}, ())])
def test_parse_expirations_requested_strikes_but_none_listed(strikes_value: Any, expected: tuple[float, ...]) -> None:
    [exp] = parse_expirations({"expirations": {"expiration": {"date": "2025-12-19", "strikes": strikes_value}}})
    assert exp.strikes == expected


@pytest.mark.parametrize(
    "payload",
    [
        {"expirations": {"date": "12/19/2025"}},
        {"expirations": {"expiration": "2025-12-19"}},
        {"expirations": {"expiration": {"date": "2025-12-19", "strikes": {"strike": ["abc"]}}}},
        {"expirations": ["2025-12-19"]},
    ],
)
def test_parse_expirations_bad_shapes(payload: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        parse_expirations(payload)


def test_parse_quotes_reports_unmatched_symbols() -> None:
    payload = {
        "quotes": {
            "quote": {"symbol": "SPX", "type": "index", "last": 5800.0},
            "unmatched_symbols": {"symbol": "VIX9D"},
        }
    }
    qs = parse_quotes(payload, ["SPX", "VIX9D", "NOPE"])
    assert list(qs.quotes) == ["SPX"]
    # VIX9D from the unmatched list; NOPE because Tradier may simply leave a symbol out.
    assert qs.unmatched == ("VIX9D", "NOPE")


@pytest.mark.parametrize("payload", [{"quotes": None}, {"quotes": "null"}, {"quotes": {"quote": "null"}}, {}])
def test_parse_quotes_empty_spellings(payload: Any) -> None:
    qs = parse_quotes(payload, ["SPX"])
    assert qs.quotes == {} and qs.unmatched == ("SPX",)


CALENDAR_DOCS_SHAPE = {
    "calendar": {
        "month": 2,
        "year": 2019,
        "days": {
            "day": [
                {
                    "date": "2019-02-01",
                    "status": "open",
                    "description": "Market is open",
                    "premarket": {"start": "07:00", "end": "09:24"},
                    "open": {"start": "09:30", "end": "16:00"},
                    "postmarket": {"start": "16:00", "end": "20:00"},
                },
                {"date": "2019-02-02", "status": "closed", "description": "Market is closed"},
            ]
        },
    }
}


def test_parse_calendar_docs_shape() -> None:
    days = parse_calendar(CALENDAR_DOCS_SHAPE)
    assert [(d.date, d.status, d.open_start, d.open_end) for d in days] == [
        (dt.date(2019, 2, 1), "open", "09:30", "16:00"),
        (dt.date(2019, 2, 2), "closed", None, None),
    ]


def test_parse_calendar_single_day_and_empty() -> None:
    single = {"calendar": {"days": {"day": {"date": "2019-02-01", "status": "open", "open": "null"}}}}
    [day] = parse_calendar(single)
    assert day.date == dt.date(2019, 2, 1) and day.open_start is None
    assert parse_calendar({"calendar": None}) == []
    assert parse_calendar({"calendar": {"days": "null"}}) == []
    with pytest.raises(ProviderBadResponse):
        parse_calendar({"calendar": {"days": {"day": ["2019-02-01"]}}})


@pytest.mark.parametrize(
    "payload",
    [
        {"clock": None},
        {"clock": {"date": "2019-05-06", "state": "open"}},
        {"clock": {"date": "2019-05-06", "state": "open", "timestamp": "soon"}},
        None,
    ],
)
def test_parse_clock_bad_shapes(payload: Any) -> None:
    with pytest.raises(ProviderBadResponse):
        parse_clock(payload)


# ---------------------------------------------------------------------- errors and faults


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"errors": {"error": "Invalid parameter, duration: pre market no longer available"}},
         "Invalid parameter, duration: pre market no longer available"),
        ({"errors": {"error": ["first problem", "second problem"]}}, "first problem; second problem"),
        ({"errors": {"error": None}}, "error reported by provider"),
    ],
    ids=["string", "list", "null"],
)
def test_errors_error_string_or_list(payload: Any, message: str) -> None:
    with pytest.raises(ProviderRequestError) as info:
        raise_for_body_errors(payload)
    assert str(info.value) == message


def test_errors_in_a_parser_input_raise_before_parsing() -> None:
    with pytest.raises(ProviderRequestError):
        parse_quotes({"errors": {"error": "bad symbol"}})


def test_non_auth_fault_is_transient() -> None:
    payload = {"fault": {"faultstring": "Datastore Error", "detail": {"errorcode": "datastore.Error"}}}
    assert not is_auth_fault(payload)
    with pytest.raises(ProviderUnavailable, match="Datastore Error"):
        raise_for_body_errors(payload)


@pytest.mark.parametrize(
    "fault",
    [
        {"faultstring": "Invalid Access Token", "detail": {"errorcode": "keymanagement.service.invalid_access_token"}},
        {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "oauth.v2.InvalidApiKey"}},
        {"faultstring": "Access Token expired"},
    ],
)
def test_auth_faults(fault: dict[str, Any]) -> None:
    with pytest.raises(ProviderAuthError):
        raise_for_body_errors({"fault": fault})


# ---------------------------------------------------------------------- properties

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
EMPTY_SPELLINGS: list[Any] = [None, "null", "", {}]


@given(json_values)
def test_to_list_property(value: Any) -> None:
    result = to_list(value)
    if isinstance(value, list):
        assert result is value
    elif value in EMPTY_SPELLINGS:
        assert result == []
    else:
        assert result == [value]


@given(json_values)
def test_unwrap_equals_to_list_of_inner_value(value: Any) -> None:
    assert unwrap({"outer": {"inner": value}}, "outer", "inner") == to_list(value)


@given(
    st.lists(st.dictionaries(st.sampled_from(["symbol", "strike", "x"]), json_scalars, min_size=1), max_size=5),
    st.sampled_from(EMPTY_SPELLINGS),
    st.booleans(),
)
def test_tradier_encoding_round_trips(items: list[dict[str, Any]], empty: Any, empty_at_outer: bool) -> None:
    # Encode a collection the way Tradier does (object for one, list for several, an empty
    # spelling at either level for none) and check unwrap recovers the items.
    if not items:
        payload: dict[str, Any] = {"outer": empty} if empty_at_outer else {"outer": {"inner": empty}}
    elif len(items) == 1:
        payload = {"outer": {"inner": items[0]}}
    else:
        payload = {"outer": {"inner": items}}
    assert unwrap(payload, "outer", "inner") == items
