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
* **Regime (optional, off by default).** ``RegimeParams(enabled=True)`` plants a signal a
  meta-labeler can find; with it off (the default, or ``regime=None``) every output is
  byte-identical to the model without it. A latent two-state Markov chain, calm/stressed, runs on
  the same weekday grid as the daily path, drawn from its own ``SeedSequence([seed, tag, year])``
  stream (so the existing streams are not reshuffled) and chained across years from a calm
  1999-01-01. Transitions per weekday: calm → stressed 3 %, stressed → calm 20 % (stationary
  share stressed 3/23 ≈ 13 %; mean spells 33 calm and 5 stressed weekdays). Day d's state holds
  from d's 09:30 open to its close and is what a 10:00–12:00 ET decision on d lives in:

  - *term structure*: stressed days add a front-end premium ``f·(e^{−T/τ_f} − e^{−30 d/τ_f})``
    to the ATM vol (f = 5 vol points, τ_f = 10 days): zero at 30 days, so VIX is unchanged,
    +1.8 points at 9 days (VIX9D/VIX up ≈ 0.1 at a 16 % VIX), +4.3 points at 1 day. It enters
    ``atm_vol``/``smile_vol``/``variance_swap_vol`` (argument ``front``), so VIX9D and the
    chain's IVs agree; the previous close is priced with the previous day's premium.
  - *realised volatility*: a stressed day's return volatility (overnight gap and the intraday
    bridge included) is 1.5× the calm one (its log drift unchanged), so the hours before the
    entry windows move more.
  - *jumps*: each weekday draws at most one jump, landing 1–5 weekdays later (uniform): down with
    probability 10 % when stressed vs 0.2 % when calm, log size −3 % … −5 % (uniform); up with
    probability 2 % stressed vs 0.2 % calm, +2 % … +4 %. The jump is part of the day's
    close-to-close return, so closes, the intraday path, the index, the chains and the
    settlement values all carry it: it happens at a uniform minute of the landing session
    (minute 0 = a gap at the 09:30 open; a jump landing on a holiday gaps the next open), and
    it moves the vol state by −12·J (a −4 % jump lifts the 30-day vol ≈ 2 points). A
    compensating drift on every weekday, minus the expected jump return at the stationary mix
    (+0.046 % a weekday, ≈ 12 % a year, with the defaults), keeps the index from trending down:
    calm stretches drift up, stressed ones fall in jumps.

  ``regime_state``/``regime_states`` and ``jump_schedule`` expose the latent chain and the
  drawn jumps; they are defined whatever ``enabled`` says (the market ignores them when it is
  off), so a control experiment can label days by a regime that has no effect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
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
_FRONT_DECAY_YEARS = 10.0 / 365.0  # e-folding maturity of the regime's front-end vol premium
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
_TAG_REGIME = 0x5E6
_TAG_SPREAD, _TAG_OI, _TAG_VOLUME, _TAG_SIZE, _TAG_TRADE = 11, 12, 13, 14, 15
# Open interest per contract at the money, before the round-strike, put and AM multipliers: 30 to
# 630 contracts. Calibrated so a daily SPXW expiration holds ~50-300 k contracts and the listed
# chain ~10-15 M in all (Cboe's SPX + SPXW open interest is of that order), which puts the GEX of the
# captured expirations at a few $bn per 1 % move, as published SPX estimates are. It was 10x this
# (0.5-3 M contracts per daily expiration), which made the GEX read about -$90 bn per 1 %.
_OI_BASE, _OI_SPREAD = 30.0, 600.0
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
class RegimeParams:
    """The planted calm/stressed regime (module docstring, "Regime"); it acts only when ``enabled``.

    Probabilities are per weekday; jump sizes are (low, high) magnitudes of the log return.
    """

    enabled: bool = False
    p_calm_to_stressed: float = 0.03
    p_stressed_to_calm: float = 0.20
    stressed_vol_multiplier: float = 1.5  # return vol of a stressed day vs a calm one
    front_premium: float = 0.05  # stressed: extra ATM vol (decimal) as T → 0, zero at 30 days
    p_down_calm: float = 0.002
    p_down_stressed: float = 0.10
    p_up_calm: float = 0.002
    p_up_stressed: float = 0.02
    down_jump: tuple[float, float] = (0.03, 0.05)
    up_jump: tuple[float, float] = (0.02, 0.04)
    max_lag_days: int = 5  # a jump lands 1 … max_lag_days weekdays after the day that drew it
    jump_vol_leverage: float = 12.0  # vol state u moves by −leverage × the jump's log return

    def __post_init__(self) -> None:
        probabilities = (self.p_calm_to_stressed, self.p_stressed_to_calm, self.p_down_calm, self.p_down_stressed)
        if not all(0.0 <= p <= 1.0 for p in (*probabilities, self.p_up_calm, self.p_up_stressed)):
            raise ValueError("regime probabilities must lie in [0, 1]")
        if self.p_down_calm + self.p_up_calm > 1.0 or self.p_down_stressed + self.p_up_stressed > 1.0:
            raise ValueError("a day draws at most one jump: p_down + p_up must not exceed 1")
        for low, high in (self.down_jump, self.up_jump):
            if not 0.0 <= low <= high:
                raise ValueError("jump sizes are (low, high) magnitudes with 0 <= low <= high")
        if self.max_lag_days < 1 or self.stressed_vol_multiplier <= 0.0:
            raise ValueError("max_lag_days must be >= 1 and stressed_vol_multiplier > 0")

    @property
    def stressed_share(self) -> float:
        """Stationary probability of the stressed state."""
        rate = self.p_calm_to_stressed + self.p_stressed_to_calm
        return self.p_calm_to_stressed / rate if rate > 0.0 else 0.0

    @property
    def jump_compensator(self) -> float:
        """Drift per weekday (log return) that cancels the expected jump return at the stationary mix."""
        down, up = 0.5 * sum(self.down_jump), 0.5 * sum(self.up_jump)
        share = self.stressed_share
        calm = self.p_up_calm * up - self.p_down_calm * down
        stressed = self.p_up_stressed * up - self.p_down_stressed * down
        return -((1.0 - share) * calm + share * stressed)


