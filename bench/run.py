"""Benchmarks: `make bench` (or `python bench/run.py`) prints the numbers recorded in bench/README.md.

Snapshot capture: fetch–parse–store of one full simulated SPX capture (3 expirations, real chain
size), median of several runs, on the configured database (SQLite by default; set DATABASE_URL
to a PostgreSQL server to measure there — a throwaway test database is created and dropped).
Storage: bytes per snapshot and per trading day (78 slots × 3 expirations), projected to a year.
Then the quant core benchmarks (bench/bench_quant.py) when present.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")
os.environ.setdefault("MARKET_DATA_PROVIDER", "simulated")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

NY = ZoneInfo("America/New_York")
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SLOTS_PER_DAY = 78  # the count: 09:30 to 15:55 ET every 5 minutes
TRADING_DAYS_PER_YEAR = 252


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}"


def bench_capture() -> None:
    from snapshots.models import ChainSnapshot
    from snapshots.payloads import canonical_json
    from snapshots.providers.parsing import parse_chain
    from snapshots.providers.simulated import SimulatedMarket
    from snapshots.services import snapshot_capture, snapshot_store

    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    start = dt.datetime(2026, 11, 18, 9, 30, tzinfo=NY)  # a Wednesday; targets Sat→Fri/Mon, Mon, Wed
    totals, fetches, stores, parses = [], [], [], []
    for i in range(RUNS):
        now = start + dt.timedelta(minutes=5 * i)
        market = SimulatedMarket(seed=settings.SIMULATED_MARKET_SEED, now=lambda now=now: now)
        t0 = time.perf_counter()
        result = snapshot_capture(now=now, provider=market)
        totals.append(time.perf_counter() - t0)
        assert len(result.inserted) == 3, result.failures
        # The same work split in two, on the next slot: provider (build + parse) vs store.
        later = now + dt.timedelta(days=7)
        market = SimulatedMarket(seed=settings.SIMULATED_MARKET_SEED, now=lambda later=later: later)
        t0 = time.perf_counter()
        chains = [market.chain("SPX", e.date) for e in market.expirations("SPX")[1:4]]
        t1 = time.perf_counter()
        for c in chains:
            snapshot_store(chain=c, slot=later, target_dte=0, actual_dte_days=0, provider="simulated")
        t2 = time.perf_counter()
        fetches.append(t1 - t0)
        stores.append(t2 - t1)
        body = canonical_json(chains[0].payload)
        t0 = time.perf_counter()
        parse_chain(json.loads(body), underlying="SPX", expiration=chains[0].expiration, received_at=later)
        parses.append(time.perf_counter() - t0)
    rows = ChainSnapshot.objects.filter(ts__lt=start + dt.timedelta(days=1))
    n = rows.count()
    options = sum(rows.values_list("option_count", flat=True)) / n
    raw = sum(rows.values_list("payload_size_bytes", flat=True)) / n
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT avg(pg_column_size(payload_zstd)) FROM chain_snapshots")
            stored = float(cur.fetchone()[0])
            cur.execute("SELECT pg_total_relation_size('chain_snapshots'), count(*) FROM chain_snapshots")
            rel_bytes, rel_rows = cur.fetchone()
        table_per_row = rel_bytes / rel_rows
    else:
        stored = sum(len(bytes(b)) for b in rows.values_list("payload_zstd", flat=True)) / n
        table_per_row = stored
    per_day = table_per_row * SLOTS_PER_DAY * 3
    slots = rows.values("ts").distinct().count()
    chains_per_slot = n / slots
    per_day_all = table_per_row * SLOTS_PER_DAY * chains_per_slot
    ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"database: {connection.vendor}")
    print(f"full capture (3 DTE chains + the VIX terms' chains + market context; {chains_per_slot:.1f} chains, "
          f"{options:.0f} options each on average): median {ms(totals)} over {RUNS} runs "
          f"(min {min(totals) * 1000:.0f}, max {max(totals) * 1000:.0f})")
    print(f"  of which for the 3 DTE chains: provider build+parse {ms(fetches)}; store (canonical JSON, zstd, insert) {ms(stores)}")
    print(f"  parse of one {raw / 1e6:.2f} MB Tradier-shaped body (json.loads + normalise): {ms(parses)}")
    print(f"bytes per snapshot: canonical JSON {raw / 1e6:.2f} MB, stored zstd {stored / 1e3:.0f} kB "
          f"(×{raw / stored:.1f}); table incl. row/TOAST/index overhead {table_per_row / 1e3:.0f} kB")
    print(f"per trading day (78 slots × 3): {per_day / 1e6:.1f} MB; per year ({TRADING_DAYS_PER_YEAR} days): "
          f"{per_day * TRADING_DAYS_PER_YEAR / 1e9:.1f} GB (uncompressed would be "
          f"{raw * SLOTS_PER_DAY * 3 * TRADING_DAYS_PER_YEAR / 1e9:.0f} GB)")
    print(f"with the VIX terms' chains ({chains_per_slot:.1f} chains a slot): {per_day_all / 1e6:.1f} MB a day, "
          f"{per_day_all * TRADING_DAYS_PER_YEAR / 1e9:.1f} GB a year")


def bench_analytics_and_decisions() -> None:
    """Store or recompute our IV/delta? And how long an entry window takes for the 12-config grid."""
    import numpy as np
    import zstandard

    from snapshots.analytics import snapshot_analytics
    from snapshots.models import ChainSnapshot
    from strategy.models import TradeDecision
    from execution.services import entry_window_trade as entry_window_run

    snaps = list(ChainSnapshot.objects.filter(purpose="target").order_by("ts")[:9])
    recompute, sizes = [], []
    for snap in snaps:
        t0 = time.perf_counter()
        a = snapshot_analytics(ChainSnapshot.objects.get(pk=snap.pk))  # decompress + parse + forward + IV + delta
        recompute.append(time.perf_counter() - t0)
        stored = np.stack([a.iv, a.delta]).astype(np.float32).tobytes()
        sizes.append(len(zstandard.ZstdCompressor(level=6).compress(stored)))
    ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"our IV+delta for one stored snapshot, recomputed (decompress, parse, forward, IV, greeks): {ms(recompute)}; "
          f"storing them instead would add {statistics.median(sizes) / 1e3:.1f} kB per snapshot (float32, zstd)")
    windows = []
    for day in (dt.date(2026, 11, 17), dt.date(2026, 11, 18), dt.date(2026, 11, 19)):
        at = dt.datetime.combine(day, dt.time(10, 0), tzinfo=NY)
        snapshot_capture_at(at)
        t0 = time.perf_counter()
        entry_window_run(at=at, capture=False)
        windows.append(time.perf_counter() - t0)
    print(f"entry window, 12 configs from stored snapshots: median {ms(windows)} "
          f"({TradeDecision.objects.count()} decisions written)")


def snapshot_capture_at(at: dt.datetime) -> None:
    from snapshots.services import snapshot_capture

    snapshot_capture(now=at)


def bench_on_throwaway_postgres() -> None:
    """Rerun the capture benchmark in a child process against a throwaway local PostgreSQL cluster."""
    import shutil
    import tempfile

    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        print("\n(PostgreSQL binaries not found: skipping the PostgreSQL pass)")
        return
    work = tempfile.mkdtemp(prefix="spx-bench-pg-")
    try:
        url = subprocess.run([str(ROOT / ".ci" / "pg-up"), work, "55439"], check=True, capture_output=True,
                             text=True).stdout.strip()
        print()
        env = {**os.environ, "DATABASE_URL": url, "SPX_VAR_DIR": str(Path(work) / "var")}
        subprocess.run([sys.executable, __file__, "--capture-only"], check=True, env=env, cwd=ROOT)
    finally:
        subprocess.run([str(ROOT / ".ci" / "pg-down"), work], check=False)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    from django.test.utils import setup_databases, teardown_databases

    capture_only = "--capture-only" in sys.argv
    if not capture_only:
        print(f"machine: {machine()}")
    old = setup_databases(verbosity=0, interactive=False)
    try:
        bench_capture()
        bench_analytics_and_decisions()
    finally:
        teardown_databases(old, verbosity=0)
    if capture_only:
        return
    if "DATABASE_URL" not in os.environ:
        bench_on_throwaway_postgres()
    quant = ROOT / "bench" / "bench_quant.py"
    if quant.exists():
        print("\n== quant core")
        subprocess.run([sys.executable, str(quant)], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
