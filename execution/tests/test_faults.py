"""Money-safety under broker faults, proved at the service level (issue #5 §6; reliability.md B1).

Real rows (a TRADE decision → ``services.trade_open`` → ``Order`` with its committed client tag)
and a real ``TradierBroker`` talking HTTP to the fake Tradier order server on 127.0.0.1. Each test
asserts the exact requests the broker received (from the fake's log) and the end state of the
database, because the property under test is "never two orders, never a lost position": a wrong
count of POSTs is the failure, whatever state the row ends in.

Timing: the client timeout is 0.3 s and every scripted silence is twice that, so a "the broker
got it but we never heard back" case costs one timeout. Read retries sleep through an injected
recorder, never for real.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import runpy
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import environ
import httpx
import pytest
from django.db import connection
from django.utils import timezone

from execution import services, tasks
from execution.brokers import OrderDenied, PlaceResult, SpreadOrderRequest, TradierBroker
from execution.brokers.base import DEFAULT_MAX_QUANTITY
from execution.brokers.tradier import SANDBOX_BASE_URL
from execution import selectors
from execution.models import AdoptedOrder, Fill, Order, Trade
from execution.tests.factories import AdoptedOrderFactory, TradeFactory
from execution.tests.fake_tradier_orders import (
    FakeTradierOrders,
    OrderRequest,
    after_booking,
    booked_then_timeout,
)
from snapshots.tests import fake_tradier as ft
from strategy.models import StrategyConfig, TradeDecision
from execution.services import entry_window_trade as entry_window_run
from strategy.tests.factories import StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db

FAST_TIMEOUT_S = 0.3
SILENCE_S = 2 * FAST_TIMEOUT_S  # the fake's scripted silence: always past the client timeout
NOT_FOUND_CHECKS = 3
NY = ZoneInfo("America/New_York")
# A Wednesday; a 3-DTE 0.20-delta put config trades Friday's SPXW from the simulated chain.
WED_10 = dt.datetime(2026, 11, 18, 10, 0, tzinfo=NY)
# The legs and price that decision carries, reused by the factory-built decisions so every order
# here passes the broker's local validation the same way a real one does.
SHORT, LONG = "SPXW261120P06590000", "SPXW261120P06565000"
CREDIT = Decimal("2.70")
# Building a verifying TLS context costs ~50 ms; the fake is plain HTTP, so build it once.
_TLS = ssl.create_default_context()
REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _market_open_at_the_decision(market_at: Callable[[dt.datetime], None]) -> None:
    """The fake broker runs on the wall clock, but these orders trade Friday 2026-11-20's SPXW: the
    local market check (``services.order_gate``, tested in ``test_order_gate``) sees the decision's
    Wednesday session, five minutes after the window, so only the broker faults decide each case."""
    market_at(WED_10 + dt.timedelta(minutes=5))


@pytest.fixture
def fake(fake_orders: FakeTradierOrders, settings: Any) -> FakeTradierOrders:
    """The fake, with the services' configured broker pointed at it (``broker_get``)."""
    # Orders are stamped with the fake's clock and looked up by tag on the order row's New York
    # date (``filter=all&date=``), so the two must agree, as they do against the real broker.
    fake_orders.now = timezone.now()
    settings.EXECUTION_BROKER = "tradier"
    settings.TRADIER_BASE_URL = fake_orders.base_url
    settings.TRADIER_ACCESS_TOKEN = fake_orders.token
    settings.TRADIER_ACCOUNT_ID = fake_orders.account_id
    settings.TRADIER_TIMEOUT_S = 2.0
    settings.ORDER_NOT_FOUND_CHECKS = NOT_FOUND_CHECKS
    return fake_orders


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_broker(fake: FakeTradierOrders, sleeps: list[float]) -> Iterator[Callable[..., TradierBroker]]:
    made: list[TradierBroker] = []

    def make(transport: httpx.BaseTransport | None = None) -> TradierBroker:
        broker = TradierBroker(
            fake.base_url, fake.token, fake.account_id, timeout_s=FAST_TIMEOUT_S, sleep=sleeps.append,
            transport=transport or httpx.HTTPTransport(verify=_TLS),
        )
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


@pytest.fixture
def broker(make_broker: Callable[..., TradierBroker]) -> TradierBroker:
    return make_broker()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused by the kernel
    (a real ECONNREFUSED), and holding it keeps any other process from taking it meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# ------------------------------------------------------------------------------------ helpers


def factory_decision(*, quantity: int = 1) -> TradeDecision:
    """A committed TRADE decision shaped like the simulated market's (legs, credit, width)."""
    config = StrategyConfigFactory(quantity=quantity, width_points=Decimal("25"))
    legs = [
        {"symbol": SHORT, "side": "sell", "strike": 6590.0, "is_call": False},
        {"symbol": LONG, "side": "buy", "strike": 6565.0, "is_call": False},
    ]
    return TradeDecisionFactory(
        strategy_config=config, action=TradeDecision.Action.TRADE, reason_code="ok",
        source=TradeDecision.Source.LIVE_PAPER, expiration=dt.date(2026, 11, 20), legs=legs,
        credit_mid=Decimal("2.95"), credit_fill=CREDIT, width_points=Decimal("25"),
    )


