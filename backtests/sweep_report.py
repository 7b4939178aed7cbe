"""The sweep pages' figures: a heatmap of one metric over two swept dimensions, the sorted variant
table and its CSV columns, one variant's curve, the walk-forward panel and the overfitting
statistics — each with the inputs it was computed from, for the page to show beside it.

Reads only what ``selectors.sweep_results`` gives (``SweepResults``: the variants with their
``metrics["summary"]`` and the days × variants daily PnL) and hands the matrices to the pure
``engine.selection`` / ``engine.overfitting`` functions unchanged. The views parse the query
with ``sweep_query`` (bad values become messages, never an exception) and render what comes back.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
from django.core.cache import cache

from backtests.engine.overfitting import deflated_sharpe_ratio, probability_of_backtest_overfitting
from backtests.engine.selection import Metric, walk_forward
from backtests.models import SweepVariant
from backtests.selectors import SUMMARY_FIELDS, SweepResults, metric_text
from snapshots.charts import curves_chart, heat_color, usd
from snapshots.params import QueryParams

ROOT_YEAR = math.sqrt(252)


@dataclass(frozen=True)
class MetricSpec:
    """A variant figure from ``metrics["summary"]``: how it reads and which way is better."""

    key: str
    label: str
    kind: str  # selectors.metric_text kinds: int, pct, usd, ratio
    higher_is_better: bool = True
    zero_centred: bool = True  # colour around 0 (signed figures); else around the middle of the range shown


HEAT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("expectancy_usd", "Expectancy per trade (USD)", "usd"),
    MetricSpec("win_rate", "Win rate", "pct", zero_centred=False),
    MetricSpec("total_pnl_usd", "Total PnL (USD)", "usd"),
    MetricSpec("max_drawdown_usd", "Max drawdown (USD)", "usd", higher_is_better=False, zero_centred=False),
    MetricSpec("sharpe_daily_annualised", "Sharpe (daily, annualised)", "ratio"),
    MetricSpec("trades", "Closed trades", "int", zero_centred=False),
)
HEAT_BY_KEY = {m.key: m for m in HEAT_METRICS}
AGGREGATES = {"mean": "mean of the variants' figures", "best": "the best variant's figure"}

# The variant table: every summary figure, sortable.
TABLE_METRICS: tuple[MetricSpec, ...] = tuple(
    HEAT_BY_KEY.get(key) or MetricSpec(key, label, kind) for key, label, kind in SUMMARY_FIELDS)
SORT_KEYS = ("index", *(m.key for m in TABLE_METRICS))
DEFAULT_SORT = "-total_pnl_usd"
VARIANTS_PER_PAGE = 50

DIM_LABELS = {
    "target_dte": "DTE", "side": "Side", "window": "Entry window (ET)", "short_delta_target": "Short |Δ|",
    "width_points": "Width (points)", "take_profit_fraction": "Take profit (fraction of credit)",
    "stop_loss_multiple": "Stop (× credit)", "exit_at_time": "Time exit (ET, expiry day)",
    "exit_minutes_before_settlement": "Exit before settlement (min)",
}
SELECTION_METRICS = {
    Metric.SHARPE.value: "Sharpe per day (mean / std of daily PnL)",
    Metric.TOTAL_PNL.value: "total PnL",
    Metric.EXPECTANCY.value: "expectancy per trade",
    Metric.WIN_RATE.value: "win rate",
    Metric.MAX_DRAWDOWN.value: "smallest max drawdown",
}
MODES = ("rolling", "expanding")
PBO_BLOCKS = 16
PBO_BLOCK_CHOICES = tuple(range(2, 17, 2))

DSR_SENTENCE = ("The deflated Sharpe ratio is the probability that the best variant's Sharpe ratio is real skill "
                "and not the luck of keeping the best of many tries: its Sharpe is tested against the highest "
                "Sharpe that this many skill-less variants, with Sharpe ratios as spread out as these, would be "
                "expected to show by chance; read 0.95 or more as \"unlikely to be luck\".")
PBO_SENTENCE = ("The probability of backtest overfitting is how often the variant that looks best on one half of "
                "the days ranks at or below the median variant on the other half, over every way of splitting the "
                "days' S blocks into two halves: near 0 the choice carries over to unseen days, about 0.5 it is no "
                "better than picking a variant at random.")


# ------------------------------------------------------------------------------------ values

def value_key(value: Any) -> str:
    """A dimension value as a query-string token (None, "no time exit", is ``none``)."""
    return "none" if value is None else str(value)


def value_text(name: str, value: Any) -> str:
    """A dimension value for a reader: ``put credit``, ``no time exit``, ``0.100``."""
    if value is None:
        return "none"
    if name == "side":
        return str(value).replace("_", " ")
    return str(value)


def summary_of(variant: SweepVariant) -> Mapping[str, Any]:
    return (variant.metrics or {}).get("summary") or {}


def figure(variant: SweepVariant, key: str) -> float | None:
    value = summary_of(variant).get(key)
    return None if value is None else float(value)


# ------------------------------------------------------------------------------------ the query

@dataclass
class SweepQuery:
    """The results page's choices, validated against the sweep (defaults where a value is missing or
    bad; ``errors`` says what was wrong)."""

    x: str | None = None
    y: str | None = None
    metric: str = "expectancy_usd"
    agg: str = "mean"
    fixed: dict[str, str] = field(default_factory=dict)
    sort: str = DEFAULT_SORT
    selection: str = Metric.SHARPE.value
    train_days: int = 1
    test_days: int = 1
    mode: str = "rolling"
    blocks: int = PBO_BLOCKS
    errors: list[str] = field(default_factory=list)


def default_windows(n_days: int) -> tuple[int, int]:
    """(train, test) days by default: a quarter's training window and a month's block on a long
    sweep; half and a quarter of the days on a short one."""
    if n_days >= 84:
        return 63, 21
    return max(1, n_days // 2), max(1, n_days // 4)


def sweep_query(query: Mapping[str, str], dims: Mapping[str, Sequence[Any]], n_days: int) -> SweepQuery:
    """The page's GET parameters: ``x``, ``y`` (swept dimensions), ``metric`` (heatmap figure),
    ``agg`` (mean | best over the other dimensions), ``f_<dim>`` (a value fixing that dimension;
    empty: aggregated), ``sort`` (``[-]figure``), ``sel`` (selection metric), ``train``, ``test``
    (trading days), ``mode`` (rolling | expanding), ``blocks`` (CSCV's S)."""
    params = QueryParams(query)
    names = list(dims)
    q = SweepQuery()
    varied = [n for n in names if len(dims[n]) > 1]
    order = varied + [n for n in names if n not in varied]  # defaults: the first dimensions with several values
    dim_words = f"a swept dimension ({', '.join(names)})"
    x = params.choice("x", names, expected=dim_words)
    y = params.choice("y", names, expected=dim_words)
    if x and y and x == y:
        params.errors.append(f"x and y must be two different dimensions, got {x!r} twice")
        x = y = None
    if x is None and y is None:
        q.x, q.y = (order[0] if order else None), (order[1] if len(order) > 1 else None)
    elif x and y:
        q.x, q.y = x, y
    elif x:
        q.x, q.y = x, next((n for n in order if n != x), None)
    else:
        q.x, q.y = next((n for n in order if n != y), None), y
    q.metric = params.choice("metric", HEAT_BY_KEY) or q.metric
    q.agg = params.choice("agg", AGGREGATES) or q.agg
    for name in names:
        if name in (q.x, q.y):
            continue
        choices = [value_key(v) for v in dims[name]]
        chosen = params.choice(f"f_{name}", choices, expected=f"one of the swept values {', '.join(choices)}")
        if chosen is not None:
            q.fixed[name] = chosen
    sort = params.choice("sort", [*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)],
                         expected="a figure of the table, e.g. -total_pnl_usd (descending) or index")
    q.sort = sort or q.sort
    q.selection = params.choice("sel", SELECTION_METRICS) or q.selection
    q.mode = params.choice("mode", MODES) or q.mode
    q.train_days, q.test_days = default_windows(n_days)
    most = max(n_days - 1, 1)
    train = params.integer("train", min_value=1, max_value=most,
                           expected=f"a whole number of trading days from 1 to {most} (the sweep has {n_days} days)")
    if train is not None:
        q.train_days = train
        q.test_days = min(q.test_days, max(1, n_days - train))
    left = max(n_days - q.train_days, 1)
    test = params.integer("test", min_value=1, max_value=left,
                          expected=f"a whole number of trading days from 1 to {left} (the days after the first training window)")
    if test is not None:
        q.test_days = test
    blocks = params.choice("blocks", [str(b) for b in PBO_BLOCK_CHOICES], expected="an even number from 2 to 16")
    if blocks is not None:
        q.blocks = int(blocks)
    q.errors = params.errors
    return q


