"""Fill a database with a year's volume of rows for the load test (``bench/load.py``).

Not a backtest and not a replay: rows at the volume and shape of a real year, drawn by a seeded
random generator and built through the ORM with the project's own services and factories —
``backtests.services.params_build`` and ``run_metrics`` for the run, ``execution.services.trade_build``
/ ``trade_entry_set`` / ``trade_close_set`` for every trade (as the backtester's assembly does),
``strategy.outcomes.outcome_fields`` for the outcomes, ``api_tokens.token_create`` for the API
tokens, and the test factories (``BacktestRunFactory``, ``ModelVersionFactory``,
``tradier_chain_payload``) for the run, the model and the chain payloads — then bulk inserted.

What it makes (``--paper-configs 1``, the default):

* one done backtest run over the last 250 trading days × 36 strategies (12 seeded configs × 3
  windows, risk scope per strategy): 9,000 decisions, ~6,000 closed trades with their two legs,
  one summary mark per day held (the exit's included), an outcome for every candidate;
* a year of simulated paper trading on the same days: one config deciding at 10:00, 11:00 and
  12:00 ET (750 decisions) with a shared budget, its trades with entry and exit orders and fills,
  a mark every 5-minute slot while open, shadow outcomes, one position still open today;
* a year of 5-minute captures: 78 slots × 250 days = 19,500 context snapshots and 5 chain
  snapshots a slot (3 DTE targets + 2 VIX terms: 97,500 rows) with their M2M links. Payloads are
  small (a 22-option chain in Tradier's shape, shared per expiration; checksums true) and stored
  out of line as real ~180 kB ones are (``toast_tuple_target``), except the chains that the load
  test's decision-detail requests read: those are full simulated chains of their own slot;
* an active meta-labeler row (no model file: nothing scores during the test) that scored the paper
  decisions, so the dashboard's drift check has a year to read; 20 users with API tokens.

Run it with ``DJANGO_SETTINGS_MODULE`` and ``DATABASE_URL`` set, on a migrated empty database;
it writes ``--out`` (JSON: logins, tokens and the ids the locustfile requests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from backtests import services as bt_services  # noqa: E402
from backtests.models import BacktestChunk, BacktestRun, ImportedDay  # noqa: E402
from backtests.tests.factories import BacktestRunFactory  # noqa: E402
from execution.models import Fill, Order, PositionMark, Trade, TradeLeg  # noqa: E402
from execution.services import trade_build, trade_close_set, trade_entry_set  # noqa: E402
from mlmodels import evaluation  # noqa: E402
from mlmodels.models import ModelVersion  # noqa: E402
from mlmodels.tests.factories import ModelVersionFactory  # noqa: E402
from snapshots import market_calendar, payloads  # noqa: E402
from snapshots.api_tokens import token_create  # noqa: E402
from snapshots.models import ApiToken, CaptureFailure, ChainSnapshot, ContextSnapshot  # noqa: E402
from snapshots.tests.factories import tradier_chain_payload  # noqa: E402
from strategy.models import DecisionOutcome, Source, StrategyConfig, TradeDecision  # noqa: E402
from strategy.outcomes import outcome_fields  # noqa: E402
from strategy.quant.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION  # noqa: E402
from strategy.quant.osi import format_symbol  # noqa: E402
from strategy.quant.timemodel import NEW_YORK  # noqa: E402
from strategy.services import exit_rules_of  # noqa: E402

import numpy as np  # noqa: E402

UTC = dt.UTC
WINDOWS = (dt.time(10, 0), dt.time(11, 0), dt.time(12, 0))
SLOTS_PER_DAY = 78  # 09:30 to 15:55 ET every 5 minutes
TARGETS = (3, 5, 7)
VIX_TERMS = (9, 30)
BATCH = 5000
PASSWORD = "load-test-only-pw"
TP, SL, SETTLE = Trade.ExitReason.TAKE_PROFIT, Trade.ExitReason.STOP_LOSS, Trade.ExitReason.SETTLEMENT


def _say(msg: str, t0: float) -> None:
    print(f"[seed {time.perf_counter() - t0:6.1f} s] {msg}", flush=True)


def _et(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


def _slot_times(day: dt.date) -> list[dt.datetime]:
    first = dt.datetime.combine(day, dt.time(9, 30), tzinfo=NEW_YORK)
    return [(first + dt.timedelta(minutes=5 * i)).astimezone(UTC) for i in range(SLOTS_PER_DAY)]


def _expiration_for(day: dt.date, target: int) -> dt.date:
    """The trading day nearest to day + target calendar days, ties to the later (SPXW lists every one)."""
    goal = day + dt.timedelta(days=target)
    for k in range(0, 6):
        for cand in (goal + dt.timedelta(days=k), goal - dt.timedelta(days=k)):
            if cand > day and market_calendar.is_trading_day(cand):
                return cand
    return market_calendar.next_trading_day(goal)


def _money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


def _tick(x: float) -> Decimal:
    return Decimal(f"{max(0.05, round(x / 0.05) * 0.05):.2f}")


class Market:
    """A seeded SPX path (one level a slot) and VIX, enough to give every row plausible numbers."""

    def __init__(self, days: list[dt.date], rng: random.Random) -> None:
        self.level: dict[dt.datetime, float] = {}
        self.vix: dict[dt.date, float] = {}
        spx, vix = 5900.0, 16.0
        for day in days:
            vix = min(45.0, max(10.0, vix + rng.gauss(0, 0.8) + 0.05 * (16 - vix)))
            self.vix[day] = vix
            step = vix / 100 / np.sqrt(252 * SLOTS_PER_DAY)
            for ts in _slot_times(day):
                spx *= float(np.exp(rng.gauss(0, step)))
                self.level[ts] = spx

    def at(self, ts: dt.datetime) -> float:
        return self.level[ts]


def _features(rng: random.Random, *, dte: int, delta: float, is_call: bool, credit: float, spx: float,
              vix: float, at: dt.datetime) -> dict[str, float]:
    iv = vix / 100 * rng.uniform(0.85, 1.15)
    values = {
        "dte_target": dte, "dte_calendar": dte, "minutes_to_settlement": dte * 1440 + rng.uniform(-300, 300),
        "side_is_call": float(is_call), "delta_target": delta, "short_abs_delta": delta + rng.uniform(-0.01, 0.01),
        "width_points": 25.0, "credit_fill": credit, "credit_to_width": credit / 25, "credit_mid": credit + 0.2,
        "combo_spread": rng.uniform(0.3, 1.2), "combo_spread_frac_mid": rng.uniform(0.1, 0.5), "short_iv": iv * 1.1,
        "long_iv": iv * 1.2, "atm_iv": iv, "skew": iv * 0.1, "short_distance_points": spx * iv * 0.1,
        "short_distance_sd": rng.uniform(0.8, 1.6), "forward": spx, "move_since_open_pct": rng.gauss(0, 0.4),
        "move_since_prev_close_pct": rng.gauss(0, 0.8), "rv_30m": rng.uniform(0.05, 0.3),
        "rv_60m": rng.uniform(0.05, 0.3), "vix30": vix, "vix9d": vix * rng.uniform(0.85, 1.15),
        "vix_ratio_9d_30d": rng.uniform(0.85, 1.15), "gex_usd_per_pct": rng.uniform(-3e9, 6e9),
        "weekday": at.astimezone(NEW_YORK).weekday(), "minutes_to_close": 960 - (at.astimezone(NEW_YORK).hour * 60
                                                                             + at.astimezone(NEW_YORK).minute),
        "early_close_day": 0.0, "days_to_monthly": rng.randint(0, 27), "days_to_fomc": rng.randint(0, 45),
        "fomc_day": 0.0,
    }
    return {name: round(float(values[name]), 6) for name in FEATURE_NAMES}


def _candidate(rng: random.Random, config: StrategyConfig, *, day: dt.date, spx: float, vix: float) -> dict[str, Any]:
    """A credit spread near the config's delta: legs as ``decision.leg_record`` stores them."""
    dte = config.target_dte
    expiration = _expiration_for(day, dte)
    delta = float(config.short_delta_target)
    is_call = config.side == StrategyConfig.Side.CALL_CREDIT
    z = 1.28 if delta <= 0.1 else 0.84
    distance = spx * vix / 100 * np.sqrt(dte / 365) * z
    short = round((spx + distance if is_call else spx - distance) / 5) * 5
    long_ = short + 25 if is_call else short - 25
    credit = float(_tick(rng.uniform(0.55, 2.6) * (1.4 if delta > 0.1 else 1.0)))
    legs = []
    for side, strike, mid in (("sell", short, credit + 0.9), ("buy", long_, 0.9)):
        legs.append({"symbol": format_symbol("SPXW", expiration, is_call, Decimal(strike)), "side": side,
                     "strike": float(strike), "is_call": is_call, "bid": round(mid - 0.1, 2),
                     "ask": round(mid + 0.1, 2), "mid": round(mid, 2), "iv": round(vix / 100, 4),
                     "delta": round(delta if side == "sell" else delta / 2, 4) * (1 if is_call else -1)})
    return {"expiration": expiration, "legs": legs, "credit": Decimal(f"{credit:.2f}"), "is_call": is_call,
            "delta": delta, "dte": dte}


