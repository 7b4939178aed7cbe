"""A fake Tradier REST server on 127.0.0.1 that serves the recorded fixtures and scripted faults.

It runs a real HTTP server (stdlib ``ThreadingHTTPServer`` on port 0, in a background thread) so
the client is exercised through httpx's real transport: sockets, timeouts, closed connections.

Behaviour, in order, for each request:
1. The request is recorded (method, path, query params, headers) before anything else, so tests
   can count attempts even when the reply is a timeout.
2. A wrong or missing bearer token gets HTTP 401 ``Invalid Access Token`` (plain text).
3. A missing ``Accept: application/json`` gets an XML body, as real Tradier does.
4. If faults were scripted, the next one is played instead of the route.
5. Otherwise the most recently registered route matching the path (and its query params, if the
   route names any) answers; unknown paths get a plain-text 404.

The default routes serve the fixture files byte for byte. Only the chain route carries the
recorded ``X-Ratelimit-*`` headers, because those are the only recorded headers we have.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHAIN_PATH = "/v1/markets/options/chains"
EXPIRATIONS_PATH = "/v1/markets/options/expirations"
QUOTES_PATH = "/v1/markets/quotes"
CLOCK_PATH = "/v1/markets/clock"
CALENDAR_PATH = "/v1/markets/calendar"

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]  # single-valued query parameters
    headers: dict[str, str]  # lower-cased names


@dataclass(frozen=True)
class Fault:
    """One scripted reply. ``delay_s`` is slept before replying; ``drop`` closes without replying."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False


@dataclass(frozen=True)
class Route:
    status: int
    body: bytes
    headers: Mapping[str, str]
    params: Mapping[str, str]  # must all be present in the request query for the route to match


def encode_body(body: Any) -> bytes:
    """bytes and str are sent verbatim (plain-text and HTML bodies exist); anything else as JSON."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


# ---------------------------------------------------------------------- fault factories


def timeout(delay_s: float = 2.0) -> Fault:
    """Sleep past the client timeout, then close without a reply."""
    return Fault(delay_s=delay_s, drop=True)


def drop_connection() -> Fault:
    """Close the socket without any reply (the client sees a protocol/connection error)."""
    return Fault(drop=True)


def server_error(status: int = 500, body: Any = "Internal Server Error") -> Fault:
    return Fault(status=status, body=encode_body(body), headers={"Content-Type": "text/plain"})


def rate_limited(
    *, expiry_ms: int | None = None, available: int = 0, allowed: int = 200, retry_after: str | None = None
) -> Fault:
    """HTTP 429. The body text follows go-tradier's parser (unverified: no 429 was ever recorded)."""
    headers = {"Content-Type": "text/plain", "X-Ratelimit-Allowed": str(allowed)}
    headers["X-Ratelimit-Available"] = str(available)
    headers["X-Ratelimit-Used"] = str(allowed - available)
    if expiry_ms is not None:
        headers["X-Ratelimit-Expiry"] = str(expiry_ms)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Fault(status=429, body=f"Quota Violation {expiry_ms or ''}".strip().encode(), headers=headers)


