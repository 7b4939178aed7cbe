"""Backtest runs: create, split into chunks, replay chunks (Celery or in line), assemble, measure.

Flow: ``run_create`` checks the data and stores the run with its chunks (days split evenly);
``run_launch`` queues one ``chunk_run`` task per chunk after commit. A chunk claims its row,
replays its days with every strategy (phase 1, ``engine.replay``), stores its candidates and
exits, and the chunk that finishes last assembles the run in one transaction: risk books in
time order (phase 2, ``engine.books``), then ``TradeDecision`` / ``Trade`` / ``TradeLeg`` /
``PositionMark`` rows with ``source = backtest``, then the metrics. Every step is idempotent: a
retried chunk overwrites its own result, the assembly deletes the run's rows before writing them,
and the decision business key (day × window × config × run) is a unique constraint.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import zstandard
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from backtests.data import store
from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION
from backtests.engine import metrics as metrics_mod
from backtests.engine.books import books_walk
from backtests.engine.daydata import DayData
from backtests.engine.replay import DayReplayer, EngineParams, Strategy
from backtests.models import BacktestChunk, BacktestRun, ImportedDay
from execution.models import PositionMark, Trade, TradeLeg
from snapshots import market_calendar, settlement_values
from strategy.models import StrategyConfig, TradeDecision
from strategy.quant import rules
from strategy.quant.osi import parse_symbol
from strategy.quant.money import cents as money
from strategy.quant.money import cents_or_none as decision_money
from strategy.quant.money import mid_or_none
from strategy.services import ENTRY_WINDOWS, NEW_YORK, risk_limits, spread_rules

logger = logging.getLogger(__name__)

RISK_SCOPES = ("per_strategy", "shared")
DEFAULT_CHUNK_DAYS = 21
EXTENSION_CALENDAR_DAYS = 16  # days read past a chunk to finish its open trades (7 DTE + tolerance + holidays)
SOURCE = TradeDecision.Source.BACKTEST


class BacktestError(ValueError):
    """A run that cannot be created or run as asked; the message says why."""


# ------------------------------------------------------------------------------------ parameters

def _window(text: str) -> dt.time:
    try:
        w = dt.time.fromisoformat(text)
    except ValueError:
        raise BacktestError(f"entry window {text!r} is not HH:MM") from None
    if w not in ENTRY_WINDOWS:
        raise BacktestError(f"entry window {text} is not one of {', '.join(x.strftime('%H:%M') for x in ENTRY_WINDOWS)}")
    return w


def params_build(
    *, start: dt.date, end: dt.date, configs: Iterable[StrategyConfig], windows: Sequence[str] = ("10:00", "11:00", "12:00"),
    risk_scope: str = "per_strategy", exit_check_minutes: int = 1, chunk_days: int = DEFAULT_CHUNK_DAYS,
    take_profit_fraction: float | None = None, stop_loss_multiple: float | None = None,
    fees_per_contract_usd: float | None = None, dte_tolerance_days: int | None = None,
) -> dict[str, Any]:
    """The full, canonical configuration of a run (stored on it and hashed).

    ``per_strategy``: every (config, window) pair is its own strategy with its own risk budget — the
    research grid (12 seeded configs × 3 windows = 36). ``shared``: the configs decide at each of
    the windows and share one budget, ranked as live does — the mode that reproduces live trading.
    """
    if end < start:
        raise BacktestError(f"end {end} is before start {start}")
    if risk_scope not in RISK_SCOPES:
        raise BacktestError(f"risk scope must be one of {RISK_SCOPES}, got {risk_scope!r}")
    if not 1 <= exit_check_minutes <= 60:
        raise BacktestError("exit check interval must be 1 to 60 minutes")
    if chunk_days < 1:
        raise BacktestError("chunk size must be at least one day")
    window_list = sorted({_window(w) for w in windows})
    if not window_list:
        raise BacktestError("choose at least one entry window")
    configs = sorted(configs, key=lambda c: (c.priority, c.name))
    if not configs:
        raise BacktestError("choose at least one strategy config")
    strategies = []
    for c in configs:
        frozen = c.frozen()
        if risk_scope == "shared":
            strategies.append({"key": f"{c.pk}", "config_id": c.pk, "name": c.name, "params": frozen,
                               "windows": [w.strftime("%H:%M") for w in window_list], "book": "shared"})
        else:
            for w in window_list:
                key = f"{c.pk}@{w:%H%M}"
                strategies.append({"key": key, "config_id": c.pk, "name": f"{c.name} @ {w:%H:%M}", "params": frozen,
                                   "windows": [w.strftime("%H:%M")], "book": key})
    tp = settings.TAKE_PROFIT_FRACTION if take_profit_fraction is None else take_profit_fraction
    sl = settings.STOP_LOSS_MULTIPLE if stop_loss_multiple is None else stop_loss_multiple
    if not 0 < tp <= 1 or not sl > 1:
        raise BacktestError("take profit must lie in (0, 1] and the stop multiple above 1")
    return {
        "start": start.isoformat(), "end": end.isoformat(), "risk_scope": risk_scope, "strategies": strategies,
        "take_profit_fraction": float(tp), "stop_loss_multiple": float(sl),
        "fill_fraction": 0.30, "exit_check_minutes": int(exit_check_minutes),
        "dte_tolerance_days": int(settings.SNAPSHOT_DTE_TOLERANCE_DAYS if dte_tolerance_days is None else dte_tolerance_days),
        "fees_per_contract_usd": float(settings.FEES_PER_CONTRACT_USD if fees_per_contract_usd is None else fees_per_contract_usd),
        "chunk_days": int(chunk_days),
        # Official settlement values loaded by the operator override the estimates (stored, so a
        # rerun of these params settles alike whatever the table holds later).
        "official_settlements": settlement_values.as_rows(settlement_values.official_settlements(
            start, end + dt.timedelta(days=EXTENSION_CALENDAR_DAYS))),
    }


def canonical_sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def strategies_of(params: dict[str, Any]) -> list[Strategy]:
    """The run's strategies, their rules built from the frozen config parameters as live builds them."""
    out = []
    for s in params["strategies"]:
        config = StrategyConfig(**s["params"])  # unsaved: only read by spread_rules / risk_limits
        out.append(Strategy(
            key=s["key"], config_id=int(s["config_id"]), name=s["name"], params=s["params"],
            rules=dataclasses.replace(spread_rules(config), fill_fraction=float(params["fill_fraction"])),
            target_dte=int(config.target_dte), windows=tuple(dt.time.fromisoformat(w) for w in s["windows"]),
            priority=int(config.priority), limits=risk_limits(config), book=s["book"],
        ))
    return out


