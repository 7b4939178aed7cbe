"""A deterministic simulated SPX options market that answers like Tradier.

``SimulatedMarket`` implements ``MarketDataProvider``: it builds Tradier-shaped JSON payloads from
the market model in ``simulated_market.py`` (described there) and runs them through
``parsing.parse_*``, so callers get exactly the types the Tradier client returns. Same seed and
same ``now()`` → byte-identical payloads. No Django, no network, no global random state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from snapshots import market_calendar as mc
from snapshots.providers import parsing
from snapshots.providers.base import CalendarDay, ChainResult, Expiration, MarketClock, QuoteSet
from snapshots.providers.simulated_market import (
    ANCHOR_DATE,
    ANCHOR_LEVEL,
    DIVIDEND_YIELD,
    ET,
    EXPIRATION_HORIZON_DAYS,
    FIRST_YEAR,
    LAST_YEAR,
    MINUTES_PER_YEAR,
    RATE,
    UTC,
    VOL_CEIL,
    VOL_FLOOR,
    MarketMoment,
    RegimeJump,
    RegimeParams,
    regime_preset,
    atm_vol,
    check_seed,
    index_level as model_index_level,
    index_levels,
    jump_schedule,
    listed_series,
    market_moment,
    option_book,
    option_greeks,
    quote_bid_ask,
    quote_implied_vols,
    regime_state,
    regime_states,
    settlement_value as model_settlement_value,
    smile_vol,
    strike_grid,
    variance_swap_vol,
)
from strategy.quant.osi import format_symbol, parse_symbol

# The model's public names stay importable from here, where callers have always found them.
__all__ = [
    "ANCHOR_DATE",
    "ANCHOR_LEVEL",
    "DIVIDEND_YIELD",
    "ET",
    "EXPIRATION_HORIZON_DAYS",
    "FIRST_YEAR",
    "LAST_YEAR",
    "MINUTES_PER_YEAR",
    "RATE",
    "UTC",
    "VOL_CEIL",
    "VOL_FLOOR",
    "RegimeJump",
    "RegimeParams",
    "regime_preset",
    "SimulatedMarket",
    "atm_vol",
    "jump_schedule",
    "quote_bid_ask",
    "regime_state",
    "regime_states",
    "smile_vol",
    "strike_grid",
    "variance_swap_vol",
]

# Single-letter exchange code of the Chicago Board Options Exchange in the US code set Tradier uses
# (C there is the National Stock Exchange); SPX options trade only on Cboe.
_EXCH = "W"

GREEK_DECIMALS = 6  # vendor greeks in the payload, rounded so that they do not depend on the CPU (see _option_rows)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_INDEX_INFO = {
    "SPX": ("S&P 500 Index", "SPX,SPXW"),
    "VIX": ("CBOE Volatility Index", "VIX,VIXW"),
    "VIX9D": ("CBOE S&P 500 9-Day Volatility Index", ""),
}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(UTC)


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1000


def _expiration_type(expiration: dt.date, root: str) -> str:
    if root == mc.ROOT_AM:
        return "standard"
    # PM series on the last trading day of a quarter are Cboe's quarterlys.
    if expiration.month % 3 == 0 and mc.next_trading_day(expiration).month != expiration.month:
        return "quarterlys"
    return "weeklys"


def _money(cents: NDArray[np.int64]) -> list[float]:
    """Integer cents → floats that print as 2-decimal prices (1.35, not 1.3500000000000001)."""
    return [float(v) for v in (cents / 100.0).tolist()]


class SimulatedMarket:
    """Deterministic SPX market data shaped like Tradier's (the model: ``simulated_market``).

    ``seed`` selects the market history; ``now`` returns the current aware time (injectable for
    tests and for demos that run a virtual clock); ``regime`` plants the optional calm/stressed
    regime (off when None or not enabled: then every payload is what it is without one). Same
    seed, regime and ``now()`` → byte-identical payloads.
    """

    name = "simulated"

    def __init__(
        self, seed: int = 7, now: Callable[[], dt.datetime] = _utc_now, regime: RegimeParams | None = None
    ) -> None:
        check_seed(seed)
        self.seed = seed
        self._now = now
        self.regime = regime

    def _current(self) -> dt.datetime:
        now = self._now()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now() must return a timezone-aware datetime")
        return now.astimezone(UTC)

    def _moment(self) -> MarketMoment:
        return market_moment(self.seed, self._current(), self.regime)

    # Public extras, not part of the provider protocol.

    def index_level(self, at: dt.datetime) -> float:
        """SPX at instant ``at`` (aware) under the frozen-outside-the-session rule, 2 decimals."""
        return model_index_level(self.seed, at, self.regime)

    def settlement_value(self, expiration: dt.date, root: str) -> float | None:
        """The exercise-settlement value of a series (SPX: the 09:30 ET open; SPXW: the 16:00/13:00 ET
        close of ``expiration``), or None while ``now()`` is before the settlement instant."""
        return model_settlement_value(self.seed, expiration, root, self._current(), self.regime)

    # MarketDataProvider.

    def expirations(self, symbol: str, *, include_all_roots: bool = True, strikes: bool = False) -> list[Expiration]:
        """Listed SPX expirations at the effective instant (SPXW dailies only with include_all_roots)."""
        payload: dict[str, Any]
        wanted = symbol.upper()
        if wanted == mc.ROOT_AM:
            # Like Tradier: the SPXW dates appear only with includeAllRoots.
            roots: tuple[str, ...] = (mc.ROOT_AM, mc.ROOT_PM) if include_all_roots else (mc.ROOT_AM,)
        elif wanted == mc.ROOT_PM:
            roots = (mc.ROOT_PM,)
        else:
            return parsing.parse_expirations({"expirations": None})
        moment = self._moment()
        roots_by_date: dict[dt.date, list[str]] = {}
        for day, root in listed_series(moment):
            if root in roots:
                roots_by_date.setdefault(day, []).append(root)
        if not roots_by_date:
            payload = {"expirations": None}
        elif not strikes:
            dates = [day.isoformat() for day in sorted(roots_by_date)]
            payload = {"expirations": {"date": dates[0] if len(dates) == 1 else dates}}
        else:
            grid = strike_grid(moment.path.prev_close).tolist()
            entries = [
                {
                    "date": day.isoformat(),
                    "contract_size": 100,
                    "expiration_type": _expiration_type(day, mc.ROOT_AM if mc.ROOT_AM in day_roots else mc.ROOT_PM),
                    "strikes": {"strike": grid},
                }
                for day, day_roots in sorted(roots_by_date.items())
            ]
            payload = {"expirations": {"expiration": entries[0] if len(entries) == 1 else entries}}
        return parsing.parse_expirations(payload)

    def chain(self, symbol: str, expiration: dt.date, *, greeks: bool = True) -> ChainResult:
        """One expiration's chain, every listed root (``SPX`` → SPX and SPXW; ``SPXW`` → SPXW only)."""
        moment = self._moment()
        wanted = symbol.upper()
        roots = {mc.ROOT_AM: (mc.ROOT_AM, mc.ROOT_PM), mc.ROOT_PM: (mc.ROOT_PM,)}.get(wanted, ())
        options: list[dict[str, Any]] = []
        for day, root in listed_series(moment):
            if day == expiration and root in roots:
                options.extend(self._option_rows(moment, root, expiration, greeks=greeks))
        payload: dict[str, Any] = {"options": {"option": options} if options else None}
        return parsing.parse_chain(payload, underlying=wanted, expiration=expiration, received_at=moment.now)

    def quotes(self, symbols: Sequence[str], *, greeks: bool = False) -> QuoteSet:
        """Index quotes (SPX, VIX, VIX9D) and option quotes (OSI symbols of listed series)."""
        moment = self._moment()
        requested = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        found: dict[str, dict[str, Any]] = {}
        option_groups: dict[tuple[str, dt.date], list[str]] = {}
        for symbol in requested:
            if symbol in _INDEX_INFO:
                found[symbol] = self._index_quote(moment, symbol)
                continue
            try:
                parsed = parse_symbol(symbol)
            except ValueError:
                continue
            option_groups.setdefault((parsed.root, parsed.expiration), []).append(symbol)
        listed = set(listed_series(moment))
        for (root, expiration), wanted in option_groups.items():
            if (expiration, root) not in listed:
                continue
            rows = self._option_rows(moment, root, expiration, greeks=greeks, only=set(wanted))
            found.update({row["symbol"]: row for row in rows})
        quote_list = [found[s] for s in requested if s in found]
        unmatched = [s for s in requested if s not in found]
        body: dict[str, Any] = {}
        if quote_list:
            body["quote"] = quote_list[0] if len(quote_list) == 1 else quote_list
        if unmatched:
            body["unmatched_symbols"] = {"symbol": unmatched[0] if len(unmatched) == 1 else unmatched}
        return parsing.parse_quotes({"quotes": body or None}, requested)

    def clock(self) -> MarketClock:
        """Tradier-style clock on index-option hours: premarket 07:00, open 09:30–16:15 (13:15), postmarket to 20:00."""
        now = self._current()
        local = now.astimezone(ET)
        day = local.date()
        bounds = mc.session_bounds(day)
        hhmm = local.strftime("%H:%M")
        state, next_change, next_state = "closed", "07:00", "premarket"
        description = "Market is closed"
        if bounds is not None:
            open_hhmm = bounds[0].astimezone(ET).strftime("%H:%M")
            close_hhmm = bounds[1].astimezone(ET).strftime("%H:%M")
            description = f"Market is open from {open_hhmm} to {close_hhmm}"
            # Zero-padded "HH:MM" strings compare in time order.
            if "07:00" <= hhmm < open_hhmm:
                state, next_change, next_state = "premarket", open_hhmm, "open"
            elif open_hhmm <= hhmm < close_hhmm:
                state, next_change, next_state = "open", close_hhmm, "postmarket"
            elif close_hhmm <= hhmm < "20:00":
                state, next_change, next_state = "postmarket", "20:00", "closed"
        payload = {
            "clock": {
                "date": day.isoformat(),
                "description": description,
                "state": state,
                "timestamp": int(now.timestamp()),
                "next_change": next_change,
                "next_state": next_state,
            }
        }
        return parsing.parse_clock(payload)

    def calendar(self, month: int, year: int) -> list[CalendarDay]:
        """Every day of a month: open with index-option RTH (09:30–16:15, or 13:15), or closed."""
        first = dt.date(year, month, 1)
        days: list[dict[str, Any]] = []
        day = first
        while day.month == month:
            bounds = mc.session_bounds(day)
            if bounds is None:
                days.append({"date": day.isoformat(), "status": "closed", "description": "Market is closed"})
            else:
                close_hhmm = bounds[1].astimezone(ET).strftime("%H:%M")
                days.append(
                    {
                        "date": day.isoformat(),
                        "status": "open",
                        "description": "Market is open",
                        "premarket": {"start": "07:00", "end": "09:24"},
                        "open": {"start": bounds[0].astimezone(ET).strftime("%H:%M"), "end": close_hhmm},
                        "postmarket": {"start": close_hhmm, "end": "20:00"},
                    }
                )
            day += dt.timedelta(days=1)
        payload = {"calendar": {"month": month, "year": year, "days": {"day": days}}}
        return parsing.parse_calendar(payload)

    # Payload builders.

    def _index_quote(self, moment: MarketMoment, symbol: str) -> dict[str, Any]:
        """A Tradier ``type: index`` quote; VIX/VIX9D are variance-swap vols of the current smile."""
        level = index_levels(self.seed, moment, symbol)
        last, prev = level.last, level.prev_close
        change = round(last - prev, 2)
        stamp = _epoch_ms(moment.instant)
        description, roots = _INDEX_INFO[symbol]
        return {
            "symbol": symbol,
            "description": description,
            "exch": _EXCH,
            "type": "index",
            "last": last,
            "change": change,
            "volume": 0,
            "open": level.open,
            "high": level.high,
            "low": level.low,
            "close": last if moment.session_over else None,
            "bid": level.bid,
            "ask": level.ask,
            "change_percentage": round(100.0 * change / prev, 2) if prev else None,
            "average_volume": 0,
            "last_volume": 0,
            "trade_date": stamp,
            "prevclose": prev,
            "week_52_high": level.week_52_high,
            "week_52_low": level.week_52_low,
            "bidsize": 0,
            "bidexch": _EXCH,
            "bid_date": stamp,
            "asksize": 0,
            "askexch": _EXCH,
            "ask_date": stamp,
            "root_symbols": roots,
        }

    def _option_rows(
        self, moment: MarketMoment, root: str, expiration: dt.date, *, greeks: bool, only: set[str] | None = None
    ) -> list[dict[str, Any]]:
        """Tradier option objects for every strike × (call, put) of one root and expiration."""
        book = option_book(self.seed, moment, root, expiration)
        if greeks:
            g = option_greeks(book)
            greek_cols = {
                "delta": g.delta,
                "gamma": g.gamma,
                "theta": g.theta_per_day,
                "vega": g.vega_per_vol_pt,
                "rho": g.rho_per_pct,
                "phi": g.phi_per_pct,
            }
            # Greeks are published to 6 decimals, like the implied vols: numpy's exp and log differ in the
            # last bit between CPUs (AVX-512 has its own kernels), and unrounded greeks made a seed's chain
            # payload, and so its raw checksum, depend on the machine that generated it.
            greek_lists = {
                k: np.round(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0), GREEK_DECIMALS).tolist()
                for k, v in greek_cols.items()
            }
            bid_iv, mid_iv, ask_iv = quote_implied_vols(book)
            iv_lists = {
                "bid_iv": np.round(bid_iv, 6).tolist(),
                "mid_iv": np.round(mid_iv, 6).tolist(),
                "ask_iv": np.round(ask_iv, 6).tolist(),
                "smv_vol": np.round(book.sigma, 3).tolist(),
            }
            updated_at = moment.instant.strftime("%Y-%m-%d %H:%M:%S")

        change_c = book.last_cents - book.prev_close_cents
        trade_ms = _epoch_ms(moment.instant) - 60_000 * book.last_trade_age_minutes
        bids, asks = _money(book.bid_cents), _money(book.ask_cents)
        lasts, opens, prevs = _money(book.last_cents), _money(book.open_cents), _money(book.prev_close_cents)
        highs, lows = _money(book.high_cents), _money(book.low_cents)
        changes = _money(change_c)
        change_pct = np.round(100.0 * change_c / book.prev_close_cents, 2).tolist()
        volumes, ois = book.volume.tolist(), book.open_interest.tolist()
        bidsizes, asksizes = book.bid_size.tolist(), book.ask_size.tolist()
        trade_dates, last_volumes = trade_ms.tolist(), book.last_volume.tolist()
        strikes_list, calls = book.strikes.tolist(), book.is_call.tolist()

        stamp = _epoch_ms(moment.instant)
        exp_text = expiration.isoformat()
        exp_label = f"{_MONTHS[expiration.month - 1]} {expiration.day} {expiration.year}"
        exp_type = _expiration_type(expiration, root)
        rows: list[dict[str, Any]] = []
        for i, strike in enumerate(strikes_list):
            call = calls[i]
            symbol = format_symbol(root, expiration, call, strike)
            if only is not None and symbol not in only:
                continue
            traded = volumes[i] > 0
            row: dict[str, Any] = {
                "symbol": symbol,
                "description": f"{root} {exp_label} ${strike:.2f} {'Call' if call else 'Put'}",
                "exch": _EXCH,
                "type": "option",
                "last": lasts[i] if traded else None,
                "change": changes[i] if traded else None,
                "volume": volumes[i],
                "open": opens[i] if traded else None,
                "high": highs[i] if traded else None,
                "low": lows[i] if traded else None,
                "close": lasts[i] if traded and moment.session_over else None,
                "bid": bids[i],
                "ask": asks[i],
                "underlying": mc.ROOT_AM,
                "strike": strike,
            }
            if greeks:
                row["greeks"] = {
                    **{name: values[i] for name, values in greek_lists.items()},
                    **{name: values[i] for name, values in iv_lists.items()},
                    "updated_at": updated_at,
                }
            row.update(
                {
                    "change_percentage": change_pct[i] if traded else None,
                    "average_volume": 0,
                    "last_volume": last_volumes[i] if traded else 0,
                    "trade_date": trade_dates[i] if traded else 0,
                    "prevclose": prevs[i] if traded else None,
                    "week_52_high": 0.0,
                    "week_52_low": 0.0,
                    "bidsize": bidsizes[i],
                    "bidexch": _EXCH,
                    "bid_date": stamp,
                    "asksize": asksizes[i],
                    "askexch": _EXCH,
                    "ask_date": stamp,
                    "open_interest": ois[i],
                    "contract_size": 100,
                    "expiration_date": exp_text,
                    "expiration_type": exp_type,
                    "option_type": "call" if call else "put",
                    "root_symbol": root,
                }
            )
            rows.append(row)
        return rows
