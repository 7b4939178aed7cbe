"""Writes for the execution app: TRADE decision → order → fills → trade → marks → exit → PnL.

Rules that keep money state right (design Principle 3, reliability.md B1):
- an ``Order`` row with its client tag is committed before the broker is called;
- a placement whose outcome is unknown is never re-sent: the order goes ``unknown`` and is
  reconciled by tag (only a request that provably never left is re-sent, once, with the same tag);
- an order the market could not take (session closed per the trading calendar, or a series past
  its settlement instant) is refused locally before the broker is called (``order_gate``);
- every state change goes through ``order_states.transition``; fills are deduplicated on
  (order, broker order id + cumulative quantity);
- reconciliation runs before the first trading job of every worker process (``ensure_reconciled``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from execution import selectors
from execution.brokers.base import (
    Broker,
    BrokerError,
    BrokerOrder,
    OrderDenied,
    OrderLeg,
    OrderNotFound,
    OrderOutcomeUnknown,
    PlaceOutcome,
    SpreadOrderRequest,
)
from execution.models import AdoptedOrder, Fill, Order, PositionMark, Trade, TradeLeg
from execution.order_states import OrderState, is_terminal, transition
from snapshots import market_calendar
from snapshots.analytics import settlement_for
from strategy.models import TradeDecision
from strategy.quant import rules
from strategy.quant.money import cents as money, cents_or_none
from strategy.quant.osi import parse_symbol
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import ExitRules, as_side
from strategy.services import WindowResult, entry_window_run, exit_rules_of

logger = logging.getLogger(__name__)
TAG_PREFIX = "spx-"  # every client tag we send starts with this: how reconciliation tells ours apart
WORKING = (OrderState.SUBMITTING, OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.UNKNOWN,
           OrderState.PENDING_CANCEL)


def new_client_tag(purpose: str) -> str:
    """Letters, digits and '-' only (Tradier's tag alphabet); random, so a reset DB never reuses one."""
    return f"{TAG_PREFIX}{purpose}-{uuid.uuid4().hex[:20]}"


# ------------------------------------------------------------------------------------ brokers

def broker_get(*, now: dt.datetime | None = None) -> Broker:
    """The configured broker: Tradier sandbox when selected, else the simulated broker (whose
    clock ``now`` pins, for a replayed or test day)."""
    if settings.EXECUTION_BROKER == "tradier":
        from execution.brokers.tradier import TradierBroker

        return TradierBroker(
            settings.TRADIER_BASE_URL, settings.TRADIER_ACCESS_TOKEN, settings.TRADIER_ACCOUNT_ID,
            allow_live=settings.TRADIER_ALLOW_LIVE, timeout_s=settings.TRADIER_TIMEOUT_S,
        )
    from execution.sim_broker import simulated_broker

    return simulated_broker(now=now)


# ------------------------------------------------------------------------------------ entry windows

def entry_window_trade(*, at: dt.datetime, source: str | None = None, capture: bool = True,
                       hand_over: Callable[[int], None] | None = None) -> WindowResult:
    """The live entry window: ``strategy.services.entry_window_run`` with the live book's risk state
    from our trades, and each TRADE handed over to order placement after commit (by default the
    ``trade_open`` task; a replayed day passes its own ``hand_over`` to run it in line)."""
    return entry_window_run(at=at, source=source, capture=capture, risk_state=selectors.risk_state,
                            hand_over=hand_over or _queue_trade_open)


def _queue_trade_open(decision_id: int) -> None:
    from execution.tasks import trade_open  # the task module imports this one

    trade_open.delay_on_commit(decision_id)  # never from a decision that is rolled back


# ------------------------------------------------------------------------------------ entries

def trade_build(decision: TradeDecision, *, quantity: int) -> tuple[Trade, list[dict[str, Any]]]:
    """An unsaved trade (status ``opening``) and its two legs' ``TradeLeg`` fields for a TRADE decision.

    Live (``trade_open``) and the backtester build trades with this one function. A leg's entry
    price is its quoted mid at the decision (the combo fills as a package; its price is the
    trade's entry credit).
    """
    short, long_ = decision.legs
    if decision.expiration is None or decision.width_points is None:
        raise ValueError(f"decision {decision.pk} has no expiration or width: not a TRADE")
    trade = Trade(
        decision=decision, strategy_config_id=decision.strategy_config_id, source=decision.source,
        backtest_run_id=decision.backtest_run_id, side=decision.config_params["side"],
        root=parse_symbol(short["symbol"]).root, expiration=decision.expiration, quantity=quantity,
        short_strike=Decimal(str(short["strike"])), long_strike=Decimal(str(long_["strike"])),
        width_points=decision.width_points,
    )
    legs = [{"symbol": leg["symbol"], "side": leg["side"], "strike": Decimal(str(leg["strike"])),
             "option_type": "call" if leg["is_call"] else "put", "quantity": quantity,
             "entry_price": cents_or_none(leg.get("mid"))}
            for leg in (short, long_)]
    return trade, legs


def trade_entry_set(trade: Trade, *, credit: Decimal, exit_rules: ExitRules) -> None:
    """Entry credit and what follows from it: max profit/loss and the TP/SL debits (not saved).

    ``exit_rules``: the decision's frozen ones (``exit_rules_of(decision.config_params)``)."""
    trade.entry_credit = credit
    trade.max_profit_usd, trade.max_loss_usd = entry_amounts(credit=credit, width_points=trade.width_points,
                                                            quantity=trade.quantity)
    trade.take_profit_debit = money(credit * (1 - Decimal(str(exit_rules.take_profit_fraction))))
    trade.stop_loss_debit = money(credit * (1 + Decimal(str(exit_rules.stop_loss_multiple))))


def trade_close_set(trade: Trade, *, exit_debit: Decimal, reason: str, source: str, at: dt.datetime,
                    fee_per_contract_usd: float, settlement_price: Decimal | None = None) -> None:
    """Close a trade in memory: exit, fees and realized PnL (live and backtest alike; not saved)."""
    trade.exit_debit, trade.fees_usd, trade.realized_pnl_usd = close_amounts(
        entry_credit=trade.entry_credit or Decimal(0), exit_debit=exit_debit, quantity=trade.quantity,
        fee_per_contract_usd=fee_per_contract_usd, settled=reason == Trade.ExitReason.SETTLEMENT)
    trade.status = Trade.Status.CLOSED
    trade.closed_at = at
    trade.exit_reason = reason
    trade.settlement_price = settlement_price
    trade.settlement_source = source[:200]


def close_amounts(*, entry_credit: Decimal, exit_debit: Decimal, quantity: int, fee_per_contract_usd: float,
                  settled: bool) -> tuple[Decimal, Decimal, Decimal]:
    """(exit debit, fees, realized PnL) of a closed trade as stored, USD to the cent: the one
    computation behind ``trade_close_set`` (a sweep's variant-trades use it too, without rows)."""
    fees = money(rules.fees_usd(fee_per_contract_usd, quantity, settled=settled))
    debit = money(exit_debit)
    gross = rules.pnl_usd(float(entry_credit), float(debit), quantity)
    return debit, fees, money(Decimal(str(gross)) - fees)


def entry_amounts(*, credit: Decimal, width_points: Decimal, quantity: int) -> tuple[Decimal, Decimal]:
    """(max profit, max loss) in USD of a trade entered at ``credit``: the numbers ``trade_entry_set`` stores."""
    return money(credit * 100 * quantity), money((width_points - credit) * 100 * quantity)


def trade_open(*, decision: TradeDecision, now: dt.datetime | None = None) -> Trade:
    """Trade (status ``opening``), its legs and the entry order row for a TRADE decision; idempotent.

    ``now`` stamps the order's ``created_at`` (a replayed day passes its slot; live: the clock).

    The order row is committed here with its client tag; submission happens afterwards
    (``order_submit``), so a crash in between leaves a ``new`` order that reconciliation submits.
    """
    if decision.action != TradeDecision.Action.TRADE or len(decision.legs) != 2 or decision.credit_fill is None:
        raise ValueError(f"decision {decision.pk} is not a TRADE with two legs and a credit")
    existing = Trade.objects.filter(decision=decision).first()
    if existing:
        return existing
    quantity = int(decision.config_params.get("quantity", 1))
    trade, legs = trade_build(decision, quantity=quantity)
    short, long_ = decision.legs
    try:
        with transaction.atomic():
            trade.save()
            for leg in legs:
                TradeLeg.objects.create(trade=trade, **leg)
            Order.objects.create(
                client_tag=new_client_tag("open"), trade=trade, purpose=Order.Purpose.OPEN, attempt=1,
                source=decision.source, broker=settings.EXECUTION_BROKER, order_type="credit",
                limit_price=decision.credit_fill, initial_limit_price=decision.credit_fill, quantity=quantity,
                legs=[{"option_symbol": short["symbol"], "side": "sell_to_open", "quantity": quantity},
                      {"option_symbol": long_["symbol"], "side": "buy_to_open", "quantity": quantity}],
                created_at=now or timezone.now(),
            )
    except IntegrityError:  # another worker opened it first
        return Trade.objects.get(decision=decision)
    return trade


def _request(order: Order) -> SpreadOrderRequest:
    return SpreadOrderRequest(
        client_tag=order.client_tag,
        legs=tuple(OrderLeg(leg["option_symbol"], leg["side"], int(leg["quantity"])) for leg in order.legs),
        order_type=order.order_type,  # type: ignore[arg-type]
        limit_price=order.limit_price,
    )


def _set_state(order: Order, target: OrderState, *, reason: str | None = None) -> None:
    order.state = transition(OrderState(order.state), target)
    if reason is not None:
        order.reason = _reason_note(order, reason)


def _reason_note(order: Order, note: str) -> str:
    """The order's reason with ``note`` (an unknown outcome, a give-up, the broker's words).

    A closing order's reason starts with why it was sent (``take_profit: …``, ``stop_loss: …``),
    which ``order_exit_reason`` reads back when it fills: a note goes after it, never in its place,
    or a take profit whose placement reply was lost would close as ``manual`` (and a lost stop-loss
    reply would not block the day's new entries).
    """
    cause = order.reason.split(":", 1)[0]
    if order.purpose == Order.Purpose.CLOSE and cause in Trade.ExitReason.values and not note.startswith(cause):
        return f"{order.reason}; {note}"
    return note


MARKET_CLOSED = "market_closed"
SERIES_EXPIRED = "series_expired"


def order_gate(legs: list[dict[str, Any]], *, at: dt.datetime) -> str | None:
    """Why the market cannot take an order with these legs at ``at`` (aware), or None when it can.

    ``market_closed``: ``at`` is outside the SPX index-options session of its New York day
    (``market_calendar.is_session_open``: 09:30–16:15 ET, 09:30–13:15 ET on early-close days such
    as 2026-11-27; holidays and weekends have none). ``series_expired``: a leg's series is at or past
    its settlement instant (SPXW 16:00 ET, 13:00 on an early close; AM SPX 09:30 on its day,
    ``market_calendar.settlement_instant``). The text is ``"<code>: <why>"``, as the order's reason.
    """
    local = at.astimezone(NEW_YORK)
    if not market_calendar.is_session_open(at):
        bounds = market_calendar.session_bounds(local.date())
        why = ("no session that day (holiday or weekend)" if bounds is None else
               f"the session runs {bounds[0].astimezone(NEW_YORK):%H:%M}–{bounds[1].astimezone(NEW_YORK):%H:%M} ET")
        return f"{MARKET_CLOSED}: {local:%Y-%m-%d %H:%M} ET is outside the SPX options session ({why})"
    for leg in legs:
        try:
            parsed = parse_symbol(str(leg["option_symbol"]))
        except ValueError:
            continue  # malformed: the broker's local validation denies it (``OrderDenied``), never sent
        try:
            settles_at = market_calendar.settlement_instant(parsed.expiration, parsed.root)
        except ValueError:  # an expiration on a closed day never settles there: no such series trades
            return f"{SERIES_EXPIRED}: {leg['option_symbol']} expires on {parsed.expiration}, not a trading day"
        if at >= settles_at:
            return (f"{SERIES_EXPIRED}: {leg['option_symbol']} settled at "
                    f"{settles_at.astimezone(NEW_YORK):%Y-%m-%d %H:%M} ET")
    return None


def order_submit(order_id: int, *, broker: Broker | None = None, now: dt.datetime | None = None) -> Order:
    """Send a ``new`` order once. Claims the row (new → submitting, committed) before any I/O.

    ``now`` is the business time to stamp (a replayed day passes its slot; live it is the clock).
    The same instant is what ``order_gate`` checks: an order the market cannot take then is
    rejected locally (its reason says why, the broker is never called) and its trade moves on as
    after any rejection (an entry is not filled, a close leaves the trade open).
    """
    at = now or timezone.now()
    order = Order.objects.get(pk=order_id)
    if (settings.ORDER_MARKET_CHECK and order.state == OrderState.NEW
            and (refusal := order_gate(order.legs, at=at)) is not None):
        # Conditional, like the claim below: only a row still ``new`` (never sent) is refused. A close
        # keeps why it was wanted (``take_profit: …``) after the refusal, for the audit trail.
        reason = f"{refusal}; never sent" + (f" (was: {order.reason})" if order.reason else "")
        if Order.objects.filter(pk=order_id, state=OrderState.NEW).update(
                state=transition(OrderState.NEW, OrderState.REJECTED), reason=reason) == 1:
            order.refresh_from_db()
            logger.warning("order %s refused locally: %s", order.client_tag, order.reason)
            _entry_failed(order)
            return order
    claimed = Order.objects.filter(pk=order_id, state=OrderState.NEW).update(
        state=OrderState.SUBMITTING, submitted_at=at
    )
    order = Order.objects.get(pk=order_id)
    if claimed != 1:  # submitted already (a redelivered task, or reconciliation got there first)
        return order
    req = _request(order)
    resent = False
    try:
        broker = broker or broker_get()  # OrderDenied for a URL it may not trade at (B1 #18): never sent
        result = broker.place_spread(req)
        if result.outcome is PlaceOutcome.UNKNOWN and not result.sent:
            # Provably never left this machine: the one case where sending again (same tag) is safe.
            result = broker.place_spread(req)
            resent = True
    except OrderDenied as exc:
        _set_state(order, OrderState.REJECTED, reason=f"denied locally, never sent: {exc}")
        order.save()
        _entry_failed(order)
        return order
    with transaction.atomic():
        # Re-read under the lock: while the reply was on its way, reconciliation (another worker)
        # may have found the order by its tag and recorded fills; that row is newer than this reply.
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.state != OrderState.SUBMITTING:
            logger.info("order %s resolved to %s while its placement reply was in flight",
                        order.client_tag, order.state)
            return order
        if result.outcome is PlaceOutcome.ACCEPTED:
            order.broker_order_id = str(result.broker_order_id)
            _set_state(order, OrderState.OPEN)
        elif result.outcome is PlaceOutcome.REJECTED:
            _set_state(order, OrderState.REJECTED, reason="; ".join(result.messages))
        else:
            retry = " (after one same-tag re-send of a request that never left)" if resent else ""
            _set_state(order, OrderState.UNKNOWN, reason=f"outcome unknown, not re-sent: {result.reason}{retry}")
        order.save()
    if order.state == OrderState.REJECTED:
        _entry_failed(order)
    elif order.state == OrderState.OPEN:
        order_sync(order.pk, broker=broker, now=now)  # a simulated broker may have filled it already
        order.refresh_from_db()
    return order


def _entry_failed(order: Order) -> None:
    if order.purpose == Order.Purpose.OPEN and order.filled_quantity == 0:
        Trade.objects.filter(pk=order.trade_id, status=Trade.Status.OPENING).update(status=Trade.Status.NOT_FILLED)
    elif order.purpose == Order.Purpose.CLOSE:
        Trade.objects.filter(pk=order.trade_id, status=Trade.Status.CLOSING).update(status=Trade.Status.OPEN)


# ------------------------------------------------------------------------------------ sync

def order_sync(order_id: int, *, broker: Broker | None = None, now: dt.datetime | None = None) -> Order:
    """Bring one order up to date with the broker: state, fills, and the trade they move."""
    broker = broker or broker_get()
    order = Order.objects.get(pk=order_id)
    # Canceled and expired orders are still read (for fills reported after the cancel, B1 #11).
    if order.state in (OrderState.FILLED, OrderState.REJECTED):
        return order
    if order.state == OrderState.NEW:
        return order
    try:
        if order.broker_order_id:
            snapshot: BrokerOrder | None = broker.get_order(order.broker_order_id)
        else:
            snapshot = broker.find_by_tag(order.client_tag, date=order.created_at.astimezone(NEW_YORK).date())
    except OrderNotFound:
        snapshot = None
    except BrokerError as exc:
        logger.warning("sync of order %s failed: %s", order.client_tag, exc)
        return order
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        order.last_synced_at = timezone.now()
        if snapshot is None:
            order.not_found_checks += 1
            if order.state in (OrderState.UNKNOWN, OrderState.SUBMITTING) and \
                    order.not_found_checks >= settings.ORDER_NOT_FOUND_CHECKS:
                # Labelled local resolution (reliability B1 #2, #10): never a silent failure.
                _set_state(order, OrderState.REJECTED,
                           reason=f"not found at broker after {order.not_found_checks} checks (tag {order.client_tag})")
                order.save()
                _entry_failed(order)
                return order
            order.save()
            return order
        order.broker_order_id = snapshot.broker_order_id
        fill = snapshot.fill_since(recorded_quantity=order.filled_quantity, recorded_avg_price=order.avg_fill_price)
        if fill is not None:
            _, created = Fill.objects.get_or_create(
                order=order, fill_key=fill.dedup_key,
                defaults={"quantity": fill.quantity, "price": money(fill.price),
                          "filled_at": now or timezone.now()},
            )
            if created:
                total = order.filled_quantity + fill.quantity
                prior = (order.avg_fill_price or Decimal(0)) * order.filled_quantity
                order.avg_fill_price = money((prior + fill.price * fill.quantity) / total)
                order.filled_quantity = total
        target = snapshot.status
        if OrderState(order.state) != target and not is_terminal(OrderState(order.state)):
            try:
                _set_state(order, target)
            except ValueError as exc:  # illegal move reported by the broker: keep ours, say so
                logger.error("order %s: %s", order.client_tag, exc)
        if snapshot.reason_description and order.state == OrderState.REJECTED:
            order.reason = _reason_note(order, snapshot.reason_description)
        order.save()
        _apply_to_trade(order, now=now)
    return order


def recently_ended_unfilled(*, hours: int = 24) -> QuerySet[Order]:
    return Order.objects.filter(
        state__in=[OrderState.CANCELED, OrderState.EXPIRED], filled_quantity__lt=F("quantity"),
        updated_at__gte=timezone.now() - dt.timedelta(hours=hours),
    )


def _apply_to_trade(order: Order, *, now: dt.datetime | None = None) -> None:
    """A filled entry opens the trade; a filled exit closes it; a dead entry marks it not filled."""
    trade = Trade.objects.select_for_update().get(pk=order.trade_id)
    state = OrderState(order.state)
    if order.purpose == Order.Purpose.OPEN:
        # What an entry filled is a position, also when the rest was canceled or expired, and when
        # a fill is reported after the cancel (B1 #11): the trade always equals the fills.
        finished = state in (OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED)
        if order.filled_quantity and finished and trade.status in (
                Trade.Status.OPENING, Trade.Status.OPEN, Trade.Status.NOT_FILLED):
            if trade.status != Trade.Status.OPEN:
                trade.status = Trade.Status.OPEN
                trade.opened_at = now or timezone.now()
            trade.quantity = order.filled_quantity
            trade_entry_set(trade, credit=order.avg_fill_price or order.limit_price,
                            exit_rules=exit_rules_of(trade.decision.config_params))
            trade.save()
            trade.legs.update(quantity=trade.quantity)
        elif state in (OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED) and order.filled_quantity == 0:
            _entry_failed(order)
    elif order.purpose == Order.Purpose.CLOSE:
        # Closed when the closing fills of all its orders reach the position: an order that filled,
        # or the rest after an earlier close filled in part and then expired or was canceled.
        closing = _close_fills(trade)
        if closing and sum(q for q, _ in closing) >= trade.quantity and trade.status in (
                Trade.Status.OPEN, Trade.Status.CLOSING):
            paid = sum((price * q for q, price in closing), Decimal(0))
            trade_close(trade, exit_debit=paid / sum(q for q, _ in closing),
                        reason=order_exit_reason(order), source=f"order {order.client_tag}", at=now)
        elif state in (OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED):
            # Open again, with what the fills left (the next close is for that quantity).
            _entry_failed(order)


def _close_fills(trade: Trade) -> list[tuple[int, Decimal]]:
    return list(Fill.objects.filter(order__trade=trade, order__purpose=Order.Purpose.CLOSE)
                .values_list("quantity", "price"))


def open_quantity(trade: Trade) -> int:
    """Contracts still held: the trade's (entry-filled) quantity less what closing orders filled.
    Below the quantity after a close that filled in part and then expired or was canceled."""
    return trade.quantity - sum(q for q, _ in _close_fills(trade))


def order_exit_reason(order: Order) -> str:
    return order.reason.split(":", 1)[0] if order.reason.split(":", 1)[0] in Trade.ExitReason.values else "manual"


def trade_close(trade: Trade, *, exit_debit: Decimal, reason: str, source: str,
                settlement_price: Decimal | None = None, at: dt.datetime | None = None) -> Trade:
    trade_close_set(trade, exit_debit=exit_debit, reason=reason, source=source, at=at or timezone.now(),
                    fee_per_contract_usd=settings.FEES_PER_CONTRACT_USD, settlement_price=settlement_price)
    settled = reason == Trade.ExitReason.SETTLEMENT
    gross = fills_gross_usd(trade, settlement_debit=trade.exit_debit if settled else None)
    if gross is not None:
        closed_by_orders = sum(q for q, _ in _close_fills(trade))
        if settled and closed_by_orders:
            # Part of it was closed by an order (exit fees on those contracts), the rest settled.
            fee = Decimal(str(settings.FEES_PER_CONTRACT_USD))
            trade.fees_usd = money(fee * 2 * (trade.quantity + closed_by_orders))
        trade.realized_pnl_usd = money(gross - trade.fees_usd)
    trade.save()
    return trade


def fills_gross_usd(trade: Trade, *, settlement_debit: Decimal | None) -> Decimal | None:
    """A trade's gross PnL in USD from its fills' cash: the credit received on the entry fills, less
    the debit paid on the closing fills and, when cash-settled, ``settlement_debit`` (points per
    share) on the contracts still held. None for a trade without entry fills.

    Exact, where the trade's averages are not: ``entry_credit`` and ``exit_debit`` are rounded to the
    cent, so a close filled 1 @ 1.85 + 1 @ 1.90 (average 1.875, stored 1.88) would book $1 less than
    the broker paid (found by the soak, ``bench/soak.py``). With fills at one price both agree.
    """
    fills = list(Fill.objects.filter(order__trade=trade).values_list("order__purpose", "quantity", "price"))
    entry = sum((price * quantity for purpose, quantity, price in fills if purpose == Order.Purpose.OPEN), Decimal(0))
    if not any(purpose == Order.Purpose.OPEN for purpose, _, _ in fills):
        return None
    paid = sum((price * quantity for purpose, quantity, price in fills if purpose == Order.Purpose.CLOSE), Decimal(0))
    if settlement_debit is not None:
        closed = sum(quantity for purpose, quantity, _ in fills if purpose == Order.Purpose.CLOSE)
        paid += Decimal(settlement_debit) * (trade.quantity - closed)
    return (entry - paid) * 100


# ------------------------------------------------------------------------------------ walking

def order_walk(order_id: int, *, broker: Broker | None = None, now: dt.datetime | None = None) -> Order:
    """A limit not filled within ``ORDER_WALK_AFTER_SECONDS`` moves one step toward the natural price;
    after ``ORDER_WALK_MAX_STEPS`` steps it is canceled with the reason (cancel/replace, never a re-POST)."""
    broker = broker or broker_get()
    now = now or timezone.now()
    order = Order.objects.get(pk=order_id)
    if order.state not in (OrderState.OPEN, OrderState.PARTIALLY_FILLED) or not order.broker_order_id:
        return order
    since = order.updated_at if order.walk_steps else (order.submitted_at or order.created_at)
    if (now - since).total_seconds() < settings.ORDER_WALK_AFTER_SECONDS:
        return order
    if order.walk_steps >= settings.ORDER_WALK_MAX_STEPS:
        order.reason = _reason_note(
            order, f"gave up after {order.walk_steps} price steps from {order.initial_limit_price}")
        try:
            result = broker.cancel(order.broker_order_id)
        except OrderOutcomeUnknown as exc:
            # The cancel may have taken effect (B1 #12): pending_cancel until a lookup says which.
            logger.warning("cancel of %s: outcome unknown (%s)", order.client_tag, exc)
            _set_state(order, OrderState.PENDING_CANCEL)
            order.save(update_fields=["state", "reason", "updated_at"])
            return order_sync(order.pk, broker=broker)
        except BrokerError as exc:
            logger.warning("cancel of %s failed: %s", order.client_tag, exc)
            return order
        order.save(update_fields=["reason", "updated_at"])
        logger.info("order %s canceled: %s (%s)", order.client_tag, order.reason, result)
        return order_sync(order.pk, broker=broker)
    step = Decimal(str(settings.ORDER_WALK_STEP))
    # Credit orders give up credit; debit orders pay more: both toward the natural price.
    new_price = order.limit_price - step if order.order_type == "credit" else order.limit_price + step
    if new_price <= 0:
        return order
    try:
        broker.replace_price(order.broker_order_id, new_price)
    except BrokerError as exc:
        logger.warning("walk of %s failed: %s", order.client_tag, exc)
        return order
    order.limit_price = new_price
    order.walk_steps += 1
    order.save(update_fields=["limit_price", "walk_steps", "updated_at"])
    return order_sync(order.pk, broker=broker)


# ------------------------------------------------------------------------------------ reconcile

_reconciled_in_process = False


def orders_reconcile(*, broker: Broker | None = None) -> dict[str, int]:
    """Resolve every in-flight order: submit ``new`` rows, look up the rest by id or by tag."""
    broker = broker or broker_get()
    counts = {"submitted": 0, "synced": 0}
    for order in Order.objects.filter(state=OrderState.NEW).order_by("pk"):
        order_submit(order.pk, broker=broker)
        counts["submitted"] += 1
    for order in Order.objects.filter(state__in=WORKING).order_by("pk"):
        order_sync(order.pk, broker=broker)
        counts["synced"] += 1
    return counts


def broker_orders_unmatched(*, broker: Broker | None = None) -> dict[str, int]:
    """Adopt the broker's orders of today that no ``Order`` row knows (reliability B1 #13, #14).

    ``orphans`` carry our tag prefix but have no row (placed by a process that died before its
    commit, or by another installation): adopted as ``recovered``. ``external`` orders have no tag
    of ours (placed by hand): adopted as ``external``. Either becomes one ``AdoptedOrder`` row keyed
    by the broker order id, never attributed to a strategy, never re-sent, re-priced or canceled;
    a later pass only copies the broker's state and fills onto it. ``adopted`` counts new rows.
    """
    broker = broker or broker_get()
    counts = {"orphans": 0, "external": 0, "adopted": 0}
    try:
        at_broker = broker.list_orders()
    except BrokerError as exc:
        logger.warning("reconcile: could not list the broker's orders: %s", exc)
        return counts
    known_ids = set(Order.objects.exclude(broker_order_id="").values_list("broker_order_id", flat=True))
    known_tags = set(Order.objects.filter(client_tag__in=[o.client_tag for o in at_broker if o.client_tag])
                     .values_list("client_tag", flat=True))
    for o in at_broker:
        if o.broker_order_id in known_ids or (o.client_tag and o.client_tag in known_tags):
            continue
        ours = bool(o.client_tag and o.client_tag.startswith(TAG_PREFIX))
        counts["orphans" if ours else "external"] += 1
        row, created = _adopt(o, origin=AdoptedOrder.Origin.RECOVERED if ours else AdoptedOrder.Origin.EXTERNAL)
        if not created:
            continue
        counts["adopted"] += 1
        if ours:
            logger.error("reconcile: broker order %s carries our tag %s but no order row knows it (%s): "
                         "adopted as recovered, not attributed to a strategy", o.broker_order_id, o.client_tag, o.status)
        else:
            logger.warning("reconcile: external broker order %s (tag %r, %s) adopted as external, "
                           "not attributed to a strategy", o.broker_order_id, o.client_tag, o.status)
    return counts


def _adopt(o: BrokerOrder, *, origin: str) -> tuple[AdoptedOrder, bool]:
    """One row per broker order id (the unique key): created once, then refreshed from the broker's report."""
    legs = [{"option_symbol": leg.option_symbol, "side": leg.side, "quantity": leg.quantity,
             "exec_quantity": leg.exec_quantity} for leg in o.legs]
    fields = {"state": o.status.value, "raw_status": o.raw_status[:40], "order_type": (o.order_type or "")[:12],
              "quantity": o.quantity, "limit_price": cents_or_none(o.price), "filled_quantity": o.filled_quantity,
              "avg_fill_price": cents_or_none(o.avg_fill_price), "legs": legs, "last_synced_at": timezone.now()}
    try:
        with transaction.atomic():
            return AdoptedOrder.objects.update_or_create(
                broker_order_id=o.broker_order_id, defaults=fields,
                create_defaults={**fields, "origin": origin, "broker": settings.EXECUTION_BROKER,
                                 "client_tag": o.client_tag or "", "broker_created_at": o.created_at})
    except IntegrityError:  # a concurrent pass adopted it first: the key holds, refresh that row
        AdoptedOrder.objects.filter(broker_order_id=o.broker_order_id).update(**fields)
        return AdoptedOrder.objects.get(broker_order_id=o.broker_order_id), False


def adopted_orders_sync(*, broker: Broker | None = None) -> dict[str, int] | None:
    """Refresh adopted orders still working (their later fills), one order list read; None if none works."""
    if not AdoptedOrder.objects.filter(state__in=WORKING + (OrderState.NEW,)).exists():
        return None
    return broker_orders_unmatched(broker=broker)


def ensure_reconciled() -> None:
    """Once per process, before its first trading job (restart with orders in flight, B1 #13):
    resolve every local in-flight order, then adopt the broker's orders no row knows."""
    global _reconciled_in_process
    if _reconciled_in_process:
        return
    counts = orders_reconcile()
    counts.update(broker_orders_unmatched())
    _reconciled_in_process = True
    if any(counts.values()):
        logger.info("reconciled at start: %s", counts)


# ------------------------------------------------------------------------------------ marks & exits

def _leg_quotes(options: list[dict[str, Any]], symbols: set[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for o in options:
        if o.get("symbol") in symbols and isinstance(o.get("bid"), (int, float)) and isinstance(o.get("ask"), (int, float)):
            out[str(o["symbol"])] = (float(o["bid"]), float(o["ask"]))
    return out


def trade_mark(trade: Trade, *, at: dt.datetime, broker: Broker | None = None) -> PositionMark | None:
    """Value an open trade from the latest snapshot of its expiration; submit one closing order at
    TP/SL or its time exit — the rules frozen on its decision (``exit_rules_of``), the mark's stamp
    being the snapshot's slot."""
    from snapshots.models import ChainSnapshot

    snap = (ChainSnapshot.objects.filter(underlying=settings.SNAPSHOT_UNDERLYING, expiration=trade.expiration,
                                         ts__lte=at, ts__gte=at - dt.timedelta(minutes=settings.MARK_MAX_SNAPSHOT_AGE_MINUTES))
            .order_by("-ts").first())
    if snap is None:
        return None
    legs = list(trade.legs.all())
    quotes = _leg_quotes(snap.payload_options(), {leg.symbol for leg in legs})
    short = next(leg for leg in legs if leg.side == "sell")
    long_ = next(leg for leg in legs if leg.side == "buy")
    if short.symbol not in quotes or long_.symbol not in quotes:
        return None
    (sb, sa), (lb, la) = quotes[short.symbol], quotes[long_.symbol]
    credit = float(trade.entry_credit or 0)
    exits = exit_rules_of(trade.decision.config_params)
    time_exit = rules.time_exit_for(exits, expiration=trade.expiration,
                                    settles_at=settlement_for(trade.expiration, trade.root))
    step = rules.mark_step(sb, sa, lb, la, entry_credit=credit, width_points=float(trade.width_points),
                           exit_rules=exits, at=snap.ts, time_exit=time_exit)
    if step is None:
        return None  # a leg without a usable quote: no mark rather than a made-up one
    debit_mid, debit_fill, signal = step
    mark, _ = PositionMark.objects.update_or_create(
        trade=trade, ts=snap.ts,
        defaults={"snapshot": snap, "debit_mid": money(debit_mid), "debit_fill": money(debit_fill),
                  "unrealized_pnl_usd": money(rules.pnl_usd(credit, debit_fill, open_quantity(trade))),
                  "signal": signal.reason if signal else ""},
    )
    if signal is not None and trade.status == Trade.Status.OPEN:
        order = close_order_create(trade, limit_price=Decimal(str(debit_fill)), reason=f"{signal.reason}: {signal.message}",
                                   now=at)
        if order is not None:
            order_submit(order.pk, broker=broker, now=at)
    return mark


def close_order_create(trade: Trade, *, limit_price: Decimal, reason: str,
                       now: dt.datetime | None = None) -> Order | None:
    """One closing order per attempt (unique on trade + attempt); None if one is already working.
    ``now`` stamps its ``created_at`` (the mark's slot; the clock when not given)."""
    with transaction.atomic():
        trade = Trade.objects.select_for_update().get(pk=trade.pk)
        if trade.status != Trade.Status.OPEN:
            return None
        if trade.orders.filter(purpose=Order.Purpose.CLOSE, state__in=WORKING + (OrderState.NEW,)).exists():
            return None
        attempt = trade.orders.filter(purpose=Order.Purpose.CLOSE).count() + 1
        quantity = open_quantity(trade)  # what an earlier, partly filled close left
        legs = [{"option_symbol": leg.symbol, "side": "buy_to_close" if leg.side == "sell" else "sell_to_close",
                 "quantity": quantity} for leg in trade.legs.order_by("-side")]
        order = Order.objects.create(
            client_tag=new_client_tag("close"), trade=trade, purpose=Order.Purpose.CLOSE, attempt=attempt,
            source=trade.source, broker=settings.EXECUTION_BROKER, order_type="debit", limit_price=money(limit_price),
            initial_limit_price=money(limit_price), quantity=quantity, legs=legs, reason=reason,
            created_at=now or timezone.now(),
        )
        trade.status = Trade.Status.CLOSING
        trade.save(update_fields=["status"])
    return order


def positions_mark(*, at: dt.datetime, broker: Broker | None = None) -> int:
    marked = 0
    trades = (Trade.objects.filter(status__in=[Trade.Status.OPEN, Trade.Status.CLOSING]).exclude(source="backtest")
              .select_related("decision"))
    for trade in trades:
        if trade_mark(trade, at=at, broker=broker) is not None:
            marked += 1
    return marked


def trades_settle(*, now: dt.datetime, settlement_value: Any) -> list[Trade]:
    """Cash-settle trades still open after their settlement instant.

    ``settlement_value(expiration, root) -> (price, source) | None`` comes from the provider
    (SPXW: the 16:00 ET close, 13:00 on early-close days; SPX AM: the opening settlement value).
    """

    settled = []
    for trade in Trade.objects.filter(status__in=[Trade.Status.OPEN, Trade.Status.CLOSING]).exclude(source="backtest"):
        settles_at = settlement_for(trade.expiration, trade.root)
        if settles_at > now:
            continue
        value = settlement_value(trade.expiration, trade.root)
        if value is None:
            continue
        price, source = value
        debit = rules.settlement_value(as_side(trade.side), float(trade.short_strike), float(trade.long_strike),
                                       float(price))
        with transaction.atomic():
            trade_close(trade, exit_debit=Decimal(str(debit)), reason=Trade.ExitReason.SETTLEMENT,
                        source=source, settlement_price=money(price), at=settles_at)
        settled.append(trade)
    return settled
