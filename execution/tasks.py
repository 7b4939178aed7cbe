"""Celery entry points for execution: thin, idempotent, and reconciled before any trading work."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone


def _window_run(window_iso: str | None) -> None:
    from execution import services
    from strategy.quant.timemodel import NEW_YORK

    if window_iso:
        at = dt.datetime.fromisoformat(window_iso)
    else:
        # Beat fires on the hour; pin the window so a late start or a retry keeps its key.
        at = timezone.now().astimezone(NEW_YORK).replace(minute=0, second=0, microsecond=0)
    services.entry_window_trade(at=at)


@shared_task(acks_late=True)
def entry_window_run(window_iso: str | None = None) -> None:
    """At 10:00, 11:00 and 12:00 ET: decide every enabled config; each TRADE is handed to ``trade_open``."""
    _window_run(window_iso)


@shared_task(acks_late=True, name="strategy.tasks.entry_window_run")
def entry_window_run_alias(window_iso: str | None = None) -> None:
    """The task's name before it moved here: messages queued under it (and older beat rows) still run."""
    _window_run(window_iso)


@shared_task(bind=True, acks_late=True)
def trade_open(self, decision_id: int) -> None:
    """Hand-over from a TRADE decision: trade + entry order row (committed), then submit once.

    Queued after the decision's commit; should it still arrive first (or the row be on a replica
    not caught up), the missing row is retried with backoff, a few times, instead of lost."""
    from execution import services
    from strategy.models import TradeDecision

    try:
        decision = TradeDecision.objects.get(pk=decision_id)
    except TradeDecision.DoesNotExist as exc:
        raise self.retry_later(exc) from exc
    services.ensure_reconciled()
    trade = services.trade_open(decision=decision)
    for order in trade.orders.filter(state="new"):
        services.order_submit(order.pk)


@shared_task(acks_late=True)
def orders_sync() -> None:
    """Every minute: poll working orders (fills, states) and walk unfilled limits. Adopted broker
    orders (recovered, external) are only read, never walked or canceled: their state and fills."""
    from execution import services
    from execution.models import Order

    services.ensure_reconciled()  # the first run in a process also adopts what no row knows
    services.adopted_orders_sync()
    for order_id in Order.objects.filter(state__in=services.WORKING).values_list("pk", flat=True):
        services.order_sync(order_id)
        services.order_walk(order_id)
    # A fill can be reported after the cancel was confirmed: keep reading the day's canceled and
    # expired orders that did not fill completely.
    for order_id in services.recently_ended_unfilled().values_list("pk", flat=True):
        services.order_sync(order_id)


@shared_task(acks_late=True)
def positions_mark() -> None:
    """Every 5 minutes in the session (a minute after the capture): marks, TP/SL exits, settlement."""
    from execution import services
    from snapshots.services import settlement_value_get

    services.ensure_reconciled()
    now = timezone.now()
    services.positions_mark(at=now)
    services.trades_settle(now=now, settlement_value=settlement_value_get)
