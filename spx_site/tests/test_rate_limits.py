"""Rate limits on the API (per user, per anonymous client; 429 in the error shape with Retry-After)
and the login lockout (per username and per client address; a success clears its username)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from snapshots.tests.factories import read_token_client

pytestmark = pytest.mark.django_db

KEY = "rate-test-admin-key-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "right-horse-battery-staple-77"


def assert_429(response: Any) -> None:
    assert response.status_code == 429, response.status_code
    body = json.loads(response.content)
    assert set(body) == {"error", "fields"} and body["fields"] == {} and "throttled" in body["error"]
    assert 0 < int(response["Retry-After"]) <= 60


def test_anonymous_callers_are_limited_per_address(settings: Any) -> None:
    settings.API_THROTTLE_ANON = "3/min"
    for _ in range(3):
        assert APIClient().get("/api/chain-snapshots").status_code == 200
    assert_429(APIClient().get("/api/chain-snapshots"))
    # X-Forwarded-For is not trusted without configured proxies: a forged one is no fresh budget
    assert_429(APIClient().get("/api/chain-snapshots", HTTP_X_FORWARDED_FOR="203.0.113.9"))
    assert APIClient(REMOTE_ADDR="198.51.100.7").get("/api/chain-snapshots").status_code == 200  # another client
    assert APIClient().get("/api/trades").status_code == 401  # DRF checks credentials before the budget
    assert read_token_client().get("/api/chain-snapshots").status_code == 200  # users count on their own


def test_users_are_limited_each_on_their_own(settings: Any) -> None:
    settings.API_THROTTLE_USER = "2/min"
    settings.API_THROTTLE_ANON = "1000/min"
    alice, bob = read_token_client("alice"), read_token_client("bob")
    assert [alice.get("/api/trades").status_code for _ in range(2)] == [200, 200]
    assert_429(alice.get("/api/trades"))
    assert_429(alice.get("/api/decisions"))
    assert bob.get("/api/trades").status_code == 200
    session = Client()
    session.force_login(get_user_model().objects.get(username="alice"))
    assert_429(session.get("/api/trades"))  # the same user by session: the same budget
    assert APIClient().get("/api/chain-snapshots").status_code == 200  # anonymous: its own budget


def test_the_admin_key_has_the_user_budget_of_its_own(settings: Any) -> None:
    settings.ADMIN_API_KEY = KEY
    settings.API_THROTTLE_ANON = "1/min"
    settings.API_THROTTLE_USER = "3/min"
    keyed = APIClient()
    keyed.credentials(HTTP_X_API_KEY=KEY)
    assert [keyed.get("/api/trades").status_code for _ in range(3)] == [200, 200, 200]
    assert_429(keyed.get("/api/trades"))
    assert APIClient().get("/api/chain-snapshots").status_code == 200  # the anonymous budget was untouched


def test_health_is_never_limited(settings: Any) -> None:
    settings.API_THROTTLE_ANON = "1/min"
    assert {APIClient().get("/health").status_code for _ in range(5)} == {200}


def _settings_caches(tmp_path: Path, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "CELERY_BROKER_URL")}
    clean.update(SPX_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="spx_site.settings", **env)
    out = subprocess.run([sys.executable, "-c", "import json; from django.conf import settings; "
                          "print(json.dumps(settings.CACHES['default']))"],
                         cwd=REPO, env=clean, capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_cache_is_shared_by_processes(tmp_path: Path) -> None:
    default = _settings_caches(tmp_path)
    assert default == {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                       "LOCATION": str(tmp_path / "cache")}
    broker = _settings_caches(tmp_path, CELERY_BROKER_URL="redis://redis:6379/0")
    # The broker's server, the next database: cache keys never mix with queued messages.
    assert broker == {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://redis:6379/1"}
    assert _settings_caches(tmp_path, CELERY_BROKER_URL="redis://:pw@redis:6379/4")["LOCATION"] == "redis://:pw@redis:6379/5"
    chosen = _settings_caches(tmp_path, CELERY_BROKER_URL="redis://redis:6379/0", CACHE_URL="redis://cache:6379/1")
    assert chosen["LOCATION"] == "redis://cache:6379/1"


# ------------------------------------------------------------------------------- login lockout


@pytest.fixture
def lockout(settings: Any) -> Any:
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 900
    get_user_model().objects.create_user("alice", password=PASSWORD)
    return settings


def login(username: str, password: str, ip: str = "10.0.0.1") -> Any:
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/accounts/login/", {"username": username, "password": password})
    response.logged_in = "_auth_user_id" in client.session
    return response


def test_a_username_is_locked_after_n_failures_until_the_window_passes(lockout: Any, monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for i in range(3):
        failed = login("alice", f"wrong-{i}", ip=f"10.0.1.{i}")  # three addresses: the username's count locks
        assert failed.status_code == 200 and b"Wrong username or password" in failed.content
    locked = login("Alice", PASSWORD, ip="10.0.2.1")  # the right password, another address, another case
    assert locked.status_code == 429 and not locked.logged_in
    html = locked.content.decode()
    assert 'id="login-locked"' in html and "Too many failed logins. Try again in 15 minutes." in html
    assert 'name="username"' in html and PASSWORD not in html and 890 < int(locked["Retry-After"]) <= 900
    assert "login locked after 3 failures: user (username 'alice'" in caplog.text
    assert PASSWORD not in caplog.text and "wrong-0" not in caplog.text
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 901)  # the window has passed (the cache expires on it too)
    ok = login("alice", PASSWORD, ip="10.0.2.1")
    assert ok.status_code == 302 and ok.logged_in


def test_a_success_clears_its_usernames_count(lockout: Any) -> None:
    for i in range(2):
        assert login("alice", "wrong", ip=f"10.0.3.{i}").status_code == 200
    assert login("alice", PASSWORD, ip="10.0.3.9").logged_in
    for i in range(2):
        assert login("alice", "wrong", ip=f"10.0.4.{i}").status_code == 200
    assert login("alice", PASSWORD, ip="10.0.4.9").logged_in  # 2 + 2 failures but cleared in between: not locked


def test_an_address_is_locked_after_n_failures_over_any_usernames(lockout: Any) -> None:
    for name in ("bob", "carol", "dave"):
        assert login(name, "guess", ip="10.0.5.5").status_code == 200
    refused = login("alice", PASSWORD, ip="10.0.5.5")
    assert refused.status_code == 429 and not refused.logged_in
    assert login("alice", PASSWORD, ip="10.0.5.6").logged_in  # alice herself is not locked, elsewhere
    assert login("erin", "guess", ip="10.0.5.5").status_code == 429  # a success elsewhere does not reset the address
