"""Phase 2 and the rows: the chunks' candidates through the risk books in time order, then
``TradeDecision`` / ``Trade`` / ``TradeLeg`` / ``PositionMark`` rows built by the same functions the
live services use (``strategy.services.decision_fields``, ``execution.services.trade_build`` and
friends), then the metrics. Idempotent: the run's rows are deleted first, in one transaction."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from collections.abc import Sequence
from typing import Any

from django.db import connection, models as m, transaction
from django.utils import timezone

from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS
from backtests.engine import codec
from backtests.engine.books import books_walk
from backtests.engine.types import Candidate, Strategy
from backtests.models import BacktestRun, ImportedDay
from backtests.services.metrics import run_metrics
from backtests.services.params import imported_days, strategies_of
from backtests.services.sweep_assembly import sweep_assemble
from backtests.services.sweeps import is_sweep
from execution.models import PositionMark, Trade, TradeLeg
from execution.services import trade_build, trade_close_set, trade_entry_set
from snapshots.market_calendar import ET as NEW_YORK
from snapshots.payloads import sha256_of
from strategy import gating
from strategy.models import DecisionOutcome, Source, TradeDecision
from strategy.outcomes import outcome_fields
from strategy.quant import rules
from strategy.quant.decision import TRADE, Verdict
from strategy.quant.money import cents
from strategy.services import decision_fields


def run_assemble(run_id: int) -> BacktestRun:
    """Phase 2 and the rows: books in time order, decisions/trades/legs/marks, metrics. Idempotent."""
    if is_sweep(BacktestRun.objects.filter(pk=run_id).values_list("params", flat=True).first()):
        return sweep_assemble(run_id)  # a sweep: variants' metrics and result files, no rows per variant-trade
    started = time.perf_counter()
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.status in (BacktestRun.Status.DONE, BacktestRun.Status.CANCELLED):
            return run
        strategies = strategies_of(run.params)
        by_key = {s.key: s for s in strategies}
        candidates: list[Candidate] = []
        days_read: set[str] = set()
        for chunk in run.chunks.order_by("index"):
            assert chunk.result is not None  # every chunk is done before the assembly runs
            found, read = codec.decode(bytes(chunk.result), by_key)
            candidates.extend(found)
            days_read.update(read)
        model = run.params.get("ml_model")  # "gated by model N", or the rules alone
        verdicts = books_walk(candidates, strategies, gate=gating.gate_for(model) if model else gating.pass_all)
        _rows_delete(run)
        read = sorted(days_read)
        manifest = imported_days(dt.date.fromisoformat(d) for d in read)  # the decision days are among them
        trades = _rows_write(run, by_key, verdicts, manifest)
        run.data_days = [{"date": d.isoformat(), "cbbo_sha256": manifest.get(d, {}).get(SCHEMA_CBBO_1M, ""),
                          "definition_sha256": manifest.get(d, {}).get(SCHEMA_DEFINITION, ""),
                          "statistics_sha256": manifest.get(d, {}).get(SCHEMA_STATISTICS, "")}
                         for d in map(dt.date.fromisoformat, read)]
        run.data_sha256 = sha256_of(run.data_days)
        run.metrics = run_metrics(run, trades)
        run.data_gaps = data_gaps(run, read)
        run.output_sha256 = output_sha256(run)
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


# The output a run's hash covers, in this order: its decisions, then its trades (with their legs),
# each ordered by (decision time, strategy name, entry window). No ids or creation times: a rerun
# writes new rows with the same content and must hash the same.
DECISION_FIELDS = ("decided_at", "strategy_config__name", "trading_day", "entry_window", "action", "reason_code",
                   "expiration", "legs", "credit_mid", "credit_fill", "width_points", "max_profit_usd",
                   "max_loss_usd", "features", "model_version", "model_score")
TRADE_FIELDS = ("decision__decided_at", "strategy_config__name", "decision__entry_window", "status", "side", "root",
                "expiration", "quantity", "short_strike", "long_strike", "width_points", "entry_credit",
                "max_profit_usd", "max_loss_usd", "take_profit_debit", "stop_loss_debit", "opened_at", "closed_at",
                "exit_reason", "exit_debit", "settlement_price", "fees_usd", "realized_pnl_usd")
LEG_FIELDS = ("symbol", "side", "strike", "option_type", "quantity", "entry_price", "exit_price")


def _plain(value: Any) -> Any:
    """A field value as canonical JSON: decimals, dates and times as their strings, NaN as "nan"."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time | Decimal):
        return str(value)
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def output_canonical(run: BacktestRun) -> dict[str, Any]:
    """The run's output as one JSON value: decisions and trades, fixed fields in a fixed order."""
    decisions = TradeDecision.objects.filter(backtest_run=run).order_by(
        "decided_at", "strategy_config__name", "entry_window", "pk")
    trades = Trade.objects.filter(backtest_run=run).order_by(
        "decision__decided_at", "strategy_config__name", "decision__entry_window", "pk")
    legs: dict[int, list[list[Any]]] = {}
    for leg in TradeLeg.objects.filter(trade__backtest_run=run).order_by("trade_id", "pk").values("trade_id", *LEG_FIELDS):
        legs.setdefault(leg["trade_id"], []).append([_plain(leg[f]) for f in LEG_FIELDS])
    return {
        "decision_fields": list(DECISION_FIELDS),
        "decisions": [[_plain(d[f]) for f in DECISION_FIELDS] for d in decisions.values(*DECISION_FIELDS)],
        "trade_fields": [*TRADE_FIELDS, "legs"],
        "trades": [[*(_plain(t[f]) for f in TRADE_FIELDS), legs.get(t["pk"], [])]
                   for t in trades.values("pk", *TRADE_FIELDS)],
    }


