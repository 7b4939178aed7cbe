"""Reads for the backtests app: runs with their live progress, a run's trades and decision reasons,
and the display rows of ``run.metrics`` (summary, buckets, side-by-side comparison) the pages and
the admin share. ``run.metrics`` is written by ``services.run_metrics``; its shape is documented there.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from backtests import services
from backtests.data import store
from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION
from backtests.models import BacktestChunk, BacktestRun, ImportedDay, SweepVariant
from backtests.services import sweep_files
from snapshots.charts import heat_color, usd
from snapshots.formatting import usd_text
from execution import selectors as execution_selectors
from execution.models import Trade
from strategy.models import StrategyConfig, TradeDecision

RUN_TRADES_PAGE = 50  # trades shown on a run page (newest first; the trades page has them all, paginated)

# The summary figures of a run, in display order: (key in metrics["summary"], label, kind).
# kind drives formatting: int, pct (a 0..1 ratio), usd, ratio (2 dp), points (credit, 2 dp).
SUMMARY_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("trades", "Closed trades", "int"),
    ("wins", "Wins", "int"),
    ("losses", "Losses", "int"),
    ("win_rate", "Win rate", "pct"),
    ("total_pnl_usd", "Total PnL (USD)", "usd"),
    ("expectancy_usd", "Expectancy per trade (USD)", "usd"),
    ("avg_win_usd", "Average win (USD)", "usd"),
    ("avg_loss_usd", "Average loss (USD)", "usd"),
    ("profit_factor", "Profit factor", "ratio"),
    ("max_drawdown_usd", "Max drawdown (USD)", "usd"),
    ("sharpe_daily_annualised", "Sharpe (daily, annualised)", "ratio"),
    ("sortino_daily_annualised", "Sortino (daily, annualised)", "ratio"),
    ("avg_credit", "Average credit (points)", "points"),
)
# Figures where more is better (colours the PnL cells; the difference of the others is neutral).
_SIGNED = {"total_pnl_usd", "expectancy_usd"}


# ------------------------------------------------------------------------------------ runs

def run_queryset() -> QuerySet[BacktestRun]:
    """Runs annotated with ``live_days_done``: the chunks' days, updated per day while running
    (``run.days_done`` is only summed when a chunk finishes)."""
    return BacktestRun.objects.annotate(live_days_done=Coalesce(Sum("chunks__days_done"), 0))


def run_list(*, status: str | None = None, limit: int | None = 100, offset: int = 0) -> QuerySet[BacktestRun]:
    """Newest first, with ``live_days_done``; the per-day data manifest is left unread.
    ``limit=None`` leaves the queryset unsliced (for a paginator)."""
    qs = run_queryset().defer("data_days", "data_gaps")
    if status:
        qs = qs.filter(status=status)
    qs = qs.order_by("-created_at", "-pk")
    return qs if limit is None else qs[offset:offset + limit]


def run_count(*, status: str | None = None) -> int:
    qs = BacktestRun.objects.all()
    return (qs.filter(status=status) if status else qs).count()


def run_get(pk: int) -> BacktestRun | None:
    """One run with ``live_days_done``."""
    return run_queryset().filter(pk=pk).first()


def run_chunks(run: BacktestRun) -> list[BacktestChunk]:
    return list(run.chunks.defer("result").order_by("index"))


def run_progress(run: BacktestRun) -> dict[str, Any]:
    """Days replayed so far, from the chunks (see ``run_queryset``), and the percentage."""
    live = getattr(run, "live_days_done", None)
    if live is None:
        live = run.chunks.aggregate(n=Coalesce(Sum("days_done"), 0))["n"]
    done = run.days_total if run.status == BacktestRun.Status.DONE else min(int(live), run.days_total)
    pct = 100.0 * done / run.days_total if run.days_total else 0.0
    return {"days_done": done, "days_total": run.days_total, "pct": round(pct, 1)}


def run_by_key(key: str) -> BacktestRun | None:
    return BacktestRun.objects.filter(idempotency_key=key).first()


def run_strategy_counts(run: BacktestRun) -> tuple[int, int]:
    """(strategies, distinct configs) of the run's parameters: per_strategy runs count config × window."""
    params = run.params or {}
    if params.get("kind") == "sweep":  # a sweep: its variants, all of one base config
        return int(params["sweep"]["variants"]), 1
    strategies = params.get("strategies", [])
    return len(strategies), len({s.get("config_id") for s in strategies})


