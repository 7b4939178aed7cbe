"""TradierBroker against the fake Tradier order server on 127.0.0.1 (real sockets, real httpx).

Every test counts requests: a write (POST/PUT/DELETE) is never sent twice, whatever happens.
Read retries sleep through an injected recorder, so only socket timeouts are real (0.3 s).
Order objects with ``leg`` arrays are SYNTHETIC (see ``fake_tradier_orders``); placement,
preview and error bodies are the captured fixtures.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from execution.brokers import (
    AmbiguousTag,
    Broker,
    BrokerAuthError,
    BrokerError,
    BrokerRequestError,
    BrokerUnavailable,
    OrderDenied,
    OrderLeg,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    PlaceOutcome,
    SpreadOrderRequest,
    TradierBroker,
)
from execution.brokers.tradier import SANDBOX_BASE_URL, check_base_url, parse_order
from execution.order_states import OrderState, transition
from execution.tests.fake_tradier_orders import (
    FINALIZED_TEXT,
    FORM_TYPE,
    FakeTradierOrders,
    OrderRequest,
    after_booking,
    booked_then_timeout,
)
from snapshots.tests import fake_tradier as ft

FAST_TIMEOUT_S = 0.3
SHORT = "SPXW260618P05800000"
LONG = "SPXW260618P05790000"
TAG = "ocr-9b1f0c2e4d"

BrokerFactory = Callable[..., TradierBroker]
# Building a verifying TLS context costs ~50 ms (CA bundle); build it once and hand each broker a
# transport around it, so the suite does not spend its time loading certificates.
_TLS = ssl.create_default_context()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_broker(fake_orders: FakeTradierOrders, sleeps: list[float]) -> Iterator[BrokerFactory]:
    created: list[TradierBroker] = []

    def make(**overrides: Any) -> TradierBroker:
        kwargs: dict[str, Any] = {
            "base_url": fake_orders.base_url,
            "access_token": fake_orders.token,
            "account_id": fake_orders.account_id,
            "timeout_s": 2.0,
            "sleep": sleeps.append,
            "transport": httpx.HTTPTransport(verify=_TLS),
        }
        kwargs.update(overrides)
        broker = TradierBroker(**kwargs)
        created.append(broker)
        return broker

    yield make
    for broker in created:
        broker.close()


def credit_request(tag: str = TAG, price: str = "0.25", quantity: int = 2, **kw: Any) -> SpreadOrderRequest:
    legs = (OrderLeg(SHORT, "sell_to_open", quantity), OrderLeg(LONG, "buy_to_open", quantity))
    return SpreadOrderRequest(client_tag=tag, legs=legs, order_type="credit", limit_price=Decimal(price), **kw)


def debit_request(tag: str = "ocr-close-1", price: str = "3.05") -> SpreadOrderRequest:
    legs = (OrderLeg(SHORT, "buy_to_close", 2), OrderLeg(LONG, "sell_to_close", 2))
    return SpreadOrderRequest(client_tag=tag, legs=legs, order_type="debit", limit_price=Decimal(price))


def writes(fake: FakeTradierOrders) -> list[OrderRequest]:
    return [r for m in ("POST", "PUT", "DELETE") for r in fake.requests_by(m)]


# ------------------------------------------------------------------------------ the happy path


def test_place_sends_exactly_the_documented_form(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    result = broker.place_spread(credit_request())

    assert result.outcome is PlaceOutcome.ACCEPTED and result.broker_order_id == "1086137"
    assert result.state is OrderState.OPEN
    [post] = writes(fake_orders)
    assert post.method == "POST" and post.path == "/v1/accounts/VA12345678/orders"
    assert post.params == {}  # everything in the form body, nothing in the query string
    assert post.content_type == FORM_TYPE
    assert post.headers["accept"] == "application/json"
    assert post.form == {
        "class": "multileg",
        "symbol": "SPX",
        "type": "credit",
        "duration": "day",
        "price": "0.25",
        "tag": TAG,
        "option_symbol[0]": SHORT,
        "side[0]": "sell_to_open",
        "quantity[0]": "2",
        "option_symbol[1]": LONG,
        "side[1]": "buy_to_open",
        "quantity[1]": "2",
    }
    assert [o["tag"] for o in fake_orders.orders()] == [TAG]


def test_debit_close_on_the_net_tick(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    assert broker.place_spread(debit_request(price="3.05")).outcome is PlaceOutcome.ACCEPTED
    [post] = writes(fake_orders)
    assert post.form["type"] == "debit" and post.form["price"] == "3.05"
    assert (post.form["side[0]"], post.form["side[1]"]) == ("buy_to_close", "sell_to_close")


def test_read_back_by_id_and_by_tag(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    order_id = broker.place_spread(credit_request()).raise_for_outcome()

    order = broker.get_order(order_id)
    assert (order.broker_order_id, order.client_tag, order.status, order.raw_status) == (
        order_id,
        TAG,
        OrderState.OPEN,
        "open",
    )
    assert (order.order_type, order.quantity, order.price, order.exec_quantity, order.remaining_quantity) == (
        "credit",
        2,
        Decimal("0.25"),
        0,
        2,
    )
    assert order.avg_fill_price is None and order.order_class == "multileg" and order.underlying == "SPX"
    assert [(leg.option_symbol, leg.side, leg.quantity) for leg in order.legs] == [
        (SHORT, "sell_to_open", 2),
        (LONG, "buy_to_open", 2),
    ]
    assert order.created_at == fake_orders.now

    assert broker.find_by_tag(TAG) == order
    assert broker.find_by_tag("ocr-someone-else") is None
    gets = fake_orders.requests_by("GET")
    assert gets[0].path.endswith(f"/orders/{order_id}") and gets[0].params == {"includeTags": "true"}
    # Listing without a date: Tradier's default session filter, tags on, paged until no new order.
    assert gets[1].params == {"includeTags": "true", "page": "1", "limit": "100"}
    assert gets[2].params == {"includeTags": "true", "page": "2", "limit": "100"}


def test_find_by_tag_for_an_earlier_session_needs_the_date(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    yesterday = dt.datetime(2026, 6, 12, 15, 0, tzinfo=dt.UTC)  # the Friday before
    form = {
        "class": "multileg",
        "symbol": "SPX",
        "type": "credit",
        "duration": "day",
        "price": "0.30",
        "tag": TAG,
        "option_symbol[0]": SHORT,
        "side[0]": "sell_to_open",
        "quantity[0]": "1",
        "option_symbol[1]": LONG,
        "side[1]": "buy_to_open",
        "quantity[1]": "1",
    }
    fake_orders.add_order(form, created=yesterday)

    assert broker.find_by_tag(TAG) is None  # the intraday list does not show it
    found = broker.find_by_tag(TAG, date=dt.date(2026, 6, 12))
    assert found is not None and found.client_tag == TAG
    dated = [r.params for r in fake_orders.requests_by("GET") if r.params.get("filter") == "all"]
    assert dated[0] == {"includeTags": "true", "filter": "all", "date": "2026-06-12", "page": "1", "limit": "100"}


def test_list_pages_until_no_new_order(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker(page_size=2)
    for i in range(5):
        broker.place_spread(credit_request(tag=f"ocr-{i}"))
    orders = broker.list_orders()
    assert [o.client_tag for o in orders] == [f"ocr-{i}" for i in range(5)]
    assert [r.params["page"] for r in fake_orders.requests_by("GET")] == ["1", "2", "3", "4"]


def test_list_stops_when_the_server_ignores_paging(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker(page_size=1)
    broker.place_spread(credit_request(tag="ocr-a"))
    broker.place_spread(credit_request(tag="ocr-b"))
    # A server that ignores ``page`` answers page 2 with page 1 again: no new order, stop.
    page1 = {"orders": {"order": [o for o in fake_orders.orders()]}}
    fake_orders.script(ft.json_body(page1), ft.json_body(page1))
    assert [o.client_tag for o in broker.list_orders()] == ["ocr-a", "ocr-b"]
    assert len(fake_orders.requests_by("GET")) == 2


def test_an_endless_list_is_an_error_not_a_partial_answer(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    broker = make_broker(page_size=1, max_pages=2)
    for i in range(3):
        broker.place_spread(credit_request(tag=f"ocr-{i}"))
    with pytest.raises(BrokerUnavailable, match="not complete"):
        broker.find_by_tag("ocr-9")  # absent, but a truncated list must not say so


def test_a_duplicated_tag_is_reported(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    broker.place_spread(credit_request())
    broker.place_spread(credit_request())  # Tradier does not enforce unique tags (tradier.md §6.1)
    with pytest.raises(AmbiguousTag) as info:
        broker.find_by_tag(TAG)
    assert len(info.value.orders) == 2


# ------------------------------------------------------------------------------ ambiguous writes


def test_read_timeout_after_the_order_was_booked(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # reliability.md B1 #1: unknown, never re-posted; a lookup by tag finds exactly one order.
    broker = make_broker(timeout_s=FAST_TIMEOUT_S)
    fake_orders.script(booked_then_timeout(1.0))
    result = broker.place_spread(credit_request())

    assert result.outcome is PlaceOutcome.UNKNOWN and result.sent is True and result.broker_order_id is None
    assert "ReadTimeout" in result.reason and result.state is OrderState.UNKNOWN
    with pytest.raises(OrderOutcomeUnknown) as info:
        result.raise_for_outcome()
    assert info.value.sent is True
    assert len(writes(fake_orders)) == 1

    found = broker.find_by_tag(TAG)
    assert found is not None and found.status is OrderState.OPEN
    assert transition(transition(OrderState.SUBMITTING, result.state), found.status) is OrderState.OPEN
    assert len(fake_orders.orders_with_tag(TAG)) == 1
    assert len(writes(fake_orders)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_after_the_order_was_booked(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory, status: int
) -> None:
    # B1 #3: a 5xx is an unknown outcome, not a rejection.
    broker = make_broker()
    fake_orders.script(after_booking(ft.server_error(status, "<html>Bad Gateway</html>")))
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.UNKNOWN and result.sent and result.http_status == status
    assert len(writes(fake_orders)) == 1 and not fake_orders.pending_faults
    found = broker.find_by_tag(TAG)
    assert found is not None and len(fake_orders.orders_with_tag(TAG)) == 1


def test_connection_dropped_before_booking(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # B1 #2: the client cannot prove the order was not received, so it is still "unknown"; the
    # lookup then shows absence (the caller's N-lookups rule decides the rest).
    broker = make_broker()
    fake_orders.script(ft.drop_connection())
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.UNKNOWN and result.sent is True
    assert len(writes(fake_orders)) == 1
    assert broker.find_by_tag(TAG) is None and fake_orders.orders() == []


def test_429_on_post_is_unknown_and_never_resent(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory, sleeps: list[float]
) -> None:
    broker = make_broker()
    fake_orders.script(ft.rate_limited(retry_after="1"))
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.UNKNOWN and result.http_status == 429 and result.sent
    assert len(fake_orders.requests_by("POST")) == 1
    assert sleeps == []  # no backoff either: the write path does not wait and try again


def test_2xx_that_is_not_json_is_unknown(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    fake_orders.script(after_booking(ft.html_page(200)))
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.UNKNOWN and "not JSON" in result.reason
    assert len(writes(fake_orders)) == 1


def test_accepted_reply_without_an_id_is_unknown(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    fake_orders.script(after_booking(ft.json_body({"order": {"status": "ok"}})))
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.UNKNOWN and "without an order id" in result.reason


def test_connect_refused_is_provably_not_sent(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # B1 #2: a refused connection never carried the order; re-sending with the SAME tag is safe.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    dead = make_broker(base_url=f"http://127.0.0.1:{dead_port}/v1/", transport=None)  # the default transport
    result = dead.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.UNKNOWN and result.sent is False
    assert "ConnectError" in result.reason
    with pytest.raises(OrderOutcomeUnknown) as info:
        result.raise_for_outcome()
    assert info.value.sent is False

    retried = make_broker().place_spread(credit_request())  # same tag, now reachable
    assert retried.outcome is PlaceOutcome.ACCEPTED
    assert len(fake_orders.orders_with_tag(TAG)) == 1 and len(fake_orders.requests_by("POST")) == 1


# ------------------------------------------------------------------------------ definitive refusals


def test_200_errors_body_is_a_rejection_with_the_broker_message(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    fake_orders.script(ft.json_body(fake_orders.fixture_bytes("order_error_buying_power_captured.json")))
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.REJECTED and result.state is OrderState.REJECTED
    assert result.messages == ("You do not have enough buying power for this trade.",)
    assert result.http_status == 200
    with pytest.raises(OrderRejected, match="buying power"):
        result.raise_for_outcome()
    assert len(writes(fake_orders)) == 1 and fake_orders.orders() == []


def test_several_errors_come_back_as_several_messages(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    fake_orders.script(ft.body_errors(["Invalid price", "Invalid tag"]))
    assert broker.place_spread(credit_request()).messages == ("Invalid price", "Invalid tag")


def test_http_400_is_a_rejection_json_or_text(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    fake_orders.script(
        ft.json_body({"errors": {"error": "Invalid Parameter, duration: pre market no longer available"}}, status=400),
        ft.plain_text(400, "Invalid Parameter: price"),
    )
    first = broker.place_spread(credit_request())
    second = broker.place_spread(credit_request())
    assert first.outcome is second.outcome is PlaceOutcome.REJECTED
    assert first.messages == ("Invalid Parameter, duration: pre market no longer available",)
    assert second.messages == ("HTTP 400 Invalid Parameter: price",) and second.http_status == 400
    assert len(writes(fake_orders)) == 2 and fake_orders.orders() == []  # one POST per call, no retry


def test_401_on_a_write_is_a_rejection(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker(access_token="wrong-token")
    result = broker.place_spread(credit_request())
    assert result.outcome is PlaceOutcome.REJECTED and result.http_status == 401
    with pytest.raises(BrokerAuthError):
        broker.get_order("1")


def test_accepted_then_rejected_later(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # tradier.md §4: "status":"ok" only means accepted; the order can still be rejected.
    broker = make_broker()
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.set_status(int(order_id), "rejected", reason_description="Margin requirement not met")
    order = broker.get_order(order_id)
    assert order.status is OrderState.REJECTED and order.reason_description == "Margin requirement not met"
    assert transition(OrderState.OPEN, order.status) is OrderState.REJECTED


# ------------------------------------------------------------------------------ lookups


def test_not_found_for_the_first_lookups(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # B1 #10: eventual consistency. The broker layer answers each lookup truthfully; the N-lookups
    # rule belongs to the service. Nothing is re-posted meanwhile.
    broker = make_broker()
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.script(
        ft.json_body(fake_orders.fixture_bytes("orders_empty_null_string_observed.json")),
        ft.json_body({"orders": None}),
        ft.plain_text(404, f"Order {order_id} not found"),
    )
    assert broker.find_by_tag(TAG) is None
    assert broker.find_by_tag(TAG) is None
    with pytest.raises(OrderNotFound):
        broker.get_order(order_id)
    assert broker.find_by_tag(TAG) is not None
    assert broker.get_order(order_id).client_tag == TAG
    assert len(fake_orders.requests_by("POST")) == 1


def test_get_order_unknown_id(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    with pytest.raises(OrderNotFound):
        broker.get_order("999")
    fake_orders.script(ft.body_errors("Order not found"))
    with pytest.raises(OrderNotFound):
        broker.get_order("999")
    with pytest.raises(OrderDenied):
        broker.get_order("../balances")  # never spliced into the path
    assert len(fake_orders.requests_by("GET")) == 2


def test_a_404_on_the_list_is_not_absence(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # A wrong account id or base path answers 404 for the whole list; reading that as "tag not
    # found" would let reconciliation re-send an order that exists.
    broker = make_broker()
    fake_orders.script(ft.plain_text(404, "Not Found"))
    with pytest.raises(BrokerRequestError):
        broker.find_by_tag(TAG)


def test_reads_retry_on_5xx_and_429(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory, sleeps: list[float]
) -> None:
    broker = make_broker()
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.script(ft.server_error(503), ft.rate_limited(retry_after="2"), ft.timeout(1.0))
    broker_fast = make_broker(timeout_s=FAST_TIMEOUT_S)
    assert broker_fast.get_order(order_id).client_tag == TAG
    assert len(fake_orders.requests_by("GET")) == 4 and len(sleeps) == 3 and sleeps[1] == 2.0
    assert len(fake_orders.requests_by("POST")) == 1


def test_reads_give_up_after_their_retries(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker(max_read_retries=2)
    fake_orders.script(*[ft.server_error(502)] * 3)
    with pytest.raises(BrokerUnavailable, match="gave up after 3 attempts"):
        broker.list_orders()
    assert len(fake_orders.requests_by("GET")) == 3


def test_parses_the_captured_equity_order_list(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    fake_orders.script(
        ft.json_body(fake_orders.fixture_bytes("orders_list_equity_captured.json")), ft.json_body({"orders": "null"})
    )
    orders = broker.list_orders()
    assert [o.broker_order_id for o in orders][:3] == ["122758", "190500", "211123"]
    assert [o.status for o in orders].count(OrderState.FILLED) == 5
    assert [o.status for o in orders].count(OrderState.CANCELED) == 3
    first = orders[0]
    assert (first.quantity, first.exec_quantity, first.avg_fill_price, first.legs) == (
        20,
        20,
        Decimal("8.47990000"),
        (),
    )
    assert first.created_at == dt.datetime(2016, 2, 23, 17, 1, 13, 993000, tzinfo=dt.UTC)
    canceled = orders[3]
    assert canceled.avg_fill_price is None and canceled.price == Decimal("20.0") and canceled.client_tag is None


def test_credit_avg_fill_is_normalised_positive() -> None:
    # SYNTHETIC multileg object (tradier.md §6.2): parent avg negative for a credit, legs positive.
    raw = {
        "id": 7,
        "type": "credit",
        "symbol": "SPX",
        "side": "buy",
        "quantity": 1.0,
        "status": "filled",
        "duration": "day",
        "price": 0.25,
        "avg_fill_price": -0.25,
        "exec_quantity": 1.0,
        "last_fill_price": -0.25,
        "last_fill_quantity": 1.0,
        "remaining_quantity": 0.0,
        "create_date": "2026-06-15T14:30:00.000Z",
        "transaction_date": "2026-06-15T14:31:02.120Z",
        "class": "multileg",
        "num_legs": 2,
        "strategy": "spread",
        "tag": TAG,
        "leg": [
            {
                "id": 71,
                "type": "credit",
                "symbol": "SPX",
                "side": "sell_to_open",
                "quantity": 1.0,
                "status": "filled",
                "duration": "day",
                "price": 0.25,
                "avg_fill_price": 1.1,
                "exec_quantity": 1.0,
                "last_fill_price": 1.1,
                "last_fill_quantity": 1.0,
                "remaining_quantity": 0.0,
                "create_date": "2026-06-15T14:30:00.000Z",
                "transaction_date": "2026-06-15T14:31:02.120Z",
                "class": "option",
                "option_symbol": SHORT,
            },
            {
                "id": 72,
                "type": "credit",
                "symbol": "SPX",
                "side": "buy_to_open",
                "quantity": 1.0,
                "status": "filled",
                "duration": "day",
                "price": 0.25,
                "avg_fill_price": 0.85,
                "exec_quantity": 1.0,
                "last_fill_price": 0.85,
                "last_fill_quantity": 1.0,
                "remaining_quantity": 0.0,
                "create_date": "2026-06-15T14:30:00.000Z",
                "transaction_date": "2026-06-15T14:31:02.120Z",
                "class": "option",
                "option_symbol": LONG,
            },
        ],
    }
    order = parse_order(raw)
    assert order.avg_fill_price == Decimal("0.25") and order.status is OrderState.FILLED
    assert order.legs[0].avg_fill_price == Decimal("1.1") and order.legs[0].leg_id == "71"
    assert order.net_price_from_legs() == Decimal("0.25")
    fill = order.fill_since(recorded_quantity=0, recorded_avg_price=None)
    assert fill is not None and fill.price == Decimal("0.2500") and fill.dedup_key == "7:1"
    legs: list[dict[str, Any]] = raw["leg"]  # type: ignore[assignment]
    one_leg = parse_order({**raw, "leg": legs[0]})  # a single leg comes back as an object
    assert len(one_leg.legs) == 1
    assert parse_order({**raw, "status": "held_for_review"}).status is OrderState.UNKNOWN


# ------------------------------------------------------------------------------ fills, cancel, replace


def test_partial_fill_then_cancel_then_late_fill(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    # B1 #11: final state canceled with filled quantity > 0; fills dedup by cumulative quantity.
    broker = make_broker()
    order_id = broker.place_spread(credit_request(quantity=3)).raise_for_outcome()
    state = OrderState.OPEN
    booked: dict[str, Decimal] = {}

    def record(order: Any) -> None:
        recorded = max((int(k.split(":")[1]) for k in booked), default=0)
        avg = sum(booked.values()) / recorded if recorded else None
        fill = order.fill_since(recorded_quantity=recorded, recorded_avg_price=avg)
        if fill is not None and fill.dedup_key not in booked:
            booked[fill.dedup_key] = fill.price * fill.quantity

    fake_orders.fill(int(order_id), 1, 0.25)
    order = broker.get_order(order_id)
    state = transition(state, order.status)
    assert state is OrderState.PARTIALLY_FILLED and order.filled_quantity == 1
    record(order)
    record(broker.get_order(order_id))  # the same report twice must not double the position
    assert list(booked) == [f"{order_id}:1"]

    cancel = broker.cancel(order_id)
    assert not cancel.already_final and cancel.order is not None
    assert cancel.state is OrderState.CANCELED
    state = transition(state, cancel.state)

    fake_orders.fill(int(order_id), 1, 0.30)  # arrives after the cancel ack
    late = broker.get_order(order_id)
    assert late.status is OrderState.CANCELED and late.filled_quantity == 2
    state = transition(state, late.status)  # stays canceled
    record(late)
    record(late)
    assert list(booked) == [f"{order_id}:1", f"{order_id}:2"]
    assert booked[f"{order_id}:2"] == Decimal("0.3000")
    assert state is OrderState.CANCELED
    assert len(fake_orders.requests_by("DELETE")) == 1 and len(fake_orders.requests_by("POST")) == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_cancel_of_a_filled_order_returns_the_final_state(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory, as_json: bool
) -> None:
    fake_orders.finalized_as_json = as_json
    broker = make_broker()
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.fill(int(order_id), 2, 0.25)
    result = broker.cancel(order_id)
    assert result.already_final and result.order is not None
    assert result.state is OrderState.FILLED and result.order.avg_fill_price == Decimal("0.25")
    assert len(fake_orders.requests_by("DELETE")) == 1
    deletes = fake_orders.requests_by("DELETE")
    assert deletes[0].path == f"/v1/accounts/VA12345678/orders/{order_id}"


def test_cancel_refused_for_another_reason_raises(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.script(ft.plain_text(400, "Invalid order id"))
    with pytest.raises(OrderRejected, match="Invalid order id"):
        broker.cancel(order_id)


def test_cancel_timeout_is_unknown_and_resolved_by_lookup(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    # B1 #12: the cancel went through but we did not hear back → pending_cancel, then a lookup.
    broker = make_broker(timeout_s=FAST_TIMEOUT_S)
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.script(booked_then_timeout(1.0))
    with pytest.raises(OrderOutcomeUnknown) as info:
        broker.cancel(order_id)
    assert info.value.sent is True and "DELETE" in info.value.reason
    state = transition(OrderState.OPEN, OrderState.PENDING_CANCEL)
    assert transition(state, broker.get_order(order_id).status) is OrderState.CANCELED
    assert len(fake_orders.requests_by("DELETE")) == 1


def test_cancel_read_back_failure_still_reports_the_cancel(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    broker = make_broker(max_read_retries=0)
    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    fake_orders.script(ft.json_body({"order": {"id": int(order_id), "status": "ok"}}), ft.server_error(503))
    result = broker.cancel(order_id)
    assert result.order is None and result.state is OrderState.PENDING_CANCEL


def test_replace_price(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker(timeout_s=FAST_TIMEOUT_S)
    order_id = broker.place_spread(credit_request(price="0.30")).raise_for_outcome()

    broker.replace_price(order_id, "0.25")
    [put] = fake_orders.requests_by("PUT")
    assert put.path.endswith(f"/orders/{order_id}") and put.form == {"price": "0.25"} and put.content_type == FORM_TYPE
    assert broker.get_order(order_id).price == Decimal("0.25")

    with pytest.raises(OrderDenied):
        broker.replace_price(order_id, "0.27")
    with pytest.raises(OrderDenied):
        broker.replace_price(order_id, "0")
    assert len(fake_orders.requests_by("PUT")) == 1  # denied locally, nothing sent

    fake_orders.script(booked_then_timeout(1.0))
    with pytest.raises(OrderOutcomeUnknown):
        broker.replace_price(order_id, "0.20")
    assert broker.get_order(order_id).price == Decimal("0.20")  # it did take effect
    assert len(fake_orders.requests_by("PUT")) == 2

    fake_orders.fill(int(order_id), 2, 0.20)
    with pytest.raises(OrderRejected, match=FINALIZED_TEXT):
        broker.replace_price(order_id, "0.15")
    assert len(fake_orders.requests_by("PUT")) == 3


# ------------------------------------------------------------------------------ preview


def test_preview_parses_the_captured_reply(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    preview = broker.preview_spread(credit_request())
    assert preview.ok and preview.strategy == "spread" and preview.order_type == "credit"
    assert (preview.price, preview.order_cost, preview.margin_change, preview.commission, preview.cost) == (
        Decimal("0.23"),
        Decimal("-69.0000000000"),
        Decimal("600.00000000"),
        Decimal("7.00000000"),
        Decimal("538.0000000000"),
    )
    [post] = fake_orders.requests_by("POST")
    assert post.form["preview"] == "true" and post.form["tag"] == TAG
    assert fake_orders.orders() == []


def test_place_with_preview_first(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    result = broker.place_spread(credit_request(preview=True))
    assert result.outcome is PlaceOutcome.ACCEPTED
    posts = fake_orders.requests_by("POST")
    assert [p.form.get("preview") for p in posts] == ["true", None]

    fake_orders.script(ft.json_body(fake_orders.fixture_bytes("order_error_buying_power_captured.json")))
    refused = broker.place_spread(credit_request(tag="ocr-2", quantity=10, preview=True))
    assert refused.outcome is PlaceOutcome.REJECTED and "buying power" in refused.messages[0]
    assert len(fake_orders.requests_by("POST")) == 3  # the preview only; the order was not sent
    assert fake_orders.orders_with_tag("ocr-2") == []


def test_preview_transport_failure_means_not_sent(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker()
    fake_orders.script(ft.server_error(502))
    result = broker.place_spread(credit_request(preview=True))
    assert result.outcome is PlaceOutcome.UNKNOWN and result.sent is False
    assert len(fake_orders.requests_by("POST")) == 1 and fake_orders.orders() == []


def test_preview_that_returns_an_order_id_is_flagged(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory
) -> None:
    broker = make_broker()
    created = fake_orders.fixture_bytes("order_create_ok_captured.json")
    fake_orders.script(ft.json_body(created), ft.json_body(created))
    with pytest.raises(OrderOutcomeUnknown, match="may have been placed") as info:
        broker.preview_spread(credit_request())
    assert info.value.sent is True
    # Inside place_spread this must not read as "not sent" (which would allow a re-send).
    result = broker.place_spread(credit_request(preview=True))
    assert result.outcome is PlaceOutcome.UNKNOWN and result.sent is True
    assert len(fake_orders.requests_by("POST")) == 2


# ------------------------------------------------------------------------------ guards and secrets


def test_local_denial_sends_nothing(fake_orders: FakeTradierOrders, make_broker: BrokerFactory) -> None:
    broker = make_broker(max_quantity=2)
    for req in (
        credit_request(price="2.97"),
        credit_request(tag="ocr_underscore"),
        credit_request(quantity=3),
        SpreadOrderRequest(TAG, (OrderLeg(SHORT, "sell_to_open", 1),), "credit", Decimal("0.25")),
    ):
        with pytest.raises(OrderDenied):
            broker.place_spread(req)
        with pytest.raises(OrderDenied):
            broker.preview_spread(req)
    assert fake_orders.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://api.tradier.com/v1/",
        "https://api.tradier.com",
        "http://sandbox.tradier.com/v1/",  # the token must not travel in clear text
        "https://sandbox.tradier.com.example.net/v1/",
        "https://stream.tradier.com/v1/",
        "ftp://sandbox.tradier.com/",
    ],
)
def test_anything_but_the_sandbox_is_refused_without_allow_live(url: str) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(handler)
    with pytest.raises(OrderDenied) as info:
        TradierBroker(url, "secret-token", "VA123", transport=transport)
    assert info.value.field == "base_url" and calls == []


def test_live_needs_the_explicit_flag() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"order": {"id": 5, "status": "ok", "partner_id": "x"}})

    live = TradierBroker(
        "https://api.tradier.com/v1/",
        "secret-token",
        "6YA12345",
        allow_live=True,
        transport=httpx.MockTransport(handler),
    )
    assert calls == []  # constructing does no I/O
    assert live.place_spread(credit_request()).broker_order_id == "5"
    assert [str(c.url) for c in calls] == ["https://api.tradier.com/v1/accounts/6YA12345/orders"]
    with pytest.raises(OrderDenied):
        TradierBroker("http://api.tradier.com/", "t", "6YA12345", allow_live=True)
    assert check_base_url(SANDBOX_BASE_URL, allow_live=False) == "https://sandbox.tradier.com"
    assert check_base_url("https://sandbox.tradier.com", allow_live=False) == "https://sandbox.tradier.com"
    assert check_base_url("http://localhost:8080/v1/", allow_live=False) == "http://localhost:8080"


def test_token_never_in_errors_logs_or_repr(
    fake_orders: FakeTradierOrders, make_broker: BrokerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = fake_orders.token
    caplog.set_level(logging.DEBUG)  # httpx/httpcore debug logging included
    broker = make_broker(timeout_s=FAST_TIMEOUT_S, max_read_retries=1)
    seen: list[BaseException] = []
    results = []

    order_id = broker.place_spread(credit_request()).raise_for_outcome()
    # A broker that echoes the token back in its refusals (reads and writes).
    fake_orders.script(
        ft.plain_text(400, f"bad header Bearer {token}"),
        ft.body_errors(f"token {token} is not entitled"),
        booked_then_timeout(1.0),
        after_booking(ft.server_error(502, f"upstream said {token}")),
        ft.plain_text(400, f"Invalid order for {token}"),
        ft.plain_text(400, f"echo {token}"),
    )
    results.append(broker.place_spread(credit_request(tag="ocr-a")))
    results.append(broker.place_spread(credit_request(tag="ocr-b")))
    results.append(broker.place_spread(credit_request(tag="ocr-c")))
    results.append(broker.place_spread(credit_request(tag="ocr-d")))
    for call in (lambda: broker.cancel(order_id), lambda: broker.get_order(order_id)):
        try:
            call()
        except BrokerError as exc:
            seen.append(exc)
    for result in results:
        try:
            result.raise_for_outcome()
        except BrokerError as exc:
            seen.append(exc)
    bad = make_broker(access_token=token + "-wrong")
    for call in (lambda: bad.get_order(order_id), lambda: bad.cancel(order_id)):
        try:
            call()
        except BrokerError as exc:
            seen.append(exc)

    assert len(seen) == 8
    texts = [repr(broker), str(broker), repr(bad), caplog.text, json.dumps([repr(r) for r in results])]
    for error in seen:
        texts += [str(error), repr(error), repr(error.args)]
        # Chained exceptions would carry httpx requests (their headers hold the token) into reports.
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert "***" in " ".join(str(e) for e in seen)
    for text in texts:
        assert token not in text


def test_implements_the_broker_protocol(make_broker: BrokerFactory) -> None:
    assert isinstance(make_broker(), Broker)