REGIME_PRESETS = ("off", "on", "strong", "stressed-vol")


def regime_preset(name: str) -> RegimeParams:
    """The regime by name (``true``/``false`` stand for on/off):

    * ``off`` — the default market; ``on`` — the defaults above;
    * ``strong`` — stressed spells twice as likely and twice as long-lived in proportion, a 60 %
      chance of a −4 % … −7 % jump within two weekdays of a stressed day, no upside jumps, an
      8-point front premium. Its signal is easy to rank (the planted-signal tests use it: three
      years, out-of-sample AUC ≥ 0.60), but the drift that compensates its jumps is +0.8 % a calm
      weekday, so the index wanders (2025, seed 7: 4,200 → 8,200 → 4,000) and a one-year walk-forward
      often shows no gain (synthetic 2025: gain interval above zero on seeds 1, 2, 3; not 4, 7);
    * ``stressed-vol`` — the same spells, but a stressed day's returns three times as volatile and a
      30 % chance of a −2 % … −4 % jump (drift +0.22 % a weekday): the credit-spread seller's real
      risk (realised vol far above the implied premium) with a steadier index. The end-to-end
      one-year demonstration was tried on it (synthetic 2025: gain interval above zero on seeds 1,
      2, 3, 5, 7, not 4; the generated year of seed 7 through the platform: +4.00 [−7.46, +16.14],
      none shown; bench/README.md).
    """
    key = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off", "": "off"}.get(
        name.strip().lower(), name.strip().lower())
    if key == "off":
        return RegimeParams()
    if key == "on":
        return RegimeParams(enabled=True)
    spells = RegimeParams(enabled=True, p_calm_to_stressed=0.08, p_stressed_to_calm=0.25, p_up_stressed=0.0,
                          front_premium=0.08, max_lag_days=2)
    if key == "strong":
        return replace(spells, p_down_stressed=0.6, down_jump=(0.04, 0.07))
    if key == "stressed-vol":
        return replace(spells, stressed_vol_multiplier=3.0, p_down_stressed=0.3, down_jump=(0.02, 0.04))
    raise ValueError(f"unknown regime {name!r}: one of {', '.join(REGIME_PRESETS)}")


