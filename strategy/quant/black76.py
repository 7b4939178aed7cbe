"""Black-76 on the forward: prices, greeks and implied volatility, vectorised over numpy arrays.

All prices are per share of the underlying index (× SPX_MULTIPLIER = 100 for dollars per contract).
Argument order is the same everywhere: ``(is_call, forward, strike, t_years, discount, sigma)``;
``implied_vol`` puts the price first: ``(price, is_call, forward, strike, t_years, discount)``.

    call = D · (F·N(d1) − K·N(d2)),  put = D · (K·N(−d2) − F·N(−d1))
    d1 = (ln(F/K) + σ²T/2) / (σ√T),  d2 = d1 − σ√T

Units: forward and strike in index points, ``t_years`` in years (minutes / 525,600, see
``timemodel``), ``discount`` the factor D = e^{−rT} (dimensionless), ``sigma`` annualised
(0.20 = 20 %).

Source: Black (1976), "The pricing of commodity contracts"; Hull, *Options, Futures and Other
Derivatives*, ch. 18. The discount factor is an input (it is implied from put–call parity per
expiration by ``forward.py``), so no rate appears here. The implied-volatility solver works on
Jäckel's normalised, out-of-the-money form of the price (P. Jäckel, "Let's be rational", Wilmott
2015, §2), with its own initial guesses and a monotone Newton iteration described in
``_solve_normalised``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import erf, erfcx, ndtr, ndtri  # type: ignore[import-untyped, unused-ignore]

SPX_MULTIPLIER: Final = 100.0
_SQRT_2PI: Final = float(np.sqrt(2.0 * np.pi))
_SQRT_2: Final = float(np.sqrt(2.0))
_EPS: Final = float(np.finfo(np.float64).eps)
_LN_HALF: Final = float(np.log(0.5))

FloatOrArray = NDArray[np.float64] | float

# Reason codes for ``implied_vol_with_reason``: why an element has no implied volatility.
IV_OK: Final = "ok"
IV_NONFINITE_INPUT: Final = "nonfinite_input"  # NaN or ±inf in the price or any parameter
IV_NONPOSITIVE_INPUT: Final = "nonpositive_input"  # forward, strike, t_years or discount <= 0
IV_BELOW_INTRINSIC: Final = "below_intrinsic"  # price < D·max(±(F − K), 0), negative prices included
IV_NO_TIME_VALUE: Final = "no_time_value"  # price equals the discounted intrinsic value (σ → 0)
IV_ABOVE_UPPER_BOUND: Final = "above_upper_bound"  # price >= D·F (call) or D·K (put) (σ → ∞)
IV_NOT_CONVERGED: Final = "not_converged"  # solver safety net; no known input reaches it
IV_REASONS: Final = (
    IV_OK,
    IV_NONFINITE_INPUT,
    IV_NONPOSITIVE_INPUT,
    IV_BELOW_INTRINSIC,
    IV_NO_TIME_VALUE,
    IV_ABOVE_UPPER_BOUND,
    IV_NOT_CONVERGED,
)
_REASON_DTYPE: Final = f"<U{max(len(r) for r in IV_REASONS)}"


def _pdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.exp(-0.5 * x * x) / _SQRT_2PI, dtype=np.float64)


def _broadcast(is_call: ArrayLike, *args: ArrayLike) -> tuple[NDArray[np.bool_], list[NDArray[np.float64]]]:
    arrays = np.broadcast_arrays(np.asarray(is_call, dtype=bool), *(np.asarray(a, dtype=np.float64) for a in args))
    return np.asarray(arrays[0], dtype=bool), [np.asarray(a, dtype=np.float64) for a in arrays[1:]]


def _d1_d2(
    forward: NDArray[np.float64], strike: NDArray[np.float64], t_years: NDArray[np.float64], sigma: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    # Invalid inputs (negative T, F <= 0) are masked to NaN by the callers; silence their warnings here.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        vol_sqrt_t = sigma * np.sqrt(t_years)
        d1 = (np.log(forward / strike) + 0.5 * vol_sqrt_t * vol_sqrt_t) / vol_sqrt_t
    return d1, d1 - vol_sqrt_t, vol_sqrt_t


def _invalid(
    f: NDArray[np.float64],
    k: NDArray[np.float64],
    t: NDArray[np.float64],
    d: NDArray[np.float64],
    s: NDArray[np.float64],
) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return np.asarray((f <= 0) | (k <= 0) | (t < 0) | (d <= 0) | (s < 0) | ~np.isfinite(f + k + t + d + s))


def _out(x: NDArray[np.float64]) -> FloatOrArray:
    return float(x) if x.ndim == 0 else x


@overload
def price(is_call: bool, forward: float, strike: float, t_years: float, discount: float, sigma: float) -> float: ...
@overload
def price(
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
    sigma: ArrayLike,
) -> NDArray[np.float64] | float: ...
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
    forward, strike or discount, negative time or volatility, or non-finite inputs give NaN.
    Computed as intrinsic value + D·√(F·K)·b(−|ln(F/K)|, σ√T), the normalised out-of-the-money
    time value (Jäckel 2015), which equals the textbook formula by put–call parity but keeps full
    relative precision for deep out-of-the-money and short-dated options, where
    D·(F·N(d1) − K·N(d2)) subtracts two nearly equal tails. Source: Black (1976); Hull, ch. 18.
    """
    is_call_a, (f, k, t, d, s) = _broadcast(is_call, forward, strike, t_years, discount, sigma)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        vol_sqrt_t = s * np.sqrt(t)
        theta = -np.abs(np.log(f / k))
        ln_tail, _, d1 = _ln_b_tail(theta, vol_sqrt_t)
        ln_body, _, _ = _ln_b_body(theta, vol_sqrt_t, np.exp(0.5 * theta))
        time_value = d * np.exp(np.where(d1 < 0.0, ln_tail, ln_body) + 0.5 * (np.log(f) + np.log(k)))
        intrinsic = d * np.maximum(np.where(is_call_a, f - k, k - f), 0.0)
        out = np.where(vol_sqrt_t == 0.0, intrinsic, intrinsic + time_value)
    out = np.where(_invalid(f, k, t, d, s), np.nan, out)
    return _out(out)


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
    (delta ±D or 0, gamma/vega/theta 0). Invalid inputs give NaN. A calendar day is 1/365 year,
    matching the 525,600-minute year of ``timemodel``. Source: Hull, ch. 18–19 (Black's model).
    """
    is_call_a, (f, k, t, d, s) = _broadcast(is_call, forward, strike, t_years, discount, sigma)
    d1, _, vol_sqrt_t = _d1_d2(f, k, t, s)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pdf_d1 = _pdf(d1)
        delta = np.where(is_call_a, d * ndtr(d1), -d * ndtr(-d1))
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
    bad = _invalid(f, k, t, d, s)
    values = [np.where(bad, np.nan, x) for x in (delta, gamma, vega, theta)]
    if values[0].ndim == 0:
        return Greeks(*(float(v) for v in values))
    return Greeks(*values)


# ---- implied volatility -------------------------------------------------------------------------
#
# Normalisation (Jäckel 2015): with x = ln(F/K) and s = σ√T, the time value of any option divided
# by D·√(F·K) depends only on (−|x|, s), because the time value of an in-the-money option equals the
# price of the out-of-the-money option at the same strike (put–call parity). So every element is
# solved as an out-of-the-money call with θ = −|x| <= 0:
#
#     b(θ, s) = e^{θ/2}·N(θ/s + s/2) − e^{−θ/2}·N(θ/s − s/2),   0 < b < e^{θ/2}.
#
# b increases in s, is convex below its inflection point s_c = √(2|θ|) and concave above it. The
# solver splits the elements at s_c and runs Newton's method on an objective that is increasing
# and concave in s on each side:
#   * lower region (root < s_c, the deep out-of-the-money and short-dated case):
#     G(s) = (−2·ln b)^{−1/2}. For small s, ln b ≈ −θ²/(2s²), so G is almost linear in s;
#   * upper region: ln b.
# Concavity of both was checked numerically over θ ∈ [−100, −1e−10] and every s with
# ln b > −800. Newton's method on a concave increasing function started left of the root climbs
# to it monotonically without overshooting, so each start is a point provably left of the root.


def _ln_b_tail(
    theta: NDArray[np.float64], s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(ln b, ∂ln b/∂s, d1) via scaled complementary error functions; meant for d1 < 0.

    N(d) = ½·erfcx(−d/√2)·e^{−d²/2} and e^{θ/2 − d1²/2} = e^{−θ/2 − d2²/2} keep the exponential
    outside the logarithm, so ln b stays finite for normalised prices far below 1e−300.
    """
    d1 = theta / s + 0.5 * s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        tails = erfcx(-d1 / _SQRT_2) - erfcx(-(d1 - s) / _SQRT_2)
        ln_b = _LN_HALF + 0.5 * theta - 0.5 * d1 * d1 + np.log(tails)
        slope = 2.0 / (_SQRT_2PI * tails)
    return ln_b, slope, d1


def _ln_b_body(
    theta: NDArray[np.float64], s: NDArray[np.float64], exp_half_theta: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(ln b, ∂ln b/∂s, d1) for d1 >= 0.

    b = e^{θ/2}(N(d1) − N(d2)) − 2·sinh(−θ/2)·N(d2); N(d1) − N(d2) is a sum of two non-negative
    erf terms, which avoids cancelling two numbers close to ½ near the money.
    """
    d1 = theta / s + 0.5 * s
    d2 = d1 - s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        b = 0.5 * exp_half_theta * (erf(d1 / _SQRT_2) - erf(d2 / _SQRT_2)) - 2.0 * np.sinh(-0.5 * theta) * ndtr(d2)
        slope = exp_half_theta * _pdf(d1) / b
        ln_b = np.log(b)
    return ln_b, slope, d1


def _curvature(
    theta: NDArray[np.float64], s: NDArray[np.float64], d1: NDArray[np.float64], slope: NDArray[np.float64]
) -> NDArray[np.float64]:
    """∂²ln b/∂s², from ∂b/∂s = e^{θ/2}φ(d1) and ∂d1/∂s = ½ − θ/s²."""
    return np.asarray(slope * (-d1 * (0.5 - theta / (s * s)) - slope), dtype=np.float64)


def _newton_left(
    x: NDArray[np.float64],
    objective: Callable[[NDArray[np.int64], NDArray[np.float64]], tuple[NDArray[np.float64], ...]],
    max_iter: int,
) -> NDArray[np.bool_]:
    """Monotone Newton iteration in place on ``x`` (each element left of its root); returns converged.

    ``objective(idx, x)`` gives (residual target − value, first derivative, second derivative) of the
    concave increasing objective at ``x`` for the elements ``idx``.
    """
    converged = np.zeros(x.shape, dtype=bool)
    active = np.arange(x.size)
    for _ in range(max_iter):
        if active.size == 0:
            break
        xa = x[active]
        gap, d1f, d2f = objective(active, xa)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = gap / d1f
            # Newton's error after this step is about |f''/(2f')|·step²; once that is below an ulp
            # the step itself is the last one needed, which saves a confirming evaluation.
            predicted = np.abs(d2f / (2.0 * d1f)) * step * step
        bad = ~np.isfinite(step) | (xa + step <= 0.0)
        # Started left of the root, the exact iteration only takes positive, shrinking steps. A
        # negative step no larger than evaluation noise means we are at the root to rounding
        # (keep the last iterate); a larger one would mean a start right of the root, after which
        # one Newton step on a concave function lands left of it, so keep iterating.
        noise_back = (step < 0.0) & (step >= -1e-6 * xa)
        x[active] = np.where(bad | noise_back, xa, xa + step)
        done = ~bad & (noise_back | ((step >= 0.0) & ((step <= 4.0 * _EPS * xa) | (predicted <= _EPS * xa))))
        converged[active[done]] = True
        active = active[~done & ~bad]
    return converged


def _solve_normalised(
    theta: NDArray[np.float64], ln_beta: NDArray[np.float64], max_iter: int = 40
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Solve b(θ, s) = β for s = σ√T (θ <= 0, ln β < θ/2); returns (s, converged)."""
    beta = np.exp(ln_beta)
    exp_half_theta = np.exp(0.5 * theta)
    s_c = np.sqrt(-2.0 * theta)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        # The inflection point splits the regions; at the money (θ = 0) there is no lower region.
        has_c = s_c > 0.0
        ln_b_c, slope_c, _ = _ln_b_tail(theta, np.where(has_c, s_c, 1.0))
        ln_b_c = np.where(has_c, ln_b_c, -np.inf)
        low = ln_beta < ln_b_c
        # Points provably left of the root:
        #  * ln b(θ, s) <= −θ²/(2s²) for all s (checked numerically), so s = |θ|/√(−2 ln β);
        #  * ∂b/∂s = e^{θ/2}φ(d1) <= 1/√(2π) and b(0) = 0, so b(s) <= s/√(2π): s = √(2π)·β;
        #  * in the upper region, the inflection point itself.
        floor = np.maximum(-theta / np.sqrt(-2.0 * ln_beta), _SQRT_2PI * beta)
        floor = np.maximum(np.where(low, floor, np.maximum(floor, s_c)), np.finfo(np.float64).tiny)
    x = floor.copy()
    converged = np.zeros(x.shape, dtype=bool)

    lo = np.flatnonzero(low)
    if lo.size:
        th_lo, lb_lo = theta[lo], ln_beta[lo]
        target_lo = 1.0 / np.sqrt(-2.0 * lb_lo)

        def g_objective(idx: NDArray[np.int64], s: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
            th = th_lo[idx]
            ln_b, slope, d1 = _ln_b_tail(th, s)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                g = 1.0 / np.sqrt(-2.0 * ln_b)  # G = u^{-1/2} with u = −2 ln b
                g3 = g * g * g
                g1 = g3 * slope  # dG/ds = u^{-3/2}·∂ln b/∂s
                g2 = g3 * (3.0 * g * g * slope * slope + _curvature(th, s, d1, slope))
            return target_lo[idx] - g, g1, g2

        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            sc_lo = s_c[lo]
            # A Newton step in G from the inflection point (right of the root) lands left of it.
            g_c = 1.0 / np.sqrt(-2.0 * ln_b_c[lo])
            from_c = sc_lo - (g_c - target_lo) / (g_c * g_c * g_c * slope_c[lo])
            left = np.maximum(x[lo], np.where(np.isfinite(from_c), from_c, 0.0))
            # Deep out of the money the tail asymptotic
            #   ln b ≈ −θ²/(2s²) − s²/8 + ln(s/√(2π)) − ln(θ²/s² − s²/4),
            # iterated as a fixed point for s, is accurate to ~1e−6; it may sit on either side of
            # the root, so it is checked once and, if right of the root, replaced by the Newton
            # step from it (left of the root by concavity).
            guess = left.copy()
            for _ in range(2):
                d1d2 = th_lo * th_lo / (guess * guess) - 0.25 * guess * guess
                rhs = -lb_lo - 0.125 * guess * guess + np.log(guess / _SQRT_2PI) - np.log(d1d2)
                refined = -th_lo / np.sqrt(2.0 * rhs)
                guess = np.where((d1d2 > 0.0) & (rhs > 0.0) & np.isfinite(refined), refined, guess)
            guess = np.clip(guess, left, sc_lo)
            gap, g1, _ = g_objective(np.arange(lo.size), guess)
            start = np.where(gap < 0.0, guess + gap / g1, guess)
            x_lo = np.maximum(np.where(np.isfinite(start), start, left), left)
        converged[lo] = _newton_left(x_lo, g_objective, max_iter)
        x[lo] = x_lo

    hi = np.flatnonzero(~low)
    if hi.size:
        th_hi, lb_hi, e_hi = theta[hi], ln_beta[hi], exp_half_theta[hi]

        def ln_objective(idx: NDArray[np.int64], s: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
            th = th_hi[idx]
            ln_b, slope, d1 = _ln_b_body(th, s, e_hi[idx])
            return lb_hi[idx] - ln_b, slope, _curvature(th, s, d1, slope)

        # Start from the large-s asymptotic e^{θ/2} − b ≈ (e^{θ/2} + e^{−θ/2})·N(−s/2) (exact at the
        # money). If that guess is right of the root, one Newton step from it lands left (concavity).
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            guess = -2.0 * ndtri((e_hi - beta[hi]) / (e_hi + 1.0 / e_hi))
            guess = np.where(np.isfinite(guess) & (guess > 0.0), guess, x[hi])
            gap, slope, _ = ln_objective(np.arange(hi.size), guess)
            start = np.where(gap < 0.0, guess + gap / slope, guess)
            x_hi = np.maximum(np.where(np.isfinite(start), start, x[hi]), x[hi])
        converged[hi] = _newton_left(x_hi, ln_objective, max_iter)
        x[hi] = x_hi
    return x, converged


@dataclass(frozen=True)
class ImpliedVol:
    """Implied volatility (annualised, 0.20 = 20 %) with a reason code per element.

    ``sigma`` is NaN exactly where ``reason`` is not ``"ok"``; codes are the ``IV_*`` constants
    (``IV_REASONS`` lists them). Scalars in give a float and a str out.
    """

    sigma: NDArray[np.float64] | float
    reason: NDArray[np.str_] | str


def implied_vol_with_reason(
    price: ArrayLike,
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
) -> ImpliedVol:
    """Black-76 implied volatility from a price per share, with why it is undefined where it is.

    Arrays broadcast (a whole chain in one call); never raises on bad values. No-arbitrage bounds:
    D·max(±(F − K), 0) < price < D·F (call) or D·K (put); a price at or outside them gives NaN and
    ``below_intrinsic`` / ``no_time_value`` / ``above_upper_bound``, never a clipped σ. A price
    within 4 ulps of intrinsic counts as ``no_time_value`` because its time value is rounding noise.

    Method: reduce to the normalised out-of-the-money time value (Jäckel 2015), start Newton's
    method on ln b(θ, σ√T) from a point provably below the root, and iterate to rounding level
    (typically 3–6 iterations; robust from one-hour expiries to years, from σ of a few % to
    several hundred %, and for prices down to 1e−300).
    """
    is_call_a, (p, f, k, t, d) = _broadcast(is_call, price, forward, strike, t_years, discount)
    shape = p.shape
    c = is_call_a.ravel()
    p, f, k, t, d = (a.ravel() for a in (p, f, k, t, d))
    sigma = np.full(p.shape, np.nan)
    reason = np.full(p.shape, IV_OK, dtype=_REASON_DTYPE)

    finite = np.isfinite(p) & np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(d)
    reason[~finite] = IV_NONFINITE_INPUT
    nonpositive = finite & ((f <= 0) | (k <= 0) | (t <= 0) | (d <= 0))
    reason[nonpositive] = IV_NONPOSITIVE_INPUT
    pending = finite & ~nonpositive
    with np.errstate(invalid="ignore", over="ignore"):
        intrinsic = d * np.maximum(np.where(c, f - k, k - f), 0.0)
        upper = d * np.where(c, f, k)
        time_value = p - intrinsic
        tol = 4.0 * _EPS * np.maximum(np.abs(p), intrinsic)
    below = pending & (time_value < -tol)
    no_tv = pending & ~below & (time_value <= tol)
    above = pending & ~below & ~no_tv & (p >= upper)
    reason[below] = IV_BELOW_INTRINSIC
    reason[no_tv] = IV_NO_TIME_VALUE
    reason[above] = IV_ABOVE_UPPER_BOUND
    solve = np.flatnonzero(pending & ~below & ~no_tv & ~above)

    if solve.size:
        fs, ks, ds = f[solve], k[solve], d[solve]
        theta = -np.abs(np.log(fs / ks))
        ln_beta = np.log(time_value[solve]) - np.log(ds) - 0.5 * (np.log(fs) + np.log(ks))
        # Rounding can put a price just under D·F numerically at the normalised bound e^{θ/2}.
        at_bound = ln_beta >= 0.5 * theta
        reason[solve[at_bound]] = IV_ABOVE_UPPER_BOUND
        inner = ~at_bound
        s, ok = _solve_normalised(theta[inner], ln_beta[inner])
        idx = solve[inner]
        sigma[idx[ok]] = s[ok] / np.sqrt(t[idx[ok]])
        reason[idx[~ok]] = IV_NOT_CONVERGED

    if len(shape) == 0:
        return ImpliedVol(float(sigma[0]), str(reason[0]))
    return ImpliedVol(sigma.reshape(shape), reason.reshape(shape))


@overload
def implied_vol(
    price: float, is_call: bool, forward: float, strike: float, t_years: float, discount: float
) -> float: ...
@overload
def implied_vol(
    price: ArrayLike,
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
) -> NDArray[np.float64] | float: ...
def implied_vol(
    price: ArrayLike,
    is_call: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    discount: ArrayLike,
) -> NDArray[np.float64] | float:
    """Black-76 implied volatility (annualised; 0.20 = 20 %) from a price per share.

    Same inputs and method as ``implied_vol_with_reason``; NaN where the price has no implied
    volatility (use ``implied_vol_with_reason`` to learn why). Source: Black (1976); Jäckel (2015)
    for the normalised form.
    """
    return implied_vol_with_reason(price, is_call, forward, strike, t_years, discount).sigma
