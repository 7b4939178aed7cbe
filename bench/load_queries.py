"""Per endpoint of the load test, in one process and without load: SQL queries, their time, this
process's CPU time and the response time (medians of ``--repeat``), through Django's test client
on the seeded database.

``bench/load.py --queries`` runs it with the server's environment; it explains the locust figures
(an N+1 shows as a query count that grows with the rows, a slow plan as SQL time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def endpoints(info: dict) -> list[tuple[str, str, bool, bool]]:
    """(name, url, htmx, api) — the locustfile's requests, one of each."""
    run = info["run"]
    return [
        ("dashboard", "/", False, False), ("dashboard (htmx panel)", "/", True, False),
        ("/trades/", "/trades/", False, False), ("/trades/ (htmx panel)", "/trades/", True, False),
        ("/trades/?run=N", f"/trades/?run={run}", False, False),
        ("/trades/?run=N&page=40", f"/trades/?run={run}&page=40", False, False),
        ("/decisions/", "/decisions/", False, False),
        ("/decisions/?action=TRADE (htmx)", "/decisions/?action=TRADE", True, False),
        ("/decisions/?run=N", f"/decisions/?run={run}", False, False),
        ("/decisions/?run=N&page=80", f"/decisions/?run={run}&page=80", False, False),
        ("/backtests/", "/backtests/", False, False), ("/snapshots/", "/snapshots/", False, False),
        ("/backtests/N/ (detail)", f"/backtests/{run}/", False, False),
        ("/trades/N/ (detail, paper)", f"/trades/{info['trades'][-2]}/", False, False),
        ("/trades/N/ (detail, backtest)", f"/trades/{info['backtest_trades'][0]}/", False, False),
        ("/decisions/N/ (detail)", f"/decisions/{info['decisions'][-1]}/", False, False),
        ("/api/trades", "/api/trades", False, True), ("/api/trades?source=backtest", "/api/trades?source=backtest", False, True),
        ("/api/decisions", "/api/decisions", False, True),
        ("/api/decisions?source=backtest", "/api/decisions?source=backtest", False, True),
        ("/api/backtests", "/api/backtests", False, True), ("/api/backtests/N/trades", f"/api/backtests/{run}/trades", False, True),
        ("/api/pnl", "/api/pnl?source=simulated", False, True),
        ("/api/trades/N (detail)", f"/api/trades/{info['trades'][-2]}", False, True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--info", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="append", default=[], metavar="NAME",
                        help="instead of the table: cProfile this endpoint (a name of the table, repeatable)")
    args = parser.parse_args()
    info = json.loads(args.info.read_text())
    account = info["users"][0]
    page_client = Client(HTTP_HOST="127.0.0.1")
    assert page_client.login(username=account["username"], password=account["password"])
    api_client = Client(HTTP_HOST="127.0.0.1", headers={"Authorization": f"Token {account['token']}"})
    if args.profile:
        profile(info, args.profile, page_client, api_client, args.repeat)
        return
    print(f"medians of {args.repeat}; load average {os.getloadavg()[0]:.2f}")
    print("| endpoint | queries | SQL ms | Python CPU ms | response ms | bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, url, htmx, api in endpoints(info):
        client = api_client if api else page_client
        headers = {"HX-Request": "true"} if htmx else {}
        client.get(url, headers=headers)  # warm: templates, the connection, caches
        times, cpu, sql = [], [], []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                t0, c0 = time.perf_counter(), time.process_time()
                response = client.get(url, headers=headers)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            sql.append(sum(float(q["time"]) for q in queries.captured_queries))
            assert response.status_code == 200, (url, response.status_code)
        ms = lambda xs: f"{statistics.median(xs) * 1000:.0f}"  # noqa: E731
        print(f"| `{name}` | {len(queries)} | {ms(sql)} | {ms(cpu)} | {ms(times)} | {len(response.content):,} |")


def profile(info: dict, names: list[str], page_client: Client, api_client: Client, repeat: int) -> None:
    """The hottest functions of the named endpoints' requests (cumulative and own time)."""
    import cProfile
    import pstats

    known = {name: (url, htmx, api) for name, url, htmx, api in endpoints(info)}
    for name in names:
        if name not in known:
            raise SystemExit(f"--profile {name!r}: not an endpoint; one of {sorted(known)}")
        url, htmx, api = known[name]
        client = api_client if api else page_client
        headers = {"HX-Request": "true"} if htmx else {}
        client.get(url, headers=headers)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(repeat):
            client.get(url, headers=headers)
        profiler.disable()
        print(f"== {name} ({url}), {repeat} requests")
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