def _active(regime: RegimeParams | None) -> RegimeParams | None:
    """The regime that acts on the market: None when absent or disabled (one cache key for "off")."""
    return regime if regime is not None and regime.enabled else None


@dataclass(frozen=True)
class _RegimeBlock:
    """One calendar year of the regime chain and of the jumps drawn on each weekday."""

    days: NDArray[np.datetime64]
    stressed: NDArray[np.bool_]
    lag: NDArray[np.int64]  # weekdays until the drawn jump lands; 0 = no jump drawn that day
    log_jump: FloatArray  # signed log return of the drawn jump (0.0 where none)
    fraction: FloatArray  # where in the landing session it happens, [0, 1)
    landing_log: FloatArray  # sum of the jumps landing on each weekday (drawn this year or last)


@lru_cache(maxsize=512)
def _regime_block(seed: int, year: int, params: RegimeParams) -> _RegimeBlock:
    """The regime of ``year``'s weekdays, chained from the last state of ``year - 1`` (calm in 1999).

    Cached per (seed, year, params) with ``enabled`` normalised away by the callers; five uniforms
    per weekday (transition, jump, lag, size, minute) from the regime's own stream.
    """
    if not _PROCESS_START_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the simulated market covers {FIRST_YEAR}–{LAST_YEAR}, not {year}")
    prev: _RegimeBlock | None = None
    if year > _PROCESS_START_YEAR:
        for earlier in range(_PROCESS_START_YEAR, year - 1):
            _regime_block(seed, earlier, params)
        prev = _regime_block(seed, year - 1, params)
    all_days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
    days = all_days[np.is_busday(all_days)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _TAG_REGIME, year])))
    draws = rng.random((days.size, 5))
    stressed = np.empty(days.size, dtype=np.bool_)
    state = bool(prev.stressed[-1]) if prev is not None else False
    for i, flip in enumerate(draws[:, 0].tolist()):  # a 261-step chain: a loop is cheaper than tricks
        if flip < (params.p_stressed_to_calm if state else params.p_calm_to_stressed):
            state = not state
        stressed[i] = state
    p_down = np.where(stressed, params.p_down_stressed, params.p_down_calm)
    p_up = np.where(stressed, params.p_up_stressed, params.p_up_calm)
    down = draws[:, 1] < p_down
    up = ~down & (draws[:, 1] < p_down + p_up)
    size_u = draws[:, 3]
    down_size = params.down_jump[0] + (params.down_jump[1] - params.down_jump[0]) * size_u
    up_size = params.up_jump[0] + (params.up_jump[1] - params.up_jump[0]) * size_u
    log_jump = np.where(down, -down_size, np.where(up, up_size, 0.0))
    lag = np.where(down | up, 1 + np.floor(draws[:, 2] * params.max_lag_days).astype(np.int64), 0)
    # Land this year's and last year's draws on this year's weekdays.
    sources = [(days, lag, log_jump)] + ([(prev.days, prev.lag, prev.log_jump)] if prev is not None else [])
    landing_log = np.zeros(days.size)
    for src_days, src_lag, src_log in sources:
        drawn = src_lag > 0
        lands = np.busday_offset(src_days[drawn], src_lag[drawn])
        inside = (lands >= days[0]) & (lands <= days[-1])
        np.add.at(landing_log, np.searchsorted(days, lands[inside]), src_log[drawn][inside])
    block = _RegimeBlock(
        days=days, stressed=stressed, lag=lag, log_jump=log_jump, fraction=draws[:, 4], landing_log=landing_log
    )
    for array in (block.days, block.stressed, block.lag, block.log_jump, block.fraction, block.landing_log):
        array.flags.writeable = False
    return block


