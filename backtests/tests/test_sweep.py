"""The stuck-chunk sweep (``services.stuck_chunks_sweep``): a chunk left "running" by a worker killed
at the hard time limit, or lost, is requeued once, or fails its run at the attempt cap; a chunk
still alive is left alone; two sweeps act once; a requeued chunk finishes with the rows of a clean
run. The real-worker side (a hard time limit in a prefork worker) is in
``spx_site/tests/test_celery_workers.py``."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import QuerySet
from django.utils import timezone

from backtests import services
from backtests.engine import replay as replay_mod
from backtests.models import BacktestChunk, BacktestRun
from backtests.services import chunks as chunks_mod, sweep as sweep_mod
from backtests.tasks import stuck_chunks_sweep as stuck_chunks_sweep_task
from backtests.tests.factories import BacktestChunkFactory, BacktestRunFactory
from backtests.tests.test_engine import _params, _rows

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 21, 15, 0, tzinfo=dt.UTC)
HARD_S, MARGIN_S = 2100.0, 300.0


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.BACKTEST_CHUNK_TIME_LIMIT_S = HARD_S
    settings.BACKTEST_CHUNK_STUCK_MARGIN_S = MARGIN_S
    settings.BACKTEST_CHUNK_MAX_ATTEMPTS = 3


def _running(*, claimed_s_ago: float, silent_s: float | None = None, attempts: int = 1,
             run_status: str = BacktestRun.Status.RUNNING) -> BacktestChunk:
    """A chunk of a two-chunk run, claimed ``claimed_s_ago`` before NOW, last heartbeat ``silent_s`` before NOW."""
    run = BacktestRunFactory(running=True, status=run_status, chunks=False)
    claimed = NOW - dt.timedelta(seconds=claimed_s_ago)
    beat = NOW - dt.timedelta(seconds=claimed_s_ago if silent_s is None else silent_s)
    BacktestChunkFactory(run=run, index=1, status=BacktestChunk.Status.DONE)
    return BacktestChunkFactory(run=run, index=0, running=True, attempts=attempts, started_at=claimed, heartbeat_at=beat)


def test_a_chunk_past_the_hard_limit_and_silent_is_requeued_once(django_capture_on_commit_callbacks: Any) -> None:
    chunk = _running(claimed_s_ago=HARD_S + MARGIN_S + 1)
    with django_capture_on_commit_callbacks() as queued:
        outcome = services.stuck_chunks_sweep(now=NOW)
    assert outcome == services.SweepOutcome(requeued=(chunk.pk,))
    assert len(queued) == 1  # one chunk_run message, sent after the commit
    chunk.refresh_from_db()
    assert chunk.status == BacktestChunk.Status.PENDING and chunk.attempts == 1  # the next delivery counts attempt 2
    assert chunk.error.startswith("requeued by the stuck-chunk sweep: attempt 1 claimed at 2026-03-21 14:19:59 UTC, "
                                  "silent for 2401 s, past the hard time limit (BACKTEST_CHUNK_TIME_LIMIT_S=2100 s + "
                                  "BACKTEST_CHUNK_STUCK_MARGIN_S=300 s)")
    assert BacktestRun.objects.get(pk=chunk.run_id).status == BacktestRun.Status.RUNNING
    # Swept again (the next beat, a later minute): nothing more is sent.
    with django_capture_on_commit_callbacks() as queued:
        assert services.stuck_chunks_sweep(now=NOW + dt.timedelta(minutes=10)) == services.SweepOutcome()
    assert queued == []


def test_a_poison_chunk_at_the_attempt_cap_fails_its_run_with_the_reason(django_capture_on_commit_callbacks: Any) -> None:
    chunk = _running(claimed_s_ago=HARD_S + MARGIN_S + 60, attempts=3)
    with django_capture_on_commit_callbacks() as queued:
        assert services.stuck_chunks_sweep(now=NOW) == services.SweepOutcome(failed=(chunk.pk,))
    assert queued == []
    run = BacktestRun.objects.get(pk=chunk.run_id)
    chunk.refresh_from_db()
    assert run.status == BacktestRun.Status.FAILED and chunk.status == BacktestChunk.Status.FAILED
    assert run.error == chunk.error and run.finished_at is not None
    assert run.error.startswith("chunk 1 of 2 (2026-03-16..2026-03-20): gave up after 3 attempts "
                                "(BACKTEST_CHUNK_MAX_ATTEMPTS=3); the last: attempt 3 claimed at ")
    assert "past the hard time limit (BACKTEST_CHUNK_TIME_LIMIT_S=2100 s" in run.error and "killed or lost" in run.error
    assert services.stuck_chunks_sweep(now=NOW) == services.SweepOutcome()


@pytest.mark.parametrize(("claimed_s_ago", "silent_s", "why"), [
    (HARD_S + MARGIN_S + 600, 30.0, "a recent heartbeat: still replaying past the limit (a pool without time limits)"),
    (HARD_S + MARGIN_S - 1, None, "claimed within the hard limit + margin: a prefork worker may still be on it"),
    (HARD_S + MARGIN_S + 600, MARGIN_S - 1, "silent for less than the margin"),
    (60.0, None, "just claimed"),
])
def test_a_chunk_that_may_still_be_running_is_left_alone(claimed_s_ago: float, silent_s: float | None, why: str,
                                                         django_capture_on_commit_callbacks: Any) -> None:
    chunk = _running(claimed_s_ago=claimed_s_ago, silent_s=silent_s)
    with django_capture_on_commit_callbacks() as queued:
        assert services.stuck_chunks_sweep(now=NOW) == services.SweepOutcome(), why
    assert queued == []
    chunk.refresh_from_db()
    assert chunk.status == BacktestChunk.Status.RUNNING and chunk.error == ""


@pytest.mark.parametrize("run_status", [BacktestRun.Status.CANCELLED, BacktestRun.Status.FAILED])
def test_a_chunk_of_a_finished_run_is_not_requeued(run_status: str, django_capture_on_commit_callbacks: Any) -> None:
    chunk = _running(claimed_s_ago=HARD_S + MARGIN_S + 600, run_status=run_status)
    with django_capture_on_commit_callbacks() as queued:
        assert services.stuck_chunks_sweep(now=NOW) == services.SweepOutcome()
    assert queued == [] and BacktestRun.objects.get(pk=chunk.run_id).status == run_status


def test_two_sweeps_at_once_requeue_a_chunk_once(monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any) -> None:
    """The first sweep has read its list of stuck chunks when a second one runs to the end; the
    first then finds each chunk no longer stuck and changes nothing."""
    stuck = [_running(claimed_s_ago=HARD_S + MARGIN_S + 5), _running(claimed_s_ago=HARD_S + MARGIN_S + 5, attempts=3)]
    real = sweep_mod._chunk_unstick
    inner: list[services.SweepOutcome] = []

    def after_another_sweep(chunk_id: int, *, now: dt.datetime) -> str | None:
        if not inner:
            monkeypatch.setattr(sweep_mod, "_chunk_unstick", real)
            inner.append(services.stuck_chunks_sweep(now=now))  # the other sweeper, start to end
        return real(chunk_id, now=now)

    monkeypatch.setattr(sweep_mod, "_chunk_unstick", after_another_sweep)
    with django_capture_on_commit_callbacks() as queued:
        outer = services.stuck_chunks_sweep(now=NOW)
    assert inner == [services.SweepOutcome(requeued=(stuck[0].pk,), failed=(stuck[1].pk,))]
    assert outer == services.SweepOutcome() and len(queued) == 1


def test_the_conditional_update_refuses_a_chunk_changed_since_it_was_read(monkeypatch: pytest.MonkeyPatch,
                                                                           django_capture_on_commit_callbacks: Any) -> None:
    """Where there is no row lock (SQLite has no SELECT … FOR UPDATE), the update is conditional on
    the state read: a heartbeat written between the sweep's read and its update wins."""
    chunk = _running(claimed_s_ago=HARD_S + MARGIN_S + 5)
    real = sweep_mod.stuck_chunks

    class ThenAHeartbeat(QuerySet[BacktestChunk]):
        def first(self) -> BacktestChunk | None:
            found = super().first()  # the sweep's re-read; then the chunk's worker writes
            BacktestChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=NOW)
            return found

    monkeypatch.setattr(sweep_mod, "stuck_chunks", lambda *, now: ThenAHeartbeat(BacktestChunk, query=real(now=now).query))
    with django_capture_on_commit_callbacks() as queued:
        assert services.stuck_chunks_sweep(now=NOW) == services.SweepOutcome()
    assert queued == []
    chunk.refresh_from_db()
    assert chunk.status == BacktestChunk.Status.RUNNING and chunk.heartbeat_at == NOW


