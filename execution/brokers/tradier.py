"""Tradier multileg orders (sandbox by default) behind the ``Broker`` protocol, on httpx.

Writes and reads follow different rules (reliability.md B1; tradier.md §6):

- **Writes** (POST place/preview, PUT modify, DELETE cancel) are sent **once**. A read timeout,
  connection reset, 408/429/5xx, or a 2xx body that is not the expected JSON means the write may
  have taken effect: ``OrderOutcomeUnknown`` (``PlaceResult.unknown``), never a re-send. Only
  ``httpx.ConnectError``/``ConnectTimeout``/``PoolTimeout`` prove nothing left this process
  (``sent=False``), and even then re-sending is the caller's decision, with the same tag.
  HTTP 400 (and other 4xx), 401/403 and ``{"errors": ...}`` in a 200 are definitive refusals:
  ``OrderRejected`` with the broker's message.
- **Reads** (GET order / orders) go through ``TradierHttp.read``, the HTTP layer shared with the
  market-data client (``snapshots.providers.tradier_http``): retries on timeouts, 429 and 5xx with
  backoff, throttling on ``X-Ratelimit-*``, token scrubbing. Its ``ProviderError``s are
  translated here. Writes use ``TradierHttp.send_once`` on the same connection pool.

Form encoding (tradier.md §6.1): ``class=multileg``, ``symbol=SPX``, ``type`` credit|debit,
``duration=day``, ``price`` with two decimals, ``option_symbol[i]``/``side[i]``/``quantity[i]``,
``tag`` = our client order id, ``preview=true`` only for previews.

Production guard: a base URL other than ``https://sandbox.tradier.com`` (or a loopback test
server) raises ``OrderDenied`` in the constructor, before any I/O, unless ``allow_live=True``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import httpx

from execution.brokers.base import (
    DEFAULT_MAX_QUANTITY,
    BrokerAuthError,
    BrokerBadResponse,
    BrokerLeg,
    BrokerOrder,
    BrokerRequestError,
    BrokerUnavailable,
    CancelResult,
    OrderDenied,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    PlaceResult,
    SpreadOrderRequest,
    SpreadPreview,
    check_replace_price,
    format_price,
    select_by_tag,
    validate_spread_request,
)
from execution.order_states import from_tradier_status
from snapshots.providers.base import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
)
from snapshots.providers.parsing import is_empty, raise_for_body_errors, to_list, unwrap
from snapshots.providers.tradier_http import REDACTED, TradierHttp, api_path, body_text, json_or_none, normalise_root

logger = logging.getLogger(__name__)

SANDBOX_BASE_URL: Final = "https://sandbox.tradier.com/v1/"
SANDBOX_HOST: Final = "sandbox.tradier.com"
# Test servers on this machine; nothing there can reach a real account.
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Tradier account ids are alphanumeric (``VA…`` sandbox, ``6YA…`` production); anything else
# would be spliced into the URL path.
_ACCOUNT_ID: Final = re.compile(r"[A-Za-z0-9]{1,64}")
_ORDER_ID: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
# Statuses that leave the outcome of a write open: the request was received (or may have been)
# and the server did not say it refused it. 408 is a server giving up on reading the request.
_AMBIGUOUS_STATUSES: Final = frozenset({408, 429})
_FINALIZED_MARKER: Final = "finalized state"  # "order already in finalized state" (tradier.md §6.3)
# Exceptions raised by httpx before a single byte of the request was written.
_NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def check_base_url(base_url: str, *, allow_live: bool) -> str:
    """The normalised root (``https://host``) if placing orders there is allowed, else ``OrderDenied``.

    Allowed without ``allow_live``: the Tradier sandbox over https, and loopback hosts (the fake
    server in tests). Everything else, production ``api.tradier.com`` included, needs
    ``allow_live=True`` (reliability.md B1 #18).
    """
    try:
        root = normalise_root(base_url)
    except ValueError as exc:
        raise OrderDenied("base_url", str(exc)) from None
    url = httpx.URL(root)
    host = (url.host or "").lower()
    if host in LOOPBACK_HOSTS:
        return root
    if host == SANDBOX_HOST and url.scheme == "https":
        return root
    if not allow_live:
        raise OrderDenied(
            "base_url", f"{url.scheme}://{host} is not the Tradier sandbox; pass allow_live=True to trade there"
        )
    if url.scheme != "https":
        raise OrderDenied("base_url", "a live broker URL must use https")
    return root


class TradierBroker:
    """Places, reads, modifies and cancels Tradier multileg orders; implements ``Broker``.

    ``timeout_s`` applies to connect, write and read of every request (seconds). Reads retry up to
    ``max_read_retries`` times (``sleep``/``clock``/``wall_clock`` are injectable for tests);
    writes never retry. ``max_quantity`` bounds contracts per leg (local risk limit). Order lists
    are read ``page_size`` at a time, at most ``max_pages`` pages (an incomplete list raises
    instead of looking like "tag not found").
    """

    name = "tradier"

    def __init__(
        self,
        base_url: str,
        access_token: str,
        account_id: str,
        *,
        allow_live: bool = False,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        max_quantity: int = DEFAULT_MAX_QUANTITY,
        max_read_retries: int = 3,
        backoff_base_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        page_size: int = 100,
        max_pages: int = 20,
    ) -> None:
        # The guard runs first: a refused URL must not even get a connection pool.
        root = check_base_url(base_url, allow_live=allow_live)
        if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
            raise ValueError("account_id must be letters and digits")
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages must be >= 1")
        self._account_id = account_id
        self._max_quantity = max_quantity
        self._page_size = page_size
        self._max_pages = max_pages
        # One connection pool (and one TLS context, ~50 ms to build) for reads and writes. An
        # explicit transport also keeps environment proxies out of the order path.
        self._http = TradierHttp(
            root,
            access_token,  # an empty token raises ValueError here, still before any I/O
            timeout_s=timeout_s,
            transport=transport if transport is not None else httpx.HTTPTransport(),
            max_read_retries=max_read_retries,
            backoff_base_s=backoff_base_s,
            clock=clock,
            sleep=sleep,
            wall_clock=wall_clock,
            logger=logger,
        )

    def __repr__(self) -> str:
        base_url = self._http.root + "/v1/"
        return f"TradierBroker(base_url={base_url!r}, account_id={self._account_id!r}, access_token={REDACTED!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TradierBroker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _orders_path(self) -> str:
        return f"accounts/{self._account_id}/orders"

    # ------------------------------------------------------------------------------ writes

    def place_spread(self, req: SpreadOrderRequest) -> PlaceResult:
        """Send the order once; accepted (id) | rejected (messages) | unknown (reason, ``sent``).

        ``OrderDenied`` (raised) means it was not sent. With ``req.preview`` the order is previewed
        first and placed only if the preview passes; a failed preview places nothing.
        """
        validate_spread_request(req, max_quantity=self._max_quantity)
        tag = req.client_tag
        if req.preview:
            try:
                preview = self.preview_spread(req)
            except OrderRejected as exc:
                return PlaceResult.rejected(tag, exc.messages, http_status=exc.http_status)
            except OrderOutcomeUnknown as exc:  # the "preview" created an order after all
                return PlaceResult.unknown(tag, exc.reason)
            except (BrokerUnavailable, BrokerBadResponse) as exc:
                # The preview never places anything, so the order itself was provably not sent.
                return PlaceResult.unknown(tag, f"preview failed, order not sent: {exc}", sent=False)
            if not preview.ok:
                return PlaceResult.rejected(tag, ("preview did not pass (result=false)",))

        try:
            payload = self._write("POST", self._orders_path, self._order_form(req), tag=tag)
        except OrderRejected as exc:
            return PlaceResult.rejected(tag, exc.messages, http_status=exc.http_status)
        except OrderOutcomeUnknown as exc:
            return PlaceResult.unknown(tag, exc.reason, sent=exc.sent, http_status=exc.http_status)

        order = payload.get("order") if isinstance(payload, dict) else None
        if not isinstance(order, dict) or order.get("id") is None or isinstance(order.get("id"), bool):
            # A 2xx that does not name the order: it may exist. Only a lookup by tag can tell.
            return PlaceResult.unknown(tag, "accepted reply without an order id")
        order_id = order["id"]
        if order.get("status") != "ok":
            logger.warning("tradier accepted order %s with status %r (expected 'ok')", order_id, order.get("status"))
        logger.info("tradier order placed: tag=%s id=%s", tag, order_id)
        return PlaceResult.accepted(tag, str(order_id))

    def preview_spread(self, req: SpreadOrderRequest) -> SpreadPreview:
        """Ask Tradier to validate and price the order (``preview=true``); nothing is placed.

        Raises ``OrderRejected`` (e.g. buying power), ``BrokerUnavailable`` on transport trouble
        (safe to repeat: a preview has no effect), ``OrderDenied`` before any I/O, and
        ``OrderOutcomeUnknown`` if the reply carries an order id (an order was created: reconcile).
        """
        validate_spread_request(req, max_quantity=self._max_quantity)
        form = self._order_form(req)
        form["preview"] = "true"
        try:
            payload = self._write("POST", self._orders_path, form, tag=req.client_tag)
        except OrderOutcomeUnknown as exc:
            raise BrokerUnavailable(f"preview: {exc.reason}") from None
        order = payload.get("order") if isinstance(payload, dict) else None
        if not isinstance(order, dict):
            raise BrokerBadResponse("preview reply without an order object")
        if order.get("id") is not None:
            # A preview reply has no id (captured example); an id means an order was created.
            raise OrderOutcomeUnknown(f"preview reply carries order id {order['id']}: an order may have been placed")
        return SpreadPreview(
            ok=order.get("status") == "ok" and order.get("result") is not False,
            order_type=_opt_str(order.get("type")),
            price=_price(order.get("price")),
            commission=_money(order.get("commission")),
            fees=_money(order.get("fees")),
            cost=_money(order.get("cost")),
            order_cost=_money(order.get("order_cost")),
            margin_change=_money(order.get("margin_change")),
            strategy=_opt_str(order.get("strategy")),
            raw=order,
        )

    def cancel(self, broker_order_id: str) -> CancelResult:
        """DELETE the order once, then read it back.

        "order already in finalized state" (HTTP 400) is not an error: the result says
        ``already_final`` and carries the final state. Other refusals raise ``OrderRejected``;
        ambiguity raises ``OrderOutcomeUnknown`` (local state ``pending_cancel``, resolve by lookup;
        reliability.md B1 #12).
        """
        order_id = self._check_order_id(broker_order_id)
        already_final = False
        try:
            self._write("DELETE", f"{self._orders_path}/{order_id}", None, tag=None)
        except OrderRejected as exc:
            if not any(_FINALIZED_MARKER in m.lower() for m in exc.messages):
                raise
            already_final = True
        try:
            order: BrokerOrder | None = self.get_order(order_id)
        except (BrokerUnavailable, BrokerBadResponse, OrderNotFound) as exc:
            # The cancel itself went through (or was moot); only the read-back failed.
            logger.warning("tradier cancel %s: read-back failed (%s)", order_id, type(exc).__name__)
            order = None
        return CancelResult(order_id, already_final, order)

    def replace_price(self, broker_order_id: str, price: Decimal | float | str) -> None:
        """PUT a new limit price on a working order (same id; quantity cannot change, tradier.md §6.3).

        Sent once. ``OrderDenied`` for a price off the 0.05 tick or ≤ 0 (before I/O),
        ``OrderRejected`` when refused (e.g. already final), ``OrderOutcomeUnknown`` when ambiguous:
        poll ``get_order`` to see which price is working.
        """
        order_id = self._check_order_id(broker_order_id)
        value = check_replace_price(price)
        self._write("PUT", f"{self._orders_path}/{order_id}", {"price": format_price(value)}, tag=None)

    # ------------------------------------------------------------------------------ reads

    def get_order(self, broker_order_id: str) -> BrokerOrder:
        """One order with its legs and tag (``includeTags=true``); ``OrderNotFound`` if unknown."""
        order_id = self._check_order_id(broker_order_id)
        payload = self._read(f"{self._orders_path}/{order_id}", {"includeTags": "true"}, one_order=True)
        order = payload.get("order") if isinstance(payload, dict) else None
        if is_empty(order):
            raise OrderNotFound(f"order {order_id} not found")
        if not isinstance(order, dict):
            raise BrokerBadResponse("order reply without an order object")
        return parse_order(order)

    def list_orders(self, *, date: dt.date | None = None) -> list[BrokerOrder]:
        """Orders with tags. Without ``date``: Tradier's default, the current session only; with a
        date: ``filter=all&date=YYYY-MM-DD`` (the docs warn against polling ``filter=all`` often).

        Pages are read until one adds no new order, so a capped or ignored ``limit`` cannot hide
        an order; more than ``max_pages`` raises ``BrokerUnavailable`` rather than a partial list.
        """
        params = {"includeTags": "true"}
        if date is not None:
            params.update({"filter": "all", "date": date.isoformat()})
        seen: dict[str, BrokerOrder] = {}
        for page in range(1, self._max_pages + 1):
            payload = self._read(self._orders_path, {**params, "page": str(page), "limit": str(self._page_size)})
            try:
                items = unwrap(payload, "orders", "order")
            except ProviderBadResponse as exc:
                raise BrokerBadResponse(str(exc)) from None
            new = 0
            for item in items:
                if not isinstance(item, dict):
                    raise BrokerBadResponse("orders entry is not an object")
                order = parse_order(item)
                if order.broker_order_id not in seen:
                    seen[order.broker_order_id] = order
                    new += 1
            if new == 0:
                return list(seen.values())
        raise BrokerUnavailable(f"order list longer than {self._max_pages} pages of {self._page_size}; not complete")

    def find_by_tag(self, tag: str, *, date: dt.date | None = None) -> BrokerOrder | None:
        """The order carrying our client tag, or None; ``AmbiguousTag`` if two orders carry it."""
        return select_by_tag(self.list_orders(date=date), tag)

    # ------------------------------------------------------------------------------ machinery

    def _order_form(self, req: SpreadOrderRequest) -> dict[str, str]:
        form = {
            "class": "multileg",
            "symbol": req.underlying,
            "type": req.order_type,
            "duration": req.duration,
            "price": format_price(req.limit_price),
            "tag": req.client_tag,
        }
        for i, leg in enumerate(req.legs):
            form[f"option_symbol[{i}]"] = leg.option_symbol
            form[f"side[{i}]"] = leg.side
            form[f"quantity[{i}]"] = str(leg.quantity)
        return form

    def _check_order_id(self, broker_order_id: str) -> str:
        order_id = str(broker_order_id)
        if not _ORDER_ID.fullmatch(order_id):
            raise OrderDenied("broker_order_id", f"not an order id: {order_id!r}")
        return order_id

    def _read(self, path: str, params: Mapping[str, str], *, one_order: bool = False) -> Any:
        """GET through the shared read path (retries, throttle, scrub); broker errors out."""
        check = self._check_one_order if one_order else None
        try:
            return self._http.read(path, params, lambda payload: payload, check=check)
        except ProviderAuthError as exc:
            raise BrokerAuthError(str(exc)) from None
        except ProviderRequestError as exc:
            # Tradier's not-found reply for an order id is undocumented (404 or an error text);
            # only for a single order may such a refusal mean "no such order".
            if one_order and "not found" in str(exc).lower():
                raise OrderNotFound(str(exc)) from None
            raise BrokerRequestError(str(exc)) from None
        except ProviderBadResponse as exc:
            raise BrokerBadResponse(str(exc)) from None
        except ProviderError as exc:  # ProviderUnavailable: timeouts, 429, 5xx after the retries
            raise BrokerUnavailable(str(exc)) from None

    def _check_one_order(self, url_path: str, response: httpx.Response) -> Any:
        """``check_read``, plus: a 404 on one order means "no such order".

        Only the single-order read gets this: a 404 on the order *list* (wrong account, wrong base
        URL) must not read as "no such order", or reconciliation would take it for absence and re-send.
        """
        if response.status_code == 404:
            raise OrderNotFound(f"GET {url_path}: HTTP 404")
        return self._http.check_read(url_path, response)

    def _write(self, method: str, path: str, form: Mapping[str, str] | None, *, tag: str | None) -> Any:
        """Send one write, never twice. Returns the decoded 2xx body; raises ``OrderRejected`` or
        ``OrderOutcomeUnknown``. Exceptions are raised ``from None``: httpx errors carry the
        request, whose headers hold the token, and error reporters print chained exceptions.
        """
        label = f"{method} {api_path(path)}" + (f" tag={tag}" if tag else "")
        try:
            response = self._http.send_once(method, path, form)
        except _NOT_SENT_ERRORS as exc:
            logger.warning("tradier %s not sent: %s", label, type(exc).__name__)
            unknown = OrderOutcomeUnknown(f"{label}: {type(exc).__name__} before sending", sent=False)
        except httpx.HTTPError as exc:
            logger.error("tradier %s outcome unknown: %s", label, type(exc).__name__)
            unknown = OrderOutcomeUnknown(f"{label}: {type(exc).__name__} after sending")
        else:
            return self._check_write_response(label, response)
        raise unknown

    def _check_write_response(self, label: str, response: httpx.Response) -> Any:
        status = response.status_code
        logger.info("tradier %s -> HTTP %d", label, status)
        if status in _AMBIGUOUS_STATUSES or status >= 500:
            # The request reached a server that did not say it refused it; the order may exist.
            logger.error("tradier %s outcome unknown: HTTP %d", label, status)
            raise OrderOutcomeUnknown(f"{label}: HTTP {status}", http_status=status)
        if not response.is_success:
            raise OrderRejected(self._refusal_messages(response), http_status=status)
        try:
            payload = response.json()
        except ValueError:
            # A 2xx we cannot read (maintenance page, truncated JSON): the write may have happened.
            raise OrderOutcomeUnknown(f"{label}: HTTP {status} body is not JSON", http_status=status) from None
        try:
            raise_for_body_errors(payload)
        except ProviderRequestError:
            raise OrderRejected(self._error_messages(payload), http_status=status) from None
        except ProviderAuthError as exc:
            raise OrderRejected((self._http.scrub(str(exc)),), http_status=status) from None
        except ProviderUnavailable as exc:
            raise OrderOutcomeUnknown(f"{label}: {self._http.scrub(str(exc))}", http_status=status) from None
        return payload

    def _refusal_messages(self, response: httpx.Response) -> tuple[str, ...]:
        """A refusal's messages: the ``errors.error`` list if the body has one, else its text."""
        payload = json_or_none(response)
        if isinstance(payload, dict) and "errors" in payload:
            messages = self._error_messages(payload)
            if messages:
                return messages
        return (self._http.scrub(f"HTTP {response.status_code} {body_text(response)}".rstrip()),)

    def _error_messages(self, payload: Any) -> tuple[str, ...]:
        errors = payload.get("errors") if isinstance(payload, dict) else None
        raw = errors.get("error") if isinstance(errors, dict) else errors
        return tuple(self._http.scrub(str(m)) for m in to_list(raw))


# ---------------------------------------------------------------------------------- parsing


def parse_order(obj: Mapping[str, Any]) -> BrokerOrder:
    """A Tradier order object (tradier.md §6.2) → ``BrokerOrder`` (prices positive, see its docstring)."""
    order_id = obj.get("id")
    if order_id is None or isinstance(order_id, bool):
        raise BrokerBadResponse("order object without an id")
    raw_status = str(obj.get("status", ""))
    exec_quantity = _quantity(obj.get("exec_quantity"), "exec_quantity")
    legs = tuple(_parse_leg(leg) for leg in to_list(obj.get("leg")))
    tag = obj.get("tag")
    reason = obj.get("reason_description")
    return BrokerOrder(
        broker_order_id=str(order_id),
        client_tag=str(tag) if tag not in (None, "") else None,
        status=from_tradier_status(raw_status),
        raw_status=raw_status,
        order_type=str(obj.get("type", "")),
        quantity=_quantity(obj.get("quantity"), "quantity"),
        price=_price(obj.get("price")),
        # Tradier reports 0.00 before any fill; "no fill yet" is None, not a zero price.
        avg_fill_price=_price(obj.get("avg_fill_price")) if exec_quantity else None,
        exec_quantity=exec_quantity,
        remaining_quantity=_quantity(obj.get("remaining_quantity"), "remaining_quantity"),
        legs=legs,
        reason_description=str(reason) if reason not in (None, "") else None,
        created_at=_timestamp(obj.get("create_date")),
        updated_at=_timestamp(obj.get("transaction_date")),
        underlying=_opt_str(obj.get("symbol")),
        order_class=_opt_str(obj.get("class")),
        raw=obj,
    )


def _parse_leg(leg: Any) -> BrokerLeg:
    if not isinstance(leg, dict):
        raise BrokerBadResponse("order leg is not an object")
    raw_status = str(leg.get("status", ""))
    exec_quantity = _quantity(leg.get("exec_quantity"), "leg exec_quantity")
    last_fill_quantity = _quantity(leg.get("last_fill_quantity"), "leg last_fill_quantity")
    leg_id = leg.get("id")
    return BrokerLeg(
        option_symbol=str(leg.get("option_symbol", "")),
        side=str(leg.get("side", "")),
        quantity=_quantity(leg.get("quantity"), "leg quantity"),
        status=from_tradier_status(raw_status),
        raw_status=raw_status,
        exec_quantity=exec_quantity,
        remaining_quantity=_quantity(leg.get("remaining_quantity"), "leg remaining_quantity"),
        avg_fill_price=_price(leg.get("avg_fill_price")) if exec_quantity else None,
        # Tradier spells "no fill yet" as 0.00; keep it None like avg_fill_price.
        last_fill_price=_price(leg.get("last_fill_price")) if last_fill_quantity else None,
        last_fill_quantity=last_fill_quantity,
        leg_id=str(leg_id) if leg_id is not None else None,
    )


def _decimal(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BrokerBadResponse(f"{name} is a boolean")
    try:
        # Through str: the JSON number's spelling ("20.00000000") is exact, a float's binary is not.
        return Decimal(str(value))
    except InvalidOperation:
        raise BrokerBadResponse(f"{name} is not a number: {value!r}") from None


def _quantity(value: Any, name: str) -> int:
    """Tradier spells quantities ``5.00000000``; a fractional option quantity is a bad body."""
    d = _decimal(value, name)
    if d is None:
        return 0
    if d != d.to_integral_value():
        raise BrokerBadResponse(f"{name} is not a whole number: {value!r}")
    return int(d)


def _price(value: Any) -> Decimal | None:
    """A price as a positive Decimal (the sign of a multileg parent price is dropped, see BrokerOrder)."""
    d = _decimal(value, "price")
    return abs(d) if d is not None else None


def _money(value: Any) -> Decimal | None:
    """Dollars, sign kept (preview ``order_cost`` is negative for a credit)."""
    return _decimal(value, "amount")


def _opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _timestamp(value: Any) -> dt.datetime | None:
    """``2016-02-23T17:01:13.993Z`` → aware UTC datetime; a zone-less value is read as UTC."""
    if value in (None, ""):
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        logger.warning("unparseable Tradier timestamp %r", value)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)
