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
from dataclasses import dataclass, field
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
from backtests.models import BacktestChunk, BacktestRun, SweepVariant
from backtests.services import sweep_files
from backtests.services.params import imported_days, trading_days
from backtests.services.sweeps import grid_product, sweep_strategies, variant_name
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
        for chunk_id in run.chunks.order_by("index").values_list("pk", flat=True):
            # One chunk's result in memory at a time (a queryset would hold every blob at once).
            result = BacktestChunk.objects.filter(pk=chunk_id).values_list("result", flat=True).get()
            assert result is not None  # every chunk is done before the assembly runs
            d = sweep_engine.decode(bytes(result))
            del result
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
        del exit_parts  # the decoded chunks' buffers behind them
        key = ex["path"].astype(np.int64) * stride + ex["rule"].astype(np.int64)
        if key.size > 1 and not bool(np.all(key[1:] >= key[:-1])):  # chunks write them sorted (paths in
            order = np.argsort(key, kind="stable")                     # chunk order, rules ascending)
            ex, key = {name: col[order] for name, col in ex.items()}, key[order]
        table = ExitTable(key=key, at_ns=ex["at_ns"].astype(np.int64), stop=ex["reason"] == _STOP, stride=stride)
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


# Variant-trades per assembly block: the money, the trade columns and the daily rows are built for
# a block of whole variants at a time and handed to the files' writers, so the assembly's memory is
# bounded by a block, not by the run (a 10x year holds ~2 M variant-trades).
BLOCK_ROWS = 1 << 18