def _fate(rng: random.Random, credit: Decimal, *, days_after: list[dt.date], opened: dt.datetime,
          expiration: dt.date, spx: float) -> dict[str, Any]:
    """Exit reason, debit and time: TP 64 %, stop 30 %, settlement 6 %; TP and stops held 0–3 days."""
    hold = rng.choices((0, 1, 2, 3), weights=(80, 15, 4, 1))[0]
    u = rng.random()
    reason = TP if u < 0.64 else SL if u < 0.94 else SETTLE
    settlement = None
    if reason == SETTLE:
        exit_day = expiration
        exit_at = market_calendar.settlement_instant(expiration, "SPXW")
        debit = Decimal("0.00")
        settlement = _money(spx * rng.uniform(0.99, 1.01))
    else:
        exit_day = days_after[min(hold, len(days_after) - 1)] if days_after else opened.astimezone(NEW_YORK).date()
        exit_day = min(exit_day, expiration)
        start = max(opened, _et(exit_day, dt.time(9, 35))) if exit_day != opened.astimezone(NEW_YORK).date() else opened
        exit_at = start + dt.timedelta(minutes=5 * rng.randint(1, 40))
        close = _et(exit_day, dt.time(15, 55))
        exit_at = min(exit_at, close)
        debit = _tick(float(credit) * (0.5 if reason == TP else 2.0) + (0.05 if reason == SL else 0))
    return {"reason": reason, "debit": debit, "at": exit_at, "day": exit_day, "settlement": settlement}


