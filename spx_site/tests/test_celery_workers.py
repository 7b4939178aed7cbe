"""Celery failure modes with real worker processes (reliability.md B2 #21, #24, #26, #32), on
whatever broker the settings name: the file broker by default, Redis in CI's second pass. The
workers are ``spx_site.tests.celery_workers`` subprocesses on the test database, each consuming
the queues a deployment gives it (``-Q live`` / ``-Q backtests``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from backtests import services as backtest_services
from backtests.models import BacktestChunk, BacktestRun
from backtests.tasks import chunk_run
from backtests.tests.conftest import COMPACT_DAYS
from execution.models import Trade
from execution.tasks import trade_open
from execution.tests.test_faults import market_decision
from spx_site.tests.celery_workers import Workers
from strategy.models import StrategyConfig

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
    assert "stopped at the soft time limit of 2 s (BACKTEST_CHUNK_SOFT_TIME_LIMIT_S) after 1 of 3 days" in run.error
    assert chunk.status == BacktestChunk.Status.FAILED and chunk.days_done == 1 and run.days_done == 1
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