def test_the_beat_task_and_the_command_run_the_sweep(django_capture_on_commit_callbacks: Any) -> None:
    def stuck() -> BacktestChunk:
        return BacktestChunkFactory(running=True, started_at=timezone.now() - dt.timedelta(seconds=HARD_S + MARGIN_S + 5))

    first = stuck()
    with django_capture_on_commit_callbacks() as queued:
        assert stuck_chunks_sweep_task.apply().successful()
    assert len(queued) == 1 and BacktestChunk.objects.get(pk=first.pk).status == BacktestChunk.Status.PENDING
    second = stuck()
    out = StringIO()
    with django_capture_on_commit_callbacks() as queued:
        call_command("stuck_chunks_sweep", stdout=out)
    assert len(queued) == 1
    assert f"requeued: 1 chunk(s) [{second.pk}]; runs failed: 0 chunk(s) [] (stuck after 2400 s)" in out.getvalue()


# ------------------------------------------------------------------------------ with a real replay


def test_a_requeued_chunk_finishes_and_the_run_equals_a_clean_one(compact_market: Path,
                                                                  django_capture_on_commit_callbacks: Any) -> None:
    params = _params()
    clean = services.run_execute_inline(services.run_create(params, name="clean")[0])
    run, _ = services.run_create(params, name="killed at the hard limit")
    first, last = run.chunks.order_by("index")
    services.chunk_execute(first.pk)
    # What a hard-limit kill leaves: the last chunk claimed 41 minutes ago, then silence; no rows yet.
    claimed = timezone.now() - dt.timedelta(seconds=HARD_S + MARGIN_S + 60)
    BacktestChunk.objects.filter(pk=last.pk).update(status=BacktestChunk.Status.RUNNING, attempts=1, started_at=claimed,
                                                   heartbeat_at=claimed)
    with django_capture_on_commit_callbacks(execute=True) as queued:  # the requeued chunk_run runs (eager)
        outcome = services.stuck_chunks_sweep(now=timezone.now())
    assert outcome.requeued == (last.pk,) and len(queued) == 1
    run.refresh_from_db()
    last.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE and last.attempts == 2 and last.error == ""
    assert _rows(run) == _rows(clean)  # reproducible: the rows of the run that was never killed