def market_decision(settings: Any, *, quantity: int = 1) -> TradeDecision:
    """The 10:00 decision of one config against the simulated market (snapshot → analytics → TRADE)."""
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_CONTEXT_ENABLED = False
    settings.SNAPSHOT_DTE_TARGETS = [3]
    # Its own config rather than the seeded grid's: a transactional test (the worker test) runs
    # after others have flushed the migration-seeded rows.
    StrategyConfig.objects.update(enabled=False)
    StrategyConfigFactory(name="faults 3DTE put 20d", enabled=True, side="put_credit", target_dte=3,
                          short_delta_target=Decimal("0.20"), width_points=Decimal("25"), quantity=quantity)
    # The hand-over to order placement is what these tests drive themselves, step by step.
    entry_window_run(at=WED_10, hand_over=lambda _pk: None)
    decision = TradeDecision.objects.get(action=TradeDecision.Action.TRADE)
    assert decision.config_params["quantity"] == quantity and len(decision.legs) == 2
    return decision


def opened(decision: TradeDecision) -> Order:
    """The entry order row ``trade_open`` committed (state ``new``, client tag set, nothing sent)."""
    trade = services.trade_open(decision=decision)
    order = trade.orders.get()
    assert order.state == "new" and order.client_tag.startswith("spx-open-")
    return order


def count(fake: FakeTradierOrders, method: str) -> int:
    return len(fake.requests_by(method))


def lookups_by_tag(fake: FakeTradierOrders) -> list[OrderRequest]:
    return [r for r in fake.requests_by("GET") if r.path == fake.orders_path]


def only_order(fake: FakeTradierOrders, tag: str) -> dict[str, Any]:
    """The broker's book holds exactly one order, and it carries our tag."""
    book = fake.orders()
    assert len(book) == 1, f"the broker holds {len(book)} orders: {[o.get('tag') for o in book]}"
    assert book[0].get("tag") == tag
    return book[0]


def hide_new_orders(fake: FakeTradierOrders, lookups: int) -> None:
    """Eventual consistency (B1 #10): the next ``lookups`` reads of the orders answer as if the
    book were empty, a 404 for one order and Tradier's ``{"orders": "null"}`` for the list."""
    answer = fake._answer
    left = [lookups]

    def hidden(method: str, path: str, query: Any, form: Any) -> tuple[int, bytes, dict[str, str]]:
        if method == "GET" and left[0] > 0:
            left[0] -= 1
            rest = path[len(fake.orders_path):].strip("/")
            if rest:
                return 404, f"Order {rest} not found".encode(), {"Content-Type": "text/plain"}
            return 200, b'{"orders": "null"}', {"Content-Type": ft.JSON_TYPE}
        return answer(method, path, query, form)

    fake._answer = hidden  # type: ignore[method-assign]


def assert_trade_equals_fills(order: Order) -> None:
    """The position invariant: the trade's quantity is what the fills add up to, and that is what
    the broker reports as executed."""
    trade = Trade.objects.get(pk=order.trade_id)
    fills = list(Fill.objects.filter(order=order))
    assert sum(f.quantity for f in fills) == order.filled_quantity == trade.quantity
    assert len({f.fill_key for f in fills}) == len(fills)


# ------------------------------------------------------------------ B1 #1, #3: booked, no answer


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(booked_then_timeout(SILENCE_S), id="read-timeout"),
        pytest.param(after_booking(ft.server_error(502, "Bad Gateway")), id="502"),
        pytest.param(after_booking(ft.server_error(504, "Gateway Timeout")), id="504"),
        pytest.param(after_booking(ft.drop_connection()), id="connection-reset"),
    ],
)
def test_booked_but_unanswered_submit_is_unknown_then_adopted_by_tag(
    fake: FakeTradierOrders, broker: TradierBroker, fault: ft.Fault
) -> None:
    order = opened(factory_decision())
    fake.script(fault)

    order = services.order_submit(order.pk, broker=broker)

    assert order.state == "unknown" and order.broker_order_id == ""
    assert order.reason.startswith("outcome unknown, not re-sent: POST ")
    assert [r.method for r in fake.requests] == ["POST"]  # no retry, no lookup mixed into the submit
    booked = only_order(fake, order.client_tag)

    # A redelivered task, or a second caller, finds the row already claimed: nothing is sent.
    services.order_submit(order.pk, broker=broker)
    assert count(fake, "POST") == 1

    assert services.orders_reconcile(broker=broker) == {"submitted": 0, "synced": 1}
    order.refresh_from_db()
    assert order.state == "open" and order.broker_order_id == str(booked["id"])
    [lookup, *_] = lookups_by_tag(fake)
    assert lookup.params["includeTags"] == "true" and lookup.params["filter"] == "all"
    assert lookup.params["date"] == order.created_at.astimezone(NY).date().isoformat()

    # From here the broker's state is followed through its id.
    fake.fill(booked["id"], 1, 2.70)
    order = services.order_sync(order.pk, broker=broker)
    trade = Trade.objects.get(pk=order.trade_id)
    assert order.state == "filled" and order.avg_fill_price == CREDIT
    assert trade.status == "open" and trade.entry_credit == CREDIT and trade.quantity == 1
    assert_trade_equals_fills(order)
    assert count(fake, "POST") == 1 and len(fake.orders()) == 1


