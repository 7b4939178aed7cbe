"""SimulatedBroker: the design's fill model, fills at the limit, latency, partial fills, cancel and
replace, debit exits, scripted placement faults and determinism. Time is a hand-moved clock.

Worked numbers used throughout (points per share): short put 5800 bid 1.00 / ask 1.20 (mid 1.10),
long put 5790 bid 0.70 / ask 0.80 (mid 0.75). Package mid 0.35, combo spread 0.20 + 0.10 = 0.30.
Entry credit = 0.35 − 0.30 × 0.30 = 0.26 → floored to 0.25. Exit debit = 0.35 + 0.09 = 0.44 →
ceiled to 0.45.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from execution.brokers import (
    Broker,
    OrderDenied,
    OrderLeg,
    OrderNotFound,
    OrderRejected,
    PlaceOutcome,
    SimFault,
    SimulatedBroker,
    SpreadOrderRequest,
)
from execution.brokers.base import SELL_SIDES
from execution.order_states import OrderState, transition
from strategy.quant.fills import combo_spread_of, entry_credit, exit_debit

SHORT = "SPXW260618P05800000"
LONG = "SPXW260618P05790000"
T0 = dt.datetime(2026, 6, 15, 14, 0, tzinfo=dt.UTC)  # 10:00 ET


class Clock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def quotes() -> dict[str, tuple[float, float]]:
    return {SHORT: (1.00, 1.20), LONG: (0.70, 0.80)}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(quotes: dict[str, tuple[float, float]], clock: Clock, **kw: Any) -> SimulatedBroker:
    return SimulatedBroker(quotes.get, clock=clock, **kw)


def opening(price: str, quantity: int = 1, tag: str = "ocr-open-1") -> SpreadOrderRequest:
    legs = (OrderLeg(SHORT, "sell_to_open", quantity), OrderLeg(LONG, "buy_to_open", quantity))
    return SpreadOrderRequest(tag, legs, "credit", Decimal(price))


def closing(price: str, quantity: int = 1, tag: str = "ocr-close-1") -> SpreadOrderRequest:
    legs = (OrderLeg(SHORT, "buy_to_close", quantity), OrderLeg(LONG, "sell_to_close", quantity))
    return SpreadOrderRequest(tag, legs, "debit", Decimal(price))


def test_model_prices_are_the_fill_module_s(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock)
    spread = combo_spread_of([1.00, 0.70], [1.20, 0.80])
    assert spread == pytest.approx(0.30)
    assert broker.model_price(opening("0.25")) == Decimal("0.25") == Decimal(str(entry_credit(0.35, spread)))
    assert broker.model_price(closing("0.45")) == Decimal("0.45") == Decimal(str(exit_debit(0.35, spread)))
    # A different fraction changes the model: 0.35 − 0.5 × 0.30 = 0.20.
    assert make(quotes, clock, fill_fraction=0.5).model_price(opening("0.20")) == Decimal("0.20")


@pytest.mark.parametrize(("limit", "fills"), [("0.20", True), ("0.25", True), ("0.30", False), ("0.35", False)])
def test_credit_fills_when_limit_at_or_below_entry_credit(
    quotes: dict[str, tuple[float, float]], clock: Clock, limit: str, fills: bool
) -> None:
    broker = make(quotes, clock)
    order_id = broker.place_spread(opening(limit)).raise_for_outcome()
    order = broker.get_order(order_id)
    if fills:
        # Filled at its LIMIT, not at the better model price.
        assert order.status is OrderState.FILLED and order.avg_fill_price == Decimal(limit)
        assert (order.exec_quantity, order.remaining_quantity) == (1, 0)
    else:
        assert order.status is OrderState.OPEN and order.avg_fill_price is None and order.remaining_quantity == 1


@pytest.mark.parametrize(("limit", "fills"), [("0.40", False), ("0.45", True), ("0.60", True)])
def test_debit_exit_fills_when_limit_at_or_above_exit_debit(
    quotes: dict[str, tuple[float, float]], clock: Clock, limit: str, fills: bool
) -> None:
    broker = make(quotes, clock)
    order = broker.get_order(broker.place_spread(closing(limit)).raise_for_outcome())
    assert (order.status is OrderState.FILLED) is fills
    if fills:
        assert order.avg_fill_price == Decimal(limit) and order.order_type == "debit"


def test_leg_prices_sum_to_the_net_price(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock)
    for req in (opening("0.25"), opening("0.05", tag="ocr-2"), closing("0.45"), closing("2.00", tag="ocr-4")):
        order = broker.get_order(broker.place_spread(req).raise_for_outcome())
        assert order.status is OrderState.FILLED
        prices = [(leg.side, leg.avg_fill_price) for leg in order.legs if leg.avg_fill_price is not None]
        assert len(prices) == 2 and all(p >= 0 for _, p in prices)
        sold = sum((p for side, p in prices if side in SELL_SIDES), Decimal(0))
        bought = sum((p for side, p in prices if side not in SELL_SIDES), Decimal(0))
        net = sold - bought if req.order_type == "credit" else bought - sold
        assert net == req.limit_price
        assert order.net_price_from_legs() == req.limit_price
    # The concession from mid is shared by width (0.20 : 0.10): credit 0.25 is 0.10 below the 0.35 mid.
    first = broker.get_order("sim-1")
    assert [leg.avg_fill_price for leg in first.legs] == [Decimal("1.03"), Decimal("0.78")]


def test_quotes_moving_in_fill_a_resting_order(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock)
    order_id = broker.place_spread(opening("0.30")).raise_for_outcome()
    assert broker.get_order(order_id).status is OrderState.OPEN
    quotes[SHORT] = (1.10, 1.20)  # mid 1.15: credit mid 0.40, spread 0.20 → 0.34 → 0.30
    clock.tick(60)
    order = broker.get_order(order_id)
    assert order.status is OrderState.FILLED and order.avg_fill_price == Decimal("0.30")
    assert order.updated_at == T0 + dt.timedelta(seconds=60)


def test_missing_or_crossed_quotes_never_fill(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock)
    del quotes[LONG]
    a = broker.place_spread(opening("0.05")).raise_for_outcome()
    assert broker.get_order(a).status is OrderState.OPEN
    quotes[LONG] = (0.90, 0.80)  # crossed
    assert broker.get_order(a).status is OrderState.OPEN
    quotes[LONG] = (0.70, 0.80)
    assert broker.get_order(a).status is OrderState.FILLED


def test_latency_before_a_fill_is_visible(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock, latency_s=2.0)
    order_id = broker.place_spread(opening("0.25")).raise_for_outcome()
    assert broker.get_order(order_id).status is OrderState.OPEN
    clock.tick(1.999)
    assert broker.get_order(order_id).status is OrderState.OPEN
    clock.tick(0.001)
    order = broker.get_order(order_id)
    assert order.status is OrderState.FILLED and order.updated_at == T0 + dt.timedelta(seconds=2)


def test_partial_fills_in_steps(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock, partial_fill_steps=3, partial_fill_interval_s=10)
    order_id = broker.place_spread(opening("0.25", quantity=3)).raise_for_outcome()
    state = OrderState.SUBMITTING
    keys = []
    recorded, avg = 0, None
    for expected_qty, expected_state in ((1, "partially_filled"), (2, "partially_filled"), (3, "filled")):
        order = broker.get_order(order_id)
        assert (order.exec_quantity, order.status.value) == (expected_qty, expected_state)
        assert order.remaining_quantity == 3 - expected_qty
        state = transition(state, order.status)
        fill = order.fill_since(recorded_quantity=recorded, recorded_avg_price=avg)
        assert fill is not None and fill.quantity == 1 and fill.price == Decimal("0.2500")
        keys.append(fill.dedup_key)
        recorded, avg = fill.cumulative_quantity, order.avg_fill_price
        assert broker.get_order(order_id).fill_since(recorded_quantity=recorded, recorded_avg_price=avg) is None
        clock.tick(10)
    assert keys == [f"{order_id}:1", f"{order_id}:2", f"{order_id}:3"]
    assert state is OrderState.FILLED


def test_partial_steps_round_down_and_skip_empty_steps(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock, partial_fill_steps=4, partial_fill_interval_s=1)
    order_id = broker.place_spread(opening("0.25", quantity=2)).raise_for_outcome()
    seen = []
    for _ in range(5):
        seen.append(broker.get_order(order_id).exec_quantity)
        clock.tick(1)
    assert seen == [0, 1, 1, 2, 2]  # ⌊2k/4⌋ for k = 1..4, the first step empty


def test_partial_fill_then_cancel_keeps_the_fills(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock, partial_fill_steps=2, partial_fill_interval_s=5)
    order_id = broker.place_spread(opening("0.25", quantity=2)).raise_for_outcome()
    assert broker.get_order(order_id).status is OrderState.PARTIALLY_FILLED
    result = broker.cancel(order_id)
    assert not result.already_final and result.state is OrderState.CANCELED
    clock.tick(60)
    order = broker.get_order(order_id)
    assert (order.status, order.exec_quantity, order.remaining_quantity) == (OrderState.CANCELED, 1, 0)
    assert transition(OrderState.PARTIALLY_FILLED, order.status) is OrderState.CANCELED


def test_cancel_a_filled_order_returns_the_final_state(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock)
    order_id = broker.place_spread(opening("0.25")).raise_for_outcome()
    result = broker.cancel(order_id)
    assert result.already_final and result.state is OrderState.FILLED
    with pytest.raises(OrderNotFound):
        broker.cancel("sim-99")


def test_replace_price_reprices_the_remainder(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock, partial_fill_steps=2, partial_fill_interval_s=5)
    order_id = broker.place_spread(opening("0.30", quantity=2)).raise_for_outcome()
    assert broker.get_order(order_id).status is OrderState.OPEN
    with pytest.raises(OrderDenied):
        broker.replace_price(order_id, "0.27")
    broker.replace_price(order_id, "0.25")  # now marketable: first half at once
    order = broker.get_order(order_id)
    assert (order.status, order.exec_quantity, order.price) == (OrderState.PARTIALLY_FILLED, 1, Decimal("0.25"))
    broker.replace_price(order_id, "0.20")  # the remaining 1 at the new limit, in steps ⌊1·k/2⌋: 0 now, 1 at +5 s
    assert broker.get_order(order_id).exec_quantity == 1
    clock.tick(4.999)
    assert broker.get_order(order_id).status is OrderState.PARTIALLY_FILLED
    clock.tick(0.001)
    order = broker.get_order(order_id)
    assert order.status is OrderState.FILLED and order.avg_fill_price == Decimal("0.2250")
    with pytest.raises(OrderRejected, match="finalized"):
        broker.replace_price(order_id, "0.15")


def test_day_orders_expire(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    close = T0.replace(hour=20, minute=15)  # 16:15 ET
    broker = make(quotes, clock, day_end=lambda _: close)
    waiting = broker.place_spread(opening("0.40")).raise_for_outcome()
    quotes[SHORT] = (1.30, 1.40)  # marketable now, but first looked at after the close
    clock.now = close + dt.timedelta(minutes=5)
    order = broker.get_order(waiting)
    assert order.status is OrderState.EXPIRED and order.updated_at == close and order.exec_quantity == 0
    # Fills already scheduled before the close still count; the rest expires.
    stepped = make(quotes, clock, day_end=lambda _: close, partial_fill_steps=2, partial_fill_interval_s=600)
    clock.now = close - dt.timedelta(minutes=1)
    partial_id = stepped.place_spread(opening("0.40", quantity=2)).raise_for_outcome()
    clock.now = close + dt.timedelta(minutes=30)
    partial = stepped.get_order(partial_id)
    assert (partial.status, partial.exec_quantity) == (OrderState.EXPIRED, 1)
    quotes[SHORT] = (1.00, 1.20)  # back to the worked numbers: 0.40 is not marketable
    manual = make(quotes, clock)
    manual.place_spread(opening("0.40"))
    assert [o.status for o in manual.expire_day_orders()] == [OrderState.EXPIRED]


def test_find_by_tag_and_listing_by_day(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock)
    broker.place_spread(opening("0.40", tag="ocr-mon"))
    clock.now = T0 + dt.timedelta(days=1)
    broker.place_spread(opening("0.40", tag="ocr-tue"))
    assert broker.find_by_tag("ocr-mon") is None  # today's list only, like Tradier's default
    found = broker.find_by_tag("ocr-mon", date=dt.date(2026, 6, 15))
    assert found is not None and found.broker_order_id == "sim-1"
    assert [o.client_tag for o in broker.list_orders()] == ["ocr-tue"]


@pytest.mark.parametrize(
    ("fault", "outcome", "sent", "booked"),
    [
        (SimFault.UNKNOWN_AFTER_RECORD, PlaceOutcome.UNKNOWN, True, True),
        (SimFault.UNKNOWN_NOT_RECORDED, PlaceOutcome.UNKNOWN, True, False),
        (SimFault.NOT_SENT, PlaceOutcome.UNKNOWN, False, False),
        ((SimFault.REJECT, "You do not have enough buying power for this trade."), PlaceOutcome.REJECTED, True, False),
    ],
)
def test_scripted_placement_faults(
    quotes: dict[str, tuple[float, float]], clock: Clock, fault: Any, outcome: PlaceOutcome, sent: bool, booked: bool
) -> None:
    broker = make(quotes, clock)
    broker.script_place(fault)
    result = broker.place_spread(opening("0.40"))
    assert (result.outcome, result.sent) == (outcome, sent)
    assert (broker.find_by_tag("ocr-open-1") is not None) is booked
    if outcome is PlaceOutcome.REJECTED:
        assert result.messages == ("You do not have enough buying power for this trade.",)
    # The script is used up: the next placement is normal.
    assert broker.place_spread(opening("0.40", tag="ocr-next")).outcome is PlaceOutcome.ACCEPTED


def test_validation_is_the_same_as_tradier(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    broker = make(quotes, clock, max_quantity=2)
    for req in (opening("0.27"), opening("0.25", quantity=3), opening("0.25", tag="bad tag")):
        with pytest.raises(OrderDenied):
            broker.place_spread(req)
    assert broker.list_orders() == []


def test_preview(quotes: dict[str, tuple[float, float]], clock: Clock) -> None:
    preview = make(quotes, clock).preview_spread(opening("0.25", quantity=3))
    # Tradier's signs: order_cost = −0.25 × 100 × 3; margin = 10-point width × 100 × 3.
    assert (preview.ok, preview.order_cost, preview.margin_change, preview.cost) == (
        True,
        Decimal("-75.00"),
        Decimal("3000"),
        Decimal("2925.00"),
    )


def test_determinism(clock: Clock) -> None:
    def run() -> list[Any]:
        quotes = {SHORT: (1.00, 1.20), LONG: (0.70, 0.80)}
        local = Clock()
        broker = SimulatedBroker(
            quotes.get, clock=local, latency_s=1.0, partial_fill_steps=3, partial_fill_interval_s=2
        )
        broker.place_spread(opening("0.25", quantity=3))
        broker.place_spread(closing("0.40", tag="ocr-c"))
        snapshots = []
        for step in range(8):  # the 1-lot exit fills at the third step, 4 s after its trigger
            local.tick(1)
            if step == 2:
                quotes[LONG] = (0.85, 0.95)  # debit mid 0.20 + 0.09 → 0.30: the 0.40 exit fills
            snapshots.append(broker.advance())
        return snapshots

    first, second = run(), run()
    assert first == second
    assert first[-1][0].status is OrderState.FILLED and first[-1][1].status is OrderState.FILLED


def test_implements_the_broker_protocol_and_needs_an_aware_clock(quotes: dict[str, tuple[float, float]]) -> None:
    assert isinstance(SimulatedBroker(quotes.get, clock=Clock()), Broker)
    naive = SimulatedBroker(quotes.get, clock=lambda: dt.datetime(2026, 6, 15, 10))
    with pytest.raises(ValueError, match="aware"):
        naive.place_spread(opening("0.25"))
    with pytest.raises(ValueError):
        SimulatedBroker(quotes.get, clock=Clock(), partial_fill_steps=0)
