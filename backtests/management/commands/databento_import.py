import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backtests.data.dbn_import import COMPRESSIONS, DEFAULT_WORKERS, PARQUET_COMPRESSION, DayImport, ImportRefused, import_files


class Command(BaseCommand):
    help = (
        "Import OPRA.PILLAR cbbo-1m, definition and statistics (open interest) DBN files (.dbn / .dbn.zst, or "
        "folders of them) into the Parquet store; a day's quotes and statistics need that day's definitions. "
        "All or nothing; re-importing a day replaces it."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="DBN files or folders")
        parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="cbbo-1m files staged in parallel")
        parser.add_argument("--data-dir", type=Path, help="market-data root (default: settings.MARKET_DATA_DIR)")
        parser.add_argument(
            "--compression", choices=COMPRESSIONS, default=PARQUET_COMPRESSION, help="Parquet codec (none: fastest, 2× the disk)"
        )

    def handle(self, *args, paths: list[Path], workers: int, data_dir: Path | None, compression: str, **options):
        started = time.perf_counter()

        def progress(day: DayImport) -> None:
            fixed = ""
            if day.reordered or day.duplicates_dropped:
                fixed = f"  ({day.reordered:,} out of time order, sorted; {day.duplicates_dropped:,} repeated, dropped)"
            self.stdout.write(f"staged {day.date} {day.schema:<10} {day.record_count:>11,} records  "
                              f"{day.instrument_count:>7,} instruments{fixed}")

        try:
            results = import_files(paths, root_dir=data_dir, workers=workers, progress=progress, compression=compression)
        except ImportRefused as exc:
            raise CommandError(f"import refused, nothing written: {exc}") from exc
        seconds = time.perf_counter() - started
        records = sum(r.record_count for r in results)
        days = len({r.date for r in results})
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {days} day(s), {records:,} records in {seconds:.1f} s ({records / max(seconds, 1e-9):,.0f} records/s)"
            )
        )
