"""The live entry-window decision: for every enabled config, TRADE or SKIP from the exact snapshot read.

This module does the I/O around the decision core (``strategy.quant.decision``), which the
backtester calls too: per config the latest snapshot of its DTE bucket no older than its maximum
age (else SKIP ``stale_snapshot`` / ``no_snapshot``) → our forward/IV/delta → ``decision.evaluate``
(spread selection, quality filters, features); then ``decision.decide_window`` over all of them
with the risk state and the ML gate → one ``TradeDecision`` row per config (``decision_fields``).

The risk state (open trades, entries, stops) and the hand-over of a TRADE to order placement are
the caller's: ``execution.services.entry_window_trade`` passes them in (execution owns trades).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from snapshots import market_calendar
from snapshots.analytics import ChainAnalytics, snapshot_analytics
from snapshots.events import event_days
from snapshots.models import ChainSnapshot, ContextSnapshot, MarketEvent
from snapshots.providers.base import ProviderError
from snapshots.services import slot_floor, snapshot_capture
from strategy import gating, selectors
from strategy.models import (
    Source,
    StrategyConfig,
    TradeDecision,
    default_stop_loss_multiple,
    default_take_profit_fraction,
)
from strategy.quant import decision
from strategy.quant.decision import BookState, ChainRead, Evaluation, Gate, StrategySpec, Verdict
from strategy.quant.features import FEATURE_SCHEMA_VERSION, ForwardHistory, WindowContext, history_minutes
from strategy.quant.money import cents_or_none, mid_or_none
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import EntryFilters, ExitRules, RiskLimits, SpreadRules, as_side, weekdays_of

logger = logging.getLogger(__name__)
ENTRY_WINDOWS = (dt.time(10, 0), dt.time(11, 0), dt.time(12, 0))
LIVE_BOOK = "live"  # every live config shares one risk budget
FOMC_LOOKAHEAD_DAYS = 120  # FOMC statements are 5–8 weeks apart: the next one is always within this

RiskStateFn = Callable[[str, dt.date], BookState]


def default_source() -> str:
    # Only Tradier's market is live; the simulated market and the OPRA replay are simulations.
    return Source.LIVE_PAPER if settings.MARKET_DATA_PROVIDER == "tradier" else Source.SIMULATED


# ------------------------------------------------------------------------------------ configs → core

def spread_rules(config: StrategyConfig, *, fill_fraction: float | None = None) -> SpreadRules:
    def opt(v: Decimal | None) -> float | None:
        return float(v) if v is not None else None

    rules = SpreadRules(
        side=as_side(config.side),
        short_delta_target=float(config.short_delta_target),
        width_points=float(config.width_points),
        quantity=int(config.quantity),
        min_credit=float(config.min_credit),
        max_combo_spread=opt(config.max_combo_spread),
        max_combo_spread_frac=opt(config.max_combo_spread_frac),
        max_width_mult=float(config.max_width_mult),
    )
    return rules if fill_fraction is None else dataclasses.replace(rules, fill_fraction=float(fill_fraction))


def risk_limits(config: StrategyConfig) -> RiskLimits:
    return RiskLimits(max_open_trades=int(config.max_open_trades),
                      max_new_trades_per_day=int(config.max_new_trades_per_day),
                      no_new_after_stop=bool(config.no_new_after_stop))


def exit_rules_of(params: Mapping[str, Any]) -> ExitRules:
    """The exit rules frozen in a config's parameters (``StrategyConfig.frozen``, as stored on every
    decision as ``config_params``): what the live marks, the shadow walk and the backtest apply.

    Parameters frozen before the rules moved onto the configs lack the keys: they get the
    defaults (the ``TAKE_PROFIT_FRACTION`` / ``STOP_LOSS_CREDITS`` settings; migration
    ``strategy.0009`` wrote those into the live decisions of that time)."""
    tp = params.get("take_profit_fraction")
    sl = params.get("stop_loss_multiple")
    at = params.get("exit_at_time")
    n = params.get("exit_minutes_before_settlement")
    return ExitRules(
        take_profit_fraction=float(tp if tp is not None else default_take_profit_fraction()),
        stop_loss_multiple=float(sl if sl is not None else default_stop_loss_multiple()),
        exit_at_time=(at if isinstance(at, dt.time) else dt.time.fromisoformat(str(at))) if at else None,
        exit_minutes_before_settlement=int(n) if n is not None else None,
    )


def entry_filters_of(params: Mapping[str, Any]) -> EntryFilters:
    """The entry filters frozen in a config's parameters (``StrategyConfig.frozen``, stored on every
    decision as ``config_params``): what the decision core applies, live and in backtests.

    Parameters frozen before the filters existed lack the keys: no filter, which is what those
    decisions and runs decided with (so an old run reruns identically)."""
    def opt(name: str) -> float | None:
        v = params.get(name)
        return float(v) if v is not None and v != "" else None

    return EntryFilters(
        vix_min=opt("vix_min"), vix_max=opt("vix_max"),
        term_ratio_min=opt("term_ratio_min"), term_ratio_max=opt("term_ratio_max"),
        weekdays=weekdays_of(params.get("entry_weekdays")),
        skip_event_days=bool(params.get("skip_event_days") or False),
        min_credit_to_width=opt("min_credit_to_width"),
    )


def strategy_spec(config: StrategyConfig, *, key: str | None = None, book: str = LIVE_BOOK,
                  fill_fraction: float | None = None) -> StrategySpec:
    """The decision core's view of a config (live: keyed by its name, in the one live book)."""
    frozen = config.frozen()
    return StrategySpec(key=key or config.name, priority=int(config.priority), book=book,
                        target_dte=int(config.target_dte), rules=spread_rules(config, fill_fraction=fill_fraction),
                        limits=risk_limits(config), ml_group=config.ml_group, exits=exit_rules_of(frozen),
                        filters=entry_filters_of(frozen))


