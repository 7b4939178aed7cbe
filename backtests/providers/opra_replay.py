"""Imported OPRA quotes served as a live market-data provider, at an injected instant.

``OpraReplayMarket`` answers like Tradier from the Parquet store (``backtests.data.store``): a
chain is every instrument of the expiration in that day's definitions with the CBBO-1m quote in
force at ``now()`` (``store.quotes_at``: the latest record with ``ts_recv <= now``). So a
historical or generated day runs through the live path — snapshots, entry windows, simulated
broker, marks, settlement — on exactly the quotes the backtester reads (the live/backtest parity
test). The trading day is ``now()``'s New York date; it must have been imported.

What OPRA does not carry, and what stands in for it:

* no greeks or IV (``greeks`` is None; ``snapshots.analytics`` computes ours from bid/ask) and
  no volume (0);
* open interest only from the ``statistics`` schema: each option's ``open_interest`` is the
  day's imported figure (``store.open_interest``: OPRA's morning OI, the previous session's
  close), and None — never 0 — when the day's statistics were not imported or carry no figure
  for that instrument;
* no index prints: the ``SPX`` quote's ``last`` is the implied forward of the nearest SPXW
  expiration at ``now()`` (its ``description`` says so); VIX and VIX9D come back unmatched;
* no carry-over between days: before the day's first record every instrument is listed with
  bid/ask None;
* expiration types are "standard" (SPX AM) or "weeklys" (SPXW), where Tradier also says
  "quarterlys" for quarter-end PM series.

A no-bid record becomes bid 0.0 and a no-ask record ask None, as Tradier spells them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from backtests.data import store
from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS
from backtests.engine.settlement import Official, SeriesQuotes, settlement_estimate
from snapshots import market_calendar as mc
from snapshots.analytics import ChainAnalytics, chain_analytics_arrays, settlement_for
from snapshots.providers import parsing
from strategy.quant import market
from strategy.quant.money import cents
from snapshots.providers.base import (
    CalendarDay,
    ChainResult,
    Expiration,
    MarketClock,
    ProviderUnavailable,
    QuoteSet,
)
from snapshots.providers.simulated import SimulatedMarket

ROOTS = (mc.ROOT_AM, mc.ROOT_PM)
INDEX_SYMBOL = "SPX"
# Nearest SPXW expirations tried, in order, for the SPX quote (the first may have too few quotes).
_INDEX_CHAINS = 2
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _roots(symbol: str, include_all_roots: bool = True) -> tuple[str, ...]:
    """Tradier's root rule: ``SPX`` lists the SPXW dailies only with includeAllRoots."""
    wanted = symbol.strip().upper()
    if wanted == mc.ROOT_AM:
        return ROOTS if include_all_roots else (mc.ROOT_AM,)
    return (mc.ROOT_PM,) if wanted == mc.ROOT_PM else ()


def _expiration_type(root: str) -> str:
    return "standard" if root == mc.ROOT_AM else "weeklys"


