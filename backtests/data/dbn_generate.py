"""Real DBN files (OPRA.PILLAR ``definition``, ``cbbo-1m``, ``statistics``) generated from the simulated market.

For tests, benchmarks and demos: the files are byte-for-byte what the Databento client would hand
us for a one-day parent request on ``SPX.OPT`` + ``SPXW.OPT`` (DBN v3, metadata with parent
symbology and OSI mappings, records encoded from ``databento_dbn`` templates), so the importer
cannot tell them from a download.

What is simulated, and how (no Django; deterministic per seed and day):

* **Index and volatility level.** SPX per minute is ``SimulatedMarket.index_level`` (the same
  Brownian-bridge path the live simulated provider serves). The 30-day ATM vol level ``x30`` is
  recovered from the simulated VIX (``quotes(["VIX"])``, sampled every ``VIX_SAMPLE_MINUTES`` and
  interpolated linearly), by inverting the public ``variance_swap_vol`` on a grid. Calling the
  provider per minute per chain would cost ~0.1 s per chain; this costs ~0.3 s per day.
* **Quotes.** Every instrument is priced every minute with the provider's public model: the
  ``smile_vol`` surface, Black-76 (``strategy.quant.black76``) with r = 4 % and q = 1.3 %, a width
  of 0.018 + 1.2 % of price (cap 5.00) scaled by √(x30 / 16 %) with ±20 % per-contract noise
  (constant for the day, where the provider redraws it every minute), then ``quote_bid_ask`` onto
  the Cboe tick. So mids match the provider's model; bid/ask rounding can differ by a tick.
* **Universe (realistic density).** Expirations are the listed ones within 60 days
  (``listed_expirations``: ~42 SPXW dailies + SPX monthlies). Strikes come from the provider's
  ``strike_grid`` around the previous close: all of them in a core band that widens with √T, then
  25-point strikes out to a wider tail band (put side ``PUT_WING`` times the call side; see
  ``UniverseParams``), giving ~13,000 instruments a day, inside the 12,800–16,000 a real SPXW
  parent request covers (reference §7). Instrument ids are reshuffled every day (they are only
  unique within a day on OPRA, §2).
* **Sparse minutes (CBBO-1m semantics, §3).** A record is written for an instrument at a minute
  stamp only if something changed: the displayed quote was replaced (the model price left the
  displayed bid–ask band, or a routine refresh near the money moved the rounded quote), the
  displayed sizes changed (a random event, more frequent near the money) or a trade printed (near
  the money mostly). So liquid strikes write almost every minute and cheap wings (0.00 × 0.05)
  rarely: ~60 % of the dense instrument × minute grid on a typical day. The first stamp (09:30,
  the interval that ends at the open) carries every instrument's opening book, priced at the
  opening index value — the value an AM-settled monthly settles on that morning. Same-day SPXW stop at 16:00; others trade to 16:15
  (13:00 / 13:15 on early-close days). Last-trade fields are carried forward as OPRA does; an
  instrument with no trade yet has UNDEF price and ts_event. Sizes are redrawn on every record.
* **Open interest (statistics, §5).** One ``OPEN_INTEREST`` record per instrument, repeated for
  the four venue publishers of Databento's sample (``OI_PUBLISHERS``) with the same value, sent
  with the definitions at 06:30 ET. The value is the simulated market's own prior-day figure,
  ``option_book(...).open_interest`` of that contract at the session open (09:30 ET), what the
  live simulated provider serves then. (That provider's figure drifts a little within the day
  for series more than a day out, because its activity weight uses the time left at each minute;
  OPRA publishes one figure a day, so the file carries the opening one.)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from backtests.data import dbn_io
from snapshots import market_calendar as mc
from snapshots.providers.simulated import SimulatedMarket
from snapshots.providers.simulated_market import (
    DIVIDEND_YIELD,
    EXPIRATION_HORIZON_DAYS,
    MINUTES_PER_YEAR,
    RATE,
    VOL_CEIL,
    VOL_FLOOR,
    RegimeParams,
    atm_vol,
    day_path,
    market_moment,
    option_book,
    quote_bid_ask,
    smile_vol,
    strike_grid,
    variance_swap_vol,
)
from strategy.quant import black76
from strategy.quant.osi import format_symbol

FloatArray = NDArray[np.float64]

VIX_SAMPLE_MINUTES = 5
# Quote width model of the simulated provider (its module docstring, "Quotes").
SPREAD_BASE, SPREAD_SLOPE, SPREAD_CAP, VOL_REFERENCE = 0.018, 0.012, 5.0, 0.16
PUT_WING = 1.6  # SPX chains list far more downside strikes than upside
MINUTES_PER_CHUNK = 45  # minutes priced per vectorised block (bounds memory at ~13k × 45 cells)
_TAG = 0xDB0  # random-stream tag, distinct from the provider's
_VIX_YEARS = 30.0 / 365.0
_MIN_T_MINUTES = 0.5  # floor on time to settlement so the 16:00 stamp of a 0-DTE series prices
# Venues that repeat each open-interest figure in Databento's OPRA sample: MXOP, MPRL, EMLD, EDGO (§5).
OI_PUBLISHERS = (37, 31, 23, 24)


@dataclass(frozen=True)
class UniverseParams:
    """Which instruments a generated day lists.

    For an expiration T years from the open, with S the previous close and σ its ATM vol, a band
    ``b(n, lo, hi) = clip(n·σ·√T, lo, hi)`` in log-moneyness (decimal) gives the strikes: every
    listed strike within ``[S·e^{−PUT_WING·b_core}, S·e^{b_core}]``, and beyond it out to
    ``b_tail`` only strikes on a ``tail_step``-point grid (the cheap wings, mostly 0.00 × 0.05,
    that make real CBBO-1m sparse). The defaults give ~14,000 instruments a day; tests shrink
    ``horizon_days`` and the bands for speed.
    """

    horizon_days: int = EXPIRATION_HORIZON_DAYS
    core_sigmas: float = 2.0
    core_min: float = 0.02
    core_max: float = 0.03
    tail_sigmas: float = 4.0
    tail_min: float = 0.05
    tail_max: float = 0.18
    tail_step: float = 25.0  # index points
    strike_step: int = 1  # keep every n-th listed strike (tests); 1 = all


REALISTIC = UniverseParams()
TINY = UniverseParams(horizon_days=2, core_sigmas=0.5, core_min=0.004, core_max=0.01, tail_sigmas=1.0, tail_min=0.01, tail_max=0.02)


@dataclass(frozen=True)
class GeneratedDay:
    """One generated trading day: the three files written and their sizes."""

    date: dt.date
    definition_path: Path
    cbbo_path: Path
    statistics_path: Path
    instrument_count: int
    record_count: int  # cbbo-1m records
    dbn_bytes: int  # uncompressed DBN bytes of the three files (what Databento bills, §7)
    file_bytes: int  # bytes on disk of the three files
    seconds: float

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        """(definition, cbbo-1m, statistics): what ``dbn_import.import_files`` takes for the day."""
        return self.definition_path, self.cbbo_path, self.statistics_path


@dataclass(frozen=True)
class _Universe:
    instrument_id: NDArray[np.uint32]  # sorted ascending (records within a minute follow this order)
    raw_symbol: list[str]  # OSI, root padded to 6 (Databento's raw_symbol)
    root: list[str]
    expiration: list[dt.date]
    is_call: NDArray[np.bool_]
    strike: FloatArray  # index points
    settle_ns: NDArray[np.int64]  # settlement instant, UNIX ns
    near: FloatArray  # 0..1 activity weight, 1 at the money


class _Clock:
    """A settable ``now`` for SimulatedMarket (it reads the clock on every call)."""

    def __init__(self) -> None:
        self.moment = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.moment


@lru_cache(maxsize=1)
def _vix_inverse_table() -> tuple[FloatArray, FloatArray]:
    """(VIX points, x30) on a grid; VIX is increasing in x30, so np.interp inverts it."""
    x30 = np.linspace(VOL_FLOOR, VOL_CEIL, 96)  # VIX is smooth in x30: interpolation errs < 1e-6
    vix = 100.0 * np.asarray(variance_swap_vol(x30, _VIX_YEARS))
    if not np.all(np.diff(vix) > 0):
        raise RuntimeError("simulated VIX is not increasing in the vol level; cannot invert it")
    return vix, x30


def _minute_stamps(day: dt.date) -> NDArray[np.int64]:
    """CBBO-1m ts_recv stamps of the session (interval ends), UNIX ns: the open (09:30, the opening
    book at the opening index value), then every minute to the RTH close."""
    bounds = mc.session_bounds(day)
    if bounds is None:
        raise ValueError(f"{day} is not an SPX options trading day")
    open_ns, close_ns = dbn_io.instant_ns(bounds[0]), dbn_io.instant_ns(bounds[1])
    return np.arange(open_ns, close_ns + 1, dbn_io.NS_PER_MINUTE, dtype=np.int64)


def _market_path(market: SimulatedMarket, clock: _Clock, stamps: NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """(SPX, x30) at each stamp: index per minute, vol level from VIX samples, interpolated."""

    def at(ns: int) -> dt.datetime:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // 1_000)

    spot = np.array([market.index_level(at(int(ns))) for ns in stamps])
    sample_idx = np.unique(np.concatenate((np.arange(0, stamps.size, VIX_SAMPLE_MINUTES), [stamps.size - 1])))
    vix = []
    for i in sample_idx:
        clock.moment = at(int(stamps[i]))
        vix.append(float(market.quotes(["VIX"]).quotes["VIX"]["last"]))
    vix_grid, x_grid = _vix_inverse_table()
    x_samples = np.interp(np.array(vix), vix_grid, x_grid)
    return spot, np.interp(np.arange(stamps.size), sample_idx, x_samples)


def _universe(day: dt.date, reference: float, x30: float, open_ns: int, params: UniverseParams, rng: np.random.Generator) -> _Universe:
    grid = strike_grid(reference)[:: params.strike_step]
    log_k = np.log(grid / reference)
    roots: list[str] = []
    expirations: list[dt.date] = []
    strikes: list[FloatArray] = []
    settles: list[int] = []
    t_list: list[float] = []
    for expiration, root in mc.listed_expirations(day, params.horizon_days):
        settle_ns = dbn_io.instant_ns(mc.settlement_instant(expiration, root))
        if settle_ns <= open_ns:
            continue
        t_years = (settle_ns - open_ns) / dbn_io.NS_PER_MINUTE / MINUTES_PER_YEAR
        sd = float(atm_vol(x30, t_years)) * np.sqrt(t_years)
        core = float(np.clip(params.core_sigmas * sd, params.core_min, params.core_max))
        tail = max(core, float(np.clip(params.tail_sigmas * sd, params.tail_min, params.tail_max)))
        in_core = (log_k >= -PUT_WING * core) & (log_k <= core)
        in_tail = (log_k >= -PUT_WING * tail) & (log_k <= tail) & (np.remainder(grid, params.tail_step) == 0)
        chosen = grid[in_core | in_tail]
        roots += [root] * chosen.size
        expirations += [expiration] * chosen.size
        strikes.append(chosen)
        settles += [settle_ns] * chosen.size
        t_list += [t_years] * chosen.size
    strike_per = np.concatenate(strikes) if strikes else np.empty(0)
    n = strike_per.size
    # Calls and puts on every strike: instrument j is (series j // 2, call if j even).
    strike = np.repeat(strike_per, 2)
    is_call = np.tile(np.array([True, False]), n)
    root_list = [r for r in roots for _ in (0, 1)]
    exp_list = [e for e in expirations for _ in (0, 1)]
    settle = np.repeat(np.array(settles, dtype=np.int64), 2)
    t_years_arr = np.repeat(np.array(t_list), 2)
    # Activity concentrates near the money (the provider's open-interest weight, in standard deviations).
    sd = np.log(strike / reference) / (VOL_REFERENCE * np.sqrt(np.maximum(t_years_arr, 1.0 / 365.0)))
    near = np.exp(-0.5 * (sd / 2.0) ** 2)
    # OPRA ids are per day: a fresh shuffle, from a per-day block of numbers.
    base = 1_000_000 * (1 + day.toordinal() % 1000)
    ids = (base + rng.permutation(strike.size)).astype(np.uint32)
    order = np.argsort(ids)
    raw = [format_symbol(root_list[i], exp_list[i], bool(is_call[i]), float(strike[i]), padded=True) for i in order]
    return _Universe(
        instrument_id=ids[order],
        raw_symbol=raw,
        root=[root_list[i] for i in order],
        expiration=[exp_list[i] for i in order],
        is_call=is_call[order],
        strike=strike[order],
        settle_ns=settle[order],
        near=near[order],
    )


def _morning_ns(day: dt.date) -> int:
    """06:30 ET of ``day``, when OPRA sends the day's definitions and open interest (§4, §5)."""
    return dbn_io.instant_ns(dt.datetime.combine(day, dt.time(6, 30), tzinfo=mc.ET))