def run_trades(run: BacktestRun, *, limit: int = RUN_TRADES_PAGE, offset: int = 0) -> QuerySet[Trade]:
    """The run's trades, newest entry first (``trade_run_opened_idx``), with their decision's day and
    window but not its JSON."""
    return (
        Trade.objects.filter(backtest_run=run).select_related("strategy_config", "decision")
        .defer(*execution_selectors.DECISION_BULK).order_by("-opened_at", "-pk")[offset:offset + limit]
    )


def run_trade_count(run: BacktestRun) -> int:
    return Trade.objects.filter(backtest_run=run).count()


def run_trade_pnls(run: BacktestRun) -> list[float]:
    """Realized PnL (USD) of each closed trade of the run, for its histogram."""
    pnls = (Trade.objects.filter(backtest_run=run, status=Trade.Status.CLOSED).exclude(realized_pnl_usd=None)
            .values_list("realized_pnl_usd", flat=True))
    return [float(v) for v in pnls if v is not None]


SIDE_LABELS = {"put_credit": "put credit spread", "call_credit": "call credit spread"}


def bucket_heatmap(buckets: Sequence[Mapping[str, Any]], metric: str = "expectancy_usd") -> list[dict[str, Any]]:
    """The bucket table as small grids, one per (entry window, side): rows DTE, columns short delta,
    each cell ``metric`` (USD) coloured on one diverging scale across all grids, with its trade count."""
    values = [float(b[metric]) for b in buckets if b.get(metric) is not None]
    scale = max((abs(v) for v in values), default=0.0)
    groups: dict[tuple[str, str], dict[tuple[Any, Any], Mapping[str, Any]]] = {}
    for b in buckets:
        groups.setdefault((str(b.get("window", "")), str(b.get("side", ""))), {})[(b.get("dte"), b.get("delta"))] = b
    out = []
    for (window, side), cells in sorted(groups.items()):
        dtes = sorted({k[0] for k in cells if k[0] is not None})
        deltas = sorted({k[1] for k in cells if k[1] is not None})
        rows = []
        for dte in dtes:
            row = []
            for delta in deltas:
                b = cells.get((dte, delta)) or {}
                v = b.get(metric)
                row.append({"text": usd(v) if v is not None else "—", "bg": heat_color(v, scale),
                            "trades": b.get("trades", 0),
                            "title": f"{dte} DTE, Δ {delta}, {window}, {SIDE_LABELS.get(side, side)}: "
                                     f"{metric_text(b.get('win_rate'), 'pct')} win rate, {usd(b.get('total_pnl_usd'))} total"})
            rows.append({"dte": dte, "cells": row})
        out.append({"window": window, "side": side, "side_label": SIDE_LABELS.get(side, side), "deltas": deltas,
                    "rows": rows})
    return out


def decision_reasons(run: BacktestRun) -> list[dict[str, Any]]:
    """How many decisions of the run ended with each (action, reason code), most frequent first."""
    rows = (TradeDecision.objects.filter(backtest_run=run).values("action", "reason_code")
            .annotate(n=Count("pk")).order_by("-n", "action", "reason_code"))
    return [dict(r) for r in rows]


def configs_resolve(refs: Iterable[str | int]) -> tuple[list[StrategyConfig], list[str]]:
    """Strategy configs named by name or id, and the references that match none."""
    wanted = [str(r).strip() for r in refs]
    configs = [c for c in StrategyConfig.objects.all() if c.name in wanted or str(c.pk) in wanted]
    known = {c.name for c in configs} | {str(c.pk) for c in configs}
    return configs, [r for r in wanted if r not in known]


# ------------------------------------------------------------------------------------ display rows

def metric_text(value: Any, kind: str) -> str:
    """A summary figure for a table cell; None (undefined, e.g. no trades) is "—"."""
    if value is None:
        return "—"
    if kind == "int":
        return f"{int(value):,}"
    value = float(value) + 0.0  # -0.0 (a bucket's drawdown without losses) prints as 0
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "usd":
        return usd_text(value)
    return f"{value:.2f}"


def _figure(summary: Mapping[str, Any], key: str, kind: str) -> str:
    # The profit factor is None both without trades and without losses (∞ is not JSON): tell them apart.
    if key == "profit_factor" and summary.get(key) is None and summary.get("wins") and not summary.get("losses"):
        return "∞"
    return metric_text(summary.get(key), kind)