def _chain_key(params: RegimeParams) -> RegimeParams:
    # The chain and its draws do not depend on whether the market uses them.
    return params if params.enabled else replace(params, enabled=True)


def regime_states(
    seed: int, start: dt.date, end: dt.date, params: RegimeParams
) -> tuple[NDArray[np.datetime64], NDArray[np.bool_]]:
    """(weekdays, stressed) for every weekday in [start, end]: the latent regime chain, vectorised.

    Defined whatever ``params.enabled`` says (the market ignores it when off).
    """
    check_seed(seed)
    key = _chain_key(params)
    days: list[NDArray[np.datetime64]] = []
    states: list[NDArray[np.bool_]] = []
    for year in range(start.year, end.year + 1):
        block = _regime_block(seed, year, key)
        mask = (block.days >= np.datetime64(start)) & (block.days <= np.datetime64(end))
        days.append(block.days[mask])
        states.append(block.stressed[mask])
    if not days:
        return np.array([], dtype="datetime64[D]"), np.array([], dtype=np.bool_)
    return np.concatenate(days), np.concatenate(states)


def regime_state(seed: int, day: dt.date, params: RegimeParams) -> bool:
    """True when weekday ``day`` is in the stressed regime (the latent chain; see ``regime_states``)."""
    days, states = regime_states(seed, day, day, params)
    if days.size != 1:
        raise ValueError(f"{day} is not a weekday")
    return bool(states[0])


@dataclass(frozen=True)
class RegimeJump:
    """A jump of the regime: drawn on one weekday, landing ``lag`` weekdays later.

    ``session_fraction`` places it in the landing session: minute ``floor(fraction·(n + 1))``
    after 09:30 ET of an n-minute session (0 = a gap at the open). A jump landing on a weekday
    without a session (a holiday) gaps the next session's open.
    """

    drawn_on: dt.date
    lands_on: dt.date
    log_return: float  # ln(S after / S before); negative = down
    session_fraction: float


