"""What the soak (``bench/soak.py``) found, pinned.

- A closing order keeps why it was sent through an unknown outcome or a give-up: its reason starts
  with ``take_profit: …`` / ``stop_loss: …``, which the trade's exit reason is read from when it
  fills. Before the fix a lost placement reply replaced that reason with "outcome unknown, not
  re-sent: …", so the trade closed as ``manual``, and a stop-loss closed that way did not block
  the day's new entries (``selectors.risk_state``).
- Realized PnL comes from the fills' cash. Before the fix it came from the average fill prices
  rounded to the cent: a close filled 1 @ 1.85 + 1 @ 1.90 (average 1.875, stored 1.88) booked $1
  less than the broker paid.
- A close that filled in part and then expired (a day order at the close) or was canceled put the
  trade back to ``open`` with its whole quantity: the next close was sent for 2 contracts when 1
  was held, and a settlement settled 2. The trade now holds ``open_quantity`` (quantity less the
  closing fills), the next close is for that, and a settlement settles only that (exit fees on the
  contracts closed by orders).

Real HTTP: the platform's ``TradierBroker`` against the fake Tradier order server on 127.0.0.1,
which books the closing POST and then stays silent past the client timeout.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from execution import selectors, services
from execution.brokers import TradierBroker
from execution.models import Order, Trade
from execution.order_states import OrderState
from execution.tests.factories import FillFactory, OrderFactory, TradeFactory
from execution.tests.fake_tradier_orders import FakeTradierOrders, booked_then_timeout
from snapshots.tests.factories import ChainSnapshotFactory

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
EXPIRATION = dt.date(2026, 12, 2)
AT = dt.datetime(2026, 11, 30, 11, 0, tzinfo=NY)  # in session; the series settles two days later


@pytest.fixture
def broker(fake_orders: FakeTradierOrders, settings: Any) -> Any:
    settings.SNAPSHOT_UNDERLYING = "SPX"
    fake_orders.now = AT  # orders are booked (and looked up by tag) on the mark's New York date
    with TradierBroker(fake_orders.base_url, fake_orders.token, fake_orders.account_id, timeout_s=0.3) as b:
        yield b


def _trade(credit: str) -> Trade:
    # The chain's 6000/5975 puts close for about 4.00: a take profit on a 12.00 credit, a stop on 1.50.
    return TradeFactory(expiration=EXPIRATION, side="put_credit", short_strike=Decimal("6000"),
                        long_strike=Decimal("5975"), entry_credit=Decimal(credit), opened_at=AT - dt.timedelta(hours=1),
                        decision__trading_day=AT.date())


@pytest.mark.parametrize(("credit", "signal"), [("12.00", "take_profit"), ("1.50", "stop_loss")])
def test_a_close_whose_placement_reply_was_lost_exits_for_its_signal(
        fake_orders: FakeTradierOrders, broker: TradierBroker, credit: str, signal: str) -> None:
    trade = _trade(credit)
    ChainSnapshotFactory(expiration=EXPIRATION, ts=AT - dt.timedelta(minutes=5))
    fake_orders.script(booked_then_timeout(0.6))

    mark = services.trade_mark(trade, at=AT, broker=broker)

    assert mark is not None and mark.signal == signal
    close = trade.orders.get(purpose=Order.Purpose.CLOSE)
    assert close.state == OrderState.UNKNOWN
    assert close.reason.startswith(f"{signal}: ") and "; outcome unknown, not re-sent: POST " in close.reason
    [booked] = fake_orders.orders_with_tag(close.client_tag)
    fake_orders.fill(booked["id"], trade.quantity, float(close.limit_price))

    services.order_sync(close.pk, broker=broker, now=AT + dt.timedelta(minutes=5))

    trade.refresh_from_db()
    assert trade.status == Trade.Status.CLOSED and trade.exit_reason == signal
    assert len(fake_orders.requests_by("POST")) == 1  # found by its tag, never re-sent
    stops = selectors.risk_state(trade.source, AT.date()).stops_today
    assert stops == (1 if signal == "stop_loss" else 0)


def test_a_close_given_up_that_had_filled_meanwhile_exits_for_its_signal(
        fake_orders: FakeTradierOrders, broker: TradierBroker, settings: Any) -> None:
    """The walk gives up and cancels, but the order had filled: the cancel finds it final, and the
    trade closes for the stop that sent it, not as ``manual``."""
    settings.ORDER_WALK_MAX_STEPS = 0
    trade = _trade("1.50")
    ChainSnapshotFactory(expiration=EXPIRATION, ts=AT - dt.timedelta(minutes=5))
    services.trade_mark(trade, at=AT, broker=broker)
    close = trade.orders.get(purpose=Order.Purpose.CLOSE)
    assert close.state == OrderState.OPEN
    fake_orders.fill(int(close.broker_order_id), trade.quantity, float(close.limit_price))

    services.order_walk(close.pk, broker=broker, now=AT + dt.timedelta(minutes=5))

    close.refresh_from_db()
    trade.refresh_from_db()
    assert close.state == OrderState.FILLED and close.reason.startswith("stop_loss: ")
    assert "; gave up after 0 price steps" in close.reason
    assert trade.status == Trade.Status.CLOSED and trade.exit_reason == "stop_loss"


def test_pnl_is_the_fills_cash_not_the_rounded_average(fake_orders: FakeTradierOrders, broker: TradierBroker) -> None:
    trade = _trade("5.30")
    trade.quantity = 2
    trade.save()
    entry = OrderFactory(trade=trade, quantity=2, limit_price=Decimal("5.30"))
    FillFactory(order=entry, quantity=2, price=Decimal("5.30"))
    close = services.close_order_create(trade, limit_price=Decimal("1.85"), reason="take_profit: test", now=AT)
    assert close is not None
    services.order_submit(close.pk, broker=broker, now=AT)
    close.refresh_from_db()
    booked = int(close.broker_order_id)
    fake_orders.fill(booked, 1, 1.85)
    services.order_sync(close.pk, broker=broker, now=AT + dt.timedelta(minutes=5))
    fake_orders.fill(booked, 1, 1.90)  # the rest after a walk step
    services.order_sync(close.pk, broker=broker, now=AT + dt.timedelta(minutes=10))

    close.refresh_from_db()
    trade.refresh_from_db()
    assert close.avg_fill_price == Decimal("1.88") == trade.exit_debit  # 1.875, on the cent
    fees = Decimal("0.80") * 2 * 2 * 2
    assert trade.fees_usd == fees
    # (2 × 5.30 − 1.85 − 1.90) × 100 − fees; from the rounded averages it would be 677.60.
    assert trade.realized_pnl_usd == Decimal("685.00") - fees == Decimal("678.60")


def _opened(credit: str, quantity: int = 2) -> Trade:
    trade = _trade(credit)
    trade.quantity = quantity
    trade.save()
    trade.legs.update(quantity=quantity)
    entry = OrderFactory(trade=trade, quantity=quantity, limit_price=Decimal(credit))
    FillFactory(order=entry, quantity=quantity, price=Decimal(credit))
    return trade


def _close_once(trade: Trade, fake_orders: FakeTradierOrders, broker: TradierBroker, *, fill: int, price: str,
                at: dt.datetime) -> Order:
    close = services.close_order_create(trade, limit_price=Decimal(price), reason="take_profit: test", now=at)
    assert close is not None
    services.order_submit(close.pk, broker=broker, now=at)
    close.refresh_from_db()
    fake_orders.fill(int(close.broker_order_id), fill, float(price))
    services.order_sync(close.pk, broker=broker, now=at + dt.timedelta(minutes=1))
    close.refresh_from_db()
    return close


def test_a_close_filled_in_part_then_expired_leaves_the_rest_open_and_the_next_close_is_for_it(
        fake_orders: FakeTradierOrders, broker: TradierBroker) -> None:
    """2 contracts; the take profit fills 1 and expires at the close: the trade is open with 1
    contract held, and the next close is for 1 (before: for 2, closing more than was held)."""
    trade = _opened("5.30")
    first = _close_once(trade, fake_orders, broker, fill=1, price="1.85", at=AT)
    assert first.state == OrderState.PARTIALLY_FILLED
    fake_orders.set_status(int(first.broker_order_id), "expired")  # a day order at the close
    services.order_sync(first.pk, broker=broker, now=AT + dt.timedelta(hours=3))
    trade.refresh_from_db()
    assert trade.status == Trade.Status.OPEN and services.open_quantity(trade) == 1 and trade.quantity == 2

    second = _close_once(trade, fake_orders, broker, fill=1, price="1.90", at=AT + dt.timedelta(days=1))
    assert second.quantity == 1 and [leg["quantity"] for leg in second.legs] == [1, 1]
    assert [o["quantity"] for o in fake_orders.orders()][-1] == 1.0  # what went to the broker
    trade.refresh_from_db()
    assert second.state == OrderState.FILLED and trade.status == Trade.Status.CLOSED
    assert trade.exit_reason == "take_profit" and trade.exit_debit == Decimal("1.88")  # (1.85 + 1.90) / 2
    fees = Decimal("0.80") * 2 * 2 * 2
    assert trade.fees_usd == fees and trade.realized_pnl_usd == Decimal("685.00") - fees


def test_a_trade_closed_in_part_then_settled_settles_only_what_is_held(
        fake_orders: FakeTradierOrders, broker: TradierBroker) -> None:
    trade = _opened("5.30")
    first = _close_once(trade, fake_orders, broker, fill=1, price="1.85", at=AT)
    fake_orders.set_status(int(first.broker_order_id), "expired")
    services.order_sync(first.pk, broker=broker, now=AT + dt.timedelta(hours=3))

    # Expires worthless-ish: 6000/5975 puts with SPX at 5990 owe 10.00 a share.
    settled = services.trades_settle(now=dt.datetime(2026, 12, 2, 16, 5, tzinfo=NY),
                                     settlement_value=lambda expiration, root: (Decimal("5990"), "test"))
    trade.refresh_from_db()
    assert settled == [trade] and trade.exit_reason == "settlement" and trade.exit_debit == Decimal("10.00")
    fees = Decimal("0.80") * 2 * (2 + 1)  # entry of 2, exit of the 1 closed by its order, none on settlement
    assert trade.fees_usd == fees
    assert trade.realized_pnl_usd == (2 * Decimal("5.30") - Decimal("1.85") - Decimal("10.00")) * 100 - fees
