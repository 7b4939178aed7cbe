"""A real Celery worker SIGKILLed after Tradier accepted its order but before it could record the
reply (reliability.md B1 #8, B2 #20): the order is adopted by its tag, and never placed twice.

The worker is a ``celery -A spx_site worker --pool solo`` subprocess on the test database (see
``snapshots/tests/test_e2e_beat_worker.py``), its broker pointed at the fake Tradier order
server in this process. The fake books the POST and then holds the reply, so the kill lands in
the exact window between "the broker has the order" and "our database knows its id".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.utils import timezone

from execution import services
from execution.brokers import TradierBroker
from execution.models import Order, Trade
from execution.tests.fake_tradier_orders import FakeTradierOrders, booked_then_timeout
from execution.tests.test_faults import _TLS, market_decision, only_order
from snapshots.tests.fake_tradier import Fault
from snapshots.tests.test_e2e_beat_worker import _database_url
from spx_site.celery import app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HOLD_REPLY_S = 60.0  # the fake sits on the booked POST this long; the kill comes long before
WAIT_S = 60.0  # deadline for each step (worker start-up included)


def _wait_for(what: str, done: Callable[[], bool], procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        for proc in procs:
            assert proc.poll() is None, f"worker exited early while waiting for {what}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S:.0f} s:\n{log.read_text()[-4000:]}"
        time.sleep(0.05)


@pytest.fixture
def worker(
    fake_orders: FakeTradierOrders, settings: Any, tmp_path: Path
) -> Iterator[tuple[Callable[[str], subprocess.Popen[bytes]], Callable[[int], None]]]:
    """``start(name)`` starts a worker; ``send(decision_id)`` queues ``trade_open`` for it."""
    var_dir = tmp_path / "var"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spx_site.settings",
        "DATABASE_URL": _database_url(),
        "SPX_VAR_DIR": str(var_dir),
        "MARKET_DATA_PROVIDER": "simulated",
        "EXECUTION_BROKER": "tradier",
        "TRADIER_BASE_URL": fake_orders.base_url,
        "TRADIER_ACCESS_TOKEN": fake_orders.token,
        "TRADIER_ACCOUNT_ID": fake_orders.account_id,
        # Longer than the kill takes: the worker must still be waiting for the reply when it dies.
        "TRADIER_TIMEOUT_S": str(HOLD_REPLY_S),
        # The worker's clock is the wall clock, long after the replayed Wednesday's Friday series
        # settled: the local market check (tested in test_order_gate) would refuse the order.
        "ORDER_MARKET_CHECK": "false",
        # The workers run in tmp_path (below), so the project must be importable from there.
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    queue_args: list[str] = []
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # The workers read the folder under their own SPX_VAR_DIR; this process writes there too,
        # so no other worker on this checkout can take the message, nor this one take theirs.
        env.pop("CELERY_BROKER_URL", None)
        folder = var_dir / "celery-broker"
        for sub in ("queue", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {
            "data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"), "store_processed": False,
            # The file broker's routing tables (a folder relative to the working directory by
            # default, which the workers get as tmp_path): never the checkout's ``control/``.
            "control_folder": str(tmp_path / "control"),
        }
        queue = "live"  # trade_open's queue (settings.CELERY_TASK_ROUTES)
        queue_args = ["-Q", queue]
    else:
        # A shared server broker (Redis in CI): a queue of this test's own.
        transport_options = {}
        queue = f"faults-{uuid.uuid4().hex[:12]}"
        queue_args = ["-Q", queue]

    celery = str(Path(sys.executable).parent / "celery")
    procs: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{name}.log", "w+b")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        proc = subprocess.Popen(
            [celery, "-A", "spx_site", "worker", "--pool", "solo", "--loglevel", "INFO", "-n", f"{name}@%h",
             *queue_args],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    def send(decision_id: int) -> None:
        from execution.tasks import trade_open

        # The root conftest runs tasks in-process; this message must really go to the worker.
        app.conf.task_always_eager = False
        with app.connection_for_write(transport_options=transport_options) as conn:
            trade_open.apply_async(args=[decision_id], connection=conn, queue=queue)

    try:
        yield start, send
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


def test_worker_killed_between_broker_accept_and_commit_never_places_twice(
    fake_orders: FakeTradierOrders, settings: Any, tmp_path: Path, worker: Any
) -> None:
    start, send = worker
    fake_orders.now = timezone.now()  # orders are looked up by tag on the order row's date
    decision = market_decision(settings)
    # The worker's start-up reconciliation lists the broker's orders first (none yet: Tradier's empty
    # list), then the job's POST is booked and its reply never comes.
    fake_orders.script(Fault(status=200, body=b'{"orders": "null"}', headers={"Content-Type": "application/json"}),
                       booked_then_timeout(HOLD_REPLY_S))

    first = start("first")
    send(decision.pk)
    log = tmp_path / "first.log"
    # The fake books the order before it starts holding the reply: from here the broker has it.
    _wait_for("booked order", lambda: len(fake_orders.orders()) == 1, [first], log)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL

    # The kill landed in the window: the claim was committed before the POST, the reply never was.
    order = Order.objects.get(trade__decision=decision)
    assert order.state == "submitting" and order.broker_order_id == ""
    booked = only_order(fake_orders, order.client_tag)
    assert len(fake_orders.requests_by("POST")) == 1

    # A new worker gets the job again (acks_late redelivery on a server broker; sent by hand here
    # because the file broker drops a killed worker's message): reconciliation first, no POST.
    second = start("second")
    send(decision.pk)
    second_log = tmp_path / "second.log"
    _wait_for("finished job", lambda: b"succeeded" in second_log.read_bytes(), [second], second_log)
    order.refresh_from_db()
    assert order.state == "open" and order.broker_order_id == str(booked["id"])
    # Adopted by the start-up reconciliation that runs before the job's own work.
    assert b"reconciled at start" in second_log.read_bytes()
    assert Trade.objects.filter(decision=decision).count() == 1 and Order.objects.count() == 1
    assert len(fake_orders.requests_by("POST")) == 1
    only_order(fake_orders, order.client_tag)

    # And the adopted order is followed like any other: its fill opens the trade.
    fake_orders.fill(booked["id"], 1, float(order.limit_price))
    with TradierBroker(fake_orders.base_url, fake_orders.token, fake_orders.account_id, timeout_s=2.0,
                       transport=httpx.HTTPTransport(verify=_TLS)) as broker:
        services.orders_reconcile(broker=broker)
    order.refresh_from_db()
    trade = Trade.objects.get(decision=decision)
    assert order.state == "filled" and trade.status == "open" and trade.entry_credit == order.avg_fill_price
    assert len(fake_orders.requests_by("POST")) == 1 and len(fake_orders.orders()) == 1
