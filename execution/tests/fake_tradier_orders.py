"""The fake Tradier server (``snapshots.tests.fake_tradier``) extended with a stateful order book.

Composition with the original: the same server, request log, fault queue, token and ``Accept``
checks and market-data routes; this subclass adds POST/PUT/DELETE handling and answers
``/v1/accounts/{id}/orders[/{order_id}]`` from an in-memory book instead of static routes.

What is real and what is not (``shared/fixtures/tradier/SOURCES.md``):
- the placement reply is the CAPTURED ``order_create_ok_captured.json`` with the new id put in;
- the preview reply is the CAPTURED ``order_preview_multileg_credit_spread_captured.json`` as is;
- an empty list is the OBSERVED-SHAPE ``{"orders": "null"}``; one order comes back as a bare
  object, several as a list (tradier.md §3);
- **every multileg order object with a ``leg`` array is SYNTHETIC**: no recording exists. It is
  built from the field list in ``shared/reference/tradier.md`` §6.2, with a credit parent's
  ``avg_fill_price`` negative and the legs' positive, as that section describes;
- the 404 reply for an unknown order id and the 400 "order already in finalized state" text are
  SYNTHETIC too (the message text is from public clients, the body format is not documented).

Fault scripting adds one kind to the base's: ``after_booking(fault)`` first applies the write to
the book (order placed, canceled or re-priced) and then plays ``fault`` (sleep past the client
timeout, 502, dropped connection), which is the "the broker got it but we did not hear back" case
(reliability.md B1 #1, #3, #12). A plain base fault on a write is played *without* booking.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from snapshots.tests.fake_tradier import JSON_TYPE, FakeTradier, Fault, RecordedRequest, Route, timeout

NEW_YORK: Final = ZoneInfo("America/New_York")
FORM_TYPE: Final = "application/x-www-form-urlencoded"
FINALIZED_TEXT: Final = "order already in finalized state"
WORKING: Final = frozenset({"open", "partially_filled", "pending"})


@dataclass(frozen=True)
class OrderRequest(RecordedRequest):
    """A recorded request with its form body kept apart from the query string (``params``)."""

    form: dict[str, str]
    content_type: str


@dataclass(frozen=True)
class AfterBooking(Fault):
    """Apply the write to the book, then play this fault's reply (or silence) instead of the answer."""


def after_booking(fault: Fault) -> AfterBooking:
    return AfterBooking(
        status=fault.status, body=fault.body, headers=fault.headers, delay_s=fault.delay_s, drop=fault.drop
    )


def booked_then_timeout(delay_s: float = 1.0) -> AfterBooking:
    """Book the write, then sleep past the client timeout and close without a reply."""
    return after_booking(timeout(delay_s))


