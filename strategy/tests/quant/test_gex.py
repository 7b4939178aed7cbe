"""Gamma exposure: dealer sign convention, dollar scaling per 1 % move, exclusions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategy.quant import black76
from strategy.quant.gex import gex, gex_black76


def test_scaling_and_dealer_sign_convention() -> None:
    # One call and one put line, OI 1,000 each, gamma 0.001 per point, index 5,000:
    # 1,000 × 0.001 × 100 × 5,000² × 0.01 = $25,000,000 per 1 % move.
    r = gex([True, False], [5000.0, 4900.0], [1000.0, 1000.0], [0.001, 0.001], 5000.0)
    assert r.call_gex_usd_per_pct == pytest.approx(25_000_000.0)
    assert r.put_gex_usd_per_pct == pytest.approx(-25_000_000.0)  # dealers short puts
    assert r.gex_usd_per_pct == pytest.approx(0.0)
    np.testing.assert_allclose(r.strikes, [4900.0, 5000.0])
    np.testing.assert_allclose(r.net_by_strike_usd_per_pct, [-25_000_000.0, 25_000_000.0])


def test_gex_is_the_dealer_hedge_change_for_a_one_percent_move() -> None:
    # GEX is the first-order change of the position's dollar delta (shares × index) for a 1 % move:
    # d(Δ·OI·100·S)/d(move) × 1 %, delta held at the current S for the dollar conversion. Check it
    # against a finite difference of Black-76 delta on a single call line.
    f, k, t, d, s, oi = 6000.0, 6050.0, 7 / 365, 1.0, 0.15, 2500.0
    r = gex_black76(True, k, oi, f, t, d, s)
    h = 1e-6
    up = float(black76.greeks(True, f * (1 + h), k, t, d, s).delta)
    down = float(black76.greeks(True, f * (1 - h), k, t, d, s).delta)
    dollar_delta_change = (up - down) / (2 * h) * 0.01 * oi * black76.SPX_MULTIPLIER * f
    assert r.gex_usd_per_pct == pytest.approx(dollar_delta_change, rel=1e-6)


def test_black76_version_matches_spot_gamma_version() -> None:
    # Γ_S = Γ_F·(F/S)², so Σ OI·Γ_S·S² equals Σ OI·Γ_F·F².
    spot, rate, t = 5950.0, 0.045, 30 / 365
    f = spot * math.exp(rate * t)
    k = np.array([5700.0, 5900.0, 6000.0, 6200.0])
    is_call = np.array([False, False, True, True])
    oi = np.array([12_000.0, 8_000.0, 9_000.0, 15_000.0])
    sigma = np.array([0.22, 0.18, 0.16, 0.14])
    d = math.exp(-rate * t)
    gamma_f = np.asarray(black76.greeks(is_call, f, k, t, d, sigma).gamma)
    by_spot = gex(is_call, k, oi, gamma_f * (f / spot) ** 2, spot)
    by_forward = gex_black76(is_call, k, oi, f, t, d, sigma)
    assert by_forward.gex_usd_per_pct == pytest.approx(by_spot.gex_usd_per_pct, rel=1e-12)
    assert by_forward.call_gex_usd_per_pct > 0 > by_forward.put_gex_usd_per_pct


def test_bad_rows_are_excluded_and_counted() -> None:
    r = gex(
        [True, True, False, True],
        [1.0, 2.0, 3.0, 4.0],
        [10.0, -5.0, math.nan, 10.0],
        [0.01, 0.01, 0.01, math.nan],
        100.0,
    )
    assert r.n_used == 1 and r.n_excluded == 3
    assert r.gex_usd_per_pct == pytest.approx(10 * 0.01 * 100 * 100**2 * 0.01)
    none = gex([True], [1.0], [math.nan], [0.01], 100.0)
    assert none.n_used == 0 and math.isnan(none.gex_usd_per_pct)


def test_undefined_volatility_rows_are_excluded() -> None:
    r = gex_black76([True, False], [6000.0, 5900.0], [100.0, 100.0], 6000.0, 7 / 365, 1.0, [0.15, math.nan])
    assert r.n_used == 1 and r.put_gex_usd_per_pct == 0.0


def test_hand_computed_black76_case() -> None:
    # One at-the-money call line by hand: F = K = 6,000, T = 7/365, σ = 15 %, D = 1, OI 1,000.
    # σ√T = 0.15 × 0.138485 = 0.0207728; d1 = σ√T / 2 = 0.0103864; φ(d1) = 0.398942 × e^(−d1²/2) = 0.398920;
    # Γ_F = D·φ(d1) / (F·σ√T) = 0.398920 / 124.637 = 0.00320068 per point;
    # GEX = 1,000 × 0.00320068 × 100 × 6,000² × 0.01 = $115.22 M per 1 % move (+: dealers long the call).
    r = gex_black76(True, 6000.0, 1000.0, 6000.0, 7 / 365, 1.0, 0.15)
    assert r.gex_usd_per_pct == pytest.approx(115.22e6, rel=1e-4)
    # The same line as a put: same gamma, dealer short → the opposite sign.
    assert gex_black76(False, 6000.0, 1000.0, 6000.0, 7 / 365, 1.0, 0.15).gex_usd_per_pct == pytest.approx(-115.22e6, rel=1e-4)
