"""End to end with the simulated market and broker: snapshots → 10:00 decision → order → fill →
marks → take profit, stop or settlement → PnL. Time is driven slot by slot; nothing is faked."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from execution.models import Fill, Order, PositionMark, Trade
from execution.replay import day_replay
from execution.selectors import pnl_summary
from snapshots import market_calendar
from strategy.models import StrategyConfig, TradeDecision
from strategy.tests.factories import StrategyConfigFactory

# Transactional, so the TRADE's hand-over runs on commit exactly as it does live (inside a test
# transaction on_commit callbacks would wait for the end of the day).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sim(settings):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.EXECUTION_BROKER = "simulated"
    settings.SNAPSHOT_CONTEXT_ENABLED = False  # context is covered elsewhere; keeps the replay quick
    settings.SNAPSHOT_DTE_TARGETS = [3]
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    settings.FEES_PER_CONTRACT_USD = 0.65
    StrategyConfig.objects.update(enabled=False)
    # Its own config: an earlier transactional test may have flushed the seeded grid.
    StrategyConfigFactory(name="paper day 3DTE put 20d", side="put_credit", target_dte=3,
                          short_delta_target=Decimal("0.20"), enabled=True)
    return settings


def play(day: dt.date) -> None:
    report = day_replay(day, every_minutes=30)
    # Every 30 minutes from the open (09:30 included, as beat captures it) until the close.
    assert report.slots == (8 if market_calendar.is_early_close(day) else 14)


def test_a_simulated_trade_plays_through_to_pnl(sim) -> None:  # type: ignore[no-untyped-def]
    day = dt.date(2026, 11, 18)  # Wednesday; the 3-DTE bucket is Friday's SPXW
    play(day)
    decision = TradeDecision.objects.get(action="TRADE")
    trade = Trade.objects.get()
    assert trade.decision == decision and trade.expiration == dt.date(2026, 11, 20)
    assert trade.opened_at == dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)  # 10:00 ET, the window's slot
    entry = trade.orders.get(purpose="open")
    assert entry.state == "filled" and entry.client_tag.startswith("spx-open-")
    assert entry.created_at == trade.opened_at  # stamped with the replayed slot, not the wall clock
    assert Fill.objects.filter(order=entry).count() == 1
    assert trade.entry_credit == entry.avg_fill_price == decision.credit_fill  # filled at its limit
    assert trade.take_profit_debit == (trade.entry_credit * Decimal("0.5")).quantize(Decimal("0.01"))
    assert trade.stop_loss_debit == trade.entry_credit * 2
    while trade.status != Trade.Status.CLOSED and day < trade.expiration:
        day = market_calendar.next_trading_day(day)
        play(day)
        trade.refresh_from_db()
    assert trade.status == Trade.Status.CLOSED
    assert trade.opened_at < trade.closed_at <= dt.datetime(2026, 11, 20, 21, 0, tzinfo=dt.UTC)  # replayed time
    marks = PositionMark.objects.filter(trade=trade)
    assert marks.count() >= 5 and all(m.snapshot.expiration == trade.expiration for m in marks)
    assert trade.exit_reason in ("take_profit", "stop_loss", "settlement")
    if trade.exit_reason == "settlement":
        assert trade.settlement_price is not None and "simulated" in trade.settlement_source
        legs_each_way = 1
    else:
        close = trade.orders.get(purpose="close")
        assert close.state == "filled" and close.order_type == "debit"
        assert trade.opened_at < close.created_at <= trade.closed_at  # the mark's slot that triggered it
        assert marks.exclude(signal="").exists()
        legs_each_way = 2
    fees = Decimal("0.65") * 2 * trade.quantity * legs_each_way
    gross = (trade.entry_credit - trade.exit_debit) * 100 * trade.quantity
    assert trade.realized_pnl_usd == gross - fees
    summary, buckets = pnl_summary(source="simulated")
    assert summary.trades == 1 and summary.total_pnl_usd == float(trade.realized_pnl_usd)
    assert list(buckets) == ["3DTE 0.200d 10:00 put_credit"]  # DTE × delta × window × side
    assert Order.objects.count() == (1 if trade.exit_reason == "settlement" else 2)
