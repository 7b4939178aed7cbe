import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from snapshots.cli import parse_at
from snapshots.providers.base import ProviderError
from snapshots.services import snapshot_capture


class Command(BaseCommand):
    help = "Capture SPX chain snapshots for the DTE targets now (or --at a time, simulated market only)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="ignore the session hours; fall back to the closest expiration")
        parser.add_argument("--at", help="ISO time to capture at, e.g. 2026-11-20T10:00 (New York time if no offset)")

    def handle(self, *args, force: bool, at: str | None, **options):
        now = parse_at(at) if at else timezone.now()
        try:
            result = snapshot_capture(now=now, force=force)
        except ProviderError as exc:
            raise CommandError(f"provider failed: {exc}") from exc
        self.stdout.write(json.dumps(result.as_dict(), indent=2, default=str))
        if result.failures and not result.inserted and not result.existing:
            raise CommandError("no snapshot captured")