def _ts(when: dt.datetime) -> str:
    # Tradier's order timestamps: ISO-8601 with milliseconds and Z (tradier.md §3).
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class FakeTradierOrders(FakeTradier):
    """``FakeTradier`` plus an order book for one account. ``now`` stamps new orders; the default
    list (Tradier's ``filter=intraday``) shows orders created on ``now``'s New York date."""

    def __init__(
        self,
        fixtures_dir: Path,
        token: str,
        *,
        account_id: str = "VA12345678",
        now: dt.datetime = dt.datetime(2026, 6, 15, 14, 30, tzinfo=dt.UTC),
        first_order_id: int = 1086137,
        finalized_as_json: bool = False,
    ) -> None:
        self.account_id = account_id
        self.now = now
        self.finalized_as_json = finalized_as_json
        self._book_lock = threading.Lock()
        self._book: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(first_order_id)
        super().__init__(fixtures_dir, token)

    # ----------------------------------------------------------------- paths and test API

    @property
    def orders_path(self) -> str:
        return f"/v1/accounts/{self.account_id}/orders"

    def requests_by(self, method: str) -> list[OrderRequest]:
        """Recorded requests of one method (every request this server records is an ``OrderRequest``)."""
        return [r for r in self.requests if r.method == method and isinstance(r, OrderRequest)]

    def orders(self) -> list[dict[str, Any]]:
        """Copies of every booked order object (with tags), in id order."""
        with self._book_lock:
            return [json.loads(json.dumps(o)) for _, o in sorted(self._book.items())]

    def orders_with_tag(self, tag: str) -> list[dict[str, Any]]:
        return [o for o in self.orders() if o.get("tag") == tag]

    def add_order(self, form: Mapping[str, str], *, created: dt.datetime | None = None) -> int:
        """Book an order directly (an earlier session's order, an untagged external one, a duplicate)."""
        return self._place(dict(form), created or self.now)

    def fill(self, order_id: int, quantity: int, net_price: float, leg_prices: list[float] | None = None) -> None:
        """Fill ``quantity`` spreads at ``net_price`` (points, positive). A canceled or expired order
        stays canceled/expired (a late fill); otherwise it becomes partially_filled or filled."""
        with self._book_lock:
            order = self._book[order_id]
            credit = order["type"] == "credit"
            legs = order["leg"] if isinstance(order["leg"], list) else [order["leg"]]
            if leg_prices is None:
                # Synthetic split of a 2-leg package: the long leg at 0.50, the short at net + 0.50.
                leg_prices = [(net_price + 0.5) if (leg["side"].startswith("sell") == credit) else 0.5 for leg in legs]
            before = order["exec_quantity"]
            after = before + quantity
            if after > order["quantity"]:
                raise ValueError("fill exceeds the order quantity")
            sign = -1.0 if credit else 1.0  # the parent avg of a credit order is negative
            order["avg_fill_price"] = round((order["avg_fill_price"] * before + sign * net_price * quantity) / after, 8)
            order["exec_quantity"] = float(after)
            order["last_fill_price"] = sign * net_price
            order["last_fill_quantity"] = float(quantity)
            late = order["status"] in ("canceled", "expired")
            if not late:
                order["status"] = "filled" if after == order["quantity"] else "partially_filled"
                order["remaining_quantity"] = float(order["quantity"] - after)
            for leg, price in zip(legs, leg_prices, strict=True):
                leg_before = leg["exec_quantity"]
                leg["avg_fill_price"] = round(
                    (leg["avg_fill_price"] * leg_before + price * quantity) / (leg_before + quantity), 8
                )
                leg["exec_quantity"] = float(leg_before + quantity)
                leg["last_fill_price"] = price
                leg["last_fill_quantity"] = float(quantity)
                if not late:
                    leg["status"] = order["status"]
                    leg["remaining_quantity"] = float(leg["quantity"] - leg["exec_quantity"])
            order["transaction_date"] = _ts(self.now)

    def set_status(self, order_id: int, status: str, *, reason_description: str | None = None) -> None:
        """Move an order to any raw status (e.g. ``rejected`` after an ``ok`` placement)."""
        with self._book_lock:
            order = self._book[order_id]
            order["status"] = status
            for leg in order["leg"] if isinstance(order["leg"], list) else [order["leg"]]:
                leg["status"] = status
            if reason_description is not None:
                order["reason_description"] = reason_description
            order["transaction_date"] = _ts(self.now)

    # ----------------------------------------------------------------- the book

    def _place(self, form: dict[str, str], created: dt.datetime) -> int:
        n = 0
        while f"option_symbol[{n}]" in form:
            n += 1
        quantity = float(form.get("quantity[0]", "0"))
        stamp = _ts(created)
        with self._book_lock:
            order_id = next(self._ids)
            legs = [
                {
                    "id": order_id * 10 + i + 1,
                    "type": form.get("type", ""),
                    "symbol": form.get("symbol", ""),
                    "side": form[f"side[{i}]"],
                    "quantity": float(form[f"quantity[{i}]"]),
                    "status": "open",
                    "duration": form.get("duration", ""),
                    "price": float(form.get("price", "0")),
                    "avg_fill_price": 0.0,
                    "exec_quantity": 0.0,
                    "last_fill_price": 0.0,
                    "last_fill_quantity": 0.0,
                    "remaining_quantity": float(form[f"quantity[{i}]"]),
                    "create_date": stamp,
                    "transaction_date": stamp,
                    "class": "option",
                    "option_symbol": form[f"option_symbol[{i}]"],
                }
                for i in range(n)
            ]
            order: dict[str, Any] = {
                "id": order_id,
                "type": form.get("type", ""),
                "symbol": form.get("symbol", ""),
                "side": "buy",  # meaningless on a multileg parent (tradier.md §6.2)
                "quantity": quantity,
                "status": "open",
                "duration": form.get("duration", ""),
                "price": float(form.get("price", "0")),
                "avg_fill_price": 0.0,
                "exec_quantity": 0.0,
                "last_fill_price": 0.0,
                "last_fill_quantity": 0.0,
                "remaining_quantity": quantity,
                "create_date": stamp,
                "transaction_date": stamp,
                "class": form.get("class", ""),
                "num_legs": n,
                "strategy": "spread",
                "leg": legs[0] if len(legs) == 1 else legs,
            }
            if form.get("tag"):
                order["tag"] = form["tag"]
            self._book[order_id] = order
            return order_id

    def _visible(self, order: dict[str, Any], query: Mapping[str, str]) -> bool:
        created = dt.datetime.fromisoformat(order["create_date"].replace("Z", "+00:00")).astimezone(NEW_YORK).date()
        if query.get("filter") == "all":
            return "date" not in query or created == dt.date.fromisoformat(query["date"])
        return created == self.now.astimezone(NEW_YORK).date()  # intraday: this session only

    def _answer(
        self, method: str, path: str, query: Mapping[str, str], form: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """The book's reply to a request on an orders path: (status, body, headers)."""
        json_headers = {"Content-Type": JSON_TYPE}
        rest = path[len(self.orders_path) :].strip("/")
        if method == "POST" and not rest:
            if form.get("preview") == "true":
                return 200, self.fixture_bytes("order_preview_multileg_credit_spread_captured.json"), json_headers
            order_id = self._place(dict(form), self.now)
            reply = json.loads(self.fixture_bytes("order_create_ok_captured.json"))
            reply["order"]["id"] = order_id
            return 200, json.dumps(reply).encode(), json_headers
        if method == "GET" and not rest:
            return 200, json.dumps(self._list(query)).encode(), json_headers
        if not rest.isdigit():
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        order_id = int(rest)
        with self._book_lock:
            order = self._book.get(order_id)
            if order is None:
                return 404, f"Order {order_id} not found".encode(), {"Content-Type": "text/plain"}
            if method == "GET":
                return 200, json.dumps({"order": self._shown(order, query)}).encode(), json_headers
            if order["status"] not in WORKING:
                if self.finalized_as_json:
                    return 400, json.dumps({"errors": {"error": FINALIZED_TEXT}}).encode(), json_headers
                return 400, FINALIZED_TEXT.encode(), {"Content-Type": "text/plain"}
            if method == "DELETE":
                order["status"] = "canceled"
                order["remaining_quantity"] = 0.0
                for leg in order["leg"] if isinstance(order["leg"], list) else [order["leg"]]:
                    leg["status"] = "canceled"
                    leg["remaining_quantity"] = 0.0
            elif method == "PUT":
                if "price" in form:
                    order["price"] = float(Decimal(form["price"]))
            else:
                return 405, b"Method Not Allowed", {"Content-Type": "text/plain"}
            order["transaction_date"] = _ts(self.now)
            return 200, json.dumps({"order": {"id": order_id, "status": "ok"}}).encode(), json_headers

    def _list(self, query: Mapping[str, str]) -> dict[str, Any]:
        with self._book_lock:
            visible = [self._shown(o, query) for _, o in sorted(self._book.items()) if self._visible(o, query)]
        limit = int(query.get("limit", "25"))
        page = int(query.get("page", "1"))
        chunk = visible[(page - 1) * limit : page * limit]
        if not chunk:
            return {"orders": "null"}
        return {"orders": {"order": chunk[0] if len(chunk) == 1 else chunk}}

    @staticmethod
    def _shown(order: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(json.dumps(order))
        if query.get("includeTags") != "true":
            shown.pop("tag", None)  # Tradier returns tags only when asked (tradier.md §6.2)
        return shown

    # ----------------------------------------------------------------- HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        fake = self

        class OrderHandler(base):  # type: ignore[misc, valid-type]
            # Headers and body go out in two writes; with Nagle on, each reply waits ~40 ms for
            # the client's delayed ACK, which multiplies across a suite of multi-request tests.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded = OrderRequest(method, url.path, query, headers, form, headers.get("content-type", ""))
                reply = fake._record(recorded)
                is_orders = url.path == fake.orders_path or url.path.startswith(fake.orders_path + "/")

                if headers.get("authorization") != f"Bearer {fake.token}":
                    self._send(401, b"Invalid Access Token", {"Content-Type": "text/plain"})
                elif JSON_TYPE not in headers.get("accept", ""):
                    xml = b'<?xml version="1.0" encoding="UTF-8"?><error>XML because Accept is not JSON</error>'
                    self._send(200, xml, {"Content-Type": "application/xml"})
                elif isinstance(reply, AfterBooking):
                    if is_orders:
                        fake._answer(method, url.path, query, form)
                    self._play(reply)
                elif isinstance(reply, Fault):
                    self._play(reply)
                elif is_orders:
                    self._send(*fake._answer(method, url.path, query, form))
                elif isinstance(reply, Route) and method == "GET":
                    self._send(reply.status, reply.body, reply.headers)
                else:
                    self._send(404, f"no fake route for {method} {url.path}".encode(), {"Content-Type": "text/plain"})

        return OrderHandler
