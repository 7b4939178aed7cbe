"""The entry-window decision: for every enabled config, TRADE or SKIP from the exact snapshot read.

Pipeline per config (``entry_window_run``): latest snapshot of its DTE bucket no older than its
maximum age (else SKIP ``stale_snapshot``) → our forward/IV/delta → ``select_spread`` (quality
filters inside) → risk rules → ML gate → a ``TradeDecision``. The pure parts are the same
functions the backtester calls.

Ranking when several configs want to trade and the limits allow fewer: ``rules.rank_candidates``
— priority ascending, then fill-model credit / width descending, then config name. Configs are
walked in that order, each checked against the risk state left by the ones before it; a config
the limits refuse gets SKIP ``risk_limit`` with the rule that refused it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from mlmodels.gate import gate as ml_gate
from snapshots import market_calendar
from snapshots.analytics import ChainAnalytics, snapshot_analytics
from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.providers.base import ProviderError
from strategy import selectors
from strategy.models import StrategyConfig, TradeDecision
from strategy.quant import rules
from strategy.quant.money import cents_or_none as decision_money
from strategy.quant.money import mid_or_none
from strategy.quant.types import ChainQuotes, NoCandidate, RiskLimits, SpreadCandidate, SpreadRules

logger = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")
ENTRY_WINDOWS = (dt.time(10, 0), dt.time(11, 0), dt.time(12, 0))

# Decision reason codes beyond the pure selection/risk ones (strategy.quant.types.REASONS).
NO_SNAPSHOT = "no_snapshot"
STALE_SNAPSHOT = "stale_snapshot"
NO_FORWARD = "no_forward"
RISK_LIMIT = "risk_limit"
ML_GATE = "ml_gate"
TRADE_OK = "ok"


def default_source() -> str:
    # Only Tradier's market is live; the simulated market and the OPRA replay are simulations.
    return (
        TradeDecision.Source.LIVE_PAPER if settings.MARKET_DATA_PROVIDER == "tradier"
        else TradeDecision.Source.SIMULATED
    )


def spread_rules(config: StrategyConfig) -> SpreadRules:
    def opt(v: Decimal | None) -> float | None:
        return float(v) if v is not None else None

    return SpreadRules(
        side=config.side,  # type: ignore[arg-type]
        short_delta_target=float(config.short_delta_target),
        width_points=float(config.width_points),
        quantity=int(config.quantity),
        min_credit=float(config.min_credit),
        max_combo_spread=opt(config.max_combo_spread),
        max_combo_spread_frac=opt(config.max_combo_spread_frac),
        max_width_mult=float(config.max_width_mult),
    )


def risk_limits(config: StrategyConfig) -> RiskLimits:
    return RiskLimits(max_open_trades=int(config.max_open_trades),
                      max_new_trades_per_day=int(config.max_new_trades_per_day),
                      no_new_after_stop=bool(config.no_new_after_stop))


def chain_quotes(a: ChainAnalytics) -> ChainQuotes:
    return ChainQuotes(
        strikes=a.strikes, is_call=a.is_call, bid=a.bid, ask=a.ask, iv=a.iv, delta=a.delta,
        symbols=a.symbols.astype(object), root=a.root, expiration=a.expiration,
        forward=a.fit.forward, t_years=a.t_years,
    )


@dataclass
class Evaluation:
    """One config's way to a decision before the risk rules: a candidate, or why not."""

    config: StrategyConfig
    snapshot: ChainSnapshot | None = None
    context: ContextSnapshot | None = None
    candidate: SpreadCandidate | None = None
    reason_code: str = ""
    reason_message: str = ""
    features: dict[str, Any] = field(default_factory=dict)

    @property
    def wants_to_trade(self) -> bool:
        return self.candidate is not None and self.candidate.passed and not self.reason_code


