"""Shared broker types: local validation (never sent), fills and their dedup key, PlaceResult."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from execution.brokers.base import (
    AmbiguousTag,
    BrokerBadResponse,
    BrokerLeg,
    BrokerOrder,
    CancelResult,
    OrderDenied,
    OrderLeg,
    OrderOutcomeUnknown,
    OrderRejected,
    PlaceOutcome,
    PlaceResult,
    SpreadOrderRequest,
    check_replace_price,
    format_price,
    select_by_tag,
    validate_spread_request,
)
from execution.order_states import OrderState

SHORT = "SPXW260618P05800000"
LONG = "SPXW260618P05790000"


def credit(**overrides: Any) -> SpreadOrderRequest:
    fields: dict[str, Any] = {
        "client_tag": "ocr-3f2a9c",
        "legs": ((SHORT, "sell_to_open", 2), (LONG, "buy_to_open", 2)),
        "order_type": "credit",
        "limit_price": "0.25",
    }
    fields.update(overrides)
    return SpreadOrderRequest(**fields)


def test_request_normalises_legs_and_price() -> None:
    req = credit(limit_price=0.1 + 0.2)  # float noise must not survive
    assert req.limit_price == Decimal("0.3")
    assert req.legs[0] == OrderLeg(SHORT, "sell_to_open", 2)
    assert isinstance(req.legs[1], OrderLeg)
    assert req.quantity == 2 and req.is_opening
    validate_spread_request(req)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"legs": ((SHORT, "sell_to_open", 2),)}, "legs"),  # one leg
        (
            {
                "legs": tuple(
                    (f"SPXW260618P0{5800 - 5 * i}000", "sell_to_open" if i == 0 else "buy_to_open", 1) for i in range(5)
                )
            },
            "legs",
        ),
        ({"legs": ((SHORT, "sell_to_open", 2), ("SPXW260619P05790000", "buy_to_open", 2))}, "legs"),  # expirations
        ({"legs": ((SHORT, "sell_to_open", 2), ("SPX260618P05790000", "buy_to_open", 2))}, "legs"),  # AM + PM roots
        (
            {"legs": (("SPY260618P00580000", "sell_to_open", 2), ("SPY260618P00579000", "buy_to_open", 2))},
            "legs",
        ),  # root
        ({"legs": ((SHORT, "sell_to_open", 0), (LONG, "buy_to_open", 0))}, "legs[0].quantity"),
        ({"legs": ((SHORT, "sell_to_open", -1), (LONG, "buy_to_open", -1))}, "legs[0].quantity"),
        ({"legs": ((SHORT, "sell_to_open", 11), (LONG, "buy_to_open", 11))}, "legs[0].quantity"),  # > max 10
        ({"legs": ((SHORT, "sell_to_open", True), (LONG, "buy_to_open", True))}, "legs[0].quantity"),
        ({"legs": ((SHORT, "sell_to_open", 2.0), (LONG, "buy_to_open", 2.0))}, "legs[0].quantity"),
        ({"legs": ((SHORT, "sell_to_open", 2), (LONG, "buy_to_open", 1))}, "legs"),  # ratio
        ({"legs": ((SHORT, "sell_to_open", 2), (LONG, "sell_to_open", 2))}, "legs"),  # two sells
        ({"legs": ((SHORT, "sell_to_open", 2), (SHORT, "buy_to_open", 2))}, "legs"),  # same option twice
        ({"legs": ((SHORT, "sell_short", 2), (LONG, "buy_to_open", 2))}, "legs[0].side"),
        ({"legs": ((SHORT, "sell_to_close", 2), (LONG, "buy_to_close", 2))}, "legs"),  # credit must open
        ({"legs": (("SPXW  260618P05800000", "sell_to_open", 2), (LONG, "buy_to_open", 2))}, "legs[0].option_symbol"),
        ({"legs": (("SPXW5800P", "sell_to_open", 2), (LONG, "buy_to_open", 2))}, "legs[0].option_symbol"),
        ({"order_type": "debit"}, "legs"),  # debit must close
        ({"order_type": "even"}, "order_type"),
        ({"underlying": "SPY"}, "underlying"),
        ({"duration": "gtc"}, "duration"),
        ({"limit_price": "0"}, "limit_price"),
        ({"limit_price": "-0.25"}, "limit_price"),
        ({"limit_price": "0.27"}, "limit_price"),
        ({"limit_price": "10.00"}, "limit_price"),  # credit = width: a certain loss
        ({"limit_price": "12.00"}, "limit_price"),
        ({"client_tag": "ocr_3f2a"}, "client_tag"),
        ({"client_tag": "ocr 3f2a"}, "client_tag"),
        ({"client_tag": "ocr:3f2a"}, "client_tag"),
        ({"client_tag": "ocr.3f2a"}, "client_tag"),
        ({"client_tag": ""}, "client_tag"),
        ({"client_tag": "a" * 256}, "client_tag"),
    ],
)
def test_denied_locally(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(OrderDenied) as info:
        validate_spread_request(credit(**overrides))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_limits_that_pass() -> None:
    validate_spread_request(credit(client_tag="A" * 255))
    validate_spread_request(credit(client_tag="ocr-0123456789abcdef-XYZ"))
    validate_spread_request(credit(legs=((SHORT, "sell_to_open", 10), (LONG, "buy_to_open", 10))))
    validate_spread_request(credit(legs=((SHORT, "sell_to_open", 25), (LONG, "buy_to_open", 25))), max_quantity=25)
    validate_spread_request(credit(limit_price="9.95"))  # just below the 10-point width
    closing = credit(
        order_type="debit", legs=((SHORT, "buy_to_close", 2), (LONG, "sell_to_close", 2)), limit_price="10.00"
    )
    validate_spread_request(closing)  # paying the full width to close is possible, deep in the money
    with pytest.raises(OrderDenied):
        validate_spread_request(closing, max_quantity=1)


def test_four_leg_condor_passes() -> None:
    legs = (
        ("SPXW260618P05700000", "buy_to_open", 1),
        ("SPXW260618P05710000", "sell_to_open", 1),
        ("SPXW260618C06100000", "sell_to_open", 1),
        ("SPXW260618C06110000", "buy_to_open", 1),
    )
    validate_spread_request(credit(legs=legs, limit_price="1.45"))


@pytest.mark.parametrize(
    ("price", "ok"),
    # reliability.md B1 #19: a multileg net price is on the 0.05 grid at every level, so 3.05 is
    # valid for a spread even though a single SPX series at 3.05 would need the 0.10 tick.
    [
        ("2.95", True),
        ("2.97", False),
        ("3.00", True),
        ("3.05", True),
        ("3.07", False),
        ("3.10", True),
        ("0.05", True),
        ("0.01", False),
    ],
)
def test_net_price_tick_rule(price: str, ok: bool) -> None:
    req = credit(limit_price=price)
    if ok:
        validate_spread_request(req)
        assert check_replace_price(price) == Decimal(price)
    else:
        with pytest.raises(OrderDenied, match="tick"):
            validate_spread_request(req)
        with pytest.raises(OrderDenied, match="tick"):
            check_replace_price(price)


def test_bad_price_types_denied_at_construction() -> None:
    for bad in ("abc", float("nan"), float("inf"), True):
        with pytest.raises(OrderDenied) as info:
            credit(limit_price=bad)
        assert info.value.field == "limit_price"
    with pytest.raises(OrderDenied):
        credit(legs=((SHORT, "sell_to_open"),))


def test_format_price_two_decimals() -> None:
    assert format_price(Decimal("0.5")) == "0.50"
    assert format_price(Decimal("3.05000000")) == "3.05"


# ------------------------------------------------------------------------------------ fills


def order(
    *, exec_qty: int, avg: str | None, status: OrderState = OrderState.PARTIALLY_FILLED, legs: bool = True
) -> BrokerOrder:
    leg_rows = (
        tuple(
            BrokerLeg(sym, side, 3, status, status.value, exec_qty, 3 - exec_qty, None)
            for sym, side in ((SHORT, "sell_to_open"), (LONG, "buy_to_open"))
        )
        if legs
        else ()
    )
    return BrokerOrder(
        broker_order_id="1086137",
        client_tag="ocr-1",
        status=status,
        raw_status=status.value,
        order_type="credit",
        quantity=3,
        price=Decimal("0.30"),
        avg_fill_price=Decimal(avg) if avg else None,
        exec_quantity=exec_qty,
        remaining_quantity=3 - exec_qty,
        legs=leg_rows,
    )


def test_fill_since_yields_each_increment_once() -> None:
    first = order(exec_qty=1, avg="0.30").fill_since(recorded_quantity=0, recorded_avg_price=None)
    assert first is not None
    assert (first.quantity, first.cumulative_quantity, first.price, first.dedup_key) == (
        1,
        1,
        Decimal("0.3000"),
        "1086137:1",
    )
    # The same snapshot again: nothing new (re-applying a report must not double the position).
    assert order(exec_qty=1, avg="0.30").fill_since(recorded_quantity=1, recorded_avg_price=Decimal("0.30")) is None
    # Two more at 0.35: cumulative average (0.30 + 2 × 0.35) / 3 = 0.3333…; the increment's price is recovered.
    second = order(exec_qty=3, avg="0.33333333", status=OrderState.FILLED).fill_since(
        recorded_quantity=1, recorded_avg_price=Decimal("0.30")
    )
    assert second is not None
    assert (second.quantity, second.dedup_key, second.price) == (2, "1086137:3", Decimal("0.3500"))


def test_fill_since_never_goes_backwards_and_needs_a_price(caplog: pytest.LogCaptureFixture) -> None:
    assert order(exec_qty=1, avg="0.30").fill_since(recorded_quantity=2, recorded_avg_price=Decimal("0.30")) is None
    assert "fewer than the 2 recorded" in caplog.text
    with pytest.raises(BrokerBadResponse):
        order(exec_qty=1, avg=None).fill_since(recorded_quantity=0, recorded_avg_price=None)


def test_filled_quantity_is_bounded_by_the_slowest_leg() -> None:
    base = order(exec_qty=2, avg="0.30")
    slow = BrokerLeg(LONG, "buy_to_open", 3, OrderState.PARTIALLY_FILLED, "partially_filled", 1, 2, Decimal("0.5"))
    lagging = BrokerOrder(**{**base.__dict__, "legs": (base.legs[0], slow)})
    assert base.filled_quantity == 2 and lagging.filled_quantity == 1
    assert order(exec_qty=2, avg="0.30", legs=False).filled_quantity == 2


def test_net_price_from_legs_when_the_parent_has_none() -> None:
    legs = (
        BrokerLeg(SHORT, "sell_to_open", 1, OrderState.FILLED, "filled", 1, 0, Decimal("1.10")),
        BrokerLeg(LONG, "buy_to_open", 1, OrderState.FILLED, "filled", 1, 0, Decimal("0.85")),
    )
    o = BrokerOrder("9", "t", OrderState.FILLED, "filled", "credit", 1, Decimal("0.25"), None, 1, 0, legs)
    fill = o.fill_since(recorded_quantity=0, recorded_avg_price=None)
    assert fill is not None and fill.price == Decimal("0.2500")
    assert [leg.avg_fill_price for leg in fill.legs] == [Decimal("1.10"), Decimal("0.85")]


# ------------------------------------------------------------------------------------ results


def test_place_result_outcomes() -> None:
    ok = PlaceResult.accepted("t", "42")
    assert ok.state is OrderState.OPEN and ok.raise_for_outcome() == "42"
    no = PlaceResult.rejected("t", ("You do not have enough buying power for this trade.",), http_status=200)
    assert no.state is OrderState.REJECTED
    with pytest.raises(OrderRejected, match="buying power") as rejected:
        no.raise_for_outcome()
    assert rejected.value.http_status == 200
    maybe = PlaceResult.unknown("t", "POST: ReadTimeout after sending")
    assert maybe.state is OrderState.UNKNOWN and maybe.sent
    with pytest.raises(OrderOutcomeUnknown) as unknown:
        maybe.raise_for_outcome()
    assert unknown.value.sent is True
    not_sent = PlaceResult.unknown("t", "ConnectError before sending", sent=False)
    with pytest.raises(OrderOutcomeUnknown) as info:
        not_sent.raise_for_outcome()
    assert info.value.sent is False
    assert {o.value for o in PlaceOutcome} == {"accepted", "rejected", "unknown"}


def test_cancel_result_state() -> None:
    working = order(exec_qty=1, avg="0.30")
    assert CancelResult("1", False, None).state is OrderState.PENDING_CANCEL
    assert CancelResult("1", False, working).state is OrderState.PENDING_CANCEL  # not applied yet
    done = order(exec_qty=3, avg="0.30", status=OrderState.FILLED)
    assert CancelResult("1", True, done).state is OrderState.FILLED


def test_select_by_tag_flags_duplicates() -> None:
    a = order(exec_qty=0, avg=None, status=OrderState.OPEN)
    b = BrokerOrder(**{**a.__dict__, "broker_order_id": "1086138"})
    assert select_by_tag([a], "ocr-1") is a
    assert select_by_tag([a], "ocr-2") is None
    with pytest.raises(AmbiguousTag) as info:
        select_by_tag([a, b], "ocr-1")
    assert "1086137, 1086138" in str(info.value)
