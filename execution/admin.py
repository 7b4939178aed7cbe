"""Admin for the execution models. Rows are written by the services only (orders move through the
state machine, money is computed from fills), so every field is read-only here; the operator acts
through the actions, which call the same services as the workers and management commands."""

from __future__ import annotations

import pickle
from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from execution import selectors, services
from execution.brokers.base import BrokerError, OrderOutcomeUnknown
from execution.brokers.simulated import SimOrder
from execution.models import AdoptedOrder, Fill, Order, PositionMark, SimulatedBrokerOrder, Trade, TradeLeg
from execution.order_states import OrderState, is_terminal

# Broker construction refuses bad settings with ValueError (e.g. a live URL without TRADIER_ALLOW_LIVE);
# neither it nor BrokerError ever carries the access token, so their text is safe to show.
BROKER_FAILURES = (BrokerError, ValueError)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewing and actions only: adding or editing a row here would bypass the services' rules.

    Each action names the custom permission it needs (``Meta.permissions``): viewing a trade or an
    order is not a licence to send orders about it. Django hides an action the user may not run and
    refuses it when posted anyway."""

    def has_reconcile_orders_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("execution.reconcile_orders")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # trades, orders and fills are the audit trail; PROTECT keeps them anyway


class TradeLegInline(admin.TabularInline):
    model = TradeLeg
    fields = ("side", "symbol", "strike", "option_type", "quantity", "entry_price", "exit_price")
    readonly_fields = fields
    extra = 0
    can_delete = False


class OrderInline(admin.TabularInline):
    model = Order
    fields = ("created_at", "purpose", "attempt", "state", "client_tag", "order_type", "limit_price",
              "filled_quantity", "avg_fill_price", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = ("id", "opened_at", "strategy_config", "source", "side", "expiration", "strikes", "quantity",
                    "entry_credit", "take_profit_debit", "stop_loss_debit", "status", "exit_reason",
                    "realized_pnl_usd", "fees_usd")
    list_filter = ("status", "source", "exit_reason", "side", "strategy_config")
    list_select_related = ("strategy_config",)
    raw_id_fields = ("decision", "strategy_config")
    date_hierarchy = "opened_at"
    inlines = (TradeLegInline, OrderInline)
    actions = ("close_now", "reconcile")

    @admin.display(description="strikes")
    def strikes(self, obj: Trade) -> str:
        # normalize() drops the stored trailing zeros (6940.000 → 6940) that ":g" keeps on a Decimal
        return f"{obj.short_strike.normalize():f}/{obj.long_strike.normalize():f}"

    def has_close_trade_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("execution.close_trade")

    @admin.action(description="Close now at the latest mark (fill-model debit)", permissions=["close_trade"])
    def close_now(self, request: HttpRequest, queryset: QuerySet[Trade]) -> None:
        for trade in queryset:
            mark = selectors.latest_mark(trade)
            if mark is None:
                self.message_user(request, f"trade {trade.pk}: no mark to price the close from; "
                                           f"use `manage.py close_trade {trade.pk} --price …`", messages.WARNING)
                continue
            order = services.close_order_create(trade, limit_price=mark.debit_fill, reason="manual: operator")
            if order is None:
                trade.refresh_from_db(fields=["status"])
                self.message_user(request, f"trade {trade.pk} is {trade.status}: nothing to close, or a closing "
                                           f"order is already working", messages.WARNING)
                continue
            # The mark's time goes in the message: an old mark's price may be far from the market now.
            label = (f"trade {trade.pk}: closing order {order.client_tag} at {order.limit_price} "
                     f"(mark of {timezone.localtime(mark.ts):%m-%d %H:%M} ET)")
            try:
                order = services.order_submit(order.pk)
            except BROKER_FAILURES as exc:
                # The row and its tag are committed: reconciliation finds out what happened, never a re-send.
                self.message_user(request, f"{label} not confirmed ({exc}); Reconcile resolves it", messages.ERROR)
                continue
            if order.state == OrderState.REJECTED:
                self.message_user(request, f"{label} rejected: {order.reason}", messages.ERROR)
            else:
                self.message_user(request, f"{label} is {order.state}", messages.SUCCESS)

    @admin.action(description="Reconcile every in-flight order with the broker", permissions=["reconcile_orders"])
    def reconcile(self, request: HttpRequest, queryset: QuerySet[Trade]) -> None:
        _reconcile(self, request)


def _reconcile(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    try:
        counts = services.orders_reconcile()
    except BROKER_FAILURES as exc:
        model_admin.message_user(request, f"reconciliation stopped: {exc}", messages.ERROR)
        return
    model_admin.message_user(request, f"reconciled: {counts['submitted']} submitted, {counts['synced']} synced")


class FillInline(admin.TabularInline):
    model = Fill
    fields = ("filled_at", "quantity", "price", "fill_key")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("client_tag", "created_at", "trade", "purpose", "attempt", "state", "order_type", "limit_price",
                    "initial_limit_price", "quantity", "filled_quantity", "avg_fill_price", "walk_steps", "broker",
                    "broker_order_id", "trade_pnl_usd", "reason")
    list_filter = ("state", "purpose", "source", "broker")
    list_select_related = ("trade",)
    raw_id_fields = ("trade",)
    search_fields = ("client_tag", "broker_order_id")
    date_hierarchy = "created_at"
    inlines = (FillInline,)
    actions = ("cancel_order", "reconcile")

    @admin.display(description="trade PnL (USD)")
    def trade_pnl_usd(self, obj: Order) -> Decimal | None:
        return obj.trade.realized_pnl_usd

    def has_cancel_order_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("execution.cancel_order")

    @admin.action(description="Cancel order at the broker", permissions=["cancel_order"])
    def cancel_order(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        try:
            broker = services.broker_get()
        except BROKER_FAILURES as exc:
            self.message_user(request, f"broker unavailable: {exc}", messages.ERROR)
            return
        for order in queryset:
            if is_terminal(OrderState(order.state)):
                self.message_user(request, f"order {order.client_tag} is already {order.state}", messages.WARNING)
                continue
            if not order.broker_order_id:
                # Never sent, or its outcome is unknown: only a lookup by tag can say whether it exists.
                self.message_user(request, f"order {order.client_tag} ({order.state}) has no broker order id; "
                                           f"Reconcile looks it up by tag first", messages.WARNING)
                continue
            try:
                result = broker.cancel(order.broker_order_id)
            except OrderOutcomeUnknown as exc:
                # The cancel may or may not have taken effect: only a lookup says which, never a second cancel.
                order = services.order_sync(order.pk, broker=broker)
                self.message_user(request, f"order {order.client_tag}: cancel outcome unknown ({exc}); looked up: "
                                           f"{order.state}", messages.WARNING)
                continue
            except BROKER_FAILURES as exc:
                self.message_user(request, f"order {order.client_tag}: cancel failed: {exc}", messages.ERROR)
                continue
            order = services.order_sync(order.pk, broker=broker)
            said = "was already final" if result.already_final else "accepted the cancel"
            self.message_user(request, f"order {order.client_tag}: the broker {said}; now {order.state}")

    @admin.action(description="Reconcile every in-flight order with the broker", permissions=["reconcile_orders"])
    def reconcile(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        _reconcile(self, request)


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("filled_at", "order", "quantity", "price", "fill_key", "trade_pnl_usd")
    list_select_related = ("order", "order__trade")
    raw_id_fields = ("order",)
    search_fields = ("fill_key", "order__client_tag")
    date_hierarchy = "filled_at"

    @admin.display(description="trade PnL (USD)")
    def trade_pnl_usd(self, obj: Fill) -> Decimal | None:
        return obj.order.trade.realized_pnl_usd


@admin.register(TradeLeg)
class TradeLegAdmin(ReadOnlyAdmin):
    list_display = ("trade", "side", "symbol", "strike", "option_type", "quantity", "entry_price", "exit_price",
                    "trade_pnl_usd")
    list_select_related = ("trade",)
    raw_id_fields = ("trade",)
    search_fields = ("symbol",)

    @admin.display(description="trade PnL (USD)")
    def trade_pnl_usd(self, obj: TradeLeg) -> Decimal | None:
        return obj.trade.realized_pnl_usd


@admin.register(PositionMark)
class PositionMarkAdmin(ReadOnlyAdmin):
    list_display = ("ts", "trade", "debit_mid", "debit_fill", "unrealized_pnl_usd", "signal", "snapshot_id")
    list_filter = ("signal",)
    list_select_related = ("trade",)  # not the snapshot: its row carries the compressed chain
    raw_id_fields = ("trade", "snapshot")
    date_hierarchy = "ts"


@admin.register(AdoptedOrder)
class AdoptedOrderAdmin(ReadOnlyAdmin):
    """Broker orders no row knew, adopted by reconciliation (B1 #13, #14): shown, never acted on."""

    list_display = ("broker_order_id", "origin", "client_tag", "state", "order_type", "quantity", "limit_price",
                    "filled_quantity", "avg_fill_price", "broker_created_at", "last_synced_at")
    list_filter = ("origin", "state")
    search_fields = ("broker_order_id", "client_tag")
    readonly_fields = ("broker_order_id", "origin", "broker", "client_tag", "state", "raw_status", "order_type",
                       "quantity", "limit_price", "filled_quantity", "avg_fill_price", "legs", "broker_created_at",
                       "adopted_at", "last_synced_at")
    list_select_related = False  # no foreign keys: not a strategy's order


@admin.register(SimulatedBrokerOrder)
class SimulatedBrokerOrderAdmin(ReadOnlyAdmin):
    list_display = ("broker_order_id", "client_tag", "created_at", "status", "order_type", "limit_price",
                    "filled_quantity", "avg_fill_price")
    list_select_related = False  # no foreign keys: the simulated book is keyed by broker order id
    search_fields = ("broker_order_id", "client_tag")
    exclude = ("record",)  # pickled; the columns below read it
    readonly_fields = ("broker_order_id", "client_tag", "created_at", "status", "order_type", "limit_price",
                       "filled_quantity", "avg_fill_price")

    @staticmethod
    def _record(obj: SimulatedBrokerOrder) -> SimOrder:
        if not hasattr(obj, "_sim_record"):  # one unpickling per row, not one per column
            # Written only by this project's simulated broker (see the model), never from outside input.
            obj._sim_record = pickle.loads(bytes(obj.record))  # type: ignore[attr-defined]  # noqa: S301
        record: SimOrder = getattr(obj, "_sim_record")
        return record

    @admin.display(description="status")
    def status(self, obj: SimulatedBrokerOrder) -> str:
        return str(self._record(obj).status)

    @admin.display(description="type")
    def order_type(self, obj: SimulatedBrokerOrder) -> str:
        return str(self._record(obj).request.order_type)

    @admin.display(description="limit")
    def limit_price(self, obj: SimulatedBrokerOrder) -> Decimal:
        return self._record(obj).limit_price

    @admin.display(description="filled")
    def filled_quantity(self, obj: SimulatedBrokerOrder) -> int:
        return self._record(obj).exec_quantity

    @admin.display(description="avg fill")
    def avg_fill_price(self, obj: SimulatedBrokerOrder) -> Decimal | None:
        record = self._record(obj)
        return (record.filled_value / record.exec_quantity).quantize(Decimal("0.01")) if record.exec_quantity else None
