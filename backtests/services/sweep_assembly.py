"""Phase 2 of a sweep: every variant's risk book over the chunks' shared paths, then its metrics
(``SweepVariant`` rows) and its trades and daily PnL (the run's Parquet files) — no
``TradeDecision``/``Trade`` row per variant-trade. Idempotent: the run's variants and files are
replaced, in one transaction for the rows.

A variant-trade holds what the ``Trade`` row of that variant run alone holds, with the money
computed by the same functions (``execution.services.entry_amounts``/``close_amounts``,
``rules.pnl_usd``), and each variant's ``metrics["summary"]`` is ``engine.metrics.summarise`` of
its closed trades over the run's days, as ``services.run_metrics`` computes it.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
from django.db import transaction
from django.utils import timezone

from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS
from backtests.engine import metrics as metrics_mod
from backtests.engine import sweep as sweep_engine
from backtests.engine.sweep import REASONS, ExitTable, GroupEntries
from backtests.models import BacktestRun, SweepVariant
from backtests.services import sweep_files
from backtests.services.params import imported_days, trading_days
from backtests.services.sweeps import sweep_strategies, variant_dims, variant_name
from execution.services import close_amounts, entry_amounts
from snapshots.payloads import sha256_of
from strategy.quant import rules
from strategy.quant.money import cents
from strategy.quant.timemodel import NEW_YORK

_STOP = REASONS.index("stop_loss")
_SETTLED = REASONS.index("settlement")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _money_array(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Cents (int64) as a decimal128(12, 2) column, null where not ``valid`` (built from buffers:
    the 128-bit little-endian unscaled value)."""
    ints = np.where(valid, values, 0).astype(np.int64)
    data = np.empty((ints.size, 2), dtype=np.int64)
    data[:, 0] = ints
    data[:, 1] = np.where(ints < 0, -1, 0)
    validity = pa.array(valid.astype(bool), type=pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(sweep_files.MONEY, ints.size, [validity, pa.py_buffer(data.tobytes())],
                                 null_count=int((~valid).sum()))


def _c(x: Decimal) -> int:
    return int(x * 100)


def sweep_assemble(run_id: int) -> BacktestRun:
    """The sweep's variants, metrics and result files from its done chunks. Idempotent."""
    started = time.perf_counter()
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run_id)
        if run.status in (BacktestRun.Status.DONE, BacktestRun.Status.CANCELLED):
            return run
        params = run.params
        strategies = sweep_strategies(params)
        plan = sweep_engine.sweep_plan(strategies)
        n_groups, stride = len(plan.groups), max(len(plan.exit_rules), 1)
        at_l: list[list[int]] = [[] for _ in range(n_groups)]
        day_l: list[list[int]] = [[] for _ in range(n_groups)]
        path_l: list[list[int]] = [[] for _ in range(n_groups)]
        decisions = np.zeros(n_groups, dtype=np.int64)
        trades_info: list[list[Any]] = []
        last_mark: list[float | None] = []
        exit_parts: dict[str, list[np.ndarray]] = {name: [] for name in sweep_engine.EXIT_COLUMNS}
        sources: dict[str, int] = {}
        days_read: set[str] = set()
        for chunk in run.chunks.order_by("index"):
            assert chunk.result is not None  # every chunk is done before the assembly runs
            d = sweep_engine.decode(bytes(chunk.result))
            offset = len(trades_info)
            days_read.update(d.core["days_read"])
            for g, day, at, path in d.core["candidates"]:
                decisions[g] += 1
                if path >= 0:
                    at_l[g].append(int(at))
                    day_l[g].append(dt.date.fromisoformat(day).toordinal())
                    path_l[g].append(int(path) + offset)
            for p in d.core["paths"]:
                trades_info.append(p["trade"])
                last_mark.append(float(p["marks"][-1][2]) if p["marks"] else None)
            remap = np.array([sources.setdefault(s, len(sources)) for s in d.core["sources"]] or [0], dtype=np.int32)
            for name in sweep_engine.EXIT_COLUMNS:
                col = d.exits[name]
                if name == "path":
                    col = col.astype(np.int64) + offset
                elif name == "source":
                    col = remap[col]
                exit_parts[name].append(col)
        ex = {name: (np.concatenate(parts) if parts else np.empty(0)) for name, parts in exit_parts.items()}
        key = ex["path"].astype(np.int64) * stride + ex["rule"].astype(np.int64)
        order = np.argsort(key, kind="stable")  # already sorted (paths in chunk order, rules ascending)
        ex = {name: col[order] for name, col in ex.items()}
        table = ExitTable(key=key[order], at_ns=ex["at_ns"].astype(np.int64), stop=ex["reason"] == _STOP, stride=stride)
        entries = [GroupEntries(np.asarray(at_l[g], dtype=np.int64), np.asarray(day_l[g], dtype=np.int64),
                                np.asarray(path_l[g], dtype=np.int64)) for g in range(n_groups)]
        traded = sweep_engine.variant_books(plan, entries, table)

        days = trading_days(run.start_date, run.end_date)
        written = _results_write(run, plan, entries, traded, table, ex, list(sources), trades_info, last_mark,
                                 decisions, days, params)

        read = sorted(days_read)
        manifest = imported_days(dt.date.fromisoformat(x) for x in read)
        run.data_days = [{"date": x.isoformat(), "cbbo_sha256": manifest.get(x, {}).get(SCHEMA_CBBO_1M, ""),
                          "definition_sha256": manifest.get(x, {}).get(SCHEMA_DEFINITION, ""),
                          "statistics_sha256": manifest.get(x, {}).get(SCHEMA_STATISTICS, "")}
                         for x in map(dt.date.fromisoformat, read)]
        run.data_sha256 = sha256_of(run.data_days)
        run.metrics = written
        timings = [c.timings for c in run.chunks.all()]
        run.timings = {
            "read_s": round(sum(t.get("read_s", 0) for t in timings), 3),
            "compute_s": round(sum(t.get("compute_s", 0) for t in timings), 3),
            "assemble_s": round(time.perf_counter() - started, 3),
            "max_rss_mb": max([t.get("max_rss_mb", 0) for t in timings] or [0]),
            "assemble_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        run.status = BacktestRun.Status.DONE
        run.finished_at = timezone.now()
        if run.started_at:
            run.timings["wall_s"] = round((run.finished_at - run.started_at).total_seconds(), 3)
        run.error = ""
        run.save()
    return run


def _results_write(run: BacktestRun, plan: sweep_engine.SweepPlan, entries: list[GroupEntries],
                   traded: list[np.ndarray], table: ExitTable, ex: dict[str, np.ndarray], sources: list[str],
                   trades_info: list[list[Any]], last_mark: list[float | None], decisions: np.ndarray,
                   days: list[dt.date], params: dict[str, Any]) -> dict[str, Any]:
    fee = float(params["fees_per_contract_usd"])
    # Per path (what the entry fixes): credit and max profit/loss, as trade_entry_set stores them.
    path_money: dict[int, tuple[Decimal, int, int]] = {}

    def entry_of(p: int) -> tuple[Decimal, int, int]:
        if p not in path_money:
            info = trades_info[p]
            credit = cents(info[7])
            mp, ml = entry_amounts(credit=credit, width_points=cents(info[5]), quantity=int(info[6]))
            path_money[p] = (credit, _c(mp), _c(ml))
        return path_money[p]

    close_memo: dict[tuple[Decimal, float, bool, int], tuple[int, int, int]] = {}
    mark_memo: dict[tuple[Decimal, float, int], int] = {}
    exit_day: dict[int, int] = {}

    cols: dict[str, list[Any]] = {name: [] for name in ("variant", "path", "row")}
    variants: list[SweepVariant] = []
    daily: dict[str, list[Any]] = {name: [] for name in sweep_files.DAILY_SCHEMA.names}
    day_ord = np.array([d.toordinal() for d in days], dtype=np.int64)
    total = 0
    for v, positions in zip(plan.variants, traded):
        en = entries[v.group]
        paths = en.path[positions]
        rows = table.rows(paths, v.exit)
        cols["variant"].append(np.full(paths.size, v.index, dtype=np.int64))
        cols["path"].append(paths)
        cols["row"].append(rows)
        total += paths.size
        closed: list[metrics_mod.ClosedTrade] = []
        open_n, open_mtm, unmarked = 0, Decimal(0), 0
        closed_day: list[int] = []
        for p, r in zip(paths.tolist(), rows.tolist()):
            credit, mp, ml = entry_of(p)
            qty = int(trades_info[p][6])
            if r < 0:
                open_n += 1
                mark = last_mark[p]
                if mark is None:
                    unmarked += 1
                else:
                    mk = (credit, mark, qty)
                    if mk not in mark_memo:
                        mark_memo[mk] = _c(cents(rules.pnl_usd(float(credit), mark, qty)))
                    open_mtm += Decimal(mark_memo[mk]) / 100
                continue
            _, _, pnl = _close(close_memo, credit, float(ex["debit"][r]), int(ex["reason"][r]) == _SETTLED, qty, fee)
            at = int(ex["at_ns"][r])
            if at not in exit_day:
                exit_day[at] = dt.datetime.fromtimestamp(at // 1_000_000_000, tz=dt.UTC).astimezone(NEW_YORK).date().toordinal()
            closed_day.append(exit_day[at])
            closed.append(metrics_mod.ClosedTrade(
                entry_day=dt.date.fromisoformat(trades_info[p][11]),
                exit_day=dt.date.fromordinal(exit_day[at]), pnl_usd=pnl / 100, entry_credit=float(credit),
                max_profit_usd=mp / 100, max_loss_usd=ml / 100, exit_reason=REASONS[int(ex["reason"][r])],
                bucket=(0, 0.0, "", "")))
        summary = metrics_mod.summarise(closed, days)
        if closed:
            idx = np.minimum(np.searchsorted(day_ord, np.asarray(closed_day, dtype=np.int64), side="left"), len(days) - 1)
            pnl_day = metrics_mod.daily_pnl(closed, days)
            n_day = np.bincount(idx, minlength=len(days))
            w_day = np.bincount(idx, weights=np.array([t.pnl_usd > 0 for t in closed], dtype=np.float64),
                                minlength=len(days)).astype(np.int64)
            for i in np.flatnonzero(n_day).tolist():
                daily["variant"].append(v.index)
                daily["day"].append(days[i])
                daily["pnl_usd"].append(float(pnl_day[i]))
                daily["trades"].append(int(n_day[i]))
                daily["wins"].append(int(w_day[i]))
        dims = variant_dims(params, v.index)
        variants.append(SweepVariant(
            run=run, index=v.index, key=v.strategy.key, name=variant_name(params["sweep"]["config_name"], dims),
            dims=dims, metrics={
                "summary": summary.as_dict(), "decisions": int(decisions[v.group]), "trade_decisions": int(paths.size),
                "trades_total": int(paths.size), "open_trades": open_n, "open_at_end_mtm_usd": round(float(open_mtm), 2),
                "open_at_end_unmarked": unmarked}))
    SweepVariant.objects.filter(run=run).delete()
    SweepVariant.objects.bulk_create(variants, batch_size=500)

    variant = np.concatenate(cols["variant"]) if cols["variant"] else np.empty(0, np.int64)
    path = np.concatenate(cols["path"]) if cols["path"] else np.empty(0, np.int64)
    row = np.concatenate(cols["row"]) if cols["row"] else np.empty(0, np.int64)
    trades_path = sweep_files.trades_write(run.pk, _trade_columns(variant, path, row, trades_info, entries, ex, sources,
                                                                 last_mark, entry_of, close_memo, mark_memo, fee))
    daily_path = sweep_files.daily_write(run.pk, daily)
    return {"variants": len(plan.variants), "variant_trades": int(total),
            "decisions": int(sum(int(decisions[v.group]) for v in plan.variants)),
            "trades_file_sha256": sweep_files.file_sha256(trades_path),
            "daily_file_sha256": sweep_files.file_sha256(daily_path)}


def _close(memo: dict[tuple[Decimal, float, bool, int], tuple[int, int, int]], credit: Decimal, debit: float,
           settled: bool, qty: int, fee: float) -> tuple[int, int, int]:
    """(exit debit, fees, realized PnL) in cents, as ``trade_close_set`` stores them (memoised: the
    same credit and debit recur across variants and days)."""
    k = (credit, debit, settled, qty)
    if k not in memo:
        d, f, pnl = close_amounts(entry_credit=credit, exit_debit=cents(debit), quantity=qty,
                                  fee_per_contract_usd=fee, settled=settled)
        memo[k] = (_c(d), _c(f), _c(pnl))
    return memo[k]


def _trade_columns(variant: np.ndarray, path: np.ndarray, row: np.ndarray, trades_info: list[list[Any]],
                   entries: list[GroupEntries], ex: dict[str, np.ndarray], sources: list[str],
                   last_mark: list[float | None], entry_of: Any, close_memo: Any, mark_memo: Any,
                   fee: float) -> dict[str, Any]:
    """The variant-trades as ``sweep_files.TRADE_SCHEMA`` columns (one per (variant, path))."""
    n = variant.size
    closed = row >= 0
    r = np.maximum(row, 0)
    uniq, inverse = np.unique(path, return_inverse=True)

    def per_path(i: int, cast: Any = None) -> list[Any]:
        values = [trades_info[int(p)][i] for p in uniq.tolist()]
        return [values[j] for j in inverse.tolist()]

    credit_c = np.zeros(n, np.int64)
    mp_c = np.zeros(n, np.int64)
    ml_c = np.zeros(n, np.int64)
    debit_c = np.zeros(n, np.int64)
    fees_c = np.zeros(n, np.int64)
    pnl_c = np.zeros(n, np.int64)
    mark_c = np.zeros(n, np.int64)
    has_mark = np.zeros(n, bool)
    sp_c = np.zeros(n, np.int64)
    for k, (p, rr, ok) in enumerate(zip(path.tolist(), r.tolist(), closed.tolist())):
        credit, mp, ml = entry_of(p)
        qty = int(trades_info[p][6])
        credit_c[k], mp_c[k], ml_c[k] = _c(credit), mp, ml
        if ok:
            debit_c[k], fees_c[k], pnl_c[k] = _close(close_memo, credit, float(ex["debit"][rr]),
                                                     int(ex["reason"][rr]) == _SETTLED, qty, fee)
            sp = float(ex["settlement_price"][rr])
            if not np.isnan(sp):
                sp_c[k] = _c(cents(sp))
        elif last_mark[p] is not None:
            mark = last_mark[p]
            assert mark is not None
            mk = (credit, mark, qty)
            if mk not in mark_memo:
                mark_memo[mk] = _c(cents(rules.pnl_usd(float(credit), mark, qty)))
            mark_c[k], has_mark[k] = mark_memo[mk], True
    sp_valid = closed & ~np.isnan(ex["settlement_price"][r]) if n else np.zeros(0, bool)
    # decided_at: the path's entry instant (the paths' ``day``/``window`` give the rest).
    at_by_path = {}
    for g in entries:
        for p, a in zip(g.path.tolist(), g.at_ns.tolist()):
            at_by_path[p] = a
    decided = np.array([at_by_path[p] for p in path.tolist()], dtype=np.int64)
    exit_at = np.where(closed, ex["at_ns"][r] if n else np.zeros(0, np.int64), 0)
    reason = [REASONS[int(x)] if ok else "" for x, ok in zip((ex["reason"][r] if n else []), closed.tolist())]
    return {
        "variant": pa.array(variant.astype(np.int32)),
        "trading_day": pa.array([dt.date.fromisoformat(x) for x in per_path(11)], type=pa.date32()),
        "entry_window": per_path(10),
        "decided_at": pa.array(decided // 1000, type=pa.timestamp("us", tz="UTC")),
        "expiration": pa.array([dt.date.fromisoformat(x) for x in per_path(9)], type=pa.date32()),
        "root": per_path(8), "side": per_path(0), "short_symbol": per_path(1), "long_symbol": per_path(2),
        "short_strike": pa.array(per_path(3), type=pa.float64()), "long_strike": pa.array(per_path(4), type=pa.float64()),
        "width_points": pa.array(per_path(5), type=pa.float64()),
        "quantity": pa.array(per_path(6), type=pa.int16()),
        "entry_credit": _money_array(credit_c, np.ones(n, bool)),
        "max_profit_usd": _money_array(mp_c, np.ones(n, bool)),
        "max_loss_usd": _money_array(ml_c, np.ones(n, bool)),
        "status": ["closed" if ok else "open_at_end" for ok in closed.tolist()],
        "exit_at": pa.array(exit_at // 1000, type=pa.timestamp("us", tz="UTC"), mask=~closed),
        "exit_reason": reason,
        "exit_debit": _money_array(debit_c, closed),
        "settlement_price": _money_array(sp_c, sp_valid),
        "fees_usd": _money_array(fees_c, closed),
        "realized_pnl_usd": _money_array(pnl_c, closed),
        "last_mark_pnl_usd": _money_array(mark_c, has_mark),
    }
