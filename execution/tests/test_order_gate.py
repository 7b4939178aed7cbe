"""No order leaves for a market that cannot take it (``services.order_gate`` in ``order_submit``).

Judged at the order path's own instant (``now``: the replayed slot, the mark's time; the clock
live), against the trading calendar: outside the SPX index-options session (holidays, weekends,
after 16:15 ET or 13:15 ET on an early close) the order is ``market_closed``; a series at or past
its settlement instant (SPXW 16:00 ET / 13:00 ET on an early close, AM SPX 09:30 ET) is
``series_expired``. A refused order was committed with its tag and is never sent: it goes
``rejected`` with the reason, an entry's trade is not filled, a close leaves its trade open.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from execution import services
from execution.brokers.base import PlaceResult, SpreadOrderRequest
from execution.models import Order, Trade
from execution.order_states import OrderState
from execution.tests.factories import OrderFactory, TradeFactory
from snapshots.tests.factories import ChainSnapshotFactory

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
BLACK_FRIDAY = dt.date(2026, 11, 27)  # early close: SPXW settle at 13:00 ET, the options session ends 13:15 ET
THANKSGIVING = dt.date(2026, 11, 26)
NEXT_WEEK = dt.date(2026, 12, 2)


def et(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY)


class RecordingBroker:
    """Records placements and rejects them: a test sees whether the broker was called at all."""

    name = "recording"

    def __init__(self) -> None:
        self.placed: list[SpreadOrderRequest] = []

    def place_spread(self, req: SpreadOrderRequest) -> PlaceResult:
        self.placed.append(req)
        return PlaceResult.rejected(req.client_tag, ("recorded by the test broker",))


@pytest.fixture
def broker() -> RecordingBroker:
    return RecordingBroker()


def entry_order(expiration: dt.date, *, root: str = "SPXW") -> Order:
    trade = TradeFactory(status=Trade.Status.OPENING, expiration=expiration, root=root, opened_at=None)
    return OrderFactory(trade=trade, purpose=Order.Purpose.OPEN, state=OrderState.NEW, broker_order_id="",
                        submitted_at=None)


def close_order(expiration: dt.date) -> Order:
    trade = TradeFactory(status=Trade.Status.CLOSING, expiration=expiration)
    return OrderFactory(trade=trade, purpose=Order.Purpose.CLOSE, state=OrderState.NEW, broker_order_id="",
                        order_type="debit", limit_price=Decimal("0.60"), reason="take_profit: at 50 %",
                        submitted_at=None)


# An entry and a close order (and, for a refusal, the trade's status afterwards: a refused entry
# leaves it not filled, a refused close leaves it open).
BOTH_ORDERS = pytest.mark.parametrize("make", [entry_order, close_order], ids=["entry", "close"])
BOTH_ORDERS_AND_THE_TRADE_AFTER = pytest.mark.parametrize(
    "make, trade_status", [(entry_order, Trade.Status.NOT_FILLED), (close_order, Trade.Status.OPEN)],
    ids=["entry", "close"])


def refused(order: Order, broker: RecordingBroker, *, at: dt.datetime, code: str) -> Order:
    order = services.order_submit(order.pk, broker=broker, now=at)  # type: ignore[arg-type]
    assert broker.placed == [], "the broker was called"
    assert order.state == OrderState.REJECTED and order.reason.startswith(f"{code}: ") and "never sent" in order.reason
    assert order.submitted_at is None and order.client_tag.startswith("spx-open-test")  # committed, tag kept
    return order


@BOTH_ORDERS_AND_THE_TRADE_AFTER
def test_after_the_early_close_the_expiring_series_has_settled(make: Any, trade_status: str,
                                                               broker: RecordingBroker) -> None:
    order = refused(make(BLACK_FRIDAY), broker, at=et(BLACK_FRIDAY, 13, 5), code=services.SERIES_EXPIRED)
    assert "settled at 2026-11-27 13:00 ET" in order.reason
    assert order.purpose == Order.Purpose.OPEN or order.reason.endswith("(was: take_profit: at 50 %)")
    assert Trade.objects.get(pk=order.trade_id).status == trade_status


@BOTH_ORDERS_AND_THE_TRADE_AFTER
def test_after_the_early_close_of_the_options_session_nothing_is_sent(make: Any, trade_status: str,
                                                                      broker: RecordingBroker) -> None:
    order = refused(make(NEXT_WEEK), broker, at=et(BLACK_FRIDAY, 13, 15), code=services.MARKET_CLOSED)
    assert "2026-11-27 13:15 ET is outside the SPX options session (the session runs 09:30–13:15 ET)" in order.reason
    assert Trade.objects.get(pk=order.trade_id).status == trade_status


def test_a_later_series_still_trades_until_the_index_options_close(broker: RecordingBroker) -> None:
    """13:05 on the early-close day is past the SPXW settlement but inside the 13:15 options session."""
    order = services.order_submit(entry_order(NEXT_WEEK).pk, broker=broker, now=et(BLACK_FRIDAY, 13, 5))  # type: ignore[arg-type]
    assert len(broker.placed) == 1 and order.reason == "recorded by the test broker"


@BOTH_ORDERS
def test_a_holiday_has_no_session(make: Any, broker: RecordingBroker) -> None:
    order = refused(make(BLACK_FRIDAY), broker, at=et(THANKSGIVING, 11, 0), code=services.MARKET_CLOSED)
    assert "no session that day (holiday or weekend)" in order.reason


@BOTH_ORDERS
def test_an_expired_series_is_refused_in_a_later_session(make: Any, broker: RecordingBroker) -> None:
    order = refused(make(dt.date(2026, 11, 23)), broker, at=et(dt.date(2026, 11, 24), 10, 30),
                    code=services.SERIES_EXPIRED)
    assert "SPXW261123" in order.reason and "settled at 2026-11-23 16:00 ET" in order.reason


def test_an_am_settled_monthly_has_settled_at_the_open_of_its_day(broker: RecordingBroker) -> None:
    order = refused(entry_order(dt.date(2026, 12, 18), root="SPX"), broker, at=et(dt.date(2026, 12, 18), 9, 45),
                    code=services.SERIES_EXPIRED)
    assert "settled at 2026-12-18 09:30 ET" in order.reason


@BOTH_ORDERS
def test_an_in_session_order_goes_to_the_broker(make: Any, broker: RecordingBroker) -> None:
    order = make(BLACK_FRIDAY)
    sent = services.order_submit(order.pk, broker=broker, now=et(dt.date(2026, 11, 24), 10, 30))  # type: ignore[arg-type]
    assert [r.client_tag for r in broker.placed] == [order.client_tag]
    # The broker's answer, not a local refusal (a close keeps its cause in front: "take_profit: …; …").
    assert sent.reason.endswith("recorded by the test broker") and "never sent" not in sent.reason


def test_a_refused_order_is_not_sent_later_by_reconciliation(broker: RecordingBroker) -> None:
    order = refused(entry_order(BLACK_FRIDAY), broker, at=et(THANKSGIVING, 11, 0), code=services.MARKET_CLOSED)
    assert services.orders_reconcile(broker=broker) == {"submitted": 0, "synced": 0}  # type: ignore[arg-type]
    assert broker.placed == [] and Order.objects.get(pk=order.pk).state == OrderState.REJECTED


def test_a_take_profit_after_the_close_is_judged_at_the_marks_time(settings: Any, broker: RecordingBroker) -> None:
    """The marking path passes its slot as the clock (a replay, the demo): a take profit seen at
    16:20 ET is not sent, the trade stays open for the next session and the order says why."""
    settings.SNAPSHOT_UNDERLYING = "SPX"
    trade = TradeFactory(expiration=NEXT_WEEK, side="put_credit", short_strike=Decimal("6000"),
                         long_strike=Decimal("5975"), entry_credit=Decimal("12.00"))
    at = et(dt.date(2026, 11, 30), 16, 20)
    # The chain's 6000/5975 puts close for about 4.00: a third of the credit, past the take profit.
    ChainSnapshotFactory(expiration=NEXT_WEEK, ts=at - dt.timedelta(minutes=5))
    mark = services.trade_mark(trade, at=at, broker=broker)  # type: ignore[arg-type]
    assert mark is not None and mark.signal == "take_profit"
    close = trade.orders.get(purpose=Order.Purpose.CLOSE)
    assert close.state == OrderState.REJECTED and close.reason.startswith("market_closed: 2026-11-30 16:20 ET")
    assert broker.placed == [] and Trade.objects.get(pk=trade.pk).status == Trade.Status.OPEN


def test_the_check_can_be_switched_off_for_worker_process_tests_only(settings: Any, broker: RecordingBroker) -> None:
    settings.ORDER_MARKET_CHECK = False
    services.order_submit(entry_order(BLACK_FRIDAY).pk, broker=broker, now=et(THANKSGIVING, 11, 0))  # type: ignore[arg-type]
    assert len(broker.placed) == 1


def test_production_settings_refuse_to_start_with_the_check_off(tmp_path: Any) -> None:
    from spx_site.tests.test_api_auth import _settings_import

    production = {"SPX_REQUIRE_SECRET_KEY": "true", "DJANGO_SECRET_KEY": "x" * 50, "ADMIN_API_KEY": "k" * 40}
    refused = _settings_import(tmp_path, **production, ORDER_MARKET_CHECK="false")
    assert refused.returncode != 0 and "ORDER_MARKET_CHECK=false is for tests only" in refused.stderr
    assert _settings_import(tmp_path, **production).returncode == 0
