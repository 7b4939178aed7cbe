"""Real ``celery worker`` processes for the Celery failure-mode tests (reliability.md B2).

``Workers`` starts workers on the test database (``snapshots/tests/test_e2e_beat_worker.py``
shows the pattern) and sends them messages, on whichever broker the settings name: the file
broker gets a folder of this test's own; a server broker (Redis in CI) gets this test's own queue
names (the project's queue + a suffix, also given to the worker as ``CELERY_QUEUE_SUFFIX`` so that
what it sends itself stays in the test), so no other worker takes the messages. Messages are routed
by the project's ``task_routes``; only the suffix is added.

The workers run ``python -m spx_site.tests.celery_worker_main`` (``celery`` with test-only
behaviour switched on by environment variables: a slow or poisoned backtest day), since a worker
process cannot be monkeypatched from the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Task

from snapshots.tests.test_e2e_beat_worker import _database_url
from spx_site.celery import app

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 90.0  # deadline for each step (worker start-up included)


def route_queue(task_name: str) -> str:
    """The queue ``task_routes`` sends a task to."""
    return str(app.amqp.router.route({}, task_name)["queue"].name)


class Workers:
    def __init__(self, settings: Any, tmp_path: Path, *, broker_url: str | None = None,
                 transport_options: dict[str, Any] | None = None, **env: str) -> None:
        """``broker_url``: a server of the test's own (e.g. a ``redis_server``) instead of the suite's."""
        self.tmp_path = tmp_path
        var_dir = tmp_path / "var"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "spx_site.settings",
            "DATABASE_URL": _database_url(),
            "SPX_VAR_DIR": str(var_dir),
            "MARKET_DATA_PROVIDER": "simulated",
            "EXECUTION_BROKER": "simulated",
            "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            **env,
        }
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        if broker_url:
            self.env["CELERY_BROKER_URL"] = broker_url
            self.transport_options = dict(transport_options or {})
            self.suffix = ""
        elif self.broker_url.startswith("filesystem://"):
            self.env.pop("CELERY_BROKER_URL", None)
            folder = var_dir / "celery-broker"
            for sub in ("queue", "processed"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            self.transport_options: dict[str, Any] = {
                "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
                "processed_folder": str(folder / "processed"), "store_processed": False,
                "control_folder": str(tmp_path / "control"),
            }
            self.suffix = ""
        else:
            self.env["CELERY_BROKER_URL"] = self.broker_url
            self.transport_options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS or {})
            self.suffix = f"-{uuid.uuid4().hex[:10]}"
        self.settings = settings
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[Any] = []

    def queue(self, name: str) -> str:
        return name + self.suffix

    def log_path(self, name: str) -> Path:
        return self.tmp_path / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def start(self, name: str, queues: list[str], *, pool: str = "solo", concurrency: int = 1,
              env: dict[str, str] | None = None, expect_exit: bool = False) -> subprocess.Popen[bytes]:
        log = open(self.log_path(name), "w+b")  # noqa: SIM115 - closed at stop()
        self._logs.append(log)
        cmd = [sys.executable, "-m", "spx_site.tests.celery_worker_main", "-A", "spx_site", "worker", "--pool", pool,
               "--concurrency", str(concurrency), "--loglevel", "INFO", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h",
               "-Q", ",".join(self.queue(q) for q in queues), "--without-heartbeat", "--without-mingle",
               "--without-gossip"]
        # The market-data root as the test has it now (fixtures may set it after this object).
        market = {"MARKET_DATA_DIR": str(self.settings.MARKET_DATA_DIR)}
        # The worker routes what it sends itself (a hand-over, the sweep's requeue) to this test's queues too.
        queues_env = {"CELERY_QUEUE_SUFFIX": self.suffix}
        proc = subprocess.Popen(cmd, cwd=self.tmp_path, env={**self.env, **queues_env, **market, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT)
        self.procs[name] = proc
        if not expect_exit:
            self.wait_for(f"{name} ready", lambda: "ready." in self.log(name), names=[name])
        return proc

    def send(self, task: Task, *args: Any, **options: Any) -> None:
        app.conf.task_always_eager = False  # the root conftest runs tasks in-process; these go out
        url = None if self.broker_url.startswith("filesystem://") else self.broker_url
        with app.connection_for_write(url, transport_options=self.transport_options) as conn:
            task.apply_async(args=list(args), connection=conn, queue=self.queue(route_queue(task.name)), **options)

    def wait_for(self, what: str, done: Callable[[], bool], *, names: list[str] | None = None,
                 timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            for name in names if names is not None else list(self.procs):
                proc = self.procs[name]
                assert proc.poll() is None, f"{name} exited while waiting for {what}:\n{self.log(name)[-4000:]}"
            assert time.monotonic() < deadline, f"no {what} within {timeout_s:.0f} s:\n{self.report()}"
            time.sleep(0.1)

    def report(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.procs)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()
        app.conf.task_always_eager = True