def query_string(q: SweepQuery, **overrides: Any) -> str:
    """The page's query with some choices changed (links of the heatmap, table headers, pager)."""
    values: dict[str, Any] = {"x": q.x, "y": q.y, "metric": q.metric, "agg": q.agg, "sort": q.sort,
                              "sel": q.selection, "train": q.train_days, "test": q.test_days, "mode": q.mode,
                              "blocks": q.blocks}
    values.update({f"f_{k}": v for k, v in q.fixed.items()})
    values.update(overrides)
    return urlencode({k: v for k, v in values.items() if v is not None and v != ""})


HEATMAP_PARAMS = ("x", "y", "metric", "agg")
SELECTION_PARAMS = ("sel", "train", "test", "mode", "blocks")


def _pairs(q: SweepQuery, skip: Sequence[str], *, skip_fixed: bool = False) -> list[tuple[str, Any]]:
    """The query's other choices as hidden form fields (one section's form keeps the other's)."""
    return [(k, v) for k, v in parse_qsl(query_string(q)) if k not in skip and not (skip_fixed and k.startswith("f_"))]


def controls(res: SweepResults, q: SweepQuery) -> dict[str, Any]:
    """The options of the heatmap's and the selection panel's GET forms, the current ones selected."""
    names = list(res.dims)
    return {
        "dims": [{"name": n, "label": DIM_LABELS.get(n, n), "x": n == q.x, "y": n == q.y} for n in names],
        "metrics": [{"key": m.key, "label": m.label, "selected": m.key == q.metric} for m in HEAT_METRICS],
        "aggregates": [{"key": k, "label": label, "selected": k == q.agg} for k, label in AGGREGATES.items()],
        "fixed": [{"name": n, "label": DIM_LABELS.get(n, n), "axis": n in (q.x, q.y),
                   "options": [{"key": value_key(v), "text": value_text(n, v), "selected": q.fixed.get(n) == value_key(v)}
                               for v in res.dims[n]]}
                  for n in names if len(res.dims[n]) > 1],
        "heatmap_hidden": _pairs(q, HEATMAP_PARAMS, skip_fixed=True),
        "selections": [{"key": k, "label": label, "selected": k == q.selection} for k, label in SELECTION_METRICS.items()],
        "modes": [{"key": m, "selected": m == q.mode} for m in MODES],
        "blocks": [{"key": b, "selected": b == q.blocks} for b in PBO_BLOCK_CHOICES],
        "selection_hidden": _pairs(q, SELECTION_PARAMS),
    }