def window_context(*, at: dt.datetime, underlying: str, context: ContextSnapshot | None) -> WindowContext:
    """The window's market and calendar facts for the features, from stored rows only.

    Market: the slot's ``ContextSnapshot`` (our VIX-style indexes, GEX) and the index level at the
    previous session's settlement slot (that slot's context SPX quote). Calendar: the trading
    calendar and the ``MarketEvent`` table.
    """
    day = at.astimezone(NEW_YORK).date()
    bounds = market_calendar.session_bounds(day)
    reasons: dict[str, str] = {}

    def value(x: Any, name: str, why: str) -> float:
        if x is None:
            reasons[name] = why
            return math.nan
        return float(x)

    no_context = "no market context stored for the slot"
    vix30 = value(context.vix30_own if context else None, "vix30", (context.vix30_reason if context else "") or no_context)
    vix9d = value(context.vix9d_own if context else None, "vix9d", (context.vix9d_reason if context else "") or no_context)
    gex = value(context.gex_usd_per_pct if context else None, "gex_usd_per_pct",
                "no open interest in the slot's chains" if context else no_context)
    prev_day = market_calendar.previous_trading_day(day)
    prev = (ContextSnapshot.objects.filter(underlying=underlying, ts=market_calendar.expiring_series_close(prev_day))
            .only("spx_price").first())
    prev_close = value(prev.spx_price if prev else None, "prev_close",
                       f"no index quote stored at the {prev_day} settlement slot")
    fomc = event_days(MarketEvent.Kind.FOMC, day, day + dt.timedelta(days=FOMC_LOOKAHEAD_DAYS))
    return WindowContext(at=at, close_utc=bounds[1] if bounds else None, early_close=market_calendar.is_early_close(day),
                         vix30=vix30, vix9d=vix9d, gex_usd_per_pct=gex, prev_close=prev_close,
                         monthly=market_calendar.next_monthly_expiration(day), fomc_days=fomc, reasons=reasons)


def forward_history(*, at: dt.datetime, underlying: str, expiration: dt.date, root: str) -> ForwardHistory:
    """The expiration's implied forward at the session's first slot and every 5 minutes over the
    last hour, from the slots' stored market context (``ContextSnapshot.forwards``)."""
    day = at.astimezone(NEW_YORK).date()
    bounds = market_calendar.session_bounds(day)
    minutes = history_minutes(at)
    wanted = [*minutes, *([bounds[0]] if bounds else [])]
    rows = dict(ContextSnapshot.objects.filter(underlying=underlying, ts__in=wanted).values_list("ts", "forwards"))

    def forward_at(ts: dt.datetime) -> float:
        for f in rows.get(ts) or []:
            if f.get("expiration") == expiration.isoformat() and f.get("root") == root and f.get("forward") is not None:
                return float(f["forward"])
        return math.nan

    return ForwardHistory(at_open=forward_at(bounds[0]) if bounds else math.nan,
                          samples=tuple(forward_at(m) for m in minutes))