def engine_params(params: dict[str, Any]) -> EngineParams:
    return EngineParams(take_profit_frac=params["take_profit_fraction"], stop_loss_mult=params["stop_loss_multiple"],
                        fill_fraction=params["fill_fraction"],
                        exit_check_minutes=params["exit_check_minutes"], dte_tolerance_days=params["dte_tolerance_days"],
                        fee_per_contract_usd=params["fees_per_contract_usd"])


# ------------------------------------------------------------------------------------ data

def imported_days(days: Iterable[dt.date]) -> dict[dt.date, dict[str, str]]:
    """{day: {schema: file_sha256}} for days with both schemas in the manifest and on disk."""
    wanted = set(days)
    found: dict[dt.date, dict[str, str]] = {}
    for row in ImportedDay.objects.filter(date__in=wanted, schema__in=[SCHEMA_CBBO_1M, SCHEMA_DEFINITION]):
        found.setdefault(row.date, {})[row.schema] = row.file_sha256
    return {d: v for d, v in found.items()
            if len(v) == 2 and all(store.parquet_path(s, d).is_file() for s in (SCHEMA_CBBO_1M, SCHEMA_DEFINITION))}


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return list(market_calendar.trading_days(start, end))


@lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 (12 hex) of the source that decides: the engine, the quant core and the analytics."""
    base = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted([*base.glob("backtests/engine/*.py"), *base.glob("strategy/quant/*.py"),
                        base / "snapshots" / "analytics.py", base / "backtests" / "services.py"]):
        h.update(path.relative_to(base).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------------------------ runs

def run_create(params: dict[str, Any], *, name: str = "", idempotency_key: str | None = None) -> tuple[BacktestRun, bool]:
    """(run, created). Refuses a range with missing data; the same idempotency key returns its run."""
    if idempotency_key:
        existing = BacktestRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.params_sha256 != canonical_sha256(params):
                raise BacktestError(f"idempotency key {idempotency_key!r} was used for a different configuration")
            return existing, False
    start, end = dt.date.fromisoformat(params["start"]), dt.date.fromisoformat(params["end"])
    days = trading_days(start, end)
    if not days:
        raise BacktestError(f"no trading days between {start} and {end}")
    have = imported_days(days)
    missing = [d for d in days if d not in have]
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BacktestError(
            f"{len(missing)} of {len(days)} trading days have no imported OPRA data: {shown}. Import them first "
            "(manage.py databento_import, or manage.py dbn_generate --import for simulated data)."
        )
    size = int(params.get("chunk_days") or DEFAULT_CHUNK_DAYS)
    pieces = [days[i:i + size] for i in range(0, len(days), size)]
    try:
        with transaction.atomic():
            run = BacktestRun.objects.create(
                name=name[:120], idempotency_key=idempotency_key or None, params=params,
                params_sha256=canonical_sha256(params), start_date=start, end_date=end, days_total=len(days),
                chunks_total=len(pieces), code_version=code_version(),
            )
            BacktestChunk.objects.bulk_create([
                BacktestChunk(run=run, index=i, first_day=p[0], last_day=p[-1], days_total=len(p))
                for i, p in enumerate(pieces)
            ])
    except IntegrityError:  # the same key launched concurrently: that run stands
        return BacktestRun.objects.get(idempotency_key=idempotency_key), False
    return run, True


def run_launch(run: BacktestRun) -> None:
    """Queue the run's unfinished chunks on the Celery workers (after commit)."""
    from backtests.tasks import chunk_run

    for chunk_id in run.chunks.exclude(status=BacktestChunk.Status.DONE).values_list("pk", flat=True):
        chunk_run.delay_on_commit(chunk_id)


