"""Soak: simulated trading days through the live path with faults injected, invariants checked at the end.

Run from the repository root:

    .venv/bin/python bench/soak.py [--seeds 1 2 3] [--days 60] [--every 30] [--jobs 3]

Per seed, in a temporary folder of its own (SQLite database, ``SPX_VAR_DIR``; nothing under the
repository's ``var/``): a ``redis-server`` on loopback (append-only file, ``noeviction``) as the
Celery broker, a real ``celery worker`` process (``-Q live``, solo pool) and, in this process, the
fake Tradier order server on 127.0.0.1 (``execution/tests/fake_tradier_orders.py``) that every
order goes to: the platform's ``TradierBroker``, from ``services.broker_get()``, in the worker and
here. Market data is the simulated market (seed = the soak seed). Each trading day, slot by slot
(every ``--every`` minutes from 09:30 ET, so 14 slots a day at 30):

- ``snapshot_capture`` (the task, run here eagerly, as beat would have the worker run it);
- at 10:00/11:00/12:00 ET ``entry_window_run`` is **sent to the worker over Redis**; a TRADE is
  handed over (after commit) to ``trade_open`` on the same worker, which places the order;
- the "exchange" (this script) fills working orders on the fake's book at their limit price:
  all, one contract, or nothing, drawn from the seed's RNG; rarely a late fill after a cancel;
  day orders still working at the close expire;
- ``orders_sync`` (fills, order walk, cancel), then a minute later ``positions_mark`` (marks, TP/SL
  closing orders, settlement) and ``shadow_outcomes_update``, the tasks run here eagerly.

The clock: ``django.utils.timezone.now`` returns the slot's time in this process and in the worker
(which reads it from a file this script writes); Celery, kombu, Redis and httpx keep the real
clock. Nothing of the platform is mocked.

Faults, from a fixed list at fixed rates, drawn from the seed's RNG:

- on the fake Tradier server (real HTTP; per request of its kind): a placement booked and then
  left unanswered past the client timeout, booked and answered 502, answered 503 or 429 without
  booking; a price replace (walk) booked then unanswered or 502; a cancel booked then unanswered;
  order reads answered 503 or 429 (the read path retries);
- worker SIGKILL (real: ``os.kill`` of the worker's PID), two kinds: with the worker inside the
  placement (the fake booked the POST and holds the reply) and at a random moment after the
  window task was sent; a new worker is started once Redis's visibility timeout has passed, and
  Redis redelivers the unacknowledged message (``acks_late``);
- Redis restart (real: the ``redis-server`` process stopped and started again on its file) right
  after the window task was sent;
- beat double tick: the window task sent twice for one window, and a slot's capture, sync and
  mark tasks run twice.

At the end (faults off, a few reconciliation rounds so unknown outcomes resolve) the invariants
are checked from the database and the fake's book and request log, and printed with the fault
counts and the wall time. The script asserts nothing else; it exits 1 if an invariant fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SPX_SHARED_DIR", ROOT.parent / "shared"))
NEW_YORK_NAME = "America/New_York"
LAST_DAY = dt.date(2026, 11, 27)  # the default run ends on the early close after Thanksgiving
VISIBILITY_S = 5  # Redis redelivers an unacknowledged message after this long
CLIENT_TIMEOUT_S = 1.0  # TRADIER_TIMEOUT_S of every broker (worker and here)
SILENCE_S = 3.0  # a "booked, then no reply" fault: past the client timeout
HOLD_S = 60.0  # the placement the SIGKILL lands in: the fake holds its reply this long
IDLE_TIMEOUT_S = 120.0
CLEANUP: list[Any] = []  # stops the seed's fake server, Redis and worker even if the run raises
# The seeded configs, changed for more order traffic: 2 contracts a trade (partial fills need 2;
# seeded: 1) and up to 3 open trades and 3 new ones a day on the shared live book (seeded: 1 and 1).
QUANTITY, MAX_OPEN, MAX_NEW_PER_DAY = 2, 3, 3

# (request kind, fault) -> probability per request of that kind. The kinds: ``place`` (order POST),
# ``replace`` (PUT of a walked price), ``cancel`` (DELETE), ``read`` (GET of an order or the list).
FAULT_RATES: dict[str, list[tuple[str, float]]] = {
    "place": [("timeout after booking", 0.07), ("502 after booking", 0.04), ("503 not booked", 0.03),
              ("429 not booked", 0.04)],
    "replace": [("timeout after booking", 0.05), ("502 after booking", 0.03)],
    "cancel": [("timeout after booking", 0.08)],
    "read": [("503", 0.03), ("429", 0.03)],
}
# Process faults per seed: one every N trading days (at a seeded window of each block of N days).
PROCESS_FAULT_EVERY_DAYS = {"worker SIGKILL in the placement": 10, "worker SIGKILL at a random moment": 15,
                            "Redis restart": 10}
DOUBLE_TICK_WINDOW_P = 0.2  # beat double tick: the window task sent twice
DOUBLE_TICK_SLOT_P = 0.05  # a slot's capture, sync and mark tasks run twice
# The exchange, per working order per slot: fill what remains, fill one contract, or nothing.
FILL_ALL_P, FILL_ONE_P, LATE_FILL_P = 0.55, 0.15, 0.05


# ------------------------------------------------------------------------------ the clock


class Clock:
    """The platform's clock in this process, and for the worker through a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now: dt.datetime | None = None

    def set(self, when: dt.datetime) -> None:
        self.now = when
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(when.isoformat())
        os.replace(tmp, self.path)  # the worker never reads half a file