def output_sha256(run: BacktestRun) -> str:
    """SHA-256 of ``output_canonical``: the same input reruns to the same hash (reliability #43)."""
    return sha256_of(output_canonical(run))


def _in_any(moment: dt.datetime | None, day: dt.date, ranges: Sequence[Sequence[str]]) -> bool:
    if moment is None or moment.astimezone(NEW_YORK).date() != day:
        return False
    minute = moment.astimezone(NEW_YORK).strftime("%H:%M")
    return any(first <= minute <= last for first, last in ranges)


def data_gaps(run: BacktestRun, read: Sequence[str]) -> dict[str, Any]:
    """The gaps of the days the run read (their manifest rows: session minutes with no record) and
    which of its decisions and trade exits fell at a minute inside one — quotes were carried
    forward there, so these are the run's decisions made on data that did not move."""
    rows = ImportedDay.objects.filter(date__in=[dt.date.fromisoformat(d) for d in read], schema=SCHEMA_CBBO_1M,
                                      empty_minutes__gt=0).order_by("date")
    days = [{"date": r.date.isoformat(), "empty_minutes": r.empty_minutes, "ranges": r.gaps,
             "outside_session": r.outside_session} for r in rows]
    by_day = {dt.date.fromisoformat(d["date"]): d["ranges"] for d in days}
    decisions: list[list[str]] = []
    exits: list[list[str]] = []
    if by_day:  # the usual run reads no day with a gap: no query
        for decided, name, day in TradeDecision.objects.filter(backtest_run=run, trading_day__in=list(by_day)).order_by(
                "decided_at", "strategy_config__name").values_list("decided_at", "strategy_config__name", "trading_day"):
            if _in_any(decided, day, by_day[day]):
                decisions.append([decided.astimezone(NEW_YORK).isoformat(), name])
        for closed, name in Trade.objects.filter(backtest_run=run, closed_at__isnull=False).order_by(
                "closed_at", "strategy_config__name").values_list("closed_at", "strategy_config__name"):
            if closed is not None and any(_in_any(closed, day, ranges) for day, ranges in by_day.items()):
                exits.append([closed.astimezone(NEW_YORK).isoformat(), name])
    return {"days": days, "empty_minutes": sum(d["empty_minutes"] for d in days),
            "decisions_in_gap": decisions, "exits_in_gap": exits}


def _rows_delete(run: BacktestRun) -> None:
    trades = Trade.objects.filter(backtest_run=run)
    PositionMark.objects.filter(trade__in=trades).delete()
    TradeLeg.objects.filter(trade__in=trades).delete()
    trades.delete()
    DecisionOutcome.objects.filter(decision__backtest_run=run).delete()
    TradeDecision.objects.filter(backtest_run=run).delete()


def _insert_many(model: type[m.Model], rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (column → value; foreign keys by ``*_id``) with one ``executemany``, each value
    adapted by the database backend exactly as the ORM would (``bulk_create`` spends most of its
    time preparing fields, and a run's rows number tens of thousands)."""
    if not rows:
        return
    ops = connection.ops
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    columns = list(rows[0])

    def adapt(field: Any, value: Any) -> Any:
        if isinstance(field, m.JSONField):
            return field.get_db_prep_save(value, connection)
        if value is None:
            return None
        if isinstance(field, m.DecimalField):
            return ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)
        if isinstance(field, m.DateTimeField):
            return ops.adapt_datetimefield_value(value)
        if isinstance(field, m.DateField):
            return ops.adapt_datefield_value(value)
        if isinstance(field, m.TimeField):
            return ops.adapt_timefield_value(value)
        return value

    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        ops.quote_name(model._meta.db_table), ", ".join(ops.quote_name(str(fields[c].column)) for c in columns),
        ", ".join(["%s"] * len(columns)))
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[adapt(fields[c], row[c]) for c in columns] for row in rows])


