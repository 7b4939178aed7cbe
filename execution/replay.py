"""Play simulated trading days through the live code path, slot by slot (the demo and the e2e test).

Each slot: capture snapshots (the simulated market at that instant) → at 10:00/11:00/12:00 the
entry window (a TRADE hands over to order placement) → sync orders → mark positions (TP/SL exits);
after the close: settle what expired. It is the same services beat drives live, with the clock
replaced by the slot — nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

from execution import services
from execution.models import Order, Trade
from snapshots import market_calendar
from snapshots.services import settlement_value_get, snapshot_capture
from execution.services import entry_window_trade
from strategy import outcomes
from strategy.services import ENTRY_WINDOWS, NEW_YORK


@dataclass
class DayReport:
    day: dt.date
    slots: int
    decisions: int
    trades_opened: int
    trades_closed: int


def session_slots(day: dt.date, *, every_minutes: int) -> list[dt.datetime]:
    bounds = market_calendar.session_bounds(day)
    if bounds is None:
        return []
    open_utc, close_utc = bounds
    # From the open, as beat captures (09:30 included) and marks a minute after each slot.
    out, t = [], open_utc
    while t < close_utc:
        out.append(t)
        t += dt.timedelta(minutes=every_minutes)
    return out


def day_replay(day: dt.date, *, every_minutes: int = 30, context: bool = False,
               progress: Callable[[str], None] | None = None) -> DayReport:
    """Replay one trading day of the simulated market and broker through the live services."""
    slots = session_slots(day, every_minutes=every_minutes)
    opened_before = Trade.objects.exclude(opened_at=None).count()
    closed_before = Trade.objects.filter(status=Trade.Status.CLOSED).count()
    decisions = 0
    for slot in slots:
        snapshot_capture(now=slot, context=context)
        if slot.astimezone(NEW_YORK).time() in ENTRY_WINDOWS:
            # Beat queues the hand-over task after commit; a replay runs the same services in
            # line, at the slot's time, with the broker's clock on the slot.
            decisions += len(entry_window_trade(at=slot, hand_over=functools.partial(_open, at=slot)).created)
        broker = services.broker_get(now=slot)
        for order_id in Order.objects.filter(state__in=services.WORKING).values_list("pk", flat=True):
            services.order_sync(order_id, broker=broker, now=slot)
            services.order_walk(order_id, broker=broker, now=slot)
        services.positions_mark(at=slot, broker=broker)
        outcomes.shadow_outcomes_update(now=slot, settlement_value=settlement_value_get)
        if progress:
            progress(f"{slot.astimezone(NEW_YORK):%Y-%m-%d %H:%M} ET")
    close = market_calendar.session_bounds(day)
    if close:
        services.trades_settle(now=close[1], settlement_value=settlement_value_get)
        outcomes.shadow_outcomes_update(now=close[1], settlement_value=settlement_value_get)
    return DayReport(
        day=day, slots=len(slots), decisions=decisions,
        trades_opened=Trade.objects.exclude(opened_at=None).count() - opened_before,
        trades_closed=Trade.objects.filter(status=Trade.Status.CLOSED).count() - closed_before,
    )


def _open(decision_id: int, at: dt.datetime) -> None:
    from strategy.models import TradeDecision

    trade = services.trade_open(decision=TradeDecision.objects.get(pk=decision_id), now=at)
    broker = services.broker_get(now=at)
    for order in trade.orders.filter(state="new"):
        services.order_submit(order.pk, broker=broker, now=at)