def _tone(value: Any) -> str:
    if value is None:
        return ""
    return "good" if value > 0 else "bad" if value < 0 else ""


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summary as (label, text) rows, exit counts last."""
    rows = [{"key": key, "label": label, "text": _figure(summary, key, kind),
             "tone": _tone(summary.get(key)) if key in _SIGNED else ""} for key, label, kind in SUMMARY_FIELDS]
    for reason, n in (summary.get("exits") or {}).items():
        rows.append({"key": f"exits.{reason}", "label": f"Exits: {reason.replace('_', ' ')}", "text": metric_text(n, "int"),
                     "tone": ""})
    return rows


def _bucket_key(b: Mapping[str, Any]) -> tuple[Any, ...]:
    return (b.get("dte", 0), b.get("delta", 0.0), b.get("window", ""), b.get("side", ""))


def bucket_rows(buckets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-bucket figures (DTE × delta × window × side), in grid order."""
    return [_bucket_row(b) for b in sorted(buckets, key=_bucket_key)]


def _bucket_row(b: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "bucket": b.get("bucket", ""), "dte": b.get("dte"), "delta": b.get("delta"), "window": b.get("window"),
        "side": b.get("side"), "trades": b.get("trades", 0),
        "win_rate": metric_text(b.get("win_rate"), "pct"),
        "total_pnl_usd": metric_text(b.get("total_pnl_usd"), "usd"), "pnl_tone": _tone(b.get("total_pnl_usd")),
        "expectancy_usd": metric_text(b.get("expectancy_usd"), "usd"),
        "profit_factor": _figure(b, "profit_factor", "ratio"),
        "sharpe": metric_text(b.get("sharpe_daily_annualised"), "ratio"),
        "max_drawdown_usd": metric_text(b.get("max_drawdown_usd"), "usd"),
    }


def _difference(a: Any, b: Any, kind: str) -> tuple[str, str]:
    """B − A as text (percentage points for rates) and its tone; blank when either side is undefined."""
    if a is None or b is None or not all(isinstance(v, (int, float)) for v in (a, b)):
        return "", ""
    diff = float(b) - float(a)
    if math.isclose(diff, 0.0, abs_tol=1e-12):
        return "0", ""
    if kind == "pct":
        return f"{diff * 100:+.1f} pp", ""
    if kind == "int":
        return f"{int(round(diff)):+,}", ""
    if kind == "usd":
        text = usd_text(diff)
        return text if text.startswith("-") else f"+{text}", ""
    return f"{diff:+.2f}", ""


def summary_compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Summary rows of two runs side by side with B − A."""
    rows = []
    for key, label, kind in SUMMARY_FIELDS:
        diff, _ = _difference(a.get(key), b.get(key), kind)
        tone = _tone(float(b[key]) - float(a[key])) if diff and key in _SIGNED else ""
        rows.append({"key": key, "label": label, "a": _figure(a, key, kind), "b": _figure(b, key, kind),
                     "diff": diff, "tone": tone})
    exits_a, exits_b = a.get("exits") or {}, b.get("exits") or {}
    for reason in [*exits_a, *(r for r in exits_b if r not in exits_a)]:
        na, nb = exits_a.get(reason, 0), exits_b.get(reason, 0)
        rows.append({"key": f"exits.{reason}", "label": f"Exits: {reason.replace('_', ' ')}", "a": metric_text(na, "int"),
                     "b": metric_text(nb, "int"), "diff": _difference(na, nb, "int")[0], "tone": ""})
    return rows


def bucket_compare(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Bucket rows of two runs joined on the bucket label (a side is None where that run has no trade)."""
    by_a = {x["bucket"]: x for x in a}
    by_b = {x["bucket"]: x for x in b}
    keys = {**{x["bucket"]: _bucket_key(x) for x in b}, **{x["bucket"]: _bucket_key(x) for x in a}}
    rows = []
    for label in sorted(keys, key=lambda k: keys[k]):
        xa, xb = by_a.get(label), by_b.get(label)
        pa = xa.get("total_pnl_usd") if xa else None
        pb = xb.get("total_pnl_usd") if xb else None
        diff, _ = _difference(pa or 0.0, pb or 0.0, "usd")
        rows.append({"bucket": label, "a": _bucket_row(xa) if xa else None, "b": _bucket_row(xb) if xb else None,
                     "pnl_diff": diff, "pnl_diff_tone": _tone((pb or 0.0) - (pa or 0.0))})
    return rows