def _f(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def leg_json(leg: Any) -> dict[str, Any]:
    return {"symbol": leg.symbol, "side": leg.side, "strike": leg.strike, "is_call": leg.is_call,
            "bid": _f(leg.bid), "ask": _f(leg.ask), "mid": _f(leg.mid), "iv": _f(leg.iv), "delta": _f(leg.delta)}


def features_build(
    *, config: StrategyConfig, at: dt.datetime, snapshot: ChainSnapshot, a: ChainAnalytics,
    context: ContextSnapshot | None, candidate: SpreadCandidate | None,
) -> dict[str, Any]:
    """Everything known at decision time (design: ML features), all plain JSON numbers."""
    ctx = None
    if context is not None:
        ctx = dict(
            vix30_own=context.vix30_own, vix9d_own=context.vix9d_own, term_ratio_9d_30d=context.term_ratio_9d_30d,
            gex_usd_per_pct=float(context.gex_usd_per_pct) if context.gex_usd_per_pct is not None else None,
            vix_quote=float(context.vix_price) if context.vix_price is not None else None,
            spx_quote=float(context.spx_price) if context.spx_price is not None else None,
        )
    return features_of(
        target_dte=config.target_dte, delta_target=float(config.short_delta_target), side=config.side,
        width_requested=float(config.width_points), at=at, actual_dte_days=snapshot.actual_dte_days,
        snapshot_age_minutes=(at - snapshot.ts).total_seconds() / 60, a=a, context=ctx, candidate=candidate,
    )


def features_of(
    *, target_dte: int, delta_target: float, side: str, width_requested: float, at: dt.datetime,
    actual_dte_days: int | None, snapshot_age_minutes: float, a: ChainAnalytics, context: dict[str, Any] | None,
    candidate: SpreadCandidate | None,
) -> dict[str, Any]:
    """The decision's features from plain values (no database): live decisions and backtests share it."""
    at_et = at.astimezone(NEW_YORK)
    bounds = market_calendar.session_bounds(at_et.date())
    feats: dict[str, Any] = {
        "dte_bucket": target_dte,
        "actual_dte_days": actual_dte_days,
        "delta_target": delta_target,
        "side": side,
        "width_requested": width_requested,
        "entry_window_hour": at_et.hour,
        "day_of_week": at_et.weekday(),
        "early_close_day": market_calendar.is_early_close(at_et.date()),
        "minutes_since_open": (at - bounds[0]).total_seconds() / 60 if bounds else None,
        "snapshot_age_minutes": snapshot_age_minutes,
        "forward": _f(a.fit.forward),
        "discount": _f(a.fit.discount),
        "minutes_to_settlement": a.minutes_to_settlement,
    }
    if context is not None:
        feats.update(context)
    if candidate is not None:
        feats.update(
            credit_mid=candidate.credit_mid, credit_fill=candidate.credit_fill, combo_spread=candidate.combo_spread,
            combo_spread_to_credit=candidate.combo_spread / candidate.credit_mid if candidate.credit_mid > 0 else None,
            width_points=candidate.width_points, credit_to_width=candidate.credit_to_width,
            short_strike=candidate.short_leg.strike, long_strike=candidate.long_leg.strike,
            short_iv=_f(candidate.short_leg.iv), long_iv=_f(candidate.long_leg.iv),
            short_delta=_f(candidate.short_leg.delta), long_delta=_f(candidate.long_leg.delta),
            short_otm_pct=abs(candidate.short_leg.strike / a.fit.forward - 1.0) * 100 if a.fit.ok else None,
        )
    return feats


def config_evaluate(
    config: StrategyConfig, *, at: dt.datetime, underlying: str, cache: dict[int, ChainAnalytics]
) -> Evaluation:
    """Snapshot → analytics → candidate for one config (no risk rules yet)."""
    ev = Evaluation(config=config)
    snapshot = selectors.latest_snapshot(underlying=underlying, target_dte=config.target_dte, at=at)
    if snapshot is None:
        ev.reason_code, ev.reason_message = NO_SNAPSHOT, f"no {config.target_dte}-DTE snapshot at or before {at:%H:%M}Z"
        return ev
    ev.snapshot = snapshot
    age_min = (at - snapshot.ts).total_seconds() / 60
    if age_min > config.max_snapshot_age_minutes:
        ev.reason_code = STALE_SNAPSHOT
        ev.reason_message = f"latest {config.target_dte}-DTE snapshot is {age_min:.0f} min old (max {config.max_snapshot_age_minutes})"
        return ev
    ev.context = selectors.context_at(underlying=underlying, ts=snapshot.ts)
    if snapshot.pk not in cache:
        cache[snapshot.pk] = snapshot_analytics(ChainSnapshot.objects.get(pk=snapshot.pk))
    a = cache[snapshot.pk]
    if not a.fit.ok or a.t_years <= 0:
        ev.reason_code, ev.reason_message = NO_FORWARD, f"no implied forward for the chain: {a.fit.reason}"
        ev.features = features_build(config=config, at=at, snapshot=snapshot, a=a, context=ev.context, candidate=None)
        return ev
    result = rules.select_spread(chain_quotes(a), spread_rules(config))
    candidate = result.candidate if isinstance(result, NoCandidate) else result
    ev.candidate = candidate
    ev.features = features_build(config=config, at=at, snapshot=snapshot, a=a, context=ev.context, candidate=candidate)
    if isinstance(result, NoCandidate):
        ev.reason_code, ev.reason_message = result.reason, result.message
    return ev


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
    *, at: dt.datetime, source: str | None = None, capture: bool = True,
    hand_over: Callable[[int], None] | None = None,
) -> WindowResult:
    """Decide every enabled config at the window ``at`` (aware; exactly 10:00, 11:00 or 12:00 ET).

    Holidays and weekends decide nothing. Idempotent: configs already decided for this key are
    left as they are. With ``capture`` the window's own snapshot slot is captured first (a no-op
    when beat already stored it), so the decision reads the 10:00 chain rather than racing it.
    A TRADE is handed over to order placement after commit: by default the ``trade_open`` task is
    queued; ``hand_over(decision_id)`` replaces that (a replayed day runs it in line).
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
        from snapshots.services import snapshot_capture

        try:
            snapshot_capture(now=at)
        except ProviderError as exc:  # recorded as a CaptureFailure; decide from what is stored
            logger.warning("capture at entry window %s failed: %s", at, exc)

    underlying = settings.SNAPSHOT_UNDERLYING
    with transaction.atomic():
        # Lock the configs: a second worker deciding the same window waits here, then finds the rows.
        configs = list(StrategyConfig.objects.select_for_update().filter(enabled=True).order_by("priority", "name"))
        done = {d.strategy_config_id: d for d in TradeDecision.objects.filter(**key).select_related("strategy_config")}
        result.existing = [done[c.pk] for c in configs if c.pk in done]
        pending = [c for c in configs if c.pk not in done]
        cache: dict[int, ChainAnalytics] = {}
        evaluations = [config_evaluate(c, at=at, underlying=underlying, cache=cache) for c in pending]
        wanting = {e.config.name: e for e in evaluations if e.wants_to_trade}
        ranked = rules.rank_candidates([(e.config.priority, e.candidate, name) for name, e in wanting.items()])
        state = selectors.risk_state(source=source, day=day)
        outcome: dict[str, tuple[str, str, str, Any]] = {}
        for _priority, _candidate, name in ranked:
            ev = wanting[name]
            c = ev.config
            verdict = rules.risk_check(
                open_trades=state.open_trades, entries_today=state.entries_today, stops_today=state.stops_today,
                limits=risk_limits(c),
            )
            if not verdict.allowed:
                outcome[name] = ("SKIP", RISK_LIMIT, f"{verdict.reason}: {verdict.message}", None)
                continue
            gate = ml_gate(ev.features)
            if not gate.allowed:
                outcome[name] = ("SKIP", ML_GATE, f"model {gate.model_version} score {gate.score}: {gate.reason}", gate)
                continue
            outcome[name] = ("TRADE", TRADE_OK, f"selected ({gate.reason})", gate)
            state.open_trades += 1
            state.entries_today += 1
        for ev in evaluations:
            action, code, message, gate = outcome.get(ev.config.name, ("SKIP", ev.reason_code, ev.reason_message, None))
            decision = _decision_write(ev, key=key, at=at, action=action, code=code, message=message, gate=gate)
            if decision is not None:
                result.created.append(decision)
                if decision.action == TradeDecision.Action.TRADE:
                    _hand_over(decision.pk, hand_over)
    return result


def _decision_write(
    ev: Evaluation, *, key: dict[str, Any], at: dt.datetime, action: str, code: str, message: str, gate: Any
) -> TradeDecision | None:
    c = ev.candidate
    fields = {
        "config_params": ev.config.frozen(),
        "decided_at": at,
        "action": action,
        "reason_code": code,
        "reason_message": message,
        "snapshot": ev.snapshot,
        "snapshot_checksum": ev.snapshot.checksum if ev.snapshot else "",
        "context": ev.context,
        "expiration": ev.snapshot.expiration if ev.snapshot else None,
        "legs": [leg_json(c.short_leg), leg_json(c.long_leg)] if c else [],
        "credit_mid": mid_or_none(c.credit_mid) if c else None,
        "credit_fill": decision_money(c.credit_fill) if c else None,
        "width_points": decision_money(c.width_points) if c else None,
        "max_profit_usd": decision_money(c.max_profit_usd) if c else None,
        "max_loss_usd": decision_money(c.max_loss_usd) if c else None,
        "features": ev.features,
        "model_version": getattr(gate, "model_version", "") or "",
        "model_score": getattr(gate, "score", None),
    }
    try:
        with transaction.atomic():
            return TradeDecision.objects.create(strategy_config=ev.config, **key, **fields)
    except IntegrityError:  # decided meanwhile by another worker: that decision stands unchanged
        return None


def _hand_over(decision_id: int, hand_over: Callable[[int], None] | None) -> None:
    """Order placement starts only once the decision is committed (never from a rolled-back one)."""
    if hand_over is not None:
        transaction.on_commit(lambda: hand_over(decision_id))
        return
    from execution.tasks import trade_open  # lazy: strategy does not import execution at load

    trade_open.delay_on_commit(decision_id)