def jump_schedule(seed: int, start: dt.date, end: dt.date, params: RegimeParams) -> list[RegimeJump]:
    """The regime's jumps landing on weekdays in [start, end], by landing day then drawing day.

    Defined whatever ``params.enabled`` says (the market carries them only when it is on).
    """
    check_seed(seed)
    key = _chain_key(params)
    jumps: list[RegimeJump] = []
    first = max(start.year - 1, _PROCESS_START_YEAR)
    for year in range(first, min(end.year, LAST_YEAR) + 1):
        block = _regime_block(seed, year, key)
        drawn = np.flatnonzero(block.lag > 0)
        lands = np.busday_offset(block.days[drawn], block.lag[drawn])
        for i, landing in zip(drawn.tolist(), lands.tolist(), strict=True):
            if start <= landing <= end:
                jumps.append(
                    RegimeJump(
                        drawn_on=block.days[i].item(),
                        lands_on=landing,
                        log_return=float(block.log_jump[i]),
                        session_fraction=float(block.fraction[i]),
                    )
                )
    jumps.sort(key=lambda jump: (jump.lands_on, jump.drawn_on))
    return jumps


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
def _year_block(seed: int, year: int, regime: RegimeParams | None = None) -> _YearBlock:
    """The weekday closes of ``year``, continuing from the last close of ``year - 1``.

    Cached per (seed, year, active regime or None); earlier years are built first (ascending) so
    the recursion stays one level deep. Vectorised: the OU recursion runs through ``lfilter``, the
    level through ``cumsum``. The regime (when given) scales stressed days' return vol, adds the
    landing jumps (and their vol shock) and the compensating drift; its draws never touch the
    daily stream, so the shocks below are the same with it on or off.
    """
    if not _PROCESS_START_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"the simulated market covers {FIRST_YEAR}–{LAST_YEAR}, not {year}")
    if year == _PROCESS_START_YEAR:
        prev_log, prev_u = 0.0, _U_MEAN
    else:
        for earlier in range(_PROCESS_START_YEAR, year - 1):
            _year_block(seed, earlier, regime)
        prev = _year_block(seed, year - 1, regime)
        prev_log, prev_u = float(prev.log_level[-1]), float(prev.u[-1])
    all_days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01"))
    days = all_days[np.is_busday(all_days)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _TAG_DAILY, year])))
    shocks = rng.standard_normal((days.size, 2))
    z_ret = shocks[:, 0]
    z_vol = _U_RETURN_CORR * z_ret + np.sqrt(1.0 - _U_RETURN_CORR**2) * shocks[:, 1]
    decay = 1.0 - _U_KAPPA * _STEP_YEARS
    innovations = _U_ETA * np.sqrt(_STEP_YEARS) * z_vol
    if regime is not None:
        chain = _regime_block(seed, year, regime)
        innovations = innovations - regime.jump_vol_leverage * chain.landing_log
    # y_i = decay·y_{i−1} + innovation_i with y = u − mean; zi carries the previous year's state in.
    dev, _ = lfilter([1.0], [1.0, -decay], innovations, zi=[decay * (prev_u - _U_MEAN)])
    u = _U_MEAN + dev
    u_before = np.concatenate(([prev_u], u[:-1]))
    sigma = _REALISED_TO_IMPLIED * vol_level(u_before)
    returns = sigma * np.sqrt(_STEP_YEARS) * z_ret - 0.5 * sigma**2 * _STEP_YEARS
    if regime is not None:
        # Stressed days scale the shock only (their log drift stays the calm one's).
        multiplier = np.where(chain.stressed, regime.stressed_vol_multiplier, 1.0)
        returns = returns + (multiplier - 1.0) * sigma * np.sqrt(_STEP_YEARS) * z_ret
        returns = returns + chain.landing_log + regime.jump_compensator
    log_level = prev_log + np.cumsum(returns)
    for array in (days, log_level, u):
        array.flags.writeable = False
    return _YearBlock(days=days, log_level=log_level, u=u)


def _weekday_state(seed: int, day: dt.date, regime: RegimeParams | None = None) -> tuple[float, float]:
    """(log level, u) of the latent process at the close of weekday ``day``."""
    block = _year_block(seed, day.year, regime)
    index = int(np.searchsorted(block.days, np.datetime64(day)))
    if index >= block.days.size or block.days[index] != np.datetime64(day):
        raise ValueError(f"{day} is not a weekday")
    return float(block.log_level[index]), float(block.u[index])


@lru_cache(maxsize=64)
def _anchor_log(seed: int, regime: RegimeParams | None = None) -> float:
    return _weekday_state(seed, ANCHOR_DATE, regime)[0]


def _close_state(seed: int, day: dt.date, regime: RegimeParams | None = None) -> tuple[float, float]:
    """(SPX close, u) of trading day ``day``, rescaled so the anchor date closes at ANCHOR_LEVEL."""
    log_level, u = _weekday_state(seed, day, regime)
    return ANCHOR_LEVEL * float(np.exp(log_level - _anchor_log(seed, regime))), u


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
    regime: RegimeParams | None = None  # the active regime, None when off
    stressed: bool = False  # the day's regime state (False when off)
    front: float = 0.0  # front-end vol premium of the day (decimal; 0.0 unless stressed)
    prev_front: float = 0.0  # the same for prev_day, which prices the previous close

    @property
    def minutes(self) -> int:
        return self.spot.size - 1


