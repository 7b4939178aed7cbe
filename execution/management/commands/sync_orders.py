from django.core.management.base import BaseCommand, CommandError

from execution import services
from execution.brokers.base import BrokerError
from execution.models import Order


class Command(BaseCommand):
    help = ("Sync every working order with the broker (state, fills, the trade they move) and walk unfilled "
            "limits one step, as the orders_sync task does each minute. New orders are sent by reconcile_orders.")

    def handle(self, *args, **options):
        try:
            broker = services.broker_get()
        except (BrokerError, ValueError) as exc:
            raise CommandError(f"broker unavailable: {exc}") from exc
        working = Order.objects.filter(state__in=services.WORKING).order_by("pk")
        order_ids = list(working.values_list("pk", flat=True))
        failed = 0
        for order_id in order_ids:
            try:
                services.order_sync(order_id, broker=broker)
                order = services.order_walk(order_id, broker=broker)
            except BrokerError as exc:  # one broker failure must not stop the others from syncing
                failed += 1
                self.stderr.write(f"order {order_id}: {exc}")
                continue
            self.stdout.write(f"{order.client_tag} {order.purpose} {order.order_type} {order.limit_price}: {order.state}, "
                              f"filled {order.filled_quantity}/{order.quantity}")
        self.stdout.write(f"{len(order_ids)} working order(s) synced")
        if failed:
            raise CommandError(f"{failed} order(s) could not be synced")