def test_a_running_chunk_writes_heartbeats_and_a_superseded_attempt_stops(compact_market: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks_mod, "PROGRESS_EVERY_S", 0.0)  # a heartbeat before every day
    run, _ = services.run_create(_params(), name="heartbeats")
    first = run.chunks.order_by("index").first()
    real = replay_mod.DayReplayer.run_day
    seen: list[tuple[dt.datetime, dt.datetime]] = []

    def watch(self: Any, day: dt.date, *, entries: bool) -> bool:
        row = BacktestChunk.objects.get(pk=first.pk)
        seen.append((row.started_at, row.heartbeat_at))
        return real(self, day, entries=entries)

    monkeypatch.setattr(replay_mod.DayReplayer, "run_day", watch)
    assert services.chunk_execute(first.pk) is not None
    assert len(seen) >= 2 and seen[0][0] == seen[0][1]  # the claim is the first heartbeat
    assert all(started == seen[0][0] for started, _ in seen)
    assert [beat for _, beat in seen] == sorted(beat for _, beat in seen) and seen[-1][1] > seen[0][1]

    # A later delivery claims the chunk while this attempt replays (e.g. after a requeue): this one stops.
    second = run.chunks.order_by("index").last()

    def claimed_elsewhere(self: Any, day: dt.date, *, entries: bool) -> bool:
        BacktestChunk.objects.filter(pk=second.pk).update(attempts=5)
        return real(self, day, entries=entries)

    monkeypatch.setattr(replay_mod.DayReplayer, "run_day", claimed_elsewhere)
    assert services.chunk_execute(second.pk) is None
    second.refresh_from_db()
    assert second.status == BacktestChunk.Status.RUNNING and second.result is None and second.attempts == 5
