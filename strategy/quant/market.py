"""Market context from option chains alone: VIX-style indexes, GEX, ATM IV, an index level, realised vol.

Pure (numpy only): the live capture (``snapshots.context``) and the backtester compute the same
numbers from the same quotes with these functions, so a decision's market features agree.

* ``term_quotes`` / ``vix_of``: the Cboe method on two SPXW chains' analytics (``strategy.quant.vix``),
  with Cboe's calendar-minute count and the rate implied by each chain's fitted discount.
* ``gex_of``: Σ ±OI·Γ·100·F²·1 % over chains (``strategy.quant.gex``; dealers long calls, short
  puts), USD per 1 % index move; open interest missing everywhere gives NaN, never 0.
* ``index_level``: the index implied by the nearest SPXW chains: the expiring chain's own value
  at its settlement instant, else the forward term structure extrapolated to T = 0
  (``strategy.quant.settlement``). OPRA carries no index prints; this is what stands in for SPX.
* ``atm_iv``: implied vol at the forward, linear in strike between the out-of-the-money options
  of the two listed strikes that bracket it.
* ``realised_vol``: annualised volatility of log changes of a regularly sampled series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from strategy.quant import gex, timemodel, vix
from strategy.quant.analytics import ChainAnalytics
from strategy.quant.settlement import expiring_chain_value, spot_from_forwards

FALLBACK_RATE: Final = 0.04  # a term whose forward fit failed (the index then says so in its reason)
TRADING_MINUTES_PER_YEAR: Final = 252 * 390  # realised vol is annualised on trading time


def term_quotes(a: ChainAnalytics) -> vix.TermQuotes:
    """The strike table the VIX method reads (one row per strike), at the calendar-minute count."""
    strikes = np.unique(a.strikes[np.isfinite(a.strikes)])
    table = {name: np.full(strikes.size, np.nan) for name in ("cb", "ca", "pb", "pa")}
    pos = np.searchsorted(strikes, a.strikes)
    for is_call, bid_key, ask_key in ((True, "cb", "ca"), (False, "pb", "pa")):
        rows = (a.is_call == is_call) & np.isfinite(a.strikes)
        table[bid_key][pos[rows]] = a.bid[rows]
        table[ask_key][pos[rows]] = a.ask[rows]
    minutes = timemodel.calendar_minutes_to_settlement(a.at, a.settles_at)
    t = minutes / timemodel.MINUTES_PER_YEAR
    rate = -math.log(a.fit.discount) / t if a.fit.ok and t > 0 and a.fit.discount > 0 else FALLBACK_RATE
    return vix.TermQuotes(strikes, table["cb"], table["ca"], table["pb"], table["pa"], minutes, rate)


def vix_of(near: ChainAnalytics, next_: ChainAnalytics, *, target_days: int) -> vix.VixResult:
    """The VIX-style index for ``target_days`` (30: VIX, 9: VIX9D) from the two bracketing chains."""
    return vix.vix_index(term_quotes(near), term_quotes(next_), target_days=target_days)


def gex_of(chains: Iterable[ChainAnalytics]) -> tuple[float, int]:
    """(GEX in USD per 1 % move, options used) over ``chains``; (NaN, 0) when no option has both an
    open interest and a gamma (e.g. no open interest was imported)."""
    total, used = 0.0, 0
    for a in chains:
        if not a.fit.ok or a.t_years <= 0:
            continue
        g = gex.gex_black76(a.is_call, a.strikes, a.open_interest, a.fit.forward, a.t_years, a.fit.discount, a.iv)
        if g.n_used:
            total += g.gex_usd_per_pct
            used += g.n_used
    return (total, used) if used else (math.nan, 0)


def index_level(chains: Sequence[ChainAnalytics]) -> tuple[float, str]:
    """(index level, how) from the nearest SPXW chains at one instant (nearest first); NaN when none fits.

    A chain at its settlement instant gives its own settlement estimate; otherwise the forwards of
    the (up to) two nearest chains are extrapolated to T = 0, removing the carry.
    """
    for a in chains[:1]:
        if a.t_years <= 0:
            est = expiring_chain_value(a.strikes, a.is_call, a.bid, a.ask)
            if est.ok:
                return est.value, f"{a.root} {a.expiration} at expiry"
    points = [(a.t_years, a.fit.forward) for a in chains if a.fit.ok and a.t_years > 0][:2]
    if not points:
        return math.nan, "no SPXW chain fits a forward"
    return spot_from_forwards(points), "SPXW forwards extrapolated to T = 0"


def atm_iv(a: ChainAnalytics) -> float:
    """Implied vol at the forward: the OTM options' IVs at the listed strikes just below and above
    it (puts below, calls above), linear in strike; NaN when either side has no IV."""
    if not a.fit.ok:
        return math.nan
    f = a.fit.forward
    below = np.flatnonzero(~a.is_call & (a.strikes <= f) & np.isfinite(a.iv))
    above = np.flatnonzero(a.is_call & (a.strikes >= f) & np.isfinite(a.iv))
    if below.size == 0 or above.size == 0:
        return math.nan
    lo = int(below[np.argmax(a.strikes[below])])
    hi = int(above[np.argmin(a.strikes[above])])
    k_lo, k_hi = float(a.strikes[lo]), float(a.strikes[hi])
    if k_hi == k_lo:
        return float((a.iv[lo] + a.iv[hi]) / 2)
    w = (f - k_lo) / (k_hi - k_lo)
    return float(a.iv[lo] * (1 - w) + a.iv[hi] * w)


def realised_vol(values: Sequence[float], *, step_minutes: float) -> float:
    """Annualised (252 × 390 trading minutes) volatility of the log changes of ``values``, sampled
    every ``step_minutes``: √(mean(r²) · minutes per year / step). NaN with fewer than two finite,
    positive values in a row or any gap."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or not np.all(np.isfinite(x) & (x > 0)):
        return math.nan
    r = np.diff(np.log(x))
    return float(math.sqrt(float(np.mean(r * r)) * TRADING_MINUTES_PER_YEAR / step_minutes))