def _definitions(universe: _Universe, day: dt.date) -> dbn_io.RecordArray:
    """One definition record per instrument, sent at 06:30 ET like OPRA's morning chain (§4)."""
    sent = _morning_ns(day)
    n = universe.instrument_id.size
    recs = np.repeat(dbn_io.definition_template(), n)
    recs["instrument_id"] = universe.instrument_id
    recs["raw_instrument_id"] = universe.instrument_id
    recs["ts_event"] = sent
    recs["ts_recv"] = sent
    recs["raw_symbol"] = np.array(universe.raw_symbol, dtype="S")
    recs["asset"] = np.array(universe.root, dtype="S")
    recs["instrument_class"] = np.where(universe.is_call, b"C", b"P")
    recs["strike_price"] = np.round(universe.strike * dbn_io.PRICE_SCALE).astype(np.int64)
    recs["expiration"] = np.array([dbn_io.utc_day_bounds_ns(e)[0] for e in universe.expiration], dtype=np.uint64)
    return recs


def _open_interest(universe: _Universe, seed: int, open_ns: int, regime: RegimeParams | None = None) -> NDArray[np.int64]:
    """Each instrument's prior-day open interest as the simulated market serves it at the open:
    ``option_book(...).open_interest``, one book per (root, expiration), matched by strike and type.

    The generator's strikes are a subset of the book's grid (both are ``strike_grid`` of the
    previous close), so every instrument is found; a mismatch is a bug and raises.
    """
    moment = market_moment(seed, dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=open_ns // 1_000),
                           regime)
    series: dict[tuple[str, dt.date], list[int]] = {}
    for i, key in enumerate(zip(universe.root, universe.expiration)):
        series.setdefault(key, []).append(i)
    out = np.empty(universe.instrument_id.size, dtype=np.int64)
    for (root, expiration), members in series.items():
        idx = np.array(members, dtype=np.int64)
        book = option_book(seed, moment, root, expiration)
        grid = book.strikes[0::2]  # each strike twice in the book: call then put
        pos = np.clip(np.searchsorted(grid, universe.strike[idx]), 0, grid.size - 1)
        at = 2 * pos + (~universe.is_call[idx]).astype(np.int64)
        if not (np.array_equal(book.strikes[at], universe.strike[idx]) and np.array_equal(book.is_call[at], universe.is_call[idx])):
            raise RuntimeError(f"{root} {expiration}: generated strikes are not on the simulated market's strike grid")
        out[idx] = book.open_interest[at]
    return out


