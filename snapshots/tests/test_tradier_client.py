"""TradierClient against the fake Tradier server (real sockets, recorded fixture bodies).

Time is injected (``FakeTime``) so backoff and rate-limit waits are asserted exactly and never
really slept; only the socket timeouts are real, and they are kept at 0.2 s.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from snapshots.providers.base import (
    MarketDataProvider,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
)
from snapshots.providers.tradier import RateLimitState, TradierClient
from snapshots.tests import fake_tradier as ft
from snapshots.tests.fake_tradier import FakeTradier

# The recorded chain's Date header (Fri 2024-06-28 16:06:02 GMT); its X-Ratelimit-Expiry is the
# next minute boundary, 1719590820000 ms.
RECORDED_AT = 1_719_590_762.0
FAST_TIMEOUT_S = 0.2


class FakeTime:
    """Monotonic clock, wall clock and sleep that move together; sleeps are recorded, not slept."""

    def __init__(self, wall: float = RECORDED_AT) -> None:
        self.mono = 1000.0
        self.wall = wall
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        self.mono += seconds
        self.wall += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


ClientFactory = Callable[..., TradierClient]


@pytest.fixture
def make_client(fake_tradier: FakeTradier, fake_time: FakeTime) -> Iterator[ClientFactory]:
    created: list[TradierClient] = []

    def make(**overrides: Any) -> TradierClient:
        kwargs: dict[str, Any] = {
            "base_url": fake_tradier.base_url,
            "access_token": fake_tradier.token,
            # Generous for normal replies from a local server; timeout tests pass FAST_TIMEOUT_S.
            "timeout_s": 2.0,
            "clock": fake_time.monotonic,
            "sleep": fake_time.sleep,
            "wall_clock": fake_time.time,
            # The fake is plain HTTP on 127.0.0.1: skipping the CA bundle load saves ~30 ms per
            # client, and an explicit transport keeps environment proxies out of the way.
            "transport": httpx.HTTPTransport(verify=False),
        }
        kwargs.update(overrides)
        client = TradierClient(**kwargs)
        created.append(client)
        return client

    yield make
    for client in created:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> TradierClient:
    return make_client()


def fixture_json(server: FakeTradier, name: str) -> Any:
    return json.loads(server.fixture_bytes(name))


# ---------------------------------------------------------------------- interface and construction


@pytest.mark.parametrize("method", ["expirations", "chain", "quotes", "clock", "calendar"])
def test_signatures_match_the_provider_protocol(method: str) -> None:
    assert inspect.signature(getattr(TradierClient, method)) == inspect.signature(getattr(MarketDataProvider, method))
    assert TradierClient.name == "tradier"


@pytest.mark.parametrize("suffix", ["/v1/", "/v1", "/", ""])
def test_base_url_with_or_without_v1_and_slash(
    fake_tradier: FakeTradier, make_client: ClientFactory, suffix: str
) -> None:
    make_client(base_url=fake_tradier.root_url + suffix).clock()
    assert [r.path for r in fake_tradier.requests] == ["/v1/markets/clock"]


def test_default_transport(fake_tradier: FakeTradier, make_client: ClientFactory) -> None:
    assert make_client(transport=None).clock().state == "open"
    assert len(fake_tradier.requests) == 1


@pytest.mark.parametrize("base_url", ["sandbox.tradier.com/v1/", "ftp://sandbox.tradier.com/v1/", ""])
def test_rejects_unusable_base_url(base_url: str) -> None:
    with pytest.raises(ValueError):
        TradierClient(base_url, "token")


def test_rejects_empty_token() -> None:
    with pytest.raises(ValueError):
        TradierClient("https://sandbox.tradier.com/v1/", "")


# ---------------------------------------------------------------------- what goes on the wire


def test_every_request_sends_bearer_token_and_json_accept(fake_tradier: FakeTradier, client: TradierClient) -> None:
    client.clock()
    client.expirations("SPX")
    client.chain("PLTR", dt.date(2026, 6, 18))
    client.quotes(["PLTR"])
    assert len(fake_tradier.requests) == 4
    for request in fake_tradier.requests:
        assert request.method == "GET"
        assert request.headers["authorization"] == f"Bearer {fake_tradier.token}"
        assert request.headers["accept"] == "application/json"


def test_expirations_default_params(fake_tradier: FakeTradier, client: TradierClient) -> None:
    exps = client.expirations("SPX")
    [request] = fake_tradier.requests
    assert request.path == "/v1/markets/options/expirations"
    assert request.params == {"symbol": "SPX", "includeAllRoots": "true", "strikes": "false"}
    assert len(exps) == 19 and exps[0].date == dt.date(2024, 6, 28)


def test_expirations_flags_are_sent_as_lowercase_strings(fake_tradier: FakeTradier, client: TradierClient) -> None:
    client.expirations("SPX", include_all_roots=False, strikes=True)
    assert fake_tradier.requests[0].params == {"symbol": "SPX", "includeAllRoots": "false", "strikes": "true"}


def test_chain_params(fake_tradier: FakeTradier, client: TradierClient) -> None:
    client.chain("PLTR", dt.date(2026, 6, 18))
    client.chain("PLTR", dt.date(2026, 6, 18), greeks=False)
    assert [r.params for r in fake_tradier.requests] == [
        {"symbol": "PLTR", "expiration": "2026-06-18", "greeks": "true"},
        {"symbol": "PLTR", "expiration": "2026-06-18", "greeks": "false"},
    ]
    assert {r.path for r in fake_tradier.requests} == {"/v1/markets/options/chains"}


def test_quotes_params_comma_joined(fake_tradier: FakeTradier, client: TradierClient) -> None:
    quotes = client.quotes(["SPY", "SPY251219P00450000"], greeks=True)
    [request] = fake_tradier.requests
    assert request.path == "/v1/markets/quotes"
    assert request.params == {"symbols": "SPY,SPY251219P00450000", "greeks": "true"}
    assert set(quotes.quotes) == {"SPY", "SPY251219P00450000"}


def test_quotes_bare_string_is_one_symbol(fake_tradier: FakeTradier, client: TradierClient) -> None:
    quotes = client.quotes("PLTR")
    assert fake_tradier.requests[0].params == {"symbols": "PLTR", "greeks": "false"}
    assert list(quotes.quotes) == ["PLTR"] and quotes.unmatched == ()


def test_quotes_with_no_symbols_makes_no_request(fake_tradier: FakeTradier, client: TradierClient) -> None:
    quotes = client.quotes([])
    assert quotes.quotes == {} and fake_tradier.requests == []


def test_calendar_params_and_parse(fake_tradier: FakeTradier, client: TradierClient) -> None:
    # Synthetic body in the documented shape; no calendar response was ever recorded.
    body = {
        "calendar": {
            "month": 2,
            "year": 2019,
            "days": {
                "day": [
                    {"date": "2019-02-01", "status": "open", "open": {"start": "09:30", "end": "16:00"}},
                    {"date": "2019-02-02", "status": "closed", "description": "Market is closed"},
                ]
            },
        }
    }
    fake_tradier.set_route(ft.CALENDAR_PATH, body)
    days = client.calendar(2, 2019)
    assert fake_tradier.requests[0].params == {"month": "2", "year": "2019"}
    assert [(d.date, d.status, d.open_end) for d in days] == [
        (dt.date(2019, 2, 1), "open", "16:00"),
        (dt.date(2019, 2, 2), "closed", None),
    ]


def test_calendar_rejects_bad_month_without_a_request(fake_tradier: FakeTradier, client: TradierClient) -> None:
    with pytest.raises(ValueError):
        client.calendar(13, 2024)
    assert fake_tradier.requests == []


# ---------------------------------------------------------------------- recorded fixtures end to end


def test_chain_pltr_payload_is_body_as_received(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    result = client.chain("PLTR", dt.date(2026, 6, 18))
    assert result.payload == fixture_json(fake_tradier, "chain_pltr_2026-06-18_greeks_sandbox.json")
    assert (result.underlying, result.expiration) == ("PLTR", dt.date(2026, 6, 18))
    assert len(result.options) == 22
    strikes = [o["strike"] for o in result.options]
    assert strikes == sorted(strikes) and strikes[0] == 13.0 and strikes[-1] == 37.0
    assert all("greeks" in o for o in result.options)
    assert result.received_at == dt.datetime.fromtimestamp(fake_time.wall, tz=dt.UTC)
    assert result.received_at.tzinfo is dt.UTC


def test_chain_route_serves_recorded_rate_limit_headers(client: TradierClient, fake_time: FakeTime) -> None:
    assert client.rate_limit == RateLimitState()
    client.chain("PLTR", dt.date(2026, 6, 18))
    assert client.rate_limit == RateLimitState(allowed=200, used=3, available=197, expiry_ms=1_719_590_820_000)
    client.chain("PLTR", dt.date(2026, 6, 18))
    assert fake_time.sleeps == []  # 197 left: no throttling


def test_chain_spy_180_contracts_no_greeks(client: TradierClient) -> None:
    result = client.chain("SPY", dt.date(2018, 4, 4), greeks=False)
    assert len(result.options) == 180
    assert not any("greeks" in o for o in result.options)
    strikes = [o["strike"] for o in result.options]
    assert strikes == sorted(strikes)


def test_quotes_single_object_and_premarket_nulls(client: TradierClient) -> None:
    pltr = client.quotes(["PLTR"]).quotes["PLTR"]
    assert pltr["type"] == "stock" and pltr["close"] is None
    aapl = client.quotes(["AAPL"]).quotes["AAPL"]
    assert [aapl[k] for k in ("open", "high", "low", "close")] == [None] * 4


def test_clock_epoch_seconds_to_utc(client: TradierClient) -> None:
    clock = client.clock()
    assert clock.timestamp == dt.datetime(2019, 5, 6, 15, 36, 28, tzinfo=dt.UTC)
    assert clock.state == "open" and clock.next_state == "postmarket"


def test_expirations_strikes_true_shape(fake_tradier: FakeTradier, client: TradierClient) -> None:
    body = {"expirations": {"expiration": {"date": "2025-12-19", "strikes": {"strike": [5800.0, 5700.0]}}}}
    fake_tradier.set_route(ft.EXPIRATIONS_PATH, body)
    [exp] = client.expirations("SPX", strikes=True)
    assert exp.date == dt.date(2025, 12, 19) and exp.strikes == (5700.0, 5800.0)


@pytest.mark.parametrize("body", [{"options": None}, {"options": "null"}, {"options": {"option": "null"}}, {}])
def test_empty_chain_spellings(fake_tradier: FakeTradier, client: TradierClient, body: Any) -> None:
    fake_tradier.script(ft.json_body(body))
    result = client.chain("SPX", dt.date(2025, 12, 19))
    assert result.options == [] and result.payload == body


@pytest.mark.parametrize("body", [{"expirations": None}, {"expirations": "null"}, {"expirations": {"date": "null"}}])
def test_empty_expirations_spellings(fake_tradier: FakeTradier, client: TradierClient, body: Any) -> None:
    fake_tradier.script(ft.json_body(body))
    assert client.expirations("NOPTIONS") == []


def test_empty_quotes_reports_requested_as_unmatched(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.json_body({"quotes": "null"}))
    quotes = client.quotes(["VIX9D"])
    assert quotes.quotes == {} and quotes.unmatched == ("VIX9D",)


# ---------------------------------------------------------------------- retries


def test_two_500s_then_success_is_three_requests(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    fake_tradier.script(ft.server_error(500), ft.server_error(500))
    assert client.clock().state == "open"
    assert len(fake_tradier.requests) == 3
    assert fake_time.sleeps == [0.5, 1.0]  # backoff_base_s * 2**(attempt-1)


def test_persistent_502_gives_up_after_retries_plus_one(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    fake_tradier.script(*[ft.server_error(502, ft.html_page().body)] * 10)
    with pytest.raises(ProviderUnavailable, match="HTTP 502"):
        client.clock()
    assert len(fake_tradier.requests) == 4  # max_read_retries=3 → 1 + 3
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped(fake_tradier: FakeTradier, make_client: ClientFactory, fake_time: FakeTime) -> None:
    fake_tradier.script(*[ft.server_error(503)] * 5)
    client = make_client(max_read_retries=4, backoff_base_s=1.0, max_backoff_s=3.0)
    with pytest.raises(ProviderUnavailable):
        client.clock()
    assert fake_time.sleeps == [1.0, 2.0, 3.0, 3.0]


def test_no_retries_when_disabled(fake_tradier: FakeTradier, make_client: ClientFactory) -> None:
    fake_tradier.script(ft.server_error(500))
    with pytest.raises(ProviderUnavailable):
        make_client(max_read_retries=0).clock()
    assert len(fake_tradier.requests) == 1


def test_5xx_honours_retry_after(fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime) -> None:
    fake_tradier.script(ft.Fault(status=503, body=b"busy", headers={"Retry-After": "4"}))
    client.clock()
    assert fake_time.sleeps == [4.0]


def test_timeout_retries_then_unavailable(fake_tradier: FakeTradier, make_client: ClientFactory) -> None:
    fake_tradier.script(*[ft.timeout()] * 3)
    client = make_client(timeout_s=FAST_TIMEOUT_S, max_read_retries=2)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="Timeout") as info:
        client.clock()
    assert len(fake_tradier.requests) == 3  # N + 1 attempts
    assert time.monotonic() - started < 2.0  # each attempt gave up at the client timeout
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


def test_timeout_then_success(fake_tradier: FakeTradier, make_client: ClientFactory, fake_time: FakeTime) -> None:
    fake_tradier.script(ft.timeout())
    assert make_client(timeout_s=FAST_TIMEOUT_S).clock().state == "open"
    assert len(fake_tradier.requests) == 2 and fake_time.sleeps == [0.5]


def test_dropped_connection_is_retried(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.drop_connection())
    assert client.clock().state == "open"
    assert len(fake_tradier.requests) == 2


def test_connection_refused_is_unavailable(make_client: ClientFactory, fake_time: FakeTime) -> None:
    # Port 1 on localhost: nothing listens there, so every attempt fails to connect.
    client = make_client(base_url="http://127.0.0.1:1/v1/", max_read_retries=1)
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        client.clock()
    assert fake_time.sleeps == [0.5]


def test_transient_gateway_fault_is_retried(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fault = {"fault": {"faultstring": "Datastore Error", "detail": {"errorcode": "datastore.Error"}}}
    fake_tradier.script(ft.json_body(fault, status=200))
    assert client.clock().state == "open"
    assert len(fake_tradier.requests) == 2


# ---------------------------------------------------------------------- non-retried errors


def test_expired_token_fault_with_401_is_auth_error_without_retry(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    body = fake_tradier.fixture_bytes("error_fault_access_token_expired_observed.json")
    fake_tradier.script(ft.Fault(status=401, body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(ProviderAuthError, match="Access Token expired"):
        client.chain("PLTR", dt.date(2026, 6, 18))
    assert len(fake_tradier.requests) == 1 and fake_time.sleeps == []


def test_expired_token_fault_in_200_is_auth_error(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.json_body(fixture_json(fake_tradier, "error_fault_access_token_expired_observed.json")))
    with pytest.raises(ProviderAuthError):
        client.clock()
    assert len(fake_tradier.requests) == 1


def test_expired_token_fault_in_500_is_auth_error(fake_tradier: FakeTradier, client: TradierClient) -> None:
    body = fake_tradier.fixture_bytes("error_fault_access_token_expired_observed.json")
    fake_tradier.script(ft.Fault(status=500, body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(ProviderAuthError):
        client.clock()
    assert len(fake_tradier.requests) == 1


def test_wrong_token_is_auth_error_without_retry(fake_tradier: FakeTradier, make_client: ClientFactory) -> None:
    with pytest.raises(ProviderAuthError, match="401"):
        make_client(access_token="not-the-right-token").clock()
    assert len(fake_tradier.requests) == 1


def test_400_plain_text_body_is_request_error(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.plain_text(400, "Invalid Parameter: expiration"))
    with pytest.raises(ProviderRequestError, match="Invalid Parameter: expiration"):
        client.chain("SPX", dt.date(2025, 12, 19))
    assert len(fake_tradier.requests) == 1


def test_unknown_path_404_is_request_error(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.plain_text(404, "Not Found"))
    with pytest.raises(ProviderRequestError, match="404"):
        client.clock()
    assert len(fake_tradier.requests) == 1


@pytest.mark.parametrize(
    ("error", "message"),
    [("Invalid symbol", "Invalid symbol"), (["Invalid symbol", "Invalid expiration"], "Invalid symbol; Invalid expiration")],
    ids=["string", "list"],
)
def test_errors_in_200_is_request_error_without_retry(
    fake_tradier: FakeTradier, client: TradierClient, error: str | list[str], message: str
) -> None:
    fake_tradier.script(ft.body_errors(error))
    with pytest.raises(ProviderRequestError) as info:
        client.chain("SPX", dt.date(2025, 12, 19))
    assert str(info.value) == message
    assert len(fake_tradier.requests) == 1


# ---------------------------------------------------------------------- bad bodies


def test_truncated_json_retried_then_bad_response(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    fake_tradier.script(*[ft.malformed_json()] * 5)
    with pytest.raises(ProviderBadResponse, match="not JSON"):
        client.chain("PLTR", dt.date(2026, 6, 18))
    assert len(fake_tradier.requests) == 3  # 1 + max_bad_body_retries (2)
    assert fake_time.sleeps == [0.5, 1.0]


def test_html_maintenance_page_is_bad_response(fake_tradier: FakeTradier, make_client: ClientFactory) -> None:
    fake_tradier.script(*[ft.html_page()] * 5)
    with pytest.raises(ProviderBadResponse, match="text/html"):
        make_client(max_bad_body_retries=1).clock()
    assert len(fake_tradier.requests) == 2


def test_malformed_json_once_then_success(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.malformed_json())
    assert len(client.chain("PLTR", dt.date(2026, 6, 18)).options) == 22
    assert len(fake_tradier.requests) == 2


def test_json_of_wrong_shape_is_bad_response_without_retry(fake_tradier: FakeTradier, client: TradierClient) -> None:
    fake_tradier.script(ft.json_body(["not", "an", "object"]))
    with pytest.raises(ProviderBadResponse):
        client.chain("PLTR", dt.date(2026, 6, 18))
    assert len(fake_tradier.requests) == 1


# ---------------------------------------------------------------------- rate limits


def test_429_waits_until_ratelimit_expiry(fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime) -> None:
    expiry_ms = int(fake_time.wall * 1000) + 2500
    fake_tradier.script(ft.rate_limited(expiry_ms=expiry_ms))
    assert client.clock().state == "open"
    assert fake_time.sleeps == [pytest.approx(2.5)]
    assert len(fake_tradier.requests) == 2


def test_429_honours_retry_after_seconds(fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime) -> None:
    fake_tradier.script(ft.rate_limited(retry_after="7"))
    client.clock()
    assert fake_time.sleeps == [7.0]


def test_429_takes_the_later_of_expiry_and_retry_after(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    fake_tradier.script(ft.rate_limited(expiry_ms=int(fake_time.wall * 1000) + 3000, retry_after="1"))
    client.clock()
    assert fake_time.sleeps == [pytest.approx(3.0)]


def test_429_without_hints_uses_backoff(fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime) -> None:
    fake_tradier.script(ft.Fault(status=429, body=b"Quota Violation"))
    client.clock()
    assert fake_time.sleeps == [0.5]


def test_429_wait_is_capped(fake_tradier: FakeTradier, make_client: ClientFactory, fake_time: FakeTime) -> None:
    fake_tradier.script(ft.rate_limited(expiry_ms=int(fake_time.wall * 1000) + 3_600_000))
    make_client(max_rate_limit_wait_s=60.0).clock()
    assert fake_time.sleeps == [60.0]


def test_persistent_429_is_unavailable(fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime) -> None:
    # Each 429 names an expiry 1 s after the fake "now", whatever that is by then.
    fake_tradier.script(*[ft.rate_limited(retry_after="1")] * 4)
    with pytest.raises(ProviderUnavailable, match="429"):
        client.clock()
    assert len(fake_tradier.requests) == 4
    assert fake_time.sleeps == [1.0, 1.0, 1.0]


def ratelimit_headers(available: int, expiry_ms: int) -> dict[str, str]:
    return {
        "X-Ratelimit-Allowed": "200",
        "X-Ratelimit-Used": str(200 - available),
        "X-Ratelimit-Available": str(available),
        "X-Ratelimit-Expiry": str(expiry_ms),
    }


def test_throttle_sleeps_until_expiry_when_available_is_zero(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    expiry_ms = int(fake_time.wall * 1000) + 3000
    clock_body = fake_tradier.fixture_bytes("clock_docs_example.json")
    fake_tradier.set_route(ft.CLOCK_PATH, clock_body, headers=ratelimit_headers(0, expiry_ms))
    requests_seen_at_sleep: list[int] = []
    fake_time.on_sleep = lambda _seconds: requests_seen_at_sleep.append(len(fake_tradier.requests))

    client.clock()
    assert fake_time.sleeps == []  # the first request had no reason to wait
    client.clock()
    assert fake_time.sleeps == [pytest.approx(3.0)]
    assert requests_seen_at_sleep == [1]  # waited *before* sending the second request
    assert len(fake_tradier.requests) == 2


@pytest.mark.parametrize(("low_water", "expect_sleep"), [(5, True), (4, False)])
def test_throttle_low_water_mark(
    fake_tradier: FakeTradier, make_client: ClientFactory, fake_time: FakeTime, low_water: int, expect_sleep: bool
) -> None:
    expiry_ms = int(fake_time.wall * 1000) + 1500
    fake_tradier.set_route(ft.CLOCK_PATH, fake_tradier.fixture_bytes("clock_docs_example.json"), headers=ratelimit_headers(5, expiry_ms))
    client = make_client(throttle_low_water=low_water)
    client.clock()
    client.clock()
    assert fake_time.sleeps == ([pytest.approx(1.5)] if expect_sleep else [])


def test_throttle_skips_an_already_expired_window(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    expiry_ms = int(fake_time.wall * 1000) - 1000
    fake_tradier.set_route(ft.CLOCK_PATH, fake_tradier.fixture_bytes("clock_docs_example.json"), headers=ratelimit_headers(0, expiry_ms))
    client.clock()
    client.clock()
    assert fake_time.sleeps == []


def test_429_wait_is_not_repeated_by_the_throttle(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime
) -> None:
    # The 429 carries Available=0 and an expiry; the retry sleep covers that window, so the
    # throttle must not sleep for it a second time before the retry.
    fake_tradier.script(ft.rate_limited(expiry_ms=int(fake_time.wall * 1000) + 2000))
    client.clock()
    assert fake_time.sleeps == [pytest.approx(2.0)]


# ---------------------------------------------------------------------- wall clock jumps (B5 #55)
# NTP steps the wall clock; the monotonic clock does not move with it. Waits are durations, so a
# step must not change them: the throttle's window reset is converted to a monotonic deadline when
# its header arrives, backoff depends only on the attempt, and socket timeouts never read the wall.

WALL_JUMPS = [pytest.param(-3600.0, id="wall-back-1h"), pytest.param(3600.0, id="wall-forward-1h"),
              pytest.param(0.0, id="no-jump")]


@pytest.mark.parametrize("jump_s", WALL_JUMPS)
def test_a_wall_clock_jump_between_reads_leaves_the_throttle_wait_unchanged(
    fake_tradier: FakeTradier, client: TradierClient, fake_time: FakeTime, jump_s: float
) -> None:
    expiry_ms = int(fake_time.wall * 1000) + 3000  # the window resets 3 s after the first reply
    clock_body = fake_tradier.fixture_bytes("clock_docs_example.json")
    fake_tradier.set_route(ft.CLOCK_PATH, clock_body, headers=ratelimit_headers(0, expiry_ms))
    client.clock()
    fake_time.mono += 1.0  # one second passes...
    fake_time.wall += 1.0 + jump_s  # ...and meanwhile the wall clock is stepped
    client.clock()
    # Back 1 h would have parked the read for the 65 s cap; forward 1 h would have sent it into
    # the exhausted window (a 429). Either way the window still has 2 s to run.
    assert fake_time.sleeps == [pytest.approx(2.0)]
    assert len(fake_tradier.requests) == 2


@pytest.mark.parametrize("jump_s", WALL_JUMPS)
def test_wall_clock_jumps_during_retries_leave_backoff_and_retry_after_unchanged(
    fake_tradier: FakeTradier, make_client: ClientFactory, fake_time: FakeTime, jump_s: float
) -> None:
    def step_wall(_seconds: float) -> None:
        fake_time.wall += jump_s  # each sleep is interrupted by a step of the wall clock

    fake_time.on_sleep = step_wall
    fake_tradier.script(
        ft.server_error(503, "busy"),  # no hint: backoff 0.5 s
        ft.server_error(502, "Bad Gateway"),  # backoff 1.0 s
        ft.Fault(status=503, body=b"busy", headers={"Retry-After": "4"}),
        ft.rate_limited(retry_after="7"),
    )
    assert make_client(max_read_retries=4).clock().state == "open"
    assert fake_time.sleeps == [0.5, 1.0, 4.0, 7.0]
    assert len(fake_tradier.requests) == 5


@pytest.mark.parametrize("jump_s", WALL_JUMPS)
def test_wall_clock_jumps_leave_socket_timeouts_unchanged(
    fake_tradier: FakeTradier, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, jump_s: float
) -> None:
    """The process's ``time.time`` is stepped by ``jump_s`` on every read of it (as if NTP kept
    stepping it) while the requests time out: each attempt still gives up at the client timeout,
    measured (and logged) on the monotonic clock."""
    real_time = time.time
    steps = [0]

    def stepped() -> float:
        steps[0] += 1
        return real_time() + steps[0] * jump_s

    fake_tradier.script(ft.timeout(), ft.timeout())
    client = make_client(timeout_s=FAST_TIMEOUT_S, max_read_retries=1, clock=time.monotonic)
    caplog.set_level(logging.WARNING, logger="snapshots.providers.tradier_http")
    monkeypatch.setattr(time, "time", stepped)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="Timeout"):
        client.clock()
    took = time.monotonic() - started
    monkeypatch.undo()
    assert len(fake_tradier.requests) == 2
    assert 2 * FAST_TIMEOUT_S * 0.9 <= took < 2.0
    elapsed = [float(m) for m in re.findall(r"ReadTimeout after ([0-9.]+)s", caplog.text)]
    assert len(elapsed) == 2 and all(FAST_TIMEOUT_S * 0.9 <= e < 1.0 for e in elapsed), caplog.text


# ---------------------------------------------------------------------- the token stays secret


def test_repr_hides_token(fake_tradier: FakeTradier, client: TradierClient) -> None:
    text = repr(client)
    assert fake_tradier.token not in text
    assert "***" in text and "/v1/" in text


def _exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


def test_token_never_in_exceptions_or_logs(
    fake_tradier: FakeTradier, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = fake_tradier.token
    expiry_ms = int(time.time() * 1000)
    caplog.set_level(logging.DEBUG)  # every logger, including httpx/httpcore
    client = make_client(timeout_s=FAST_TIMEOUT_S, max_read_retries=1)
    # Each scenario: the faults to play (one per attempt, max_read_retries=1) and the error type
    # that must survive scrubbing. Several echo the token back, as a careless gateway might.
    scenarios: list[tuple[list[ft.Fault], type[ProviderError]]] = [
        ([ft.plain_text(400, f"bad request for token {token}")], ProviderRequestError),
        ([ft.Fault(status=401, body=fake_tradier.fixture_bytes("error_fault_access_token_expired_observed.json"))], ProviderAuthError),
        ([ft.plain_text(401, f"Invalid Access Token {token}")], ProviderAuthError),
        ([ft.body_errors(f"rejected {token}")], ProviderRequestError),
        ([ft.json_body({"fault": {"faultstring": f"Access Token expired {token}"}})], ProviderAuthError),
        ([ft.json_body({"expirations": {"date": f"not-a-date-{token}"}})], ProviderBadResponse),
        ([ft.timeout(), ft.timeout()], ProviderUnavailable),
        ([ft.server_error(500), ft.server_error(503, f"down {token}")], ProviderUnavailable),
        ([ft.malformed_json(), ft.html_page()], ProviderBadResponse),
        ([ft.rate_limited(expiry_ms=expiry_ms), ft.rate_limited(expiry_ms=expiry_ms)], ProviderUnavailable),
    ]
    errors: list[ProviderError] = []
    for faults, expected_type in scenarios:
        fake_tradier.script(*faults)
        with pytest.raises(expected_type) as info:
            client.expirations("SPX")
        errors.append(info.value)
        assert fake_tradier.pending_faults == 0

    assert "***" in str(errors[0]) and "bad request for token" in str(errors[0])
    for error in errors:
        for text in _exception_texts(error):
            assert token not in text
    assert caplog.records, "expected the client and httpx to log"
    assert token not in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()


def test_logs_method_path_status_and_elapsed(client: TradierClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="snapshots.providers.tradier")
    client.clock()
    messages = [r.getMessage() for r in caplog.records if r.name == "snapshots.providers.tradier"]
    assert any("GET /v1/markets/clock -> 200 in 0.000s" in m for m in messages), messages


# ---------------------------------------------------------------------- the fake itself


def test_fake_answers_xml_without_json_accept(fake_tradier: FakeTradier) -> None:
    # Guards the fake's realism: without Accept: application/json real Tradier sends XML.
    headers = {"Authorization": f"Bearer {fake_tradier.token}"}
    response = httpx.get(f"{fake_tradier.base_url}markets/clock", headers=headers)
    assert response.headers["Content-Type"] == "application/xml"
    assert response.text.startswith("<?xml")


def test_fake_serves_fixture_bytes_verbatim(fake_tradier: FakeTradier) -> None:
    headers = {"Authorization": f"Bearer {fake_tradier.token}", "Accept": "application/json"}
    response = httpx.get(f"{fake_tradier.base_url}markets/options/chains", headers=headers)
    assert response.content == fake_tradier.fixture_bytes("chain_pltr_2026-06-18_greeks_sandbox.json")
    assert response.headers["X-Ratelimit-Expiry"] == "1719590820000"
