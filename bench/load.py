"""Load test: a year of rows in PostgreSQL, gunicorn, locust at 20 users; prints p50/p95/p99 and errors.

    .venv/bin/python bench/load.py                 # new cluster in --dir, migrate, seed (~3–5 min), run
    .venv/bin/python bench/load.py --reuse         # the seeded cluster in --dir as it is (migrated again)

Everything stays on this machine and stops by itself: PostgreSQL 15 (``.ci/pg-up``) and Redis (the
cache the throttles and the login lockout count in, and the broker URL, as in docker-compose) on
loopback ports under ``--dir``; gunicorn (sync workers, as the Dockerfile) with production settings
(``SPX_PRODUCTION=true``, DEBUG off) except that, for plain HTTP on loopback, the HTTPS redirect and
secure cookies are off (``DJANGO_SECURE_SSL_REDIRECT=false``, ``DJANGO_SECURE_COOKIES=false``);
``locust --headless`` for ``--time`` with ``--users`` (``bench/locustfile.py``). Then one row per
endpoint: requests, p50/p95/p99 (ms), error rate and the target (p95 ≤ 100 ms, no error) for the
dashboard and the list endpoints, with the machine's load average. The statistics restart once
every user has been started (``--reset-stats``), and the operators log in through the login form
before locust starts (their session cookies are handed to it): the figures are the steady state of
``--users`` users, not the ramp-up and its logins (one PBKDF2 hash each, timed apart). The servers are stopped at the
end (``--keep`` leaves PostgreSQL's data in ``--dir`` for ``--reuse``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET_P95_MS = 100.0
# Endpoints with the target: the dashboard and the lists (pages, their HTMX partials, the API lists).
UNTARGETED = ("(detail)", "login")


def _pg_bin() -> Path:
    return sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []


def pg_start(folder: Path, port: int, *, reuse: bool) -> str:
    if reuse and (folder / "pg" / "PG_VERSION").exists():
        subprocess.run([*_as_postgres(), str(_pg_bin() / "pg_ctl"), "-D", str(folder / "pg"), "-l",
                        str(folder / "pg" / "server.log"), "-w", "-o",
                        f"-p {port} -c listen_addresses=127.0.0.1 -k {folder / 'sock'}", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        return f"postgres://spx@127.0.0.1:{port}/spx"
    if folder.exists():
        pg_stop(folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    out = subprocess.run(["bash", str(ROOT / ".ci" / "pg-up"), str(folder), str(port)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def pg_stop(folder: Path) -> None:
    subprocess.run(["bash", str(ROOT / ".ci" / "pg-down"), str(folder)], check=False)


def redis_start(folder: Path, port: int) -> None:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server (bench/README.md \"Load\")")
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--maxmemory-policy", "noeviction", "--daemonize", "yes", "--dir", str(folder),
                    "--logfile", str(folder / "redis.log"), "--pidfile", str(folder / "redis.pid")], check=True)
    for _ in range(50):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise SystemExit("redis did not start")


def redis_stop(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False, capture_output=True)


def server_env(folder: Path, database_url: str, redis_port: int) -> dict[str, str]:
    secret_file = folder / "secrets.json"
    if not secret_file.exists():
        secret_file.write_text(json.dumps({"secret": secrets.token_urlsafe(50), "admin": secrets.token_urlsafe(32)}))
    keys = json.loads(secret_file.read_text())
    var = folder / "var"
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",  # the cache goes to /1, as in production
        "SPX_PRODUCTION": "true",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback: no proxy terminating TLS
        "DJANGO_SECURE_COOKIES": "false",  # else the client never sends the session cookie back over HTTP
        "DJANGO_SECRET_KEY": keys["secret"],
        "ADMIN_API_KEY": keys["admin"],
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SPX_VAR_DIR": str(var),
        "MARKET_DATA_DIR": str(var / "market-data"),
        "ML_MODEL_DIR": str(var / "models"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "spx_site.settings",
    }


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def sessions_login(host: str, users: list[dict[str, str]]) -> tuple[list[str], float]:
    """Log every operator in through the login form, before the test: their session ids, and the
    median time of a login (a PBKDF2 hash; not in the table, whose window is the steady state)."""
    import http.cookiejar
    import re
    import statistics
    import urllib.parse

    sessions, times = [], []
    for account in users:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        t0 = time.perf_counter()
        page = opener.open(f"{host}/accounts/login/", timeout=60).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        body = urllib.parse.urlencode({"username": account["username"], "password": account["password"],
                                       "csrfmiddlewaretoken": token.group(1) if token else ""}).encode()
        opener.open(f"{host}/accounts/login/", data=body, timeout=60).read()
        times.append(time.perf_counter() - t0)
        sid = next((c.value for c in jar if c.name == "sessionid"), None)
        if sid is None:
            raise SystemExit(f"login of {account['username']} failed")
        sessions.append(sid)
    return sessions, statistics.median(times)


def results_table(stats_csv: Path) -> tuple[list[dict[str, object]], bool]:
    rows, ok = [], True
    with stats_csv.open() as f:
        for r in csv.DictReader(f):
            if r["Name"] == "Aggregated":
                continue
            n, fails = int(r["Request Count"]), int(r["Failure Count"])
            targeted = not any(mark in r["Name"] for mark in UNTARGETED)
            p95 = float(r["95%"]) if n else float("nan")
            passed = (p95 <= TARGET_P95_MS and fails == 0) if targeted else None
            ok = ok and passed is not False
            rows.append({"name": r["Name"], "n": n, "p50": r["50%"], "p95": r["95%"], "p99": r["99%"],
                         "err": 100.0 * fails / n if n else 0.0, "rps": float(r["Requests/s"]), "pass": passed})
    return rows, ok


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"| endpoint | requests | p50 ms | p95 ms | p99 ms | errors | target p95 ≤ {TARGET_P95_MS:.0f} ms, 0 errors |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        verdict = "—" if r["pass"] is None else ("pass" if r["pass"] else "**miss**")
        print(f"| `{r['name']}` | {r['n']:,} | {r['p50']} | {r['p95']} | {r['p99']} | {r['err']:.1f} % | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "spx-load")
    parser.add_argument("--reuse", action="store_true", help="start the seeded cluster in --dir instead of a new one")
    parser.add_argument("--pg-port", type=int, default=55442)
    parser.add_argument("--redis-port", type=int, default=56442)
    parser.add_argument("--port", type=int, default=8042)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (the Dockerfile's 3)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument("--time", default="60s")
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--paper-configs", type=int, default=1)
    parser.add_argument("--seed-only", action="store_true", help="seed (and keep) the cluster, no load")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's data for --reuse")
    parser.add_argument("--queries", action="store_true",
                        help="no load: SQL queries and response time per endpoint, in one process (load_queries.py)")
    parser.add_argument("--profile", action="append", default=[], metavar="NAME",
                        help="with --queries: cProfile this endpoint instead of the table (repeatable)")
    parser.add_argument("--label", default="load", help="name of the CSV files under --dir/results")
    args = parser.parse_args()

    folder = args.dir.resolve()
    reuse = args.reuse and (folder / "pg" / "PG_VERSION").exists()
    database_url = pg_start(folder, args.pg_port, reuse=reuse)
    redis_start(folder, args.redis_port)
    env = server_env(folder, database_url, args.redis_port)
    info_path = folder / "load_info.json"
    server = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        if not reuse or not info_path.exists():
            subprocess.run([sys.executable, "bench/load_seed.py", "--out", str(info_path), "--days", str(args.days),
                            "--users", str(args.users), "--paper-configs", str(args.paper_configs)],
                           cwd=ROOT, env=env, check=True)
        if args.seed_only:
            args.keep = True
            return
        if args.queries:
            profile = [arg for name in args.profile for arg in ("--profile", name)]
            subprocess.run([sys.executable, "bench/load_queries.py", "--info", str(info_path), *profile], cwd=ROOT,
                           env=env, check=True)
            return
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                       check=True)
        server = subprocess.Popen([str(BIN / "gunicorn"), "spx_site.wsgi", "--bind", f"127.0.0.1:{args.port}",
                                   "--workers", str(args.workers), "--log-level", "warning"], cwd=ROOT, env=env)
        host = f"http://127.0.0.1:{args.port}"
        wait_http(f"{host}/health")
        info = json.loads(info_path.read_text())
        results = folder / "results"
        results.mkdir(exist_ok=True)
        sessions, login_s = sessions_login(host, info["users"])
        sessions_path = results / f"{args.label}_sessions.json"
        sessions_path.write_text(json.dumps(sessions))
        load_before = os.getloadavg()
        with (results / f"{args.label}_locust.log").open("w") as log:
            subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                            "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.time, "--host", host,
                            "--csv", str(results / args.label), "--only-summary", "--stop-timeout", "10",
                            "--reset-stats"],  # the figures are 20 users' steady state, after the logins
                           cwd=ROOT, env={**os.environ, "LOAD_INFO": str(info_path), "LOAD_SESSIONS": str(sessions_path)},
                           check=False,
                           stdout=log, stderr=subprocess.STDOUT)
        load_after = os.getloadavg()
        rows, ok = results_table(results / f"{args.label}_stats.csv")
        print(f"\nLoad test {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.users} users "
              f"(3 operators on pages : 1 API script, 1–2 s between requests), {args.time}, "
              f"gunicorn {args.workers} sync workers, PostgreSQL 15 + Redis on loopback, {os.cpu_count()} CPUs")
        print("data: " + ", ".join(f"{k} {v:,}" for k, v in info["counts"].items()))
        print(f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
              f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; the operators logged in through "
              f"the login form before the test (median {login_s * 1000:.0f} ms a login, one at a time)\n")
        print_table(rows)
        total = sum(int(r["n"]) for r in rows)  # type: ignore[call-overload]
        print(f"\n{total:,} requests, {sum(float(r['rps']) for r in rows):.1f} per second; "  # type: ignore[arg-type]
              f"{'every target met' if ok else 'targets missed'}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        redis_stop(args.redis_port)
        pg_stop(folder)
        if not args.keep and not args.seed_only:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
