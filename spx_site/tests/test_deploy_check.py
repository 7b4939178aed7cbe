"""`manage.py check --deploy --fail-level WARNING` passes with the production switch, and only with it.

Settings are read once per process, so each case runs ``manage.py`` in a child process with its own
environment (the variables that decide security are removed from the parent's first).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DECIDING = ("SPX_PRODUCTION", "SPX_REQUIRE_SECRET_KEY", "DJANGO_SECRET_KEY", "ADMIN_API_KEY", "DJANGO_DEBUG",
            "DJANGO_SECURE_COOKIES", "DJANGO_SECURE_SSL_REDIRECT", "DJANGO_HSTS_SECONDS", "DJANGO_ALLOWED_HOSTS")


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in DECIDING}
    clean.update(SPX_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="spx_site.settings", **env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=clean, capture_output=True, text=True,
                          timeout=300)


def _production(**extra: str) -> dict[str, str]:
    return {"SPX_PRODUCTION": "true", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "ADMIN_API_KEY": secrets.token_urlsafe(32), "DJANGO_ALLOWED_HOSTS": "spx.example.com", **extra}


def test_the_deploy_check_passes_in_production(tmp_path: Path) -> None:
    done = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **_production())
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_deploy_check_fails_on_the_embedded_defaults(tmp_path: Path) -> None:
    done = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in done.stderr


def test_production_refuses_debug_and_missing_secrets(tmp_path: Path) -> None:
    debug = _manage(tmp_path, "check", **_production(DJANGO_DEBUG="true"))
    assert debug.returncode != 0 and "DJANGO_DEBUG=true is refused with SPX_PRODUCTION=true" in debug.stderr
    no_key = _production()
    del no_key["DJANGO_SECRET_KEY"]
    refused = _manage(tmp_path, "check", **no_key)
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY must be set" in refused.stderr
    # Each default still yields to its own variable (a site served over plain HTTP on a private network).
    plain = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING",
                    **_production(DJANGO_SECURE_SSL_REDIRECT="false"))
    assert plain.returncode != 0 and "security.W008" in plain.stderr and "security.W004" not in plain.stderr