def install_clock(read: Any) -> None:
    """Replace ``django.utils.timezone.now`` before Django loads a model (defaults bind to it)."""
    from django.utils import timezone

    real = timezone.now

    def now() -> dt.datetime:
        value = read()
        return value if value is not None else real()

    timezone.now = now


def _file_clock(path: Path) -> Any:
    def read() -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(path.read_text())
        except (OSError, ValueError):
            return None

    return read


def celery_main() -> None:
    """The worker process: the platform's ``celery`` with the soak's clock."""
    install_clock(_file_clock(Path(os.environ["SOAK_CLOCK_FILE"])))
    from celery.__main__ import main as celery

    sys.argv = ["celery", *sys.argv[2:]]
    sys.exit(celery())


# ------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "redis.log").read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: the append-only file is complete (fsync always)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
        self.restarts += 1


class Worker:
    """One ``celery worker`` process at a time; a new one replaces a killed one."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0
        self.log_path = work / "worker-0.log"

    def start(self) -> None:
        self.started += 1
        self.log_path = self.work / f"worker-{self.started}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--celery", "-A", "spx_site", "worker", "--pool", "solo",
             "-Q", "live", "-n", f"soak{self.started}@%h", "--loglevel", "INFO", "--without-heartbeat",
             "--without-mingle", "--without-gossip"],
            cwd=self.work, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while b"ready." not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def busy_with(self) -> list[str]:
        """Tasks this worker received and has not finished (from its log): where a fault landed."""
        import re

        text = self.log_path.read_text(errors="replace")
        open_ = {tid: name for name, tid in re.findall(r"Task ([\w.]+)\[([\w-]+)\] received", text)}
        for tid in re.findall(r"Task [\w.]+\[([\w-]+)\] (?:succeeded|raised|retry)", text):
            open_.pop(tid, None)
        return sorted(name.rsplit(".", 1)[-1] for name in open_.values())

    def logs(self) -> str:
        return "".join((self.work / f"worker-{i}.log").read_text(errors="replace") for i in range(1, self.started + 1))


# ------------------------------------------------------------------------------ one seed


def run_seed(seed: int, *, days: int, every: int, last_day: dt.date, work: Path, force_process_faults: bool,
             fault_scale: float = 1.0) -> dict[str, Any]:
    wall0 = time.monotonic()
    load0 = os.getloadavg()
    sys.path.insert(0, str(ROOT))
    from execution.tests.fake_tradier_orders import FakeTradierOrders, after_booking
    from snapshots.tests import fake_tradier as ft

    rng = random.Random(seed)
    injected: Counter[str] = Counter()
    lock = threading.Lock()

    class SoakFake(FakeTradierOrders):
        """The fake with the soak's fault draws per request kind, and a held placement for a kill."""

        enabled = True
        hold_armed = False
        held_tag: str | None = None

        def kind(self, request: Any) -> str | None:
            if not (request.path == self.orders_path or request.path.startswith(self.orders_path + "/")):
                return None
            if request.method == "POST":
                return None if request.form.get("preview") == "true" else "place"
            return {"PUT": "replace", "DELETE": "cancel", "GET": "read"}.get(request.method)

        def _record(self, request: Any) -> Any:
            reply = super()._record(request)
            kind = self.kind(request)
            if kind is None:
                return reply
            with lock:
                if kind == "place" and self.hold_armed:
                    self.hold_armed = False
                    self.held_tag = request.form.get("tag")
                    return after_booking(ft.timeout(HOLD_S))
                if not self.enabled:
                    return reply
                u, acc = rng.random(), 0.0
                for name, p in FAULT_RATES[kind]:
                    acc += p * fault_scale
                    if u < acc:
                        injected[f"{kind}: {name}"] += 1
                        return _fault(name)
            return reply

    def _fault(name: str) -> Any:
        if name == "timeout after booking":
            return after_booking(ft.timeout(SILENCE_S))
        if name == "502 after booking":
            return after_booking(ft.server_error(502, "Bad Gateway"))
        if name in ("503 not booked", "503"):
            return ft.server_error(503, "Service Unavailable")
        if name in ("429 not booked", "429"):
            return ft.rate_limited()
        raise ValueError(name)

    fake = SoakFake(SHARED / "fixtures" / "tradier", token=f"soak-{seed}-{os.urandom(8).hex()}")
    fake.start()
    CLEANUP.append(fake.stop)
    redis = Redis(work / "redis")
    CLEANUP.append(redis.stop)
    redis.start()
    clock = Clock(work / "clock")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spx_site.settings",
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "SPX_VAR_DIR": str(work / "var"),
        "CELERY_BROKER_URL": redis.url,
        "CACHE_URL": "locmemcache://",
        "MARKET_DATA_PROVIDER": "simulated",
        "SIMULATED_MARKET_SEED": str(seed),
        "EXECUTION_BROKER": "tradier",
        "TRADIER_BASE_URL": fake.base_url,
        "TRADIER_ACCESS_TOKEN": fake.token,
        "TRADIER_ACCOUNT_ID": fake.account_id,
        "TRADIER_TIMEOUT_S": str(CLIENT_TIMEOUT_S),
        "SNAPSHOT_INTERVAL_MINUTES": str(every),
        "SNAPSHOT_CONTEXT_ENABLED": "false",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Redis redelivers a killed worker's message after VISIBILITY_S; settings require every
        # time limit and retry backoff below it.
        "BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S), "TASK_RETRY_BACKOFF_MAX_S": "2",
        "LIVE_TASK_SOFT_TIME_LIMIT_S": "3", "LIVE_TASK_TIME_LIMIT_S": "4",
        "BACKTEST_CHUNK_SOFT_TIME_LIMIT_S": "3", "BACKTEST_CHUNK_TIME_LIMIT_S": "4",
        "ML_TASK_SOFT_TIME_LIMIT_S": "3", "ML_TASK_TIME_LIMIT_S": "4",
        "SOAK_CLOCK_FILE": str(clock.path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    os.environ.update(env)
    install_clock(lambda: clock.now)
    import django

    django.setup()
    import logging

    logging.disable(logging.ERROR)  # the faults make the platform log a great deal; counts are below
    import redis as redis_client
    from django.core.management import call_command

    from execution import tasks as execution_tasks
    from snapshots import market_calendar
    from snapshots.tasks import snapshot_capture
    from strategy.models import StrategyConfig
    from strategy.services import ENTRY_WINDOWS, NEW_YORK
    from strategy.tasks import shadow_outcomes_update
    from execution.replay import session_slots

    call_command("migrate", verbosity=0)
    StrategyConfig.objects.update(quantity=QUANTITY, max_open_trades=MAX_OPEN, max_new_trades_per_day=MAX_NEW_PER_DAY)
    (work / "var").mkdir(exist_ok=True)

    day_list = [last_day if market_calendar.is_trading_day(last_day)
                else market_calendar.previous_trading_day(last_day)]
    while len(day_list) < days:
        day_list.insert(0, market_calendar.previous_trading_day(day_list[0]))

    # Process faults: one at a seeded window in each block of N days (the test forces all on day 1).
    planned: list[tuple[int, int, str]] = []  # (day index, window index, kind)
    for kind, every_days in PROCESS_FAULT_EVERY_DAYS.items():
        if force_process_faults:
            planned.append((0, {"Redis restart": 1, "worker SIGKILL at a random moment": 2}.get(kind, 0), kind))
            continue
        for block in range(0, days, every_days):
            if block + every_days <= days or block == 0:
                planned.append((block + rng.randrange(min(every_days, days - block)), rng.randrange(3), kind))
    pending: list[tuple[int, int, str]] = sorted(planned)
    process_faults: Counter[str] = Counter()
    where: Counter[str] = Counter()  # where each process fault landed (what the worker was doing)
    exchange: Counter[str] = Counter()
    errors: list[str] = []
    late_filled: set[int] = set()

    worker = Worker(work, env)
    CLEANUP.append(worker.stop)
    worker.start()
    broker_conn = redis_client.Redis.from_url(redis.url)

    def idle_now() -> bool:
        try:
            return broker_conn.llen("live") == 0 and broker_conn.hlen("unacked") == 0
        except redis_client.RedisError:
            return False

    def wait_idle(what: str) -> None:
        """Until the queue is empty and no message is unacknowledged (the worker finished them)."""
        deadline, stable = time.monotonic() + IDLE_TIMEOUT_S, 0
        while stable < 3:
            if not worker.alive():
                errors.append(f"{what}: the worker exited by itself; restarted")
                worker.start()
            stable = stable + 1 if idle_now() else 0
            if time.monotonic() > deadline:
                # What a liveness probe does: the worker is replaced. Counted: a stuck worker is a finding.
                process_faults["worker stuck, replaced (liveness)"] += 1
                errors.append(f"{what}: not idle within {IDLE_TIMEOUT_S:.0f} s; worker replaced")
                worker.kill()
                time.sleep(VISIBILITY_S + 1)
                worker.start()
                deadline = time.monotonic() + IDLE_TIMEOUT_S
            time.sleep(0.03)

    def send_window(at: dt.datetime) -> None:
        execution_tasks.entry_window_run.apply_async(args=[at.isoformat()], queue="live")

    def eager(task: Any, *args: Any) -> None:
        result = task.apply(args=list(args))
        if result.failed():
            errors.append(f"{task.name}{args}: {result.traceback.strip().splitlines()[-1]}")

    def exchange_step(*, closing: bool) -> None:
        today = fake.now.astimezone(NEW_YORK).date()
        for order in fake.orders():
            oid, status = order["id"], order["status"]
            remaining = int(order["quantity"]) - int(order["exec_quantity"])
            created = dt.datetime.fromisoformat(order["create_date"].replace("Z", "+00:00")).astimezone(NEW_YORK).date()
            if status in ("open", "partially_filled", "pending"):
                if closing:
                    fake.set_status(oid, "expired")  # a day order still working at the close
                    exchange["expired at the close"] += 1
                    continue
                u = rng.random()
                if u < FILL_ALL_P:
                    fake.fill(oid, remaining, float(order["price"]))
                    exchange["filled"] += 1
                elif u < FILL_ALL_P + FILL_ONE_P:
                    fake.fill(oid, 1, float(order["price"]))
                    exchange["filled" if remaining == 1 else "partially filled"] += 1
            elif (status in ("canceled", "expired") and remaining > 0 and oid not in late_filled and created == today
                  and not closing and rng.random() < LATE_FILL_P):
                fake.fill(oid, 1, float(order["price"]))  # reported after the cancel (reliability B1 #11)
                late_filled.add(oid)
                exchange["late fill after cancel"] += 1

    def process_fault(kind: str, at: dt.datetime, copies: int) -> bool:
        """Send the window task(s) with the fault; False if the fault could not land (no placement)."""
        if kind == "worker SIGKILL in the placement":
            fake.held_tag = None
            fake.hold_armed = True
            for _ in range(copies):
                send_window(at)
            deadline = time.monotonic() + 60
            while True:
                tag = fake.held_tag
                if tag and fake.orders_with_tag(tag):
                    break  # the fake booked it and holds the reply: the worker waits inside the POST
                if (idle_now() and fake.hold_armed) or time.monotonic() > deadline:
                    time.sleep(0.3)
                    if fake.hold_armed and idle_now():
                        fake.hold_armed = False  # no TRADE this window: try the next one
                        return False
                time.sleep(0.01)
            where[f"{kind}: during {'+'.join(worker.busy_with()) or 'nothing'}"] += 1
            worker.kill()
        elif kind == "worker SIGKILL at a random moment":
            for _ in range(copies):
                send_window(at)
            time.sleep(rng.uniform(0.0, 1.5))
            where[f"{kind}: during {'+'.join(worker.busy_with()) or 'nothing (idle)'}"] += 1
            worker.kill()
        elif kind == "Redis restart":
            for _ in range(copies):
                send_window(at)
            time.sleep(rng.uniform(0.0, 0.5))
            busy = worker.busy_with()
            queued = broker_conn.llen("live")
            where[f"{kind}: worker during {'+'.join(busy) or 'nothing'}, {queued} queued"] += 1
            redis.restart()
            process_faults[kind] += 1
            return True
        process_faults[kind] += 1
        time.sleep(VISIBILITY_S + 1)  # then the supervisor's new worker; Redis redelivers
        worker.start()
        return True

    n_slots = n_windows = 0
    for d_index, day in enumerate(day_list):
        day_t0 = time.monotonic()
        slots = session_slots(day, every_minutes=every)
        w_index = 0
        for slot in slots:
            n_slots += 1
            clock.set(slot)
            fake.now = slot
            double = rng.random() < DOUBLE_TICK_SLOT_P
            for _ in range(2 if double else 1):
                eager(snapshot_capture, slot.isoformat())
            if slot.astimezone(NEW_YORK).time() in ENTRY_WINDOWS:
                n_windows += 1
                copies = 2 if rng.random() < DOUBLE_TICK_WINDOW_P else 1
                if copies == 2:
                    process_faults["beat double tick: window task sent twice"] += 1
                due = [p for p in pending if p[0] <= d_index and (p[0] < d_index or p[1] <= w_index)]
                landed = False
                for p in due[:1]:
                    if process_fault(p[2], slot, copies):
                        pending.remove(p)
                    landed = True
                if not landed:
                    for _ in range(copies):
                        send_window(slot)
                wait_idle(f"{slot:%Y-%m-%d %H:%M}Z window")
                w_index += 1
            exchange_step(closing=False)
            for _ in range(2 if double else 1):
                eager(execution_tasks.orders_sync)
            clock.set(slot + dt.timedelta(minutes=1))  # beat marks a minute after the capture
            for _ in range(2 if double else 1):
                eager(execution_tasks.positions_mark)
            eager(shadow_outcomes_update)
            if double:
                process_faults["beat double tick: capture, sync, mark run twice"] += 1
        close = market_calendar.session_bounds(day)
        if close:
            clock.set(close[1])
            fake.now = close[1]
            exchange_step(closing=True)
            eager(execution_tasks.orders_sync)
            eager(execution_tasks.positions_mark)
            eager(shadow_outcomes_update)
        print(f"seed {seed} day {d_index + 1}/{len(day_list)} {day}: {time.monotonic() - day_t0:.1f} s", flush=True)

    # Faults off; a few reconciliation rounds so every unknown outcome resolves (found, or not
    # found after ORDER_NOT_FOUND_CHECKS lookups).
    fake.enabled = False
    from django.conf import settings as dj

    for _ in range(dj.ORDER_NOT_FOUND_CHECKS + 1):
        eager(execution_tasks.orders_sync)
    wait_idle("the end")
    worker.stop()
    result = {
        "seed": seed, "days": len(day_list), "first_day": str(day_list[0]), "last_day": str(day_list[-1]),
        "every_minutes": every, "slots": n_slots, "windows": n_windows,
        "faults": dict(sorted(injected.items())), "process_faults": dict(sorted(process_faults.items())),
        "process_faults_not_landed": [k for _, _, k in pending], "process_faults_landed": dict(sorted(where.items())),
        "exchange": dict(sorted(exchange.items())),
        "worker_processes": worker.started, "redis_restarts": redis.restarts,
        "errors": errors[:20], "errors_total": len(errors),
    }
    result.update(invariants(fake, every=every, days=day_list))
    result["wall_s"] = round(time.monotonic() - wall0, 1)
    result["load_start"], result["load_end"] = [round(x, 2) for x in load0], [round(x, 2) for x in os.getloadavg()]
    broker_conn.close()
    redis.stop()
    fake.stop()
    return result


# ------------------------------------------------------------------------------ invariants


def invariants(fake: Any, *, every: int, days: list[dt.date]) -> dict[str, Any]:
    """Checked from the database and the fake's book and request log; each one a (name, ok, detail)."""
    from django.conf import settings
    from django.db.models import Count

    from execution.models import Fill, Order, PositionMark, Trade
    from execution.replay import session_slots
    from snapshots.models import CaptureFailure, ChainSnapshot
    from strategy.models import StrategyConfig, TradeDecision
    from strategy.services import ENTRY_WINDOWS, NEW_YORK

    checks: list[tuple[str, bool, str]] = []
    counts: dict[str, Any] = {}

    def check(name: str, bad: list[Any], total: int) -> None:
        checks.append((name, not bad, f"{len(bad)} of {total} wrong" + (f", e.g. {bad[:3]}" if bad else "")))

    live = TradeDecision.objects.filter(backtest_run=None)
    trades = list(Trade.objects.filter(backtest_run=None).select_related("decision")
                  .prefetch_related("orders__fills", "marks"))
    orders = list(Order.objects.all())
    book = fake.orders()
    posts = Counter(r.form.get("tag") for r in fake.requests_by("POST")
                    if r.path == fake.orders_path and r.form.get("preview") != "true")
    booked = Counter(o.get("tag") for o in book)
    counts.update(decisions=live.count(), trade_decisions=live.filter(action="TRADE").count(), trades=len(trades),
                  orders=len(orders), fills=Fill.objects.count(), marks=PositionMark.objects.count(),
                  snapshots=ChainSnapshot.objects.count(), capture_failures=CaptureFailure.objects.count(),
                  broker_orders=len(book), posts=sum(posts.values()),
                  trades_by_status=dict(Counter(t.status for t in trades)),
                  exits=dict(Counter(t.exit_reason for t in trades if t.exit_reason)),
                  orders_by_state=dict(Counter(o.state for o in orders)),
                  orders_ever_unknown=sum(1 for o in orders if "outcome unknown" in o.reason),
                  pnl_usd=str(sum((t.realized_pnl_usd or Decimal(0) for t in trades), Decimal(0))))

    # 1. One entry order per TRADE decision (by client tag), at most one order at the broker per tag.
    by_decision = defaultdict(list)
    for t in trades:
        by_decision[t.decision_id].append(t)
    bad = []
    for d in live.filter(action="TRADE"):
        ts = by_decision.get(d.pk, [])
        entries = [o for t in ts for o in t.orders.all() if o.purpose == "open"]
        if len(ts) != 1 or len(entries) != 1 or booked[entries[0].client_tag] > 1:
            bad.append(d.pk)
    bad += [f"trade {t.pk} from a {t.decision.action}" for t in trades if t.decision.action != "TRADE"]
    check("one entry order per TRADE decision (by client tag)", bad, counts["trade_decisions"])
    local_tags = {o.client_tag for o in orders}
    check("every broker order carries a tag of ours that a row knows (no orphan, no duplicate)",
          [o["id"] for o in book if o.get("tag") not in local_tags or booked[o.get("tag")] > 1], len(book))

    # 2. Unknown outcomes never re-POSTed: one POST per client tag.
    check("one POST per client tag (unknown outcomes never re-sent)",
          [t for t, n in posts.items() if n > 1], len(posts))

    # 3. Orders: none left in flight; the local fills = the broker's executed quantity.
    in_flight = [o.client_tag for o in orders if o.state in ("new", "submitting", "unknown", "pending_cancel")]
    check("no order left in flight at the end (new, submitting, unknown, pending_cancel)", in_flight, len(orders))
    exec_by_tag = {o.get("tag"): int(o["exec_quantity"]) for o in book}
    bad = []
    for o in orders:
        fills = sum(f.quantity for f in o.fills.all())
        if fills != o.filled_quantity or fills != exec_by_tag.get(o.client_tag, 0):
            bad.append((o.client_tag, fills, o.filled_quantity, exec_by_tag.get(o.client_tag, 0)))
    check("each order's fills = its filled quantity = the broker's executed quantity", bad, len(orders))

    # 4. Each trade's position = its fills: opened quantity = entry fills; closing fills never more
    # than that, all of it for a trade closed by orders, less for one still open (a close that
    # filled in part) or cash-settled (the rest settled); each closing order was for what was held.
    bad = []
    for t in trades:
        entry = sum(f.quantity for o in t.orders.all() if o.purpose == "open" for f in o.fills.all())
        closed = sum(f.quantity for o in t.orders.all() if o.purpose == "close" for f in o.fills.all())
        if t.status == "not_filled":
            ok = entry == 0 and closed == 0
        elif t.status == "opening":
            ok = closed == 0
        elif t.status == "closed" and t.exit_reason != "settlement":
            ok = entry == t.quantity and closed == t.quantity
        else:
            ok = entry == t.quantity and closed < t.quantity
        held = t.quantity
        for o in sorted((o for o in t.orders.all() if o.purpose == "close"), key=lambda o: o.attempt):
            ok = ok and o.quantity == held and all(int(leg["quantity"]) == held for leg in o.legs)
            held -= sum(f.quantity for f in o.fills.all())
        if not ok:
            bad.append((t.pk, t.status, t.exit_reason, t.quantity, entry, closed))
    check("each trade's position = the sum of its fills", bad, len(trades))

    # 5. PnL = fills + settlements - fees, in Decimal.
    fee = Decimal(str(settings.FEES_PER_CONTRACT_USD))
    bad = []
    closed_trades = [t for t in trades if t.status == "closed"]
    for t in closed_trades:
        entry = sum((f.price * f.quantity for o in t.orders.all() if o.purpose == "open" for f in o.fills.all()),
                    Decimal(0))
        close = sum((f.price * f.quantity for o in t.orders.all() if o.purpose == "close" for f in o.fills.all()),
                    Decimal(0))
        closed_qty = sum(f.quantity for o in t.orders.all() if o.purpose == "close" for f in o.fills.all())
        settled = t.exit_reason == "settlement"
        settlement = (t.exit_debit or Decimal(0)) * (t.quantity - closed_qty) if settled else Decimal(0)
        # Per leg per contract, on the entry and on every contract closed by an order (none on settlement).
        fees = fee * 2 * (t.quantity + (closed_qty if settled else t.quantity))
        expected = (entry - close - settlement) * 100 - fees
        if expected != t.realized_pnl_usd or fees != t.fees_usd:
            bad.append((t.pk, str(t.realized_pnl_usd), str(expected)))
    check("PnL = fills + settlements - fees (Decimal, each closed trade)", bad, len(closed_trades))

    # 6. Exit reasons: a trade closed by its order exits for the reason its mark signalled; no
    # TRADE decision later on a day whose stop-loss closed a trade (the risk rule).
    bad, stops = [], []
    for t in closed_trades:
        if t.exit_reason == "settlement":
            continue
        close_orders = [o for o in t.orders.all() if o.purpose == "close" and o.state == "filled"]
        if not close_orders:
            bad.append((t.pk, t.exit_reason, "no filled close order"))
            continue
        sent = close_orders[-1].created_at
        marks = [m for m in t.marks.all() if m.signal and m.ts <= sent]
        signal_ = marks[-1].signal if marks else ""
        if signal_ != t.exit_reason:
            bad.append((t.pk, t.exit_reason, f"mark signalled {signal_ or 'nothing'}"))
        if signal_ == "stop_loss" and t.closed_at:
            stops.append(t.closed_at)
    check("an order-closed trade's exit reason = the signal of the mark that sent its close", bad,
          len([t for t in closed_trades if t.exit_reason != "settlement"]))
    bad = []
    for closed_at in stops:
        day = closed_at.astimezone(NEW_YORK).date()
        later = live.filter(action="TRADE", trading_day=day, decided_at__gt=closed_at)
        bad += [(d.pk, str(d.decided_at), str(closed_at)) for d in later]
    check("no entry later on a day after a stop-loss exit", bad, len(stops))

    # 7. Every scheduled snapshot slot: each DTE target exactly one snapshot, or a recorded failure.
    targets = list(settings.SNAPSHOT_DTE_TARGETS)
    per_slot: dict[tuple[dt.datetime, int], int] = Counter()
    for ts, covers in ChainSnapshot.objects.filter(purpose="target").values_list("ts", "dte_targets"):
        for target in covers or []:
            per_slot[(ts, int(target))] += 1
    failed = set(CaptureFailure.objects.values_list("ts", "target_dte"))
    bad, scheduled = [], 0
    for day in days:
        for slot in session_slots(day, every_minutes=every):
            for target in targets:
                scheduled += 1
                n = per_slot.get((slot, target), 0)
                if n > 1 or (n == 0 and (slot, target) not in failed):
                    bad.append((slot.isoformat(), target, n))
    counts["scheduled_slot_targets"] = scheduled
    counts["slot_targets_with_a_recorded_failure"] = sum(1 for k in failed if k[1] is not None)
    check("every scheduled slot: one snapshot per DTE target (or its recorded failure)", bad, scheduled)

    # 8. Every window decided once per enabled config; no duplicate business key anywhere.
    configs = StrategyConfig.objects.filter(enabled=True).count()
    per_window = Counter(live.values_list("trading_day", "entry_window"))
    bad = [(str(day), str(w), per_window.get((day, w), 0)) for day in days for w in ENTRY_WINDOWS
           if per_window.get((day, w), 0) != configs]
    check("every entry window decided exactly once per enabled config", bad, len(days) * len(ENTRY_WINDOWS))

    def dupes(qs: Any, *fields: str) -> int:
        return qs.values(*fields).annotate(n=Count("pk")).filter(n__gt=1).count()

    dup = {
        "decisions (day, window, config, source)": dupes(live, "trading_day", "entry_window", "strategy_config",
                                                         "source"),
        "trades per decision": dupes(Trade.objects.all(), "decision"),
        "orders (trade, purpose, attempt)": dupes(Order.objects.all(), "trade", "purpose", "attempt"),
        "order client tags": dupes(Order.objects.all(), "client_tag"),
        "fills (order, fill key)": dupes(Fill.objects.all(), "order", "fill_key"),
        "marks (trade, slot)": dupes(PositionMark.objects.all(), "trade", "ts"),
        "snapshots (underlying, expiration, slot)": dupes(ChainSnapshot.objects.all(), "underlying", "expiration",
                                                          "ts"),
    }
    checks.append(("no duplicate business key", not any(dup.values()),
                   ", ".join(f"{k}: {v}" for k, v in dup.items() if v) or f"{len(dup)} keys checked"))
    return {"counts": counts, "invariants": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]}


