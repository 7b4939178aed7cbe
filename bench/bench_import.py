"""Import throughput of DBN → Parquet on a synthetic month; generation speed and bytes per day.

Run from the repository root:  .venv/bin/python bench/bench_import.py [--month 2026-03] [--days N]
[--workers 2] [--keep DIR]

1. Generates every trading day of the month with the realistic universe (``dbn_generate``:
   ~13,000 SPX/SPXW instruments, sparse CBBO-1m) as ``.dbn.zst``, in parallel processes.
2. Imports the month as downloaded (``.dbn.zst``) into a throwaway store and test database.
3. Decompresses copies to plain ``.dbn`` and imports those too (no zstd on the import path), with
   the default LZ4 Parquet and with uncompressed Parquet.
4. Times a few DuckDB queries the replay engine will make.

Records/s counts cbbo-1m + definition records over wall time of ``import_files``. CPU seconds
(all threads) are printed too, with the records/s they imply on idle cores, since a busy shared
machine inflates wall time. Asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")

import django  # noqa: E402

django.setup()

from backtests.data import dbn_generate, dbn_import, store  # noqa: E402
from snapshots import market_calendar as mc  # noqa: E402

TRADING_DAYS_PER_YEAR = 252


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} on {os.cpu_count()} cores"


def _month_days(month: str, limit: int | None) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(f"{month}-01")
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    days = mc.trading_days(first, last)[:limit]
    return days[0], days[-1]


def _import(label: str, files: list[Path], store_dir: Path, workers: int, compression: str) -> tuple[int, int]:
    shutil.rmtree(store_dir, ignore_errors=True)
    cpu0, t0 = time.process_time(), time.perf_counter()
    results = dbn_import.import_files(files, root_dir=store_dir, workers=workers, compression=compression)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    records = sum(r.record_count for r in results)
    quotes = sum(r.record_count for r in results if r.schema == "cbbo-1m")
    parquet = sum(r.parquet_bytes for r in results)
    cores = min(workers, os.cpu_count() or 1)
    print(
        f"import {label}, Parquet {compression}: {records:,} records ({quotes:,} cbbo-1m) in {wall:.1f} s wall = "
        f"{records / wall / 1e6:.2f} M records/s; CPU {cpu:.1f} s = {records / cpu / 1e6:.2f} M records per "
        f"CPU-second, i.e. {records / cpu * cores / 1e6:.1f} M records/s on {cores} idle cores "
        f"({parquet / len({r.date for r in results}) / 1e6:.0f} MB Parquet a day; {_load()})"
    )
    return records, parquet


def _queries(day: dt.date, store_dir: Path) -> None:
    at = dt.datetime.combine(day, dt.time(10, 0), tzinfo=mc.ET)
    expirations = [e for e, r in mc.listed_expirations(day, 8) if r == mc.ROOT_PM][2:5]

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        return min(runs) * 1000

    chain = best(lambda: store.quotes_at(day, at, root_dir=store_dir))
    entry = best(lambda: store.quotes_at(day, at, roots=["SPXW"], expirations=expirations, root_dir=store_dir))
    legs = store.quotes_at(day, at, roots=["SPXW"], expirations=expirations[:1], root_dir=store_dir)["symbol"].to_pylist()[:4]
    close = dt.datetime.combine(day, dt.time(15, 59), tzinfo=mc.ET)
    open_legs = best(lambda: store.quotes(day, start=at, end=close, symbols=legs, root_dir=store_dir))
    print(
        f"queries on {day} (best of 3): whole chain carried forward to 10:00 ET {chain:.0f} ms; "
        f"3 SPXW expirations at 10:00 {entry:.0f} ms; 4 legs' records 10:00–15:59 {open_legs:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", default="2026-03", help="YYYY-MM (default 2026-03)")
    parser.add_argument("--days", type=int, help="only the first N trading days of the month")
    parser.add_argument("--workers", type=int, default=dbn_import.DEFAULT_WORKERS)
    parser.add_argument("--keep", type=Path, help="keep the generated files and stores in this folder")
    args = parser.parse_args()

    from django.test.utils import setup_databases, teardown_databases

    work = args.keep or Path(tempfile.mkdtemp(prefix="spx-bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    old = setup_databases(verbosity=0, interactive=False)
    try:
        start, end = _month_days(args.month, args.days)
        zst_dir, plain_dir = work / "dbn-zst", work / "dbn-plain"
        print(f"synthetic month {start} … {end}; {_load()}")
        t0 = time.perf_counter()
        days = dbn_generate.generate_range(start, end, zst_dir, workers=args.workers)
        gen_wall = time.perf_counter() - t0
        n = len(days)
        records = [d.record_count for d in days]
        instruments = [d.instrument_count for d in days]
        dbn_bytes = sum(d.dbn_bytes for d in days) / n
        disk = sum(d.file_bytes for d in days) / n
        print(
            f"generation: {n} days in {gen_wall:.1f} s wall ({gen_wall / n:.1f} s a day with {args.workers} processes; "
            f"median {statistics.median(d.seconds for d in days):.1f} s per day in one process) = "
            f"{sum(records) / gen_wall / 1e6:.2f} M records/s"
        )
        print(
            f"per day: {statistics.mean(instruments):,.0f} instruments, {statistics.mean(records):,.0f} cbbo-1m records "
            f"({statistics.mean(records) / statistics.mean(instruments) / 405:.0%} of the dense 405-minute grid); "
            f"{dbn_bytes / 1e6:.0f} MB DBN uncompressed (what Databento bills), {disk / 1e6:.0f} MB as .dbn.zst"
        )

        zst_files = [p for d in days for p in (d.definition_path, d.cbbo_path)]
        total, parquet = _import(".dbn.zst", zst_files, work / "store-zst", args.workers, dbn_import.PARQUET_COMPRESSION)
        plain_dir.mkdir(exist_ok=True)
        plain_files = []
        for path in zst_files:
            target = plain_dir / path.name.removesuffix(".zst")
            with path.open("rb") as src, target.open("wb") as dst:
                zstandard.ZstdDecompressor().copy_stream(src, dst)
            plain_files.append(target)
        _import(".dbn", plain_files, work / "store-plain", args.workers, dbn_import.PARQUET_COMPRESSION)
        _import(".dbn", plain_files, work / "store-plain", args.workers, "none")
        print(
            f"Parquet: {parquet / n / 1e6:.0f} MB a day ({parquet / total:.1f} bytes per record, LZ4), "
            f"{parquet / n * TRADING_DAYS_PER_YEAR / 1e9:.1f} GB a year"
        )
        _queries(days[0].date, work / "store-zst")
    finally:
        teardown_databases(old, verbosity=0)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