def day_path(seed: int, day: dt.date, regime: RegimeParams | None = None) -> DayPath:
    """Brownian bridge between two closes on a variance clock (overnight share, then even minutes).

    With an enabled ``regime`` the bridge is scaled by the stressed-day vol multiplier and the
    jumps landing since the previous trading day are placed at their minutes (module docstring).
    """
    return _day_path(seed, day, _active(regime))


@lru_cache(maxsize=128)
def _day_path(seed: int, day: dt.date, regime: RegimeParams | None) -> DayPath:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"the simulated market covers {FIRST_YEAR}–{LAST_YEAR}, not {day}")
    bounds = mc.session_bounds(day)
    if bounds is None:
        raise ValueError(f"{day} is not a trading day")
    prev_day = mc.previous_trading_day(day)
    s0, u0 = _close_state(seed, prev_day, regime)
    s1, u1 = _close_state(seed, day, regime)
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
    if regime is None:
        day_sd = _REALISED_TO_IMPLIED * float(vol_level(u0)) * np.sqrt(gap_steps * _STEP_YEARS)
        log_path = np.log(s0) + tau * (np.log(s1) - np.log(s0)) + day_sd * bridge
        u_path = u0 + tau * (u1 - u0) - _INTRADAY_LEVERAGE * day_sd * bridge
        stressed, front, prev_front = False, 0.0, 0.0
    else:
        gap_start = prev_day + dt.timedelta(days=1)
        _, gap_stressed = regime_states(seed, gap_start, day, regime)
        multiplier = np.where(gap_stressed, regime.stressed_vol_multiplier, 1.0)
        day_sd = _REALISED_TO_IMPLIED * float(vol_level(u0)) * float(np.sqrt(np.sum(multiplier**2) * _STEP_YEARS))
        # Jumps since the previous close: a step at their minute (the open for one landing on a holiday).
        jump_steps = np.zeros(tau.size)
        for jump in jump_schedule(seed, gap_start, day, regime):
            minute = min(int(jump.session_fraction * (n + 1)), n) if jump.lands_on == day else 0
            jump_steps[minute + 1 :] += jump.log_return
        total_jump = float(jump_steps[-1])
        log_path = np.log(s0) + tau * (np.log(s1) - np.log(s0) - total_jump) + jump_steps + day_sd * bridge
        vol_steps = regime.jump_vol_leverage * jump_steps
        u_path = u0 + tau * (u1 - u0 + vol_steps[-1]) - vol_steps - _INTRADAY_LEVERAGE * day_sd * bridge
        stressed = bool(gap_stressed[-1])
        front = regime.front_premium if stressed else 0.0
        prev_front = regime.front_premium if regime_state(seed, prev_day, regime) else 0.0
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
        regime=regime,
        stressed=stressed,
        front=front,
        prev_front=prev_front,
    )


def _phi(t_years: FloatArray | float) -> FloatArray:
    x = np.maximum(np.asarray(t_years, dtype=np.float64), 1e-12) / _TERM_DECAY_YEARS
    return -np.expm1(-x) / x


def front_shape(t_years: FloatArray | float) -> FloatArray:
    """Maturity profile of the regime's front-end premium: e^{−T/10 d} − e^{−30 d/10 d} (0 at 30 days)."""
    t = np.maximum(np.asarray(t_years, dtype=np.float64), 0.0)
    return np.asarray(np.exp(-t / _FRONT_DECAY_YEARS) - np.exp(-_VIX_YEARS / _FRONT_DECAY_YEARS), dtype=np.float64)


def atm_vol(x30: FloatArray | float, t_years: FloatArray | float, front: FloatArray | float = 0.0) -> FloatArray:
    """ATM implied vol (decimal) at maturity ``t_years`` given the 30-day level ``x30``.

    ``front`` is the regime's front-end premium (decimal, 0.0 when calm or off), added as
    ``front·front_shape(T)`` so the 30-day vol stays ``x30``.
    """
    level = _LONG_RUN_VOL + (np.asarray(x30) - _LONG_RUN_VOL) * _phi(t_years) / _phi(_VIX_YEARS)
    if np.any(front):  # skipped when off, so those outputs stay bit-for-bit what they were
        level = level + np.asarray(front) * front_shape(t_years)
    return np.maximum(level, 0.03)