def _decision(config: StrategyConfig, *, day: dt.date, window: dt.time, source: str, run: BacktestRun | None,
              action: str, reason: str, message: str, cand: dict[str, Any] | None, features: dict[str, float],
              snapshot_id: int | None = None, context_id: int | None = None, checksum: str = "",
              model: tuple[str, float] | None = None) -> TradeDecision:
    q = config.quantity
    credit = cand["credit"] if cand else None
    return TradeDecision(
        trading_day=day, entry_window=window, strategy_config=config, config_params=config.frozen(), source=source,
        backtest_run=run, decided_at=_et(day, window), action=action, reason_code=reason, reason_message=message,
        snapshot_id=snapshot_id, snapshot_checksum=checksum, context_id=context_id,
        expiration=cand["expiration"] if cand else None, legs=cand["legs"] if cand else [],
        credit_mid=(credit + Decimal("0.2000")) if credit is not None else None, credit_fill=credit,
        width_points=Decimal("25.00") if cand else None,
        max_profit_usd=_money(float(credit) * 100 * q) if credit is not None else None,
        max_loss_usd=_money((25 - float(credit)) * 100 * q) if credit is not None else None,
        features=features, feature_missing={}, feature_schema=FEATURE_SCHEMA_VERSION,
        model_version=model[0] if model else "", model_score=model[1] if model else None,
    )


def _bulk(model: type, objs: list[Any]) -> list[Any]:
    return model.objects.bulk_create(objs, batch_size=BATCH)