# ------------------------------------------------------------------------------------ decision rows

def decision_fields(verdict: Verdict, *, decided_at: dt.datetime, expiration: dt.date | None) -> dict[str, Any]:
    """The ``TradeDecision`` fields of a verdict, rounded as stored (live and backtest alike)."""
    c = verdict.candidate
    return {
        "decided_at": decided_at,
        "action": verdict.action,
        "reason_code": verdict.reason_code,
        "reason_message": verdict.reason_message,
        "expiration": expiration,
        "legs": [decision.leg_record(c.short_leg), decision.leg_record(c.long_leg)] if c else [],
        "credit_mid": mid_or_none(c.credit_mid) if c else None,
        "credit_fill": cents_or_none(c.credit_fill) if c else None,
        "width_points": cents_or_none(c.width_points) if c else None,
        "max_profit_usd": cents_or_none(c.max_profit_usd) if c else None,
        "max_loss_usd": cents_or_none(c.max_loss_usd) if c else None,
        "features": verdict.evaluation.features.json_values(),
        "feature_missing": dict(verdict.evaluation.features.missing),
        "feature_schema": FEATURE_SCHEMA_VERSION,
        "model_version": verdict.model_version,
        "model_score": verdict.model_score,
    }


# ------------------------------------------------------------------------------------ the window

@dataclass
class Read:
    """What one config read at the window (the rows it references) and its evaluation."""

    config: StrategyConfig
    evaluation: Evaluation
    snapshot: ChainSnapshot | None = None
    context: ContextSnapshot | None = None


def config_read(config: StrategyConfig, *, at: dt.datetime, underlying: str, window: WindowContext,
                cache: dict[int, ChainAnalytics],
                histories: dict[tuple[dt.date, str], ForwardHistory] | None = None) -> Read:
    """Snapshot → analytics → ``decision.evaluate`` for one config (no risk rules yet).

    ``cache`` and ``histories`` are the window's: configs reading the same snapshot share its
    analytics, and those of one expiration share its forward history."""
    spec = strategy_spec(config)
    snapshot = selectors.latest_snapshot(underlying=underlying, target_dte=config.target_dte, at=at)
    if snapshot is None:
        message = f"no {config.target_dte}-DTE snapshot at or before {at:%H:%M}Z"
        targets = sorted(int(t) for t in settings.SNAPSHOT_DTE_TARGETS)
        if config.target_dte not in targets:
            message += (f": the live capture takes no {config.target_dte}-DTE chains (SNAPSHOT_DTE_TARGETS = "
                        f"{','.join(map(str, targets))}; add {config.target_dte} there)")
        return Read(config, decision.missing(spec, window=window, reason_code=decision.NO_SNAPSHOT,
                                             reason_message=message))
    age_min = (at - snapshot.ts).total_seconds() / 60
    if age_min > config.max_snapshot_age_minutes:
        message = (f"latest {config.target_dte}-DTE snapshot is {age_min:.0f} min old "
                   f"(max {config.max_snapshot_age_minutes})")
        return Read(config, decision.missing(spec, window=window, reason_code=decision.STALE_SNAPSHOT,
                                             reason_message=message, dte_calendar=snapshot.actual_dte_days), snapshot)
    context = selectors.context_at(underlying=underlying, ts=snapshot.ts)
    if snapshot.pk not in cache:
        cache[snapshot.pk] = snapshot_analytics(ChainSnapshot.objects.get(pk=snapshot.pk))
    a = cache[snapshot.pk]
    histories = {} if histories is None else histories
    if (a.expiration, a.root) not in histories:
        histories[(a.expiration, a.root)] = forward_history(at=at, underlying=underlying, expiration=a.expiration,
                                                            root=a.root)
    history = histories[(a.expiration, a.root)]
    chain = ChainRead(a, snapshot.actual_dte_days, age_minutes=age_min)
    evaluation = decision.evaluate(spec, chain, window=window, history=history)
    return Read(config, evaluation, snapshot, context)


@dataclass
class WindowResult:
    trading_day: dt.date
    entry_window: dt.time
    source: str
    skipped_reason: str = ""
    created: list[TradeDecision] = field(default_factory=list)
    existing: list[TradeDecision] = field(default_factory=list)

    @property
    def decisions(self) -> list[TradeDecision]:
        return sorted(self.created + self.existing, key=lambda d: (d.strategy_config.priority, d.strategy_config.name))


