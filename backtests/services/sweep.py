"""The stuck-chunk sweep: chunks left "running" by a worker that can no longer finish them.

Celery's hard time limit kills the pool process and acknowledges the message (``acks_on_timeout``),
and a worker host that vanishes on a broker without redelivery (the file broker) takes its message
with it: either way the chunk row stays ``running`` and its run never finishes. Beat runs this
every few minutes (``backtests.tasks.stuck_chunks_sweep``; also ``manage.py stuck_chunks_sweep``).

A chunk is stuck when it was claimed more than ``BACKTEST_CHUNK_TIME_LIMIT_S`` +
``BACKTEST_CHUNK_STUCK_MARGIN_S`` ago (a prefork worker has killed it by then) *and* has written no
heartbeat for the margin (so a chunk in a pool that ignores time limits, e.g. ``--pool solo``, still
replaying past the limit is left alone). It goes back on the queue, and the next delivery counts an
attempt as any delivery does; one that already used ``BACKTEST_CHUNK_MAX_ATTEMPTS`` fails its run
with the reason instead. Two sweeps at once act once: each chunk is re-read under a row lock and
changed by an update conditional on the state the sweep saw.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce

from backtests.models import BacktestChunk, BacktestRun
from backtests.services.chunks import _give_up

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOutcome:
    """Chunk ids the sweep put back on the queue, and those whose run it failed (attempts used up)."""

    requeued: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()


def stuck_after_s() -> float:
    """Seconds after its claim from which a silent running chunk counts as stuck (hard limit + margin)."""
    return float(settings.BACKTEST_CHUNK_TIME_LIMIT_S + settings.BACKTEST_CHUNK_STUCK_MARGIN_S)


def stuck_chunks(*, now: dt.datetime) -> QuerySet[BacktestChunk]:
    """Running chunks of unfinished runs, claimed before ``now`` − (hard limit + margin) and silent
    (no heartbeat; the claim counts as one) since ``now`` − margin."""
    margin = dt.timedelta(seconds=settings.BACKTEST_CHUNK_STUCK_MARGIN_S)
    return BacktestChunk.objects.annotate(last_seen=Coalesce(F("heartbeat_at"), F("started_at"))).filter(
        status=BacktestChunk.Status.RUNNING,
        run__status__in=[BacktestRun.Status.PENDING, BacktestRun.Status.RUNNING],
        started_at__lte=now - dt.timedelta(seconds=stuck_after_s()),
        last_seen__lte=now - margin,
    )


def stuck_chunks_sweep(*, now: dt.datetime) -> SweepOutcome:
    """Requeue every stuck chunk, or fail its run when its attempts are used up. Idempotent.

    ``now``: the sweep's clock (UTC aware), compared with the workers' ``heartbeat_at`` writes.
    """
    requeued: list[int] = []
    failed: list[int] = []
    for chunk_id in list(stuck_chunks(now=now).order_by("pk").values_list("pk", flat=True)):
        outcome = _chunk_unstick(chunk_id, now=now)
        if outcome == "requeued":
            requeued.append(chunk_id)
        elif outcome == "failed":
            failed.append(chunk_id)
    if requeued or failed:
        logger.warning("stuck-chunk sweep: requeued %s, failed the runs of %s", requeued, failed)
    return SweepOutcome(requeued=tuple(requeued), failed=tuple(failed))


def _chunk_unstick(chunk_id: int, *, now: dt.datetime) -> str | None:
    """"requeued", "failed", or None when the chunk is no longer stuck (another sweep acted on it,
    it finished, or it wrote a heartbeat since the list was read)."""
    from backtests.tasks import chunk_run  # the task module imports the services

    with transaction.atomic():
        # Re-read under the row lock (PostgreSQL; SQLite's IMMEDIATE transaction holds the writer lock).
        chunk = stuck_chunks(now=now).select_for_update(of=("self",)).select_related("run").filter(pk=chunk_id).first()
        if chunk is None:
            return None
        # Conditional on what was read: a second sweep, or a heartbeat in between, updates 0 rows.
        seen = BacktestChunk.objects.filter(pk=chunk.pk, status=BacktestChunk.Status.RUNNING, attempts=chunk.attempts,
                                            started_at=chunk.started_at, heartbeat_at=chunk.heartbeat_at)
        hard, margin = settings.BACKTEST_CHUNK_TIME_LIMIT_S, settings.BACKTEST_CHUNK_STUCK_MARGIN_S
        claimed_at, last_seen = chunk.started_at, chunk.heartbeat_at or chunk.started_at
        assert claimed_at is not None and last_seen is not None  # the filter compared them with now
        silent_s = (now - last_seen).total_seconds()
        why = (f"attempt {chunk.attempts} claimed at {claimed_at:%Y-%m-%d %H:%M:%S} UTC, silent for {silent_s:.0f} s, "
               f"past the hard time limit (BACKTEST_CHUNK_TIME_LIMIT_S={hard:g} s + BACKTEST_CHUNK_STUCK_MARGIN_S="
               f"{margin:g} s): its worker was killed or lost")
        max_attempts = settings.BACKTEST_CHUNK_MAX_ATTEMPTS
        if chunk.attempts >= max_attempts:
            if seen.update(status=BacktestChunk.Status.FAILED) != 1:
                return None
            _give_up(chunk, f"gave up after {chunk.attempts} attempts (BACKTEST_CHUNK_MAX_ATTEMPTS={max_attempts}); "
                            f"the last: {why}")
            return "failed"
        if seen.update(status=BacktestChunk.Status.PENDING, error=f"requeued by the stuck-chunk sweep: {why}"[:2000]) != 1:
            return None
        chunk_run.delay_on_commit(chunk.pk)
        logger.warning("backtest run %s chunk %s requeued: %s", chunk.run_id, chunk.index, why)
        return "requeued"
