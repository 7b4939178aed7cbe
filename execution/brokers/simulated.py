"""A deterministic in-memory broker that fills spreads with the project's fill model.

Fill rule (shared/design.md "Strategy rules"; ``strategy/quant/fills.py``): with the legs' latest
quotes, the model price of the package is

    credit order (opening):  entry credit = mid − fraction × combo spread, floored to 0.05
    debit order  (closing):  exit debit   = mid + fraction × combo spread, ceiled to 0.05

where mid is Σ sold mids − Σ bought mids (or the reverse for a debit) and the combo spread is
Σ (ask − bid) over the legs. A credit order fills when its limit ≤ the entry credit, a debit
order when its limit ≥ the exit debit, and it fills **at its limit** (a resting limit order is
filled at its own price, never better, which also keeps the simulation conservative).

Timing (``clock`` is injected; nothing here reads the wall clock):
- an order becomes eligible ``latency_s`` seconds after it was placed;
- it is checked against the quotes whenever it is observed (placement, ``get_order``,
  ``list_orders``, ``find_by_tag``, ``cancel``, ``replace_price``, ``advance``): there is no quote
  history, only the latest quotes, so "marketable" means marketable when looked at;
- once marketable, its quantity fills in ``partial_fill_steps`` steps (cumulative
  ⌊Q·k/N⌋), the k-th visible ``(k − 1) × partial_fill_interval_s`` seconds after the trigger;
- a day order expires at ``day_end(created_at)`` if that callable is given.

Cancels and replaces take effect at once. A replace on a partly filled order keeps the fills and
re-prices the remainder. Per-leg fill prices are a model allocation that sums exactly to the net
price (see ``_leg_prices``). Same inputs, same clock → same ids, fills and timestamps.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

from execution.brokers.base import (
    DEFAULT_MAX_QUANTITY,
    SELL_SIDES,
    BrokerLeg,
    BrokerOrder,
    CancelResult,
    OrderNotFound,
    OrderRejected,
    PlaceResult,
    SpreadOrderRequest,
    SpreadPreview,
    check_replace_price,
    select_by_tag,
    validate_spread_request,
)
from execution.order_states import TERMINAL, OrderState
from strategy.quant.black76 import SPX_MULTIPLIER
from strategy.quant.fills import (
    DEFAULT_FILL_FRACTION,
    as_decimal,
    combo_spread_of,
    entry_credit,
    exit_debit,
    mid_price,
)
from strategy.quant.osi import parse_symbol
from strategy.quant.timemodel import NEW_YORK

logger = logging.getLogger(__name__)

QuoteSource = Callable[[str], tuple[float, float] | None]  # option symbol → (bid, ask) in points

_CENT: Final = Decimal("0.01")
_AVG_QUANTUM: Final = Decimal("0.0001")
_MULTIPLIER: Final = Decimal(SPX_MULTIPLIER)  # dollars per point per contract


class SimFault(StrEnum):
    """Scripted placement outcomes, so services can be tested against each broker answer.

    ``UNKNOWN_AFTER_RECORD``: the order is booked but the caller hears "unknown" (read timeout
    after the broker received it, reliability.md B1 #1). ``UNKNOWN_NOT_RECORDED``: nothing booked,
    caller hears "unknown" (connection dropped before the body was read, B1 #2).
    ``NOT_SENT``: nothing booked, ``sent=False`` (connect refused). ``REJECT``: definitive refusal.
    """

    UNKNOWN_AFTER_RECORD = "unknown_after_record"
    UNKNOWN_NOT_RECORDED = "unknown_not_recorded"
    NOT_SENT = "not_sent"
    REJECT = "reject"


@dataclass
class SimOrder:
    """The simulated broker's mutable record of one order (kept in the pluggable ``store``)."""

    broker_order_id: str
    request: SpreadOrderRequest
    created_at: dt.datetime
    updated_at: dt.datetime
    eligible_at: dt.datetime
    expires_at: dt.datetime | None
    limit_price: Decimal
    status: OrderState = OrderState.OPEN
    exec_quantity: int = 0
    filled_value: Decimal = Decimal(0)  # Σ spreads × net price, for the average
    leg_filled_value: list[Decimal] = field(default_factory=list)
    last_fill_quantity: int = 0
    last_leg_prices: tuple[Decimal, ...] = ()
    # Fills decided at the trigger and not yet visible: (visible_at, cumulative spreads).
    pending_steps: list[tuple[dt.datetime, int]] = field(default_factory=list)
    trigger_price: Decimal | None = None
    trigger_leg_prices: tuple[Decimal, ...] = ()


class SimulatedBroker:
    """In-memory ``Broker``: fill model on the latest quotes, configurable latency and partial fills.

    ``quote_source(symbol)`` returns (bid, ask) in points or None when the option has no quote;
    ``clock()`` returns an aware datetime. ``fill_fraction`` is the share of the combo spread
    conceded (0.30 by the design). ``store`` may be any mutable mapping (a dict by default).
    """

    name = "simulated"

    def __init__(
        self,
        quote_source: QuoteSource,
        *,
        clock: Callable[[], dt.datetime],
        latency_s: float = 0.0,
        partial_fill_steps: int = 1,
        partial_fill_interval_s: float = 1.0,
        fill_fraction: float = DEFAULT_FILL_FRACTION,
        max_quantity: int = DEFAULT_MAX_QUANTITY,
        day_end: Callable[[dt.datetime], dt.datetime] | None = None,
        store: MutableMapping[str, SimOrder] | None = None,
        id_prefix: str = "sim-",
        first_id: int = 1,
    ) -> None:
        if latency_s < 0 or partial_fill_interval_s < 0:
            raise ValueError("latency_s and partial_fill_interval_s must be >= 0")
        if partial_fill_steps < 1:
            raise ValueError("partial_fill_steps must be >= 1")
        if not 0 <= fill_fraction <= 1:
            raise ValueError("fill_fraction must lie in [0, 1]")
        self._quotes = quote_source
        self._clock = clock
        self._latency = dt.timedelta(seconds=latency_s)
        self._steps = partial_fill_steps
        self._step_interval = dt.timedelta(seconds=partial_fill_interval_s)
        self._fraction = fill_fraction
        self._max_quantity = max_quantity
        self._day_end = day_end
        self._orders: MutableMapping[str, SimOrder] = store if store is not None else {}
        self._id_prefix = id_prefix
        self._ids = itertools.count(first_id)
        self._faults: list[tuple[SimFault, str]] = []
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SimulatedBroker(orders={len(self._orders)}, latency_s={self._latency.total_seconds()})"

    # ------------------------------------------------------------------------------ test hooks

    def script_place(self, *faults: SimFault | tuple[SimFault, str]) -> None:
        """Queue outcomes for the next placements (one each); a tuple adds the rejection message."""
        with self._lock:
            for f in faults:
                kind, message = (f, "rejected by simulated broker") if isinstance(f, SimFault) else f
                self._faults.append((SimFault(kind), message))

    # ------------------------------------------------------------------------------ writes

    def place_spread(self, req: SpreadOrderRequest) -> PlaceResult:
        """Book the order (or play a scripted fault); ``OrderDenied`` raised before anything is booked.

        ``req.preview`` changes nothing here: a simulated preview always passes validation-wise.
        """
        validate_spread_request(req, max_quantity=self._max_quantity)
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault is not None:
                kind, message = fault
                if kind is SimFault.REJECT:
                    return PlaceResult.rejected(req.client_tag, (message,))
                if kind is SimFault.NOT_SENT:
                    return PlaceResult.unknown(req.client_tag, "simulated: connect refused", sent=False)
                if kind is SimFault.UNKNOWN_NOT_RECORDED:
                    return PlaceResult.unknown(req.client_tag, "simulated: connection dropped")
            now = self._now()
            order_id = f"{self._id_prefix}{next(self._ids)}"
            order = SimOrder(
                broker_order_id=order_id,
                request=req,
                created_at=now,
                updated_at=now,
                eligible_at=now + self._latency,
                expires_at=self._day_end(now) if self._day_end is not None else None,
                limit_price=req.limit_price,
                leg_filled_value=[Decimal(0)] * len(req.legs),
            )
            self._orders[order_id] = order
            self._advance(order, now)
            if fault is not None:  # UNKNOWN_AFTER_RECORD: booked, but the caller is not told
                return PlaceResult.unknown(req.client_tag, "simulated: read timeout after the order was booked")
            return PlaceResult.accepted(req.client_tag, order_id)

    def preview_spread(self, req: SpreadOrderRequest) -> SpreadPreview:
        """Validate and price the order without booking it; dollars as Tradier's preview reports them."""
        validate_spread_request(req, max_quantity=self._max_quantity)
        quantity = Decimal(req.quantity)
        sign = -1 if req.order_type == "credit" else 1  # Tradier: order_cost < 0 for a credit
        order_cost = sign * req.limit_price * _MULTIPLIER * quantity
        margin = None
        if req.order_type == "credit" and len(req.legs) == 2:
            strikes = [parse_symbol(leg.option_symbol).strike for leg in req.legs]
            margin = abs(strikes[0] - strikes[1]) * _MULTIPLIER * quantity
        zero = Decimal(0)
        return SpreadPreview(
            ok=True,
            order_type=req.order_type,
            price=req.limit_price,
            commission=zero,
            fees=zero,
            cost=(margin or zero) + order_cost,
            order_cost=order_cost,
            margin_change=margin,
            strategy="spread",
        )

    def cancel(self, broker_order_id: str) -> CancelResult:
        """Cancel at once; fills already visible stay. A final order comes back ``already_final``."""
        with self._lock:
            order = self._get(broker_order_id)
            now = self._now()
            self._advance(order, now)
            if order.status in TERMINAL:
                return CancelResult(order.broker_order_id, True, self._snapshot(order))
            order.status = OrderState.CANCELED
            order.pending_steps.clear()
            order.updated_at = now
            return CancelResult(order.broker_order_id, False, self._snapshot(order))

    def replace_price(self, broker_order_id: str, price: Decimal | float | str) -> None:
        """New limit for the unfilled remainder (same id); ``OrderRejected`` if the order is final."""
        value = check_replace_price(price)
        with self._lock:
            order = self._get(broker_order_id)
            now = self._now()
            self._advance(order, now)
            if order.status in TERMINAL:
                raise OrderRejected(("order already in finalized state",), http_status=400)
            order.limit_price = value
            # Fills not yet visible were decided at the old price; the remainder is re-priced.
            order.pending_steps.clear()
            order.trigger_price = None
            order.updated_at = now
            self._advance(order, now)

    def expire_day_orders(self) -> list[BrokerOrder]:
        """Expire every working order now (the caller's session-close job); returns them."""
        with self._lock:
            now = self._now()
            expired = []
            for order in self._orders.values():
                self._advance(order, now)
                if order.status not in TERMINAL:
                    order.status = OrderState.EXPIRED
                    order.pending_steps.clear()
                    order.updated_at = now
                    expired.append(self._snapshot(order))
            return expired

    # ------------------------------------------------------------------------------ reads

    def get_order(self, broker_order_id: str) -> BrokerOrder:
        with self._lock:
            order = self._get(broker_order_id)
            self._advance(order, self._now())
            return self._snapshot(order)

    def list_orders(self, *, date: dt.date | None = None) -> list[BrokerOrder]:
        """Orders created on ``date`` (America/New_York), or today's when None, like Tradier's
        default "current session" list; in placement order."""
        with self._lock:
            now = self._now()
            day = date if date is not None else now.astimezone(NEW_YORK).date()
            out = []
            for order in self._orders.values():
                if order.created_at.astimezone(NEW_YORK).date() == day:
                    self._advance(order, now)
                    out.append(self._snapshot(order))
            return out

    def find_by_tag(self, tag: str, *, date: dt.date | None = None) -> BrokerOrder | None:
        return select_by_tag(self.list_orders(date=date), tag)

    def advance(self) -> list[BrokerOrder]:
        """Evaluate every order against the current quotes and clock; returns all snapshots."""
        with self._lock:
            now = self._now()
            for order in self._orders.values():
                self._advance(order, now)
            return [self._snapshot(o) for o in self._orders.values()]

    # ------------------------------------------------------------------------------ the model

    def model_price(self, req: SpreadOrderRequest) -> Decimal | None:
        """The fill-model package price (points per share) for ``req`` now, or None without quotes."""
        quotes = self._leg_quotes(req)
        if quotes is None:
            return None
        signs = [1 if leg.side in SELL_SIDES else -1 for leg in req.legs]
        mid_credit = sum((s * as_decimal(mid_price(b, a)) for s, (b, a) in zip(signs, quotes, strict=True)), Decimal(0))
        spread = combo_spread_of([b for b, _ in quotes], [a for _, a in quotes])
        if req.order_type == "credit":
            return as_decimal(entry_credit(float(mid_credit), spread, self._fraction))
        return as_decimal(exit_debit(float(-mid_credit), spread, self._fraction))

    def _leg_quotes(self, req: SpreadOrderRequest) -> list[tuple[float, float]] | None:
        quotes = []
        for leg in req.legs:
            quote = self._quotes(leg.option_symbol)
            if quote is None:
                return None
            bid, ask = quote
            if bid < 0 or ask < bid:
                # A crossed or negative quote is bad data, not a price to fill against.
                logger.warning("simulated broker: unusable quote %s bid=%s ask=%s", leg.option_symbol, bid, ask)
                return None
            quotes.append((bid, ask))
        return quotes

    def _advance(self, order: SimOrder, now: dt.datetime) -> None:
        """Bring ``order`` up to ``now``: trigger if marketable, reveal due fills, expire."""
        if order.status in TERMINAL:
            return
        expired = order.expires_at is not None and now >= order.expires_at
        horizon = now if order.expires_at is None else min(now, order.expires_at)
        # Quotes are only known for "now": after the expiry they say nothing about the session.
        if order.trigger_price is None and not expired and now >= order.eligible_at:
            self._maybe_trigger(order, now)
        self._reveal(order, horizon)
        if expired and order.status not in TERMINAL:
            order.status = OrderState.EXPIRED
            order.pending_steps.clear()
            order.updated_at = order.expires_at or now

    def _maybe_trigger(self, order: SimOrder, at: dt.datetime) -> None:
        req = order.request
        model = self.model_price(req)
        if model is None:
            return
        limit = order.limit_price
        marketable = limit <= model if req.order_type == "credit" else limit >= model
        if not marketable:
            return
        quotes = self._leg_quotes(req)
        assert quotes is not None  # model_price just read the same quotes
        order.trigger_price = limit
        order.trigger_leg_prices = _leg_prices(req, quotes, limit)
        total = req.quantity
        done = order.exec_quantity
        remaining = total - done
        steps: list[tuple[dt.datetime, int]] = []
        for k in range(1, self._steps + 1):
            cumulative = done + remaining * k // self._steps
            if cumulative > (steps[-1][1] if steps else done):
                steps.append((at + (k - 1) * self._step_interval, cumulative))
        order.pending_steps = steps

    def _reveal(self, order: SimOrder, horizon: dt.datetime) -> None:
        total = order.request.quantity
        while order.pending_steps and order.pending_steps[0][0] <= horizon:
            visible_at, cumulative = order.pending_steps.pop(0)
            increment = cumulative - order.exec_quantity
            assert order.trigger_price is not None
            order.exec_quantity = cumulative
            order.filled_value += order.trigger_price * increment
            for i, leg_price in enumerate(order.trigger_leg_prices):
                order.leg_filled_value[i] += leg_price * increment
            order.last_fill_quantity = increment
            order.last_leg_prices = order.trigger_leg_prices
            order.updated_at = visible_at
            order.status = OrderState.FILLED if cumulative >= total else OrderState.PARTIALLY_FILLED

    # ------------------------------------------------------------------------------ helpers

    def _now(self) -> dt.datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("clock() must return an aware datetime")
        return now

    def _get(self, broker_order_id: str) -> SimOrder:
        order = self._orders.get(str(broker_order_id))
        if order is None:
            raise OrderNotFound(f"order {broker_order_id} not found")
        return order

    def _snapshot(self, order: SimOrder) -> BrokerOrder:
        req = order.request
        total = req.quantity
        working = order.status not in TERMINAL
        # Tradier reports remaining 0 once an order is final (captured canceled orders).
        remaining = total - order.exec_quantity if working else 0
        avg = (order.filled_value / order.exec_quantity).quantize(_AVG_QUANTUM) if order.exec_quantity else None
        legs = []
        for i, leg in enumerate(req.legs):
            leg_avg = (
                (order.leg_filled_value[i] / order.exec_quantity).quantize(_AVG_QUANTUM)
                if order.exec_quantity
                else None
            )
            legs.append(
                BrokerLeg(
                    option_symbol=leg.option_symbol,
                    side=leg.side,
                    quantity=leg.quantity,
                    status=order.status,
                    raw_status=order.status.value,
                    exec_quantity=order.exec_quantity,
                    remaining_quantity=remaining,
                    avg_fill_price=leg_avg,
                    last_fill_price=order.last_leg_prices[i] if order.last_leg_prices else None,
                    last_fill_quantity=order.last_fill_quantity,
                    leg_id=f"{order.broker_order_id}-{i}",
                )
            )
        return BrokerOrder(
            broker_order_id=order.broker_order_id,
            client_tag=req.client_tag,
            status=order.status,
            raw_status=order.status.value,
            order_type=req.order_type,
            quantity=total,
            price=order.limit_price,
            avg_fill_price=avg,
            exec_quantity=order.exec_quantity,
            remaining_quantity=remaining,
            legs=tuple(legs),
            created_at=order.created_at,
            updated_at=order.updated_at,
            underlying=req.underlying,
            order_class="multileg",
        )


def _leg_prices(req: SpreadOrderRequest, quotes: list[tuple[float, float]], net: Decimal) -> tuple[Decimal, ...]:
    """Per-leg fill prices (points, cents) whose package equals ``net`` exactly.

    The concession from the package mid to ``net`` is shared in proportion to each leg's bid–ask
    width (equally if all widths are 0): sold legs go below their mid, bought legs above. Rounding
    to cents leaves a residual of at most a few cents, put on the leg with the largest mid so the
    sum Σ sold − Σ bought (credit) or Σ bought − Σ sold (debit) stays exactly ``net``.
    """
    signs = [1 if leg.side in SELL_SIDES else -1 for leg in req.legs]
    mids = [as_decimal(mid_price(b, a)) for b, a in quotes]
    widths = [as_decimal(a) - as_decimal(b) for b, a in quotes]
    target = net if req.order_type == "credit" else -net  # Σ sign × price, credit-positive
    concession = sum((s * m for s, m in zip(signs, mids, strict=True)), Decimal(0)) - target
    total_width = sum(widths, Decimal(0))
    shares = [w / total_width for w in widths] if total_width > 0 else [Decimal(1) / len(widths)] * len(widths)
    prices = [
        max(Decimal(0), (m - s * concession * share).quantize(_CENT, rounding=ROUND_HALF_UP))
        for s, m, share in zip(signs, mids, shares, strict=True)
    ]
    anchor = max(range(len(mids)), key=lambda i: (mids[i], -i))
    residual = target - sum((s * p for s, p in zip(signs, prices, strict=True)), Decimal(0))
    prices[anchor] += signs[anchor] * residual
    return tuple(prices)
