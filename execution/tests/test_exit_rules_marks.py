"""The live mark job with per-config exit rules (issue 16 §1): ``trade_mark`` applies the rules
frozen on the trade's decision — its own take profit and stop, and its time exit — and submits the
closing order with that reason; a later edit of the config changes nothing for that trade."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from execution import services
from execution.models import Order, Trade
from execution.tests.factories import TradeFactory
from execution.tests.test_order_gate import RecordingBroker
from snapshots.tests.factories import ChainSnapshotFactory
from strategy.tests.factories import StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
EXPIRY = dt.date(2026, 12, 2)  # a Wednesday SPXW expiration, 16:00 ET


def et(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NY)


def _trade(**config: Any) -> Trade:
    # The chain's 6000/5975 puts close for about 4.00 against a 12.00 credit (see test_order_gate).
    c = StrategyConfigFactory(**config)
    decision = TradeDecisionFactory(strategy_config=c, action="TRADE", reason_code="ok", expiration=EXPIRY,
                                    credit_fill=Decimal("12.00"), width_points=Decimal("25"))
    return TradeFactory(decision=decision, expiration=EXPIRY, side="put_credit", short_strike=Decimal("6000"),
                        long_strike=Decimal("5975"), entry_credit=Decimal("12.00"))


def _mark(trade: Trade, at: dt.datetime, broker: RecordingBroker) -> str:
    ChainSnapshotFactory(expiration=EXPIRY, ts=at)
    mark = services.trade_mark(Trade.objects.get(pk=trade.pk), at=at + dt.timedelta(minutes=1), broker=broker)  # type: ignore[arg-type]
    assert mark is not None
    return mark.signal


def test_the_marks_apply_the_decisions_own_take_profit(settings: Any) -> None:
    settings.SNAPSHOT_UNDERLYING = "SPX"
    broker = RecordingBroker()
    # Taking 90 % of the max profit needs a debit <= 0.1 x 12 = 1.20: the ~4 debit holds, where the
    # default 50 % (debit <= 6.00) would close; with the default rules the same mark takes profit.
    trade = _trade(take_profit_fraction=Decimal("0.9"), stop_loss_multiple=Decimal("3"))
    assert _mark(trade, et(EXPIRY - dt.timedelta(days=1), 11, 0), broker) == ""
    assert _mark(_trade(name="defaults"), et(EXPIRY - dt.timedelta(days=1), 11, 5), broker) == "take_profit"
    t = Trade.objects.get(pk=trade.pk)
    assert t.status == Trade.Status.OPEN and not t.orders.filter(purpose=Order.Purpose.CLOSE).exists()


def test_a_time_exit_closes_at_the_first_mark_at_or_after_it_on_the_expiration_day(settings: Any) -> None:
    settings.SNAPSHOT_UNDERLYING = "SPX"
    broker = RecordingBroker()
    trade = _trade(take_profit_fraction=Decimal("0.9"), stop_loss_multiple=Decimal("3"), exit_at_time=dt.time(15, 32))
    # A later edit of the config is not the trade's rule: its decision froze 15:32.
    trade.strategy_config.exit_at_time = None
    trade.strategy_config.exit_minutes_before_settlement = 5
    trade.strategy_config.save()
    assert _mark(trade, et(EXPIRY - dt.timedelta(days=1), 15, 35), broker) == ""  # the day before: hold
    assert _mark(trade, et(EXPIRY, 15, 30), broker) == ""
    assert _mark(trade, et(EXPIRY, 15, 35), broker) == "time_exit"
    close = Trade.objects.get(pk=trade.pk).orders.get(purpose=Order.Purpose.CLOSE)
    assert [r.client_tag for r in broker.placed] == [close.client_tag]  # in session, before 16:00: sent
    assert close.order_type == "debit" and close.limit_price == Decimal("4.15")
    # A filled close books the exit under the order's reason (here the test broker refused it).
    close.reason = "time_exit: time exit 15:32 ET on the expiration day: closed at debit 4.15"
    assert services.order_exit_reason(close) == "time_exit"
