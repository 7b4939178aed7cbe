"""Celery failure modes with real worker processes (reliability.md B2 #21, #24, #26, #32), on
whatever broker the settings name: the file broker by default, Redis in CI's second pass. The
workers are ``spx_site.tests.celery_workers`` subprocesses on the test database, each consuming
the queues a deployment gives it (``-Q live`` / ``-Q backtests``)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from backtests import services as backtest_services
from backtests.models import BacktestChunk, BacktestRun
from backtests.tasks import chunk_run, stuck_chunks_sweep
from backtests.tests.conftest import COMPACT_DAYS
from execution.models import Trade
from execution.tasks import trade_open
from execution.tests.test_faults import market_decision
from snapshots.models import ChainSnapshot
from spx_site.tests.celery_workers import Workers
from spx_site.tests.redis_server import free_port, redis_server
from strategy.models import StrategyConfig, TradeDecision

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers(settings: Any, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(settings, tmp_path)
    try:
        yield w
    finally:
        w.stop()


def _one_chunk_run() -> BacktestRun:
    """The compact market's three days as one chunk, one strategy at 10:00."""
    params = backtest_services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1], chunk_days=5, windows=["10:00"],
                                            configs=StrategyConfig.objects.filter(name="3DTE put 10d"))
    run = backtest_services.run_create(params, name="workers")[0]
    assert run.chunks_total == 1
    return run


def _chunk(run: BacktestRun) -> BacktestChunk:
    return BacktestChunk.objects.get(run=run)


def test_a_long_backtest_chunk_does_not_delay_trade_open(workers: Workers, compact_market: Path, settings: Any) -> None:
    run = _one_chunk_run()
    workers.start("live", ["live"])
    workers.start("backtests", ["backtests"], env={"SPX_TEST_SLOW_DAY_S": "4"})  # ~20 s of replay
    workers.send(chunk_run, _chunk(run).pk)
    workers.wait_for("the chunk running", lambda: _chunk(run).status == BacktestChunk.Status.RUNNING)

    decision = market_decision(settings)
    sent = time.monotonic()
    workers.send(trade_open, decision.pk)
    workers.wait_for("the trade opened by the live worker", lambda: Trade.objects.filter(decision=decision).exists())
    waited_s = time.monotonic() - sent
    # The live worker took it while the chunk was still replaying on the other one.
    assert _chunk(run).status == BacktestChunk.Status.RUNNING, workers.report()
    assert waited_s < 15, waited_s
    assert "Task execution.tasks.trade_open[" not in workers.log("backtests")
    assert "Task backtests.tasks.chunk_run[" not in workers.log("live")


def test_trade_open_sent_before_its_decision_commits_retries_then_opens(workers: Workers, settings: Any) -> None:
    workers.start("live", ["live"])
    with transaction.atomic():
        decision = market_decision(settings)
        # What on_commit prevents, done on purpose: the message goes out before the commit.
        workers.send(trade_open, decision.pk)
        workers.wait_for("a retry of the missing decision",
                         lambda: "TradeDecision matching query does not exist.; retry 1/" in workers.log("live"))
        assert not Trade.objects.filter(decision=decision).exists()
    workers.wait_for("the trade opened after the commit", lambda: Trade.objects.filter(decision=decision).exists())
    workers.wait_for("the job done", lambda: "trade_open" in workers.log("live") and "succeeded" in workers.log("live"))
    assert Trade.objects.filter(decision=decision).count() == 1


def test_a_chunk_at_its_soft_time_limit_fails_its_run_with_the_reason(workers: Workers, compact_market: Path) -> None:
    run = _one_chunk_run()
    # prefork: the pool that enforces time limits (solo does not); 1.5 s a day, soft limit 2 s.
    workers.start("backtests", ["backtests"], pool="prefork", env={
        "SPX_TEST_SLOW_DAY_S": "1.5", "BACKTEST_CHUNK_SOFT_TIME_LIMIT_S": "2", "BACKTEST_CHUNK_TIME_LIMIT_S": "30"})
    # The limits travel in the message, from the sender's settings (the web process's, in production).
    workers.send(chunk_run, _chunk(run).pk, soft_time_limit=2, time_limit=30)
    workers.wait_for("the run failed", lambda: BacktestRun.objects.get(pk=run.pk).finished)
    run.refresh_from_db()
    chunk = _chunk(run)
    assert run.status == BacktestRun.Status.FAILED, workers.report()
    # How many days fit depends on the machine's load (day 1 also reads the store): the progress
    # kept is whatever finished, and the reason says so.
    found = re.search(r"stopped at the soft time limit of 2 s \(BACKTEST_CHUNK_SOFT_TIME_LIMIT_S\) after (\d) of 3 days",
                      run.error)
    assert found, run.error
    done = int(found.group(1))
    assert done < 3 and chunk.status == BacktestChunk.Status.FAILED and chunk.days_done == run.days_done == done
    assert "SoftTimeLimitExceeded" in workers.log("backtests") or "soft time limit" in workers.log("backtests")


