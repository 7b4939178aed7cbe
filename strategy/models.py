from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from strategy.quant.decision import DEFAULT_ML_GROUP
from strategy.quant.types import MAX_MINUTES_BEFORE_SETTLEMENT, MAX_TARGET_DTE, weekdays_of

SESSION_OPEN_ET = dt.time(9, 30)
LAST_EXIT_TIME_ET = dt.time(15, 59)  # SPXW settles at 16:00 ET; a time exit at or after it never comes


def default_take_profit_fraction() -> Decimal:
    """New configs' take-profit fraction: the ``TAKE_PROFIT_FRACTION`` setting (0.5)."""
    return Decimal(str(settings.TAKE_PROFIT_FRACTION)).quantize(Decimal("0.001"))


def default_stop_loss_multiple() -> Decimal:
    """New configs' stop-loss multiple: the ``STOP_LOSS_CREDITS`` setting (1.0)."""
    return Decimal(str(settings.STOP_LOSS_CREDITS)).quantize(Decimal("0.001"))


class Source(models.TextChoices):
    """Where a decision or trade comes from (one definition; ``execution`` uses it too)."""

    LIVE_PAPER = "live_paper", "live paper (Tradier sandbox)"
    SIMULATED = "simulated", "simulated market and broker"
    BACKTEST = "backtest", "backtest"


