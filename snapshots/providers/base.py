"""The provider interface shared by the Tradier client and the simulated market.

Both return the same dataclasses, built by the same parsers (``parsing.py``) from Tradier-shaped
JSON, so everything downstream reads one format whichever provider produced it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A market-data call failed. The message never contains the access token."""


class ProviderUnavailable(ProviderError):
    """Transient: timeout, connection error, 429 or 5xx after the read retries. Worth retrying later."""


class ProviderAuthError(ProviderError):
    """401, or a gateway fault such as an expired access token. Retrying will not help."""


class ProviderBadResponse(ProviderError):
    """The body was not the JSON we expected (HTML maintenance page, truncated JSON, wrong shape)."""


class ProviderRequestError(ProviderError):
    """The provider refused the request: HTTP 400, or ``{"errors": {"error": ...}}`` inside a 200."""


@dataclass(frozen=True)
class Expiration:
    date: dt.date
    strikes: tuple[float, ...] | None = None
    expiration_type: str | None = None
    contract_size: int | None = None


@dataclass(frozen=True)
class ChainResult:
    """One expiration's chain: the decoded body exactly as received plus the normalised options.

    ``payload`` is what gets stored (its canonical JSON is checksummed); ``options`` is the
    ``options.option`` collection turned into a list and sorted by (strike, option_type, symbol).
    """

    underlying: str
    expiration: dt.date
    payload: Any
    options: list[dict[str, Any]]
    received_at: dt.datetime


@dataclass(frozen=True)
class MarketClock:
    date: dt.date
    state: str  # premarket | open | postmarket | closed
    timestamp: dt.datetime  # UTC
    next_change: str | None = None  # "HH:MM" ET
    next_state: str | None = None
    description: str = ""


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    status: str  # open | closed
    description: str = ""
    open_start: str | None = None  # "HH:MM" ET
    open_end: str | None = None


@dataclass(frozen=True)
class QuoteSet:
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)  # by symbol
    unmatched: tuple[str, ...] = ()


class MarketDataProvider(Protocol):
    name: str  # "tradier" | "simulated"

    def expirations(
        self, symbol: str, *, include_all_roots: bool = True, strikes: bool = False
    ) -> list[Expiration]: ...

    def chain(self, symbol: str, expiration: dt.date, *, greeks: bool = True) -> ChainResult: ...

    def quotes(self, symbols: Sequence[str], *, greeks: bool = False) -> QuoteSet: ...

    def clock(self) -> MarketClock: ...

    def calendar(self, month: int, year: int) -> list[CalendarDay]: ...
