"""`make run`: prepare the embedded platform and supervise web + Celery worker + Celery beat.

Steps: the admin API key (``ADMIN_API_KEY``, else generated once into ``var/``), migrate, collect static files, create the operator login, register the beat schedules,
take one forced snapshot (so the snapshots page has data at once), then start gunicorn, two real
``celery worker`` processes (``-Q live``: captures, entry windows, orders, marks; ``-Q backtests,ml``:
backtest chunks and training) and a real ``celery beat`` (django-celery-beat's database scheduler).
Ctrl-C stops them all; if one dies the others are stopped too, so nothing runs half-up.

With the simulated market (no ``TRADIER_ACCESS_TOKEN``) and ``ALLOW_SNAPSHOT_OUTSIDE_RTH`` unset,
captures are allowed around the clock: the simulated market is always quoting, so the page
fills whether or not the real market is open.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def admin_api_key() -> tuple[str, str]:
    """``ADMIN_API_KEY`` from the environment or ``.env``, else one generated once into ``var/admin_api_key``
    (0600, never in git) and reused on later runs, as the operator password. Returns (key, where it came from)."""
    if (ROOT / ".env").is_file():
        import environ

        environ.Env.read_env(ROOT / ".env")  # as the settings do: real environment variables win
    key = os.environ.get("ADMIN_API_KEY", "")
    if key:
        return key, "from ADMIN_API_KEY"
    var_dir = Path(os.environ.get("SPX_VAR_DIR") or ROOT / "var")
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "admin_api_key"
    if not path.exists() or not path.read_text().strip():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
        where = f"generated, kept in {path}"
    else:
        where = f"kept in {path}"
    key = path.read_text().strip()
    os.environ["ADMIN_API_KEY"] = key  # web, worker and beat inherit it
    return key, where


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")
    key, where = admin_api_key()
    print(f"admin API key ({where}): {key}\n  send it as the X-API-Key header to /api/admin/* and API writes")
    if not os.environ.get("TRADIER_ACCESS_TOKEN") and "ALLOW_SNAPSHOT_OUTSIDE_RTH" not in os.environ:
        os.environ["ALLOW_SNAPSHOT_OUTSIDE_RTH"] = "true"
        print("simulated market: snapshots are captured around the clock (ALLOW_SNAPSHOT_OUTSIDE_RTH=true)")
    port = os.environ.get("PORT", "8000")
    _manage("migrate", "--noinput")
    _manage("collectstatic", "--noinput", "--verbosity", "0")
    _manage("ensure_operator")
    _manage("setup_periodic_tasks")
    _manage("capture_snapshots", "--force")
    bin_dir = Path(sys.executable).parent
    commands = {
        "web": [str(bin_dir / "gunicorn"), "spx_site.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                "--threads", "4", "--access-logfile", "-"],
        # One worker per kind of work (settings.CELERY_TASK_ROUTES): live trading jobs never wait
        # behind a backtest chunk or a training run.
        "worker-live": [str(bin_dir / "celery"), "-A", "spx_site", "worker", "-Q", "live", "-n", "live@%h",
                        "--loglevel", "INFO", "--concurrency", "2"],
        "worker-batch": [str(bin_dir / "celery"), "-A", "spx_site", "worker", "-Q", "backtests,ml", "-n", "batch@%h",
                         "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [str(bin_dir / "celery"), "-A", "spx_site", "beat", "--loglevel", "INFO", "--pidfile="],
    }
    procs = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in commands.items()}
    oneshots = {}
    if not os.environ.get("TRADIER_ACCESS_TOKEN"):
        # In the background, once: five days of simulated OPRA data (real DBN files, imported) and
        # a backtest of the 36-config grid (in line, about a minute in all); the same five days replayed through the
        # live code path on the OPRA replay of those files (every 5 minutes, the simulated broker),
        # so the dashboard fills with decisions, trades, marks and PnL; then a backtest set up like
        # live on those days and its parity report (/backtests/parity/): live = backtest, shown.
        py = sys.executable
        oneshots["demo"] = subprocess.Popen(
            ["/bin/sh", "-c", f'"{py}" manage.py demo_backtest --if-empty --days 5 && '
                              f'MARKET_DATA_PROVIDER=opra-replay "{py}" manage.py demo_days --if-empty --days 5 --every 5 && '
                              f'"{py}" manage.py backtest_parity'], cwd=ROOT)
    print(f"\nSPX Tools is up: http://127.0.0.1:{port}/  (log in with the operator login above; Ctrl-C stops)\n")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            dead = [name for name, p in procs.items() if p.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} exited; stopping the rest", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        for p in list(procs.values()) + list(oneshots.values()):
            if p.poll() is None:
                p.terminate()
        for p in list(procs.values()) + list(oneshots.values()):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
