"""Who may write through the API: an operator token, the admin key or a staff session — never anonymous,
whatever ADMIN_API_KEY says; a read-only token reads but is refused writes; anonymous callers read only
the public endpoints (every GET endpoint: test_api_access.py); /api/admin/* keeps its contract."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from backtests.models import BacktestRun
from backtests.tests.factories import BacktestRunFactory
from snapshots.api_tokens import key_hash, token_create, token_revoke
from snapshots.models import ApiToken
from snapshots.tests.factories import StaffUserFactory
from spx_site import run as run_module

pytestmark = pytest.mark.django_db

KEY = "auth-test-admin-key-0123456789abcdef"
# What a staff session needs for the writes below (snapshots.permissions).
WRITE_PERMS = ["backtests.add_backtestrun", "backtests.cancel_run", "mlmodels.add_trainingrequest",
               "mlmodels.activate_model", "mlmodels.retire_model"]
REPO = Path(__file__).resolve().parents[2]


def writes(run_pk: int) -> list[tuple[str, dict[str, Any]]]:
    """Every write outside /api/admin/*, each with a body that an authorised caller gets a 400/404/200 for
    (never real work): passing the permission check is what the tests look at."""
    return [
        ("/api/backtests", {"start": "not a date"}),
        (f"/api/backtests/{run_pk}/cancel", {}),
        ("/api/ml/models/train", {"params": "not a dict"}),
        ("/api/ml/models/999999/activate", {}),
        ("/api/ml/models/999999/retire", {}),
    ]


@pytest.fixture
def run() -> BacktestRun:
    return BacktestRunFactory(running=True)


@pytest.fixture
def user() -> Any:
    return get_user_model().objects.create_user("scripter", password="pw-for-tests-only")


def token_client(user: Any, scope: str) -> tuple[APIClient, str]:
    _, key = token_create(user=user, scope=scope, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client, key


@pytest.mark.parametrize("admin_key", ["", KEY], ids=["key-unset", "key-set"])
def test_anonymous_writes_are_refused_whatever_the_key_setting(settings: Any, run: BacktestRun, admin_key: str) -> None:
    settings.ADMIN_API_KEY = admin_key
    api = APIClient()
    for path, body in writes(run.pk):
        for headers in ({}, {"HTTP_X_API_KEY": "wrong"}, {"HTTP_X_API_KEY": ""}):
            response = api.post(path, body, format="json", **headers)
            assert response.status_code == 401, (path, headers, response.content)
            assert response.json()["error"].startswith("writes need")
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING  # the cancel never happened
    assert BacktestRun.objects.count() == 1


@pytest.mark.parametrize("admin_key", ["", KEY], ids=["key-unset", "key-set"])
def test_anonymous_reads_are_refused_whatever_the_key_setting(settings: Any, run: BacktestRun, user: Any,
                                                              admin_key: str) -> None:
    settings.ADMIN_API_KEY = admin_key
    reader, _ = token_client(user, ApiToken.Scope.READ)
    for path in ("/api/backtests", f"/api/backtests/{run.pk}", "/api/trades", "/api/decisions", "/api/ml/models"):
        for headers in ({}, {"HTTP_X_API_KEY": "wrong"}, {"HTTP_X_API_KEY": ""}):
            response = APIClient().get(path, **headers)
            assert response.status_code == 401, (path, headers)
            assert response.json()["error"].startswith("reads need a login, an API token")
        assert reader.get(path).status_code == 200, path
    assert APIClient().get("/api/chain-snapshots").status_code == 200  # the seed's public list


def test_a_read_only_token_reads_but_is_refused_writes(settings: Any, run: BacktestRun, user: Any) -> None:
    settings.ADMIN_API_KEY = ""
    api, _ = token_client(user, ApiToken.Scope.READ)
    assert api.get("/api/backtests").status_code == 200
    for path, body in writes(run.pk):
        response = api.post(path, body, format="json")
        assert response.status_code == 403, path
        assert response.json() == {"error": "read-only token: writes need a token with operator scope", "fields": {}}
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING


def test_an_operator_token_may_write(settings: Any, run: BacktestRun, user: Any) -> None:
    settings.ADMIN_API_KEY = KEY
    api, _ = token_client(user, ApiToken.Scope.OPERATOR)
    for path, body in writes(run.pk):
        assert api.post(path, body, format="json").status_code not in (401, 403), path
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.CANCELLED
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_a_revoked_or_unknown_token_is_401(settings: Any, run: BacktestRun, user: Any, scheme: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    settings.ADMIN_API_KEY = ""
    token, key = token_create(user=user, scope=ApiToken.Scope.OPERATOR)
    token_revoke(token)
    for credential in (key, "nope"):
        response = APIClient().post(f"/api/backtests/{run.pk}/cancel", HTTP_AUTHORIZATION=f"{scheme} {credential}")
        assert response.status_code == 401 and response.json()["error"] == "unknown or revoked token"
        assert response["WWW-Authenticate"] == "Token"
        # a bad token is refused even on a read: the caller meant to authenticate
        assert APIClient().get("/api/backtests", HTTP_AUTHORIZATION=f"{scheme} {credential}").status_code == 401
    assert key not in caplog.text


NO_KEY = "invalid Authorization header: no key after the scheme (expected 'Token <key>')"
SPACES = "invalid Authorization header: the key contains spaces (expected 'Token <key>')"


@pytest.mark.parametrize(("header", "message"), [
    ("Token", NO_KEY),
    ("Token   ", NO_KEY),
    ("Bearer", NO_KEY),
    ("Token {head} {tail}", SPACES),  # a valid key cut in two
    ("Token {key} extra", SPACES),  # a valid key and more: not guessed at
], ids=["token-no-key", "token-blanks", "bearer-no-key", "key-split-by-a-space", "key-then-a-word"])
def test_a_token_header_without_a_key_or_with_spaces_in_it_is_401(settings: Any, run: BacktestRun, user: Any,
                                                                 header: str, message: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    settings.ADMIN_API_KEY = ""
    _, key = token_create(user=user, scope=ApiToken.Scope.OPERATOR)
    header = header.format(key=key, head=key[:8], tail=key[8:])
    for response in (APIClient().post(f"/api/backtests/{run.pk}/cancel", HTTP_AUTHORIZATION=header),
                     APIClient().get("/api/backtests", HTTP_AUTHORIZATION=header)):
        assert response.status_code == 401 and response.json() == {"error": message, "fields": {}}
        assert response["WWW-Authenticate"] == "Token"
        assert key[8:] not in response.content.decode()
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING
    assert key[8:] not in caplog.text


def test_a_token_of_an_inactive_user_is_refused(settings: Any, run: BacktestRun, user: Any) -> None:
    api, _ = token_client(user, ApiToken.Scope.OPERATOR)
    user.is_active = False
    user.save()
    assert api.post(f"/api/backtests/{run.pk}/cancel").status_code == 401


def test_the_admin_key_may_write(settings: Any, run: BacktestRun) -> None:
    settings.ADMIN_API_KEY = KEY
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=KEY)
    for path, body in writes(run.pk):
        assert api.post(path, body, format="json").status_code not in (401, 403), path
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.CANCELLED


def test_a_staff_session_may_write_and_a_non_staff_one_may_not(settings: Any, run: BacktestRun) -> None:
    settings.ADMIN_API_KEY = ""
    viewer = Client()
    viewer.force_login(get_user_model().objects.create_user("viewer", password="pw-for-tests-only"))
    for path, body in writes(run.pk):
        assert viewer.post(path, body, content_type="application/json").status_code == 403, path
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING
    staff = Client()
    staff.force_login(StaffUserFactory(perms=WRITE_PERMS))
    for path, body in writes(run.pk):
        assert staff.post(path, body, content_type="application/json").status_code not in (401, 403), path
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.CANCELLED


def test_a_staff_session_needs_csrf_for_writes(settings: Any, run: BacktestRun) -> None:
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(get_user_model().objects.create_user("op", password="pw-for-tests-only", is_staff=True))
    response = staff.post(f"/api/backtests/{run.pk}/cancel")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]


def test_a_token_write_needs_no_csrf_and_a_session_write_does(settings: Any, user: Any) -> None:
    """CSRF protects cookies a browser sends by itself; an Authorization header is never sent that way."""
    settings.ADMIN_API_KEY = ""
    by_token, by_session = BacktestRunFactory(running=True), BacktestRunFactory(running=True)
    _, key = token_create(user=user, scope=ApiToken.Scope.OPERATOR)
    scripted = APIClient(enforce_csrf_checks=True)
    scripted.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert scripted.post(f"/api/backtests/{by_token.pk}/cancel").status_code == 200
    by_token.refresh_from_db()
    assert by_token.status == BacktestRun.Status.CANCELLED
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(StaffUserFactory(perms=WRITE_PERMS))  # a real session cookie, allowed to cancel
    refused = browser.post(f"/api/backtests/{by_session.pk}/cancel")
    assert refused.status_code == 403 and refused.json()["error"].startswith("CSRF Failed")
    by_session.refresh_from_db()
    assert by_session.status == BacktestRun.Status.RUNNING
    # With the CSRF token (cookie + header, as the pages send it) the same session may write.
    secret = get_random_string(32)
    browser.cookies[settings.CSRF_COOKIE_NAME] = secret
    assert browser.post(f"/api/backtests/{by_session.pk}/cancel", HTTP_X_CSRFTOKEN=secret).status_code == 200
    by_session.refresh_from_db()
    assert by_session.status == BacktestRun.Status.CANCELLED


def test_admin_endpoints_keep_their_contract(settings: Any, user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """/api/admin/*: open while the key is unset, X-API-Key required when set — tokens and sessions don't replace it."""
    from snapshots import api as snapshots_api

    monkeypatch.setattr(snapshots_api, "provider_get", lambda: (_ for _ in ()).throw(AssertionError("not called")))
    settings.ADMIN_API_KEY = KEY
    operator, _ = token_client(user, ApiToken.Scope.OPERATOR)
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("op", password="pw-for-tests-only", is_staff=True))
    for client in (APIClient(), operator, staff):
        response = client.get("/api/admin/expirations")
        assert response.status_code == 401 and response.json()["error"] == "missing or wrong X-API-Key"
        assert response["WWW-Authenticate"] == "X-API-Key"
    settings.MARKET_DATA_PROVIDER = "simulated"
    monkeypatch.undo()
    keyed = APIClient().get("/api/admin/expirations", HTTP_X_API_KEY=KEY)
    assert keyed.status_code == 200 and KEY not in keyed.content.decode()
    settings.ADMIN_API_KEY = ""
    assert APIClient().get("/api/admin/expirations").status_code == 200  # open while unset (and the dashboard says so)


# --------------------------------------------------------------------------- making tokens


def test_the_command_prints_the_key_once_and_keeps_only_its_hash(user: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("api_token", "--user", "scripter", "--scope", "operator", "--name", "nightly")
    key = capsys.readouterr().out.splitlines()[1].strip()
    token = ApiToken.objects.get()
    assert (token.scope, token.name, token.user, token.prefix) == ("operator", "nightly", user, key[:8])
    assert token.key_sha256 == key_hash(key) and key not in str(ApiToken.objects.values().get())
    call_command("api_token", "--list")
    listed = capsys.readouterr().out
    assert token.prefix in listed and key not in listed
    assert APIClient().get("/api/backtests", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    call_command("api_token", "--revoke", str(token.pk))
    assert "revoked" in capsys.readouterr().out
    assert APIClient().get("/api/backtests", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_the_command_refuses_unknown_users_and_scopes(user: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no active user"):
        call_command("api_token", "--user", "nobody")
    with pytest.raises(CommandError):
        call_command("api_token", "--user", "scripter", "--scope", "root")
    assert not ApiToken.objects.exists()


def test_the_staff_page_makes_lists_and_revokes_tokens(user: Any) -> None:
    assert Client().get("/api-tokens/").status_code == 302  # to the login
    viewer = Client()
    viewer.force_login(user)
    assert viewer.get("/api-tokens/").status_code == 302  # not staff
    staff = Client()
    op = StaffUserFactory(perms=["snapshots.add_apitoken", "snapshots.change_apitoken"])
    staff.force_login(op)
    page = staff.post("/api-tokens/", {"user": user.pk, "scope": "read", "name": "notebook"})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get()
    html = page.content.decode()
    key = html.split('<pre style="user-select:all">')[1].split("</pre>")[0]
    assert token.key_sha256 == key_hash(key) and 'href="/backtests/"' in html  # the site's layout
    again = staff.get("/api-tokens/").content.decode()
    assert key not in again and token.prefix in again and "notebook" in again
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/trades").status_code == 200
    assert staff.post(f"/api-tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and api.get("/api/trades").status_code == 401
    superuser = Client()
    superuser.force_login(get_user_model().objects.create_superuser("root", password="pw-for-tests-only"))
    for url in ("/admin/snapshots/apitoken/", f"/admin/snapshots/apitoken/{token.pk}/change/"):
        admin_html = superuser.get(url)
        assert admin_html.status_code == 200 and token.prefix in admin_html.content.decode()
        assert token.key_sha256 not in admin_html.content.decode()


# --------------------------------------------------------------------------- the admin key at startup


def test_make_run_generates_the_admin_key_once_and_reuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPX_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)
    monkeypatch.setattr(run_module, "ROOT", tmp_path)  # no .env there
    key, where = run_module.admin_api_key()
    path = tmp_path / "admin_api_key"
    assert len(key) >= 32 and "generated" in where and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and os.environ["ADMIN_API_KEY"] == key
    monkeypatch.delenv("ADMIN_API_KEY")
    assert run_module.admin_api_key() == (key, f"kept in {path}")
    monkeypatch.setenv("ADMIN_API_KEY", "chosen-by-the-operator")
    assert run_module.admin_api_key() == ("chosen-by-the-operator", "from ADMIN_API_KEY")


def _settings_import(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ADMIN_API_KEY", "DJANGO_SECRET_KEY", "SPX_REQUIRE_SECRET_KEY")}
    clean.update(SPX_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="spx_site.settings", **env)
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=REPO, env=clean,
                          capture_output=True, text=True, timeout=120)


def test_production_settings_refuse_to_start_without_the_admin_key(tmp_path: Path) -> None:
    refused = _settings_import(tmp_path, SPX_REQUIRE_SECRET_KEY="true", DJANGO_SECRET_KEY="x" * 50)
    assert refused.returncode != 0
    assert "ImproperlyConfigured: ADMIN_API_KEY must be set when SPX_REQUIRE_SECRET_KEY=true" in refused.stderr
    started = _settings_import(tmp_path, SPX_REQUIRE_SECRET_KEY="true", DJANGO_SECRET_KEY="x" * 50, ADMIN_API_KEY=KEY)
    assert started.returncode == 0, started.stderr
    assert KEY not in started.stderr + started.stdout


def test_startup_logs_a_warning_while_admin_endpoints_are_open(tmp_path: Path) -> None:
    opened = _settings_import(tmp_path)
    assert "ADMIN_API_KEY is unset: /api/admin/*" in opened.stderr
    keyed = _settings_import(tmp_path, ADMIN_API_KEY=KEY)
    assert "ADMIN_API_KEY is unset" not in keyed.stderr


def test_the_dashboard_warns_while_admin_endpoints_are_open(settings: Any) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_user("viewer", password="pw-for-tests-only"))
    settings.ADMIN_API_KEY = ""
    assert 'id="api-open-warning"' in client.get("/").content.decode()
    settings.ADMIN_API_KEY = KEY
    html = client.get("/").content.decode()
    assert 'id="api-open-warning"' not in html and KEY not in html