def _insert_objects(model: type[m.Model], objs: Sequence[m.Model], **owner: Any) -> None:
    """INSERT unsaved model instances through ``_insert_many`` (``auto_now`` fields stamped as
    ``save`` would). With ``owner`` — a filter matching exactly these new rows — each instance then
    gets its primary key: ids grow with insertion order within one transaction, so the owner's rows
    in id order are ``objs`` in order."""
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    stamped = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    for obj in objs:
        for name in stamped:
            setattr(obj, name, now)
    _insert_many(model, [{f.attname: getattr(obj, f.attname) for f in fields} for obj in objs])
    if not owner:
        return
    pks = list(model._default_manager.filter(**owner).order_by("pk").values_list("pk", flat=True))
    if len(pks) != len(objs):
        raise RuntimeError(f"{model.__name__}: {len(objs)} rows inserted, {len(pks)} found for {owner}")
    for obj, pk in zip(objs, pks):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def _outcome(d: TradeDecision, c: Candidate, params: dict[str, Any]) -> DecisionOutcome:
    """The candidate's walked fate, traded or not: every candidate that passed selection gets one."""
    spread = c.evaluation.candidate
    assert spread is not None and d.credit_fill is not None
    e = c.exit
    if e is None:
        return DecisionOutcome(decision=d, method=DecisionOutcome.Method.BACKTEST, entry_credit=d.credit_fill,
                               status=DecisionOutcome.Status.UNRESOLVED)
    return DecisionOutcome(decision=d, method=DecisionOutcome.Method.BACKTEST, **outcome_fields(
        entry_credit=d.credit_fill, quantity=spread.quantity, entry_at=c.decided_at, exit_reason=e.reason,
        exit_debit=cents(e.debit), exit_at=e.at, fee_per_contract_usd=params["fees_per_contract_usd"],
        take_profit_fraction=c.evaluation.spec.exits.take_profit_fraction,
        settlement_price=cents(e.settlement_price) if e.settlement_price is not None else None,
        settlement_source=e.settlement_source))


def _rows_write(run: BacktestRun, by_key: dict[str, Strategy], verdicts: Sequence[tuple[Candidate, Verdict]],
                manifest: dict[dt.date, dict[str, str]]) -> list[Trade]:
    """The run's rows, built and rounded by the live services' own functions (parity is field-exact)."""
    sha_by_day = {d: v.get(SCHEMA_CBBO_1M, "") for d, v in manifest.items()}
    decisions = []
    for c, v in verdicts:
        s = by_key[c.strategy]
        decisions.append(TradeDecision(
            trading_day=c.day, entry_window=c.window, strategy_config_id=s.config_id, config_params=s.params,
            source=Source.BACKTEST, backtest_run=run, snapshot_checksum=sha_by_day.get(c.day, ""),
            **decision_fields(v, decided_at=c.decided_at, expiration=c.expiration),
        ))
    _insert_objects(TradeDecision, decisions, backtest_run=run)
    params = run.params
    _insert_objects(DecisionOutcome, [_outcome(d, c, params) for d, (c, _) in zip(decisions, verdicts) if c.passed])
    trades, legs, marks_of = [], [], []
    for d, (c, v) in zip(decisions, verdicts):
        if v.action != TRADE:
            continue
        spread = c.evaluation.candidate
        assert spread is not None
        trade, trade_legs = trade_build(d, quantity=spread.quantity)
        trade.opened_at = d.decided_at
        trade.status = Trade.Status.OPEN_AT_END  # until its exit is known
        assert d.credit_fill is not None  # a TRADE always has its modelled credit
        # The entry fills at its limit, the decision's modelled credit.
        trade_entry_set(trade, credit=d.credit_fill, exit_rules=c.evaluation.spec.exits)
        e = c.exit
        if e is not None:
            trade_close_set(trade, exit_debit=cents(e.debit), reason=e.reason, at=e.at,
                            source=e.settlement_source or "backtest fill model",
                            settlement_price=cents(e.settlement_price) if e.settlement_price is not None else None,
                            fee_per_contract_usd=params["fees_per_contract_usd"])
        trades.append(trade)
        legs.append(trade_legs)
        marks_of.append(c.marks)
    _insert_objects(Trade, trades, backtest_run=run)
    leg_rows: list[dict[str, Any]] = []
    mark_rows: list[dict[str, Any]] = []
    for trade, trade_legs, marks in zip(trades, legs, marks_of):
        leg_rows.extend({"trade_id": trade.pk, **leg, "exit_price": None} for leg in trade_legs)
        assert trade.entry_credit is not None
        credit = float(trade.entry_credit)
        for mk in marks:
            mark_rows.append({"trade_id": trade.pk, "ts": mk.ts, "snapshot_id": None, "debit_mid": cents(mk.debit_mid),
                              "debit_fill": cents(mk.debit_fill), "signal": mk.signal,
                              "unrealized_pnl_usd": cents(rules.pnl_usd(credit, mk.debit_fill, trade.quantity))})
    _insert_many(TradeLeg, leg_rows)
    _insert_many(PositionMark, mark_rows)
    return trades