def seed_snapshots(days: list[dt.date], market: Market, rng: random.Random, t0: float) -> dict[tuple[dt.datetime, int], int]:
    """A year of captures: context + 3 target + 2 VIX chains per slot. Returns (slot, target) → chain id."""
    payload_cache: dict[dt.date, tuple[bytes, int, int, str]] = {}

    def payload(expiration: dt.date) -> tuple[bytes, int, int, str]:
        if expiration not in payload_cache:
            body = tradier_chain_payload(expiration)
            canonical = payloads.canonical_json(body)
            payload_cache[expiration] = (payloads.compress(canonical), len(canonical),
                                         len(body["options"]["option"]), payloads.checksum_of(canonical))
        return payload_cache[expiration]

    if connection.vendor == "postgresql":
        # A real chain is ~180 kB compressed and lives out of line (TOAST), so the table's rows are
        # ~250 bytes; the small payloads here would sit inline and make every scan 3× larger than real.
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE chain_snapshots SET (toast_tuple_target = 128)")
            cur.execute("ALTER TABLE chain_snapshots ALTER COLUMN payload_zstd SET STORAGE EXTERNAL")
    ids: dict[tuple[dt.datetime, int], int] = {}
    for month_start in range(0, len(days), 21):  # a month at a time keeps memory flat
        chunk = days[month_start:month_start + 21]
        chains: list[ChainSnapshot] = []
        keys: list[tuple[dt.datetime, int, dt.date]] = []
        contexts: list[ContextSnapshot] = []
        for day in chunk:
            exps = {t: _expiration_for(day, t) for t in (*TARGETS, *VIX_TERMS)}
            for ts in _slot_times(day):
                spx = market.at(ts)
                seen: dict[dt.date, ChainSnapshot] = {}
                for target in (*TARGETS, *VIX_TERMS):
                    exp = exps[target]
                    vix_term = target in VIX_TERMS
                    if exp in seen:  # 3 and 5 DTE can share an expiration: one row serves both
                        if not vix_term:
                            seen[exp].dte_targets.append(target)
                        keys.append((ts, target, exp))
                        continue
                    blob, size, count, checksum = payload(exp)
                    row = ChainSnapshot(
                        ts=ts, captured_at=ts + dt.timedelta(seconds=2), underlying="SPX", root="SPXW",
                        target_dte=target, dte_targets=[] if vix_term else [target],
                        purpose=ChainSnapshot.Purpose.VIX if vix_term else ChainSnapshot.Purpose.TARGET,
                        expiration=exp, actual_dte_days=(exp - day).days, provider="simulated", option_count=count,
                        payload_zstd=blob, payload_size_bytes=size, checksum=checksum)
                    seen[exp] = row
                    chains.append(row)
                    keys.append((ts, target, exp))
                vix = market.vix[day] * rng.uniform(0.97, 1.03)
                contexts.append(ContextSnapshot(
                    ts=ts, underlying="SPX", provider="simulated", spx_price=_money(spx), vix_price=_money(vix),
                    vix9d_price=_money(vix * 0.95), vix30_own=round(vix * 1.01, 4), vix9d_own=round(vix * 0.96, 4),
                    term_ratio_9d_30d=0.95, term_slope_pts_per_day=0.02, gex_usd_per_pct=_money(rng.uniform(-3e9, 6e9)),
                    forwards=[{"expiration": e.isoformat(), "root": "SPXW", "forward": round(spx + 0.3 * (e - day).days, 4),
                               "discount": 0.9995, "ok": True} for e in sorted(seen)],
                    details={"vix30": {"terms": 2}, "vix9d": {"terms": 2}}))
        _bulk(ChainSnapshot, chains)
        by_exp_ts = {(c.ts, c.expiration): c.pk for c in chains}
        for ts, target, exp in keys:
            ids[(ts, target)] = by_exp_ts[(ts, exp)]
        _bulk(ContextSnapshot, contexts)
        through = ContextSnapshot.chain_snapshots.through
        by_ts: dict[dt.datetime, list[int]] = {}
        for c in chains:
            by_ts.setdefault(c.ts, []).append(c.pk)
        _bulk(through, [through(contextsnapshot_id=ctx.pk, chainsnapshot_id=cid)
                        for ctx in contexts for cid in by_ts[ctx.ts]])
    failures = [CaptureFailure(ts=_slot_times(rng.choice(days))[rng.randrange(SLOTS_PER_DAY)], underlying="SPX",
                               stage=CaptureFailure.Stage.CHAIN, target_dte=rng.choice(TARGETS), provider="simulated",
                               error_type="ProviderUnavailable", message="HTTP 502 after 3 retries") for _ in range(40)]
    _bulk(CaptureFailure, failures)
    _say(f"snapshots: {ChainSnapshot.objects.count():,} chains, {ContextSnapshot.objects.count():,} contexts", t0)
    return ids