def smile_vol(
    x30: FloatArray | float,
    t_years: FloatArray | float,
    log_moneyness: FloatArray | float,
    front: FloatArray | float = 0.0,
) -> FloatArray:
    """Implied vol (decimal) at log-moneyness ln(K/F), maturity ``t_years`` (years), 30-day level ``x30``
    and front-end premium ``front`` (see ``atm_vol``)."""
    atm = atm_vol(x30, t_years, front)
    z = np.asarray(log_moneyness) / (atm * np.sqrt(np.maximum(np.asarray(t_years, dtype=np.float64), 1e-12)))

    def g(v: FloatArray | float) -> FloatArray:
        return _SMILE_RHO * (v - _SMILE_M) + np.sqrt((v - _SMILE_M) ** 2 + _SMILE_S**2)

    w = 1.0 + _SMILE_B * (g(z) - g(0.0))
    return atm * np.sqrt(np.maximum(w, _SMILE_MIN_FACTOR**2))


def variance_swap_vol(x30: FloatArray | float, t_years: float, front: FloatArray | float = 0.0) -> FloatArray:
    """√(fair variance) of the smile at ``t_years``: (2/T)·∫ OTM(K)/K² dK with F = 1, undiscounted.

    The continuous form of the Cboe VIX formula; used for the simulated VIX (30 d) and VIX9D (9 d).
    ``front`` (scalar or one per ``x30``) is the regime's front-end premium, see ``atm_vol``.
    """
    x = np.atleast_1d(np.asarray(x30, dtype=np.float64))[:, None]
    f = np.atleast_1d(np.asarray(front, dtype=np.float64))[:, None]
    scale = atm_vol(x, t_years, f) * np.sqrt(t_years)
    # Integrate over k = ln K from deep in the put wing (the skew fattens it) to past the call wing.
    k = np.linspace(-40.0, 12.0, 2001)[None, :] * scale
    sigma = smile_vol(x, t_years, k, f)
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

    @property
    def front(self) -> float:
        """The session's front-end vol premium (decimal; 0.0 unless the regime is on and stressed)."""
        return self.path.front