def _epoch_ms(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _option_row(inst: dict[str, Any], quote: dict[str, Any] | None, open_interest: int | None = None) -> dict[str, Any]:
    """One Tradier-shaped option dict from a definition row, its quote in force (None: no record
    yet) and its open interest in contracts (None: not known)."""
    root, expiration, strike = inst["root"], inst["expiration"], float(inst["strike"])
    call = inst["right"] == "C"
    q = quote or {}
    bid = q.get("bid_px")
    stamp = _epoch_ms(q.get("ts_recv"))
    return {
        "symbol": inst["symbol"],
        "description": f"{root} {_MONTHS[expiration.month - 1]} {expiration.day} {expiration.year} "
        f"${strike:.2f} {'Call' if call else 'Put'}",
        "type": "option",
        "last": q.get("last_px"),
        "volume": 0,
        "bid": (0.0 if bid is None else bid) if quote else None,  # Tradier shows no bid as 0
        "ask": q.get("ask_px"),
        "underlying": mc.ROOT_AM,
        "strike": strike,
        "greeks": None,  # OPRA has none; snapshots.analytics computes ours
        "bidsize": q.get("bid_sz", 0),
        "bid_date": stamp,
        "asksize": q.get("ask_sz", 0),
        "ask_date": stamp,
        "open_interest": open_interest,
        "contract_size": 100,
        "expiration_date": expiration.isoformat(),
        "expiration_type": _expiration_type(root),
        "option_type": "call" if call else "put",
        "root_symbol": root,
    }


def _floats(column: pa.ChunkedArray) -> NDArray[np.float64]:
    return np.array(column.to_pylist(), dtype=np.float64)  # NULL → NaN


class OpraReplayMarket:
    """The imported OPRA store answering like Tradier at ``now()`` (see the module docstring).

    ``root_dir`` is the market-data root (default ``settings.MARKET_DATA_DIR``).
    """

    name = "opra-replay"

    def __init__(self, now: Callable[[], dt.datetime], root_dir: Path | None = None) -> None:
        self._now = now
        self.root_dir = root_dir

    # ---- store access -----------------------------------------------------------------------

    def _at(self) -> dt.datetime:
        now = self._now()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now() must return a timezone-aware datetime")
        return now.astimezone(dt.UTC)

    def _require(self, day: dt.date) -> dt.date:
        missing = [
            schema for schema in (SCHEMA_DEFINITION, SCHEMA_CBBO_1M)
            if not store.parquet_path(schema, day, root_dir=self.root_dir).is_file()
        ]
        if missing:
            raise ProviderUnavailable(
                f"no OPRA {' and '.join(missing)} data imported for {day} under {store.parquet_root(self.root_dir)}; "
                f"import it with `manage.py databento_import <files>` or generate one with "
                f"`manage.py dbn_generate --start {day} --import`"
            )
        return day

    def _today(self, at: dt.datetime) -> dt.date:
        return self._require(at.astimezone(mc.ET).date())

    def _listed(self, day: dt.date, roots: Sequence[str] = ROOTS) -> list[tuple[str, dt.date]]:
        """(root, expiration) pairs in ``day``'s definitions expiring on or after ``day``."""
        table = store.instruments(day, roots=roots, root_dir=self.root_dir).select(["root", "expiration"])
        pairs = set(zip(table["root"].to_pylist(), table["expiration"].to_pylist()))
        return sorted((r, e) for r, e in pairs if e >= day)

    def _rows(
        self, day: dt.date, at: dt.datetime, *, roots: Sequence[str],
        expirations: Sequence[dt.date] | None = None, symbols: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Option dicts for the day's instruments (filtered), each with its quote in force at ``at``."""
        listed = store.instruments(day, roots=roots, expirations=expirations, root_dir=self.root_dir).to_pylist()
        if symbols is not None:
            wanted = set(symbols)
            listed = [i for i in listed if i["symbol"] in wanted]
        quoted = store.quotes_at(
            day, at, roots=roots, expirations=expirations, symbols=symbols, root_dir=self.root_dir
        ).to_pylist()
        by_id = {q["instrument_id"]: q for q in quoted}
        oi = self._open_interest(day, roots=roots, expirations=expirations)
        return [_option_row(i, by_id.get(i["instrument_id"]), oi.get(i["symbol"]))
                for i in listed if i["expiration"] >= day]

    def _open_interest(
        self, day: dt.date, *, roots: Sequence[str], expirations: Sequence[dt.date] | None = None
    ) -> dict[str, int]:
        """OSI symbol → open interest (contracts) of ``day``; empty when its statistics were not imported."""
        if not store.parquet_path(SCHEMA_STATISTICS, day, root_dir=self.root_dir).is_file():
            return {}
        table = store.open_interest(day, roots=roots, expirations=expirations, root_dir=self.root_dir)
        return dict(zip(table["symbol"].to_pylist(), table["open_interest"].to_pylist()))

    def _analytics(self, day: dt.date, at: dt.datetime, root: str, expiration: dt.date) -> ChainAnalytics:
        """Forward fit and IVs of one series from the quotes in force at ``at`` — the backtester's input."""
        t = store.quotes_at(day, at, roots=[root], expirations=[expiration], root_dir=self.root_dir)
        return chain_analytics_arrays(
            symbols=np.array(t["symbol"].to_pylist(), dtype=str),
            strikes=_floats(t["strike"]),
            is_call=np.array([r == "C" for r in t["right"].to_pylist()], dtype=bool),
            bid=_floats(t["bid_px"]),
            ask=_floats(t["ask_px"]),
            root=root, expiration=expiration, at=at,
        )

    def _index_quote(self, day: dt.date, at: dt.datetime) -> dict[str, Any] | None:
        """SPX implied by the nearest SPXW chains (OPRA has no index): ``market.index_level`` — the
        backtester's index level at the same minute — to the cent."""
        nearest = [e for _, e in self._listed(day, roots=(mc.ROOT_PM,))][:_INDEX_CHAINS]
        value, how = market.index_level([self._analytics(day, at, mc.ROOT_PM, e) for e in nearest])
        if not math.isfinite(value):
            return None
        return {
            "symbol": INDEX_SYMBOL,
            "description": f"S&P 500 Index (implied from OPRA quotes: {how})",
            "type": "index",
            "last": float(cents(value)),
            "bid": None,
            "ask": None,
            "volume": 0,
            "trade_date": _epoch_ms(at),
            "root_symbols": "SPX,SPXW",
        }

    # ---- MarketDataProvider -------------------------------------------------------------------

    def expirations(self, symbol: str, *, include_all_roots: bool = True, strikes: bool = False) -> list[Expiration]:
        """The day's listed expirations on or after the day (both roots for ``SPX`` with include_all_roots)."""
        roots = _roots(symbol, include_all_roots)
        if not roots:
            return []
        day = self._today(self._at())
        table = store.instruments(day, roots=roots, root_dir=self.root_dir)
        by_date: dict[dt.date, tuple[set[str], set[float]]] = {}
        for root, expiration, strike in zip(
            table["root"].to_pylist(), table["expiration"].to_pylist(), table["strike"].to_pylist()
        ):
            if expiration >= day:
                day_roots, day_strikes = by_date.setdefault(expiration, (set(), set()))
                day_roots.add(root)
                day_strikes.add(float(strike))
        return [
            Expiration(
                date=expiration,
                strikes=tuple(sorted(day_strikes)) if strikes else None,
                expiration_type=_expiration_type(mc.ROOT_AM if mc.ROOT_AM in day_roots else mc.ROOT_PM),
                contract_size=100,
            )
            for expiration, (day_roots, day_strikes) in sorted(by_date.items())
        ]

    def chain(self, symbol: str, expiration: dt.date, *, greeks: bool = True) -> ChainResult:
        """Every instrument of ``expiration`` (``SPX``: both roots) with its quote in force at ``now()``."""
        at = self._at()
        day = self._today(at)
        roots = _roots(symbol)
        options = self._rows(day, at, roots=roots, expirations=[expiration]) if roots else []
        payload: dict[str, Any] = {"options": {"option": options} if options else None}
        return parsing.parse_chain(payload, underlying=symbol.strip().upper(), expiration=expiration, received_at=at)

    def quotes(self, symbols: Sequence[str], *, greeks: bool = False) -> QuoteSet:
        """Option quotes by OSI symbol and the implied ``SPX``; anything else (VIX, VIX9D) is unmatched."""
        at = self._at()
        day = self._today(at)
        requested = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        others = [s for s in requested if s != INDEX_SYMBOL]
        found = {row["symbol"]: row for row in self._rows(day, at, roots=ROOTS, symbols=others)} if others else {}
        if INDEX_SYMBOL in requested and (index := self._index_quote(day, at)) is not None:
            found[INDEX_SYMBOL] = index
        quote_list = [found[s] for s in requested if s in found]
        unmatched = [s for s in requested if s not in found]
        body: dict[str, Any] = {}
        if quote_list:
            body["quote"] = quote_list
        if unmatched:
            body["unmatched_symbols"] = {"symbol": unmatched}
        return parsing.parse_quotes({"quotes": body or None}, requested)

    def clock(self) -> MarketClock:
        # The simulated market's clock and calendar read only the trading calendar, not its prices.
        return SimulatedMarket(now=self._now).clock()

    def calendar(self, month: int, year: int) -> list[CalendarDay]:
        return SimulatedMarket(now=self._now).calendar(month, year)

    # ---- settlement (not part of the provider protocol) ---------------------------------------

    def settlement(self, expiration: dt.date, root: str, *, official: Official | None = None) -> tuple[float, str] | None:
        """(value, source) of the ``root`` series expiring on ``expiration``, or None before its
        settlement instant or when nothing fits.

        ``backtests.engine.settlement.settlement_estimate`` on the quotes in force at the settlement
        instant of that day — the backtester's estimate, so a replayed day and its backtest settle at
        the same value. ``official`` values (loaded by the operator) come first, as in backtests.
        """
        if self._at() < settlement_for(expiration, root):
            return None
        day = self._require(expiration)

        def quotes_at(r: str, e: dt.date, at: dt.datetime) -> SeriesQuotes | None:
            t = store.quotes_at(day, at, roots=[r], expirations=[e], root_dir=self.root_dir)
            if t.num_rows == 0:
                return None
            return SeriesQuotes(_floats(t["strike"]), np.array([x == "C" for x in t["right"].to_pylist()], dtype=bool),
                                _floats(t["bid_px"]), _floats(t["ask_px"]))

        return settlement_estimate(quotes_at, self._listed(day), root=root, expiration=expiration, official=official)


def provider(now: dt.datetime | None = None) -> OpraReplayMarket:
    """The registry's factory (``MARKET_DATA_PROVIDER=opra-replay``): the store at ``now`` (default: the clock)."""
    at = now or dt.datetime.now(dt.UTC)
    return OpraReplayMarket(now=lambda: at)


def settlement(expiration: dt.date, root: str, now: dt.datetime) -> tuple[float, str] | None:
    """The registry's settlement function: the backtester's estimate once the instant has passed."""
    return OpraReplayMarket(now=lambda: now).settlement(expiration, root)