# ------------------------------------------------------------------------------------ spec

def spec_rows(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sweep's dimensions as launched: label, the values, how many, and the base config's value."""
    sweep = params.get("sweep") or {}
    base = sweep.get("base") or {}
    out = []
    for name, values in sweep.get("dims", []):
        out.append({"name": name, "label": DIM_LABELS.get(name, name), "n": len(values),
                    "values": ", ".join(value_text(name, v) for v in values),
                    "base": value_text(name, base.get(name)) if name in base else "—"})
    return out


def sizes_text(dims: Mapping[str, Sequence[Any]]) -> str:
    return " × ".join(f"{len(v)} {name}" for name, v in dims.items())


# ------------------------------------------------------------------------------------ heatmap

def _best(spec: MetricSpec, scored: list[tuple[float, SweepVariant]]) -> tuple[float, SweepVariant]:
    """The best (value, variant) of a cell; ties to the lowest variant index."""
    sign = 1.0 if spec.higher_is_better else -1.0
    return max(scored, key=lambda p: (sign * p[0], -p[1].index))


def heatmap(res: SweepResults, q: SweepQuery) -> dict[str, Any] | None:
    """``q.metric`` over ``q.x`` (columns) × ``q.y`` (rows): each cell the one variant with those two
    values (and the fixed ones), or, where other dimensions are left free, the mean or the best of
    its variants' figures (``q.agg``; undefined figures left out), linked to that cell's best variant.
    Colours: green better, red worse — around 0 for signed figures, around the middle of the range
    shown for the others. None without two dimensions."""
    if q.x is None or q.y is None:
        return None
    spec = HEAT_BY_KEY[q.metric]
    xs, ys = res.dims[q.x], res.dims[q.y]
    cells: dict[tuple[str, str], list[SweepVariant]] = {}
    for v in res.variants:
        if all(value_key(v.dims.get(name)) == want for name, want in q.fixed.items()):
            cells.setdefault((value_key(v.dims.get(q.x)), value_key(v.dims.get(q.y))), []).append(v)
    computed: dict[tuple[str, str], dict[str, Any]] = {}
    for key, members in cells.items():
        scored = [(val, v) for v in members if (val := figure(v, spec.key)) is not None]
        best = _best(spec, scored) if scored else None
        if not scored:
            value = None
        elif len(members) == 1 or q.agg == "best":
            value = best[0] if best else None
        else:
            value = float(np.mean([val for val, _ in scored]))
        computed[key] = {"value": value, "n": len(members), "defined": len(scored),
                         "link": (best[1] if best else members[0])}
    values = [c["value"] for c in computed.values() if c["value"] is not None]
    if spec.zero_centred:
        centre, scale = 0.0, max((abs(v) for v in values), default=0.0)
    else:
        lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
        centre, scale = (lo + hi) / 2, (hi - lo) / 2
    sign = 1.0 if spec.higher_is_better else -1.0
    rows = []
    for yv in ys:
        row = []
        for xv in xs:
            c = computed.get((value_key(xv), value_key(yv)))
            if c is None:
                row.append({"text": "", "bg": "", "title": "no variant", "index": None, "n": 0})
                continue
            value, link = c["value"], c["link"]
            if c["n"] == 1:
                how = f"variant #{link.index}"
            elif q.agg == "best":
                how = f"best of {c['n']} variants: #{link.index}"
            else:
                how = f"mean of {c['defined']} of {c['n']} variants with a figure; link: the best, #{link.index}"
            # A mean of counts is not a count: it reads with decimals.
            kind = "ratio" if spec.kind == "int" and value is not None and not float(value).is_integer() else spec.kind
            row.append({
                "text": metric_text(value, kind), "value": value, "index": link.index, "n": c["n"],
                "bg": heat_color(None if value is None else sign * (value - centre), scale) if scale else "",
                "title": f"{DIM_LABELS.get(q.x, q.x)} {value_text(q.x, xv)}, {DIM_LABELS.get(q.y, q.y)} "
                         f"{value_text(q.y, yv)}: {spec.label} {metric_text(value, kind)} ({how})",
            })
        rows.append({"value": value_text(q.y, yv), "cells": row})
    others: list[dict[str, Any]] = []
    for n in res.dims:
        if n in (q.x, q.y):
            continue
        fixed = next((value_text(n, v) for v in res.dims[n] if value_key(v) == q.fixed[n]), None) if n in q.fixed else None
        others.append({"name": n, "label": DIM_LABELS.get(n, n), "fixed": fixed, "n": len(res.dims[n])})
    free = [o for o in others if o["fixed"] is None and o["n"] > 1]
    per_cell = math.prod(int(o["n"]) for o in free)
    centre_text = "0" if spec.zero_centred else metric_text(centre, spec.kind) + " (the middle of the range shown)"
    return {
        "metric": spec, "x": q.x, "y": q.y, "x_label": DIM_LABELS.get(q.x, q.x), "y_label": DIM_LABELS.get(q.y, q.y),
        "columns": [value_text(q.x, v) for v in xs], "rows": rows, "others": others, "free": free,
        "per_cell": per_cell, "aggregate": AGGREGATES[q.agg] if free else "",
        "scale_text": f"green better, red worse, around {centre_text}; strongest at ±{metric_text(scale, spec.kind)}"
                      if scale else "all cells equal",
    }


# ------------------------------------------------------------------------------------ the variant table

def _sort_value(v: SweepVariant, key: str) -> float | None:
    return float(v.index) if key == "index" else figure(v, key)


def variants_sorted(variants: Sequence[SweepVariant], sort: str) -> list[SweepVariant]:
    """By ``sort`` (``figure`` ascending, ``-figure`` descending); undefined figures last either way,
    ties by variant index."""
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    defined = [v for v in variants if _sort_value(v, key) is not None]
    undefined = [v for v in variants if _sort_value(v, key) is None]
    defined.sort(key=lambda v: ((-1 if descending else 1) * (_sort_value(v, key) or 0.0), v.index))
    return defined + sorted(undefined, key=lambda v: v.index)


def variant_row(v: SweepVariant, dims: Sequence[str]) -> dict[str, Any]:
    s = summary_of(v)
    return {
        "index": v.index, "name": v.name, "dims": [value_text(n, v.dims.get(n)) for n in dims],
        "figures": [{"key": m.key, "text": _figure_text(s, m),
                     "tone": _tone(s.get(m.key)) if m.key in ("total_pnl_usd", "expectancy_usd") else ""}
                    for m in TABLE_METRICS],
        "open_trades": (v.metrics or {}).get("open_trades", 0),
        "materialized_run_id": v.materialized_run_id,
    }


def _figure_text(s: Mapping[str, Any], m: MetricSpec) -> str:
    if m.key == "profit_factor" and s.get(m.key) is None and s.get("wins") and not s.get("losses"):
        return "∞"
    return metric_text(s.get(m.key), m.kind)


def _tone(value: Any) -> str:
    if value is None:
        return ""
    return "good" if value > 0 else "bad" if value < 0 else ""


def table_headers(q: SweepQuery) -> list[dict[str, Any]]:
    """The sortable figure columns: label, the link that sorts by it (descending first, again to flip)."""
    out = []
    for m in TABLE_METRICS:
        current = q.sort.lstrip("-") == m.key
        flip = m.key if q.sort == f"-{m.key}" else f"-{m.key}"
        out.append({"key": m.key, "label": m.label, "query": query_string(q, sort=flip),
                    "arrow": ("▼" if q.sort.startswith("-") else "▲") if current else ""})
    return out


CSV_FIGURES = tuple(key for key, _, _ in SUMMARY_FIELDS)
CSV_EXITS = ("take_profit", "stop_loss", "time_exit", "settlement")


def csv_columns(dims: Sequence[str]) -> list[tuple[str, Any]]:
    """Every variant's dimensions and figures, unformatted (``metrics["summary"]`` as stored)."""
    cols: list[tuple[str, Any]] = [("index", lambda v: v.index), ("key", lambda v: v.key), ("name", lambda v: v.name)]
    cols += [(name, (lambda n: lambda v: v.dims.get(n))(name)) for name in dims]
    cols += [(key, (lambda k: lambda v: summary_of(v).get(k))(key)) for key in CSV_FIGURES]
    cols += [(f"exits_{r}", (lambda r: lambda v: (summary_of(v).get("exits") or {}).get(r, 0))(r)) for r in CSV_EXITS]
    cols += [(key, (lambda k: lambda v: (v.metrics or {}).get(k))(key))
             for key in ("trades_total", "open_trades", "open_at_end_mtm_usd", "decisions")]
    cols.append(("materialized_run", lambda v: v.materialized_run_id))
    return cols


# ------------------------------------------------------------------------------------ one variant

def variant_curve(res: SweepResults, index: int) -> list[tuple[dt.date, float]]:
    """Variant ``index``'s equity curve: the cumulative sum of its column of daily PnL, by trading day."""
    if not res.days or index >= res.daily_pnl_usd.shape[1]:
        return []
    equity = np.cumsum(res.daily_pnl_usd[:, index])
    return [(d, float(e)) for d, e in zip(res.days, equity)]


def drawdown_curve(curve: Sequence[tuple[dt.date, float]]) -> list[tuple[dt.date, float]]:
    """Equity minus its running peak (the peak starting at 0), as the run page draws it."""
    peak, out = 0.0, []
    for d, e in curve:
        peak = max(peak, e)
        out.append((d, e - peak))
    return out


# ------------------------------------------------------------------------------------ honest selection

def _variant_ref(res: SweepResults, index: int) -> dict[str, Any]:
    v = res.variants[index] if 0 <= index < len(res.variants) else None
    return {"index": index, "name": v.name if v else f"variant {index}"}


def walk_forward_panel(res: SweepResults, q: SweepQuery) -> dict[str, Any]:
    """Walk-forward selection (``engine.selection.walk_forward``) over the variants' daily PnL with the
    query's metric, windows and mode: the folds, the out-of-sample curve against the in-sample
    best's, and their totals. ``message`` instead when the sweep is too small."""
    n_days, n_variants = res.daily_pnl_usd.shape
    inputs = {"metric": SELECTION_METRICS[q.selection], "metric_key": q.selection, "train_days": q.train_days,
              "test_days": q.test_days, "mode": q.mode, "n_days": n_days, "n_variants": n_variants}
    if n_variants < 2:
        return {**inputs, "message": f"Walk-forward selection needs at least 2 variants to choose from; this sweep has {n_variants}."}
    if n_days < 2 or not 1 <= q.train_days < n_days:
        return {**inputs, "message": f"Walk-forward selection needs more trading days than its training window "
                                     f"({q.train_days}); this sweep has {n_days}."}
    wf = walk_forward(res.daily_pnl_usd, res.days, metric=Metric(q.selection), train_days=q.train_days,
                      test_days=q.test_days, expanding=q.mode == "expanding", trades=res.daily_trades,
                      wins=res.daily_wins)
    days = [d for d in wf.days]
    oos = np.cumsum(wf.oos_pnl_usd)
    hindsight = np.cumsum(wf.in_sample_best_pnl_usd)
    best = _variant_ref(res, wf.in_sample_best)
    chart = curves_chart([
        ("walk-forward (out of sample)", list(zip(days, oos.tolist()))),
        (f"in-sample best #{wf.in_sample_best} (chosen with hindsight)", list(zip(days, hindsight.tolist()))),
    ])
    folds = []
    for f, chosen in zip(wf.folds, wf.chosen.tolist()):
        test_pnl = float(res.daily_pnl_usd[f.test, chosen].sum())
        folds.append({"train_first": res.days[f.train.start], "train_last": res.days[f.train.stop - 1],
                      "train_days": f.train.stop - f.train.start,
                      "test_first": res.days[f.test.start], "test_last": res.days[f.test.stop - 1],
                      "test_days": f.test.stop - f.test.start, "chosen": _variant_ref(res, chosen),
                      "test_pnl": usd(test_pnl), "test_pnl_usd": test_pnl, "tone": _tone(test_pnl)})
    oos_total = float(wf.oos_pnl_usd.sum())
    hindsight_total = float(wf.in_sample_best_pnl_usd.sum())
    return {
        **inputs, "message": "", "chart": chart, "folds": folds, "in_sample_best": best,
        "oos_days": len(days), "distinct_chosen": len(set(wf.chosen.tolist())),
        "oos_total_usd": oos_total, "oos_total": usd(oos_total), "oos_tone": _tone(oos_total),
        "hindsight_total_usd": hindsight_total, "hindsight_total": usd(hindsight_total),
        "gap": usd(hindsight_total - oos_total), "gap_usd": hindsight_total - oos_total,
    }


def _num(value: float, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def deflated_sharpe_panel(res: SweepResults) -> dict[str, Any]:
    """``engine.overfitting.deflated_sharpe_ratio`` over every variant (the trials), the selected
    variant being the one with the highest per-day Sharpe, with every input shown."""
    n_days, n_variants = res.daily_pnl_usd.shape
    base = {"sentence": DSR_SENTENCE, "n_days": n_days, "n_variants": n_variants}
    if n_variants < 2 or n_days < 3:
        return {**base, "message": f"The deflated Sharpe ratio needs at least 2 variants and 3 trading days; this "
                                   f"sweep has {n_variants} variant{'s' if n_variants != 1 else ''} over {n_days} "
                                   f"day{'s' if n_days != 1 else ''}."}
    d = deflated_sharpe_ratio(res.daily_pnl_usd)
    if not math.isfinite(d.dsr):
        return {**base, "message": "The deflated Sharpe ratio is undefined here: no variant has a Sharpe ratio "
                                   "(every variant's daily PnL is constant, e.g. no closed trade)."}
    return {
        **base, "message": "", "value": d.dsr, "text": _num(d.dsr, 3), "selected": _variant_ref(res, d.selected),
        "sharpe_per_day": _num(d.sharpe_per_day), "sharpe_annualised": _num(d.sharpe_per_day * ROOT_YEAR, 2),
        "benchmark_per_day": _num(d.expected_max_sharpe_per_day),
        "benchmark_annualised": _num(d.expected_max_sharpe_per_day * ROOT_YEAR, 2),
        "n_trials": d.n_trials, "sharpe_variance": f"{d.sharpe_variance:.3g}", "skewness": _num(d.skewness, 3),
        "kurtosis": _num(d.kurtosis, 3), "luck": d.dsr < 0.95, "raw": d,
    }


PBO_CACHE_SECONDS = 7 * 24 * 3600


def _pbo_figures(res: SweepResults, q: SweepQuery) -> dict[str, Any]:
    p = probability_of_backtest_overfitting(res.daily_pnl_usd, n_blocks=q.blocks, metric=Metric(q.selection),
                                            trades=res.daily_trades, wins=res.daily_wins)
    return {"value": p.pbo, "n_combinations": p.n_combinations, "overfit": int((p.logits <= 0).sum()),
            "median_logit": float(np.median(p.logits))}


def pbo_panel(res: SweepResults, q: SweepQuery) -> dict[str, Any]:
    """``engine.overfitting.probability_of_backtest_overfitting`` (CSCV) over every variant with the
    query's selection metric and S blocks, with its inputs.

    Cached: it scores C(S, S/2) = 12,870 halvings of every variant (seconds for thousands of
    variants, while the rest of the page takes a fraction of one), and its figures depend only on
    the sweep's daily file — the key holds that file's SHA-256 (``run.metrics``), the metric and S."""
    n_days, n_variants = res.daily_pnl_usd.shape
    base = {"sentence": PBO_SENTENCE, "n_days": n_days, "n_variants": n_variants, "n_blocks": q.blocks,
            "metric": SELECTION_METRICS[q.selection]}
    if n_variants < 2:
        return {**base, "message": f"The probability of backtest overfitting needs at least 2 variants; this sweep has {n_variants}."}
    if n_days < q.blocks:
        return {**base, "message": f"The probability of backtest overfitting needs at least one trading day per "
                                   f"block: S = {q.blocks} blocks, this sweep has {n_days} day{'s' if n_days != 1 else ''}"
                                   f" (choose a smaller S, or sweep more days)."}
    sha = (res.run.metrics or {}).get("daily_file_sha256") if res.run is not None else None
    key = f"sweep-pbo:{res.run.pk}:{sha}:{n_days}x{n_variants}:{q.selection}:{q.blocks}" if sha else None
    figures = cache.get(key) if key else None
    if figures is None:
        figures = _pbo_figures(res, q)
        if key:
            cache.set(key, figures, PBO_CACHE_SECONDS)
    sizes = [len(b) for b in np.array_split(np.arange(n_days), q.blocks)]
    return {
        **base, **figures, "message": "", "text": _num(figures["value"], 3),
        "median_logit": _num(figures["median_logit"], 3),
        "block_days": f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}–{max(sizes)}",
    }
