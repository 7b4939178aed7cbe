"""The decision-time features of a candidate: one pure function, one schema version.

What the meta-labeler sees about a candidate at its entry window, computed the same way live and
in backtests from what was known at the decision minute. All values are floats (booleans as 0/1,
the side as ``side_is_call``); a value that cannot be computed is NaN and ``missing`` says why —
never a silent zero. ``FEATURE_NAMES`` is the column order of every dataset.

Candidate (``CANDIDATE``), from the chain read and the spread built:
  dte_target, dte_calendar (calendar days to expiration), minutes_to_settlement, side_is_call,
  delta_target, short_abs_delta, width_points, credit_fill (fill model), credit_to_width,
  credit_mid, combo_spread (points), combo_spread_frac_mid (combo spread / mid credit), short_iv,
  long_iv, atm_iv (the expiration's, ``market.atm_iv``), skew (short IV − ATM IV),
  short_distance_points (|K_short − F|), short_distance_sd (|ln(K_short/F)| / (ATM IV·√T)).
Market (``MARKET``), the window's context:
  forward (implied forward of the expiration), move_since_open_pct (100·ln(F / F at the session's
  first minute), same expiration), move_since_prev_close_pct (100·ln(F / the index level at the
  previous session's settlement minute) — F carries to its expiration, ~0.005 % a day, so this
  includes that carry), rv_30m / rv_60m (realised vol of the expiration's forward sampled every 5
  minutes over the last 30 / 60 minutes, annualised on 252 × 390 trading minutes), vix30 / vix9d
  (our VIX-style indexes from the SPXW chains bracketing 30 and 9 days), vix_ratio_9d_30d,
  gex_usd_per_pct (open interest × gamma, USD per 1 % move).
Calendar (``CALENDAR``):
  weekday (0 = Monday), minutes_to_close (to the session close, early closes included),
  early_close_day, days_to_monthly (to the next AM-settled SPX monthly), days_to_fomc (to the next
  FOMC statement, 0 on the day), fomc_day.

Pure: no Django, no clock; the calendar's facts and the event days are passed in.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from strategy.quant import market
from strategy.quant.analytics import ChainAnalytics
from strategy.quant.timemodel import NEW_YORK
from strategy.quant.types import SpreadCandidate

FEATURE_SCHEMA_VERSION: Final = 1
HISTORY_STEP_MINUTES: Final = 5  # the live capture cadence: both sides sample the same minutes
HISTORY_SAMPLES: Final = 13  # at − 60, at − 55, …, at

CANDIDATE: Final = (
    "dte_target", "dte_calendar", "minutes_to_settlement", "side_is_call", "delta_target", "short_abs_delta",
    "width_points", "credit_fill", "credit_to_width", "credit_mid", "combo_spread", "combo_spread_frac_mid",
    "short_iv", "long_iv", "atm_iv", "skew", "short_distance_points", "short_distance_sd",
)
MARKET: Final = (
    "forward", "move_since_open_pct", "move_since_prev_close_pct", "rv_30m", "rv_60m", "vix30", "vix9d",
    "vix_ratio_9d_30d", "gex_usd_per_pct",
)
CALENDAR: Final = ("weekday", "minutes_to_close", "early_close_day", "days_to_monthly", "days_to_fomc", "fomc_day")
FEATURE_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {"candidate": CANDIDATE, "market": MARKET, "calendar": CALENDAR}
FEATURE_NAMES: Final = CANDIDATE + MARKET + CALENDAR


@dataclass(frozen=True)
class WindowContext:
    """The facts of one entry window that every strategy deciding at it shares.

    ``vix30``/``vix9d``/``gex_usd_per_pct``/``prev_close`` are NaN when unknown, with the reason in
    ``reasons`` under the feature's name. ``monthly`` is the next AM-settled SPX monthly on or after
    the day; ``fomc_days`` the FOMC statement days known (any order).
    """

    at: dt.datetime
    close_utc: dt.datetime | None
    early_close: bool
    vix30: float = math.nan
    vix9d: float = math.nan
    gex_usd_per_pct: float = math.nan
    prev_close: float = math.nan
    monthly: dt.date | None = None
    fomc_days: tuple[dt.date, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ForwardHistory:
    """The decision expiration's implied forward earlier in the session: at the first minute, and at
    ``at − 60, at − 55, …, at`` (``HISTORY_SAMPLES`` values; NaN where none was fitted or before the open)."""

    at_open: float = math.nan
    samples: tuple[float, ...] = ()


@dataclass(frozen=True)
class FeatureRow:
    """Feature values in ``FEATURE_NAMES`` order (NaN = missing) and why each missing one is."""

    values: Mapping[str, float]
    missing: Mapping[str, str]

    def json_values(self) -> dict[str, float | None]:
        """Values for a JSON column: NaN becomes null (the reason is in ``missing``)."""
        return {k: (v if math.isfinite(v) else None) for k, v in self.values.items()}


def history_minutes(at: dt.datetime) -> list[dt.datetime]:
    """The instants ``ForwardHistory.samples`` are taken at, oldest first (aware UTC)."""
    return [at - dt.timedelta(minutes=HISTORY_STEP_MINUTES * k) for k in range(HISTORY_SAMPLES - 1, -1, -1)]


@functools.lru_cache(maxsize=4096)
def _realised_vol(samples: tuple[float, ...]) -> float:
    """``market.realised_vol`` of forward samples 5 minutes apart: a pure function of the samples,
    memoised (the strategies of one window and expiration read the same history; a sweep has hundreds)."""
    return market.realised_vol(samples, step_minutes=HISTORY_STEP_MINUTES)


def _days_to_next(day: dt.date, days: Sequence[dt.date]) -> float:
    ahead = [d for d in days if d >= day]
    return float((min(ahead) - day).days) if ahead else math.nan


def candidate_features(
    *, target_dte: int, delta_target: float, side_is_call: bool, chain: ChainAnalytics | None,
    dte_calendar: int | None, candidate: SpreadCandidate | None, history: ForwardHistory, window: WindowContext,
) -> FeatureRow:
    """The feature row of one candidate (module docstring); ``chain`` None when no chain was read."""
    v: dict[str, float] = dict.fromkeys(FEATURE_NAMES, math.nan)
    why: dict[str, str] = {}

    def put(name: str, value: float | None, reason: str) -> None:
        if value is not None and math.isfinite(value):
            v[name] = float(value)
        else:
            why[name] = reason

    v["dte_target"], v["delta_target"], v["side_is_call"] = float(target_dte), float(delta_target), float(side_is_call)
    put("dte_calendar", dte_calendar, "no expiration was chosen")
    no_chain = "no chain was read"
    f = chain.fit.forward if chain is not None and chain.fit.ok else math.nan
    put("minutes_to_settlement", chain.minutes_to_settlement if chain is not None else None, no_chain)
    put("forward", f, no_chain if chain is None else f"no implied forward: {chain.fit.reason}")
    atm = market.atm_iv(chain) if chain is not None else math.nan
    put("atm_iv", atm, no_chain if chain is None else "no out-of-the-money IV on both sides of the forward")
    c = candidate
    no_spread = "no spread was built"
    if c is None:
        for name in ("short_abs_delta", "width_points", "credit_fill", "credit_to_width", "credit_mid", "combo_spread",
                     "combo_spread_frac_mid", "short_iv", "long_iv", "skew", "short_distance_points",
                     "short_distance_sd"):
            why[name] = no_spread
    else:
        put("short_abs_delta", abs(c.short_leg.delta), "the short leg has no delta")
        put("width_points", c.width_points, no_spread)
        put("credit_fill", c.credit_fill, no_spread)
        put("credit_to_width", c.credit_to_width, no_spread)
        put("credit_mid", c.credit_mid, no_spread)
        put("combo_spread", c.combo_spread, no_spread)
        put("combo_spread_frac_mid", c.combo_spread / c.credit_mid if c.credit_mid > 0 else None,
            "the mid credit is not positive")
        put("short_iv", c.short_leg.iv, "the short leg has no IV")
        put("long_iv", c.long_leg.iv, "the long leg has no IV")
        put("skew", c.short_leg.iv - atm, "short-leg IV or ATM IV missing")
        put("short_distance_points", abs(c.short_leg.strike - f), "no implied forward")
        t = chain.t_years if chain is not None else math.nan
        sd = atm * math.sqrt(t) if math.isfinite(atm) and t > 0 else math.nan
        put("short_distance_sd", abs(math.log(c.short_leg.strike / f)) / sd if sd > 0 and f > 0 else None,
            "no implied forward or ATM IV")

    put("move_since_open_pct", 100 * math.log(f / history.at_open) if f > 0 and history.at_open > 0 else None,
        "no forward at the session's first minute")
    put("move_since_prev_close_pct", 100 * math.log(f / window.prev_close) if f > 0 and window.prev_close > 0 else None,
        window.reasons.get("prev_close", "no index level at the previous session's settlement"))
    samples = tuple(history.samples)
    put("rv_30m", _realised_vol(samples[-7:]) if len(samples) >= 7 else None,
        "no forward at every 5-minute sample of the last 30 minutes")
    put("rv_60m", _realised_vol(samples) if len(samples) == HISTORY_SAMPLES
        else None, "no forward at every 5-minute sample of the last 60 minutes")
    put("vix30", window.vix30, window.reasons.get("vix30", "not computed"))
    put("vix9d", window.vix9d, window.reasons.get("vix9d", "not computed"))
    put("vix_ratio_9d_30d", window.vix9d / window.vix30 if window.vix30 > 0 else None, "vix9d or vix30 missing")
    put("gex_usd_per_pct", window.gex_usd_per_pct, window.reasons.get("gex_usd_per_pct", "not computed"))

    at_et = window.at.astimezone(NEW_YORK)
    day = at_et.date()
    v["weekday"] = float(at_et.weekday())
    put("minutes_to_close", (window.close_utc - window.at).total_seconds() / 60 if window.close_utc else None,
        "not a session day")
    v["early_close_day"] = float(window.early_close)
    put("days_to_monthly", float((window.monthly - day).days) if window.monthly else None, "no monthly expiration known")
    put("days_to_fomc", _days_to_next(day, window.fomc_days), "no future FOMC statement in the event table")
    v["fomc_day"] = float(day in window.fomc_days)
    return FeatureRow(v, why)
