from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from execution import selectors, services
from execution.brokers.base import BrokerError
from snapshots.cli import parse_at
from snapshots.providers.base import ProviderError
from snapshots.services import settlement_value_get


class Command(BaseCommand):
    help = ("Mark every open trade from the latest snapshot of its expiration (a TP/SL signal sends the closing "
            "order) and cash-settle what has expired, as the positions_mark task does every 5 minutes.")

    def add_arguments(self, parser):
        parser.add_argument("--at", help="ISO time to mark at, e.g. 2026-11-20T10:30 "
                                         "(New York time if no offset); default now")

    def handle(self, *args, at: str | None, **options):
        when = parse_at(at) if at else timezone.now()
        try:
            broker = services.broker_get(now=when)  # pins the simulated broker's clock to --at
            marked = services.positions_mark(at=when, broker=broker)
        except (BrokerError, ValueError) as exc:
            raise CommandError(f"broker failed: {exc}") from exc
        try:
            settled = services.trades_settle(now=when, settlement_value=settlement_value_get)
        except ProviderError as exc:  # the marks above are stored; settlement waits for the next run
            raise CommandError(f"marked {marked} trade(s); settlement value unavailable: {exc}") from exc
        self.stdout.write(f"marked {marked} trade(s) at {timezone.localtime(when):%Y-%m-%d %H:%M} ET; "
                          f"settled {len(settled)}")
        for position in selectors.open_positions():
            trade, mark = position.trade, position.mark
            if mark is None:
                last = "no mark yet"
            else:
                last = (f"debit {mark.debit_fill} at {timezone.localtime(mark.ts):%m-%d %H:%M} ET, "
                        f"unrealized {mark.unrealized_pnl_usd} USD" + (f", {mark.signal}" if mark.signal else ""))
            self.stdout.write(f"  trade {trade.pk} {trade.strategy_config.name} [{trade.status}]: {last}")
