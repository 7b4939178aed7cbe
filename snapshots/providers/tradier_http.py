"""HTTP plumbing shared by the Tradier market-data client and the Tradier order broker (httpx).

Framework-free: every value (URL, token, timeouts, clocks, logger) is passed in by the caller.

Two ways to send, with different rules (``shared/reference/tradier.md`` §6.1, "Idempotency"):

- ``TradierHttp.read`` is for GETs, which are safe to repeat: it throttles on ``X-Ratelimit-*``,
  retries timeouts, connection errors, 429, 5xx, non-JSON bodies and non-auth gateway faults with
  backoff, and scrubs the token from any error text.
- ``TradierHttp.send_once`` is for writes (order POST/PUT/DELETE): one request, never retried,
  never throttled. A timeout or 5xx on an order may already have placed it, and resending could
  double the position; what such an outcome means is the caller's decision.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from snapshots.providers.base import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
)
from snapshots.providers.parsing import is_auth_fault, raise_for_body_errors

T = TypeVar("T")

REDACTED = "***"  # what a secret is replaced by in reprs, logs and errors
# Enough of an error body to explain a refusal without dumping a whole HTML page into an exception.
MAX_BODY_TEXT = 500

# How a read's response is judged: ``check(url_path, response)`` returns the decoded body, raises
# a permanent error, or raises ``RetryableFailure`` for a transient one. ``TradierHttp.check_read``
# is the default; callers wrap it to add their own readings (e.g. a 404 meaning "no such order").
ResponseCheck = Callable[[str, httpx.Response], Any]


@dataclass(frozen=True)
class RateLimitState:
    """The last ``X-Ratelimit-*`` values seen; any of them is None until a response carried it."""

    allowed: int | None = None
    used: int | None = None
    available: int | None = None
    expiry_ms: int | None = None  # window reset, wall-clock epoch milliseconds (the broker's clock)
    # The same instant on this process's monotonic clock, fixed when the header arrived: waits are
    # measured against it, so a later step of the wall clock (NTP) cannot stretch or skip one.
    resets_at_monotonic: float | None = field(default=None, compare=False)


class BearerAuth(httpx.Auth):
    """Adds the bearer token per request, so it lives in one object whose repr hides it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return f"<BearerAuth token={REDACTED}>"


class RetryableFailure(Exception):
    """Raised by a ``ResponseCheck``: this attempt failed in a way worth repeating (reads only).

    ``error`` is raised once the retries are used up; ``delay_s`` overrides the exponential
    backoff; ``bad_body`` counts the attempt against the (smaller) bad-body budget; ``cause`` is
    kept as the final error's ``__cause__``.
    """

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
        self.delay_s = delay_s
        self.bad_body = bad_body
        self.cause = cause


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


def api_path(path: str) -> str:
    """``markets/clock`` → ``/v1/markets/clock``, the path as sent and as written in logs and errors."""
    return f"/v1/{path}"


