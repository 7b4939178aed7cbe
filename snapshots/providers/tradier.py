"""Tradier market-data client (REST, JSON) built on httpx.

Framework-free on purpose: everything comes in through the constructor, so the Django side
(settings, Celery tasks) wires it up and the tests drive it against a fake server.

Every method here is a *read*, and reads are safe to repeat, which is the only reason ``_get``
retries. Order placement, modification and cancellation must never go through this retry path:
a timeout or 5xx on a POST/PUT/DELETE to ``/accounts/{id}/orders`` may already have placed the
order, and resending it can double the position (see ``shared/reference/tradier.md`` §6.1,
"Idempotency": reconcile by tag first, resend only when nothing matches).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from snapshots.providers.base import (
    CalendarDay,
    ChainResult,
    Expiration,
    MarketClock,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    QuoteSet,
)
from snapshots.providers.parsing import (
    is_auth_fault,
    parse_calendar,
    parse_chain,
    parse_clock,
    parse_expirations,
    parse_quotes,
    raise_for_body_errors,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

REDACTED = "***"  # what a secret is replaced by in reprs, logs and errors
# Enough of a 400 body to explain the refusal without dumping a whole HTML page into an exception.
_MAX_BODY_TEXT = 500


@dataclass(frozen=True)
class RateLimitState:
    """The last ``X-Ratelimit-*`` values seen; any of them is None until a response carried it."""

    allowed: int | None = None
    used: int | None = None
    available: int | None = None
    expiry_ms: int | None = None  # window reset, wall-clock epoch milliseconds


class BearerAuth(httpx.Auth):
    """Adds the bearer token per request, so it lives in one object whose repr hides it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"<BearerAuth token={REDACTED}>"