def _blocks(counts: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Consecutive variant ranges [a, b) of at most ``limit`` variant-trades each (a variant with
    more is a block of its own)."""
    out: list[tuple[int, int]] = []
    a, total = 0, 0
    for i, n in enumerate(counts.tolist()):
        if i > a and total + n > limit:
            out.append((a, i))
            a, total = i, 0
        total += n
    if a < counts.size:
        out.append((a, int(counts.size)))
    return out


@dataclass
class _Memo:
    """Pure functions of a few prices each, computed once per distinct input for the whole run
    (credits, widths, debits and marks are on 0.05 ticks: thousands of paths share a handful)."""

    entry: dict[tuple[Any, ...], tuple[Decimal, int, int]] = field(default_factory=dict)
    mark: dict[tuple[Any, ...], int] = field(default_factory=dict)
    close: dict[tuple[Decimal, int, float, bool], tuple[int, int, int]] = field(default_factory=dict)
    settlement: dict[float, int] = field(default_factory=dict)
    exit_day: dict[int, int] = field(default_factory=dict)  # exit instant (ns) → New York day ordinal
    credit: dict[int, float] = field(default_factory=dict)  # path → its entry credit (points)


def _results_write(run: BacktestRun, plan: sweep_engine.SweepPlan, entries: list[GroupEntries],
                   traded: list[np.ndarray], table: ExitTable, ex: dict[str, np.ndarray], sources: list[str],
                   trades_info: list[list[Any]], last_mark: list[float | None], decisions: np.ndarray,
                   days: list[dt.date], params: dict[str, Any]) -> dict[str, Any]:
    """Every variant-trade's money as arrays over a block of variants at a time (each distinct
    entry, close and last mark computed once by the same functions), then per variant its summary
    and daily PnL; the blocks' rows go to the files in variant order."""
    fee = float(params["fees_per_contract_usd"])
    n_variants = len(plan.variants)
    counts = np.array([t.size for t in traded], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    rule_of = np.array([v.exit for v in plan.variants], dtype=np.int64)
    # decided_at of a path: its entry instant (the paths' ``day``/``window`` give the rest).
    all_paths = np.concatenate([g.path for g in entries]) if entries else np.empty(0, np.int64)
    at_of = np.zeros(int(all_paths.max()) + 1 if all_paths.size else 0, np.int64)
    at_of[all_paths] = np.concatenate([g.at_ns for g in entries]) if entries else np.empty(0, np.int64)
    day_ord = np.array([d.toordinal() for d in days], dtype=np.int64)
    all_dims = _all_dims(params)
    config_name = params["sweep"]["config_name"]
    memo = _Memo()
    variants: list[SweepVariant] = []
    trades_file, daily_file = sweep_files.trades_writer(run.pk), sweep_files.daily_writer(run.pk)
    try:
        for a, b in _blocks(counts, BLOCK_ROWS):
            block = plan.variants[a:b]
            if bounds[b] > bounds[a]:
                variant = np.repeat(np.arange(a, b, dtype=np.int64), counts[a:b])
                path = np.concatenate([entries[v.group].path[traded[v.index]] for v in block]).astype(np.int64)
                row = _rows(table, path, np.repeat(rule_of[a:b], counts[a:b]))
            else:
                variant = path = row = np.empty(0, np.int64)
            money = _money(path, row, ex, trades_info, last_mark, fee, memo)
            closed = row >= 0
            r = np.maximum(row, 0)
            exit_ord = np.zeros(row.size, np.int64)
            if closed.any():
                uniq_at, inv = np.unique(ex["at_ns"][r[closed]].astype(np.int64), return_inverse=True)
                for x in uniq_at.tolist():
                    if x not in memo.exit_day:
                        memo.exit_day[x] = (dt.datetime.fromtimestamp(x // 1_000_000_000, tz=dt.UTC).astimezone(NEW_YORK)
                                            .date().toordinal())
                exit_ord[closed] = np.array([memo.exit_day[x] for x in uniq_at.tolist()], dtype=np.int64)[inv]
            reason = np.where(closed, ex["reason"][r] if row.size else np.empty(0, np.int8), -1).astype(np.int64)
            uniq, inv = np.unique(path, return_inverse=True)
            for p in uniq.tolist():
                if p not in memo.credit:
                    memo.credit[p] = float(cents(trades_info[p][7]))
            credit = np.array([memo.credit[p] for p in uniq.tolist()], dtype=np.float64)[inv]
            pnl_usd = money["pnl"] / 100  # as the Trade row's Decimal cents, in float (exact for cents)
            booked = np.minimum(np.searchsorted(day_ord, exit_ord, side="left"), len(days) - 1)

            daily: dict[str, list[Any]] = {name: [] for name in sweep_files.DAILY_SCHEMA.names}
            for v in block:
                lo, hi = int(bounds[v.index] - bounds[a]), int(bounds[v.index + 1] - bounds[a])
                c = closed[lo:hi]
                pnl_v = pnl_usd[lo:hi][c]
                codes = reason[lo:hi][c]
                # metrics.daily_pnl's booking (bisect_left, else the last day) and its sums: bincount adds
                # each day's PnLs in trade order, as its loop does, so the floats are the same.
                idx = booked[lo:hi][c]
                pnl_day = np.asarray(np.bincount(idx, weights=pnl_v, minlength=len(days)), dtype=np.float64)
                if pnl_v.size:
                    n_day = np.bincount(idx, minlength=len(days))
                    w_day = np.bincount(idx, weights=(pnl_v > 0).astype(np.float64), minlength=len(days)).astype(np.int64)
                    for i in np.flatnonzero(n_day).tolist():
                        daily["variant"].append(v.index)
                        daily["day"].append(days[i])
                        daily["pnl_usd"].append(float(pnl_day[i]))
                        daily["trades"].append(int(n_day[i]))
                        daily["wins"].append(int(w_day[i]))
                by_reason = np.bincount(codes, minlength=len(REASONS)) if codes.size else np.zeros(len(REASONS), np.int64)
                summary = metrics_mod.summary_of(
                    pnl_usd=pnl_v, entry_credit=credit[lo:hi][c], daily=pnl_day,
                    exits={REASONS[k]: int(n) for k, n in enumerate(by_reason.tolist()) if n})
                open_ = ~c
                open_n = int(open_.sum())
                marked = open_ & money["has_mark"][lo:hi]
                open_mtm = Decimal(int(money["mark"][lo:hi][marked].sum())) / 100
                unmarked = open_n - int(marked.sum())
                dims = all_dims[v.index]
                n_trades = hi - lo
                variants.append(SweepVariant(
                    run=run, index=v.index, key=v.strategy.key, name=variant_name(config_name, dims),
                    dims=dims, metrics={
                        "summary": summary.as_dict(), "decisions": int(decisions[v.group]), "trade_decisions": n_trades,
                        "trades_total": n_trades, "open_trades": open_n, "open_at_end_mtm_usd": round(float(open_mtm), 2),
                        "open_at_end_unmarked": unmarked}))
            trades_file.write(_trade_columns(variant, path, row, trades_info, at_of, ex, money))
            daily_file.write(daily)
        trades_path, daily_path = trades_file.close(), daily_file.close()
    except BaseException:  # no temporary file left behind; the run's transaction rolls back
        trades_file.abort()
        daily_file.abort()
        raise
    SweepVariant.objects.filter(run=run).delete()
    SweepVariant.objects.bulk_create(variants, batch_size=500)
    return {"variants": n_variants, "variant_trades": int(bounds[-1]),
            "decisions": int(sum(int(decisions[v.group]) for v in plan.variants)),
            "trades_file_sha256": sweep_files.file_sha256(trades_path),
            "daily_file_sha256": sweep_files.file_sha256(daily_path)}


def _all_dims(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every variant's swept values in index order (``variant_dims`` of each, from one product)."""
    dims = [(name, list(values)) for name, values in params["sweep"]["dims"]]
    out = grid_product(dims)
    assert len(out) == int(params["sweep"]["variants"])
    return out


def _rows(table: ExitTable, paths: np.ndarray, rules_: np.ndarray) -> np.ndarray:
    """``ExitTable.rows`` with one exit rule per element."""
    want = paths.astype(np.int64) * table.stride + rules_
    if table.key.size == 0:
        return np.full(want.shape, -1, dtype=np.int64)
    i = np.minimum(np.searchsorted(table.key, want), table.key.size - 1)
    return np.where(table.key[i] == want, i, -1)


def _money(path: np.ndarray, row: np.ndarray, ex: dict[str, np.ndarray], trades_info: list[list[Any]],
           last_mark: list[float | None], fee: float, memo: _Memo) -> dict[str, np.ndarray]:
    """Cents per variant-trade, as ``trade_entry_set``/``trade_close_set`` store them: credit, max
    profit/loss (per path), exit debit, fees, realized PnL (per distinct close), the last mark's
    PnL of a trade open at the end (per path), and the settlement price."""
    n = path.size
    out: dict[str, np.ndarray] = {name: np.zeros(n, np.int64)
                                  for name in ("credit", "mp", "ml", "debit", "fees", "pnl", "mark", "sp")}
    out["has_mark"] = np.zeros(n, bool)
    out["sp_valid"] = np.zeros(n, bool)
    if not n:
        return out
    uniq, inv = np.unique(path, return_inverse=True)
    credit_d: list[Decimal] = []
    per = {name: np.zeros(uniq.size, np.int64) for name in ("credit", "mp", "ml", "qty", "mark")}
    has_mark = np.zeros(uniq.size, bool)
    for j, p in enumerate(uniq.tolist()):
        info = trades_info[p]
        qty = int(info[6])
        ekey = (info[7], info[5], qty)
        if ekey not in memo.entry:
            credit = cents(info[7])
            mp, ml = entry_amounts(credit=credit, width_points=cents(info[5]), quantity=qty)
            memo.entry[ekey] = (credit, _c(mp), _c(ml))
        credit, per["mp"][j], per["ml"][j] = memo.entry[ekey]
        credit_d.append(credit)
        per["credit"][j], per["qty"][j] = _c(credit), qty
        mark = last_mark[p]
        if mark is not None:
            mkey = (credit, mark, qty)
            if mkey not in memo.mark:
                memo.mark[mkey] = _c(cents(rules.pnl_usd(float(credit), mark, qty)))
            per["mark"][j] = memo.mark[mkey]
            has_mark[j] = True
    for name in ("credit", "mp", "ml"):
        out[name] = per[name][inv]
    closed = row >= 0
    out["has_mark"] = ~closed & has_mark[inv]
    out["mark"] = np.where(out["has_mark"], per["mark"][inv], 0)
    r = np.maximum(row, 0)
    if closed.any():
        k = np.flatnonzero(closed)
        keys = list(zip(inv[k].tolist(), ex["debit"][r[k]].tolist(), (ex["reason"][r[k]] == _SETTLED).tolist()))
        values = []
        for j, debit, settled in keys:  # memoised on the close's inputs, not its path
            key = (credit_d[j], int(per["qty"][j]), debit, settled)
            if key not in memo.close:
                d, f, pnl = close_amounts(entry_credit=credit_d[j], exit_debit=cents(debit), quantity=int(per["qty"][j]),
                                          fee_per_contract_usd=fee, settled=settled)
                memo.close[key] = (_c(d), _c(f), _c(pnl))
            values.append(memo.close[key])
        arr = np.array(values, dtype=np.int64).reshape(-1, 3)
        out["debit"][k], out["fees"][k], out["pnl"][k] = arr[:, 0], arr[:, 1], arr[:, 2]
        sp = ex["settlement_price"][r[k]]
        valid = ~np.isnan(sp)
        out["sp_valid"][k] = valid
        for x in set(sp[valid].tolist()):
            if x not in memo.settlement:
                memo.settlement[x] = _c(cents(x))
        out["sp"][k[valid]] = [memo.settlement[x] for x in sp[valid].tolist()]
    return out


def _trade_columns(variant: np.ndarray, path: np.ndarray, row: np.ndarray, trades_info: list[list[Any]],
                   at_of: np.ndarray, ex: dict[str, np.ndarray], money: dict[str, np.ndarray]) -> dict[str, Any]:
    """The variant-trades as ``sweep_files.TRADE_SCHEMA`` columns (one per (variant, path)): the
    per-path fields taken once per path and spread with numpy, the money from ``_money``."""
    n = variant.size
    closed = row >= 0
    r = np.maximum(row, 0)
    uniq, inverse = np.unique(path, return_inverse=True)

    def per_path(i: int, convert: Any = None) -> np.ndarray:
        values = [trades_info[p][i] for p in uniq.tolist()]
        if convert is not None:
            values = [convert(x) for x in values]
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column[inverse]

    def floats(i: int) -> np.ndarray:
        return np.array([float(trades_info[p][i]) for p in uniq.tolist()], dtype=np.float64)[inverse]

    decided = at_of[path] if n else np.empty(0, np.int64)
    exit_at = np.where(closed, ex["at_ns"][r] if n else np.zeros(0, np.int64), 0)
    reason_names = np.array(["", *REASONS], dtype=object)
    reason = reason_names[np.where(closed, (ex["reason"][r] if n else np.zeros(0, np.int8)).astype(np.int64) + 1, 0)]
    status = np.where(closed, "closed", "open_at_end").astype(object)
    return {
        "variant": pa.array(variant.astype(np.int32)),
        "trading_day": pa.array(per_path(11, dt.date.fromisoformat), type=pa.date32()),
        "entry_window": pa.array(per_path(10), type=pa.string()),
        "decided_at": pa.array(decided // 1000, type=pa.timestamp("us", tz="UTC")),
        "expiration": pa.array(per_path(9, dt.date.fromisoformat), type=pa.date32()),
        "root": pa.array(per_path(8), type=pa.string()), "side": pa.array(per_path(0), type=pa.string()),
        "short_symbol": pa.array(per_path(1), type=pa.string()), "long_symbol": pa.array(per_path(2), type=pa.string()),
        "short_strike": pa.array(floats(3), type=pa.float64()), "long_strike": pa.array(floats(4), type=pa.float64()),
        "width_points": pa.array(floats(5), type=pa.float64()),
        "quantity": pa.array(np.array([int(trades_info[p][6]) for p in uniq.tolist()], dtype=np.int16)[inverse]
                             if n else np.empty(0, np.int16), type=pa.int16()),
        "entry_credit": _money_array(money["credit"], np.ones(n, bool)),
        "max_profit_usd": _money_array(money["mp"], np.ones(n, bool)),
        "max_loss_usd": _money_array(money["ml"], np.ones(n, bool)),
        "status": pa.array(status, type=pa.string()),
        "exit_at": pa.array(exit_at // 1000, type=pa.timestamp("us", tz="UTC"), mask=~closed),
        "exit_reason": pa.array(reason, type=pa.string()),
        "exit_debit": _money_array(money["debit"], closed),
        "settlement_price": _money_array(money["sp"], money["sp_valid"]),
        "fees_usd": _money_array(money["fees"], closed),
        "realized_pnl_usd": _money_array(money["pnl"], closed),
        "last_mark_pnl_usd": _money_array(money["mark"], money["has_mark"]),
    }
