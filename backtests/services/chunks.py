"""Phase 1 per chunk of days: claim the chunk, replay its days (Celery or in line), store the result;
the chunk that finishes last assembles the run."""

from __future__ import annotations

import datetime as dt
import logging
import math
import resource
import time
from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from backtests.engine import codec
from backtests.engine.daydata import DayData
from backtests.engine import sweep as sweep_engine
from backtests.engine.replay import DayReplayer
from backtests.engine.sweep import SweepReplayer
from backtests.models import BacktestChunk, BacktestRun
from backtests.services.assembly import run_assemble
from backtests.services.params import (
    EXTENSION_CALENDAR_DAYS,
    BacktestError,
    engine_params,
    strategies_of,
    trading_days,
)
from backtests.services.sweeps import is_sweep, sweep_strategies
from snapshots import settlement_values


logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5


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
        # A message that keeps coming back (a worker killed mid-chunk, redelivered; a retried
        # error) is given up on after the cap, with the reason on the run, instead of looping.
        max_attempts = settings.BACKTEST_CHUNK_MAX_ATTEMPTS
        if chunk.attempts >= max_attempts:
            previous = f"; the last: {chunk.error}" if chunk.error else " (the worker running it was lost)"
            reason = f"gave up after {chunk.attempts} attempts (BACKTEST_CHUNK_MAX_ATTEMPTS={max_attempts}){previous}"
            _give_up(chunk, reason)
            return None
        claimed_at = timezone.now()
        chunk.status, chunk.attempts, chunk.started_at, chunk.heartbeat_at, chunk.days_done = (
            BacktestChunk.Status.RUNNING, chunk.attempts + 1, claimed_at, claimed_at, 0)
        chunk.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "days_done"])
        BacktestRun.objects.filter(pk=run.pk, status=BacktestRun.Status.PENDING).update(
            status=BacktestRun.Status.RUNNING, started_at=timezone.now())
    started = time.perf_counter()
    params = run.params
    replayer = _replayer(params)
    days = trading_days(chunk.first_day, chunk.last_day)
    i = 0
    try:
        reported_at = -math.inf
        for i, day in enumerate(days, start=1):
            # Cancellation and the progress rows at most every PROGRESS_EVERY_S (and before the first
            # day): a database round trip per replayed day costs more than some days take.
            if time.perf_counter() - reported_at >= PROGRESS_EVERY_S:
                if _is_cancelled(run.pk):
                    return None
                if i > 1:
                    if not _heartbeat(chunk, days_done=i - 1):
                        return None
                    _progress_update(run.pk)
                reported_at = time.perf_counter()
            if not replayer.run_day(day, entries=True):
                raise BacktestError(f"{day}: the imported data disappeared while the run was going")
            if progress:
                progress(1)
        # Finish the trades still open at the chunk's end with the days that follow (exits only).
        extra = trading_days(chunk.last_day + dt.timedelta(days=1), chunk.last_day + dt.timedelta(days=EXTENSION_CALENDAR_DAYS))
        for day in extra:
            if time.perf_counter() - reported_at >= PROGRESS_EVERY_S:
                if not _heartbeat(chunk):
                    return None
                reported_at = time.perf_counter()
            if not replayer.alive or not replayer.run_day(day, entries=False):
                break
    except SoftTimeLimitExceeded:
        # Stopped by the worker's soft time limit: keep the progress and say why (the replay keeps
        # open trades across days, so a chunk restarts from its first day rather than resuming).
        BacktestChunk.objects.filter(pk=chunk.pk).update(days_done=max(i - 1, 0))
        _progress_update(run.pk)
        limit = settings.BACKTEST_CHUNK_SOFT_TIME_LIMIT_S
        _give_up(chunk, f"stopped at the soft time limit of {limit:g} s (BACKTEST_CHUNK_SOFT_TIME_LIMIT_S) after "
                        f"{max(i - 1, 0)} of {len(days)} days; raise the limit or use fewer days per chunk")
        return None
    except Exception as exc:
        BacktestChunk.objects.filter(pk=chunk.pk).update(status=BacktestChunk.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    out = replayer.out
    if isinstance(replayer, SweepReplayer):  # a sweep: its groups' candidates and the shared exit paths
        blob = sweep_engine.encode(replayer.sweep, out.days_read)
    else:
        blob = codec.encode(out.candidates, out.days_read)  # the one serialisation of engine values
    with transaction.atomic():
        chunk = BacktestChunk.objects.select_for_update().get(pk=chunk.pk)
        chunk.result = blob
        chunk.status = BacktestChunk.Status.DONE
        chunk.finished_at = timezone.now()
        chunk.days_done = len(days)
        chunk.error = ""
        chunk.timings = {"read_s": round(out.read_s, 3), "compute_s": round(out.compute_s, 3),
                         "wall_s": round(time.perf_counter() - started, 3), "days_read": len(out.days_read),
                         "max_rss_mb": _max_rss_mb()}
        chunk.save()
        run = BacktestRun.objects.select_for_update().get(pk=run.pk)
        _progress_update(run.pk)
        last = not run.chunks.exclude(status=BacktestChunk.Status.DONE).exists()
    if last:
        run_assemble(run.pk)
    return chunk


def _max_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (a prefork child's: the worker's peak)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _replayer(params: dict) -> DayReplayer:
    """The replayer of a run's parameters: every strategy's own, or a sweep's shared paths."""
    official = settlement_values.from_rows(params.get("official_settlements", []))
    fomc_days = [dt.date.fromisoformat(d) for d in params.get("fomc_days", [])]
    if is_sweep(params):
        return SweepReplayer(sweep_engine.sweep_plan(sweep_strategies(params)), engine_params(params),
                             load_day=_load_day, official=official, fomc_days=fomc_days)
    return DayReplayer(strategies_of(params), engine_params(params), load_day=_load_day, official=official,
                       fomc_days=fomc_days)


def _heartbeat(chunk: BacktestChunk, **fields: object) -> bool:
    """A sign of life for the stuck-chunk sweep, with the progress ``fields``. False: a later delivery
    claimed the chunk since (its attempt number moved on), so this one stops and leaves it the work."""
    alive = BacktestChunk.objects.filter(pk=chunk.pk, attempts=chunk.attempts).update(
        heartbeat_at=timezone.now(), **fields) == 1
    if not alive:
        logger.warning("backtest run %s chunk %s: attempt %s superseded by a later delivery; stopping it",
                       chunk.run_id, chunk.index, chunk.attempts)
    return alive


def _give_up(chunk: BacktestChunk, reason: str) -> None:
    """The chunk failed for good, and its run with it: the reason is on both (page, API, admin)."""
    message = f"chunk {chunk.index + 1} of {chunk.run.chunks_total} ({chunk.first_day}..{chunk.last_day}): {reason}"[:2000]
    BacktestChunk.objects.filter(pk=chunk.pk).update(status=BacktestChunk.Status.FAILED, error=message)
    BacktestRun.objects.filter(pk=chunk.run_id).exclude(status__in=[BacktestRun.Status.DONE, BacktestRun.Status.CANCELLED]).update(
        status=BacktestRun.Status.FAILED, error=message, finished_at=timezone.now())
    logger.error("backtest run %s failed: %s", chunk.run_id, message)


def _progress_update(run_id: int) -> None:
    """The run's days done = the sum over its chunks (so a retried chunk never counts twice)."""
    done = BacktestChunk.objects.filter(run_id=run_id).aggregate(n=Sum("days_done"))["n"] or 0
    BacktestRun.objects.filter(pk=run_id).update(days_done=done)


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
