"""Gamma exposure (GEX) estimate from open interest × gamma.

    GEX = Σ sign_i · OI_i · Γ_i · multiplier · S² · 0.01            [USD per 1 % move]

Units: Γ_i is d²V/dS² per share per index point², OI in contracts, multiplier 100 shares per
contract (SPX), S the index level. Γ·S·0.01 is the change in delta (shares) for a 1 % move, and
× S turns it into dollars: GEX is the dollar amount of the underlying that the dealers' hedge
changes by when the index moves 1 % (positive: dealers buy on a fall and sell on a rise, damping
moves; negative: they chase the move).

Dealer sign convention (state it whenever the number is shown): customers are assumed to *sell*
calls and *buy* puts, so dealers are long calls (sign +1) and short puts (sign −1). This is the
common published convention (e.g. SqueezeMetrics, "Gamma Exposure", 2017); it is an assumption
about positioning that open interest alone cannot verify.

Black-76 gamma is per point of the *forward*. With F = S·e^{(r−q)T}, Γ_S = Γ_F·(F/S)², so
Γ_S·S² = Γ_F·F²: ``gex_black76`` therefore uses F² and needs no spot. Source for the scaling:
Hull, ch. 19 (gamma); SqueezeMetrics (2017) for the GEX definition and dealer convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategy.quant import black76


@dataclass(frozen=True)
class GexResult:
    """Dealer gamma exposure in USD per 1 % move of the index (dealers long calls, short puts).

    gex_usd_per_pct: calls + puts (NaN when no row was usable)
    call_gex_usd_per_pct (>= 0) and put_gex_usd_per_pct (<= 0): the two sides
    strikes / net_by_strike_usd_per_pct: the net per distinct strike, ascending
    n_used / n_excluded: rows with finite, non-negative OI and finite gamma / the rest
    """

    gex_usd_per_pct: float
    call_gex_usd_per_pct: float
    put_gex_usd_per_pct: float
    n_used: int
    n_excluded: int
    strikes: NDArray[np.float64] = field(repr=False)
    net_by_strike_usd_per_pct: NDArray[np.float64] = field(repr=False)


def _aggregate(is_call: NDArray[np.bool_], strike: NDArray[np.float64], dollar_gamma: NDArray[np.float64]) -> GexResult:
    """Sum signed per-row dollar gamma (already × OI × multiplier × level² × 0.01)."""
    usable = np.isfinite(dollar_gamma) & np.isfinite(strike)
    n_used = int(usable.sum())
    c, k, g = is_call[usable], strike[usable], dollar_gamma[usable]
    signed = np.where(c, g, -g)
    strikes, inverse = np.unique(k, return_inverse=True)
    by_strike = np.zeros(strikes.size)
    np.add.at(by_strike, inverse, signed)
    if n_used == 0:
        total = calls = puts = math.nan
    else:
        calls, puts = float(g[c].sum()), -float(g[~c].sum())
        total = calls + puts
    return GexResult(total, calls, puts, n_used, int(usable.size - n_used), strikes, by_strike)


def gex(
    is_call: ArrayLike,
    strike: ArrayLike,
    open_interest: ArrayLike,
    gamma_per_point: ArrayLike,
    spot: float,
    *,
    multiplier: float = black76.SPX_MULTIPLIER,
) -> GexResult:
    """GEX from given spot gammas: Σ ±OI·Γ·multiplier·S²·0.01, USD per 1 % move.

    ``gamma_per_point`` is d²V/dS² per share (e.g. a vendor's gamma); calls count +, puts −
    (dealers long calls, short puts — see the module docstring). Rows with NaN gamma or a
    negative/NaN open interest are excluded and counted.
    """
    c, k, oi, g = np.broadcast_arrays(
        np.asarray(is_call, dtype=bool),
        np.asarray(strike, dtype=np.float64),
        np.asarray(open_interest, dtype=np.float64),
        np.asarray(gamma_per_point, dtype=np.float64),
    )
    with np.errstate(invalid="ignore"):
        oi_ok = np.isfinite(oi) & (oi >= 0)
        dollar = np.where(oi_ok, oi * g * multiplier * spot * spot * 0.01, np.nan)
    return _aggregate(c.ravel(), k.ravel(), dollar.ravel())


def gex_black76(
    is_call: ArrayLike,
    strike: ArrayLike,
    open_interest: ArrayLike,
    forward: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
    sigma: ArrayLike,
    *,
    multiplier: float = black76.SPX_MULTIPLIER,
) -> GexResult:
    """GEX with Black-76 gammas from our own implied vols: Σ ±OI·Γ_F·multiplier·F²·0.01.

    Γ_F·F² equals Γ_S·S² (module docstring), so the result is USD per 1 % move of the index.
    Same sign convention and exclusions as ``gex``; rows whose gamma is NaN (e.g. IV undefined)
    are excluded and counted.
    """
    c, k, oi, f, t, d, s = np.broadcast_arrays(
        np.asarray(is_call, dtype=bool),
        *(np.asarray(a, dtype=np.float64) for a in (strike, open_interest, forward, t_years, discount, sigma)),
    )
    gamma_f = np.asarray(black76.greeks(c, f, k, t, d, s).gamma, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        oi_ok = np.isfinite(oi) & (oi >= 0)
        dollar = np.where(oi_ok, oi * gamma_f * multiplier * f * f * 0.01, np.nan)
    return _aggregate(c.ravel(), k.ravel(), dollar.ravel())
