"""Orders, fills, trades, their legs and marks. Money is Decimal (points per share or USD as named)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from execution.order_states import OrderState
from strategy.models import Source  # one definition of where a row comes from

__all__ = ["AdoptedOrder", "Fill", "Order", "PositionMark", "SimulatedBrokerOrder", "Source", "Trade", "TradeLeg"]


class Trade(models.Model):
    """A credit spread position, opened from a filled entry order at the real fill price.

    TP/SL thresholds are debits to close (points per share), from the exit rules frozen on its
    decision: take profit at ≤ (1 − f) × credit, stop at ≥ (1 + m) × credit (defaults 0.5 × and
    2 × credit: +50 % / −100 % of max profit); an optional time exit. Closed by a filled exit order
    or by cash settlement.
    """

    class Status(models.TextChoices):
        OPENING = "opening", "entry order working"
        OPEN = "open"
        CLOSING = "closing", "exit order working"
        CLOSED = "closed"
        NOT_FILLED = "not_filled", "entry never filled"
        OPEN_AT_END = "open_at_end", "open at the end of the data (backtest; valued at its last mark)"

    class ExitReason(models.TextChoices):
        TAKE_PROFIT = "take_profit"
        STOP_LOSS = "stop_loss"
        TIME_EXIT = "time_exit", "time exit"
        SETTLEMENT = "settlement"
        MANUAL = "manual", "closed by the operator"

    decision = models.OneToOneField("strategy.TradeDecision", on_delete=models.PROTECT, related_name="trade")
    strategy_config = models.ForeignKey("strategy.StrategyConfig", on_delete=models.PROTECT, related_name="trades")
    source = models.CharField(max_length=12, choices=Source.choices)
    backtest_run = models.ForeignKey("backtests.BacktestRun", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="trades", help_text="the backtest that wrote this row; empty for live")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPENING)
    side = models.CharField(max_length=12)  # put_credit | call_credit
    root = models.CharField(max_length=6)
    expiration = models.DateField()
    quantity = models.PositiveSmallIntegerField()
    short_strike = models.DecimalField(max_digits=10, decimal_places=3)
    long_strike = models.DecimalField(max_digits=10, decimal_places=3)
    width_points = models.DecimalField(max_digits=8, decimal_places=2)
    entry_credit = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                       help_text="filled credit, points per share (on the 0.05 tick)")
    max_profit_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    max_loss_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    take_profit_debit = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                            help_text="entry credit × (1 − take-profit fraction), rounded half up to the cent")
    stop_loss_debit = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                          help_text="entry credit × (1 + stop-loss multiple), rounded half up to the cent")
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=12, choices=ExitReason.choices, blank=True)
    exit_debit = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                     help_text="closing debit (fill model: rounded up to the 0.05 tick) or settlement value")
    settlement_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    settlement_source = models.CharField(max_length=200, blank=True,
                                         help_text="where the exit or settlement value came from")
    fees_usd = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    realized_pnl_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                           help_text="(entry credit − exit debit) × 100 × quantity − fees")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "trades"
        ordering = ["-opened_at", "-pk"]
        # Acting on a trade, beyond viewing it: checked by the admin action and any page or API doing the same.
        permissions = [("close_trade", "Can close a trade (send its closing order)")]
        indexes = [
            models.Index(fields=["source", "status"]), models.Index(fields=["source", "closed_at"]),
            # A run's trades newest first (its page and API): a page reads its rows, not the run's thousands.
            models.Index(fields=["backtest_run", "-opened_at", "-id"], name="trade_run_opened_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.root} {self.expiration} {self.side} {float(self.short_strike):g}/{float(self.long_strike):g} ×{self.quantity}"


class TradeLeg(models.Model):
    class LegSide(models.TextChoices):
        SELL = "sell"
        BUY = "buy"

    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="legs")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=LegSide.choices)
    strike = models.DecimalField(max_digits=10, decimal_places=3)
    option_type = models.CharField(max_length=4)
    quantity = models.PositiveSmallIntegerField()
    entry_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    exit_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)

    class Meta:
        db_table = "trade_legs"
        constraints = [models.UniqueConstraint(fields=["trade", "symbol"], name="trade_leg_uniq")]

    def __str__(self) -> str:
        return f"{self.side} {self.symbol}"


class Order(models.Model):
    """One order at the broker. The row and its client tag are committed before the broker is called,
    so a timeout is reconciled by tag and a retry never places a second order."""

    class Purpose(models.TextChoices):
        OPEN = "open"
        CLOSE = "close"

    client_tag = models.CharField(max_length=64, unique=True)
    trade = models.ForeignKey(Trade, on_delete=models.PROTECT, related_name="orders")
    purpose = models.CharField(max_length=5, choices=Purpose.choices)
    attempt = models.PositiveSmallIntegerField(default=1, help_text="closing attempts count up; entries are 1")
    source = models.CharField(max_length=12, choices=Source.choices)
    broker = models.CharField(max_length=12)  # tradier | simulated
    broker_order_id = models.CharField(max_length=40, blank=True, db_index=True)
    state = models.CharField(max_length=20, choices=[(s.value, s.value) for s in OrderState], default=OrderState.NEW)
    order_type = models.CharField(max_length=6)  # credit | debit
    limit_price = models.DecimalField(max_digits=8, decimal_places=2)
    initial_limit_price = models.DecimalField(max_digits=8, decimal_places=2)
    quantity = models.PositiveSmallIntegerField()
    legs = models.JSONField(help_text="[{option_symbol, side, quantity}]")
    filled_quantity = models.PositiveSmallIntegerField(default=0)
    avg_fill_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    walk_steps = models.PositiveSmallIntegerField(default=0)
    reason = models.TextField(blank=True, help_text="rejection, give-up or unknown-outcome reason")
    not_found_checks = models.PositiveSmallIntegerField(default=0)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Not auto_now_add: a replayed day (the demo) stamps its orders with the slot's simulated time.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "orders"
        ordering = ["-created_at"]
        permissions = [
            ("cancel_order", "Can cancel an order at the broker"),
            ("reconcile_orders", "Can reconcile in-flight orders with the broker (submits new ones)"),
        ]
        constraints = [
            # One entry order per trade, and one order per closing attempt: the business keys.
            models.UniqueConstraint(fields=["trade", "purpose", "attempt"], name="order_attempt_uniq"),
        ]
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.purpose} {self.order_type} {self.limit_price} [{self.state}] {self.client_tag}"


class AdoptedOrder(models.Model):
    """A broker order that no ``Order`` row knows, adopted by reconciliation (reliability B1 #13, #14).

    Its own table, not an ``Order``: it has no trade, decision or strategy config, and no strategy
    job (submit, sync, walk, cancel, close) reads this table, so it is never re-sent, re-priced or
    closed automatically; every entry ``Order`` of a TRADE decision keeps its trade. Keyed by the
    broker order id (a second reconcile updates, never adds). State and fills are copied from the
    broker's own report on each reconcile; its filled spreads are shown as their own position lines.
    """

    class Origin(models.TextChoices):
        RECOVERED = "recovered", "recovered (our tag, no local row)"
        EXTERNAL = "external", "external (placed outside this platform)"

    broker_order_id = models.CharField(max_length=40, unique=True)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    broker = models.CharField(max_length=12)  # tradier | simulated
    client_tag = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=20, choices=[(s.value, s.value) for s in OrderState])
    raw_status = models.CharField(max_length=40, blank=True)
    order_type = models.CharField(max_length=12, blank=True)  # credit | debit | as the broker says
    quantity = models.PositiveIntegerField(default=0)
    limit_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    filled_quantity = models.PositiveIntegerField(default=0, help_text="spreads filled, as the broker reports")
    avg_fill_price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                         help_text="net package price, points per share (positive)")
    legs = models.JSONField(default=list, help_text="[{option_symbol, side, quantity, exec_quantity}]")
    broker_created_at = models.DateTimeField(null=True, blank=True)
    adopted_at = models.DateTimeField(default=timezone.now, editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "adopted_orders"
        ordering = ["-adopted_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.origin} {self.broker_order_id} [{self.state}] {self.filled_quantity}/{self.quantity}"


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    fill_key = models.CharField(max_length=80, help_text="broker order id + cumulative quantity: dedupes reports")
    quantity = models.PositiveSmallIntegerField()
    price = models.DecimalField(max_digits=8, decimal_places=2, help_text="net package price, points per share")
    filled_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "fills"
        constraints = [models.UniqueConstraint(fields=["order", "fill_key"], name="fill_dedupe_uniq")]
        ordering = ["filled_at"]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price}"


class PositionMark(models.Model):
    """An open trade valued at one snapshot slot: the debit to close at mid and by the fill model."""

    trade = models.ForeignKey(Trade, on_delete=models.CASCADE, related_name="marks")
    ts = models.DateTimeField(help_text="snapshot slot, UTC")
    snapshot = models.ForeignKey("snapshots.ChainSnapshot", null=True, blank=True, on_delete=models.SET_NULL)
    debit_mid = models.DecimalField(max_digits=8, decimal_places=2, help_text="short mid − long mid, rounded half up to the cent")
    debit_fill = models.DecimalField(max_digits=8, decimal_places=2,
                                     help_text="fill model: mid + 0.30 × combo spread, rounded up to the 0.05 tick, "
                                               "between one tick and the width")
    unrealized_pnl_usd = models.DecimalField(max_digits=12, decimal_places=2)
    signal = models.CharField(max_length=12, blank=True, help_text="take_profit / stop_loss / time_exit when this mark triggered one")

    class Meta:
        db_table = "position_marks"
        constraints = [models.UniqueConstraint(fields=["trade", "ts"], name="position_mark_slot_uniq")]
        ordering = ["ts"]


class SimulatedBrokerOrder(models.Model):
    """The simulated broker's book, kept in the database so web, worker and beat processes share it.

    ``record`` is the broker's own order record (``execution.brokers.simulated.SimOrder``),
    pickled: it is written and read only by this project's code, never from outside input.
    """

    broker_order_id = models.CharField(max_length=40, primary_key=True)
    client_tag = models.CharField(max_length=255, db_index=True)
    created_at = models.DateTimeField()
    record = models.BinaryField()

    class Meta:
        db_table = "simulated_broker_orders"
        ordering = ["created_at"]