def test_a_poison_chunk_that_kills_its_worker_is_given_up_after_the_cap(workers: Workers, compact_market: Path) -> None:
    run = _one_chunk_run()
    workers.start("backtests", ["backtests"], pool="prefork",
                  env={"SPX_TEST_POISON_DAY": "1", "BACKTEST_CHUNK_MAX_ATTEMPTS": "2"})
    workers.send(chunk_run, _chunk(run).pk)  # once: the redeliveries are the broker's
    workers.wait_for("the run failed", lambda: BacktestRun.objects.get(pk=run.pk).finished, timeout_s=120)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.FAILED, workers.report()
    assert "gave up after 2 attempts (BACKTEST_CHUNK_MAX_ATTEMPTS=2) (the worker running it was lost)" in run.error
    assert workers.log("backtests").count("WorkerLostError") >= 2
    time.sleep(3)  # no further delivery: the message was acknowledged with the give-up
    assert _chunk(run).attempts == 2
    assert workers.procs["backtests"].poll() is None  # the worker itself keeps serving


def test_a_chunk_killed_at_its_hard_time_limit_is_swept_requeued_then_failed_at_the_cap(
        workers: Workers, compact_market: Path) -> None:
    """The hard limit kills the pool process and acknowledges the message: without the sweep the
    chunk stays running forever. Beat's sweep (sent here by hand) requeues it; stuck again at the
    cap, the sweep fails the run with the reason."""
    run = _one_chunk_run()
    # prefork enforces time limits; the first day hangs through the soft limit until the hard one.
    # The soft limit leaves the claim and the replay's set-up time on a loaded machine (before the
    # first day, the soft limit would fail the run itself).
    soft_s, hard_s, margin_s = 5, 6, 1
    workers.start("backtests", ["backtests"], pool="prefork", env={
        "SPX_TEST_STUCK_DAY": "1", "BACKTEST_CHUNK_SOFT_TIME_LIMIT_S": str(soft_s), "BACKTEST_CHUNK_TIME_LIMIT_S": str(hard_s),
        "BACKTEST_CHUNK_STUCK_MARGIN_S": str(margin_s), "BACKTEST_CHUNK_MAX_ATTEMPTS": "2"})

    def killed(times: int) -> None:
        workers.wait_for(f"hard time limit #{times}", lambda: workers.log("backtests").count("Hard time limit") >= times)
        chunk = _chunk(run)
        assert chunk.status == BacktestChunk.Status.RUNNING and chunk.attempts == times, workers.report()
        # Until the sweep may take it: claimed hard + margin ago and silent for the margin.
        assert chunk.started_at is not None and chunk.heartbeat_at == chunk.started_at
        stuck_at = chunk.started_at + dt.timedelta(seconds=hard_s + margin_s + 0.5)
        workers.wait_for("the chunk stuck long enough", lambda: timezone.now() > stuck_at)

    workers.send(chunk_run, _chunk(run).pk, soft_time_limit=soft_s, time_limit=hard_s)
    killed(1)
    time.sleep(1)
    assert _chunk(run).attempts == 1 and BacktestRun.objects.get(pk=run.pk).status == BacktestRun.Status.RUNNING
    workers.send(stuck_chunks_sweep)  # what beat sends every 10 minutes
    # Requeued by the worker's sweep, delivered again (attempt 2, counted at the claim), killed again.
    killed(2)
    assert "requeued by the stuck-chunk sweep: attempt 1 claimed at" in _chunk(run).error
    workers.send(stuck_chunks_sweep)
    workers.wait_for("the run failed", lambda: BacktestRun.objects.get(pk=run.pk).finished)
    run.refresh_from_db()
    chunk = _chunk(run)
    assert run.status == BacktestRun.Status.FAILED and chunk.status == BacktestChunk.Status.FAILED, workers.report()
    assert "gave up after 2 attempts (BACKTEST_CHUNK_MAX_ATTEMPTS=2); the last: attempt 2 claimed at" in run.error
    assert "past the hard time limit (BACKTEST_CHUNK_TIME_LIMIT_S=6 s + BACKTEST_CHUNK_STUCK_MARGIN_S=1 s)" in run.error
    time.sleep(2)  # nothing else is delivered
    assert _chunk(run).attempts == 2 and workers.log("backtests").count("Hard time limit") == 2


# ------------------------------------------------------------------------------ Redis: kills, restarts

