"""factory_boy factories for the execution models, on top of the strategy factories.

They build rows directly (no broker, no market); tests that need the real path (a decision filled
by the simulated broker and marked from snapshots) replay slots as ``test_paper_day`` does.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory

from execution.models import AdoptedOrder, Fill, Order, PositionMark, Trade, TradeLeg
from strategy.models import TradeDecision
from strategy.quant.osi import format_symbol
from strategy.tests.factories import TradeDecisionFactory

EXPIRATION = dt.date(2026, 11, 23)
# (order purpose, leg side) → the order leg's side: a close reverses each leg.
_ORDER_SIDE = {("open", "sell"): "sell_to_open", ("open", "buy"): "buy_to_open",
               ("close", "sell"): "buy_to_close", ("close", "buy"): "sell_to_close"}


def _symbol(trade: Trade, strike: Decimal) -> str:
    return format_symbol(trade.root, trade.expiration, trade.side == "call_credit", strike)


class TradeFactory(factory.django.DjangoModelFactory):
    """An open 5900/5875 put credit spread filled at 1.20, with its two legs."""

    class Meta:
        model = Trade
        skip_postgeneration_save = True

    class Params:
        closed = factory.Trait(
            status=Trade.Status.CLOSED,
            closed_at=factory.LazyAttribute(lambda o: o.opened_at + dt.timedelta(hours=3)),
            exit_reason=Trade.ExitReason.TAKE_PROFIT,
            exit_debit=Decimal("0.60"),
            fees_usd=Decimal("2.60"),
            realized_pnl_usd=Decimal("57.40"),  # (1.20 − 0.60) × 100 − 4 × 0.65
        )

    # Each trade gets its own decision day, so the decisions' (day, window, config, source) key never clashes.
    decision = factory.SubFactory(
        TradeDecisionFactory,
        trading_day=factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n)),
        action=TradeDecision.Action.TRADE, reason_code="ok", reason_message="", expiration=EXPIRATION,
        credit_fill=Decimal("1.20"), width_points=Decimal("25"),
    )
    strategy_config = factory.LazyAttribute(lambda o: o.decision.strategy_config)
    source = factory.LazyAttribute(lambda o: o.decision.source)
    status = Trade.Status.OPEN
    side = factory.LazyAttribute(lambda o: o.strategy_config.side)
    root = "SPXW"
    expiration = EXPIRATION
    quantity = 1
    short_strike = Decimal("5900")
    long_strike = Decimal("5875")
    width_points = Decimal("25")
    entry_credit = Decimal("1.20")
    max_profit_usd = Decimal("120.00")
    max_loss_usd = Decimal("2380.00")
    take_profit_debit = Decimal("0.60")
    stop_loss_debit = Decimal("2.40")
    opened_at = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)

    @factory.post_generation
    def legs(obj: Trade, create: bool, extracted: Any, **kwargs: Any) -> None:  # type: ignore[misc]
        if not create or extracted is False:
            return
        for side, strike in (("sell", obj.short_strike), ("buy", obj.long_strike)):
            TradeLegFactory(trade=obj, side=side, strike=strike, symbol=_symbol(obj, strike),
                            entry_price=None, quantity=obj.quantity)


class TradeLegFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TradeLeg

    trade = factory.SubFactory(TradeFactory, legs=False)
    side = TradeLeg.LegSide.SELL
    strike = factory.LazyAttribute(lambda o: o.trade.short_strike)
    symbol = factory.LazyAttribute(lambda o: _symbol(o.trade, o.strike))
    option_type = factory.LazyAttribute(lambda o: "call" if o.trade.side == "call_credit" else "put")
    quantity = 1


class OrderFactory(factory.django.DjangoModelFactory):
    """The filled entry order of a trade (pass ``purpose``/``state``/``order_type`` for others)."""

    class Meta:
        model = Order

    trade = factory.SubFactory(TradeFactory)
    client_tag = factory.Sequence(lambda n: f"spx-open-test{n:08d}")
    purpose = Order.Purpose.OPEN
    attempt = 1
    source = factory.LazyAttribute(lambda o: o.trade.source)
    broker = "simulated"
    broker_order_id = factory.Sequence(lambda n: f"sim-test-{n}")
    state = "filled"
    order_type = "credit"
    limit_price = Decimal("1.20")
    initial_limit_price = factory.LazyAttribute(lambda o: o.limit_price)
    quantity = 1
    legs = factory.LazyAttribute(lambda o: [
        {"option_symbol": leg.symbol, "side": _ORDER_SIDE[(o.purpose, leg.side)], "quantity": o.quantity}
        for leg in o.trade.legs.order_by("-side")
    ])
    filled_quantity = factory.LazyAttribute(lambda o: o.quantity if o.state == "filled" else 0)
    avg_fill_price = factory.LazyAttribute(lambda o: o.limit_price if o.state == "filled" else None)
    submitted_at = factory.LazyAttribute(lambda o: o.trade.opened_at)


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    fill_key = factory.LazyAttribute(lambda o: f"{o.order.broker_order_id}:{o.quantity}")
    quantity = 1
    price = factory.LazyAttribute(lambda o: o.order.limit_price)
    filled_at = factory.LazyAttribute(lambda o: o.order.submitted_at or dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC))


class PositionMarkFactory(factory.django.DjangoModelFactory):
    """A mark every 5 minutes from 10:05 ET; the unrealized PnL follows from the trade's credit."""

    class Meta:
        model = PositionMark

    trade = factory.SubFactory(TradeFactory)
    ts = factory.Sequence(lambda n: dt.datetime(2026, 11, 20, 15, 5, tzinfo=dt.UTC) + dt.timedelta(minutes=5 * n))
    debit_mid = Decimal("0.90")
    debit_fill = Decimal("1.00")
    unrealized_pnl_usd = factory.LazyAttribute(
        lambda o: ((o.trade.entry_credit - o.debit_fill) * 100 * o.trade.quantity).quantize(Decimal("0.01"))
    )
    signal = ""



class AdoptedOrderFactory(factory.django.DjangoModelFactory):
    """A hand-placed (external) 6000/5975 put credit spread at the broker, filled 1 @ 1.50; far expiration."""

    class Meta:
        model = AdoptedOrder

    broker_order_id = factory.Sequence(lambda n: f"ext-{n}")
    origin = AdoptedOrder.Origin.EXTERNAL
    broker = "tradier"
    client_tag = ""
    state = "filled"
    raw_status = "filled"
    order_type = "credit"
    quantity = 1
    limit_price = Decimal("1.50")
    filled_quantity = factory.LazyAttribute(lambda o: o.quantity if o.state == "filled" else 0)
    avg_fill_price = factory.LazyAttribute(lambda o: o.limit_price if o.filled_quantity else None)
    legs = factory.LazyAttribute(lambda o: [
        {"option_symbol": "SPXW301220P06000000", "side": "sell_to_open", "quantity": o.quantity,
         "exec_quantity": o.filled_quantity},
        {"option_symbol": "SPXW301220P05975000", "side": "buy_to_open", "quantity": o.quantity,
         "exec_quantity": o.filled_quantity},
    ])
    broker_created_at = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
