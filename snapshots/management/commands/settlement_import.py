from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from snapshots.settlement_values import SettlementFileError, settlements_import


class Command(BaseCommand):
    help = ("Load official settlement values from a CSV (day,root,settlement,value). They take precedence over "
            "every estimate, live and in backtests.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", required=True, help="label for where the values came from, e.g. 'Cboe SET'")

    def handle(self, *args, file: Path, source: str, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            result = settlements_import(text, source=source)
        except SettlementFileError as exc:
            raise CommandError(f"{file}: {exc}; nothing was loaded") from exc
        self.stdout.write(f"{file}: {result.created} added, {result.updated} replaced, {result.unchanged} unchanged "
                          f"(source {source!r})")
