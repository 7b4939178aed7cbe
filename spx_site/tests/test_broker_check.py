"""The broker must never evict queued messages (reliability.md B2 #30): on a Redis broker whose
``maxmemory-policy`` is not ``noeviction`` the web process, the workers and beat refuse to start,
against real ``redis-server`` processes on loopback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spx_site.broker_check import BrokerMayEvict, broker_eviction_check
from spx_site.tests.celery_workers import ROOT
from spx_site.tests.redis_server import redis_server

REFUSAL = "the Redis broker's maxmemory-policy is 'allkeys-lru': it may evict queued tasks"


def test_the_check_reads_the_policy_and_refuses_anything_but_noeviction(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    with redis_server(tmp_path, "--maxmemory-policy", "allkeys-lru") as url:
        with pytest.raises(BrokerMayEvict, match=REFUSAL):
            broker_eviction_check(url)
    with redis_server(tmp_path, "--maxmemory-policy", "noeviction") as url:
        assert broker_eviction_check(url) == "noeviction"
    # CONFIG renamed away (as managed Redis does): a warning, and start anyway.
    with redis_server(tmp_path, "--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", "") as url:
        with caplog.at_level(logging.WARNING, logger="spx_site.broker_check"):
            assert broker_eviction_check(url) is None
    assert "cannot read the broker's maxmemory-policy" in caplog.text
    assert broker_eviction_check("filesystem://") is None  # the embedded broker has nothing to evict


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "spx_site.settings", "CELERY_BROKER_URL": url,
            "SPX_VAR_DIR": str(tmp_path / "var")}


def _web(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import spx_site.wsgi"], cwd=ROOT, env=_env(tmp_path, url),
                          capture_output=True, text=True, timeout=120)


def _worker(tmp_path: Path, url: str) -> tuple[int | None, str]:
    """(exit code, or None when it became ready and kept running; its log)."""
    log = tmp_path / "worker.log"
    with open(log, "w+b") as out:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "spx_site", "worker", "--pool", "solo", "-Q", "live",
                                 "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
                                cwd=ROOT, env=_env(tmp_path, url), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and "ready." not in log.read_text(errors="replace") and time.monotonic() < deadline:
                time.sleep(0.2)
            code = proc.poll()
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    return code, log.read_text(errors="replace")


@pytest.mark.e2e
def test_web_and_worker_refuse_to_start_on_an_evicting_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path / "lru", "--maxmemory-policy", "allkeys-lru", "--maxmemory", "64mb") as url:
        web = _web(tmp_path, url)
        assert web.returncode != 0 and REFUSAL in web.stderr, web.stderr[-2000:]
        code, log = _worker(tmp_path, url)
        assert code not in (None, 0) and REFUSAL in log, log[-3000:]
        assert "ready." not in log
    with redis_server(tmp_path / "ok", "--maxmemory-policy", "noeviction") as url:
        web = _web(tmp_path, url)
        assert web.returncode == 0, web.stderr[-2000:]
        code, log = _worker(tmp_path, url)
        assert code is None and "ready." in log, log[-3000:]  # still running: it started
