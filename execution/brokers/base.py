"""The broker interface shared by the Tradier sandbox client and the simulated broker.

Pure of Django: frozen dataclasses in and out, so the services that own the ``Order``/``Fill`` rows
(and their tests) can drive either broker the same way.

Units: every price is **index points per share** as a ``Decimal`` (× 100 for dollars per
contract), always **positive**; whether it is a credit or a debit is said by ``order_type``
(``credit`` to open, ``debit`` to close, issue #5). Quantities are whole contracts per leg; for a
1:1 vertical that is also the number of spreads.

Errors, and what the caller may do after each (reliability.md B1):

- ``OrderDenied``: local validation failed, nothing was sent (B1 #15, #16, #18, #19). Fix the input.
- ``OrderRejected``: the broker definitively refused (HTTP 400, ``{"errors": ...}`` in a 200,
  401/403). Nothing was placed; the message is the broker's.
- ``OrderOutcomeUnknown``: the request may or may not have taken effect (read timeout after
  sending, 5xx, connection reset, 429 on a write). **Never re-send automatically**: look the
  order up by tag. ``sent is False`` only when the request provably never left (connection
  refused, connect timeout): then re-sending with the *same* tag is safe.
- ``OrderNotFound``, ``BrokerUnavailable``, ``BrokerAuthError``, ``BrokerRequestError``,
  ``BrokerBadResponse``: reads. ``AmbiguousTag``: two broker orders carry one client tag.

``place_spread`` reports the three broker outcomes as a ``PlaceResult`` instead of raising, so the
caller has to look at the outcome; ``PlaceResult.raise_for_outcome()`` turns it back into the
exceptions above for callers that prefer them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, Protocol, runtime_checkable

from execution.order_states import OrderState
from strategy.quant.fills import COMPLEX_ORDER_TICK, as_decimal, is_on_tick
from strategy.quant.osi import parse_symbol

logger = logging.getLogger(__name__)

Side = Literal["buy_to_open", "sell_to_open", "buy_to_close", "sell_to_close"]
OrderType = Literal["credit", "debit"]

SIDES: Final = frozenset({"buy_to_open", "sell_to_open", "buy_to_close", "sell_to_close"})
OPEN_SIDES: Final = frozenset({"buy_to_open", "sell_to_open"})
CLOSE_SIDES: Final = frozenset({"buy_to_close", "sell_to_close"})
SELL_SIDES: Final = frozenset({"sell_to_open", "sell_to_close"})

# Tradier's documented tag alphabet and length (tradier.md §6.1); lumibot had orders refused over
# other characters, so anything else is denied before it can reach the broker.
TAG_PATTERN: Final = re.compile(r"[A-Za-z0-9-]{1,255}")
# Tradier multileg orders take legs 0–3 (tradier.md §6.1); a spread needs at least two.
MIN_LEGS: Final = 2
MAX_LEGS: Final = 4
DEFAULT_MAX_QUANTITY: Final = 10
# Option roots an underlying's legs may use. SPX (AM-settled monthlies) and SPXW (PM-settled) are
# both SPX options, but one order must not mix them (different settlement instants).
ROOTS_BY_UNDERLYING: Final[Mapping[str, frozenset[str]]] = MappingProxyType({"SPX": frozenset({"SPX", "SPXW"})})
# The net price of every order here is a multi-leg package price: Cboe's complex-order tick for SPX
# is 0.05 at every price level, so the single-leg 0.05-below-3.00 / 0.10-above rule
# (``fills.single_leg_tick``) does not apply (reliability.md B1 #19: 3.05 is a valid net price).
PRICE_TICK: Final = as_decimal(COMPLEX_ORDER_TICK)
_CENT: Final = Decimal("0.01")


# ---------------------------------------------------------------------------------------- errors


class BrokerError(Exception):
    """Base class of every broker failure. Messages never contain the access token."""


class OrderDenied(BrokerError):
    """Refused locally before any I/O: the order was never sent (field-level reason)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


