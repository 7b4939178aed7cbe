from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from execution import selectors, services
from execution.brokers.base import BrokerError
from execution.models import Trade
from execution.order_states import OrderState


class Command(BaseCommand):
    help = ("Close an open trade now with a debit limit order: at --price, else at the latest mark's fill-model "
            "debit. One closing order at a time; the order walks and syncs like any other.")

    def add_arguments(self, parser):
        parser.add_argument("trade_id", type=int)
        parser.add_argument("--price", help="debit limit, points per share (e.g. 1.35)")

    def handle(self, *args, trade_id: int, price: str | None, **options):
        trade = Trade.objects.filter(pk=trade_id).first()
        if trade is None:
            raise CommandError(f"no trade {trade_id}")
        if price is not None:
            try:
                limit = Decimal(price)
            except InvalidOperation as exc:
                raise CommandError(f"--price {price!r} is not a number") from exc
            if not limit.is_finite() or limit <= 0:
                raise CommandError("--price must be a positive debit")
        else:
            mark = selectors.latest_mark(trade)
            if mark is None:
                raise CommandError(f"trade {trade_id} has no mark to price the close from; pass --price")
            limit = mark.debit_fill
        order = services.close_order_create(trade, limit_price=limit, reason="manual: operator")
        if order is None:
            trade.refresh_from_db(fields=["status"])
            raise CommandError(f"trade {trade_id} is {trade.status}: nothing to close, "
                               f"or a closing order is already working")
        try:
            order = services.order_submit(order.pk)
        except (BrokerError, ValueError) as exc:
            # The order row and its tag are committed: reconcile_orders finds out what happened.
            raise CommandError(f"closing order {order.client_tag} not confirmed ({exc}); run reconcile_orders") from exc
        self.stdout.write(f"trade {trade_id}: closing order {order.client_tag} at {order.limit_price}: {order.state}")
        if order.state == OrderState.REJECTED:
            raise CommandError(f"rejected: {order.reason}")
