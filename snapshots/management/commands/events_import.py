from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from snapshots.events import EventFileError, events_import


class Command(BaseCommand):
    help = "Load market events (CPI, NFP, unscheduled FOMC meetings, …) from a CSV: day,kind[,time,description]."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--source", default="", help="where the dates came from (stored with each event)")

    def handle(self, *args: Any, file: Path, source: str, **options: Any) -> None:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        try:
            result = events_import(text, source=source or file.name)
        except EventFileError as exc:
            raise CommandError(f"{file}: {exc}; nothing was loaded") from exc
        self.stdout.write(f"{file}: {result.created} added, {result.updated} updated")
