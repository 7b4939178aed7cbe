import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlmodels.dataset import DatasetError, dataset_build


class Command(BaseCommand):
    help = ("Export the meta-labeler's dataset (candidates with features, outcome, label, weights) to Parquet, "
            "e.g. --source backtest --run 3 --out var/ml/run3.parquet; prints its SHA-256.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", default="backtest", help="backtest, simulated or live_paper")
        parser.add_argument("--run", type=int, help="the backtest run (required with --source backtest)")
        parser.add_argument("--start", type=dt.date.fromisoformat, help="first trading day, YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last trading day, YYYY-MM-DD")
        parser.add_argument("--out", type=Path, required=True, help="the Parquet file to write")

    def handle(self, *args: Any, source: str, run: int | None, start: dt.date | None, end: dt.date | None,
               out: Path, **options: Any) -> None:
        try:
            data = dataset_build(source=source, run_id=run, start=start, end=end)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        if not data.rows:
            raise CommandError(f"no rows: {data.skipped}; nothing written")
        size = data.write_parquet(out)
        left_out = ", ".join(f"{n} {why}" for why, n in data.skipped.items() if n) or "none"
        self.stdout.write(f"{out}: {len(data.rows):,} rows × {len(data.columns)} columns, {size:,} bytes; "
                          f"label 1 share {sum(r['label'] for r in data.rows) / len(data.rows):.3f}; left out: {left_out}")
        self.stdout.write(f"sha256 {data.sha256}")