def json_body(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Fault:
    """A JSON reply, e.g. empty collections: ``{"options": None}``, ``{"expirations": "null"}``."""
    return Fault(status=status, body=encode_body(body), headers={"Content-Type": JSON_TYPE, **(headers or {})})


def malformed_json(raw: bytes = b'{"options":{"option":[{"symbol":"PLTR260618P00013000","strike":1') -> Fault:
    """A truncated JSON body served as application/json."""
    return Fault(status=200, body=raw, headers={"Content-Type": JSON_TYPE})


def html_page(status: int = 200) -> Fault:
    """A maintenance page where JSON was expected."""
    page = b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon.</body></html>"
    return Fault(status=status, body=page, headers={"Content-Type": "text/html"})


def body_errors(error: str | list[str]) -> Fault:
    """HTTP 200 carrying ``{"errors": {"error": ...}}``."""
    return json_body({"errors": {"error": error}})


def plain_text(status: int, text: str) -> Fault:
    return Fault(status=status, body=text.encode("utf-8"), headers={"Content-Type": "text/plain"})


# ---------------------------------------------------------------------- server


class FakeTradier:
    """The server object the ``fake_tradier`` pytest fixture yields."""

    def __init__(self, fixtures_dir: Path, token: str) -> None:
        self.fixtures_dir = fixtures_dir
        self.token = token
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._routes: list[tuple[str, Route]] = []
        self._requests: list[RecordedRequest] = []
        # Set on stop so handlers sleeping in a timeout fault wake up and the thread can exit.
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll, and a server starts per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-tradier", daemon=True
        )
        self._install_default_routes()

    # ----------------------------------------------------------------- lifecycle

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        """Shaped like Tradier's documented sandbox default, ``https://sandbox.tradier.com/v1/``."""
        return f"{self.root_url}/v1/"

    def start(self) -> FakeTradier:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ----------------------------------------------------------------- test API

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def script(self, *faults: Fault) -> None:
        """Queue faults; each request consumes one until the queue is empty."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def set_route(
        self,
        path: str,
        body: Any,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> None:
        """Register a reply for ``path``; later registrations win over earlier ones."""
        merged_headers = {"Content-Type": JSON_TYPE, **(headers or {})}
        route = Route(status=status, body=encode_body(body), headers=merged_headers, params=dict(params or {}))
        with self._lock:
            self._routes.append((path, route))

    def fixture_bytes(self, name: str) -> bytes:
        return (self.fixtures_dir / name).read_bytes()

    # ----------------------------------------------------------------- internals

    def _install_default_routes(self) -> None:
        recorded = json.loads(self.fixture_bytes("chain_pltr_2026-06-18_greeks_sandbox.headers.json"))
        # Only these recorded headers make sense to replay; Transfer-Encoding/Connection would lie
        # about how this server actually frames the body.
        chain_headers = {k: v for k, v in recorded["headers"].items() if k.startswith("X-Ratelimit-")}
        chain_headers["Content-Type"] = recorded["headers"]["Content-Type"]

        self.set_route(CHAIN_PATH, self.fixture_bytes("chain_pltr_2026-06-18_greeks_sandbox.json"), headers=chain_headers)
        self.set_route(
            CHAIN_PATH,
            self.fixture_bytes("chain_spy_2018-04-04_nogreeks_captured.json"),
            params={"symbol": "SPY", "expiration": "2018-04-04"},
        )
        self.set_route(EXPIRATIONS_PATH, self.fixture_bytes("expirations_pltr_list_sandbox.json"))
        self.set_route(QUOTES_PATH, self.fixture_bytes("quote_single_object_pltr_sandbox.json"))
        self.set_route(
            QUOTES_PATH,
            self.fixture_bytes("quotes_list_etf_and_option_greeks_sandbox.json"),
            params={"symbols": "SPY,SPY251219P00450000"},
        )
        self.set_route(
            QUOTES_PATH, self.fixture_bytes("quote_single_object_premarket_nulls_aapl_sandbox.json"), params={"symbols": "AAPL"}
        )
        self.set_route(CLOCK_PATH, self.fixture_bytes("clock_docs_example.json"))

    def _record(self, request: RecordedRequest) -> Fault | Route | None:
        with self._lock:
            self._requests.append(request)
            if self._faults:
                return self._faults.popleft()
            for path, route in reversed(self._routes):
                if path == request.path and all(request.params.get(k) == v for k, v in route.params.items()):
                    return route
            return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "FakeTradier/1.0"
            # Replies go out in two writes; without this each one waits ~40 ms for Nagle's algorithm.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake._record(RecordedRequest("GET", url.path, params, headers))

                if headers.get("authorization") != f"Bearer {fake.token}":
                    self._send(401, b"Invalid Access Token", {"Content-Type": "text/plain"})
                elif JSON_TYPE not in headers.get("accept", ""):
                    xml = b'<?xml version="1.0" encoding="UTF-8"?><error>XML because Accept is not JSON</error>'
                    self._send(200, xml, {"Content-Type": "application/xml"})
                elif isinstance(reply, Fault):
                    self._play(reply)
                elif isinstance(reply, Route):
                    self._send(reply.status, reply.body, reply.headers)
                else:
                    self._send(404, f"no fake route for {url.path}".encode(), {"Content-Type": "text/plain"})

            def _play(self, fault: Fault) -> None:
                if fault.delay_s and fake._stopping.wait(fault.delay_s):
                    return
                if fault.drop:
                    self.close_connection = True
                    return
                self._send(fault.status, fault.body, fault.headers)

            def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (timeout) before we answered; nothing left to do.
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                # The default writes every request line to stderr; tests read ``requests`` instead.
                pass

        return Handler