def seed_backtest(days: list[dt.date], market: Market, rng: random.Random, t0: float) -> BacktestRun:
    """One done run of the 36-strategy grid over the year, rows as the assembly writes them."""
    configs = list(StrategyConfig.objects.order_by("priority", "name"))
    params = bt_services.params_build(start=days[0], end=days[-1], configs=configs)
    run = BacktestRunFactory(
        name="load: year × 36 (seeded rows)", start_date=days[0], end_date=days[-1], params=params,
        params_sha256=bt_services.params_sha256(params), status=BacktestRun.Status.DONE, days_total=len(days),
        days_done=len(days), chunks_total=-(-len(days) // 21), chunks=False,
        started_at=_et(days[-1], dt.time(17, 0)), finished_at=_et(days[-1], dt.time(17, 1)),
        data_days=[{"date": d.isoformat(), "cbbo_sha256": "c" * 64, "definition_sha256": "d" * 64} for d in days],
        timings={"read_s": 40.0, "compute_s": 55.0, "assemble_s": 9.0, "wall_s": 60.0})
    _bulk(BacktestChunk, [BacktestChunk(run=run, index=i, first_day=days[j], last_day=days[min(j + 20, len(days) - 1)],
                                        days_total=len(days[j:j + 21]), days_done=len(days[j:j + 21]),
                                        status=BacktestChunk.Status.DONE, attempts=1)
                          for i, j in enumerate(range(0, len(days), 21))])
    fees = float(params["fees_per_contract_usd"])
    decisions: list[TradeDecision] = []
    fates: list[dict[str, Any] | None] = []
    for config in configs:
        for window in WINDOWS:
            busy_until: dt.date | None = None
            for i, day in enumerate(days):
                at = _et(day, window)
                spx, vix = market.at(at), market.vix[day]
                cand = _candidate(rng, config, day=day, spx=spx, vix=vix)
                feats = _features(rng, dte=cand["dte"], delta=cand["delta"], is_call=cand["is_call"],
                                  credit=float(cand["credit"]), spx=spx, vix=vix, at=at)
                fate = _fate(rng, cand["credit"], days_after=days[i:i + 4], opened=at, expiration=cand["expiration"],
                             spx=spx)
                if rng.random() < 0.04:
                    decisions.append(_decision(config, day=day, window=window, source=Source.BACKTEST, run=run,
                                               action="SKIP", reason="combo_spread_wide",
                                               message="combo spread 1.65 > 1.50 points", cand=None, features=feats))
                    fates.append(None)
                elif busy_until is not None and busy_until >= day:
                    decisions.append(_decision(config, day=day, window=window, source=Source.BACKTEST, run=run,
                                               action="SKIP", reason="risk_limit", message="1 open trade (max 1)",
                                               cand=cand, features=feats))
                    fates.append(fate)
                else:
                    decisions.append(_decision(config, day=day, window=window, source=Source.BACKTEST, run=run,
                                               action="TRADE", reason="ok", message="", cand=cand, features=feats))
                    fates.append(fate)
                    busy_until = fate["day"] if fate["day"] > day else None
    with transaction.atomic():
        _bulk(TradeDecision, decisions)
        outcomes = [DecisionOutcome(decision=d, method=DecisionOutcome.Method.BACKTEST, **outcome_fields(
            entry_credit=d.credit_fill, quantity=1, entry_at=d.decided_at, exit_reason=f["reason"], exit_debit=f["debit"],
            exit_at=f["at"], fee_per_contract_usd=fees,
            take_profit_fraction=exit_rules_of(d.config_params).take_profit_fraction, settlement_price=f["settlement"],
            settlement_source="backtest estimate" if f["settlement"] else ""))
            for d, f in zip(decisions, fates) if f is not None]
        _bulk(DecisionOutcome, outcomes)
        trades, legs_of, fate_of = [], [], []
        for d, f in zip(decisions, fates):
            if d.action != "TRADE":
                continue
            assert f is not None and d.credit_fill is not None
            trade, legs = trade_build(d, quantity=1)
            trade.opened_at = d.decided_at
            trade_entry_set(trade, credit=d.credit_fill, exit_rules=exit_rules_of(d.config_params))
            if f["day"] > days[-1]:
                trade.status = Trade.Status.OPEN_AT_END  # its exit lies past the data: valued at its last mark
            else:
                trade_close_set(trade, exit_debit=f["debit"], reason=f["reason"], at=f["at"], fee_per_contract_usd=fees,
                                source="backtest estimate" if f["settlement"] else "backtest fill model",
                                settlement_price=f["settlement"])
            trades.append(trade)
            legs_of.append(legs)
            fate_of.append(f)
        _bulk(Trade, trades)
        _bulk(TradeLeg, [TradeLeg(trade=t, **{**leg, "exit_price": None}) for t, legs in zip(trades, legs_of) for leg in legs])
        marks = []
        for t, f in zip(trades, fate_of):
            day = t.opened_at.astimezone(NEW_YORK).date()
            held = [d for d in days if day <= d <= f["day"]]
            for d in held:
                last = d == held[-1] and t.status == Trade.Status.CLOSED
                ts = f["at"] if last else _et(d, dt.time(16, 0))
                debit = f["debit"] if last else _tick(float(t.entry_credit) * rng.uniform(0.6, 1.6))
                marks.append(PositionMark(trade=t, ts=ts, debit_mid=debit - Decimal("0.05") if debit > Decimal("0.05")
                                          else debit, debit_fill=debit,
                                          unrealized_pnl_usd=_money((float(t.entry_credit) - float(debit)) * 100),
                                          signal=f["reason"] if last and f["reason"] != SETTLE else ""))
        _bulk(PositionMark, marks)
        run.metrics = bt_services.run_metrics(run, trades)
        run.save(update_fields=["metrics"])
    _say(f"backtest run {run.pk}: {len(decisions):,} decisions, {len(trades):,} trades, {len(marks):,} marks", t0)
    return run


def seed_paper(days: list[dt.date], market: Market, rng: random.Random, snap_ids: dict[tuple[dt.datetime, int], int],
               model: ModelVersion, configs_n: int, t0: float) -> dict[str, list[int]]:
    """A year of simulated paper trading: one shared budget, max one open trade, orders, fills, marks."""
    configs = list(StrategyConfig.objects.order_by("priority", "name"))[:configs_n]
    fees = settings.FEES_PER_CONTRACT_USD
    contexts = dict(ContextSnapshot.objects.values_list("ts", "pk"))
    checksums = dict(ChainSnapshot.objects.filter(purpose="target").values_list("pk", "checksum"))
    decisions: list[TradeDecision] = []
    fates: list[dict[str, Any] | None] = []
    busy_until: dt.date | None = None
    last_day = days[-1]
    for i, day in enumerate(days):
        traded_today = False
        for window in WINDOWS:
            at = _et(day, window)
            spx, vix = market.at(at), market.vix[day]
            for config in configs:
                cand = _candidate(rng, config, day=day, spx=spx, vix=vix)
                feats = _features(rng, dte=cand["dte"], delta=cand["delta"], is_call=cand["is_call"],
                                  credit=float(cand["credit"]), spx=spx, vix=vix, at=at)
                snap = snap_ids[(at, config.target_dte)]
                common = {"day": day, "window": window, "source": Source.SIMULATED, "run": None, "features": feats,
                          "snapshot_id": snap, "context_id": contexts[at], "checksum": checksums[snap],
                          "model": (model.version, round(rng.uniform(0.55, 0.9), 4))}
                fate = _fate(rng, cand["credit"], days_after=days[i:i + 4], opened=at, expiration=cand["expiration"],
                             spx=spx)
                open_now = busy_until is not None and busy_until >= day
                if rng.random() < 0.05:
                    decisions.append(_decision(config, action="SKIP", reason="credit_below_min",
                                               message="fill-model credit 0.45 < 0.50", cand=None, **common))
                    fates.append(None)
                elif open_now or traded_today:
                    decisions.append(_decision(config, action="SKIP", reason="risk_limit",
                                               message="1 open trade (max 1)" if open_now else "1 entry today (max 1)",
                                               cand=cand, **common))
                    fates.append(fate)
                else:
                    if day == last_day and window == WINDOWS[0]:
                        fate = None  # today's trade stays open: the dashboard's open position
                    decisions.append(_decision(config, action="TRADE", reason="ok", message="", cand=cand, **common))
                    fates.append(fate)
                    traded_today = True
                    busy_until = fate["day"] if fate and fate["day"] > day else (last_day if fate is None else None)
    with transaction.atomic():
        _bulk(TradeDecision, decisions)
        _bulk(DecisionOutcome, [
            DecisionOutcome(decision=d, method=DecisionOutcome.Method.SHADOW, walked_until=f["at"], **outcome_fields(
                entry_credit=d.credit_fill, quantity=1, entry_at=d.decided_at, exit_reason=f["reason"],
                exit_debit=f["debit"], exit_at=f["at"], fee_per_contract_usd=fees,
                take_profit_fraction=exit_rules_of(d.config_params).take_profit_fraction,
                settlement_price=f["settlement"], settlement_source="simulated SPX at 16:00" if f["settlement"] else ""))
            for d, f in zip(decisions, fates) if f is not None])
        trades, legs_of, fate_of = [], [], []
        last_day = days[-1]
        for d, f in zip(decisions, fates):
            if d.action != "TRADE":
                continue
            assert d.credit_fill is not None
            trade, legs = trade_build(d, quantity=1)
            trade.opened_at = d.decided_at + dt.timedelta(seconds=20)
            trade.status = Trade.Status.OPEN
            trade_entry_set(trade, credit=d.credit_fill, exit_rules=exit_rules_of(d.config_params))
            if f is not None and f["day"] <= last_day:
                trade_close_set(trade, exit_debit=f["debit"], reason=f["reason"], at=f["at"], fee_per_contract_usd=fees,
                                source="simulated SPX at 16:00" if f["settlement"] else "simulated broker fill",
                                settlement_price=f["settlement"])
            trades.append(trade)
            legs_of.append(legs)
            fate_of.append(f)
        _bulk(Trade, trades)
        _bulk(TradeLeg, [TradeLeg(trade=t, **{**leg, "exit_price": None}) for t, legs in zip(trades, legs_of) for leg in legs])
        orders, fills_for = [], []
        for t, legs, f in zip(trades, legs_of, fate_of):
            symbols = [leg["symbol"] for leg in legs]
            spec = [("open", t.entry_credit, t.opened_at, ("sell_to_open", "buy_to_open"))]
            if t.status == Trade.Status.CLOSED and f is not None and f["reason"] != SETTLE:
                spec.append(("close", t.exit_debit, f["at"], ("buy_to_close", "sell_to_close")))
            for purpose, price, at, sides in spec:
                tag = f"spx-{purpose}-{t.pk:010d}"
                orders.append(Order(
                    client_tag=tag, trade=t, purpose=purpose, attempt=1, source=t.source, broker="simulated",
                    broker_order_id=f"sim-{t.pk}-{purpose}", state="filled", order_type="credit" if purpose == "open"
                    else "debit", limit_price=price, initial_limit_price=price, quantity=1,
                    legs=[{"option_symbol": s, "side": side, "quantity": 1} for s, side in zip(symbols, sides)],
                    filled_quantity=1, avg_fill_price=price, submitted_at=at - dt.timedelta(seconds=15),
                    last_synced_at=at, created_at=at - dt.timedelta(seconds=20)))
                fills_for.append((price, at))
        _bulk(Order, orders)
        _bulk(Fill, [Fill(order=o, fill_key=f"{o.broker_order_id}:1", quantity=1, price=price, filled_at=at)
                     for o, (price, at) in zip(orders, fills_for)])
        slots = [ts for d in days for ts in _slot_times(d)]
        marks = []
        for t, f in zip(trades, fate_of):
            end = f["at"] if t.status == Trade.Status.CLOSED and f is not None else slots[-1]
            dte = t.strategy_config.target_dte
            credit = float(t.entry_credit)
            for ts in slots:
                if ts <= t.opened_at or ts > end:
                    continue
                debit = _tick(credit * rng.uniform(0.55, 1.9))
                marks.append(PositionMark(trade=t, ts=ts, snapshot_id=snap_ids.get((ts, dte)), debit_mid=debit,
                                          debit_fill=debit + Decimal("0.05"),
                                          unrealized_pnl_usd=_money((credit - float(debit) - 0.05) * 100)))
        _bulk(PositionMark, marks)
    _say(f"paper: {len(decisions):,} decisions, {len(trades):,} trades, {len(orders):,} orders, {len(marks):,} marks", t0)
    live = [d for d in decisions if d.snapshot_id and d.credit_fill is not None]
    return {"decisions": [d.pk for d in live[-12:]], "trades": [t.pk for t in trades[-8:]]}


def full_chains(decision_ids: list[int], t0: float) -> None:
    """Give the chains that the detail requests read a full-size payload: the simulated market at their slot."""
    from snapshots.providers.simulated import SimulatedMarket

    for snap in ChainSnapshot.objects.filter(decisions__pk__in=decision_ids).distinct():
        market = SimulatedMarket(seed=settings.SIMULATED_MARKET_SEED, now=lambda ts=snap.ts: ts)
        try:
            chain = market.chain("SPX", snap.expiration)
        except Exception as exc:  # noqa: BLE001 - a missing listing only leaves the small payload
            print(f"  chain {snap.pk}: kept the small payload ({type(exc).__name__}: {exc})")
            continue
        canonical = payloads.canonical_json(chain.payload)
        snap.payload_zstd = payloads.compress(canonical)
        snap.payload_size_bytes = len(canonical)
        snap.option_count = len(chain.options)
        snap.checksum = payloads.checksum_of(canonical)
        snap.save(update_fields=["payload_zstd", "payload_size_bytes", "option_count", "checksum"])
        TradeDecision.objects.filter(snapshot=snap).update(snapshot_checksum=snap.checksum)
    _say(f"full-size chains for {len(decision_ids)} decisions' detail pages", t0)


def seed_model(days: list[dt.date], rng: random.Random) -> ModelVersion:
    """An active meta-labeler row with training reference distributions (no model file: it scores nothing here)."""
    reference = {n: evaluation.psi_reference(np.array([rng.gauss(0, 1) for _ in range(2000)])) for n in FEATURE_NAMES}
    reference["score"] = evaluation.psi_reference(np.array([rng.uniform(0.5, 0.9) for _ in range(2000)]))
    return ModelVersionFactory(status=ModelVersion.Status.ACTIVE, feature_schema=FEATURE_SCHEMA_VERSION,
                               feature_names=list(FEATURE_NAMES), dataset_rows=8350, threshold=0.686,
                               report={"reference": reference, "oos": {"brier": 0.232, "auc": 0.543, "reliability": []}},
                               gain_expectancy_usd=51.84, gain_low_usd=19.32, gain_high_usd=83.84,
                               status_changed_at=_et(days[0], dt.time(9, 0)))


def seed_imported_days(days: list[dt.date]) -> None:
    """The import manifest of the year's OPRA files, with an empty file where each Parquet file would be
    (the backtests page checks that they exist on disk; nothing reads them during the load test)."""
    from backtests.data import store

    now = _et(days[-1], dt.time(18, 0))
    for d in days:
        for schema in ("cbbo-1m", "definition", "statistics"):
            path = store.parquet_path(schema, d)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    _bulk(ImportedDay, [ImportedDay(date=d, schema=schema, source_file=f"/data/incoming/opra-{d}.{schema}.dbn.zst",
                                    file_sha256=f"{i:064x}", record_count=2_500_000, instrument_count=9000,
                                    parquet_path=str(store.parquet_path(schema, d)), parquet_bytes=80_000_000,
                                    imported_at=now)
                        for i, d in enumerate(days) for schema in ("cbbo-1m", "definition", "statistics")])


def seed_users(n: int) -> list[dict[str, str]]:
    user_model = get_user_model()
    out = []
    for i in range(1, n + 1):
        user = user_model.objects.create_user(username=f"load{i:02d}", password=PASSWORD)
        _, key = token_create(user=user, scope=ApiToken.Scope.READ, name="load test")
        out.append({"username": user.username, "password": PASSWORD, "token": key})
    return out


def counts() -> dict[str, int]:
    models = {"decisions (backtest)": TradeDecision.objects.filter(source=Source.BACKTEST),
              "decisions (simulated)": TradeDecision.objects.filter(source=Source.SIMULATED),
              "trades (backtest)": Trade.objects.filter(source=Source.BACKTEST),
              "trades (simulated)": Trade.objects.filter(source=Source.SIMULATED),
              "trade legs": TradeLeg.objects.all(), "orders": Order.objects.all(), "fills": Fill.objects.all(),
              "position marks": PositionMark.objects.all(), "decision outcomes": DecisionOutcome.objects.all(),
              "chain snapshots": ChainSnapshot.objects.all(), "context snapshots": ContextSnapshot.objects.all(),
              "imported days": ImportedDay.objects.all(), "backtest runs": BacktestRun.objects.all()}
    return {name: qs.count() for name, qs in models.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON with logins, tokens and the ids to request")
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--paper-configs", type=int, default=1,
                        help="configs the paper book decides on at each window (1: 750 decisions a year; 12: 9,000)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    t0 = time.perf_counter()
    if TradeDecision.objects.exists():
        raise SystemExit("the database already has decisions: seed an empty, migrated database")
    rng = random.Random(args.seed)
    today = dt.datetime.now(NEW_YORK).date()
    end = today if market_calendar.is_trading_day(today) else market_calendar.previous_trading_day(today)
    days = market_calendar.trading_days(end - dt.timedelta(days=420), end)[-args.days:]
    market = Market(days, rng)
    _say(f"{len(days)} trading days {days[0]}..{days[-1]} on {connection.vendor}", t0)
    snap_ids = seed_snapshots(days, market, rng, t0)
    run = seed_backtest(days, market, rng, t0)
    model = seed_model(days, rng)
    detail = seed_paper(days, market, rng, snap_ids, model, args.paper_configs, t0)
    full_chains(detail["decisions"], t0)
    seed_imported_days(days)
    users = seed_users(args.users)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")  # planner statistics and visibility map, as autovacuum keeps them
    backtest_trade = Trade.objects.filter(backtest_run=run).order_by("-pk").values_list("pk", flat=True)[:8]
    backtest_decision = TradeDecision.objects.filter(backtest_run=run).order_by("-pk").values_list("pk", flat=True)[:8]
    info = {"users": users, "run": run.pk, "days": [days[0].isoformat(), days[-1].isoformat()],
            "decisions": detail["decisions"], "trades": detail["trades"], "backtest_trades": list(backtest_trade),
            "backtest_decisions": list(backtest_decision), "counts": counts(),
            "seconds": round(time.perf_counter() - t0, 1)}
    args.out.write_text(json.dumps(info, indent=1))
    for name, n in info["counts"].items():
        print(f"  {name:24} {n:>9,}")
    _say(f"done, wrote {args.out}", t0)


if __name__ == "__main__":
    main()
