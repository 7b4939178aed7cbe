"""Black-76 prices and greeks: textbook values, parity, limits, finite differences, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategy.quant import black76
from strategy.quant.black76 import Greeks, greeks, price


def hull_inputs() -> tuple[float, float, float, float, float]:
    """Hull's S=42, K=40, r=10 %, σ=20 %, T=0.5 example expressed on the forward F = S·e^{rT}."""
    s, k, r, sigma, t = 42.0, 40.0, 0.10, 0.20, 0.5
    return s * math.exp(r * t), k, t, math.exp(-r * t), sigma


def test_hull_black_scholes_example_through_the_forward() -> None:
    # Hull, Options, Futures and Other Derivatives, Black–Scholes–Merton example: c = 4.76, p = 0.81.
    f, k, t, d, sigma = hull_inputs()
    assert price(True, f, k, t, d, sigma) == pytest.approx(4.7594, abs=5e-5)
    assert price(False, f, k, t, d, sigma) == pytest.approx(0.8086, abs=5e-5)


def test_haug_black76_example() -> None:
    # Haug, The Complete Guide to Option Pricing Formulas, Black-76: F = X = 19, T = 0.75, r = 10 %,
    # σ = 28 % gives c = p = 1.7011.
    d = math.exp(-0.10 * 0.75)
    call, put = np.asarray(price([True, False], 19.0, 19.0, 0.75, d, 0.28))
    assert call == pytest.approx(1.7011, abs=5e-5)
    assert put == pytest.approx(call, rel=1e-14)


def test_put_call_parity_over_a_grid() -> None:
    f = 6000.0
    k, t, sigma = np.meshgrid(
        f * np.exp(np.linspace(-0.6, 0.6, 49)), [1 / 8760, 1 / 365, 7 / 365, 0.25, 1.0, 3.0], [0.05, 0.2, 0.8, 3.0]
    )
    d = np.exp(-0.05 * t)
    call = price(True, f, k, t, d, sigma)
    put = price(False, f, k, t, d, sigma)
    np.testing.assert_allclose(call - put, d * (f - k), rtol=0, atol=1e-9 * f)


def test_prices_respect_no_arbitrage_bounds() -> None:
    f, d = 5000.0, 0.99
    k, t, sigma = np.meshgrid(np.linspace(2500, 7500, 41), [1 / 8760, 0.1, 2.0], [0.01, 0.3, 4.0])
    call = np.asarray(price(True, f, k, t, d, sigma))
    put = np.asarray(price(False, f, k, t, d, sigma))
    assert np.all(call >= d * np.maximum(f - k, 0) - 1e-9) and np.all(call <= d * f)
    assert np.all(put >= d * np.maximum(k - f, 0) - 1e-9) and np.all(put <= d * k)


def test_zero_time_or_volatility_is_discounted_intrinsic() -> None:
    assert price(True, 6000.0, 5900.0, 0.0, 0.99, 0.2) == pytest.approx(99.0)
    assert price(False, 6000.0, 5900.0, 0.0, 0.99, 0.2) == 0.0
    assert price(False, 6000.0, 6100.0, 0.5, 0.99, 0.0) == pytest.approx(99.0)
    assert price(True, 6000.0, 6000.0, 0.0, 1.0, 0.2) == 0.0


@pytest.mark.parametrize(
    "args",
    [
        (True, -1.0, 100.0, 0.1, 1.0, 0.2),
        (True, 100.0, 0.0, 0.1, 1.0, 0.2),
        (True, 100.0, 100.0, -0.1, 1.0, 0.2),
        (True, 100.0, 100.0, 0.1, 0.0, 0.2),
        (True, 100.0, 100.0, 0.1, 1.0, -0.2),
        (True, math.nan, 100.0, 0.1, 1.0, 0.2),
        (True, 100.0, 100.0, math.inf, 1.0, 0.2),
    ],
)
def test_invalid_inputs_give_nan_not_exceptions(args: tuple[bool, float, float, float, float, float]) -> None:
    assert math.isnan(price(*args))
    g = greeks(*args)
    assert all(math.isnan(v) for v in (g.delta, g.gamma, g.vega_per_vol_pt, g.theta_per_day))


def test_nan_inside_an_array_stays_local() -> None:
    out = np.asarray(price(True, [6000.0, math.nan, 6000.0], 6000.0, 0.1, 1.0, [0.2, 0.2, -1.0]))
    assert np.isfinite(out[0]) and np.isnan(out[1]) and np.isnan(out[2])


def test_scalars_in_scalars_out_and_arrays_broadcast() -> None:
    assert isinstance(price(True, 100.0, 100.0, 0.1, 1.0, 0.2), float)
    g = greeks(True, 100.0, 100.0, 0.1, 1.0, 0.2)
    assert isinstance(g, Greeks) and isinstance(g.delta, float)
    out = price(np.array([[True], [False]]), 100.0, np.array([90.0, 100.0, 110.0]), 0.1, 1.0, 0.2)
    assert isinstance(out, np.ndarray) and out.shape == (2, 3)
    assert greeks(True, 100.0, np.array([90.0, 100.0]), 0.1, 1.0, 0.2).gamma.shape == (2,)  # type: ignore[union-attr]


