"""Tradier market-data client (REST, JSON) built on httpx.

Framework-free on purpose: everything comes in through the constructor, so the Django side
(settings, Celery tasks) wires it up and the tests drive it against a fake server.

Every method here is a *read*, and reads are safe to repeat, which is the only reason they go
through ``TradierHttp.read`` (``tradier_http.py``), which retries. Order placement, modification
and cancellation never do: a timeout or 5xx on a POST/PUT/DELETE to ``/accounts/{id}/orders`` may
already have placed the order, and resending it can double the position (see
``shared/reference/tradier.md`` §6.1, "Idempotency": reconcile by tag first, resend only when
nothing matches); the broker sends those with ``TradierHttp.send_once``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from snapshots.providers.base import CalendarDay, ChainResult, Expiration, MarketClock, QuoteSet
from snapshots.providers.parsing import (
    parse_calendar,
    parse_chain,
    parse_clock,
    parse_expirations,
    parse_quotes,
)
from snapshots.providers.tradier_http import REDACTED, RateLimitState, TradierHttp

__all__ = ["RateLimitState", "TradierClient"]  # RateLimitState: the type of TradierClient.rate_limit

logger = logging.getLogger(__name__)


def _bool_param(value: bool) -> str:
    # Tradier wants the literal strings; Python's "True" is not accepted.
    return "true" if value else "false"


class TradierClient:
    """Market-data reads against Tradier (production or sandbox), implementing ``MarketDataProvider``.

    Retry policy (reads only): timeouts, connection errors, 429, 5xx and non-auth gateway faults
    are retried up to ``max_read_retries`` times (so at most ``max_read_retries + 1`` requests),
    then raise ProviderUnavailable. A body that is not JSON (HTML maintenance page, truncated
    JSON) is retried at most ``max_bad_body_retries`` times, then raises ProviderBadResponse.
    401/403 and token faults raise ProviderAuthError at once; 400 and ``errors.error`` bodies
    raise ProviderRequestError at once.

    Throttling: ``X-Ratelimit-Available``/``X-Ratelimit-Expiry`` are tracked from every response;
    once Available is at or below ``throttle_low_water`` the next request first sleeps until the
    window expiry (a wall-clock epoch-ms value, hence ``wall_clock``, read once as the header
    arrives; the wait runs on the monotonic ``clock``, so a stepped wall clock cannot change it). Sleeps for rate limits are
    capped at ``max_rate_limit_wait_s`` so a bogus header cannot park a worker for hours.
    All of this is ``tradier_http.TradierHttp``; request logs go to this module's logger.
    """

    name = "tradier"

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        timeout_s: float = 10.0,
        max_read_retries: int = 3,
        backoff_base_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
        max_bad_body_retries: int = 2,
        throttle_low_water: int = 0,
        max_backoff_s: float = 30.0,
        max_rate_limit_wait_s: float = 65.0,
    ) -> None:
        self._wall_clock = wall_clock
        self._http = TradierHttp(
            base_url,
            access_token,
            timeout_s=timeout_s,
            transport=transport,
            max_read_retries=max_read_retries,
            max_bad_body_retries=max_bad_body_retries,
            backoff_base_s=backoff_base_s,
            max_backoff_s=max_backoff_s,
            max_rate_limit_wait_s=max_rate_limit_wait_s,
            throttle_low_water=throttle_low_water,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
            logger=logger,
        )

    def __repr__(self) -> str:
        return f"TradierClient(base_url={self._http.root + '/v1/'!r}, access_token={REDACTED!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TradierClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def rate_limit(self) -> RateLimitState:
        return self._http.rate_limit

    # ------------------------------------------------------------------ public reads

    def expirations(self, symbol: str, *, include_all_roots: bool = True, strikes: bool = False) -> list[Expiration]:
        params = {
            "symbol": symbol,
            "includeAllRoots": _bool_param(include_all_roots),
            "strikes": _bool_param(strikes),
        }
        return self._http.read("markets/options/expirations", params, parse_expirations)

    def chain(self, symbol: str, expiration: dt.date, *, greeks: bool = True) -> ChainResult:
        params = {"symbol": symbol, "expiration": expiration.isoformat(), "greeks": _bool_param(greeks)}

        def parse(payload: Any) -> ChainResult:
            received_at = dt.datetime.fromtimestamp(self._wall_clock(), tz=dt.UTC)
            return parse_chain(payload, underlying=symbol, expiration=expiration, received_at=received_at)

        return self._http.read("markets/options/chains", params, parse)

    def quotes(self, symbols: Sequence[str], *, greeks: bool = False) -> QuoteSet:
        # A bare string is a Sequence[str] too; without this "SPX" would be sent as "S,P,X".
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        if not wanted:
            return QuoteSet()
        params = {"symbols": ",".join(wanted), "greeks": _bool_param(greeks)}
        return self._http.read("markets/quotes", params, lambda payload: parse_quotes(payload, wanted))

    def clock(self) -> MarketClock:
        return self._http.read("markets/clock", {}, parse_clock)

    def calendar(self, month: int, year: int) -> list[CalendarDay]:
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1..12, got {month}")
        return self._http.read("markets/calendar", {"month": str(month), "year": str(year)}, parse_calendar)
