"""The simulated broker wired to the platform: quotes from the latest stored snapshots, its order
book in the database (``SimulatedBrokerOrder``) so every process sees the same orders."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from decimal import Decimal
from typing import Any

from django.utils import timezone

from execution.brokers.base import BrokerOrder, CancelResult, PlaceResult, SpreadOrderRequest
from execution.brokers.simulated import SimOrder, SimulatedBroker
from execution.models import SimulatedBrokerOrder
from strategy.quant.osi import parse_symbol


class _DbBook(MutableMapping[str, SimOrder]):
    """All simulated orders loaded at construction; ``flush`` writes them back after each call."""

    def __init__(self) -> None:
        self._orders: dict[str, SimOrder] = {
            row.broker_order_id: pickle.loads(bytes(row.record)) for row in SimulatedBrokerOrder.objects.all()
        }

    def __getitem__(self, key: str) -> SimOrder:
        return self._orders[key]

    def __setitem__(self, key: str, value: SimOrder) -> None:
        self._orders[key] = value

    def __delitem__(self, key: str) -> None:
        del self._orders[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._orders)

    def __len__(self) -> int:
        return len(self._orders)

    def flush(self) -> None:
        for key, order in self._orders.items():
            SimulatedBrokerOrder.objects.update_or_create(
                broker_order_id=key,
                defaults={"client_tag": order.request.client_tag, "created_at": order.created_at,
                          "record": pickle.dumps(order)},
            )


def snapshot_quote_source(clock: Callable[[], dt.datetime]) -> Callable[[str], tuple[float, float] | None]:
    """(bid, ask) of an option from the latest stored snapshot of its expiration at ``clock()``."""
    from snapshots.models import ChainSnapshot

    cache: dict[int, dict[str, tuple[float, float]]] = {}

    def quote(symbol: str) -> tuple[float, float] | None:
        expiration = parse_symbol(symbol).expiration
        snap = (ChainSnapshot.objects.filter(expiration=expiration, ts__lte=clock())
                .defer("payload_zstd").order_by("-ts").first())
        if snap is None:
            return None
        if snap.pk not in cache:
            full = ChainSnapshot.objects.get(pk=snap.pk)
            cache[snap.pk] = {
                str(o["symbol"]): (float(o["bid"]), float(o["ask"])) for o in full.payload_options()
                if isinstance(o.get("bid"), (int, float)) and isinstance(o.get("ask"), (int, float))
            }
        return cache[snap.pk].get(symbol)

    return quote


class DbSimulatedBroker(SimulatedBroker):
    """``SimulatedBroker`` whose book persists in the database after every call."""

    def __init__(self, *, clock: Callable[[], dt.datetime], **kwargs: Any) -> None:
        self._book = _DbBook()
        super().__init__(snapshot_quote_source(clock), clock=clock, store=self._book,
                         id_prefix=f"sim-{uuid.uuid4().hex[:8]}-", **kwargs)

    def _persisted(self, result: Any) -> Any:
        self._book.flush()
        return result

    def place_spread(self, req: SpreadOrderRequest) -> PlaceResult:
        return self._persisted(super().place_spread(req))

    def get_order(self, broker_order_id: str) -> BrokerOrder:
        return self._persisted(super().get_order(broker_order_id))

    def list_orders(self, *, date: dt.date | None = None) -> list[BrokerOrder]:
        return self._persisted(super().list_orders(date=date))

    def cancel(self, broker_order_id: str) -> CancelResult:
        return self._persisted(super().cancel(broker_order_id))

    def replace_price(self, broker_order_id: str, price: Decimal | float | str) -> None:
        self._persisted(super().replace_price(broker_order_id, price))


def simulated_broker(*, now: dt.datetime | None = None) -> DbSimulatedBroker:
    """The platform's simulated broker; ``now`` pins its clock (a replayed or test day)."""
    clock = (lambda: now) if now is not None else timezone.now
    return DbSimulatedBroker(clock=clock)