# ------------------------------------------------------------------------------ the command


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--celery":
        celery_main()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--days", type=int, default=60, help="trading days per seed (default 60)")
    parser.add_argument("--every", type=int, default=30, choices=[5, 10, 15, 30],
                        help="minutes between snapshot slots (default 30)")
    parser.add_argument("--last-day", type=dt.date.fromisoformat, default=LAST_DAY)
    parser.add_argument("--jobs", type=int, default=3, help="seeds run at once (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--fault-scale", type=float, default=1.0,
                        help="multiply the broker fault rates (the test's short run uses more)")
    parser.add_argument("--force-process-faults", action="store_true",
                        help="every process fault on the first day (the test's short run)")
    parser.add_argument("--seed-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.seed_run is not None:
        try:
            result = run_seed(args.seed_run, days=args.days, every=args.every, last_day=args.last_day, work=args.work,
                              force_process_faults=args.force_process_faults, fault_scale=args.fault_scale)
        finally:
            for stop in reversed(CLEANUP):  # no process outlives a crashed run
                try:
                    stop()
                except Exception as exc:  # noqa: BLE001 - keep stopping the others
                    print(f"cleanup: {exc!r}", file=sys.stderr)
        (args.work / "result.json").write_text(json.dumps(result, indent=1, default=str))
        return

    t0 = time.monotonic()
    load0 = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="spx-soak-"))
    print(f"soak: seeds {args.seeds}, {args.days} trading days each ending {args.last_day}, slots every "
          f"{args.every} min, broker fault rates x{args.fault_scale:g}, {args.jobs} at once, {os.cpu_count()} cores, "
          f"load {load0[0]:.2f}; work in {base}", flush=True)
    running: list[tuple[int, subprocess.Popen[bytes], Path]] = []
    results = []
    queue = list(args.seeds)
    while queue or running:
        while queue and len(running) < args.jobs:
            seed = queue.pop(0)
            work = base / f"seed-{seed}"
            work.mkdir()
            cmd = [sys.executable, str(Path(__file__).resolve()), "--seed-run", str(seed), "--work", str(work),
                   "--days", str(args.days), "--every", str(args.every), "--last-day", str(args.last_day)]
            if args.force_process_faults:
                cmd.append("--force-process-faults")
            if args.fault_scale != 1.0:
                cmd += ["--fault-scale", str(args.fault_scale)]
            running.append((seed, subprocess.Popen(cmd, cwd=ROOT), work))
        for item in list(running):
            seed, proc, work = item
            if proc.poll() is None:
                continue
            running.remove(item)
            path = work / "result.json"
            if proc.returncode != 0 or not path.exists():
                failed = {"name": "the run finished", "ok": False, "detail": f"exit {proc.returncode}"}
                results.append({"seed": seed, "crashed": proc.returncode, "invariants": [failed]})
            else:
                results.append(json.loads(path.read_text()))
        time.sleep(0.2)
    results.sort(key=lambda r: r["seed"])
    wall = time.monotonic() - t0
    ok = report(results, wall_s=wall, load=(load0, os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "wall_s": round(wall, 1)}, indent=1, default=str))
    if ok:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"work folders kept in {base}")
    sys.exit(0 if ok else 1)


