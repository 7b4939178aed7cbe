"""Black-76 on the forward: prices and greeks, vectorised over numpy arrays.

All prices are per share of the underlying index (× SPX_MULTIPLIER = 100 for dollars per contract).
Argument order is the same everywhere: ``(is_call, forward, strike, t_years, discount, sigma)``.

    call = D · (F·N(d1) − K·N(d2)),  put = D · (K·N(−d2) − F·N(−d1))
    d1 = (ln(F/K) + σ²T/2) / (σ√T),  d2 = d1 − σ√T

Source: Black (1976), "The pricing of commodity contracts"; Hull, *Options, Futures and Other
Derivatives*, ch. 18. The discount factor D = e^{−rT} is taken as an input (it is implied from
put–call parity per expiration by ``forward.py``), so no rate appears here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

SPX_MULTIPLIER = 100.0
_SQRT_2PI = np.sqrt(2.0 * np.pi)


def _pdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _broadcast(is_call: ArrayLike, *args: ArrayLike) -> tuple[NDArray[np.bool_], list[NDArray[np.float64]]]:
    arrays = np.broadcast_arrays(np.asarray(is_call, dtype=bool), *(np.asarray(a, dtype=np.float64) for a in args))
    return arrays[0], [np.asarray(a, dtype=np.float64) for a in arrays[1:]]


def _d1_d2(forward, strike, t_years, sigma):  # type: ignore[no-untyped-def]
    sqrt_t = np.sqrt(t_years)
    vol_sqrt_t = sigma * sqrt_t
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(forward / strike) + 0.5 * vol_sqrt_t * vol_sqrt_t) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t, vol_sqrt_t


def price(
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
    sigma: ArrayLike,
) -> NDArray[np.float64] | float:
    """Black-76 option price per share (× SPX_MULTIPLIER for dollars per contract).

    Inputs broadcast against each other; scalars in give a float out. At ``t_years == 0`` or
    ``sigma == 0`` the price is the discounted intrinsic value D·max(±(F − K), 0). Non-positive
    forward or strike, or negative time or volatility, give NaN.
    """
    is_call_a, (f, k, t, d, s) = _broadcast(is_call, forward, strike, t_years, discount, sigma)
    d1, d2, vol_sqrt_t = _d1_d2(f, k, t, s)
    call = d * (f * ndtr(d1) - k * ndtr(d2))
    put = d * (k * ndtr(-d2) - f * ndtr(-d1))
    out = np.where(is_call_a, call, put)
    intrinsic = d * np.maximum(np.where(is_call_a, f - k, k - f), 0.0)
    out = np.where(vol_sqrt_t == 0.0, intrinsic, out)
    bad = (f <= 0) | (k <= 0) | (t < 0) | (s < 0) | ~np.isfinite(f + k + t + d + s)
    out = np.where(bad, np.nan, out)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Greeks:
    """Black-76 sensitivities per share, in the units their names say.

    delta: dV/dF (forward delta, discounted: ∂price/∂F, between −D and D)
    gamma: d²V/dF² per 1 point of the forward
    vega_per_vol_pt: dV/dσ for a 1 volatility point (0.01) change
    theta_per_day: dV/dt for one calendar day passing (negative for long options), with D held fixed
    """

    delta: NDArray[np.float64] | float
    gamma: NDArray[np.float64] | float
    vega_per_vol_pt: NDArray[np.float64] | float
    theta_per_day: NDArray[np.float64] | float


def greeks(
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
    sigma: ArrayLike,
) -> Greeks:
    """Analytic Black-76 greeks per share (see ``Greeks`` for units).

    Where ``t_years`` or ``sigma`` is 0 the greeks are those of the intrinsic payoff
    (delta ±D or 0, gamma/vega/theta 0). Invalid inputs give NaN.
    """
    is_call_a, (f, k, t, d, s) = _broadcast(is_call, forward, strike, t_years, discount, sigma)
    d1, d2, vol_sqrt_t = _d1_d2(f, k, t, s)
    pdf_d1 = _pdf(d1)
    delta = np.where(is_call_a, d * ndtr(d1), -d * ndtr(-d1))
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = d * pdf_d1 / (f * vol_sqrt_t)
        vega = d * f * pdf_d1 * np.sqrt(t) / 100.0
        # ∂V/∂T with D fixed is D·F·φ(d1)·σ/(2√T); theta is minus that per calendar day.
        theta = -d * f * pdf_d1 * s / (2.0 * np.sqrt(t)) / 365.0
    degenerate = vol_sqrt_t == 0.0
    itm = np.where(is_call_a, f > k, k > f)
    delta = np.where(degenerate, np.where(itm, np.where(is_call_a, d, -d), 0.0), delta)
    gamma = np.where(degenerate, 0.0, gamma)
    vega = np.where(degenerate, 0.0, vega)
    theta = np.where(degenerate, 0.0, theta)
    bad = (f <= 0) | (k <= 0) | (t < 0) | (s < 0) | ~np.isfinite(f + k + t + d + s)
    values = [np.where(bad, np.nan, x) for x in (delta, gamma, vega, theta)]
    if values[0].ndim == 0:
        return Greeks(*(float(v) for v in values))
    return Greeks(*values)