def _statistics(universe: _Universe, day: dt.date, open_interest: NDArray[np.int64]) -> dbn_io.RecordArray:
    """OPEN_INTEREST records as OPRA sends them (§5): at 06:30 ET with the definitions, each
    instrument's figure once per venue in ``OI_PUBLISHERS``, consecutive sequence numbers."""
    sent = _morning_ns(day)
    venues = len(OI_PUBLISHERS)
    n = universe.instrument_id.size
    recs = np.repeat(dbn_io.statistics_template(), n * venues)
    recs["instrument_id"] = np.repeat(universe.instrument_id, venues)
    recs["publisher_id"] = np.tile(np.array(OI_PUBLISHERS, dtype=np.uint16), n)
    recs["quantity"] = np.repeat(open_interest, venues)
    recs["ts_event"] = sent
    recs["ts_recv"] = sent
    recs["sequence"] = np.arange(1, n * venues + 1, dtype=np.uint32)
    return recs


def _quotes(universe: _Universe, stamps: NDArray[np.int64], spot: FloatArray, x30: FloatArray, rng: np.random.Generator,
            *, front: float = 0.0) -> dbn_io.RecordArray:
    """The sparse CBBO-1m records of one day, minute-major, ids ascending within a minute."""
    n = universe.instrument_id.size
    strike, is_call, near = universe.strike, universe.is_call, universe.near
    width_noise = 0.8 + 0.4 * rng.random(n)
    p_refresh = 0.3 * near  # per minute
    p_trade = 0.005 + 0.2 * near**2
    p_size = 0.01 + 0.3 * near  # displayed size changes without a price change
    p_trade_or_size = p_trade + p_size - p_trade * p_size
    trade_share = p_trade / p_trade_or_size
    size_scale = 5.0 + 195.0 * near
    disp_bid = np.full(n, -1, dtype=np.int64)  # displayed quote in cents; -1: nothing shown yet today
    disp_ask = np.full(n, -1, dtype=np.int64)
    last_px = np.full(n, dbn_io.UNDEF_PRICE_INT, dtype=np.int64)
    last_sz = np.zeros(n, dtype=np.uint32)
    last_ts = np.full(n, dbn_io.UNDEF_TIMESTAMP_INT, dtype=np.uint64)
    template = dbn_io.cbbo_template()
    out: list[dbn_io.RecordArray] = []
    for lo in range(0, stamps.size, MINUTES_PER_CHUNK):
        ts = stamps[lo : lo + MINUTES_PER_CHUNK]
        rows = ts.size
        s = spot[lo : lo + rows, None]
        x = x30[lo : lo + rows, None]
        minutes_left = (universe.settle_ns[None, :] - ts[:, None]) / dbn_io.NS_PER_MINUTE
        active = minutes_left >= 0
        t_years = np.maximum(minutes_left, _MIN_T_MINUTES) / MINUTES_PER_YEAR
        forward = s * np.exp((RATE - DIVIDEND_YIELD) * t_years)
        discount = np.exp(-RATE * t_years)
        sigma = smile_vol(x, t_years, np.log(strike[None, :] / forward), front)
        price = np.asarray(black76.price(is_call[None, :], forward, strike[None, :], t_years, discount, sigma))
        width = np.minimum(SPREAD_BASE + SPREAD_SLOPE * price, SPREAD_CAP) * np.sqrt(x / VOL_REFERENCE) * width_noise
        bid_c, ask_c = quote_bid_ask(price, width)

        # Market makers requote when the model leaves the displayed band (plus routine refreshes
        # near the money); a cheap wing option keeps its 0.00 × 0.05 for hours. Sequential in
        # time (a quote depends on the one shown before), vectorised across instruments.
        cents = price * 100.0
        requote_draw = rng.random((rows, n)) < p_refresh
        event = active & ((rng.random((rows, n)) < p_trade_or_size))
        trade = event & (rng.random((rows, n)) < trade_share)
        emit = np.zeros((rows, n), dtype=bool)
        shown_bid = np.empty((rows, n), dtype=np.int64)
        shown_ask = np.empty((rows, n), dtype=np.int64)
        for r in range(rows):
            differs = (bid_c[r] != disp_bid) | (ask_c[r] != disp_ask)
            outside = (cents[r] < disp_bid) | (cents[r] > disp_ask)
            requote = active[r] & differs & ((disp_ask < 0) | outside | requote_draw[r])
            disp_bid = np.where(requote, bid_c[r], disp_bid)
            disp_ask = np.where(requote, ask_c[r], disp_ask)
            emit[r] = requote | event[r]
            shown_bid[r] = disp_bid
            shown_ask[r] = disp_ask
        bid_c, ask_c = shown_bid, shown_ask

        # Trades: a price on the tick grid between bid and ask, inside the minute interval.
        u = rng.random((rows, n))
        trade_c = np.maximum(bid_c + np.round((ask_c - bid_c) * u / 5.0) * 5, 5).astype(np.int64)
        trade_ts = ts[:, None] - ((1.0 - rng.random((rows, n))) * dbn_io.NS_PER_MINUTE).astype(np.int64)
        trade_sz = 1 + np.floor(rng.random((rows, n)) * 10.0).astype(np.int64)
        # Carry the last trade forward: index of the latest trade row at or before each row.
        last_row = np.where(trade, np.arange(rows)[:, None], -1)
        np.maximum.accumulate(last_row, axis=0, out=last_row)
        seen = last_row >= 0
        pick = np.maximum(last_row, 0)
        px_rows = np.where(seen, np.take_along_axis(trade_c, pick, 0) * (dbn_io.PRICE_SCALE // 100), last_px[None, :])
        sz_rows = np.where(seen, np.take_along_axis(trade_sz, pick, 0), last_sz[None, :])
        ts_rows = np.where(seen, np.take_along_axis(trade_ts, pick, 0).astype(np.uint64), last_ts[None, :])
        last_px, last_sz, last_ts = px_rows[-1].astype(np.int64), sz_rows[-1].astype(np.uint32), ts_rows[-1].astype(np.uint64)

        mi, ii = np.nonzero(emit)
        k = mi.size
        recs = np.repeat(template, k)
        bid_k, ask_k = bid_c[mi, ii], ask_c[mi, ii]
        has_bid = bid_k > 0
        recs["instrument_id"] = universe.instrument_id[ii]
        recs["ts_recv"] = ts[mi]
        recs["ts_event"] = ts_rows[mi, ii]
        recs["price"] = px_rows[mi, ii]
        recs["size"] = sz_rows[mi, ii]
        recs["bid_px_00"] = np.where(has_bid, bid_k * (dbn_io.PRICE_SCALE // 100), dbn_io.UNDEF_PRICE_INT)
        recs["ask_px_00"] = ask_k * (dbn_io.PRICE_SCALE // 100)
        recs["bid_sz_00"] = np.where(has_bid, 1 + np.floor(rng.random(k) * size_scale[ii]), 0)
        recs["ask_sz_00"] = 1 + np.floor(rng.random(k) * size_scale[ii])
        recs["bid_pb_00"] = np.where(has_bid, dbn_io.PUBLISHER_XCBO, 0)
        recs["ask_pb_00"] = dbn_io.PUBLISHER_XCBO
        out.append(recs)
    return np.concatenate(out) if out else np.repeat(template, 0)


def day_paths(out_dir: Path, day: dt.date, *, compress: bool = True) -> tuple[Path, Path, Path]:
    """(definition, cbbo-1m, statistics) file paths of ``day`` under ``out_dir``:
    ``2025-02-20.cbbo-1m.dbn.zst``."""
    return (
        out_dir / dbn_io.file_name(day, dbn_io.SCHEMA_DEFINITION, compressed=compress),
        out_dir / dbn_io.file_name(day, dbn_io.SCHEMA_CBBO_1M, compressed=compress),
        out_dir / dbn_io.file_name(day, dbn_io.SCHEMA_STATISTICS, compressed=compress),
    )


def generate_day(
    day: dt.date, out_dir: Path, *, seed: int = 7, params: UniverseParams = REALISTIC, compress: bool = True,
    regime: RegimeParams | None = None,
) -> GeneratedDay:
    """Write ``<day>.definition.dbn[.zst]``, ``<day>.cbbo-1m.dbn[.zst]`` and
    ``<day>.statistics.dbn[.zst]`` (open interest) for one trading day.

    Deterministic per (seed, day, params). ``ValueError`` on a day without a session.
    """
    started = time.perf_counter()
    stamps = _minute_stamps(day)
    open_ns = int(stamps[0])
    clock = _Clock()
    market = SimulatedMarket(seed=seed, now=clock, regime=regime)
    spot, x30 = _market_path(market, clock, stamps)
    previous_close = market.index_level(dt.datetime.fromtimestamp(open_ns / 1e9 - 60, tz=dt.UTC))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _TAG, day.toordinal()])))
    universe = _universe(day, previous_close, float(x30[0]), open_ns, params, rng)
    definitions = _definitions(universe, day)
    quotes = _quotes(universe, stamps, spot, x30, rng, front=day_path(seed, day, regime).front)
    statistics = _statistics(universe, day, _open_interest(universe, seed, open_ns, regime))

    ids = [int(i) for i in universe.instrument_id]
    def_path, cbbo_path, stat_path = day_paths(out_dir, day, compress=compress)
    written = 0
    dbn_bytes = 0
    for path, schema, records in (
        (def_path, dbn_io.SCHEMA_DEFINITION, definitions),
        (cbbo_path, dbn_io.SCHEMA_CBBO_1M, quotes),
        (stat_path, dbn_io.SCHEMA_STATISTICS, statistics),
    ):
        meta = dbn_io.parent_metadata(day, schema, universe.raw_symbol, ids)
        written += dbn_io.write_dbn(path, meta, records, compress=compress)
        dbn_bytes += len(meta.encode()) + records.nbytes
    return GeneratedDay(
        date=day,
        definition_path=def_path,
        cbbo_path=cbbo_path,
        statistics_path=stat_path,
        instrument_count=len(ids),
        record_count=int(quotes.size),
        dbn_bytes=dbn_bytes,
        file_bytes=written,
        seconds=time.perf_counter() - started,
    )


def generate_range(
    start: dt.date,
    end: dt.date,
    out_dir: Path,
    *,
    seed: int = 7,
    params: UniverseParams = REALISTIC,
    compress: bool = True,
    workers: int = 1,
    progress: Callable[[GeneratedDay], None] | None = None,
    regime: RegimeParams | None = None,
) -> list[GeneratedDay]:
    """``generate_day`` for every SPX options trading day from ``start`` to ``end`` (inclusive).

    ``workers > 1`` generates days in parallel processes (pricing is CPU-bound numpy).
    """
    days = mc.trading_days(start, end)
    results: list[GeneratedDay] = []
    if workers <= 1 or len(days) <= 1:
        for day in days:
            results.append(generate_day(day, out_dir, seed=seed, params=params, compress=compress, regime=regime))
            if progress:
                progress(results[-1])
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(generate_day, day, out_dir, seed=seed, params=params, compress=compress, regime=regime) for day in days]
        for future in futures:
            results.append(future.result())
            if progress:
                progress(results[-1])
    return results
