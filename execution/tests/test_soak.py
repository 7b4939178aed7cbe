"""The soak (``bench/soak.py``) on one short day keeps CI honest: one seed, one trading day through
the live path (a real Celery worker on a loopback ``redis-server``, the ``TradierBroker`` on the
fake Tradier server), every process fault forced onto that day (worker SIGKILL inside a placement
and at a random moment, a Redis restart, beat double ticks) and the broker fault rates tripled.
Every invariant the soak checks at the end must hold. ~30–60 s."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_a_faulted_soak_day_keeps_every_invariant(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--seeds", "1", "--days", "1", "--last-day", "2026-11-25",
         "--jobs", "1", "--force-process-faults", "--fault-scale", "3", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    [result] = json.loads(out.read_text())["results"]
    failed = [i for i in result["invariants"] if not i["ok"]]
    assert run.returncode == 0 and not failed, f"{failed}\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    # The faults really happened: every process fault landed, the broker faults were played.
    assert result["process_faults_not_landed"] == [], run.stdout[-3000:]
    assert {"worker SIGKILL in the placement", "worker SIGKILL at a random moment", "Redis restart"} <= set(
        result["process_faults"])
    assert result["worker_processes"] == 3 and result["redis_restarts"] == 1
    assert sum(result["faults"].values()) > 0
    counts = result["counts"]
    assert counts["trade_decisions"] >= 1 and counts["posts"] >= 1
    assert counts["decisions"] == 3 * 12  # three windows × the 12 seeded configs, each once
