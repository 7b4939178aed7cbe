"""What the page benchmarks share: a staff login with one permission, the web server and Celery
workers over a bench data folder, and a browser-like login over HTTP (``ml_page_train.py``,
``sweep_page.py``)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


def csrf(html: str) -> str:
    """The CSRF token of a page's form."""
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if found is None:
        raise SystemExit("no CSRF token on the page")
    return found.group(1)


def staff_user(username: str, app_label: str, codename: str) -> tuple[Any, str]:
    """(user, password): a staff login holding ``app_label.codename``, its password new each run."""
    from django.contrib.auth.models import Permission, User

    password = secrets.token_urlsafe(16)
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.is_staff = True
    user.set_password(password)
    user.save()
    user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label=app_label))
    return user, password


def servers(*, port: int, queues: str, workers: int, name: str, env: dict[str, str], log: IO[str]) -> list[subprocess.Popen]:
    """gunicorn (2 sync workers) on 127.0.0.1:``port`` and ``workers`` Celery workers (concurrency 1)
    on ``queues``, their output in ``log``."""
    bin_dir = Path(sys.executable).parent
    procs = [subprocess.Popen([str(bin_dir / "gunicorn"), "spx_site.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=log)]
    procs += [subprocess.Popen([str(bin_dir / "celery"), "-A", "spx_site", "worker", "-Q", queues,
                                "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--concurrency", "1", "--loglevel", "WARNING"],
                               cwd=ROOT, env=env, stdout=log, stderr=log) for _ in range(workers)]
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=60)


def login(web: Any, username: str, password: str) -> None:
    """Log ``web`` (an httpx client on the server) in through the login form, as a browser does."""
    page = web.get("/accounts/login/")
    done = web.post("/accounts/login/", data={"username": username, "password": password,
                                              "csrfmiddlewaretoken": csrf(page.text)})
    if done.status_code != 302:
        raise SystemExit(f"login failed: HTTP {done.status_code}")
