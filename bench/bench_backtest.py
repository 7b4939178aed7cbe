"""Backtest wall time: one month and one year × 36 configs, with 1 and 2 Celery workers.

Run from the repository root:

    .venv/bin/python bench/bench_backtest.py [--data DIR] [--year 2025] [--month 2025-03]
                                             [--workers 1 2] [--generate [--regime stressed-vol] [--seed 7]]

The data is a year of the simulated market as real DBN files (``dbn_generate``: ~13,000
SPX/SPXW instruments a day, ~3.4 M CBBO-1m records a day), imported into the Parquet store under
``DIR`` (default ``var/bench-backtest``) with its own SQLite database and Celery broker folder, so
nothing touches the platform's own ``var/``. ``--generate`` makes what is missing, a month at a
time (about 30 GB of Parquet for a year; the DBN files are deleted after each month's import).

36 configs = the 12 seeded strategy configs (3 DTE × 2 deltas × 2 sides) × 3 entry windows, each
with its own risk budget (``per_strategy``), exits checked every minute.

1. The month, in this process (no Celery): wall time and its split into reading, computing and
   assembling (writing the rows and metrics).
2. The year with N real ``celery worker`` processes (``--concurrency 1`` each) on the file-system
   broker: wall time from launch to the run's ``done``, chunks of ``ceil(days / (2 N))`` days.

Prints numbers; asserts nothing. Warm page cache: each measurement reads the data once before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _setup(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    os.environ["MARKET_DATA_DIR"] = str(data)
    os.environ["SPX_VAR_DIR"] = str(data / "var")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data / 'bench.sqlite3'}")
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} on {os.cpu_count()} cores"


def _generate(year: int, data: Path, regime: str, seed: int) -> None:
    from backtests import services
    from backtests.data import dbn_generate, dbn_import
    from snapshots.providers.simulated_market import regime_preset

    for month in range(1, 13):
        first = dt.date(year, month, 1)
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        days = services.trading_days(first, last)
        missing = [d for d in days if d not in services.imported_days(days)]
        if not missing:
            continue
        out = data / "generated"
        t0 = time.perf_counter()
        made = dbn_generate.generate_range(missing[0], missing[-1], out, seed=seed, workers=2,
                                           regime=regime_preset(regime))
        dbn_import.import_files([p for g in made for p in g.paths], workers=2)
        for g in made:
            for path in g.paths:
                path.unlink(missing_ok=True)
        print(f"  generated + imported {first:%Y-%m}: {len(made)} days in {time.perf_counter() - t0:.0f} s", flush=True)


def _params(start: dt.date, end: dt.date, chunk_days: int) -> dict:
    from backtests import services
    from strategy.models import StrategyConfig

    return services.params_build(start=start, end=end, configs=StrategyConfig.objects.all(),
                                 risk_scope="per_strategy", exit_check_minutes=1, chunk_days=chunk_days)


def _warm(start: dt.date, end: dt.date) -> None:
    from backtests import services
    from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION
    from backtests.data import slots, store

    for day in services.trading_days(start, end + dt.timedelta(days=14)):
        paths = [store.parquet_path(schema, day) for schema in (SCHEMA_CBBO_1M, SCHEMA_DEFINITION)]
        for path in [*paths, slots.book_dir(day) / slots.BOOK_NAME]:
            if path.is_file():
                with path.open("rb") as fh:
                    while fh.read(1 << 24):
                        pass


def _report(label: str, run, wall_s: float) -> None:  # type: ignore[no-untyped-def]
    s = run.metrics["summary"]
    t = run.timings
    print(f"{label}: {wall_s:.1f} s wall | {run.days_total} days × {len(run.params['strategies'])} strategies, "
          f"{run.metrics['decisions']:,} decisions, {s['trades']:,} closed trades "
          f"(+{run.metrics.get('open_trades', 0)} open at the end), PnL ${s['total_pnl_usd']:,.0f} | "
          f"chunk CPU: read {t.get('read_s', 0):.1f} s + compute {t.get('compute_s', 0):.1f} s, "
          f"assemble {t.get('assemble_s', 0):.1f} s | {_load()}", flush=True)


def bench_inline(start: dt.date, end: dt.date, label: str) -> float:
    from backtests import services

    _warm(start, end)
    days = len(services.trading_days(start, end))
    run, _ = services.run_create(_params(start, end, chunk_days=days), name=f"bench {label}")
    t0 = time.perf_counter()
    run = services.run_execute_inline(run)
    wall = time.perf_counter() - t0
    _report(f"{label}, 1 process (in line)", run, wall)
    return wall


def on_workers(workers: int, create: Callable[[], Any], launch: Callable[[Any], None], *, name: str = "bench",
               stop_timeout_s: float = 60) -> tuple[Any, float]:
    """Start ``workers`` Celery workers (1 process each, queue ``backtests``), create the run, launch
    it and wait for it to finish: (run, wall seconds from the launch). SystemExit unless it is done."""
    from backtests.models import BacktestRun

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "spx_site", "worker", "-Q", "backtests", "--concurrency", "1", "--pool", "prefork",
             "--loglevel", "WARNING", "-n", f"{name}{i}@%h", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    try:
        time.sleep(4)  # workers up
        run = create()
        t0 = time.perf_counter()
        launch(run)
        while True:
            run.refresh_from_db()
            if run.finished:
                break
            time.sleep(0.2)
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=stop_timeout_s)
    if run.status != BacktestRun.Status.DONE:
        raise SystemExit(f"run {run.pk} ended {run.status}: {run.error}")
    return run, wall


def bench_workers(start: dt.date, end: dt.date, workers: int, label: str) -> float:
    from backtests import services

    _warm(start, end)
    days = len(services.trading_days(start, end))
    chunk_days = math.ceil(days / (2 * workers))
    run, wall = on_workers(
        workers, lambda: services.run_create(_params(start, end, chunk_days=chunk_days), name=f"bench {label} {workers}w")[0],
        services.run_launch)
    _report(f"{label}, {workers} worker(s), {run.chunks_total} chunks", run, wall)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench-backtest")
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--month", default=None, help="YYYY-MM (default: March of --year)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--generate", action="store_true", help="generate and import the missing days first")
    parser.add_argument("--regime", default="off", choices=("off", "on", "strong", "stressed-vol"),
                        help="the simulated market's planted regime for --generate (default off)")
    parser.add_argument("--seed", type=int, default=7, help="the simulated market's seed for --generate (default 7)")
    parser.add_argument("--skip-year", action="store_true")
    args = parser.parse_args()
    _setup(args.data)
    from backtests import services

    if args.generate:
        _generate(args.year, args.data, args.regime, args.seed)
    start, end = dt.date(args.year, 1, 1), dt.date(args.year, 12, 31)
    days = services.trading_days(start, end)
    have = services.imported_days(days)
    if len(have) < len(days):
        raise SystemExit(f"{len(days) - len(have)} of {len(days)} trading days of {args.year} are not imported "
                         f"in {args.data}; run with --generate")
    month = args.month or f"{args.year}-03"
    m_first = dt.date.fromisoformat(f"{month}-01")
    m_last = (m_first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    print(f"backtest benchmark: {len(days)} trading days imported ({args.data}), {_load()}", flush=True)
    bench_inline(m_first, m_last, f"month {month}")
    if not args.skip_year:
        for n in args.workers:
            bench_workers(start, end, n, f"year {args.year}")


if __name__ == "__main__":
    main()