class StrategyConfig(models.Model):
    """One credit-spread configuration the entry windows decide on (edited by the operator in admin)."""

    class Side(models.TextChoices):
        PUT_CREDIT = "put_credit", "put credit spread"
        CALL_CREDIT = "call_credit", "call credit spread"

    name = models.CharField(max_length=60, unique=True)
    enabled = models.BooleanField(default=True)
    side = models.CharField(max_length=12, choices=Side.choices)
    target_dte = models.PositiveSmallIntegerField(
        help_text="DTE bucket, 0 to 7 calendar days (0: the expiration of the entry day, settled that day); "
                  "reads that bucket's snapshots, so live needs it in SNAPSHOT_DTE_TARGETS")
    short_delta_target = models.DecimalField(
        max_digits=4, decimal_places=3, validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("0.99"))],
        help_text="|delta| of the short leg, e.g. 0.10",
    )
    width_points = models.DecimalField(max_digits=7, decimal_places=2, default=Decimal("25"),
                                       validators=[MinValueValidator(Decimal("0.05"))])
    quantity = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    min_credit = models.DecimalField(max_digits=7, decimal_places=2, default=Decimal("0.50"),
                                     help_text="smallest fill-model credit to trade, points per share")
    max_combo_spread = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True,
                                           default=Decimal("1.50"), help_text="points; blank = no limit")
    max_combo_spread_frac = models.DecimalField(max_digits=5, decimal_places=3, null=True, blank=True,
                                                default=Decimal("0.50"), help_text="of the mid credit; blank = no limit")
    max_width_mult = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("1.50"), validators=[MinValueValidator(Decimal("1"))],
        help_text="the long leg may sit up to this multiple of the width from the short strike when the strike "
                  "at the width is missing or one-sided (1.5 × 25 = 37.5 points); beyond it SKIP no_long_leg",
    )
    max_snapshot_age_minutes = models.PositiveSmallIntegerField(default=10)
    max_open_trades = models.PositiveSmallIntegerField(default=1)
    max_new_trades_per_day = models.PositiveSmallIntegerField(default=1)
    no_new_after_stop = models.BooleanField(default=True, help_text="no new trade after a stop-loss that day")
    priority = models.PositiveSmallIntegerField(default=100, help_text="lower goes first when limits allow fewer trades")
    ml_group = models.CharField(
        max_length=40, default=DEFAULT_ML_GROUP,
        help_text="strategy group of the meta-labeler: the group's one active model gates this config's entries")
    # Exits (README "The rules, exactly"): frozen on every decision with the rest of the config.
    take_profit_fraction = models.DecimalField(
        max_digits=4, decimal_places=3, default=default_take_profit_fraction,
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(Decimal("1"))],
        help_text="take profit when the debit to close <= (1 - this) x entry credit: 0.5 keeps +50 % of max profit; "
                  "in (0, 1]")
    stop_loss_multiple = models.DecimalField(
        max_digits=6, decimal_places=3, default=default_stop_loss_multiple,
        validators=[MinValueValidator(Decimal("0.001"))],
        help_text="stop when the loss reaches this x entry credit, i.e. the debit to close >= (1 + this) x credit: "
                  "1.0 = -100 % of max profit (debit 2 x credit); above 0")
    exit_at_time = models.TimeField(
        null=True, blank=True,
        help_text="time exit, New York time (HH:MM, 09:30-15:59): close at the first mark at or after it on the "
                  "expiration day; blank = none")
    exit_minutes_before_settlement = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_MINUTES_BEFORE_SETTLEMENT)],
        help_text="time exit: close at the first mark at or after this many minutes before the series' settlement "
                  "(SPXW 16:00 ET, 13:00 on an early close); blank = none. At most one of the two time exits")
    # Entry filters on decision-time features (README "The rules, exactly"), checked once the spread
    # passed selection: SKIP entry_filter. Blank = no filter. Frozen on every decision too.
    vix_min = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True,
        help_text="enter only when our 30-day VIX-style index (feature vix30) is at least this; blank = no minimum")
    vix_max = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True,
        help_text="enter only when our 30-day VIX-style index (feature vix30) is at most this; blank = no maximum")
    term_ratio_min = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True,
        help_text="enter only when the 9d/30d term ratio (our 9-day / 30-day index, feature vix_ratio_9d_30d) is "
                  "at least this; blank = no minimum")
    term_ratio_max = models.DecimalField(
        max_digits=5, decimal_places=3, null=True, blank=True,
        help_text="enter only when the 9d/30d term ratio (feature vix_ratio_9d_30d) is at most this, e.g. 1.0 for "
                  "contango; blank = no maximum")
    entry_weekdays = models.CharField(
        max_length=9, blank=True, default="",
        help_text="ISO weekdays entries are allowed on, comma-separated: 1 = Monday ... 5 = Friday (e.g. 1,3,5); "
                  "blank = every day")
    skip_event_days = models.BooleanField(
        default=False, help_text="no entry on an FOMC statement day (the market event table, kind fomc: feature "
                                 "fomc_day)")
    min_credit_to_width = models.DecimalField(
        max_digits=4, decimal_places=3, null=True, blank=True,
        help_text="enter only when the fill-model credit / width (feature credit_to_width) is at least this, e.g. "
                  "0.05 = 1.25 on 25 points; in (0, 1]; blank = no minimum")

    class Meta:
        db_table = "strategy_configs"
        ordering = ["priority", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(short_delta_target__gt=0, short_delta_target__lt=1),
                                   name="strategy_config_delta_range"),
            models.CheckConstraint(condition=Q(take_profit_fraction__gt=0, take_profit_fraction__lte=1),
                                   name="strategy_config_take_profit_range"),
            models.CheckConstraint(condition=Q(stop_loss_multiple__gt=0), name="strategy_config_stop_loss_positive"),
            models.CheckConstraint(condition=Q(exit_at_time__isnull=True) | Q(exit_minutes_before_settlement__isnull=True),
                                   name="strategy_config_one_time_exit"),
            models.CheckConstraint(condition=Q(target_dte__lte=MAX_TARGET_DTE), name="strategy_config_target_dte_range"),
            models.CheckConstraint(condition=Q(vix_min__gte=0) & Q(vix_max__gte=0)
                                   & (Q(vix_min__isnull=True) | Q(vix_max__isnull=True) | Q(vix_min__lte=F("vix_max"))),
                                   name="strategy_config_vix_range"),
            models.CheckConstraint(condition=Q(term_ratio_min__gte=0) & Q(term_ratio_max__gte=0)
                                   & (Q(term_ratio_min__isnull=True) | Q(term_ratio_max__isnull=True)
                                      | Q(term_ratio_min__lte=F("term_ratio_max"))),
                                   name="strategy_config_term_ratio_range"),
            models.CheckConstraint(condition=Q(min_credit_to_width__gt=0, min_credit_to_width__lte=1),
                                   name="strategy_config_credit_to_width_range"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The DTE target's, exit rules' and entry filters' ranges, named by field (admin and the
        config pages show them). ``entry_weekdays`` is written back canonical ("5, 1" → "1,5")."""
        super().clean()
        errors: dict[str, str] = {}
        dte = self.target_dte
        if dte is not None and not 0 <= dte <= MAX_TARGET_DTE:
            errors["target_dte"] = (f"DTE targets go from 0 (the expiration of the entry day) to {MAX_TARGET_DTE} "
                                    f"calendar days, not {dte}")
        for low, high, what in (("vix_min", "vix_max", "the VIX-style index"),
                                ("term_ratio_min", "term_ratio_max", "the 9d/30d term ratio")):
            lo, hi = getattr(self, low), getattr(self, high)
            for name, value in ((low, lo), (high, hi)):
                if value is not None and Decimal(value) < 0:
                    errors[name] = f"{what} is never negative: 0 or more, or blank for no filter"
            if lo is not None and hi is not None and Decimal(lo) > Decimal(hi) and low not in errors:
                errors[low] = f"the minimum {lo} is above the maximum {hi}"
                errors[high] = f"the maximum {hi} is below the minimum {lo}"
        ctw = self.min_credit_to_width
        if ctw is not None and not Decimal(0) < Decimal(ctw) <= 1:
            errors["min_credit_to_width"] = "must lie in (0, 1]: credit / width, e.g. 0.05 = 1.25 on 25 points"
        try:
            self.entry_weekdays = ",".join(str(d) for d in weekdays_of(self.entry_weekdays))
        except ValueError as exc:
            errors["entry_weekdays"] = f"{exc}, comma-separated (e.g. 1,3,5); blank = every day"
        tp, sl = self.take_profit_fraction, self.stop_loss_multiple
        if tp is not None and not Decimal(0) < Decimal(tp) <= 1:
            errors["take_profit_fraction"] = "must lie in (0, 1]: 0.5 takes profit at +50 % of max profit"
        if sl is not None and not Decimal(sl) > 0:
            errors["stop_loss_multiple"] = "must be above 0: 1.0 stops at -100 % of max profit (debit 2 x credit)"
        t = self.exit_at_time
        if t is not None:
            if t.second or t.microsecond:
                errors["exit_at_time"] = "whole minutes only (HH:MM)"
            elif not SESSION_OPEN_ET <= t <= LAST_EXIT_TIME_ET:
                errors["exit_at_time"] = "between 09:30 and 15:59 New York time (SPXW settles at 16:00)"
        if t is not None and self.exit_minutes_before_settlement is not None:
            message = "set at most one time exit: a clock time or minutes before settlement"
            errors.setdefault("exit_at_time", message)
            errors.setdefault("exit_minutes_before_settlement", message)
        if errors:
            raise ValidationError(errors)

    def warnings(self) -> list[str]:
        """What the config allows but will not do as one may expect (shown by admin on save; never
        refused): a DTE the live capture does not take (every live decision SKIPs ``no_snapshot``; a
        backtest still replays it), and a 0-DTE time exit at or before an entry window (the trade
        closes at its entry window's first mark)."""
        out = []
        targets = sorted(int(t) for t in settings.SNAPSHOT_DTE_TARGETS)
        if self.target_dte is not None and self.target_dte not in targets:
            out.append(f"the live capture takes no {self.target_dte}-DTE chains (SNAPSHOT_DTE_TARGETS = "
                       f"{','.join(map(str, targets))}): live, this config SKIPs no_snapshot at every window until "
                       f"{self.target_dte} is added there; backtests replay it regardless")
        first_window = dt.time(10, 0)
        if self.target_dte == 0 and self.exit_at_time is not None and self.exit_at_time <= first_window:
            out.append(f"a 0-DTE time exit at {self.exit_at_time:%H:%M} comes at or before the 10:00 entry window: "
                       f"every trade closes at its entry window's first mark")
        if self.target_dte == 0 and self.exit_minutes_before_settlement is not None \
                and self.exit_minutes_before_settlement >= 360:
            out.append(f"a 0-DTE time exit {self.exit_minutes_before_settlement} min before the 16:00 settlement comes "
                       f"at or before the 10:00 entry window: every trade closes at its entry window's first mark")
        return out

    def frozen(self) -> dict[str, Any]:
        """The parameters as they were when a decision was made (stored on the decision)."""
        out: dict[str, Any] = {}
        for f in self._meta.fields:
            value = getattr(self, f.name)
            if isinstance(f, models.DecimalField) and value is not None:
                value = f"{Decimal(value):.{f.decimal_places}f}"  # as the database spells it
            elif isinstance(f, models.TimeField) and isinstance(value, dt.time):
                value = value.strftime("%H:%M")  # JSON has no time; whole minutes (clean)
            out[f.name] = value
        out.pop("id", None)
        return out


class TradeDecision(models.Model):
    """TRADE or SKIP for one config at one entry window, from the exact snapshot read, and why.

    Business key: (trading day, window, config, source) live, plus the backtest run for backtests;
    a rerun or a duplicate beat tick adds nothing and changes nothing.
    """

    Source = Source

    class Action(models.TextChoices):
        TRADE = "TRADE"
        SKIP = "SKIP"

    trading_day = models.DateField()
    entry_window = models.TimeField(help_text="New York time")
    strategy_config = models.ForeignKey(StrategyConfig, on_delete=models.PROTECT, related_name="decisions")
    config_params = models.JSONField(help_text="the config's parameters frozen at decision time")
    source = models.CharField(max_length=12, choices=Source.choices)
    # The backtests app adds BacktestRun with the backtester; until then a run is identified by id.
    backtest_run = models.ForeignKey("backtests.BacktestRun", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="decisions", help_text="the backtest that wrote this row; empty for live")
    decided_at = models.DateTimeField()
    action = models.CharField(max_length=5, choices=Action.choices)
    reason_code = models.CharField(max_length=40)
    reason_message = models.TextField(blank=True)
    snapshot = models.ForeignKey("snapshots.ChainSnapshot", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="decisions")
    snapshot_checksum = models.CharField(max_length=64, blank=True)
    context = models.ForeignKey("snapshots.ContextSnapshot", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="decisions")
    expiration = models.DateField(null=True, blank=True)
    legs = models.JSONField(default=list, help_text="short and long leg: symbol, strike, bid/ask/mid, our IV and delta")
    credit_mid = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True,
                                     help_text="short mid − long mid, points per share, stored exactly (not rounded)")
    credit_fill = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                      help_text="fill model: mid − 0.30 × combo spread, rounded down to the 0.05 tick")
    width_points = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    max_profit_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                         help_text="credit_fill × 100 × quantity (exact on the tick)")
    max_loss_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                       help_text="(width − credit_fill) × 100 × quantity (exact on the tick)")
    features = models.JSONField(default=dict, help_text="decision-time features (strategy.quant.features); null = missing")
    feature_missing = models.JSONField(default=dict, blank=True, help_text="why each missing feature is missing")
    feature_schema = models.PositiveSmallIntegerField(null=True, blank=True, help_text="features schema version")
    model_version = models.CharField(max_length=60, blank=True)
    model_score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "trade_decisions"
        ordering = ["-trading_day", "-entry_window", "strategy_config__priority", "strategy_config__name"]
        constraints = [
            # Partial unique indexes work on SQLite and PostgreSQL alike (nulls_distinct is PG 15+ only).
            models.UniqueConstraint(
                fields=["trading_day", "entry_window", "strategy_config", "source"],
                condition=Q(backtest_run__isnull=True), name="decision_live_uniq",
            ),
            models.UniqueConstraint(
                fields=["trading_day", "entry_window", "strategy_config", "source", "backtest_run"],
                condition=Q(backtest_run__isnull=False), name="decision_run_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "trading_day"]), models.Index(fields=["action", "reason_code"]),
            # The lists' order (newest decided first): the API's first 100 read 100 index entries, not the table.
            models.Index(fields=["-decided_at"], name="decision_decided_at_idx"),
            # A model's scored live decisions (its monitoring, the dashboard's drift check), not every backtest row.
            models.Index(fields=["model_version", "id"], name="decision_scored_live_idx",
                         condition=Q(backtest_run__isnull=True, model_score__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.trading_day} {self.entry_window:%H:%M} {self.strategy_config_id} {self.action} {self.reason_code}"


class DecisionOutcome(models.Model):
    """What a candidate's spread did after its window, whether it traded or not: the exit the rules
    find (take profit, stop, or cash settlement) with the fill model, and its meta-label.

    Backtests write it from the minute walk of every candidate that passed selection (also those
    the risk rules or the gate turned away); live, the shadow job walks the stored snapshots of the
    candidate's expiration every capture slot (``strategy.outcomes``). ``label`` = 1 when the
    spread reached its take-profit level before the stop (``rules.outcome_label``).
    """

    class Method(models.TextChoices):
        BACKTEST = "backtest", "backtest minute walk"
        SHADOW = "shadow", "live shadow walk over stored snapshots"

    class Status(models.TextChoices):
        PENDING = "pending", "still walking"
        RESOLVED = "resolved"
        UNRESOLVED = "unresolved", "the data ended before an exit"

    decision = models.OneToOneField(TradeDecision, on_delete=models.CASCADE, related_name="outcome")
    method = models.CharField(max_length=8, choices=Method.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    entry_credit = models.DecimalField(max_digits=8, decimal_places=2, help_text="the decision's fill-model credit")
    exit_reason = models.CharField(max_length=12, blank=True)
    exit_at = models.DateTimeField(null=True, blank=True)
    exit_debit = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True,
                                     help_text="closing debit (fill model) or settlement value, points per share")
    settlement_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    settlement_source = models.CharField(max_length=200, blank=True)
    pnl_usd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                  help_text="(credit − exit) × 100 × quantity − fees, as a trade would book it")
    holding_minutes = models.FloatField(null=True, blank=True)
    label = models.SmallIntegerField(null=True, blank=True, help_text="1: take profit reached before the stop")
    walked_until = models.DateTimeField(null=True, blank=True, help_text="shadow walk: the last slot marked")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "decision_outcomes"
        indexes = [models.Index(fields=["method", "status"])]

    def __str__(self) -> str:
        return f"outcome of {self.decision_id}: {self.exit_reason or self.status}"


class StrategyConfigChange(models.Model):
    """One change of a strategy config, as ``StrategyConfig.frozen()`` saw it before and after.

    Written by ``strategy.configs.config_save`` alone, which the config pages, the admin's save and
    any script call; never edited afterwards. ``diff`` is ``{field: [old, new]}``: for ``created``
    every field against nothing, for ``copied`` the fields that differ from the config it was copied
    from (``before`` is that config then), otherwise against the row as it was in the database.
    Decisions are not touched by a change: each keeps the parameters it froze (``config_params``).
    """

    class Action(models.TextChoices):
        CREATED = "created"
        COPIED = "copied"
        EDITED = "edited"
        ENABLED = "enabled"
        DISABLED = "disabled"

    class Via(models.TextChoices):
        PAGE = "page", "config pages"
        ADMIN = "admin", "Django admin"
        COMMAND = "command", "command or script"

    config = models.ForeignKey(StrategyConfig, on_delete=models.CASCADE, related_name="changes")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="empty for a command or script")
    changed_by_name = models.CharField(max_length=150, blank=True,
                                       help_text="the username then (kept if the user is deleted)")
    action = models.CharField(max_length=8, choices=Action.choices)
    via = models.CharField(max_length=8, choices=Via.choices)
    copied_from = models.ForeignKey(StrategyConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder,
                              help_text="frozen() before the change (of the source config for a copy); empty on create")
    after = models.JSONField(encoder=DjangoJSONEncoder, help_text="frozen() after the change")
    diff = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="{field: [old, new]}")

    class Meta:
        db_table = "strategy_config_changes"
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["config", "-changed_at", "-id"], name="config_change_history_idx")]

    def __str__(self) -> str:
        return f"{self.config_id} {self.action} {self.changed_at:%Y-%m-%d %H:%M}"