# ------------------------------------------------------------------------------------ charts

def equity_points(metrics: Mapping[str, Any], key: str = "equity_usd") -> list[tuple[dt.date, float]]:
    """[(day, value)] of the run's daily equity curve (``key``: equity_usd, drawdown_usd or pnl_usd)."""
    return [(dt.date.fromisoformat(p["day"]), float(p[key])) for p in metrics.get("equity") or []]




def data_ranges() -> list[dict[str, Any]]:
    """The imported market data as runs of consecutive trading days (quotes and definitions in the
    manifest and on disk), oldest first: what a backtest can replay."""
    # services.imported_days' rule (quotes and definitions in the manifest and on disk), from one
    # query and one directory listing per schema instead of a path and a stat per manifest row.
    schemas = (SCHEMA_CBBO_1M, SCHEMA_DEFINITION)
    manifest: dict[str, set[dt.date]] = {s: set() for s in schemas}
    for day, schema in ImportedDay.objects.filter(schema__in=schemas).values_list("date", "schema"):
        manifest[schema].add(day)
    days = sorted(set.intersection(*(manifest[s] & set(store.available_days(s)) for s in schemas)))
    if not days:
        return []
    index = {d: i for i, d in enumerate(services.trading_days(days[0], days[-1]))}
    ranges: list[dict[str, Any]] = []
    for day in days:
        if ranges and index.get(day, -2) == index.get(ranges[-1]["end"], -10) + 1:
            ranges[-1]["end"] = day
            ranges[-1]["days"] += 1
        else:
            ranges.append({"start": day, "end": day, "days": 1})
    return ranges


# ------------------------------------------------------------------------------------ sweeps

def run_is_sweep(run: BacktestRun) -> bool:
    return (run.params or {}).get("kind") == "sweep"


@dataclass(frozen=True)
class SweepResults:
    """A sweep's results for its page (``sweep_results``).

    ``dims``: the swept dimensions in spec order, each with its values (as stored: strings for
    decimals and times, ints for DTE and minutes, None for "no time exit"). ``variants``: every
    ``SweepVariant`` in index order (``.index``, ``.key``, ``.name``, ``.dims``, ``.metrics`` —
    ``metrics["summary"]`` is ``engine.metrics.Metrics.as_dict()``, plus ``open_trades`` and
    ``open_at_end_mtm_usd`` — and ``.materialized_run_id``). ``days``: the run's trading days;
    ``daily_pnl_usd``/``daily_trades``/``daily_wins``: days × variants matrices (column j =
    variant index j), PnL booked on the exit day as the run's equity curve books it — the input
    of ``engine.selection`` and ``engine.overfitting``. Empty matrices with ``with_daily=False``.
    """

    run: BacktestRun
    dims: dict[str, list[Any]]
    variants: list[SweepVariant]
    days: list[dt.date]
    daily_pnl_usd: np.ndarray
    daily_trades: np.ndarray
    daily_wins: np.ndarray


def sweep_results(run: BacktestRun, *, with_daily: bool = True) -> SweepResults:
    """Variants with their dimension values and metrics, and their daily PnL (see ``SweepResults``).
    Before the run is done there are no variants yet (empty lists and matrices)."""
    spec = (run.params or {}).get("sweep") or {}
    dims = {name: list(values) for name, values in spec.get("dims", [])}
    variants = list(SweepVariant.objects.filter(run=run).order_by("index"))
    days = services.trading_days(run.start_date, run.end_date) if with_daily else []
    if with_daily and variants:
        m = sweep_files.daily_matrix(run.pk, days, len(variants))
    else:
        m = {"pnl_usd": np.zeros((len(days), 0)), "trades": np.zeros((len(days), 0), dtype=np.int64),
             "wins": np.zeros((len(days), 0), dtype=np.int64)}
    return SweepResults(run=run, dims=dims, variants=variants, days=days, daily_pnl_usd=m["pnl_usd"],
                        daily_trades=m["trades"], daily_wins=m["wins"])


def sweep_variant_trades(run: BacktestRun, index: int) -> list[dict[str, Any]]:
    """One variant's trades from ``sweep_trades.parquet`` (columns of ``sweep_files.TRADE_SCHEMA``),
    oldest entry first: rows of plain Python values (Decimal money, aware datetimes)."""
    return sweep_files.trades_read(run.pk, variant=index).to_pylist()
