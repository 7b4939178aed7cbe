"""Celery failure modes that need no worker process (reliability.md B2): routing and time limits
of every task, countdowns beyond the visibility timeout, enqueueing only after commit, bounded
retries of a missing row and of a locked SQLite database, the chunk attempt cap, the soft time
limit of a chunk, the stuck-chunk sweep's schedule, and the Redis eviction-policy check. The
real-worker side is in ``test_celery_workers.py``."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.app import task as celery_task
from celery.app.trace import build_tracer
from celery.backends.base import DisabledBackend
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.test import Client

from backtests import services as backtest_services
from backtests.engine import replay as replay_mod
from backtests.models import BacktestChunk, BacktestRun
from backtests.tasks import chunk_run
from execution.models import Trade
from execution.tasks import trade_open
from mlmodels.models import TrainingRequest
from snapshots.models import ChainSnapshot
from spx_site.celery import CountdownTooLong, app, retry_backoff_s
from spx_site.tests.celery_workers import ROOT, route_queue

LIVE_APPS = ("snapshots", "strategy", "execution")
BATCH = {"backtests.tasks.chunk_run": "backtests", "backtests.tasks.stuck_chunks_sweep": "backtests",
         "mlmodels.tasks.train_run": "ml", "mlmodels.tasks.monitoring_check": "ml"}


def _project_tasks() -> dict[str, Any]:
    app.loader.import_default_modules()  # autodiscovery: every app's tasks module
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_is_routed_to_its_queue_with_time_limits(settings: Any) -> None:
    tasks = _project_tasks()
    assert {"execution.tasks.trade_open", "execution.tasks.orders_sync", "execution.tasks.positions_mark",
            "execution.tasks.entry_window_run", "snapshots.tasks.snapshot_capture", *BATCH} <= set(tasks)
    visibility = settings.BROKER_VISIBILITY_TIMEOUT_S
    for name, task in tasks.items():
        expected = BATCH.get(name) or ("live" if name.split(".")[0] in LIVE_APPS else None)
        assert expected is not None, f"{name}: a task of no known kind (add it to the routes in settings)"
        assert route_queue(name) == expected, name
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard < visibility, (name, soft, hard, visibility)
        if expected == "live":  # live jobs are short: well inside the 5-minute capture interval
            assert hard <= 300 and soft == settings.LIVE_TASK_SOFT_TIME_LIMIT_S, name
        assert task.acks_late or name == "mlmodels.tasks.monitoring_check", name
    chunk = tasks["backtests.tasks.chunk_run"]
    assert (chunk.soft_time_limit, chunk.time_limit) == (settings.BACKTEST_CHUNK_SOFT_TIME_LIMIT_S,
                                                         settings.BACKTEST_CHUNK_TIME_LIMIT_S)
    assert chunk.soft_time_limit > settings.LIVE_TASK_TIME_LIMIT_S  # chunks are long, live jobs short
    # Celery's own tasks (chord unlock, cleanup) land on a queue that has workers.
    assert route_queue("celery.backend_cleanup") == "live"


# ------------------------------------------------------------------------------ countdown / ETA


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What would be handed to the broker (Celery's own ``apply_async``, below the project's guard)."""
    sent: list[dict[str, Any]] = []

    def record(self: Any, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> None:
        sent.append({"task": self.name, "args": list(args or []), **options})

    monkeypatch.setattr(celery_task.Task, "apply_async", record)
    return sent


def test_a_countdown_or_eta_beyond_the_visibility_timeout_is_refused(settings: Any, published: list[dict[str, Any]]) -> None:
    settings.BROKER_VISIBILITY_TIMEOUT_S = 600
    with pytest.raises(CountdownTooLong, match="countdown/ETA of 601 s exceeds the broker visibility timeout of 600 s"):
        trade_open.apply_async(args=[1], countdown=601)
    with pytest.raises(CountdownTooLong):
        trade_open.apply_async(args=[1], eta=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert published == []
    trade_open.apply_async(args=[1], countdown=599)
    trade_open.apply_async(args=[1], eta=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    assert [p["args"] for p in published] == [[1], [1]]


def test_the_visibility_timeout_covers_every_time_limit_and_countdown(settings: Any) -> None:
    visibility = settings.BROKER_VISIBILITY_TIMEOUT_S
    # The countdowns the code uses: the backoff of retry_later and of a locked database (clipped),
    # the chunk's I/O retries (5, 10, 20 s), the snapshot retry (15 s).
    assert max(retry_backoff_s(n) for n in range(settings.TASK_RETRY_MAX + 10)) <= settings.TASK_RETRY_BACKOFF_MAX_S
    assert max(settings.TASK_RETRY_BACKOFF_MAX_S, 5 * 2 ** 2, 15) < visibility
    assert max(settings.LIVE_TASK_TIME_LIMIT_S, settings.BACKTEST_CHUNK_TIME_LIMIT_S, settings.ML_TASK_TIME_LIMIT_S) < visibility
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == visibility
    # A visibility timeout shorter than a hard time limit refuses to start.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "spx_site.settings", "BROKER_VISIBILITY_TIMEOUT_S": "1000"}
    proc = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "BROKER_VISIBILITY_TIMEOUT_S=1000 must exceed every hard time limit" in proc.stderr


# ------------------------------------------------------------------------------ enqueue after commit


def _pending_run() -> BacktestRun:
    run = BacktestRun.objects.create(params={}, params_sha256="x", start_date=dt.date(2026, 3, 16),
                                     end_date=dt.date(2026, 3, 16), days_total=1, chunks_total=1)
    BacktestChunk.objects.create(run=run, index=0, first_day=run.start_date, last_day=run.end_date, days_total=1)
    return run


def _enqueue(kind: str) -> None:
    if kind == "trade_open":
        from execution.services import _queue_trade_open

        _queue_trade_open(12345)
    elif kind == "chunk_run":
        backtest_services.run_launch(_pending_run())
    else:
        from mlmodels.services import training_launch

        training_launch(TrainingRequest.objects.create(idempotency_key=f"k-{kind}"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["trade_open", "chunk_run", "train_run"])
def test_a_task_queued_in_a_rolled_back_transaction_is_never_sent(kind: str, published: list[dict[str, Any]]) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        _enqueue(kind)
        assert published == []  # not before the commit either
        raise RuntimeError("rolled back")
    assert published == []
    with transaction.atomic():
        _enqueue(kind)
        assert published == []
    assert [p["task"].rsplit(".", 1)[1] for p in published] == [kind]


def test_a_task_whose_row_never_commits_retries_a_bounded_number_of_times(settings: Any, caplog: pytest.LogCaptureFixture,
                                                                         db: None) -> None:
    settings.TASK_RETRY_MAX = 3
    result = trade_open.apply(args=[987654])  # eager: each retry runs at once
    assert result.failed() and "DoesNotExist" in type(result.result).__name__
    retries = [r.getMessage() for r in caplog.records if r.name == "spx_site.celery"]
    assert len(retries) == 3 and "retry 3/3 in 4 s" in retries[-1]
    assert not Trade.objects.exists()


# ------------------------------------------------------------------------------ backtest chunks


@pytest.fixture
def one_chunk_run(compact_market: Path) -> BacktestRun:
    from strategy.models import StrategyConfig

    params = backtest_services.params_build(start=dt.date(2026, 3, 16), end=dt.date(2026, 3, 18),
                                            configs=StrategyConfig.objects.filter(name="3DTE put 10d"), windows=["10:00"])
    return backtest_services.run_create(params, name="faults")[0]


def test_a_chunk_redelivered_past_the_attempt_cap_fails_the_run_with_the_reason(one_chunk_run: BacktestRun, settings: Any,
                                                                              admin_client: Client) -> None:
    settings.BACKTEST_CHUNK_MAX_ATTEMPTS = 3
    run = one_chunk_run
    # Three deliveries whose worker died mid-chunk (a poison day): each claimed the chunk, none finished.
    BacktestChunk.objects.filter(run=run).update(status=BacktestChunk.Status.RUNNING, attempts=3)
    chunk_run.apply(args=[run.chunks.get().pk])
    run.refresh_from_db()
    chunk = run.chunks.get()
    assert run.status == BacktestRun.Status.FAILED and chunk.status == BacktestChunk.Status.FAILED
    assert "gave up after 3 attempts (BACKTEST_CHUNK_MAX_ATTEMPTS=3) (the worker running it was lost)" in run.error
    assert chunk.attempts == 3 and chunk.error == run.error
    assert run.error in admin_client.get(f"/backtests/{run.pk}/").content.decode()
    # Reopened (the operator fixed the cause), the chunk gets a fresh budget and finishes.
    run = backtest_services.run_reopen(run)
    chunk_run.apply(args=[chunk.pk])
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE and run.chunks.get().attempts == 1


def test_a_chunk_that_keeps_failing_with_io_errors_stops_at_the_cap(one_chunk_run: BacktestRun, settings: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings.BACKTEST_CHUNK_MAX_ATTEMPTS = 3

    def broken(self: Any, day: Any, *, entries: bool) -> bool:
        raise OSError("the disk went away")

    monkeypatch.setattr(replay_mod.DayReplayer, "run_day", broken)
    chunk_run.apply(args=[one_chunk_run.chunks.get().pk])  # eager: the retries run at once
    run = BacktestRun.objects.get(pk=one_chunk_run.pk)
    assert run.status == BacktestRun.Status.FAILED and run.chunks.get().attempts == 3
    assert "gave up after 3 attempts" in run.error and "OSError: the disk went away" in run.error


def test_a_chunk_stopped_by_its_soft_time_limit_keeps_its_progress_and_says_why(one_chunk_run: BacktestRun, settings: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings.BACKTEST_CHUNK_SOFT_TIME_LIMIT_S = 1.5
    real = replay_mod.DayReplayer.run_day
    days = {"n": 0}

    def slow(self: Any, day: Any, *, entries: bool) -> bool:
        days["n"] += 1
        if days["n"] == 3:  # what the worker's signal does, in the third day's replay
            raise SoftTimeLimitExceeded()
        return real(self, day, entries=entries)

    monkeypatch.setattr(replay_mod.DayReplayer, "run_day", slow)
    chunk_run.apply(args=[one_chunk_run.chunks.get().pk])
    run = BacktestRun.objects.get(pk=one_chunk_run.pk)
    chunk = run.chunks.get()
    assert run.status == BacktestRun.Status.FAILED and chunk.status == BacktestChunk.Status.FAILED
    assert "stopped at the soft time limit of 1.5 s (BACKTEST_CHUNK_SOFT_TIME_LIMIT_S) after 2 of 3 days" in run.error
    assert chunk.days_done == 2 and run.days_done == 2


def test_the_stuck_chunk_sweep_runs_from_beat_on_the_backtests_queue_after_the_hard_limit(settings: Any, db: None) -> None:
    """A chunk killed at its hard limit (the message acknowledged) is found by beat's sweep
    (``backtests/tests/test_sweep.py``; a real prefork worker in ``test_celery_workers.py``)."""
    from django_celery_beat.models import PeriodicTask

    from spx_site.schedules import periodic_tasks_setup

    periodic_tasks_setup()
    entry = PeriodicTask.objects.get(name="stuck backtest chunks")
    assert entry.task == "backtests.tasks.stuck_chunks_sweep" and route_queue(entry.task) == "backtests"
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week, entry.expire_seconds) == ("*/10", "*", "*", 900)
    assert backtest_services.stuck_after_s() == settings.BACKTEST_CHUNK_TIME_LIMIT_S + settings.BACKTEST_CHUNK_STUCK_MARGIN_S
    assert settings.BACKTEST_CHUNK_STUCK_MARGIN_S > 0


# ------------------------------------------------------------------------------ SQLite busy


@pytest.fixture
def write_lock() -> Iterator[Callable[[], None]]:
    """Another connection holds SQLite's write lock until ``release()``."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's writer lock (PostgreSQL locks rows, and has no 'database is locked')")
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    def release() -> None:
        if other.in_transaction:
            other.rollback()

    yield release
    release()
    other.close()


@pytest.mark.django_db(transaction=True)
def test_a_task_that_finds_the_database_locked_is_retried_not_lost(settings: Any, write_lock: Callable[[], None],
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from snapshots.tasks import snapshot_capture
    from spx_site import celery as celery_mod

    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_CONTEXT_ENABLED = False
    settings.SNAPSHOT_DTE_TARGETS = [3]
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)  # give up waiting quickly
    connection.close()
    real_backoff = celery_mod.retry_backoff_s

    def backoff(retries: int) -> int:
        if retries == 1:  # eager retries run at once: the other writer commits during the second backoff
            write_lock()
        return real_backoff(retries)

    monkeypatch.setattr(celery_mod, "retry_backoff_s", backoff)
    try:
        result = snapshot_capture.apply(args=["2026-03-18T10:00:00-04:00"])
    finally:
        connection.close()  # the next test reconnects with the normal timeout
    locked = [r.getMessage() for r in caplog.records if "database is locked; retry" in r.getMessage()]
    assert len(locked) == 2 and "retry 2/5 in 2 s" in locked[-1], locked
    assert result.successful(), result.traceback
    assert ChainSnapshot.objects.count() == 1  # not lost, and not doubled


# ------------------------------------------------------------------------------ PostgreSQL unreachable (B5 #53)


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused by the kernel."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _terminate(pid: int) -> None:
    """Another session ends backend ``pid`` (what a server restart or a reset does to a client)."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["reset-mid-write", "refused-at-start"])
@pytest.mark.django_db(transaction=True)
def test_a_task_whose_postgres_connection_is_reset_or_refused_is_retried_and_writes_nothing_partial(
    settings: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    dead_port: int, fault: str,
) -> None:
    """reset-mid-write: the snapshot row and its instruments are written inside the capture's
    transaction, then the server ends the session before the commit. refused-at-start: the first
    attempt cannot connect at all. Either way the task is retried with its backoff (1 s, 2 s, ...,
    ``TASK_RETRY_MAX`` times) and lands exactly one capture: nothing half-written, nothing doubled."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): a server session that can be reset or refused; "
                    "SQLite's 'database is locked' is tested above")
    from snapshots import services as snapshot_services
    from snapshots.models import CaptureFailure, OptionInstrument
    from snapshots.tasks import snapshot_capture
    from spx_site import celery as celery_mod

    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_CONTEXT_ENABLED = False
    settings.SNAPSHOT_DTE_TARGETS = [3]
    faults: list[str] = []
    if fault == "reset-mid-write":
        record = snapshot_services._instruments_record

        def record_then_reset(chain: Any, underlying: str) -> None:
            record(chain, underlying)
            if not faults:
                assert connection.in_atomic_block  # written, not committed
                faults.append("reset")
                _terminate(connection.connection.info.backend_pid)

        monkeypatch.setattr(snapshot_services, "_instruments_record", record_then_reset)
    else:
        port = connection.settings_dict["PORT"]
        connection.close()
        monkeypatch.setitem(connection.settings_dict, "PORT", str(dead_port))
        real_backoff = celery_mod.retry_backoff_s

        def backoff(retries: int) -> int:
            faults.append("refused")
            connection.settings_dict["PORT"] = port  # the server is back for the retry
            return real_backoff(retries)

        monkeypatch.setattr(celery_mod, "retry_backoff_s", backoff)
    try:
        result = snapshot_capture.apply(args=["2026-03-18T10:00:00-04:00"])
    finally:
        connection.close()
    assert result.successful(), result.traceback
    retries = [r.getMessage() for r in caplog.records if "; retry " in r.getMessage()]
    assert len(faults) == 1 and len(retries) == 1 and "retry 1/5 in 1 s" in retries[0], retries
    assert ChainSnapshot.objects.count() == 1 and CaptureFailure.objects.count() == 0
    snapshot = ChainSnapshot.objects.get()
    assert OptionInstrument.objects.filter(expiration=snapshot.expiration).count() == snapshot.option_count


# ------------------------------------------------------------------------------ result backend (B2 #31)

UNREACHABLE_RESULT_BACKEND = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused


def test_there_is_no_result_backend_and_every_task_ignores_its_result() -> None:
    """Jobs write their outcome to the database; a result store that is down cannot stop one."""
    assert app.conf.task_ignore_result is True
    assert app.conf.result_backend is None and isinstance(app.backend, DisabledBackend)
    for name, task in _project_tasks().items():
        # Not even a failure goes to a result store (Celery's store_errors_even_if_ignored).
        assert task.ignore_result and not task.store_errors_even_if_ignored, name


@pytest.fixture
def result_backend_down(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app configured with a Redis result backend that refuses connections."""
    monkeypatch.setitem(app.conf, "result_backend", UNREACHABLE_RESULT_BACKEND)
    monkeypatch.setitem(app.conf, "task_store_eager_result", True)  # eager runs would store, were results kept
    backend = app._get_backend()
    monkeypatch.setattr(app, "_backend_cache", backend)
    assert app.backend is backend and backend.url == UNREACHABLE_RESULT_BACKEND
    with pytest.raises(redis.exceptions.ConnectionError):  # it really is down, and would be written to
        backend.store_result("probe", 1, "SUCCESS")
    return backend


@pytest.mark.parametrize("how", ["worker", "eager"])
def test_a_task_runs_and_stores_its_work_while_the_result_backend_is_down(
        settings: Any, result_backend_down: Any, how: str, db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from snapshots.tasks import snapshot_capture

    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_CONTEXT_ENABLED = False
    settings.SNAPSHOT_DTE_TARGETS = [3]
    slot = "2026-03-18T10:00:00-04:00"
    if how == "worker":
        # Sent as a producer sends it (a task keeping results would first subscribe to the backend),
        # taken at the transport, then run as a worker runs each message it takes off the queue.
        messages: list[Any] = []
        monkeypatch.setitem(app.conf, "task_always_eager", False)
        monkeypatch.setattr(app.amqp, "send_task_message",
                            lambda producer, name, message, **options: messages.append(message))
        snapshot_capture.apply_async(args=[slot])
        [message] = messages
        args, kwargs, _ = message.body
        trace = build_tracer(snapshot_capture.name, snapshot_capture, app=app, eager=False)
        outcome = trace(message.headers["id"], args, kwargs, {})
        assert outcome.info is None, outcome.info  # None: succeeded (a failure carries its ExceptionInfo)
    else:
        result = snapshot_capture.apply(args=[slot])
        assert result.successful(), result.traceback
    assert ChainSnapshot.objects.count() == 1


# ------------------------------------------------------------------------------ secrets in messages (B4 #49)

SECRET_WORDS = ("token", "key", "secret", "password", "credential", "auth")


def test_task_messages_carry_ids_only() -> None:
    """A task's arguments go through the broker (and the beat rows) in clear: they are ids and ISO
    times, never a secret, and no task returns one."""
    tasks = _project_tasks()
    assert {"execution.tasks.trade_open", "backtests.tasks.chunk_run", "mlmodels.tasks.train_run",
            "snapshots.tasks.snapshot_capture"} <= set(tasks)
    for name, task in tasks.items():
        signature = inspect.signature(task.run)
        for param in signature.parameters.values():
            assert not any(word in param.name.lower() for word in SECRET_WORDS), (name, param.name)
            assert (param.name.endswith("_id") and param.annotation == "int") or (
                param.name.endswith("_iso") and param.annotation == "str | None"), (name, param.name, param.annotation)
        assert signature.return_annotation in ("None", "int", "int | None"), (name, signature.return_annotation)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["trade_open", "chunk_run", "train_run"])
def test_queued_messages_hold_one_id_and_no_secret(kind: str, settings: Any, published: list[dict[str, Any]]) -> None:
    settings.TRADIER_ACCESS_TOKEN = "tradier-token-that-must-not-travel"
    settings.DATABENTO_API_KEY = "db-key-that-must-not-travel"
    settings.ADMIN_API_KEY = "admin-key-that-must-not-travel"
    with transaction.atomic():
        _enqueue(kind)
    [message] = published
    assert len(message["args"]) == 1 and isinstance(message["args"][0], int), message
    assert "must-not-travel" not in repr(message)