# ------------------------------------------------------------------ B1 #4: definitive refusal


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param(
            ft.json_body({"errors": {"error": "You do not have enough buying power for this trade."}}, status=400),
            "You do not have enough buying power for this trade.", id="400-errors-json",
        ),
        pytest.param("order_error_buying_power_captured.json", "You do not have enough buying power for this trade.",
                     id="200-errors-captured"),
        pytest.param(ft.plain_text(400, "Invalid Parameter: price"), "HTTP 400 Invalid Parameter: price",
                     id="400-text"),
    ],
)
def test_broker_refusal_is_rejected_with_its_message_and_never_retried(
    fake: FakeTradierOrders, broker: TradierBroker, fault: ft.Fault | str, message: str
) -> None:
    if isinstance(fault, str):  # the captured body, byte for byte, in a 200
        fault = ft.json_body(fake.fixture_bytes(fault))
    order = opened(factory_decision())
    fake.script(fault)

    order = services.order_submit(order.pk, broker=broker)

    assert order.state == "rejected" and order.reason == message and order.broker_order_id == ""
    assert Trade.objects.get(pk=order.trade_id).status == "not_filled"
    assert [r.method for r in fake.requests] == ["POST"] and fake.orders() == []
    # Terminal: neither a repeat submit nor reconciliation touches the broker again.
    services.order_submit(order.pk, broker=broker)
    assert services.orders_reconcile(broker=broker) == {"submitted": 0, "synced": 0}
    assert [r.method for r in fake.requests] == ["POST"]


# ------------------------------------------------------------------ B1 #16: local risk limits


@pytest.mark.parametrize(
    ("quantity", "credit", "why"),
    [
        pytest.param(DEFAULT_MAX_QUANTITY + 1, CREDIT, rf"legs\[0\]\.quantity: must be 1\.\.{DEFAULT_MAX_QUANTITY}, got 11",
                     id="above-max-contracts"),
        pytest.param(1, Decimal("25.00"), r"limit_price: credit 25\.0+ is not below the strike width 25",
                     id="credit-not-below-width"),
    ],
)
def test_a_locally_denied_order_is_rejected_and_never_reaches_the_broker(
    fake: FakeTradierOrders, quantity: int, credit: Decimal, why: str
) -> None:
    order = opened(factory_decision(quantity=quantity))
    Order.objects.filter(pk=order.pk).update(limit_price=credit)

    order = services.order_submit(order.pk)  # the configured broker: Tradier, pointed at the fake

    assert order.state == "rejected" and re.fullmatch(f"denied locally, never sent: {why}", order.reason), order.reason
    assert Trade.objects.get(pk=order.trade_id).status == "not_filled"
    assert fake.requests == [] and fake.orders() == []
    # Terminal: a repeat submit and reconciliation send nothing either.
    services.order_submit(order.pk)
    assert services.orders_reconcile() == {"submitted": 0, "synced": 0}
    assert fake.requests == []


# ------------------------------------------------------------------ B1 #18: production URL guard from the settings