def report(results: list[dict[str, Any]], *, wall_s: float, load: tuple[Any, Any]) -> bool:
    ok = all(i["ok"] for r in results for i in r["invariants"])
    print()
    for r in results:
        if r.get("crashed") is not None:
            print(f"seed {r['seed']}: the run crashed (exit {r['crashed']})")
            continue
        c = r["counts"]
        print(f"seed {r['seed']}: {r['days']} trading days {r['first_day']} … {r['last_day']}, {r['slots']} slots "
              f"(every {r['every_minutes']} min), {r['windows']} windows, wall {r['wall_s']:.0f} s "
              f"(load {r['load_start'][0]:.2f} → {r['load_end'][0]:.2f})")
        print(f"  decisions {c['decisions']} (TRADE {c['trade_decisions']}), trades {c['trades']} "
              f"{c['trades_by_status']}, exits {c['exits']}, PnL {c['pnl_usd']} USD")
        print(f"  orders {c['orders']} {c['orders_by_state']}, ever unknown {c['orders_ever_unknown']}, "
              f"fills {c['fills']}, broker orders {c['broker_orders']}, POSTs {c['posts']}, marks {c['marks']}, "
              f"snapshots {c['snapshots']}, capture failures {c['capture_failures']}")
        print(f"  exchange: {r['exchange']}")
        print(f"  broker faults: {r['faults']} (total {sum(r['faults'].values())})")
        print(f"  process faults: {r['process_faults']}; worker processes {r['worker_processes']}, "
              f"Redis restarts {r['redis_restarts']}" + (f"; not landed: {r['process_faults_not_landed']}"
                                                         if r["process_faults_not_landed"] else ""))
        print(f"  where they landed: {r['process_faults_landed']}")
        if r["errors_total"]:
            print(f"  task errors / harness notes ({r['errors_total']}): {r['errors'][:5]}")
        for i in r["invariants"]:
            print(f"  [{'ok' if i['ok'] else 'FAIL'}] {i['name']}: {i['detail']}")
    totals: Counter[str] = Counter()
    for r in results:
        totals.update(r.get("faults", {}))
        totals.update(r.get("process_faults", {}))
    print(f"\nfaults by kind, all seeds: {dict(sorted(totals.items()))}")
    print(f"invariants: {'all hold' if ok else 'FAILED'}; wall time {wall_s:.0f} s "
          f"({wall_s / 60:.1f} min); load {load[0][0]:.2f} at the start, {load[1][0]:.2f} at the end")
    return ok


if __name__ == "__main__":
    main()
