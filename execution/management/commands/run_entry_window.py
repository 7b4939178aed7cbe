from django.core.management.base import BaseCommand, CommandError

from execution.services import entry_window_trade
from snapshots.cli import parse_at


class Command(BaseCommand):
    help = "Decide every enabled strategy config at an entry window, e.g. --at 2026-11-20T10:00 (New York time)."

    def add_arguments(self, parser):
        parser.add_argument("--at", required=True, help="the window, ISO; New York time unless it carries an offset")
        parser.add_argument("--no-capture", action="store_true", help="decide from stored snapshots only")

    def handle(self, *args, at: str, no_capture: bool, **options):
        when = parse_at(at)
        try:
            result = entry_window_trade(at=when, capture=not no_capture)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{result.trading_day} {result.entry_window:%H:%M} ET, source {result.source}: "
                          f"{len(result.created)} new, {len(result.existing)} already decided"
                          + (f" — {result.skipped_reason}" if result.skipped_reason else ""))
        for d in result.decisions:
            credit = f" credit {d.credit_fill}" if d.credit_fill is not None else ""
            legs = " / ".join(f"{leg['side']} {leg['strike']:g}" for leg in d.legs)
            self.stdout.write(f"  {d.strategy_config.name:<16} {d.action:<5} {d.reason_code:<24}{credit} {legs}")
