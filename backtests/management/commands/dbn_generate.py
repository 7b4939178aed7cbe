import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backtests.data import dbn_generate, store
from backtests.data.dbn_generate import GeneratedDay
from snapshots.providers.simulated_market import REGIME_PRESETS, regime_preset


class Command(BaseCommand):
    help = (
        "Write real OPRA.PILLAR DBN files (definition + cbbo-1m + statistics with open interest, three per trading "
        "day) from the simulated market, at realistic density (~13,000 SPX/SPXW instruments, sparse minute records), "
        "for tests and demos."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive (default: --start)")
        parser.add_argument("--out", type=Path, help="folder (default: <MARKET_DATA_DIR>/generated/OPRA.PILLAR)")
        parser.add_argument("--seed", type=int, default=7, help="simulated market seed")
        parser.add_argument("--tiny", action="store_true", help="a few dozen instruments per day instead of ~13,000")
        parser.add_argument("--no-compress", action="store_true", help="write plain .dbn instead of .dbn.zst")
        parser.add_argument("--workers", type=int, default=1, help="days generated in parallel processes")
        parser.add_argument("--import", dest="run_import", action="store_true", help="import the files afterwards")
        parser.add_argument("--regime", nargs="?", const="on", default=None, choices=REGIME_PRESETS,
                            help="plant the simulated market's calm/stressed regime: on, strong or stressed-vol "
                                 "(default: SIMULATED_REGIME)")

    def handle(
        self, *args, start, end, out, seed, tiny, no_compress, workers, run_import, regime, **options
    ):
        end = end or start
        if end < start:
            raise CommandError("--end is before --start")
        out_dir = out or store.data_dir() / "generated" / "OPRA.PILLAR"
        params = dbn_generate.TINY if tiny else dbn_generate.REALISTIC

        def progress(day: GeneratedDay) -> None:
            self.stdout.write(
                f"{day.date}  {day.instrument_count:>6,} instruments  {day.record_count:>10,} records  "
                f"{day.dbn_bytes / 1e6:>7.1f} MB DBN  {day.file_bytes / 1e6:>7.1f} MB on disk  {day.seconds:.1f} s"
            )

        try:
            days = dbn_generate.generate_range(
                start, end, out_dir, seed=seed, params=params, compress=not no_compress, workers=workers, progress=progress,
                regime=regime_preset(regime or settings.SIMULATED_REGIME),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not days:
            raise CommandError(f"no SPX options trading days from {start} to {end}")
        self.stdout.write(self.style.SUCCESS(f"wrote {sum(len(day.paths) for day in days)} files to {out_dir}"))
        if run_import:
            from django.core.management import call_command

            paths = [p for day in days for p in day.paths]
            call_command("databento_import", *map(str, paths), stdout=self.stdout, stderr=self.stderr)
