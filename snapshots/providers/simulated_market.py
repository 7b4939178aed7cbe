"""The simulated SPX market model behind ``SimulatedMarket`` (``simulated.py``).

What the market is at an instant — index level, volatility surface, listed series and strikes,
model prices, quotes on the tick grid and per-contract activity — as plain numbers and arrays;
the Tradier-shaped payloads are built in ``simulated.py``. Deterministic in (seed, instant):
no Django, no network, no global random state.

The model, in brief (all numbers are annualised decimals unless said otherwise):

* **Daily path.** A latent daily process on weekdays (Mon–Fri, holidays included so the path needs
  no calendar): the 30-day ATM implied volatility ``x`` is a logistic function of an
  Ornstein–Uhlenbeck state ``u`` squeezed into [11 %, 30 %] (long-run level ≈ 16 %); SPX log
  returns have volatility 0.9·x (implied above realised, as in the real index) and shocks
  correlated −0.7 with ``u`` (spot down → volatility up). Each calendar year is one vectorised
  block drawn from ``SeedSequence([seed, tag, year])`` and chained from the previous year's last
  state, starting from 1999-01-01; levels are rescaled so SPX closes at 6000.00 on 2026-01-02.
  Supported session days: 2000-01-01 … 2099-12-31.
* **Intraday path.** On each trading day a Brownian bridge from the previous trading day's close
  to the day's close, drawn from ``SeedSequence([seed, tag, date ordinal])``: 20 % of the day's
  variance falls overnight (the 09:30 open gaps), the rest is spread evenly over the minutes
  09:30 → 16:00 ET (13:00 on early-close days). The 16:00 value is the official close, i.e. the
  PM settlement value; the 09:30 value is the AM (SOQ) settlement value. ``u`` is bridged the
  same way with a leverage term, so volatility rises within the day when SPX falls.
* **Outside the session the market is frozen** at its last session state: before the open, on
  weekends and holidays every quote, chain and index equals the previous session's close
  (16:15 ET, or 13:15 on early-close days; the index itself stops at its 16:00 close), and time
  to expiry is measured from that close. So captures taken around the clock overnight are
  byte-identical apart from ``received_at``. A demo that wants moving markets at night injects a
  ``now`` callable that runs a virtual session clock.
* **Volatility surface.** ATM vol by maturity T: ``θ + (x − θ)·φ(T)/φ(30 d)`` with
  ``φ(T) = (1 − e^{−T/τ})/(T/τ)``, θ = 18.5 %, τ = 45 days (contango when calm, inversion when
  stressed). Smile: ``σ = atm(T)·√w(z)`` with ``z = ln(K/F)/(atm(T)·√T)`` and an SVI-shaped
  ``w`` (put skew, call wing flattening then curving up). VIX and VIX9D are the 30-day and 9-day
  variance-swap volatilities of that same smile, so they agree with the chain.
* **Quotes.** Black-76 (``strategy.quant.black76``) mid with r = 4 % and dividend yield 1.3 %
  (F = S·e^{(r−q)T}, D = e^{−rT}); model width 0.018 + 1.2 % of price, capped at 5.00, scaled by
  √(x/16 %) and ±20 % per-contract noise; bid floored and ask ceiled onto the Cboe tick (0.05
  below 3.00, 0.10 from 3.00), so bid ≤ model value ≤ ask, never crossed, ask ≥ 0.05 and a zero
  bid for options worth less than a tick. Time to expiry is calendar minutes to the settlement
  instant (09:30 ET for SPX AM, 16:00/13:00 ET for SPXW PM) divided by 525,600.
* **Per-contract attributes** (open interest, volume, sizes, spread noise) come from a counter-
  based hash of (seed, day, expiration, root, strike, type), so a contract keeps its numbers
  whatever the rest of the grid looks like.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter
from scipy.special import expit

from snapshots import market_calendar as mc
from strategy.quant import black76

UTC = dt.UTC
ET = mc.ET

# Market constants.
RATE = 0.04  # continuously compounded rate for D = e^{-rT}
DIVIDEND_YIELD = 0.013  # SPX dividend yield; F = S·e^{(r−q)T}
MINUTES_PER_YEAR = 525_600.0  # Cboe VIX convention: calendar minutes / 525,600
EXPIRATION_HORIZON_DAYS = 60  # listed expirations reach this many calendar days ahead
ANCHOR_DATE = dt.date(2026, 1, 2)
ANCHOR_LEVEL = 6000.0  # SPX close on ANCHOR_DATE
FIRST_YEAR, LAST_YEAR = 2000, 2099  # supported session days
_PROCESS_START_YEAR = 1999  # the latent process starts a year early so 2000's first day has a prior close

# Volatility dynamics.
VOL_FLOOR, VOL_CEIL = 0.11, 0.30  # range of the 30-day ATM implied vol
_VOL_MEAN = 0.16
_U_MEAN = float(np.log((_VOL_MEAN - VOL_FLOOR) / (VOL_CEIL - _VOL_MEAN)))  # logit of the mean level
_U_KAPPA = 6.0  # mean reversion per year (half-life ≈ 6 weeks)
_U_STATIONARY_SD = 0.8
_U_ETA = _U_STATIONARY_SD * float(np.sqrt(2.0 * _U_KAPPA))  # OU diffusion giving that stationary sd
_U_RETURN_CORR = -0.7  # leverage: volatility shocks vs return shocks
_REALISED_TO_IMPLIED = 0.9  # realised vol below implied (variance risk premium)
_STEP_YEARS = 1.0 / 260.0  # one weekday of the latent process
_OVERNIGHT_VARIANCE_SHARE = 0.2
# Intraday du per unit log return, matched to the daily process: corr·η·√Δ / (σ·√Δ) ≈ −0.7·2.77/0.15.
_INTRADAY_LEVERAGE = 12.0

# Surface.
_LONG_RUN_VOL = 0.185
_TERM_DECAY_YEARS = 45.0 / 365.0
_VIX_YEARS = 30.0 / 365.0
_VIX9D_YEARS = 9.0 / 365.0
_VOL_INDEX_YEARS = {"VIX": _VIX_YEARS, "VIX9D": _VIX9D_YEARS}  # variance-swap tenor of each volatility index
# SVI-shaped smile in standardised moneyness z (tuned to SPX-like 25/10-delta vols).
_SMILE_B, _SMILE_RHO, _SMILE_M, _SMILE_S = 0.45, -0.85, 0.6, 1.0
_SMILE_MIN_FACTOR = 0.4  # floor on σ/atm, never reached with the parameters above

# Quotes.
# Model width before tick rounding; flooring the bid and ceiling the ask add up to a tick on each
# side, so a small base keeps cheap options 0.05–0.10 wide on screen.
_SPREAD_BASE = 0.018
_SPREAD_SLOPE = 0.012
_SPREAD_CAP = 5.0

# Distinct stream tags so no two random streams share a seed sequence.
_TAG_DAILY = 0x5D1
_TAG_INTRADAY = 0x1D4
_TAG_SPREAD, _TAG_OI, _TAG_VOLUME, _TAG_SIZE, _TAG_TRADE = 11, 12, 13, 14, 15
_ROOT_CODE = {mc.ROOT_AM: 1, mc.ROOT_PM: 2}

FloatArray = NDArray[np.float64]


# Counter-based hashing: per-contract noise that does not depend on the grid around it.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014); uint64 arithmetic wraps by design."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _hash_uniform(shape: tuple[int, ...], *keys: Any) -> FloatArray:
    """Uniforms in (0, 1), one per element, a pure function of the integer keys (broadcast)."""
    h = np.zeros(shape, dtype=np.uint64)
    for key in keys:
        h = _splitmix(h ^ np.asarray(key).astype(np.int64).astype(np.uint64))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(2**53)


def vol_level(u: FloatArray | float) -> FloatArray:
    """30-day ATM implied vol (decimal) from the OU state u: logistic squeeze into [11 %, 30 %]."""
    return np.asarray(VOL_FLOOR + (VOL_CEIL - VOL_FLOOR) * expit(u), dtype=np.float64)


@dataclass(frozen=True)
class _YearBlock:
    """One calendar year of the weekday process: dates, cumulative log level, vol state at close."""

    days: NDArray[np.datetime64]
    log_level: FloatArray
    u: FloatArray


def check_seed(seed: int) -> None:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


@lru_cache(maxsize=512)
def _year_block(seed: int, year: int) -> _YearBlock:
    """The weekday closes of ``year``, continuing from the last close of ``year - 1``.

    Cached per (seed, year); earlier years are built first (ascending) so the recursion stays one
    level deep. Vectorised: the OU recursion runs through ``lfilter``, the level through ``cumsum``.
    """
    if not _PROCESS_START_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the simulated market covers {FIRST_YEAR}–{LAST_YEAR}, not {year}")
    if year == _PROCESS_START_YEAR:
        prev_log, prev_u = 0.0, _U_MEAN
    else:
        for earlier in range(_PROCESS_START_YEAR, year - 1):
            _year_block(seed, earlier)
        prev = _year_block(seed, year - 1)
        prev_log, prev_u = float(prev.log_level[-1]), float(prev.u[-1])
    all_days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
    days = all_days[np.is_busday(all_days)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _TAG_DAILY, year])))
    shocks = rng.standard_normal((days.size, 2))
    z_ret = shocks[:, 0]
    z_vol = _U_RETURN_CORR * z_ret + np.sqrt(1.0 - _U_RETURN_CORR**2) * shocks[:, 1]
    decay = 1.0 - _U_KAPPA * _STEP_YEARS
    innovations = _U_ETA * np.sqrt(_STEP_YEARS) * z_vol
    # y_i = decay·y_{i−1} + innovation_i with y = u − mean; zi carries the previous year's state in.
    dev, _ = lfilter([1.0], [1.0, -decay], innovations, zi=[decay * (prev_u - _U_MEAN)])
    u = _U_MEAN + dev
    u_before = np.concatenate(([prev_u], u[:-1]))
    sigma = _REALISED_TO_IMPLIED * vol_level(u_before)
    returns = sigma * np.sqrt(_STEP_YEARS) * z_ret - 0.5 * sigma**2 * _STEP_YEARS
    log_level = prev_log + np.cumsum(returns)
    for array in (days, log_level, u):
        array.flags.writeable = False
    return _YearBlock(days=days, log_level=log_level, u=u)


def _weekday_state(seed: int, day: dt.date) -> tuple[float, float]:
    """(log level, u) of the latent process at the close of weekday ``day``."""
    block = _year_block(seed, day.year)
    index = int(np.searchsorted(block.days, np.datetime64(day)))
    if index >= block.days.size or block.days[index] != np.datetime64(day):
        raise ValueError(f"{day} is not a weekday")
    return float(block.log_level[index]), float(block.u[index])


@lru_cache(maxsize=64)
def _anchor_log(seed: int) -> float:
    return _weekday_state(seed, ANCHOR_DATE)[0]


def _close_state(seed: int, day: dt.date) -> tuple[float, float]:
    """(SPX close, u) of trading day ``day``, rescaled so the anchor date closes at ANCHOR_LEVEL."""
    log_level, u = _weekday_state(seed, day)
    return ANCHOR_LEVEL * float(np.exp(log_level - _anchor_log(seed))), u


@dataclass(frozen=True)
class DayPath:
    """One session's minute path. Index j = minute j after 09:30 ET, j = 0 … n (n at 16:00/13:00)."""

    day: dt.date
    prev_day: dt.date
    open_utc: dt.datetime
    close_utc: dt.datetime  # options RTH close, 16:15 / 13:15 ET
    settle_utc: dt.datetime  # index close = PM settlement, 16:00 / 13:00 ET
    prev_close: float  # SPX close of prev_day (2 decimals)
    prev_u: float
    spot: FloatArray  # SPX by minute (2 decimals)
    u: FloatArray

    @property
    def minutes(self) -> int:
        return self.spot.size - 1


