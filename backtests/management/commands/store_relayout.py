"""Upgrade quotes imported before expiration clustering (the engine then reads only what it trades)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from backtests.data import slots, store
from backtests.data.dbn_io import SCHEMA_CBBO_1M
from backtests.models import ImportedDay


class Command(BaseCommand):
    help = "Rewrite every imported cbbo-1m day still in time order into the expiration-clustered layout."

    def handle(self, *args, **options) -> None:
        changed = 0
        for day in store.available_days(SCHEMA_CBBO_1M):
            if store.relayout(day):
                changed += 1
                size = store.parquet_path(SCHEMA_CBBO_1M, day).stat().st_size
                ImportedDay.objects.filter(date=day, schema=SCHEMA_CBBO_1M).update(parquet_bytes=size)
                slots.build(day)  # the rewritten file is the book's new source
                self.stdout.write(f"{day}: rewritten ({size / 1e6:.0f} MB)")
        self.stdout.write(f"{changed} day(s) rewritten")
