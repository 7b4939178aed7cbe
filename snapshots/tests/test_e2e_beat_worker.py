"""End to end: a real ``celery beat`` (database scheduler) → the broker → a real ``celery worker``
→ a snapshot row in the database. Runs on whatever the settings point at: SQLite + the file
broker by default, PostgreSQL + Redis in CI's second pass."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from snapshots.models import ChainSnapshot
from spx_site.schedules import periodic_tasks_setup

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def test_beat_fires_and_worker_stores_a_snapshot(settings, tmp_path: Path) -> None:
    settings.SNAPSHOT_INTERVAL_MINUTES = 1
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = True  # fire now, whatever the real clock says
    periodic_tasks_setup()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spx_site.settings",
        "DATABASE_URL": _database_url(),
        "SPX_VAR_DIR": str(tmp_path / "var"),  # its own file-broker folder when the broker is the default
        "MARKET_DATA_PROVIDER": "simulated",
        "SNAPSHOT_INTERVAL_MINUTES": "1",
        "ALLOW_SNAPSHOT_OUTSIDE_RTH": "true",
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        env.pop("CELERY_BROKER_URL", None)
    celery = str(Path(sys.executable).parent / "celery")
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in ("worker", "beat")}
    procs = {
        "worker": subprocess.Popen(
            [celery, "-A", "spx_site", "worker", "--pool", "solo", "--loglevel", "INFO", "-Q", "live"],
            cwd=ROOT, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT,
        ),
        "beat": subprocess.Popen(
            [celery, "-A", "spx_site", "beat", "--loglevel", "INFO", "--pidfile=", "--max-interval", "5"],
            cwd=ROOT, env=env, stdout=logs["beat"], stderr=subprocess.STDOUT,
        ),
    }
    try:
        deadline = time.monotonic() + 180  # a crontab */1 fires within 60 s; leave room for start-up
        while time.monotonic() < deadline and not ChainSnapshot.objects.exists():
            for name, proc in procs.items():
                assert proc.poll() is None, f"{name} exited early:\n{(tmp_path / f'{name}.log').read_text()}"
            time.sleep(2)
        rows = list(ChainSnapshot.objects.all())
        report = "\n".join(f"--- {n}\n{(tmp_path / f'{n}.log').read_text()[-4000:]}" for n in procs)
        assert rows, f"no snapshot landed within the deadline\n{report}"
        assert {r.provider for r in rows} <= {"simulated", "simulated-replay"}
        assert all(r.verify_checksum() and r.ts.second == 0 for r in rows)
        assert "snapshots.tasks.snapshot_capture" in (tmp_path / "beat.log").read_text()
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in logs.values():
            f.close()
