from django.core.management.base import BaseCommand, CommandError

from execution import services
from execution.brokers.base import BrokerError


class Command(BaseCommand):
    help = ("Resolve every in-flight order with the broker: send orders still `new`, look the others up by id or "
            "client tag (what each worker does once before its first trading job).")

    def handle(self, *args, **options):
        try:
            counts = services.orders_reconcile()
            unmatched = services.broker_orders_unmatched()
        except (BrokerError, ValueError) as exc:
            raise CommandError(f"reconciliation stopped: {exc}") from exc
        self.stdout.write(f"reconciled: {counts['submitted']} submitted, {counts['synced']} synced; "
                          f"at the broker but unknown here: {unmatched['orphans']} with our tag, "
                          f"{unmatched['external']} external; "
                          f"{unmatched['adopted']} newly adopted (see the log and the adopted orders in the admin)")
