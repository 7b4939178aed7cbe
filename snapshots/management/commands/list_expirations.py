from django.core.management.base import BaseCommand, CommandError

from snapshots.providers.base import ProviderError
from snapshots.services import provider_get


class Command(BaseCommand):
    help = "List the option expirations the market-data provider has for a symbol (all roots)."

    def add_arguments(self, parser):
        parser.add_argument("--symbol", default="SPX")

    def handle(self, *args, symbol: str, **options):
        provider = provider_get()
        try:
            expirations = provider.expirations(symbol.upper(), include_all_roots=True)
        except ProviderError as exc:
            raise CommandError(f"provider failed: {exc}") from exc
        self.stdout.write(f"{len(expirations)} expirations for {symbol.upper()} from {provider.name}")
        for e in expirations:
            self.stdout.write(e.date.isoformat())