VISIBILITY_S = 5
SHORT_LIMITS = {  # settings refuse a visibility timeout below a hard limit; the solo pool ignores limits
    "BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S), "TASK_RETRY_BACKOFF_MAX_S": "2",
    "LIVE_TASK_SOFT_TIME_LIMIT_S": "3", "LIVE_TASK_TIME_LIMIT_S": "4",
    "BACKTEST_CHUNK_SOFT_TIME_LIMIT_S": "3", "BACKTEST_CHUNK_TIME_LIMIT_S": "4",
    "ML_TASK_SOFT_TIME_LIMIT_S": "3", "ML_TASK_TIME_LIMIT_S": "4",
}


def test_a_worker_sigkilled_mid_chunk_gets_it_redelivered_and_the_rows_written_once(
        compact_market: Path, settings: Any, tmp_path: Path) -> None:
    """acks_late on Redis: the killed worker's message comes back after the visibility timeout,
    without the test sending it again; the decisions' unique key keeps the work exactly once."""
    with redis_server(tmp_path / "redis", "--maxmemory-policy", "noeviction") as url:
        workers = Workers(settings, tmp_path, broker_url=url, transport_options={"visibility_timeout": VISIBILITY_S},
                          **SHORT_LIMITS)
        try:
            run = _one_chunk_run()
            first = workers.start("first", ["backtests"], env={"SPX_TEST_SLOW_DAY_S": "3"})
            workers.send(chunk_run, _chunk(run).pk)
            workers.wait_for("the chunk running", lambda: _chunk(run).status == BacktestChunk.Status.RUNNING)
            killed_at = time.monotonic()
            os.kill(first.pid, signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
            assert _chunk(run).attempts == 1 and not TradeDecision.objects.filter(backtest_run=run).exists()
            # A replacement worker (the supervisor's restart) once the message is visible again.
            time.sleep(max(0.0, VISIBILITY_S + 1 - (time.monotonic() - killed_at)))
            workers.start("second", ["backtests"])
            workers.wait_for("the run done", lambda: BacktestRun.objects.get(pk=run.pk).status == BacktestRun.Status.DONE,
                             names=["second"])
            chunk = _chunk(run)
            assert chunk.attempts == 2 and "Task backtests.tasks.chunk_run[" in workers.log("second")
            decisions = TradeDecision.objects.filter(backtest_run=run)
            assert decisions.count() == len(COMPACT_DAYS)  # one config × one window × each day, once
            assert decisions.values("trading_day").distinct().count() == len(COMPACT_DAYS)
        finally:
            workers.stop()


def test_redis_restarted_with_tasks_queued_loses_nothing_and_doubles_nothing(settings: Any, tmp_path: Path) -> None:
    """Redis with AOF persistence (as in docker-compose.yml) restarted while captures are queued,
    and again under a running worker: every capture runs, once per slot."""
    from snapshots.tasks import snapshot_capture

    folder, port = tmp_path / "redis", free_port()
    aof = ("--maxmemory-policy", "noeviction", "--appendonly", "yes", "--appendfsync", "always")
    slots = [f"2026-03-18T{10 + i // 12:02d}:{i % 12 * 5:02d}:00-04:00" for i in range(6)]
    env = {"SNAPSHOT_CONTEXT_ENABLED": "false", "SNAPSHOT_DTE_TARGETS": "3", "ALLOW_SNAPSHOT_OUTSIDE_RTH": "true"}
    with redis_server(folder, *aof, port=port) as url:
        workers = Workers(settings, tmp_path, broker_url=url, **env)
        for slot in slots[:4]:
            workers.send(snapshot_capture, slot)  # no worker yet: queued in Redis
    try:
        with redis_server(folder, *aof, port=port):  # restarted from its append-only file
            workers.start("live", ["live"])
            workers.wait_for("the queued captures", lambda: ChainSnapshot.objects.values("ts").distinct().count() == 4)
        with redis_server(folder, *aof, port=port):  # restarted under the running worker
            workers.wait_for("the worker reconnected", lambda: workers.log("live").count("Connected to redis") >= 2,
                             timeout_s=120)
            for slot in slots[4:]:
                workers.send(snapshot_capture, slot)
            workers.wait_for("the captures sent after the restart",
                             lambda: ChainSnapshot.objects.values("ts").distinct().count() == 6, timeout_s=120)
            time.sleep(2)  # nothing else arrives late
            per_slot = Counter(ChainSnapshot.objects.values_list("ts", flat=True))
            assert len(per_slot) == 6 and len(set(per_slot.values())) == 1, per_slot  # each slot captured once
            log = workers.log("live")
            assert log.count("] received") == 6 and log.count("succeeded in") == 6  # each message once
    finally:
        workers.stop()