def window_of(at: dt.datetime) -> tuple[dt.date, dt.time]:
    """The (trading day, window) of an instant that is exactly an entry window in New York time."""
    at_et = at.astimezone(NEW_YORK)
    window = at_et.time().replace(second=0, microsecond=0)
    if window not in ENTRY_WINDOWS or at_et.second or at_et.microsecond:
        raise ValueError(f"{at_et:%Y-%m-%d %H:%M:%S} ET is not an entry window (10:00, 11:00, 12:00 ET)")
    return at_et.date(), window


def entry_window_run(
    *, at: dt.datetime, risk_state: RiskStateFn, hand_over: Callable[[int], None] | None,
    source: str | None = None, capture: bool = True, gate: Gate | None = None,
) -> WindowResult:
    """Decide every enabled config at the window ``at`` (aware; exactly 10:00, 11:00 or 12:00 ET).

    Holidays and weekends decide nothing. Idempotent: configs already decided for this key are
    left as they are. With ``capture`` the window's own snapshot slot is captured first (a no-op
    when beat already stored it), so the decision reads the 10:00 chain rather than racing it.
    ``risk_state(source, day)`` gives the live book's state (read under the configs' lock);
    ``hand_over(decision_id)`` starts order placement for a TRADE after commit (None: decide only).
    ``gate`` defaults to the active model's (``strategy.gating``).
    """
    day, window = window_of(at)
    source = source or default_source()
    result = WindowResult(trading_day=day, entry_window=window, source=source)
    if not market_calendar.is_trading_day(day):
        result.skipped_reason = "not a trading day"
        return result
    key = {"trading_day": day, "entry_window": window, "source": source, "backtest_run_id": None}
    if capture and StrategyConfig.objects.filter(enabled=True).exclude(
        pk__in=TradeDecision.objects.filter(**key).values("strategy_config_id")
    ).exists():
        try:
            snapshot_capture(now=at)
        except ProviderError as exc:  # recorded as a CaptureFailure; decide from what is stored
            logger.warning("capture at entry window %s failed: %s", at, exc)

    underlying = settings.SNAPSHOT_UNDERLYING
    slot = slot_floor(at, minutes=settings.SNAPSHOT_INTERVAL_MINUTES)
    ctx = window_context(at=at, underlying=underlying, context=selectors.context_at(underlying=underlying, ts=slot))
    with transaction.atomic():
        # Lock the configs: a second worker deciding the same window waits here, then finds the rows.
        configs = list(StrategyConfig.objects.select_for_update().filter(enabled=True).order_by("priority", "name"))
        done = {d.strategy_config_id: d for d in TradeDecision.objects.filter(**key).select_related("strategy_config")}
        result.existing = [done[c.pk] for c in configs if c.pk in done]
        cache: dict[int, ChainAnalytics] = {}
        histories: dict[tuple[dt.date, str], ForwardHistory] = {}
        reads = [config_read(c, at=at, underlying=underlying, window=ctx, cache=cache, histories=histories)
                 for c in configs if c.pk not in done]
        verdicts = decision.decide_window([r.evaluation for r in reads], {LIVE_BOOK: risk_state(source, day)},
                                          gate=gate or gating.gate_for())
        for read, verdict in zip(reads, verdicts):
            row = _decision_write(read, verdict, key=key, at=at)
            if row is not None:
                result.created.append(row)
                if row.action == TradeDecision.Action.TRADE and hand_over is not None:
                    # Order placement starts only once the decision is committed (never from a rolled-back one).
                    transaction.on_commit(functools.partial(hand_over, row.pk))
    return result


def _decision_write(read: Read, verdict: Verdict, *, key: dict[str, Any], at: dt.datetime) -> TradeDecision | None:
    snapshot = read.snapshot
    fields = decision_fields(verdict, decided_at=at, expiration=snapshot.expiration if snapshot else None)
    fields.update(config_params=read.config.frozen(), snapshot=snapshot,
                  snapshot_checksum=snapshot.checksum if snapshot else "", context=read.context)
    try:
        with transaction.atomic():
            return TradeDecision.objects.create(strategy_config=read.config, **key, **fields)
    except IntegrityError:  # decided meanwhile by another worker: that decision stands unchanged
        return None
