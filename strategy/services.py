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
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from snapshots import market_calendar
from snapshots.analytics import ChainAnalytics, snapshot_analytics
from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.providers.base import ProviderError
from snapshots.services import snapshot_capture
from strategy import gating, selectors
from strategy.models import Source, StrategyConfig, TradeDecision
from strategy.quant import decision
from strategy.quant.decision import BookState, ChainRead, Evaluation, Gate, SessionFacts, StrategySpec, Verdict
from strategy.quant.money import cents_or_none, mid_or_none
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import RiskLimits, SpreadRules, as_side

logger = logging.getLogger(__name__)
ENTRY_WINDOWS = (dt.time(10, 0), dt.time(11, 0), dt.time(12, 0))
LIVE_BOOK = "live"  # every live config shares one risk budget

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


def strategy_spec(config: StrategyConfig, *, key: str | None = None, book: str = LIVE_BOOK,
                  fill_fraction: float | None = None) -> StrategySpec:
    """The decision core's view of a config (live: keyed by its name, in the one live book)."""
    return StrategySpec(key=key or config.name, priority=int(config.priority), book=book,
                        target_dte=int(config.target_dte), rules=spread_rules(config, fill_fraction=fill_fraction),
                        limits=risk_limits(config))


def session_facts(day: dt.date) -> SessionFacts:
    """The trading calendar's facts about ``day`` for the decision core."""
    bounds = market_calendar.session_bounds(day)
    return SessionFacts(open_utc=bounds[0] if bounds else None, close_utc=bounds[1] if bounds else None,
                        early_close=market_calendar.is_early_close(day))


def context_features(context: ContextSnapshot | None) -> dict[str, Any] | None:
    """The slot's market context as decision features (live only until the features issue)."""
    if context is None:
        return None
    return dict(
        vix30_own=context.vix30_own, vix9d_own=context.vix9d_own, term_ratio_9d_30d=context.term_ratio_9d_30d,
        gex_usd_per_pct=float(context.gex_usd_per_pct) if context.gex_usd_per_pct is not None else None,
        vix_quote=float(context.vix_price) if context.vix_price is not None else None,
        spx_quote=float(context.spx_price) if context.spx_price is not None else None,
    )


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
        "features": dict(verdict.evaluation.features),
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


def config_read(config: StrategyConfig, *, at: dt.datetime, underlying: str, session: SessionFacts,
                cache: dict[int, ChainAnalytics]) -> Read:
    """Snapshot → analytics → ``decision.evaluate`` for one config (no risk rules yet)."""
    spec = strategy_spec(config)
    snapshot = selectors.latest_snapshot(underlying=underlying, target_dte=config.target_dte, at=at)
    if snapshot is None:
        return Read(config, decision.missing(spec, at=at, reason_code=decision.NO_SNAPSHOT,
                                             reason_message=f"no {config.target_dte}-DTE snapshot at or before {at:%H:%M}Z"))
    age_min = (at - snapshot.ts).total_seconds() / 60
    if age_min > config.max_snapshot_age_minutes:
        message = (f"latest {config.target_dte}-DTE snapshot is {age_min:.0f} min old "
                   f"(max {config.max_snapshot_age_minutes})")
        return Read(config, decision.missing(spec, at=at, reason_code=decision.STALE_SNAPSHOT, reason_message=message),
                    snapshot)
    context = selectors.context_at(underlying=underlying, ts=snapshot.ts)
    if snapshot.pk not in cache:
        cache[snapshot.pk] = snapshot_analytics(ChainSnapshot.objects.get(pk=snapshot.pk))
    chain = ChainRead(cache[snapshot.pk], snapshot.actual_dte_days, age_minutes=age_min)
    evaluation = decision.evaluate(spec, chain, at=at, session=session, context=context_features(context))
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
    session = session_facts(day)
    with transaction.atomic():
        # Lock the configs: a second worker deciding the same window waits here, then finds the rows.
        configs = list(StrategyConfig.objects.select_for_update().filter(enabled=True).order_by("priority", "name"))
        done = {d.strategy_config_id: d for d in TradeDecision.objects.filter(**key).select_related("strategy_config")}
        result.existing = [done[c.pk] for c in configs if c.pk in done]
        cache: dict[int, ChainAnalytics] = {}
        reads = [config_read(c, at=at, underlying=underlying, session=session, cache=cache)
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