class OrderRejected(BrokerError):
    """The broker definitively refused the request; ``messages`` are its own words."""

    def __init__(self, messages: tuple[str, ...], *, http_status: int | None = None) -> None:
        self.messages = messages or ("rejected by broker",)
        self.http_status = http_status
        super().__init__("; ".join(self.messages))


class OrderOutcomeUnknown(BrokerError):
    """A write may or may not have taken effect. Never retried automatically; reconcile by tag.

    ``sent`` is False only when the request provably never reached the broker (connect refused,
    connect timeout), in which case re-sending with the same client tag is safe.
    """

    def __init__(self, reason: str, *, sent: bool = True, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.http_status = http_status


class OrderNotFound(BrokerError):
    """The broker does not know this order id (may be eventual consistency right after placing)."""


class BrokerRequestError(BrokerError):
    """A read was refused (HTTP 400 or an ``errors`` body) for a reason other than "not found"."""


class BrokerUnavailable(BrokerError):
    """A read failed transiently (timeouts, 429, 5xx) after its retries; try again later."""


class BrokerAuthError(BrokerError):
    """401/403 or a token fault on a read: retrying cannot help."""


class BrokerBadResponse(BrokerError):
    """The broker's body was not what its documentation describes."""


class AmbiguousTag(BrokerError):
    """More than one broker order carries one client tag: a possible duplicate order (P0)."""

    def __init__(self, tag: str, orders: tuple[BrokerOrder, ...]) -> None:
        ids = ", ".join(o.broker_order_id for o in orders)
        super().__init__(f"{len(orders)} broker orders carry tag {tag!r}: {ids}")
        self.tag = tag
        self.orders = orders


# ---------------------------------------------------------------------------------------- requests


class OrderLeg(NamedTuple):
    """One leg: OSI option symbol without root padding (``SPXW260618P05800000``), side, contracts."""

    option_symbol: str
    side: Side
    quantity: int


def to_price(value: Decimal | float | int | str, field_name: str = "price") -> Decimal:
    """A price as an exact ``Decimal`` (float noise below 1e-8 removed); ``OrderDenied`` if not a number."""
    if isinstance(value, bool):
        raise OrderDenied(field_name, f"not a price: {value!r}")
    try:
        return as_decimal(value)
    except (ValueError, TypeError, InvalidOperation):
        raise OrderDenied(field_name, f"not a price: {value!r}") from None


def format_price(price: Decimal) -> str:
    """The form value Tradier gets: two decimals, e.g. ``Decimal("0.5")`` → ``"0.50"``."""
    return str(price.quantize(_CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class SpreadOrderRequest:
    """What to place: a 2–4 leg multileg limit order on SPX options.

    ``limit_price`` is the net package price in points per share, positive; ``order_type`` says
    whether it is received (``credit``, opening) or paid (``debit``, closing). ``client_tag`` is our
    client order id, sent as Tradier's ``tag`` (letters, digits and ``-``, ≤ 255 characters).
    With ``preview=True`` the broker previews the order first and places it only if the preview
    passes. Construction only normalises types; ``validate_spread_request`` applies the rules.
    """

    client_tag: str
    legs: tuple[OrderLeg, ...]
    order_type: OrderType
    limit_price: Decimal
    underlying: str = "SPX"
    duration: Literal["day"] = "day"
    preview: bool = False

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__ so callers may pass plain tuples and floats.
        try:
            legs = tuple(leg if isinstance(leg, OrderLeg) else OrderLeg(*leg) for leg in self.legs)
        except TypeError:
            raise OrderDenied("legs", "each leg must be (option_symbol, side, quantity)") from None
        object.__setattr__(self, "legs", legs)
        object.__setattr__(self, "limit_price", to_price(self.limit_price, "limit_price"))

    @property
    def quantity(self) -> int:
        """Spreads: the per-leg quantity (validation requires equal quantities)."""
        return min(leg.quantity for leg in self.legs) if self.legs else 0

    @property
    def is_opening(self) -> bool:
        return all(leg.side in OPEN_SIDES for leg in self.legs)


def validate_spread_request(req: SpreadOrderRequest, *, max_quantity: int = DEFAULT_MAX_QUANTITY) -> None:
    """Raise ``OrderDenied`` (never sent) unless ``req`` is an order this platform may place.

    Rules (issue #5; reliability.md B1 #15, #16, #19; tradier.md §6.1):
    tag of letters, digits and ``-`` (1–255); underlying with known roots (``SPX``); duration
    ``day``; 2–4 legs with distinct OSI symbols in canonical unpadded form, one root and one
    expiration; sides from Tradier's four, at least one buy and one sell; equal quantities in
    1..``max_quantity``; ``credit`` orders open (``*_to_open``) and ``debit`` orders close
    (``*_to_close``), so a reversed type cannot flip a position; price > 0 on the 0.05 net tick;
    for a 2-leg vertical a credit below the strike width and a debit no larger than it (outside
    those bounds the order is a guaranteed loss or a typo).
    """
    tag = req.client_tag
    if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
        raise OrderDenied("client_tag", "must be 1-255 characters of letters, digits and '-'")
    roots = ROOTS_BY_UNDERLYING.get(req.underlying)
    if roots is None:
        raise OrderDenied("underlying", f"{req.underlying!r} is not supported (known: {sorted(ROOTS_BY_UNDERLYING)})")
    if req.duration != "day":
        raise OrderDenied("duration", f"must be 'day', got {req.duration!r}")
    if req.order_type not in ("credit", "debit"):
        raise OrderDenied("order_type", f"must be 'credit' or 'debit', got {req.order_type!r}")
    if not MIN_LEGS <= len(req.legs) <= MAX_LEGS:
        raise OrderDenied("legs", f"need {MIN_LEGS}-{MAX_LEGS} legs, got {len(req.legs)}")
    if not isinstance(max_quantity, int) or max_quantity < 1:
        raise ValueError(f"max_quantity must be a positive int, got {max_quantity!r}")

    parsed = []
    for i, leg in enumerate(req.legs):
        if leg.side not in SIDES:
            raise OrderDenied(f"legs[{i}].side", f"unknown side {leg.side!r}")
        # bool is an int; True contracts is a bug, not one contract.
        if not isinstance(leg.quantity, int) or isinstance(leg.quantity, bool):
            raise OrderDenied(f"legs[{i}].quantity", f"must be an integer, got {leg.quantity!r}")
        if not 1 <= leg.quantity <= max_quantity:
            raise OrderDenied(f"legs[{i}].quantity", f"must be 1..{max_quantity}, got {leg.quantity}")
        try:
            symbol = parse_symbol(leg.option_symbol)
        except ValueError:
            raise OrderDenied(f"legs[{i}].option_symbol", f"not an OSI symbol: {leg.option_symbol!r}") from None
        if symbol.format() != leg.option_symbol:
            # Tradier spells symbols unpadded and upper-case; a padded form may not match its books.
            raise OrderDenied(f"legs[{i}].option_symbol", f"use the unpadded form {symbol.format()!r}")
        parsed.append(symbol)

    if len({leg.option_symbol for leg in req.legs}) != len(req.legs):
        raise OrderDenied("legs", "the same option appears in two legs")
    leg_roots = {s.root for s in parsed}
    if len(leg_roots) != 1:
        raise OrderDenied("legs", f"legs mix option roots {sorted(leg_roots)}")
    if not leg_roots <= roots:
        raise OrderDenied("legs", f"root {next(iter(leg_roots))!r} is not an option root of {req.underlying}")
    if len({s.expiration for s in parsed}) != 1:
        raise OrderDenied("legs", "legs have different expirations")
    if len({leg.quantity for leg in req.legs}) != 1:
        raise OrderDenied("legs", "legs must have equal quantities (1:1 spreads only)")
    sells = sum(1 for leg in req.legs if leg.side in SELL_SIDES)
    if sells == 0 or sells == len(req.legs):
        raise OrderDenied("legs", "a spread needs at least one bought and one sold leg")
    wanted_sides = OPEN_SIDES if req.order_type == "credit" else CLOSE_SIDES
    if any(leg.side not in wanted_sides for leg in req.legs):
        intent = "open (*_to_open)" if req.order_type == "credit" else "close (*_to_close)"
        raise OrderDenied("legs", f"a {req.order_type} order must {intent} every leg")

    price = req.limit_price
    if price <= 0:
        raise OrderDenied("limit_price", f"must be > 0 (the type says credit or debit), got {price}")
    if not is_on_tick(float(price), COMPLEX_ORDER_TICK):
        raise OrderDenied("limit_price", f"{price} is not a multiple of the {PRICE_TICK} net tick")
    if len(parsed) == 2 and parsed[0].is_call == parsed[1].is_call:
        width = abs(parsed[0].strike - parsed[1].strike)
        if req.order_type == "credit" and price >= width:
            raise OrderDenied("limit_price", f"credit {price} is not below the strike width {width}")
        if req.order_type == "debit" and price > width:
            raise OrderDenied("limit_price", f"debit {price} exceeds the strike width {width}")


# ---------------------------------------------------------------------------------------- results


class PlaceOutcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PlaceResult:
    """What happened to one placement: accepted (with the broker id), rejected, or unknown.

    ``sent`` is False only for an ``unknown`` outcome whose request provably never reached the
    broker; the caller may then re-send with the same tag (or reconcile, which is always safe).
    """

    outcome: PlaceOutcome
    client_tag: str
    broker_order_id: str | None = None
    messages: tuple[str, ...] = ()
    reason: str = ""
    sent: bool = True
    http_status: int | None = None

    @classmethod
    def accepted(cls, client_tag: str, broker_order_id: str, *, http_status: int | None = None) -> PlaceResult:
        return cls(PlaceOutcome.ACCEPTED, client_tag, broker_order_id=broker_order_id, http_status=http_status)

    @classmethod
    def rejected(cls, client_tag: str, messages: tuple[str, ...], *, http_status: int | None = None) -> PlaceResult:
        return cls(
            PlaceOutcome.REJECTED, client_tag, messages=messages or ("rejected by broker",), http_status=http_status
        )

    @classmethod
    def unknown(cls, client_tag: str, reason: str, *, sent: bool = True, http_status: int | None = None) -> PlaceResult:
        return cls(PlaceOutcome.UNKNOWN, client_tag, reason=reason, sent=sent, http_status=http_status)

    @property
    def state(self) -> OrderState:
        """The local state to move to: open / rejected / unknown (accepted is not yet working proof)."""
        return {
            PlaceOutcome.ACCEPTED: OrderState.OPEN,
            PlaceOutcome.REJECTED: OrderState.REJECTED,
            PlaceOutcome.UNKNOWN: OrderState.UNKNOWN,
        }[self.outcome]

    def raise_for_outcome(self) -> str:
        """The broker order id if accepted; else raise ``OrderRejected`` / ``OrderOutcomeUnknown``."""
        if self.outcome is PlaceOutcome.ACCEPTED and self.broker_order_id is not None:
            return self.broker_order_id
        if self.outcome is PlaceOutcome.REJECTED:
            raise OrderRejected(self.messages, http_status=self.http_status)
        raise OrderOutcomeUnknown(self.reason or "outcome unknown", sent=self.sent, http_status=self.http_status)


@dataclass(frozen=True)
class BrokerLeg:
    """One leg as the broker reports it; prices positive, points per share."""

    option_symbol: str
    side: str
    quantity: int
    status: OrderState
    raw_status: str
    exec_quantity: int
    remaining_quantity: int
    avg_fill_price: Decimal | None
    last_fill_price: Decimal | None = None
    last_fill_quantity: int = 0
    leg_id: str | None = None  # Tradier's leg order id: the same on every partial fill, not a fill id


@dataclass(frozen=True)
class BrokerOrder:
    """A broker order snapshot, normalised.

    Sign convention: ``price`` and ``avg_fill_price`` are **positive** per-share net prices: the
    credit received for a ``credit`` order, the debit paid for a ``debit`` order. Tradier reports a
    filled credit multileg's parent ``avg_fill_price`` as a *negative* number (−0.05 for a 0.05
    credit) while each leg's is positive (tradier.md §6.2); the sign carries nothing that
    ``order_type`` does not already say (a limit credit order cannot fill as a debit), so the
    magnitude is kept. Times are timezone-aware UTC. ``raw`` is the broker's object as received.
    """

    broker_order_id: str
    client_tag: str | None
    status: OrderState
    raw_status: str
    order_type: str
    quantity: int
    price: Decimal | None
    avg_fill_price: Decimal | None
    exec_quantity: int
    remaining_quantity: int
    legs: tuple[BrokerLeg, ...] = ()
    reason_description: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    underlying: str | None = None
    order_class: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)

    @property
    def filled_quantity(self) -> int:
        """Spreads filled so far. From the legs when there are any (the slowest leg bounds the
        package; Tradier's parent quantity semantics for multileg are undocumented), else the parent.
        """
        if not self.legs:
            return self.exec_quantity
        spreads = min(leg.quantity for leg in self.legs)
        if spreads <= 0:
            return self.exec_quantity
        return min(leg.exec_quantity * spreads // leg.quantity for leg in self.legs)

    def fill_since(self, *, recorded_quantity: int, recorded_avg_price: Decimal | None) -> BrokerFill | None:
        """The fill not yet recorded, or None; see ``BrokerFill`` for the dedup rule.

        ``recorded_quantity``/``recorded_avg_price`` are the cumulative spreads and their average
        price already booked locally for this order. The new fill's price is the difference of the
        cumulative averages: (avg·N − avg₀·N₀) / (N − N₀), rounded to 1e-4 points.
        """
        cumulative = self.filled_quantity
        if cumulative < recorded_quantity:
            # A broker never un-fills; keep the recorded fills and let the caller see the warning.
            logger.warning(
                "order %s reports %d filled, fewer than the %d recorded",
                self.broker_order_id,
                cumulative,
                recorded_quantity,
            )
            return None
        if cumulative == recorded_quantity:
            return None
        avg = self.avg_fill_price if self.avg_fill_price else self.net_price_from_legs()
        if avg is None:
            raise BrokerBadResponse(f"order {self.broker_order_id} has filled quantity but no fill price")
        increment = cumulative - recorded_quantity
        if recorded_quantity == 0 or recorded_avg_price is None:
            price = avg
        else:
            price = (avg * cumulative - recorded_avg_price * recorded_quantity) / increment
        return BrokerFill(
            broker_order_id=self.broker_order_id,
            cumulative_quantity=cumulative,
            quantity=increment,
            price=price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP),
            legs=tuple(
                LegFill(leg.option_symbol, leg.side, leg.exec_quantity, leg.avg_fill_price) for leg in self.legs
            ),
        )

    def net_price_from_legs(self) -> Decimal | None:
        """Net per-share average from the legs' averages (sold − bought for a credit, reverse for a debit)."""
        if not self.legs or any(leg.avg_fill_price is None or leg.exec_quantity == 0 for leg in self.legs):
            return None
        sold = sum((leg.avg_fill_price or Decimal(0) for leg in self.legs if leg.side in SELL_SIDES), Decimal(0))
        bought = sum((leg.avg_fill_price or Decimal(0) for leg in self.legs if leg.side not in SELL_SIDES), Decimal(0))
        return abs(sold - bought)


@dataclass(frozen=True)
class LegFill:
    """A leg's cumulative fill as reported: contracts and average price (points per share, positive)."""

    option_symbol: str
    side: str
    cumulative_quantity: int
    avg_fill_price: Decimal | None


@dataclass(frozen=True)
class BrokerFill:
    """One observed increase of an order's cumulative filled quantity.

    Dedup key: ``"<broker_order_id>:<cumulative_quantity>"``. Neither broker reports per-execution
    ids (Tradier's leg ``id`` is the leg order's id, identical on every partial fill), but the
    cumulative quantity only grows, so (order id, cumulative quantity) names each increase exactly
    once: re-reading the same snapshot, or a late report of a fill already seen, produces a key
    that is already stored and is skipped (reliability.md B1 #11). Several executions between two
    polls collapse into one fill at their average price.
    """

    broker_order_id: str
    cumulative_quantity: int  # spreads filled after this fill
    quantity: int  # spreads in this fill
    price: Decimal  # net points per share of this fill, positive
    legs: tuple[LegFill, ...] = ()

    @property
    def dedup_key(self) -> str:
        return f"{self.broker_order_id}:{self.cumulative_quantity}"


@dataclass(frozen=True)
class CancelResult:
    """After a cancel request: whether the broker said the order was already final, and its state.

    ``order`` is the state read back after the request (None if that read failed: the cancel was
    still accepted, so the local state is ``pending_cancel`` until the next lookup).
    """

    broker_order_id: str
    already_final: bool
    order: BrokerOrder | None

    @property
    def state(self) -> OrderState:
        if self.order is None:
            return OrderState.PENDING_CANCEL
        if self.order.status in (OrderState.OPEN, OrderState.PARTIALLY_FILLED):
            # Accepted but not applied yet: Tradier cancels asynchronously.
            return OrderState.PENDING_CANCEL
        return self.order.status


@dataclass(frozen=True)
class SpreadPreview:
    """A broker's preview of an order (nothing placed). Money fields in dollars, Tradier's signs:
    ``order_cost`` is negative for a credit (−price × 100 × quantity); ``cost`` = margin_change +
    order_cost + commission (tradier.md §6.1). ``price`` is points per share.
    """

    ok: bool
    order_type: str | None
    price: Decimal | None
    commission: Decimal | None
    fees: Decimal | None
    cost: Decimal | None
    order_cost: Decimal | None
    margin_change: Decimal | None
    strategy: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False, hash=False)


# ---------------------------------------------------------------------------------------- protocol


@runtime_checkable
class Broker(Protocol):
    """One interface for the Tradier sandbox and the simulated broker.

    Only ``place_spread`` creates orders. No method re-sends a write on its own.
    """

    name: str

    def place_spread(self, req: SpreadOrderRequest) -> PlaceResult: ...

    def preview_spread(self, req: SpreadOrderRequest) -> SpreadPreview: ...

    def get_order(self, broker_order_id: str) -> BrokerOrder: ...

    def list_orders(self, *, date: dt.date | None = None) -> list[BrokerOrder]: ...

    def find_by_tag(self, tag: str, *, date: dt.date | None = None) -> BrokerOrder | None: ...

    def cancel(self, broker_order_id: str) -> CancelResult: ...

    def replace_price(self, broker_order_id: str, price: Decimal | float | str) -> None: ...


def check_replace_price(price: Decimal | float | str) -> Decimal:
    """The new limit for ``replace_price``: positive and on the 0.05 net tick, else ``OrderDenied``."""
    value = to_price(price, "price")
    if value <= 0:
        raise OrderDenied("price", f"must be > 0, got {value}")
    if not is_on_tick(float(value), COMPLEX_ORDER_TICK):
        raise OrderDenied("price", f"{value} is not a multiple of the {PRICE_TICK} net tick")
    return value


def select_by_tag(orders: list[BrokerOrder], tag: str) -> BrokerOrder | None:
    """The one order carrying ``tag``, None if none; ``AmbiguousTag`` if several (a double order)."""
    matches = tuple(o for o in orders if o.client_tag == tag)
    if len(matches) > 1:
        raise AmbiguousTag(tag, matches)
    return matches[0] if matches else None
