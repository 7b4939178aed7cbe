"""The meta-labeler's dataset: one row per candidate with its features, outcome and label.

Rows are decisions whose spread passed selection (TRADE, or SKIP by the risk rules or the gate),
whose outcome is resolved and whose features are of the current schema — from a backtest run
(``source="backtest"``) or live (the shadow outcomes). Columns, in this fixed order: ``META``, then
``features.FEATURE_NAMES`` (float64, NaN = missing). Rows are sorted by entry time, then decision id.

Training hygiene the rows carry: ``entry_at``/``exit_at`` (UTC) to purge overlapping labels,
``trading_day`` for a day-block bootstrap, and ``uniqueness`` — the average over the label's
[entry, exit] interval of 1 / (number of labels whose intervals cover that instant) (López de
Prado's average uniqueness), a sample weight.

``sha256`` is the SHA-256 of the rows' canonical JSON (NaN as null): the same rows give the same
hash, and the Parquet file written from them is byte-identical on a rerun.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.db.models import Q, QuerySet

from snapshots.payloads import sha256_of
from strategy.models import DecisionOutcome, Source, TradeDecision
from strategy.outcomes import CANDIDATE_REASONS
from strategy.quant.decision import TRADE
from strategy.quant.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION

META = ("decision_id", "source", "backtest_run_id", "trading_day", "entry_window", "strategy", "entry_at", "exit_at",
        "exit_reason", "label", "pnl_usd", "holding_minutes", "uniqueness")
COLUMNS = META + FEATURE_NAMES
_TYPES: dict[str, pa.DataType] = {
    "decision_id": pa.int64(), "source": pa.string(), "backtest_run_id": pa.int64(), "trading_day": pa.date32(),
    "entry_window": pa.string(), "strategy": pa.string(), "entry_at": pa.timestamp("s", tz="UTC"),
    "exit_at": pa.timestamp("s", tz="UTC"), "exit_reason": pa.string(), "label": pa.int8(), "pnl_usd": pa.float64(),
    "holding_minutes": pa.float64(), "uniqueness": pa.float64(), **{name: pa.float64() for name in FEATURE_NAMES},
}
SCHEMA = pa.schema([(name, _TYPES[name]) for name in COLUMNS])


class DatasetError(ValueError):
    """The dataset cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class Dataset:
    rows: list[dict[str, Any]]
    sha256: str
    skipped: dict[str, int]  # why candidates were left out, and how many

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=SCHEMA)

    def write_parquet(self, where: Path | Any) -> int:
        """Write the rows to a path or a binary file (byte-identical for the same rows); returns the size."""
        if isinstance(where, Path):
            where.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.table(), where, compression="zstd", use_dictionary=False, write_statistics=False)
        return where.stat().st_size if isinstance(where, Path) else int(where.tell())


def uniqueness(intervals: Sequence[tuple[float, float]]) -> list[float]:
    """Average uniqueness of each [start, end] interval (any unit), exactly, in O(n log n).

    Concurrency c(t) counts the intervals with start ≤ t ≤ end; for an interval of positive length
    the result is ∫ 1/c over it divided by its length, for a zero-length one 1/c at its instant.
    """
    if not intervals:
        return []
    points = sorted({p for s, e in intervals for p in (s, e)})
    starts = np.array(sorted(s for s, _ in intervals))
    ends = np.array(sorted(e for _, e in intervals))

    def covering(t: float) -> int:  # intervals with s <= t <= e
        return int(np.searchsorted(starts, t, side="right") - np.searchsorted(ends, t, side="left"))

    # Between consecutive points concurrency is constant: the count at the segment's midpoint.
    acc = [0.0]
    for a, b in zip(points, points[1:]):
        acc.append(acc[-1] + (b - a) / max(covering((a + b) / 2), 1))
    out = []
    for s, e in intervals:
        if e <= s:
            out.append(1.0 / max(covering(s), 1))
            continue
        i, j = bisect.bisect_left(points, s), bisect.bisect_left(points, e)
        out.append((acc[j] - acc[i]) / (e - s))
    return out


def candidates(*, source: str, run_id: int | None = None, start: dt.date | None = None,
               end: dt.date | None = None, group: str | None = None) -> QuerySet[TradeDecision]:
    """The decisions a dataset is built from (before the outcome and schema checks)."""
    if source not in Source.values:
        raise DatasetError(f"source must be one of {', '.join(Source.values)}")
    if source == Source.BACKTEST and run_id is None:
        raise DatasetError("a backtest dataset needs --run (the backtest run id)")
    qs = TradeDecision.objects.filter(source=source, credit_fill__isnull=False).filter(
        Q(action=TRADE) | Q(reason_code__in=CANDIDATE_REASONS))
    qs = qs.filter(backtest_run_id=run_id) if source == Source.BACKTEST else qs.filter(backtest_run__isnull=True)
    if start:
        qs = qs.filter(trading_day__gte=start)
    if end:
        qs = qs.filter(trading_day__lte=end)
    if group:
        qs = qs.filter(strategy_config__ml_group=group)
    return qs.select_related("strategy_config", "outcome")


def dataset_build(*, source: str, run_id: int | None = None, start: dt.date | None = None,
                  end: dt.date | None = None, group: str | None = None) -> Dataset:
    """The dataset of one source (and run, or date range; of one strategy group's configs when
    ``group`` is given), rows sorted by entry time then id."""
    skipped = {"no outcome yet": 0, "outcome unresolved (data ended)": 0, "other feature schema": 0}
    picked = []
    for d in candidates(source=source, run_id=run_id, start=start, end=end, group=group).order_by("decided_at", "pk"):
        outcome = getattr(d, "outcome", None)
        if outcome is None or outcome.status == DecisionOutcome.Status.PENDING:
            skipped["no outcome yet"] += 1
        elif outcome.status != DecisionOutcome.Status.RESOLVED or outcome.exit_at is None:
            skipped["outcome unresolved (data ended)"] += 1
        elif d.feature_schema != FEATURE_SCHEMA_VERSION:
            skipped["other feature schema"] += 1
        else:
            picked.append((d, outcome))
    weights = uniqueness([(d.decided_at.timestamp() / 60, o.exit_at.timestamp() / 60) for d, o in picked])
    rows = []
    for (d, o), w in zip(picked, weights):
        features = d.features or {}
        rows.append({
            "decision_id": d.pk, "source": d.source, "backtest_run_id": d.backtest_run_id, "trading_day": d.trading_day,
            "entry_window": d.entry_window.strftime("%H:%M"), "strategy": d.strategy_config.name,
            "entry_at": d.decided_at.astimezone(dt.UTC), "exit_at": o.exit_at.astimezone(dt.UTC),
            "exit_reason": o.exit_reason, "label": int(o.label), "pnl_usd": float(o.pnl_usd),
            "holding_minutes": float(o.holding_minutes), "uniqueness": w,
            **{name: float(features[name]) if features.get(name) is not None else math.nan for name in FEATURE_NAMES},
        })
    return Dataset(rows=rows, sha256=sha256_of([_canonical(r) for r in rows]), skipped=skipped)


def _canonical(row: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for name in COLUMNS:
        v = row[name]
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, (dt.date, dt.datetime)):
            v = v.isoformat()
        out.append(v)
    return out