def test_deep_out_of_the_money_short_dated_price_keeps_relative_precision() -> None:
    # 1 hour to expiry, 1.6 % out of the money at 10 % vol: the price is ~1e-54 and the textbook
    # D·(F·N(d1) − K·N(d2)) loses ~10 digits to cancellation. Reference value from a 40-digit
    # evaluation of the same formula (mpmath).
    p = price(True, 6000.0, 6100.0, 1 / 8760, 1.0, 0.10)
    assert p == pytest.approx(1.1356808440245647e-54, rel=1e-11)


def _fd_greeks(is_call: bool, f: float, k: float, t: float, d: float, s: float) -> tuple[float, float, float, float]:
    hf, hs, ht = 1e-5 * f, 1e-6, 1e-7

    def v(ff: float = f, tt: float = t, ss: float = s) -> float:
        return float(price(is_call, ff, k, tt, d, ss))

    delta = (v(ff=f + hf) - v(ff=f - hf)) / (2 * hf)
    gamma = (v(ff=f + hf) - 2 * v() + v(ff=f - hf)) / hf**2
    vega = (v(ss=s + hs) - v(ss=s - hs)) / (2 * hs) / 100.0
    theta = -(v(tt=t + ht) - v(tt=t - ht)) / (2 * ht) / 365.0
    return delta, gamma, vega, theta


@pytest.mark.parametrize("is_call", [True, False])
@pytest.mark.parametrize(
    "f, k, t, s",
    [
        (6000.0, 6000.0, 30 / 365, 0.15),
        (6000.0, 5700.0, 7 / 365, 0.25),
        (6000.0, 6300.0, 0.5, 0.18),
        (42.0, 40.0, 0.5, 0.2),
    ],
)
def test_analytic_greeks_match_finite_differences(is_call: bool, f: float, k: float, t: float, s: float) -> None:
    d = math.exp(-0.04 * t)
    g = greeks(is_call, f, k, t, d, s)
    fd = _fd_greeks(is_call, f, k, t, d, s)
    assert g.delta == pytest.approx(fd[0], rel=1e-6, abs=1e-9)
    assert g.gamma == pytest.approx(fd[1], rel=1e-4, abs=1e-9)
    assert g.vega_per_vol_pt == pytest.approx(fd[2], rel=1e-6, abs=1e-9)
    assert g.theta_per_day == pytest.approx(fd[3], rel=1e-5, abs=1e-9)


def test_greek_signs_and_units() -> None:
    d = 0.999
    call = greeks(True, 6000.0, 6000.0, 7 / 365, d, 0.15)
    put = greeks(False, 6000.0, 6000.0, 7 / 365, d, 0.15)
    assert 0 < call.delta < d and -d < put.delta < 0
    assert call.delta - put.delta == pytest.approx(d)  # forward parity: ∂(C − P)/∂F = D
    assert call.gamma == pytest.approx(put.gamma) and call.gamma > 0
    assert call.theta_per_day < 0 and call.vega_per_vol_pt > 0
    # ATM vega per vol point ≈ D·F·√T·φ(0)/100.
    assert call.vega_per_vol_pt == pytest.approx(d * 6000 * math.sqrt(7 / 365) / math.sqrt(2 * math.pi) / 100, rel=1e-3)


def test_greeks_at_expiry_are_those_of_the_payoff() -> None:
    g = greeks([True, True, False, False], 6000.0, [5900.0, 6100.0, 6100.0, 5900.0], 0.0, 0.99, 0.2)
    np.testing.assert_allclose(g.delta, [0.99, 0.0, -0.99, 0.0])
    np.testing.assert_allclose(g.gamma, 0.0)
    np.testing.assert_allclose(g.theta_per_day, 0.0)


def test_multiplier_constant() -> None:
    assert black76.SPX_MULTIPLIER == 100.0


_strike_ratio = st.floats(min_value=0.6, max_value=1.6)
_sigma = st.floats(min_value=0.01, max_value=4.0)
_t = st.floats(min_value=1 / 8760, max_value=3.0)


@settings(max_examples=200, deadline=None)
@given(is_call=st.booleans(), ratio=_strike_ratio, t=_t, s1=_sigma, s2=_sigma)
def test_price_is_monotone_in_volatility(is_call: bool, ratio: float, t: float, s1: float, s2: float) -> None:
    lo, hi = sorted((s1, s2))
    p_lo = price(is_call, 100.0, 100.0 * ratio, t, 0.98, lo)
    p_hi = price(is_call, 100.0, 100.0 * ratio, t, 0.98, hi)
    assert p_hi >= p_lo - 1e-12 * max(1.0, abs(p_lo))


@settings(max_examples=200, deadline=None)
@given(is_call=st.booleans(), ratio=_strike_ratio, s=_sigma, t1=_t, t2=_t)
def test_price_is_monotone_in_time_with_discount_fixed(
    is_call: bool, ratio: float, s: float, t1: float, t2: float
) -> None:
    lo, hi = sorted((t1, t2))
    p_lo = price(is_call, 100.0, 100.0 * ratio, lo, 0.98, s)
    p_hi = price(is_call, 100.0, 100.0 * ratio, hi, 0.98, s)
    assert p_hi >= p_lo - 1e-12 * max(1.0, abs(p_lo))