class _Retry(Exception):
    """Internal signal from ``_check_response``: this attempt failed in a way worth repeating."""

    def __init__(
        self,
        error: ProviderError,
        delay_s: float | None = None,
        *,
        bad_body: bool = False,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay_s = delay_s  # None → use the exponential backoff
        self.bad_body = bad_body
        self.cause = cause  # the transport exception, kept as __cause__ of the final error


def normalise_root(base_url: str) -> str:
    """``https://host/v1/``, ``https://host/v1``, ``https://host/`` and ``https://host`` → ``https://host``.

    Paths are always written as ``/v1/...`` so the ``/v1`` suffix is optional in configuration
    (the sandbox default in Tradier's docs has it, people copying the host name do not).
    """
    url = httpx.URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("base_url must be an absolute http(s) URL, e.g. https://sandbox.tradier.com/v1/")
    path = url.path.rstrip("/")
    if path.lower().endswith("/v1"):
        path = path[: -len("/v1")]
    return str(url.copy_with(path=path or "/", query=None, fragment=None)).rstrip("/")


def _bool_param(value: bool) -> str:
    # Tradier wants the literal strings; Python's "True" is not accepted.
    return "true" if value else "false"


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


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
    window expiry (a wall-clock epoch-ms value, hence ``wall_clock``). Sleeps for rate limits are
    capped at ``max_rate_limit_wait_s`` so a bogus header cannot park a worker for hours.
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
        if not access_token:
            raise ValueError("access_token is required")
        if max_read_retries < 0 or max_bad_body_retries < 0:
            raise ValueError("retry counts must be >= 0")
        self._root = normalise_root(base_url)
        self._token = access_token  # kept only to scrub it from provider-echoed text
        self._max_read_retries = max_read_retries
        self._max_bad_body_retries = min(max_bad_body_retries, max_read_retries)
        self._backoff_base_s = backoff_base_s
        self._max_backoff_s = max_backoff_s
        self._max_rate_limit_wait_s = max_rate_limit_wait_s
        self._throttle_low_water = throttle_low_water
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rate_lock = threading.Lock()
        self._rate = RateLimitState()
        self._http = httpx.Client(
            base_url=self._root,
            auth=BearerAuth(access_token),
            headers={"Accept": "application/json"},  # without it Tradier answers in XML
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"TradierClient(base_url={self._root + '/v1/'!r}, access_token={REDACTED!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TradierClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def rate_limit(self) -> RateLimitState:
        with self._rate_lock:
            return self._rate

    # ------------------------------------------------------------------ public reads

    def expirations(self, symbol: str, *, include_all_roots: bool = True, strikes: bool = False) -> list[Expiration]:
        params = {
            "symbol": symbol,
            "includeAllRoots": _bool_param(include_all_roots),
            "strikes": _bool_param(strikes),
        }
        return self._fetch("markets/options/expirations", params, parse_expirations)

    def chain(self, symbol: str, expiration: dt.date, *, greeks: bool = True) -> ChainResult:
        params = {"symbol": symbol, "expiration": expiration.isoformat(), "greeks": _bool_param(greeks)}

        def parse(payload: Any) -> ChainResult:
            received_at = dt.datetime.fromtimestamp(self._wall_clock(), tz=dt.UTC)
            return parse_chain(payload, underlying=symbol, expiration=expiration, received_at=received_at)

        return self._fetch("markets/options/chains", params, parse)

    def quotes(self, symbols: Sequence[str], *, greeks: bool = False) -> QuoteSet:
        # A bare string is a Sequence[str] too; without this "SPX" would be sent as "S,P,X".
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        if not wanted:
            return QuoteSet()
        params = {"symbols": ",".join(wanted), "greeks": _bool_param(greeks)}
        return self._fetch("markets/quotes", params, lambda payload: parse_quotes(payload, wanted))

    def clock(self) -> MarketClock:
        return self._fetch("markets/clock", {}, parse_clock)

    def calendar(self, month: int, year: int) -> list[CalendarDay]:
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1..12, got {month}")
        return self._fetch("markets/calendar", {"month": str(month), "year": str(year)}, parse_calendar)

    # ------------------------------------------------------------------ request machinery

    def _fetch(self, path: str, params: Mapping[str, str], parse: Callable[[Any], T]) -> T:
        """GET + parse, with the token scrubbed from any provider text that ends up in an error.

        This is the one place errors are scrubbed: a provider may echo the token in a 400/401 body,
        an ``errors.error`` string or a fault, and all of those surface as ProviderErrors here.
        """
        try:
            return parse(self._get(path, params))
        except ProviderError as exc:
            message = str(exc)
            if self._token not in message:
                raise
            scrubbed = type(exc)(message.replace(self._token, REDACTED))
        # Raised outside the except block so the original (unscrubbed) exception is not attached
        # as __context__, where error reporters would print it.
        raise scrubbed

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        """One read: throttle, send, classify, retry; returns the decoded JSON body."""
        url_path = f"/v1/{path}"
        attempt = 0
        bad_bodies = 0
        while True:
            attempt += 1
            self._throttle(url_path)
            started = self._clock()
            try:
                response = self._http.get(url_path, params=params)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                elapsed = self._clock() - started
                logger.warning(
                    "tradier GET %s failed: %s after %.3fs (attempt %d)", url_path, type(exc).__name__, elapsed, attempt
                )
                retry = _Retry(ProviderUnavailable(f"GET {url_path}: {type(exc).__name__}"), cause=exc)
            else:
                elapsed = self._clock() - started
                logger.debug(
                    "tradier GET %s -> %d in %.3fs (attempt %d)", url_path, response.status_code, elapsed, attempt
                )
                self._track_rate_limit(response.headers)
                try:
                    return self._check_response(url_path, response)
                except _Retry as signal:
                    retry = signal

            if retry.bad_body:
                bad_bodies += 1
            if attempt > self._max_read_retries or bad_bodies > self._max_bad_body_retries:
                error = retry.error
                plural = "s" if attempt > 1 else ""
                raise type(error)(f"{error} (gave up after {attempt} attempt{plural})") from retry.cause
            delay = retry.delay_s if retry.delay_s is not None else self._backoff(attempt)
            logger.warning("tradier GET %s: retrying in %.3fs (%s)", url_path, delay, type(retry.error).__name__)
            self._sleep(delay)

    def _check_response(self, url_path: str, response: httpx.Response) -> Any:
        """Decoded body on success; raises permanent ProviderErrors or ``_Retry`` for transient ones."""
        status = response.status_code
        if status in (401, 403):
            raise ProviderAuthError(f"GET {url_path}: HTTP {status} {self._body_text(response)}".rstrip())
        if status == 429:
            delay = self._rate_limit_delay(response.headers)
            raise _Retry(ProviderUnavailable(f"GET {url_path}: HTTP 429 rate limited"), delay)
        if status >= 500:
            if is_auth_fault(self._json_or_none(response)):
                raise ProviderAuthError(f"GET {url_path}: HTTP {status} {self._body_text(response)}")
            raise _Retry(ProviderUnavailable(f"GET {url_path}: HTTP {status}"), self._retry_after(response.headers))
        if not response.is_success:
            # 400 (and any other refusal) explains itself in the body, often as plain text.
            raise ProviderRequestError(f"GET {url_path}: HTTP {status} {self._body_text(response)}".rstrip())

        try:
            payload = response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            content_type = response.headers.get("Content-Type", "unknown")
            error = ProviderBadResponse(
                f"GET {url_path}: HTTP {status} body is not JSON ({content_type}, {len(response.content)} bytes)"
            )
            raise _Retry(error, bad_body=True) from None
        try:
            raise_for_body_errors(payload)
        except ProviderUnavailable as exc:  # non-auth gateway fault, e.g. "Datastore Error"
            raise _Retry(exc) from None
        return payload

    # ------------------------------------------------------------------ rate limits and backoff

    def _track_rate_limit(self, headers: httpx.Headers) -> None:
        available = _int_header(headers, "X-Ratelimit-Available")
        expiry_ms = _int_header(headers, "X-Ratelimit-Expiry")
        if available is None and expiry_ms is None:
            return
        with self._rate_lock:
            self._rate = RateLimitState(
                allowed=_int_header(headers, "X-Ratelimit-Allowed"),
                used=_int_header(headers, "X-Ratelimit-Used"),
                available=available,
                expiry_ms=expiry_ms,
            )

    def _throttle(self, url_path: str) -> None:
        """Before a request: if the window is used up, wait for it to reset instead of earning a 429."""
        with self._rate_lock:
            state = self._rate
            if state.available is None or state.expiry_ms is None or state.available > self._throttle_low_water:
                return
            # Forget the exhausted window: once we have waited for it, its numbers are stale and
            # must not make the following request wait again.
            self._rate = RateLimitState(allowed=state.allowed)
        wait = min(state.expiry_ms / 1000.0 - self._wall_clock(), self._max_rate_limit_wait_s)
        if wait > 0:
            logger.info(
                "tradier GET %s: %d requests left in window, waiting %.3fs for reset", url_path, state.available, wait
            )
            self._sleep(wait)

    def _rate_limit_delay(self, headers: httpx.Headers) -> float | None:
        """Wait after a 429: until X-Ratelimit-Expiry and/or per Retry-After (the later of the two)."""
        candidates: list[float] = []
        expiry_ms = _int_header(headers, "X-Ratelimit-Expiry")
        if expiry_ms is not None:
            candidates.append(expiry_ms / 1000.0 - self._wall_clock())
        retry_after = self._retry_after(headers)
        if retry_after is not None:
            candidates.append(retry_after)
        candidates = [c for c in candidates if c > 0]
        if not candidates:
            return None
        with self._rate_lock:
            # This sleep already covers the window; keep _throttle from sleeping for it a second time.
            self._rate = RateLimitState(allowed=self._rate.allowed)
        return min(max(candidates), self._max_rate_limit_wait_s)

    def _retry_after(self, headers: httpx.Headers) -> float | None:
        value = headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = when.timestamp() - self._wall_clock()
        return min(max(seconds, 0.0), self._max_rate_limit_wait_s)

    def _backoff(self, attempt: int) -> float:
        return min(self._backoff_base_s * 2.0 ** (attempt - 1), self._max_backoff_s)

    # ------------------------------------------------------------------ body helpers

    @staticmethod
    def _json_or_none(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    @staticmethod
    def _body_text(response: httpx.Response) -> str:
        """The body for an error message, trimmed (``_fetch`` scrubs the token if it was echoed)."""
        text = response.text.strip()
        return text[:_MAX_BODY_TEXT] + "…" if len(text) > _MAX_BODY_TEXT else text