def test_the_default_settings_point_at_the_sandbox_and_forbid_live(settings: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.TRADIER_SANDBOX_URL == SANDBOX_BASE_URL  # the settings' default is the broker's sandbox
    # The settings module run afresh with no TRADIER_*/EXECUTION_* in the environment and no .env file.
    for name in [k for k in os.environ if k.startswith(("TRADIER_", "EXECUTION_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SPX_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(environ.Env, "read_env", classmethod(lambda cls, *args, **kwargs: None))
    defaults = runpy.run_path(str(REPO / "spx_site" / "settings.py"))
    assert (defaults["TRADIER_BASE_URL"], defaults["TRADIER_ALLOW_LIVE"]) == (SANDBOX_BASE_URL, False)
    assert defaults["EXECUTION_BROKER"] == "simulated"  # and with no token, no Tradier orders at all


def test_the_configured_broker_refuses_the_live_url_without_the_flag(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[httpx.Request] = []

    def no_network(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise AssertionError(f"a request left for {request.url}")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", no_network)
    settings.EXECUTION_BROKER = "tradier"
    settings.TRADIER_BASE_URL = "https://api.tradier.com/v1/"
    settings.TRADIER_ACCESS_TOKEN, settings.TRADIER_ACCOUNT_ID = "a-live-token", "6YA12345"
    assert settings.TRADIER_ALLOW_LIVE is False
    refusal = "base_url: https://api.tradier.com is not the Tradier sandbox; pass allow_live=True to trade there"
    with pytest.raises(OrderDenied) as info:
        services.broker_get()
    assert str(info.value) == refusal

    # An order submitted with that configuration is refused locally, not left in flight.
    order = services.order_submit(opened(factory_decision()).pk)
    assert order.state == "rejected" and order.reason == f"denied locally, never sent: {refusal}"
    assert Trade.objects.get(pk=order.trade_id).status == "not_filled"

    settings.TRADIER_ALLOW_LIVE = True  # the explicit flag, read from the settings, is what would allow it
    assert isinstance(services.broker_get(), TradierBroker)
    assert sent == []


# ------------------------------------------------------------------ B1 #5: 429 on the write


@pytest.mark.parametrize("booked", [True, False], ids=["booked", "not-booked"])
def test_rate_limited_submit_is_unknown_and_resolved_by_lookup_not_resent(
    fake: FakeTradierOrders, broker: TradierBroker, sleeps: list[float], booked: bool
) -> None:
    order = opened(factory_decision())
    limited = ft.rate_limited(available=0, retry_after="1")
    fake.script(after_booking(limited) if booked else limited)

    order = services.order_submit(order.pk, broker=broker)

    assert order.state == "unknown" and "HTTP 429" in order.reason and "not re-sent" in order.reason
    # The first lookup is rate limited too: a read may back off (as told) and retry, a write may not.
    fake.script(ft.rate_limited(available=0, retry_after="1"))
    services.orders_reconcile(broker=broker)
    assert sleeps == [1.0]
    order.refresh_from_db()
    if booked:
        assert order.state == "open" and order.broker_order_id == str(only_order(fake, order.client_tag)["id"])
    else:
        assert order.state == "unknown" and order.not_found_checks == 1
        for _ in range(NOT_FOUND_CHECKS - 1):
            services.orders_reconcile(broker=broker)
        order.refresh_from_db()
        assert order.state == "rejected"
        assert order.reason == f"not found at broker after {NOT_FOUND_CHECKS} checks (tag {order.client_tag})"
        assert Trade.objects.get(pk=order.trade_id).status == "not_filled"
        assert fake.orders() == []
    assert count(fake, "POST") == 1


# ------------------------------------------------------------------ B1 #2: provably not sent


class RefusePosts(httpx.BaseTransport):
    """Sends the first ``refuse`` POSTs to a port nothing listens on, everything else to the fake.

    The refusal is the kernel's, so httpx raises its real ``ConnectError`` before a byte of the
    request is written: the one failure the broker reports as ``sent=False``.
    """

    def __init__(self, dead_port: int, refuse: int) -> None:
        self._inner = httpx.HTTPTransport(verify=_TLS)
        self._dead_port = dead_port
        self._left = refuse
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self._left > 0:
            self._left -= 1
            self.refused += 1
            request.url = request.url.copy_with(port=self._dead_port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_refused_connection_is_resent_once_with_the_same_tag(
    fake: FakeTradierOrders, make_broker: Callable[..., TradierBroker], dead_port: int
) -> None:
    transport = RefusePosts(dead_port, refuse=1)
    order = opened(factory_decision())

    order = services.order_submit(order.pk, broker=make_broker(transport))

    assert transport.refused == 1 and count(fake, "POST") == 1
    [post] = fake.requests_by("POST")
    assert post.form["tag"] == order.client_tag
    booked = only_order(fake, order.client_tag)
    assert order.state == "open" and order.broker_order_id == str(booked["id"]) and order.reason == ""


def test_broker_unreachable_sends_nothing_and_ends_as_labelled_not_found(
    fake: FakeTradierOrders, make_broker: Callable[..., TradierBroker], dead_port: int, broker: TradierBroker
) -> None:
    transport = RefusePosts(dead_port, refuse=10)
    order = opened(factory_decision())

    order = services.order_submit(order.pk, broker=make_broker(transport))

    # One re-send (same tag) after a provable non-send, and no more, however long the outage.
    assert transport.refused == 2 and fake.requests == []
    assert order.state == "unknown" and "ConnectError before sending" in order.reason
    # Reconciliation cannot find what never arrived; after the configured checks it says so.
    for checks in range(1, NOT_FOUND_CHECKS + 1):
        services.orders_reconcile(broker=broker)
        order.refresh_from_db()
        assert order.not_found_checks == checks
    assert order.state == "rejected" and order.reason.startswith(f"not found at broker after {NOT_FOUND_CHECKS} checks")
    assert Trade.objects.get(pk=order.trade_id).status == "not_filled"
    assert fake.orders() == [] and count(fake, "POST") == 0


# ------------------------------------------------------------------ B1 #10: not found at first


def test_unknown_order_not_listed_yet_stays_unknown_until_found(fake: FakeTradierOrders, broker: TradierBroker) -> None:
    order = opened(factory_decision())
    fake.script(booked_then_timeout(SILENCE_S))
    services.order_submit(order.pk, broker=broker)
    hide_new_orders(fake, NOT_FOUND_CHECKS - 1)

    for checks in range(1, NOT_FOUND_CHECKS):
        services.orders_reconcile(broker=broker)
        order.refresh_from_db()
        assert order.state == "unknown" and order.not_found_checks == checks

    services.orders_reconcile(broker=broker)
    order.refresh_from_db()
    assert order.state == "open" and order.broker_order_id == str(only_order(fake, order.client_tag)["id"])
    # Two empty lists, then the list that shows it (page 1) and the page that ends it (page 2).
    assert len(lookups_by_tag(fake)) == NOT_FOUND_CHECKS + 1
    assert count(fake, "POST") == 1


def test_order_never_found_is_rejected_with_a_labelled_reason(fake: FakeTradierOrders, broker: TradierBroker) -> None:
    order = opened(factory_decision())
    fake.script(ft.timeout(SILENCE_S))  # silence without booking: the broker never got it
    services.order_submit(order.pk, broker=broker)

    for _ in range(NOT_FOUND_CHECKS - 1):
        services.orders_reconcile(broker=broker)
        order.refresh_from_db()
        assert order.state == "unknown"
    services.orders_reconcile(broker=broker)
    order.refresh_from_db()

    assert order.state == "rejected"
    assert order.reason == f"not found at broker after {NOT_FOUND_CHECKS} checks (tag {order.client_tag})"
    assert Trade.objects.get(pk=order.trade_id).status == "not_filled"
    requests = len(fake.requests)
    assert services.orders_reconcile(broker=broker) == {"submitted": 0, "synced": 0}
    assert len(fake.requests) == requests == 1 + NOT_FOUND_CHECKS  # one POST, one lookup per check
    assert fake.orders() == []


def test_acknowledged_order_missing_from_reads_stays_open_and_is_never_resent(
    fake: FakeTradierOrders, broker: TradierBroker
) -> None:
    order = opened(factory_decision())
    reads_missing = NOT_FOUND_CHECKS + 1  # more than the local-resolution threshold
    hide_new_orders(fake, reads_missing)

    order = services.order_submit(order.pk, broker=broker)  # accepted with an id; its read-back is a 404
    for _ in range(reads_missing - 1):
        services.orders_reconcile(broker=broker)
    order.refresh_from_db()
    # The broker named the order: a 404 is its lag, not absence. No local rejection, no re-POST.
    assert order.state == "open" and order.not_found_checks == reads_missing

    fake.fill(int(order.broker_order_id), 1, 2.70)
    services.orders_reconcile(broker=broker)
    order.refresh_from_db()
    assert order.state == "filled" and count(fake, "POST") == 1
    assert count(fake, "GET") == reads_missing + 1


# ------------------------------------------------------------------ B1 #11: fills


def test_partial_fill_cancel_late_fill_and_repeated_reports(
    fake: FakeTradierOrders, broker: TradierBroker, settings: Any
) -> None:
    order = opened(market_decision(settings, quantity=2))
    order = services.order_submit(order.pk, broker=broker)
    broker_id = int(order.broker_order_id)
    limit = float(order.limit_price)

    fake.fill(broker_id, 1, limit)
    for _ in range(2):  # the same snapshot read twice: one fill
        order = services.order_sync(order.pk, broker=broker)
    assert order.state == "partially_filled" and order.filled_quantity == 1
    assert list(Fill.objects.filter(order=order).values_list("fill_key", "quantity")) == [(f"{broker_id}:1", 1)]
    assert Trade.objects.get(pk=order.trade_id).status == "opening"  # still working

    # The rest is canceled (by the operator at the broker, or the day ending): one spread is held.
    broker.cancel(str(broker_id))
    order = services.order_sync(order.pk, broker=broker)
    trade = Trade.objects.get(pk=order.trade_id)
    assert order.state == "canceled" and order.filled_quantity == 1
    assert trade.status == "open" and trade.quantity == 1 and trade.entry_credit == order.avg_fill_price
    assert set(trade.legs.values_list("quantity", flat=True)) == {1}
    assert_trade_equals_fills(order)

    # A fill reported after the cancel confirmation: still canceled, and the position grows.
    fake.fill(broker_id, 1, limit - 0.10)
    for _ in range(2):
        order = services.order_sync(order.pk, broker=broker)
    trade = Trade.objects.get(pk=order.trade_id)
    assert order.state == "canceled" and order.filled_quantity == 2
    assert order.filled_quantity == int(only_order(fake, order.client_tag)["exec_quantity"])
    assert [f.price for f in Fill.objects.filter(order=order).order_by("pk")] == [
        Decimal(str(limit)).quantize(Decimal("0.01")), Decimal(str(limit - 0.10)).quantize(Decimal("0.01"))]
    expected_avg = (Decimal(str(limit)) - Decimal("0.05")).quantize(Decimal("0.01"))
    assert order.avg_fill_price == expected_avg == trade.entry_credit
    assert trade.status == "open" and trade.quantity == 2
    assert trade.max_profit_usd == expected_avg * 100 * 2
    assert set(trade.legs.values_list("quantity", flat=True)) == {2}
    assert_trade_equals_fills(order)
    assert count(fake, "POST") == 1


# ------------------------------------------------------------------ B1 #13, #14: restart


def _seed(fake: FakeTradierOrders, *, state: str, at_broker: str | None, with_id: bool = False,
          not_found_checks: int = 0) -> Order:
    """A committed entry order left in ``state`` by a dead process; ``at_broker`` is the raw status
    of the copy the broker holds (placed with the row's tag), None if the broker has none."""
    order = opened(factory_decision())
    broker_id = ""
    if at_broker is not None:
        form = {**_form(order), "tag": order.client_tag}
        placed = fake.add_order(form, created=fake.now)
        if at_broker == "filled":
            fake.fill(placed, order.quantity, float(order.limit_price))
        elif at_broker != "open":
            fake.set_status(placed, at_broker)
        broker_id = str(placed) if with_id else ""
    Order.objects.filter(pk=order.pk).update(state=state, broker_order_id=broker_id,
                                             not_found_checks=not_found_checks, submitted_at=timezone.now())
    order.refresh_from_db()
    return order


def _form(order: Order) -> dict[str, str]:
    form = {"class": "multileg", "symbol": "SPX", "type": order.order_type, "duration": "day",
            "price": str(order.limit_price)}
    for i, leg in enumerate(order.legs):
        form.update({f"option_symbol[{i}]": leg["option_symbol"], f"side[{i}]": leg["side"],
                     f"quantity[{i}]": str(leg["quantity"])})
    return form


def test_restart_reconciles_every_in_flight_order_before_any_work(
    fake: FakeTradierOrders, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed_after_post = _seed(fake, state="submitting", at_broker="open")
    unknown_filled = _seed(fake, state="unknown", at_broker="filled")
    unknown_absent = _seed(fake, state="unknown", at_broker=None, not_found_checks=NOT_FOUND_CHECKS - 1)
    open_canceled = _seed(fake, state="open", at_broker="canceled", with_id=True)
    never_sent = opened(factory_decision())  # committed, then the process died before the POST
    external = fake.add_order({**_form(never_sent)})  # placed by hand at the broker: no tag
    monkeypatch.setattr(services, "_reconciled_in_process", False)

    services.ensure_reconciled()

    rows = {o.pk: o for o in Order.objects.all()}
    book = {o.get("tag"): o for o in fake.orders()}
    a, b, c, d, e = (rows[o.pk] for o in (crashed_after_post, unknown_filled, unknown_absent, open_canceled, never_sent))
    assert (a.state, a.broker_order_id) == ("open", str(book[a.client_tag]["id"]))
    assert (b.state, b.filled_quantity, b.broker_order_id) == ("filled", 1, str(book[b.client_tag]["id"]))
    assert Trade.objects.get(pk=b.trade_id).status == "open"
    assert c.state == "rejected" and c.reason.startswith(f"not found at broker after {NOT_FOUND_CHECKS} checks")
    assert Trade.objects.get(pk=c.trade_id).status == "not_filled"
    assert d.state == "canceled" and Trade.objects.get(pk=d.trade_id).status == "not_filled"
    assert e.state == "open" and e.broker_order_id == str(book[e.client_tag]["id"])
    assert not any(o.state in ("new", "submitting", "unknown") for o in rows.values())
    # Exactly one POST (the never-sent order), and the untagged external order is nobody's.
    [post] = fake.requests_by("POST")
    assert post.form["tag"] == e.client_tag
    assert str(external) not in {o.broker_order_id for o in rows.values()}
    assert len(fake.orders()) == 5
    # ... but adopted: one external row of its own, keyed by its broker id, in no trade (B1 #14).
    [adopted] = AdoptedOrder.objects.all()
    assert (adopted.broker_order_id, adopted.origin, adopted.state) == (str(external), "external", "open")
    assert count(fake, "DELETE") == 0 and count(fake, "PUT") == 0

    # Once per process: a second call is free, and a full pass again sends nothing.
    requests = len(fake.requests)
    services.ensure_reconciled()
    assert len(fake.requests) == requests
    services.orders_reconcile()
    assert count(fake, "POST") == 1


def test_reconcile_adopts_orphaned_and_external_orders_once_and_never_acts_on_them(
    fake: FakeTradierOrders, broker: TradierBroker
) -> None:
    """B1 #13/#14: an orphan (our tag, no row) becomes ``recovered``, a hand-placed order ``external``;
    one row per broker order id however often reconcile runs; their fills are copied from the broker;
    nothing is sent, re-priced or canceled for them, and no trade, decision or config gains a row."""
    known = _seed(fake, state="open", at_broker="open", with_id=True)  # ours, with its row: not adopted
    orphan_tag = "spx-open-0123456789abcdef0123"
    orphan = fake.add_order({**_form(known), "tag": orphan_tag})  # a process died before its commit
    external = fake.add_order({**_form(known), "price": "1.50"})  # placed by hand: no tag
    fake.fill(external, 1, 1.50)
    trades, orders, decisions = Trade.objects.count(), Order.objects.count(), TradeDecision.objects.count()

    counts = services.broker_orders_unmatched(broker=broker)

    assert counts == {"orphans": 1, "external": 1, "adopted": 2}
    rows = {o.broker_order_id: o for o in AdoptedOrder.objects.all()}
    assert set(rows) == {str(orphan), str(external)}
    rec, ext = rows[str(orphan)], rows[str(external)]
    assert (rec.origin, rec.client_tag, rec.state, rec.filled_quantity) == ("recovered", orphan_tag, "open", 0)
    assert (ext.origin, ext.client_tag, ext.state, ext.filled_quantity) == ("external", "", "filled", 1)
    assert ext.avg_fill_price == Decimal("1.50") and ext.order_type == "credit"
    assert [leg["option_symbol"] for leg in ext.legs] == [SHORT, LONG]
    assert (Trade.objects.count(), Order.objects.count(), TradeDecision.objects.count()) == (trades, orders, decisions)

    # Idempotent: a second pass adds nothing; a later fill at the broker is copied onto the same row.
    fake.fill(orphan, 1, float(known.limit_price))
    assert services.adopted_orders_sync(broker=broker) == {"orphans": 1, "external": 1, "adopted": 0}
    assert AdoptedOrder.objects.count() == 2
    rec.refresh_from_db()
    assert (rec.state, rec.filled_quantity, rec.avg_fill_price) == ("filled", 1, known.limit_price)
    assert services.broker_orders_unmatched(broker=broker)["adopted"] == 0 and AdoptedOrder.objects.count() == 2
    # Only reads: no POST, no re-price, no cancel, for them or for anything else.
    assert (count(fake, "POST"), count(fake, "PUT"), count(fake, "DELETE")) == (0, 0, 0)
    # Both fills are position lines of their own on their legs' expiration day, marked by origin.
    lines = selectors.adopted_positions(today=dt.date(2026, 11, 20))
    assert {(p.order.broker_order_id, p.order.origin, p.expiration) for p in lines} == {
        (str(orphan), "recovered", dt.date(2026, 11, 20)), (str(external), "external", dt.date(2026, 11, 20))}
    assert selectors.adopted_positions(today=dt.date(2026, 11, 21)) == []  # expired: no longer open


def test_orders_sync_job_never_walks_or_cancels_adopted_orders(
    fake: FakeTradierOrders, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The minute job adopts at its first run, then only reads: an adopted working order is past every
    walk and give-up threshold, yet no PUT or DELETE reaches the broker for it."""
    settings.ORDER_WALK_AFTER_SECONDS = 0
    settings.ORDER_WALK_MAX_STEPS = 0
    external = fake.add_order({**_form(opened(factory_decision())), "price": "1.50"})
    Order.objects.update(state="canceled")  # only the external order is working
    monkeypatch.setattr(services, "_reconciled_in_process", False)

    tasks.orders_sync()
    tasks.orders_sync()

    [adopted] = AdoptedOrder.objects.all()
    assert (adopted.broker_order_id, adopted.origin, adopted.state) == (str(external), "external", "open")
    assert (count(fake, "POST"), count(fake, "PUT"), count(fake, "DELETE")) == (0, 0, 0)
    assert fake.orders()[0]["status"] == "open"


@pytest.mark.parametrize("strategy_trade_open", [False, True], ids=["allowed", "refused"])
def test_adopted_positions_do_not_count_against_a_strategy(settings: Any, strategy_trade_open: bool) -> None:
    """An external filled spread is a position line, not a strategy's trade: the entry window allows
    or refuses (max open trades) exactly as it would without it."""
    AdoptedOrderFactory()  # filled, expires 2030: an open position at the broker
    AdoptedOrderFactory(origin="recovered", client_tag="spx-open-ffffffffffffffffffff", state="partially_filled",
                        quantity=2, filled_quantity=1)
    assert len(selectors.adopted_positions(today=WED_10.date())) == 2
    if strategy_trade_open:
        # The window's book: the simulated market's source (``strategy.services.default_source``).
        TradeFactory(decision__source=TradeDecision.Source.SIMULATED,
                     decision__trading_day=dt.date(2026, 11, 17), expiration=dt.date(2026, 11, 20))
    before = selectors.risk_state(TradeDecision.Source.SIMULATED, WED_10.date())
    assert before.open_trades == int(strategy_trade_open)

    if not strategy_trade_open:
        market_decision(settings)  # asserts the window's one TRADE
        return
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_CONTEXT_ENABLED = False
    settings.SNAPSHOT_DTE_TARGETS = [3]
    StrategyConfig.objects.update(enabled=False)
    StrategyConfigFactory(name="faults 3DTE put 20d", enabled=True, side="put_credit", target_dte=3,
                          short_delta_target=Decimal("0.20"), width_points=Decimal("25"))
    entry_window_run(at=WED_10, hand_over=lambda _pk: None)
    decision = TradeDecision.objects.get(entry_window=WED_10, strategy_config__name="faults 3DTE put 20d")
    assert (decision.action, decision.reason_code) == ("SKIP", "risk_limit")
    assert "1 open trade(s), limit 1" in decision.reason_message  # the strategy's trade, not the adopted two


def test_trading_job_reconciles_before_it_places_anything(
    fake: FakeTradierOrders, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = _seed(fake, state="unknown", at_broker="open")
    decision = factory_decision()
    monkeypatch.setattr(services, "_reconciled_in_process", False)

    tasks.trade_open(decision.pk)

    log = fake.requests
    first_post = next(i for i, r in enumerate(log) if r.method == "POST")
    assert any(r.method == "GET" and r.path == fake.orders_path for r in log[:first_post])
    stale.refresh_from_db()
    assert stale.state == "open" and count(fake, "POST") == 1
    new = Trade.objects.get(decision=decision).orders.get()
    assert new.state == "open" and fake.requests_by("POST")[0].form["tag"] == new.client_tag


# ------------------------------------------------------------------ walking and cancel


def _walk_settings(settings: Any) -> None:
    settings.ORDER_WALK_AFTER_SECONDS = 60
    settings.ORDER_WALK_STEP = 0.05
    settings.ORDER_WALK_MAX_STEPS = 3


def test_unfilled_limit_walks_then_gives_up_and_a_late_fill_still_counts(
    fake: FakeTradierOrders, broker: TradierBroker, settings: Any
) -> None:
    _walk_settings(settings)
    order = services.order_submit(opened(factory_decision()).pk, broker=broker)
    broker_id = int(order.broker_order_id)

    # Not yet due: nothing is sent before the wait has passed.
    services.order_walk(order.pk, broker=broker, now=timezone.now() + dt.timedelta(seconds=30))
    assert count(fake, "PUT") == 0

    for _ in range(3):
        order = services.order_walk(order.pk, broker=broker, now=timezone.now() + dt.timedelta(seconds=61))
    assert [r.form for r in fake.requests_by("PUT")] == [{"price": "2.65"}, {"price": "2.60"}, {"price": "2.55"}]
    assert all(r.path == f"{fake.orders_path}/{broker_id}" for r in fake.requests_by("PUT"))
    assert order.state == "open" and order.walk_steps == 3 and order.limit_price == Decimal("2.55")
    assert only_order(fake, order.client_tag)["price"] == 2.55

    order = services.order_walk(order.pk, broker=broker, now=timezone.now() + dt.timedelta(seconds=61))
    assert order.state == "canceled" and order.reason == "gave up after 3 price steps from 2.70"
    assert Trade.objects.get(pk=order.trade_id).status == "not_filled"
    assert (count(fake, "POST"), count(fake, "PUT"), count(fake, "DELETE")) == (1, 3, 1)
    # Given up is final: no more steps and no second cancel.
    services.order_walk(order.pk, broker=broker, now=timezone.now() + dt.timedelta(seconds=61))
    assert (count(fake, "PUT"), count(fake, "DELETE")) == (3, 1)

    # The exchange filled it as the cancel went through: the position exists, so the trade does.
    fake.fill(broker_id, 1, 2.55)
    order = services.order_sync(order.pk, broker=broker)
    trade = Trade.objects.get(pk=order.trade_id)
    assert order.state == "canceled" and order.filled_quantity == 1
    assert trade.status == "open" and trade.entry_credit == Decimal("2.55")
    assert_trade_equals_fills(order)


@pytest.mark.parametrize("cancel_took_effect", [True, False], ids=["booked", "not-booked"])
def test_cancel_timeout_goes_pending_cancel_and_is_resolved_by_lookup(
    fake: FakeTradierOrders, broker: TradierBroker, settings: Any, cancel_took_effect: bool
) -> None:
    settings.ORDER_WALK_MAX_STEPS = 0  # give up at once: the first walk is the cancel
    settings.ORDER_WALK_AFTER_SECONDS = 60
    order = services.order_submit(opened(factory_decision()).pk, broker=broker)
    fake.script(booked_then_timeout(SILENCE_S) if cancel_took_effect else ft.timeout(SILENCE_S))

    order = services.order_walk(order.pk, broker=broker, now=timezone.now() + dt.timedelta(seconds=61))

    assert count(fake, "DELETE") == 1
    assert order.reason.startswith("gave up after 0 price steps from 2.70")
    if cancel_took_effect:
        assert order.state == "canceled" and Trade.objects.get(pk=order.trade_id).status == "not_filled"
    else:
        # The lookup shows it still working: back to open, not a false rejection.
        assert order.state == "open" and Trade.objects.get(pk=order.trade_id).status == "opening"
    assert count(fake, "POST") == 1


# ------------------------------------------------------------------ B1 #7, #8 in one process


class ReplyAfter:
    """A ``TradierBroker`` whose placement reply reaches the caller only after ``meanwhile`` ran:
    the window in which another worker's reconciliation already sees the order at the broker."""

    def __init__(self, inner: TradierBroker, meanwhile: Callable[[], None]) -> None:
        self._inner = inner
        self._meanwhile = meanwhile
        self.name = inner.name

    def place_spread(self, req: SpreadOrderRequest) -> PlaceResult:
        result = self._inner.place_spread(req)
        self._meanwhile()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_late_placement_reply_does_not_overwrite_what_reconciliation_adopted(
    fake: FakeTradierOrders, broker: TradierBroker
) -> None:
    order = opened(factory_decision())

    def reconcile_elsewhere() -> None:
        [booked] = fake.orders()
        fake.fill(booked["id"], 1, 2.70)
        services.orders_reconcile(broker=broker)
        assert Order.objects.get(pk=order.pk).state == "filled"

    order = services.order_submit(order.pk, broker=ReplyAfter(broker, reconcile_elsewhere))  # type: ignore[arg-type]

    order.refresh_from_db()
    assert order.state == "filled" and order.filled_quantity == 1 and order.avg_fill_price == CREDIT
    assert order.broker_order_id == str(only_order(fake, order.client_tag)["id"])
    assert Trade.objects.get(pk=order.trade_id).status == "open"
    assert_trade_equals_fills(order)
    assert count(fake, "POST") == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_trade_opens_for_one_decision_make_one_trade_one_order_one_post(
    fake: FakeTradierOrders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B1 #7, the order side: two workers run the ``trade_open`` task for ONE decision at once, each
    on its own database connection (committed rows, as in production), against the fake broker.

    Two barriers force the worst interleaving rather than hoping for it: (1) both have seen "no trade
    for this decision" before either inserts (the barrier sits in ``trade_build``, between the
    look-up and the insert), so the unique ``Trade.decision`` lets one insert and the other lands
    in ``trade_open``'s IntegrityError path; (2) both have read the order as ``new`` and entered
    ``order_submit`` before either claims it, so only the conditional claim stands between the
    two and a second POST."""
    decision = factory_decision()
    monkeypatch.setattr(services, "_reconciled_in_process", True)  # the restart case is tested above
    looked_up = threading.Barrier(2, timeout=30)
    both_submitting = threading.Barrier(2, timeout=30)
    built: list[int] = []
    submitted: list[Order] = []
    build, submit = services.trade_build, services.order_submit

    def build_after_both_looked(decision: TradeDecision, *, quantity: int) -> Any:
        built.append(decision.pk)
        looked_up.wait()  # neither has inserted: each saw no Trade for the decision
        return build(decision, quantity=quantity)

    def submit_after_both_read(order_id: int, **kwargs: Any) -> Order:
        both_submitting.wait()  # each read the order as ``new``; neither has claimed it
        order = submit(order_id, **kwargs)
        submitted.append(order)
        return order

    monkeypatch.setattr(services, "trade_build", build_after_both_looked)
    monkeypatch.setattr(services, "order_submit", submit_after_both_read)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            tasks.trade_open(decision.pk)
        except BaseException as exc:  # noqa: BLE001 — reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)

    assert errors == []
    assert built == [decision.pk, decision.pk]  # both passed the look-up: the loser met the unique key
    trade = Trade.objects.get(decision=decision)
    order = Order.objects.get()
    assert order.trade_id == trade.pk and trade.legs.count() == 2
    assert Trade.objects.count() == 1
    assert count(fake, "POST") == 1 and len(fake.orders()) == 1
    assert fake.requests_by("POST")[0].form["tag"] == order.client_tag
    # Both callers got the one row: the winner as it placed it, the loser as the claim found it.
    assert len(submitted) == 2 and {o.pk for o in submitted} == {order.pk}
    assert order.state == "open" and order.broker_order_id == str(only_order(fake, order.client_tag)["id"])


def test_reconcile_reports_orphaned_and_external_broker_orders(caplog) -> None:  # type: ignore[no-untyped-def]
    """B1 #13/#14: broker orders no row knows are reported, never attributed to a strategy."""
    import datetime as _dt
    from decimal import Decimal as _D

    from execution.brokers.base import OrderLeg, SpreadOrderRequest
    from execution.brokers.simulated import SimulatedBroker

    now = _dt.datetime(2026, 11, 20, 15, 0, tzinfo=_dt.UTC)
    broker = SimulatedBroker(lambda symbol: (1.0, 1.2), clock=lambda: now)

    def place(tag: str) -> None:
        broker.place_spread(SpreadOrderRequest(
            client_tag=tag, order_type="credit", limit_price=_D("5.00"),
            legs=(OrderLeg("SPXW261120P06500000", "sell_to_open", 1), OrderLeg("SPXW261120P06475000", "buy_to_open", 1)),
        ))

    place("spx-open-0123456789abcdef0123")  # ours, but no row: a process died before its commit
    place("manual-order")  # placed by hand
    with caplog.at_level("WARNING"):
        counts = services.broker_orders_unmatched(broker=broker)
    assert counts["orphans"] == 1 and counts["external"] == 1
    assert "carries our tag spx-open-0123456789abcdef0123" in caplog.text
    assert Order.objects.count() == 0  # nothing adopted into a strategy automatically
