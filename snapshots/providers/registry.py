"""Market-data providers by name (``MARKET_DATA_PROVIDER``), registered rather than imported by name.

A provider is registered with a factory ``(now) -> provider`` (``now`` pins a replaying provider's
clock to the capture time; a live one ignores it) and, optionally, a settlement function
``(expiration, root, now) -> (value, source) | None`` for the settlement values it can give. This
app registers Tradier and the simulated market (``snapshots.apps``); an app higher up registers its
own (the OPRA replay of imported data: ``backtests.apps``), so this app never imports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from snapshots.providers.base import MarketDataProvider

ProviderFactory = Callable[[dt.datetime | None], MarketDataProvider]
SettlementFn = Callable[[dt.date, str, dt.datetime], "tuple[float, str] | None"]


@dataclass(frozen=True)
class Registered:
    name: str
    factory: ProviderFactory
    settlement: SettlementFn | None = None


_providers: dict[str, Registered] = {}


def register(name: str, factory: ProviderFactory, *, settlement: SettlementFn | None = None) -> None:
    """Make ``name`` a valid ``MARKET_DATA_PROVIDER`` (registering a name again replaces it)."""
    _providers[name] = Registered(name, factory, settlement)


def get(name: str) -> Registered:
    try:
        return _providers[name]
    except KeyError:
        known = ", ".join(sorted(_providers)) or "none"
        raise ValueError(f"unknown MARKET_DATA_PROVIDER {name!r} (registered: {known})") from None


def names() -> list[str]:
    return sorted(_providers)
