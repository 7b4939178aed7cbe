"""Materialise one variant of a sweep: its decisions, trades, legs and marks as ordinary rows.

The variant becomes an ordinary backtest run of its own (``params`` exactly a ``per_strategy``
run of the base config with the variant's values at its window), whose chunks hold that variant's
candidates rebuilt from the sweep's chunks (``engine.sweep.variant_candidates``: the same values
the variant's own replay would produce), assembled by the ordinary assembly (``run_assemble``).
Its pages, API and metrics are any run's. Idempotent on the key ``sweep-<run>-v<index>``: a
second call returns the same run and rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import transaction
from django.utils import timezone

from backtests.engine import codec
from backtests.engine import sweep as sweep_engine
from backtests.models import BacktestChunk, BacktestRun, SweepVariant
from backtests.services.assembly import run_assemble
from backtests.services.lifecycle import run_create
from backtests.services.params import BacktestError, strategies_of
from backtests.services.sweeps import is_sweep, sweep_strategies, variant_strategy


def variant_params(params: dict[str, Any], index: int) -> dict[str, Any]:
    """The parameters of variant ``index`` run alone: the sweep's without the grid, its one strategy
    keyed as ``params_build`` keys a config × window."""
    sweep = params["sweep"]
    strategy = variant_strategy(params, index)
    key = f"{sweep['config_id']}@{strategy['windows'][0].replace(':', '')}"
    out = {k: v for k, v in params.items() if k not in ("kind", "sweep")}
    out["strategies"] = [{**strategy, "key": key, "book": key}]
    return out


def materialise_key(run: BacktestRun, index: int) -> str:
    return f"sweep-{run.pk}-v{index}"


def variant_materialise(run: BacktestRun, index: int) -> BacktestRun:
    """The ordinary run holding variant ``index``'s rows (created and assembled on the first call)."""
    if not is_sweep(run.params):
        raise BacktestError(f"run {run.pk} is not a sweep")
    if run.status != BacktestRun.Status.DONE:
        raise BacktestError(f"sweep {run.pk} is {run.status}: materialise its variants once it is done")
    n = int(run.params["sweep"]["variants"])
    if not 0 <= index < n:
        raise BacktestError(f"variant {index} does not exist: the sweep has variants 0–{n - 1}",
                            fields={"index": [f"0–{n - 1}"]})
    key = materialise_key(run, index)
    params = variant_params(run.params, index)
    child, _ = run_create(params, name=f"#{run.pk} variant {index}", idempotency_key=key)
    if child.status != BacktestRun.Status.DONE:
        plan = sweep_engine.sweep_plan(sweep_strategies(run.params))
        alone = strategies_of(params)[0]
        own = {c.index: c for c in child.chunks.all()}
        for chunk in run.chunks.order_by("index"):
            assert chunk.result is not None
            d = sweep_engine.decode(bytes(chunk.result), plan.groups)
            found = [dataclasses.replace(c, strategy=alone.key, evaluation=dataclasses.replace(c.evaluation, spec=alone.spec))
                     for c in sweep_engine.variant_candidates(plan, index, d.candidates, d.paths)]
            mine = own[chunk.index]
            BacktestChunk.objects.filter(pk=mine.pk).update(
                result=codec.encode(found, d.core["days_read"]), status=BacktestChunk.Status.DONE,
                days_done=mine.days_total, timings=chunk.timings, started_at=chunk.started_at,
                finished_at=chunk.finished_at or timezone.now())
        BacktestRun.objects.filter(pk=child.pk, status=BacktestRun.Status.PENDING).update(
            status=BacktestRun.Status.RUNNING, started_at=timezone.now())
        child = run_assemble(child.pk)
    with transaction.atomic():
        SweepVariant.objects.filter(run=run, index=index).update(materialized_run=child)
    return child