def run_cancel(run: BacktestRun) -> BacktestRun:
    """Stop a run: chunks check between days and stop; nothing is assembled."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run.pk)
        if not run.finished:
            run.status = BacktestRun.Status.CANCELLED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
    return run


def run_reopen(run: BacktestRun) -> BacktestRun:
    """A failed run goes back to running, its failed chunks to pending (then ``run_launch``)."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run.pk)
        if run.status == BacktestRun.Status.FAILED:
            run.chunks.filter(status=BacktestChunk.Status.FAILED).update(status=BacktestChunk.Status.PENDING)
            run.status, run.error, run.finished_at = BacktestRun.Status.RUNNING, "", None
            run.save(update_fields=["status", "error", "finished_at"])
    return run


def _is_cancelled(run_id: int) -> bool:
    return BacktestRun.objects.filter(pk=run_id, status=BacktestRun.Status.CANCELLED).exists()


def chunk_execute(chunk_id: int, *, progress: Callable[[int], None] | None = None) -> BacktestChunk | None:
    """Replay one chunk (phase 1) and, if it is the run's last, assemble the run. Idempotent.

    Returns None when there is nothing to do (the chunk is done, or the run finished/cancelled).
    """
    with transaction.atomic():
        chunk = BacktestChunk.objects.select_for_update().select_related("run").get(pk=chunk_id)
        run = chunk.run
        if chunk.status == BacktestChunk.Status.DONE or run.finished:
            return None
        chunk.status, chunk.attempts, chunk.started_at, chunk.days_done = (
            BacktestChunk.Status.RUNNING, chunk.attempts + 1, timezone.now(), 0)
        chunk.save(update_fields=["status", "attempts", "started_at", "days_done"])
        BacktestRun.objects.filter(pk=run.pk, status=BacktestRun.Status.PENDING).update(
            status=BacktestRun.Status.RUNNING, started_at=timezone.now())
    started = time.perf_counter()
    params = run.params
    replayer = DayReplayer(strategies_of(params), engine_params(params), load_day=_load_day,
                           official=settlement_values.from_rows(params.get("official_settlements", [])))
    days = trading_days(chunk.first_day, chunk.last_day)
    try:
        for i, day in enumerate(days, start=1):
            if _is_cancelled(run.pk):
                return None
            if not replayer.run_day(day, entries=True):
                raise BacktestError(f"{day}: the imported data disappeared while the run was going")
            BacktestChunk.objects.filter(pk=chunk.pk).update(days_done=i)
            _progress_update(run.pk)
            if progress:
                progress(1)
        # Finish the trades still open at the chunk's end with the days that follow (exits only).
        extra = trading_days(chunk.last_day + dt.timedelta(days=1), chunk.last_day + dt.timedelta(days=EXTENSION_CALENDAR_DAYS))
        for day in extra:
            if not replayer.alive or not replayer.run_day(day, entries=False):
                break
    except Exception as exc:
        BacktestChunk.objects.filter(pk=chunk.pk).update(status=BacktestChunk.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    out = replayer.out
    blob = zstandard.ZstdCompressor(level=3).compress(
        json.dumps({"candidates": out.candidates, "days_read": out.days_read}, separators=(",", ":")).encode())
    with transaction.atomic():
        chunk = BacktestChunk.objects.select_for_update().get(pk=chunk.pk)
        chunk.result = blob
        chunk.status = BacktestChunk.Status.DONE
        chunk.finished_at = timezone.now()
        chunk.days_done = len(days)
        chunk.error = ""
        chunk.timings = {"read_s": round(out.read_s, 3), "compute_s": round(out.compute_s, 3),
                         "wall_s": round(time.perf_counter() - started, 3), "days_read": len(out.days_read)}
        chunk.save()
        run = BacktestRun.objects.select_for_update().get(pk=run.pk)
        _progress_update(run.pk)
        last = not run.chunks.exclude(status=BacktestChunk.Status.DONE).exists()
    if last:
        run_assemble(run.pk)
    return chunk


def _progress_update(run_id: int) -> None:
    """The run's days done = the sum over its chunks (so a retried chunk never counts twice)."""
    done = BacktestChunk.objects.filter(run_id=run_id).aggregate(n=Sum("days_done"))["n"] or 0
    BacktestRun.objects.filter(pk=run_id).update(days_done=done)


def run_fail(chunk_id: int, exc: BaseException) -> None:
    """A chunk failed for good: the run fails with the reason (its rows were never written)."""
    message = f"chunk {chunk_id}: {type(exc).__name__}: {exc}"[:2000]
    BacktestChunk.objects.filter(pk=chunk_id).update(status=BacktestChunk.Status.FAILED, error=message)
    run_id = BacktestChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
    BacktestRun.objects.filter(pk=run_id).exclude(status__in=[BacktestRun.Status.DONE, BacktestRun.Status.CANCELLED]).update(
        status=BacktestRun.Status.FAILED, error=message, finished_at=timezone.now())
    logger.error("backtest run %s failed: %s", run_id, message)


def _load_day(day: dt.date) -> DayData | None:
    try:
        return DayData(day)
    except FileNotFoundError:
        return None


def run_execute_inline(run: BacktestRun, *, progress: Callable[[int], None] | None = None) -> BacktestRun:
    """Run every chunk in this process, in order (the foreground command and tests)."""
    for chunk_id in run.chunks.order_by("index").values_list("pk", flat=True):
        chunk_execute(chunk_id, progress=progress)
    run.refresh_from_db()
    return run


# ------------------------------------------------------------------------------------ assembly

def run_assemble(run_id: int) -> BacktestRun:
    """Phase 2 and the rows: books in time order, decisions/trades/legs/marks, metrics. Idempotent."""
    from mlmodels.gate import gate as ml_gate

    started = time.perf_counter()
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.status in (BacktestRun.Status.DONE, BacktestRun.Status.CANCELLED):
            return run
        candidates: list[dict[str, Any]] = []
        days_read: set[str] = set()
        for chunk in run.chunks.order_by("index"):
            payload = json.loads(zstandard.ZstdDecompressor().decompress(bytes(chunk.result)))
            candidates.extend(payload["candidates"])
            days_read.update(payload["days_read"])
        strategies = strategies_of(run.params)
        verdicts = books_walk(candidates, strategies, gate=ml_gate)
        _rows_delete(run)
        read = sorted(days_read)
        manifest = imported_days(dt.date.fromisoformat(d) for d in read)  # the decision days are among them
        trades = _rows_write(run, strategies, verdicts, manifest)
        run.data_days = [{"date": d.isoformat(), "cbbo_sha256": manifest.get(d, {}).get(SCHEMA_CBBO_1M, ""),
                          "definition_sha256": manifest.get(d, {}).get(SCHEMA_DEFINITION, "")}
                         for d in map(dt.date.fromisoformat, read)]
        run.data_sha256 = canonical_sha256(run.data_days)
        run.metrics = run_metrics(run, trades)
        timings = [c.timings for c in run.chunks.all()]
        run.timings = {
            "read_s": round(sum(t.get("read_s", 0) for t in timings), 3),
            "compute_s": round(sum(t.get("compute_s", 0) for t in timings), 3),
            "assemble_s": round(time.perf_counter() - started, 3),
        }
        run.status = BacktestRun.Status.DONE
        run.finished_at = timezone.now()
        if run.started_at:
            run.timings["wall_s"] = round((run.finished_at - run.started_at).total_seconds(), 3)
        run.error = ""
        run.save()
    return run


def _rows_delete(run: BacktestRun) -> None:
    trades = Trade.objects.filter(backtest_run=run)
    PositionMark.objects.filter(trade__in=trades).delete()
    TradeLeg.objects.filter(trade__in=trades).delete()
    trades.delete()
    TradeDecision.objects.filter(backtest_run=run).delete()


def _usd(x: float | Decimal | None) -> Decimal | None:
    """Trade money as the live services store it (``execution.services.money``); None stays None."""
    return money(x) if x is not None else None


def _insert_many(model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (column → value; foreign keys by ``*_id``) with one ``executemany``."""
    if not rows:
        return
    from django.db import connection, models as m

    ops = connection.ops
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    columns = list(rows[0])

    def adapt(field: Any, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(field, m.DecimalField):
            return ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)
        if isinstance(field, m.DateTimeField):
            return ops.adapt_datetimefield_value(value)
        return value

    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        ops.quote_name(model._meta.db_table), ", ".join(ops.quote_name(fields[c].column) for c in columns),
        ", ".join(["%s"] * len(columns)))
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[adapt(fields[c], row[c]) for c in columns] for row in rows])


def _rows_write(run: BacktestRun, strategies: Sequence[Strategy], verdicts: Sequence[tuple[dict[str, Any], Any]],
                manifest: dict[dt.date, dict[str, str]]) -> list[Trade]:
    """The run's rows, rounded exactly as the live services round them (so parity is field-exact)."""
    by_key = {s.key: s for s in strategies}
    sha_by_day = {d: v.get(SCHEMA_CBBO_1M, "") for d, v in manifest.items()}
    decisions = []
    for c, v in verdicts:
        s = by_key[c["strategy"]]
        decisions.append(TradeDecision(
            trading_day=dt.date.fromisoformat(c["day"]), entry_window=dt.time.fromisoformat(c["window"]),
            strategy_config_id=s.config_id, config_params=s.params, source=SOURCE, backtest_run=run,
            decided_at=dt.datetime.fromisoformat(c["decided_at"]), action=v.action, reason_code=v.reason_code,
            reason_message=v.reason_message, snapshot_checksum=sha_by_day.get(dt.date.fromisoformat(c["day"]), ""),
            expiration=dt.date.fromisoformat(c["expiration"]) if c["expiration"] else None, legs=c["legs"],
            credit_mid=mid_or_none(c["credit_mid"]), credit_fill=decision_money(c["credit_fill"]),
            width_points=decision_money(c["width_points"]), max_profit_usd=decision_money(c["max_profit_usd"]),
            max_loss_usd=decision_money(c["max_loss_usd"]), features=c["features"], model_version=v.model_version,
            model_score=v.model_score,
        ))
    TradeDecision.objects.bulk_create(decisions, batch_size=500)
    fee = run.params["fees_per_contract_usd"]
    tp, sl = Decimal(str(run.params["take_profit_fraction"])), Decimal(str(run.params["stop_loss_multiple"]))
    trades, legs_by_trade, marks_by_trade = [], [], []
    for d, (c, v) in zip(decisions, verdicts):
        if v.action != "TRADE":
            continue
        s = by_key[c["strategy"]]
        short, long_ = c["legs"]
        credit = d.credit_fill  # the entry fills at its limit, the decision's modelled credit
        qty = int(c["quantity"])
        exit_ = c["exit"]
        trade = Trade(
            decision=d, strategy_config_id=s.config_id, source=SOURCE, backtest_run=run, side=s.rules.side,
            root=parse_symbol(short["symbol"]).root, expiration=d.expiration, quantity=qty,
            short_strike=Decimal(str(short["strike"])), long_strike=Decimal(str(long_["strike"])),
            width_points=d.width_points, entry_credit=credit, max_profit_usd=_usd(credit * 100 * qty),
            max_loss_usd=_usd((d.width_points - credit) * 100 * qty),
            take_profit_debit=_usd(credit * (1 - tp)), stop_loss_debit=_usd(credit * sl),
            opened_at=d.decided_at, status=Trade.Status.OPEN_AT_END,  # until its exit is known
        )
        if exit_:
            settled = exit_["reason"] == "settlement"
            fees = _usd(rules.fees_usd(fee, qty, settled=settled))
            exit_debit = _usd(Decimal(str(exit_["debit"])))
            gross = rules.pnl_usd(float(credit), float(exit_debit), qty)
            trade.status = Trade.Status.CLOSED
            trade.closed_at = dt.datetime.fromisoformat(exit_["at"])
            trade.exit_reason = exit_["reason"]
            trade.exit_debit = exit_debit
            trade.settlement_price = _usd(exit_["settlement_price"])
            trade.settlement_source = (exit_["settlement_source"] or "backtest fill model")[:60]
            trade.fees_usd = fees
            trade.realized_pnl_usd = _usd(Decimal(str(gross)) - fees)
        trades.append(trade)
        legs_by_trade.append((short, long_))
        marks_by_trade.append(c["marks"])
    Trade.objects.bulk_create(trades, batch_size=500)
    # Legs and marks are most of the rows: inserted with one executemany each, values adapted by the
    # database backend exactly as the ORM would (bulk_create spends most of its time preparing fields).
    legs, marks = [], []
    for trade, (short, long_), trade_marks in zip(trades, legs_by_trade, marks_by_trade):
        for leg in (short, long_):
            legs.append({"trade_id": trade.pk, "symbol": leg["symbol"], "side": leg["side"],
                         "strike": Decimal(str(leg["strike"])), "option_type": "call" if leg["is_call"] else "put",
                         "quantity": trade.quantity, "entry_price": decision_money(leg["mid"]), "exit_price": None})
        for m in trade_marks:
            marks.append({"trade_id": trade.pk, "ts": dt.datetime.fromisoformat(m["ts"]), "snapshot_id": None,
                          "debit_mid": _usd(m["debit_mid"]), "debit_fill": _usd(m["debit_fill"]), "signal": m["signal"],
                          "unrealized_pnl_usd": _usd(rules.pnl_usd(float(trade.entry_credit), m["debit_fill"],
                                                                   trade.quantity))})
    _insert_many(TradeLeg, legs)
    _insert_many(PositionMark, marks)
    return trades


# ------------------------------------------------------------------------------------ metrics

def run_metrics(run: BacktestRun, trades: Sequence[Trade]) -> dict[str, Any]:
    """Summary, per-bucket grid (DTE × delta × window × side) and the daily equity curve."""
    days = trading_days(run.start_date, run.end_date)
    closed = []
    open_at_end = [t for t in trades if t.status != Trade.Status.CLOSED]
    last_marks = {m.trade_id: m for m in PositionMark.objects.filter(trade__in=open_at_end).order_by("ts")}
    for t in trades:
        if t.status != Trade.Status.CLOSED:
            continue
        d = t.decision
        closed.append(metrics_mod.ClosedTrade(
            entry_day=d.trading_day, exit_day=t.closed_at.astimezone(NEW_YORK).date(),
            pnl_usd=float(t.realized_pnl_usd), entry_credit=float(t.entry_credit), max_profit_usd=float(t.max_profit_usd),
            max_loss_usd=float(t.max_loss_usd), exit_reason=t.exit_reason,
            bucket=(int(d.config_params["target_dte"]), float(d.config_params["short_delta_target"]),
                    d.entry_window.strftime("%H:%M"), t.side),
        ))
    summary = metrics_mod.summarise(closed, days)
    curve = metrics_mod.equity_curve(closed, days)
    buckets = metrics_mod.by_bucket(closed, days)
    decisions = TradeDecision.objects.filter(backtest_run=run)
    return {
        "summary": summary.as_dict(),
        "decisions": decisions.count(),
        "trade_decisions": decisions.filter(action="TRADE").count(),
        # Every trade of the run = closed (in the summary) + open at the end of the data (valued at
        # their last mark, kept out of the realized figures).
        "trades_total": len(trades),
        "open_trades": len(open_at_end),
        "open_at_end_mtm_usd": round(sum(float(m.unrealized_pnl_usd) for m in last_marks.values()), 2),
        "open_at_end_unmarked": sum(1 for t in open_at_end if t.pk not in last_marks),
        "equity": [{"day": p.day.isoformat(), "pnl_usd": round(p.pnl_usd, 2), "equity_usd": round(p.equity_usd, 2),
                    "drawdown_usd": round(p.drawdown_usd, 2)} for p in curve],
        "buckets": [{"bucket": metrics_mod.bucket_label(k), "dte": k[0], "delta": k[1], "window": k[2], "side": k[3],
                     **m.as_dict()} for k, m in buckets.items()],
    }