def market_moment(seed: int, now: dt.datetime, regime: RegimeParams | None = None) -> MarketMoment:
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
    path = day_path(seed, session_day, regime)
    index = min(int((instant - path.open_utc).total_seconds() // 60), path.minutes)
    return MarketMoment(now=real, instant=instant, path=path, minute=index, session_over=instant >= path.close_utc)


def listed_series(moment: MarketMoment) -> list[tuple[dt.date, str]]:
    """(expiration, root) pairs still trading or awaiting settlement at the effective instant."""
    pairs = mc.listed_expirations(moment.instant.astimezone(ET).date(), EXPIRATION_HORIZON_DAYS)
    return [(day, root) for day, root in pairs if mc.settlement_instant(day, root) > moment.instant]


def index_level(seed: int, at: dt.datetime, regime: RegimeParams | None = None) -> float:
    """SPX at instant ``at`` (aware) under the frozen-outside-the-session rule, 2 decimals."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return market_moment(seed, at, regime).spot


def settlement_value(
    seed: int, expiration: dt.date, root: str, now: dt.datetime, regime: RegimeParams | None = None
) -> float | None:
    """The exercise-settlement value of a series (SPX: the 09:30 ET open; SPXW: the 16:00/13:00 ET
    close of ``expiration``), or None while ``now`` (aware) is before the settlement instant."""
    instant = mc.settlement_instant(expiration, root)
    if now < instant:
        return None
    path = day_path(seed, expiration, regime)
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
        fronts = np.array([path.front, path.front, path.prev_front, path.front, path.front])
        vols = variance_swap_vol(vol_level(u_points), _VOL_INDEX_YEARS[symbol], fronts)
        level = np.round(100.0 * vols, 2).tolist()
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
    regime = moment.path.regime
    for year in range(max(start.year, _PROCESS_START_YEAR), end.year + 1):
        block = _year_block(seed, year, regime)
        mask = (block.days >= np.datetime64(start)) & (block.days <= np.datetime64(end))
        logs.append(block.log_level[mask])
    levels = ANCHOR_LEVEL * np.exp(np.concatenate(logs) - _anchor_log(seed, regime))
    return round(float(levels.max()), 2), round(float(levels.min()), 2)


def model_prices(
    spot: float,
    u: float,
    instant: dt.datetime,
    settle: dt.datetime,
    is_call: NDArray[np.bool_],
    strikes: FloatArray,
    front: float = 0.0,
) -> tuple[FloatArray, FloatArray, float, float, float]:
    """(model price per share, smile vol, forward, discount, T in years) at ``instant`` for the given
    contracts; ``front`` is the regime's front-end vol premium (decimal, see ``atm_vol``)."""
    t_years = (settle - instant).total_seconds() / 60.0 / MINUTES_PER_YEAR
    forward = spot * float(np.exp((RATE - DIVIDEND_YIELD) * t_years))
    discount = float(np.exp(-RATE * t_years))
    sigma = smile_vol(float(vol_level(u)), t_years, np.log(strikes / forward), front)
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


def _near_weight(strikes: FloatArray, reference: float, t_days: float) -> FloatArray:
    """Activity weight, 1 at the money: a Gaussian in standard deviations of log-moneyness."""
    moneyness_sd = np.log(strikes / reference) / (_VOL_MEAN * np.sqrt(max(t_days, 1.0) / 365.0))
    return np.asarray(np.exp(-0.5 * (moneyness_sd / 2.0) ** 2))


def option_book(seed: int, moment: MarketMoment, root: str, expiration: dt.date) -> OptionBook:
    """The book of one root and expiration at ``moment``, vectorised over the strike grid."""
    path = moment.path
    settle = mc.settlement_instant(expiration, root)
    grid = strike_grid(path.prev_close)
    strikes = np.repeat(grid, 2)
    is_call = np.tile(np.array([True, False]), grid.size)
    shape = strikes.shape
    x30 = float(vol_level(moment.u))
    price, sigma, forward, discount, t_years = model_prices(
        moment.spot, moment.u, moment.instant, settle, is_call, strikes, path.front
    )

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

    # Activity: open interest (prior-day figure) and volume concentrate near the money. Open interest
    # is measured from the session's open, so it stays one figure all day, as OPRA's morning OI does.
    t_days = t_years * 365.0
    open_days = max((settle - path.open_utc).total_seconds() / 86_400.0, 1.0)
    near = _near_weight(strikes, path.prev_close, t_days)
    near_open = _near_weight(strikes, path.prev_close, open_days)
    round_strike = np.where(strike_key % 100_000 == 0, 2.0, np.where(strike_key % 25_000 == 0, 1.4, 1.0))
    side = np.where(is_call, 1.0, 1.4)  # SPX open interest is put-heavy
    root_mult = 2.5 if root == mc.ROOT_AM else 1.0
    oi_u = _hash_uniform(shape, seed, _TAG_OI, day_key, *contract)
    open_interest = np.floor(near_open * (_OI_BASE + _OI_SPREAD * oi_u) * round_strike * side * root_mult
                             + 4.0 * oi_u**3)
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
    open_price = model_prices(
        float(path.spot[0]), float(path.u[0]), path.open_utc, settle, is_call, strikes, path.front
    )[0]
    prev_at = mc.session_bounds(path.prev_day)[1]  # type: ignore[index]
    prev_price = model_prices(path.prev_close, path.prev_u, prev_at, settle, is_call, strikes, path.prev_front)[0]
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
