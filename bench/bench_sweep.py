"""Parameter-sweep wall time: ≥ 1,000 variants and 10× as many, with 1 and 2 Celery workers.

Run from the repository root (``make bench-sweep`` runs the year on the default data):

    .venv/bin/python bench/bench_sweep.py [--data DIR] [--year 2025] [--month 2025-03] [--workers 1 2]
                                          [--generate [--universe compact]] [--grids base 10x]

Uses the backtest benchmark's data (``bench/bench_backtest.py``: a generated year imported under
``DIR``, its own SQLite database and broker folder). ``--month YYYY-MM`` sweeps that month only
(the short mode); without it, the whole ``--year``. ``--generate`` makes the missing days of what
is swept (``--universe compact``: the tests' ~1,400-instrument chain, for a quick look on a small
machine — not the figures of record).

Grids (base config: the seeded "3DTE put 10d"; every variant its own risk budget, exits checked
every minute):

- ``base``: DTE {3, 5} × side {put, call} × window {10:00, 11:00, 12:00} × |delta| 0.05–0.30 step
  0.05 × width {10, 25, 50} = 216 selection groups, × TP {0.25, 0.50, 0.75} × SL {1, 2} =
  **1,296 variants**.
- ``10x``: the same 216 groups × TP 0.2–0.7 step 0.1 (6) × SL 0.5–2.5 step 0.5 (5) × time exit
  {none, 15:00} = **12,960 variants** (10× through the exit rules, which share the paths).

Prints per run: wall time from launch to ``done``, variants, variant-trades, the chunks' CPU split
into reading and computing, the assembly, the peak RSS of the busiest worker process, the ratio
10×/base, and the result file's SHA-256 (a rerun must print the same). Asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_backtest as bb  # noqa: E402  (the backtest benchmark's data set-up)

GRIDS = {
    "base": {"target_dte": [3, 5], "side": ["put", "call"], "window": ["10:00", "11:00", "12:00"],
             "short_delta_target": ["0.05", "0.10", "0.15", "0.20", "0.25", "0.30"], "width_points": [10, 25, 50],
             "take_profit_fraction": ["0.25", "0.5", "0.75"], "stop_loss_multiple": ["1", "2"]},
}
GRIDS["10x"] = {**GRIDS["base"], "take_profit_fraction": ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7"],
                "stop_loss_multiple": ["0.5", "1", "1.5", "2", "2.5"], "exit_at_time": ["none", "15:00"]}


def _generate(first: dt.date, last: dt.date, data: Path, universe: str) -> None:
    from backtests import services
    from backtests.data import dbn_generate, dbn_import

    days = services.trading_days(first, last + dt.timedelta(days=16))
    missing = [d for d in days if d not in services.imported_days(days)]
    if not missing:
        return
    params = dbn_generate.REALISTIC
    if universe == "compact":
        params = dbn_generate.UniverseParams(horizon_days=10, core_sigmas=1.5, core_min=0.015, core_max=0.03,
                                             tail_sigmas=2.0, tail_min=0.02, tail_max=0.04)
    t0 = time.perf_counter()
    made = dbn_generate.generate_range(missing[0], missing[-1], data / "generated", params=params, workers=2,
                                       compress=False)
    dbn_import.import_files([p for g in made for p in g.paths], workers=2)
    for g in made:
        for path in g.paths:
            path.unlink(missing_ok=True)
    print(f"  generated + imported {len(made)} days ({universe}) in {time.perf_counter() - t0:.0f} s", flush=True)


def _run(first: dt.date, last: dt.date, grid: str, workers: int) -> dict:
    from backtests import services
    from backtests.services import sweeps
    from strategy.models import StrategyConfig

    bb._warm(first, last)
    days = len(services.trading_days(first, last))
    chunk_days = math.ceil(days / (2 * workers))
    run, wall = bb.on_workers(
        workers, lambda: sweeps.sweep_create(config=StrategyConfig.objects.get(name="3DTE put 10d"), dims=GRIDS[grid],
                                             start=first, end=last, chunk_days=chunk_days,
                                             name=f"bench sweep {grid} {workers}w")[0],
        sweeps.sweep_launch, name="sweep", stop_timeout_s=120)
    t, m = run.timings, run.metrics
    cpu = t.get("read_s", 0) + t.get("compute_s", 0)
    read_share = t.get("read_s", 0) / cpu if cpu else 0.0
    print(f"{grid:>4}, {workers} worker(s), {run.chunks_total} chunks: {wall:.1f} s wall | {m['variants']:,} variants × "
          f"{run.days_total} days, {m['variant_trades']:,} variant-trades | chunk CPU read {t.get('read_s', 0):.1f} s + "
          f"compute {t.get('compute_s', 0):.1f} s (reading {read_share:.0%}), assemble {t.get('assemble_s', 0):.1f} s | "
          f"peak RSS per worker {t.get('max_rss_mb', 0):.0f} MiB (assembling {t.get('assemble_max_rss_mb', 0):.0f} MiB) | "
          f"trades file {m['trades_file_sha256'][:16]}… | {bb._load()}", flush=True)
    return {"wall": wall, "run": run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=bb.ROOT / "var" / "bench-backtest")
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--month", default=None, help="YYYY-MM: sweep that month only (the short mode)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--grids", nargs="*", default=["base", "10x"], choices=sorted(GRIDS))
    parser.add_argument("--generate", action="store_true", help="generate and import the missing days first")
    parser.add_argument("--universe", choices=("full", "compact"), default="full",
                        help="with --generate: the benchmark's full chain (default) or the tests' compact one")
    args = parser.parse_args()
    os.environ.setdefault("SWEEP_MAX_VARIANTS", "20000")
    bb._setup(args.data)
    from backtests import services
    from strategy.tests.factories import StrategyConfigFactory
    from strategy.models import StrategyConfig

    if args.month:
        first = dt.date.fromisoformat(f"{args.month}-01")
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    else:
        first, last = dt.date(args.year, 1, 1), dt.date(args.year, 12, 31)
    if args.generate:
        _generate(first, last, args.data, args.universe)
    days = services.trading_days(first, last)
    if len(services.imported_days(days)) < len(days):
        raise SystemExit(f"not every trading day {first}..{last} is imported in {args.data}; run with --generate")
    if not StrategyConfig.objects.filter(name="3DTE put 10d").exists():  # the seeded config (migrations seed it)
        StrategyConfigFactory(name="3DTE put 10d", side="put_credit", target_dte=3, short_delta_target="0.10",
                              min_credit="0.50")
    print(f"sweep benchmark: {first}..{last}, {len(days)} trading days ({args.data}), {bb._load()}", flush=True)
    for workers in args.workers:
        walls = {grid: _run(first, last, grid, workers)["wall"] for grid in args.grids}
        if {"base", "10x"} <= set(walls):
            print(f"  {workers} worker(s): 10× the variants took {walls['10x'] / walls['base']:.2f}× the time "
                  f"(target ≤ 3×)", flush=True)


if __name__ == "__main__":
    main()