@lru_cache(maxsize=128)
def day_path(seed: int, day: dt.date) -> DayPath:
    """Brownian bridge between two closes on a variance clock (overnight share, then even minutes)."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"the simulated market covers {FIRST_YEAR}–{LAST_YEAR}, not {day}")
    bounds = mc.session_bounds(day)
    if bounds is None:
        raise ValueError(f"{day} is not a trading day")
    prev_day = mc.previous_trading_day(day)
    s0, u0 = _close_state(seed, prev_day)
    s1, u1 = _close_state(seed, day)
    settle = mc.expiring_series_close(day)
    n = int((settle - bounds[0]).total_seconds() // 60)
    # Variance clock: τ = 0 at the previous close, τ = share at 09:30, τ = 1 at the close.
    tau = np.concatenate(([0.0], _OVERNIGHT_VARIANCE_SHARE + (1.0 - _OVERNIGHT_VARIANCE_SHARE) * np.arange(n + 1) / n))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _TAG_INTRADAY, day.toordinal()])))
    steps = rng.standard_normal(tau.size - 1) * np.sqrt(np.diff(tau))
    walk = np.concatenate(([0.0], np.cumsum(steps)))
    bridge = walk - tau * walk[-1]  # pinned to 0 at both ends
    # The bridge carries the variance of every weekday step since the previous trading day.
    gap_steps = max(1, int(np.busday_count(np.datetime64(prev_day), np.datetime64(day))))
    day_sd = _REALISED_TO_IMPLIED * float(vol_level(u0)) * np.sqrt(gap_steps * _STEP_YEARS)
    log_path = np.log(s0) + tau * (np.log(s1) - np.log(s0)) + day_sd * bridge
    u_path = u0 + tau * (u1 - u0) - _INTRADAY_LEVERAGE * day_sd * bridge
    spot = np.round(np.exp(log_path[1:]), 2)
    # Pin the close exactly (exp∘log can be an ulp off), so it equals the next day's prevclose.
    spot[-1] = round(s1, 2)
    u_minutes = u_path[1:]
    for array in (spot, u_minutes):
        array.flags.writeable = False
    return DayPath(
        day=day,
        prev_day=prev_day,
        open_utc=bounds[0],
        close_utc=bounds[1],
        settle_utc=settle,
        prev_close=round(s0, 2),
        prev_u=u0,
        spot=spot,
        u=u_minutes,
    )


def _phi(t_years: FloatArray | float) -> FloatArray:
    x = np.maximum(np.asarray(t_years, dtype=np.float64), 1e-12) / _TERM_DECAY_YEARS
    return -np.expm1(-x) / x


def atm_vol(x30: FloatArray | float, t_years: FloatArray | float) -> FloatArray:
    """ATM implied vol (decimal) at maturity ``t_years`` given the 30-day level ``x30``."""
    level = _LONG_RUN_VOL + (np.asarray(x30) - _LONG_RUN_VOL) * _phi(t_years) / _phi(_VIX_YEARS)
    return np.maximum(level, 0.03)


def smile_vol(x30: FloatArray | float, t_years: FloatArray | float, log_moneyness: FloatArray | float) -> FloatArray:
    """Implied vol (decimal) at log-moneyness ln(K/F), maturity ``t_years`` (years), 30-day level ``x30``."""
    atm = atm_vol(x30, t_years)
    z = np.asarray(log_moneyness) / (atm * np.sqrt(np.maximum(np.asarray(t_years, dtype=np.float64), 1e-12)))

    def g(v: FloatArray | float) -> FloatArray:
        return _SMILE_RHO * (v - _SMILE_M) + np.sqrt((v - _SMILE_M) ** 2 + _SMILE_S**2)

    w = 1.0 + _SMILE_B * (g(z) - g(0.0))
    return atm * np.sqrt(np.maximum(w, _SMILE_MIN_FACTOR**2))


def variance_swap_vol(x30: FloatArray | float, t_years: float) -> FloatArray:
    """√(fair variance) of the smile at ``t_years``: (2/T)·∫ OTM(K)/K² dK with F = 1, undiscounted.

    The continuous form of the Cboe VIX formula; used for the simulated VIX (30 d) and VIX9D (9 d).
    """
    x = np.atleast_1d(np.asarray(x30, dtype=np.float64))[:, None]
    scale = atm_vol(x, t_years) * np.sqrt(t_years)
    # Integrate over k = ln K from deep in the put wing (the skew fattens it) to past the call wing.
    k = np.linspace(-40.0, 12.0, 2001)[None, :] * scale
    sigma = smile_vol(x, t_years, k)
    strike = np.exp(k)
    otm = black76.price(k >= 0.0, 1.0, strike, t_years, 1.0, sigma)
    integral = np.trapezoid(np.asarray(otm) / strike, k, axis=1)  # ∫ OTM/K² dK = ∫ OTM/K dk
    return np.asarray(np.sqrt(2.0 * integral / t_years), dtype=np.float64)


def _implied_vol_or_zero(
    premium: FloatArray, is_call: NDArray[np.bool_], forward: float, strike: FloatArray, t_years: float, discount: float
) -> FloatArray:
    """Implied vol of a quoted price (decimal), 0.0 where none exists (Tradier's spelling of "unsolvable")."""
    sigma = np.asarray(black76.implied_vol(premium, is_call, forward, strike, t_years, discount))
    return np.where(np.isfinite(sigma), sigma, 0.0)


def _on_tick_cents(value: FloatArray) -> NDArray[np.int64]:
    """Nearest valid SPX option price in cents (0.05 steps below 3.00, 0.10 from 3.00), at least 0.05."""
    cents = np.asarray(value) * 100.0
    fine = np.round(cents / 5.0) * 5.0
    coarse = np.round(cents / 10.0) * 10.0
    return np.maximum(np.where(fine < 300.0, fine, coarse), 5.0).astype(np.int64)


def quote_bid_ask(model_price: FloatArray, width: FloatArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(bid, ask) in cents around ``model_price`` with total ``width`` (both per share).

    The bid is floored and the ask ceiled onto the tick grid, so bid ≤ model ≤ ask and bid < ask;
    the bid is 0 when the floor goes below one tick, the ask is at least 0.05.
    """
    eps = 1e-9  # keeps values that are on a tick up to float noise on that tick
    bid_raw = (model_price - 0.5 * width) * 100.0
    bid = np.where(bid_raw >= 300.0, np.floor(bid_raw / 10.0 + eps) * 10.0, np.floor(bid_raw / 5.0 + eps) * 5.0)
    ask_raw = (model_price + 0.5 * width) * 100.0
    ask_fine = np.ceil(ask_raw / 5.0 - eps) * 5.0
    ask = np.where(ask_fine <= 300.0, ask_fine, np.ceil(ask_raw / 10.0 - eps) * 10.0)
    return np.maximum(bid, 0.0).astype(np.int64), np.maximum(ask, 5.0).astype(np.int64)


def strike_grid(reference: float) -> FloatArray:
    """Listed strikes (index points) around ``reference``: 5-point from 0.70× to 1.12×,
    25-point out to 0.50×/1.30×, 50-point out to 0.30×/1.50×."""

    def band(step: float, low: float, high: float) -> FloatArray:
        return np.arange(np.ceil(low * reference / step) * step, np.floor(high * reference / step) * step + step / 2, step)

    return np.unique(np.concatenate((band(5.0, 0.70, 1.12), band(25.0, 0.50, 1.30), band(50.0, 0.30, 1.50))))



@dataclass(frozen=True)
class MarketMoment:
    """The market instant a call sees: the real time mapped onto the session (frozen outside it)."""

    now: dt.datetime  # real call time, aware UTC
    instant: dt.datetime  # effective market time, aware UTC (a whole minute, or the session close)
    path: DayPath
    minute: int  # index into path.spot / path.u
    session_over: bool  # the effective session has closed (after hours, weekend, holiday)

    @property
    def spot(self) -> float:
        return float(self.path.spot[self.minute])

    @property
    def u(self) -> float:
        return float(self.path.u[self.minute])


def market_moment(seed: int, now: dt.datetime) -> MarketMoment:
    """Map the aware instant ``now`` onto the market: in RTH its minute, otherwise the last close."""
    real = now.astimezone(UTC)
    minute = real.replace(second=0, microsecond=0)
    day = minute.astimezone(ET).date()
    bounds = mc.session_bounds(day)
    if bounds is not None and minute >= bounds[0]:
        session_day = day
        instant = min(minute, bounds[1])
    else:
        session_day = mc.previous_trading_day(day)
        instant = mc.session_bounds(session_day)[1]  # type: ignore[index]
    path = day_path(seed, session_day)
    index = min(int((instant - path.open_utc).total_seconds() // 60), path.minutes)
    return MarketMoment(now=real, instant=instant, path=path, minute=index, session_over=instant >= path.close_utc)


def listed_series(moment: MarketMoment) -> list[tuple[dt.date, str]]:
    """(expiration, root) pairs still trading or awaiting settlement at the effective instant."""
    pairs = mc.listed_expirations(moment.instant.astimezone(ET).date(), EXPIRATION_HORIZON_DAYS)
    return [(day, root) for day, root in pairs if mc.settlement_instant(day, root) > moment.instant]


def index_level(seed: int, at: dt.datetime) -> float:
    """SPX at instant ``at`` (aware) under the frozen-outside-the-session rule, 2 decimals."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return market_moment(seed, at).spot


def settlement_value(seed: int, expiration: dt.date, root: str, now: dt.datetime) -> float | None:
    """The exercise-settlement value of a series (SPX: the 09:30 ET open; SPXW: the 16:00/13:00 ET
    close of ``expiration``), or None while ``now`` (aware) is before the settlement instant."""
    instant = mc.settlement_instant(expiration, root)
    if now < instant:
        return None
    path = day_path(seed, expiration)
    return float(path.spot[0] if root.upper() == mc.ROOT_AM else path.spot[-1])


@dataclass(frozen=True)
class IndexLevels:
    """An index at a moment, in index points: today's levels so far, the quote and the 52-week range."""

    last: float
    open: float
    high: float
    low: float
    prev_close: float
    bid: float
    ask: float
    week_52_high: float  # 0.0 where not modelled (the volatility indices)
    week_52_low: float


def index_levels(seed: int, moment: MarketMoment, symbol: str) -> IndexLevels:
    """SPX, or VIX/VIX9D as the 30-/9-day variance-swap vols (× 100) of the current smile."""
    path = moment.path
    so_far = slice(0, moment.minute + 1)
    if symbol == "SPX":
        values = path.spot
        last, open_, prev = moment.spot, float(values[0]), path.prev_close
        high, low = float(values[so_far].max()), float(values[so_far].min())
        half_spread = 0.05
        week52 = _spx_52_week_range(seed, moment)
        week52 = (max(week52[0], high), min(week52[1], low))
    else:
        # The index is increasing in the vol state, so the day's high/low come from u's extremes.
        u_points = np.array([moment.u, path.u[0], path.prev_u, path.u[so_far].max(), path.u[so_far].min()])
        level = np.round(100.0 * variance_swap_vol(vol_level(u_points), _VOL_INDEX_YEARS[symbol]), 2).tolist()
        last, open_, prev, high, low = level
        half_spread = 0.01
        week52 = (0.0, 0.0)  # not modelled for the volatility indices
    return IndexLevels(
        last=last,
        open=open_,
        high=high,
        low=low,
        prev_close=prev,
        bid=round(last - half_spread, 2),
        ask=round(last + half_spread, 2),
        week_52_high=week52[0],
        week_52_low=week52[1],
    )


def _spx_52_week_range(seed: int, moment: MarketMoment) -> tuple[float, float]:
    """(high, low) of SPX weekday closes over the 52 weeks before the session (latent closes)."""
    end = moment.path.prev_day
    start = end - dt.timedelta(days=364)
    logs: list[FloatArray] = []
    for year in range(max(start.year, _PROCESS_START_YEAR), end.year + 1):
        block = _year_block(seed, year)
        mask = (block.days >= np.datetime64(start)) & (block.days <= np.datetime64(end))
        logs.append(block.log_level[mask])
    levels = ANCHOR_LEVEL * np.exp(np.concatenate(logs) - _anchor_log(seed))
    return round(float(levels.max()), 2), round(float(levels.min()), 2)


def model_prices(
    spot: float, u: float, instant: dt.datetime, settle: dt.datetime, is_call: NDArray[np.bool_], strikes: FloatArray
) -> tuple[FloatArray, FloatArray, float, float, float]:
    """(model price per share, smile vol, forward, discount, T in years) at ``instant`` for the given contracts."""
    t_years = (settle - instant).total_seconds() / 60.0 / MINUTES_PER_YEAR
    forward = spot * float(np.exp((RATE - DIVIDEND_YIELD) * t_years))
    discount = float(np.exp(-RATE * t_years))
    sigma = smile_vol(float(vol_level(u)), t_years, np.log(strikes / forward))
    prices = np.asarray(black76.price(is_call, forward, strikes, t_years, discount, sigma))
    return prices, sigma, forward, discount, t_years


@dataclass(frozen=True)
class OptionBook:
    """Every strike × (call, put) of one root and expiration at a moment, one array element per contract.

    Prices are per share (× 100 for dollars), ``*_cents`` on the Cboe tick; ``high_cents`` and
    ``low_cents`` span today's open and last trade; the last trade was ``last_trade_age_minutes``
    before the moment's instant.
    """

    spot: float
    strikes: FloatArray  # index points; each strike twice, call then put
    is_call: NDArray[np.bool_]
    price: FloatArray  # model value
    sigma: FloatArray  # smile vol (decimal)
    forward: float
    discount: float
    t_years: float
    bid_cents: NDArray[np.int64]
    ask_cents: NDArray[np.int64]
    last_cents: NDArray[np.int64]
    open_cents: NDArray[np.int64]
    high_cents: NDArray[np.int64]
    low_cents: NDArray[np.int64]
    prev_close_cents: NDArray[np.int64]
    volume: NDArray[np.int64]  # contracts traded today so far
    open_interest: NDArray[np.int64]  # prior-day figure
    bid_size: NDArray[np.int64]
    ask_size: NDArray[np.int64]
    last_volume: NDArray[np.int64]
    last_trade_age_minutes: NDArray[np.int64]


def option_book(seed: int, moment: MarketMoment, root: str, expiration: dt.date) -> OptionBook:
    """The book of one root and expiration at ``moment``, vectorised over the strike grid."""
    path = moment.path
    settle = mc.settlement_instant(expiration, root)
    grid = strike_grid(path.prev_close)
    strikes = np.repeat(grid, 2)
    is_call = np.tile(np.array([True, False]), grid.size)
    shape = strikes.shape
    x30 = float(vol_level(moment.u))
    price, sigma, forward, discount, t_years = model_prices(moment.spot, moment.u, moment.instant, settle, is_call, strikes)

    # Keys that identify a contract for its hashed attributes.
    strike_key = np.round(strikes * 1000.0).astype(np.int64)
    type_key = is_call.astype(np.int64)
    contract = (expiration.toordinal(), _ROOT_CODE[root], strike_key, type_key)
    day_key = path.day.toordinal()
    minute_key = int(moment.instant.timestamp()) // 60

    # Bid/ask: width grows with price and volatility, with per-contract, per-minute noise.
    noise = 0.8 + 0.4 * _hash_uniform(shape, seed, _TAG_SPREAD, minute_key, *contract)
    width = np.minimum(_SPREAD_BASE + _SPREAD_SLOPE * price, _SPREAD_CAP) * np.sqrt(x30 / _VOL_MEAN) * noise
    bid_c, ask_c = quote_bid_ask(price, width)

    # Activity: open interest (prior-day figure) and volume concentrate near the money.
    t_days = t_years * 365.0
    moneyness_sd = np.log(strikes / path.prev_close) / (_VOL_MEAN * np.sqrt(max(t_days, 1.0) / 365.0))
    near = np.exp(-0.5 * (moneyness_sd / 2.0) ** 2)
    round_strike = np.where(strike_key % 100_000 == 0, 2.0, np.where(strike_key % 25_000 == 0, 1.4, 1.0))
    side = np.where(is_call, 1.0, 1.4)  # SPX open interest is put-heavy
    root_mult = 2.5 if root == mc.ROOT_AM else 1.0
    oi_u = _hash_uniform(shape, seed, _TAG_OI, day_key, *contract)
    open_interest = np.floor(near * (300.0 + 6000.0 * oi_u) * round_strike * side * root_mult + 40.0 * oi_u**3)
    vol_u = _hash_uniform(shape, seed, _TAG_VOLUME, day_key, *contract)
    day_volume = near**2 * (100.0 + 4000.0 * vol_u) * (1.0 + 4.0 * np.exp(-t_days / 3.0)) * side
    elapsed = min(moment.minute / path.minutes, 1.0)
    volume = np.floor(day_volume * elapsed).astype(np.int64)
    bid_size_u = _hash_uniform(shape, seed, _TAG_SIZE, 0, minute_key, *contract)
    ask_size_u = _hash_uniform(shape, seed, _TAG_SIZE, 1, minute_key, *contract)
    bidsize = np.where(bid_c > 0, 1 + np.floor(bid_size_u * (5.0 + 195.0 * near)), 0).astype(np.int64)
    asksize = (1 + np.floor(ask_size_u * (5.0 + 195.0 * near))).astype(np.int64)

    # Trades: a last price inside today's market, the open and the previous close from the model.
    price_u, age_u, lot_u = (_hash_uniform(shape, seed, _TAG_TRADE, part, minute_key, *contract) for part in range(3))
    last_c = np.maximum(np.clip(_on_tick_cents((bid_c + (ask_c - bid_c) * price_u) / 100.0), bid_c, ask_c), 5)
    open_price = model_prices(float(path.spot[0]), float(path.u[0]), path.open_utc, settle, is_call, strikes)[0]
    prev_bounds = mc.session_bounds(path.prev_day)
    prev_price = model_prices(path.prev_close, path.prev_u, prev_bounds[1], settle, is_call, strikes)[0]  # type: ignore[index]
    open_c, prev_c = _on_tick_cents(open_price), _on_tick_cents(prev_price)
    # The last trade happened up to 20 minutes ago, never before today's open.
    trade_age = np.floor(age_u * min(moment.minute, 20)).astype(np.int64)
    last_volume = np.minimum(1 + np.floor(lot_u * 10.0).astype(np.int64), np.maximum(volume, 1))
    return OptionBook(
        spot=moment.spot,
        strikes=strikes,
        is_call=is_call,
        price=price,
        sigma=sigma,
        forward=forward,
        discount=discount,
        t_years=t_years,
        bid_cents=bid_c,
        ask_cents=ask_c,
        last_cents=last_c,
        open_cents=open_c,
        high_cents=np.maximum(open_c, last_c),
        low_cents=np.minimum(open_c, last_c),
        prev_close_cents=prev_c,
        volume=volume,
        open_interest=open_interest.astype(np.int64),
        bid_size=bidsize,
        ask_size=asksize,
        last_volume=last_volume,
        last_trade_age_minutes=trade_age,
    )


@dataclass(frozen=True)
class OptionGreeks:
    """Spot greeks of an ``OptionBook``, per share, one element per contract (NaN where undefined)."""

    delta: FloatArray
    gamma: FloatArray
    theta_per_day: FloatArray
    vega_per_vol_pt: FloatArray
    rho_per_pct: FloatArray  # per 1 % of r
    phi_per_pct: FloatArray  # per 1 % of dividend yield


def option_greeks(book: OptionBook) -> OptionGreeks:
    """Spot greeks from Black-76: dF/dS = F/S; theta adds the carry terms Black-76's D-fixed theta leaves out."""
    forward, spot, t_years = book.forward, book.spot, book.t_years
    g = black76.greeks(book.is_call, forward, book.strikes, t_years, book.discount, book.sigma)
    fwd_delta = np.asarray(g.delta)
    carry = (RATE * book.price - (RATE - DIVIDEND_YIELD) * forward * fwd_delta) / 365.0
    return OptionGreeks(
        delta=fwd_delta * forward / spot,
        gamma=np.asarray(g.gamma) * (forward / spot) ** 2,
        theta_per_day=np.asarray(g.theta_per_day) + carry,
        vega_per_vol_pt=np.asarray(g.vega_per_vol_pt),
        rho_per_pct=t_years * (forward * fwd_delta - book.price) / 100.0,
        phi_per_pct=-t_years * forward * fwd_delta / 100.0,
    )


def quote_implied_vols(book: OptionBook) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(bid, mid, ask) implied vols (decimal) of the book's quotes; 0.0 where none exists or the bid is zero."""
    args = (book.is_call, book.forward, book.strikes, book.t_years, book.discount)
    bid_iv = np.where(book.bid_cents > 0, _implied_vol_or_zero(book.bid_cents / 100.0, *args), 0.0)
    ask_iv = _implied_vol_or_zero(book.ask_cents / 100.0, *args)
    mid_iv = np.where(bid_iv > 0, 0.5 * (bid_iv + ask_iv), ask_iv)
    return bid_iv, mid_iv, ask_iv