def json_or_none(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def body_text(response: httpx.Response) -> str:
    """The body for an error message, stripped and cut to ``MAX_BODY_TEXT`` (not scrubbed)."""
    text = response.text.strip()
    return text[:MAX_BODY_TEXT] + "…" if len(text) > MAX_BODY_TEXT else text


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


class TradierHttp:
    """One httpx client (base URL, bearer auth, JSON, timeouts, no redirects) and Tradier's rules.

    Read retry policy: timeouts, connection errors and whatever the check raises as
    ``RetryableFailure`` (429, 5xx, non-auth gateway faults) are retried up to
    ``max_read_retries`` times (at most ``max_read_retries + 1`` requests), then the error is
    raised. A body that is not JSON is retried at most ``max_bad_body_retries`` times. Backoff is
    ``backoff_base_s · 2^(attempt-1)``, capped at ``max_backoff_s``.

    Throttling: ``X-Ratelimit-Available``/``X-Ratelimit-Expiry`` are tracked from every read;
    once Available is at or below ``throttle_low_water`` the next read first sleeps until the
    window expiry (a wall-clock epoch-ms value, hence ``wall_clock``, read once as the header
    arrives; the wait runs on the monotonic ``clock``, so a stepped wall clock cannot change it). Rate-limit sleeps are capped
    at ``max_rate_limit_wait_s`` so a bogus header cannot park a worker for hours.

    ``transport`` None means httpx's default (environment proxies honoured); ``logger`` receives
    the request logs (defaults to this module's).
    """

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        max_read_retries: int = 3,
        max_bad_body_retries: int = 2,
        backoff_base_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_rate_limit_wait_s: float = 65.0,
        throttle_low_water: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        logger: logging.Logger | None = None,
    ) -> None:
        if not access_token:
            raise ValueError("access_token is required")
        if max_read_retries < 0 or max_bad_body_retries < 0:
            raise ValueError("retry counts must be >= 0")
        self.root = normalise_root(base_url)  # ``https://host``, no ``/v1``
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
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._rate_lock = threading.Lock()
        self._rate = RateLimitState()
        self._client = httpx.Client(
            base_url=self.root,
            auth=BearerAuth(access_token),
            headers={"Accept": "application/json"},  # without it Tradier answers in XML
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,  # a redirected POST could be re-sent as a GET, or elsewhere
        )

    def __repr__(self) -> str:
        return f"TradierHttp(base_url={self.root + '/v1/'!r}, access_token={REDACTED!r})"

    def close(self) -> None:
        """Close the connection pool (and the transport)."""
        self._client.close()

    @property
    def rate_limit(self) -> RateLimitState:
        """The last rate-limit headers seen on a read."""
        with self._rate_lock:
            return self._rate

    def scrub(self, text: str) -> str:
        """``text`` with the access token replaced by ``REDACTED``."""
        return text.replace(self._token, REDACTED)

    # ------------------------------------------------------------------ reads

    def read(
        self,
        path: str,
        params: Mapping[str, str],
        parse: Callable[[Any], T],
        *,
        check: ResponseCheck | None = None,
    ) -> T:
        """GET ``/v1/{path}`` (throttled, retried), judged by ``check`` (default ``check_read``), parsed.

        This is the one place read errors are scrubbed: a provider may echo the token in a 400/401
        body, an ``errors.error`` string or a fault, and all of those, as well as ``parse``'s
        errors, surface as ProviderErrors here. Non-Provider errors raised by ``check`` or
        ``parse`` pass through untouched.
        """
        try:
            return parse(self._get(api_path(path), params, check or self.check_read))
        except ProviderError as exc:
            message = str(exc)
            if self._token not in message:
                raise
            scrubbed = type(exc)(self.scrub(message))
        # Raised outside the except block so the original (unscrubbed) exception is not attached
        # as __context__, where error reporters would print it.
        raise scrubbed

    def check_read(self, url_path: str, response: httpx.Response) -> Any:
        """The default ``ResponseCheck``: decoded body on success, else a ProviderError.

        401/403 and token faults raise ProviderAuthError; 400 (and other refusals) and
        ``errors.error`` in a 200 body raise ProviderRequestError. 429, 5xx, non-JSON bodies and
        other gateway faults raise ``RetryableFailure`` (429 waits for the rate-limit window).
        """
        status = response.status_code
        if status in (401, 403):
            raise ProviderAuthError(f"GET {url_path}: HTTP {status} {body_text(response)}".rstrip())
        if status == 429:
            delay = self._rate_limit_delay(response.headers)
            raise RetryableFailure(ProviderUnavailable(f"GET {url_path}: HTTP 429 rate limited"), delay)
        if status >= 500:
            if is_auth_fault(json_or_none(response)):
                raise ProviderAuthError(f"GET {url_path}: HTTP {status} {body_text(response)}")
            raise RetryableFailure(
                ProviderUnavailable(f"GET {url_path}: HTTP {status}"), self._retry_after(response.headers)
            )
        if not response.is_success:
            # 400 (and any other refusal) explains itself in the body, often as plain text.
            raise ProviderRequestError(f"GET {url_path}: HTTP {status} {body_text(response)}".rstrip())

        try:
            payload = response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type", "unknown")
            error = ProviderBadResponse(
                f"GET {url_path}: HTTP {status} body is not JSON ({content_type}, {len(response.content)} bytes)"
            )
            raise RetryableFailure(error, bad_body=True) from None
        try:
            raise_for_body_errors(payload)
        except ProviderUnavailable as exc:  # non-auth gateway fault, e.g. "Datastore Error"
            raise RetryableFailure(exc) from None
        return payload

    def _get(self, url_path: str, params: Mapping[str, str], check: ResponseCheck) -> Any:
        """One read: throttle, send, check, retry; returns what ``check`` returned."""
        attempt = 0
        bad_bodies = 0
        while True:
            attempt += 1
            self._throttle(url_path)
            started = self._clock()
            try:
                response = self._client.get(url_path, params=params)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                elapsed = self._clock() - started
                self._log.warning(
                    "tradier GET %s failed: %s after %.3fs (attempt %d)", url_path, type(exc).__name__, elapsed, attempt
                )
                retry = RetryableFailure(ProviderUnavailable(f"GET {url_path}: {type(exc).__name__}"), cause=exc)
            else:
                elapsed = self._clock() - started
                self._log.debug(
                    "tradier GET %s -> %d in %.3fs (attempt %d)", url_path, response.status_code, elapsed, attempt
                )
                self._track_rate_limit(response.headers)
                try:
                    return check(url_path, response)
                except RetryableFailure as signal:
                    retry = signal

            if retry.bad_body:
                bad_bodies += 1
            if attempt > self._max_read_retries or bad_bodies > self._max_bad_body_retries:
                error = retry.error
                plural = "s" if attempt > 1 else ""
                raise type(error)(f"{error} (gave up after {attempt} attempt{plural})") from retry.cause
            delay = retry.delay_s if retry.delay_s is not None else self._backoff(attempt)
            self._log.warning("tradier GET %s: retrying in %.3fs (%s)", url_path, delay, type(retry.error).__name__)
            self._sleep(delay)

    # ------------------------------------------------------------------ writes

    def send_once(self, method: str, path: str, form: Mapping[str, str] | None = None) -> httpx.Response:
        """Send ``method /v1/{path}`` (form-encoded if ``form``) exactly once and return the response.

        No retry, no throttle, no status check, and its rate-limit headers are not tracked (order
        writes count against Tradier's separate Trading bucket, tradier.md §2). httpx exceptions
        propagate; they carry the request, whose headers hold the token, so callers should not
        chain them into their own.
        """
        url_path = api_path(path)
        if form is None:
            return self._client.request(method, url_path)
        return self._client.request(method, url_path, data=dict(form))

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
                resets_at_monotonic=None if expiry_ms is None else self._clock() + self._until_epoch_s(expiry_ms),
            )

    def _throttle(self, url_path: str) -> None:
        """Before a read: if the window is used up, wait for it to reset instead of earning a 429."""
        with self._rate_lock:
            state = self._rate
            if (state.available is None or state.resets_at_monotonic is None
                    or state.available > self._throttle_low_water):
                return
            # Forget the exhausted window: once we have waited for it, its numbers are stale and
            # must not make the following request wait again.
            self._rate = RateLimitState(allowed=state.allowed)
        # Monotonic: the wall clock may have been stepped since the header arrived (B5 #55).
        wait = min(state.resets_at_monotonic - self._clock(), self._max_rate_limit_wait_s)
        if wait > 0:
            self._log.info(
                "tradier GET %s: %d requests left in window, waiting %.3fs for reset", url_path, state.available, wait
            )
            self._sleep(wait)

    def _rate_limit_delay(self, headers: httpx.Headers) -> float | None:
        """Wait after a 429: until X-Ratelimit-Expiry and/or per Retry-After (the later of the two)."""
        candidates: list[float] = []
        expiry_ms = _int_header(headers, "X-Ratelimit-Expiry")
        if expiry_ms is not None:
            candidates.append(self._until_epoch_s(expiry_ms))
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

    def _until_epoch_s(self, epoch_ms: int) -> float:
        """Seconds from now until the broker's epoch instant ``epoch_ms``: the one place a wait is
        derived from the wall clock, read once as the header arrives and then held as a duration."""
        return epoch_ms / 1000.0 - self._wall_clock()

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
