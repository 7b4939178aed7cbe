"""Build the slot books (``backtests.data.slots``) of imported days that have none or a stale one."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow.parquet as pq
from django.core.management.base import BaseCommand, CommandError

from backtests.data import slots, store
from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION
from backtests.engine.daydata import DayData


class Command(BaseCommand):
    help = ("Build the slot book (quotes in force at each 5-minute capture slot, derived from the minute data) of "
            "every imported day that has none or a stale one; --check compares each book with the minute data.")

    def add_arguments(self, parser):
        parser.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD (default: all)")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive")
        parser.add_argument("--rebuild", action="store_true", help="rebuild current books too")
        parser.add_argument("--check", action="store_true",
                            help="after building, compare every book with the quotes in force from the minute records")

    def handle(self, *args, start, end, rebuild, check, **options) -> None:
        days = [d for d in store.available_days(SCHEMA_CBBO_1M)
                if (start is None or d >= start) and (end is None or d <= end)]
        if not days:
            raise CommandError("no imported cbbo-1m days in that range")
        built = 0
        t0 = time.perf_counter()
        for i, day in enumerate(days, 1):
            rows = pq.read_metadata(store.parquet_path(SCHEMA_DEFINITION, day)).num_rows
            book, missing = slots.open_book(day, rows=rows)
            if rebuild or book is None:
                why = missing or "rebuild"
                if slots.build(day) is not None:
                    built += 1
                    self.stdout.write(f"{day}: built ({why})  [{i}/{len(days)}]")
            if check:
                self._check(day)
        self.stdout.write(f"{built} book(s) built, {len(days) - built} current, {time.perf_counter() - t0:.0f} s")

    def _check(self, day: dt.date) -> None:
        data = DayData(day)
        if data.book is None:
            raise CommandError(f"{day}: {data.book_missing}")
        rows = np.arange(data.symbol.size)
        data.load({e for _, e in data.listed()})
        data.focus(rows)
        for slot, stamp in enumerate(data.book.stamps.tolist()):
            got = data.book.quotes(rows, slot)
            want = data.in_force(rows, stamp)
            for a, b in zip(got, want):
                if not np.array_equal(a, b, equal_nan=True):
                    raise CommandError(f"{day}: the slot book differs from the minute data at {stamp} ns")
        self.stdout.write(f"{day}: book equals the minute data at {data.book.stamps.size} slots")
