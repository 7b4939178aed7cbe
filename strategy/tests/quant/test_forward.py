"""Implied forward and discount from put–call parity on synthetic chains with known F and D."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategy.quant import black76
from strategy.quant.forward import ForwardFit, implied_forward, mid_and_spread

F_TRUE, D_TRUE, T = 6012.37, 0.9962, 30 / 365


def _chain(seed: int, *, noise: bool = True, missing_frac: float = 0.0) -> tuple[np.ndarray, ...]:
    """Strikes 5000–7000 every 5 with a skew, mids jittered inside a 2 %-of-price spread."""
    rng = np.random.default_rng(seed)
    k = np.arange(5000.0, 7000.0 + 1, 5.0)
    x = np.log(k / F_TRUE)
    vol = 0.15 - 0.1 * x + 0.6 * x * x
    call = np.asarray(black76.price(True, F_TRUE, k, T, D_TRUE, vol))
    put = np.asarray(black76.price(False, F_TRUE, k, T, D_TRUE, vol))
    cs, ps = np.maximum(0.05, 0.02 * call), np.maximum(0.05, 0.02 * put)
    if noise:
        call = call + rng.uniform(-0.5, 0.5, k.size) * cs
        put = put + rng.uniform(-0.5, 0.5, k.size) * ps
    if missing_frac:
        call[rng.random(k.size) < missing_frac] = np.nan
        put[rng.random(k.size) < missing_frac] = np.nan
    return k, call, put, cs, ps


def test_exact_prices_recover_forward_and_discount() -> None:
    k, c, p, cs, ps = _chain(0, noise=False)
    fit = implied_forward(k, c, p, call_spread=cs, put_spread=ps)
    assert fit.ok and fit.reason == "ok"
    assert fit.forward == pytest.approx(F_TRUE, abs=1e-6)
    assert fit.discount == pytest.approx(D_TRUE, abs=1e-10)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    assert fit.n_used == 40 and fit.n_outliers == 0
    assert fit.rate(T) == pytest.approx(-math.log(D_TRUE) / T, rel=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_noisy_quotes_with_missing_legs_stay_within_the_reported_error(seed: int) -> None:
    k, c, p, cs, ps = _chain(seed, missing_frac=0.2)
    fit = implied_forward(k, c, p, call_spread=cs, put_spread=ps)
    assert fit.ok
    assert fit.n_excluded > 0 and fit.n_two_sided + fit.n_excluded == k.size
    # The standard errors are honest: truth within 4 of them (and within a point regardless).
    assert abs(fit.forward - F_TRUE) < max(4 * fit.forward_se, 0.05) and abs(fit.forward - F_TRUE) < 1.0
    assert abs(fit.discount - D_TRUE) < max(4 * fit.discount_se, 1e-4) and abs(fit.discount - D_TRUE) < 6e-3
    assert fit.r_squared > 0.99 and fit.residual_rms > 0


def test_selection_is_near_the_money() -> None:
    k, c, p, cs, ps = _chain(1)
    fit = implied_forward(k, c, p, call_spread=cs, put_spread=ps, max_strikes=10)
    assert fit.n_used == 10
    assert np.all(np.abs(fit.strikes_used - F_TRUE) <= 30.0)  # ten 5-point strikes around F
    assert np.all(np.diff(fit.strikes_used) > 0)


def test_a_bad_quote_is_dropped_by_the_robust_pass() -> None:
    k, c, p, cs, ps = _chain(2)
    i = int(np.argmin(np.abs(k - F_TRUE))) + 2
    p = p.copy()
    p[i] += 8.0  # a stale put quote near the money
    fit = implied_forward(k, c, p, call_spread=cs, put_spread=ps)
    assert fit.n_outliers == 1 and k[i] not in fit.strikes_used
    assert abs(fit.forward - F_TRUE) < 1.0


def test_one_sided_and_invalid_quotes_are_skipped() -> None:
    k, c, p, cs, ps = _chain(3, noise=False)
    c, p = c.copy(), p.copy()
    c[::3] = np.nan  # missing
    p[1::7] = 0.0  # no bid, no mid
    c[2::11] = -1.0
    fit = implied_forward(k, c, p, call_spread=cs, put_spread=ps)
    assert fit.ok and fit.forward == pytest.approx(F_TRUE, abs=1e-6)
    assert fit.n_excluded == int((~(np.isfinite(c) & (c > 0) & (p > 0))).sum())


def test_fixed_discount_estimates_the_forward_only() -> None:
    k, c, p, _, _ = _chain(4, noise=False)
    fit = implied_forward(k, c, p, discount=D_TRUE)
    assert fit.ok and fit.discount == D_TRUE and fit.discount_se == 0.0
    assert fit.forward == pytest.approx(F_TRUE, abs=1e-6)
    assert math.isnan(fit.r_squared)


def test_mixed_am_and_pm_series_are_refused_not_averaged() -> None:
    # SPX (AM) and SPXW (PM) rows of one date joined into one table repeat every strike.
    k, c, p, _, _ = _chain(5, noise=False)
    fit = implied_forward(np.concatenate([k, k]), np.concatenate([c, c + 1.0]), np.concatenate([p, p]))
    assert not fit.ok and fit.reason == "duplicate_strikes" and math.isnan(fit.forward)


@pytest.mark.parametrize(
    "strikes, calls, puts, reason",
    [
        ([], [], [], "too_few_two_sided_strikes"),
        ([6000.0], [50.0], [40.0], "too_few_two_sided_strikes"),
        ([6000.0, 6005.0, 6010.0], [50.0, np.nan, 45.0], [40.0, 42.0, np.nan], "too_few_two_sided_strikes"),
        ([6000.0, 6005.0], [50.0, 45.0], [40.0], "mismatched_lengths"),
    ],
)
def test_unusable_chains_give_a_reason_not_an_exception(
    strikes: list[float], calls: list[float], puts: list[float], reason: str
) -> None:
    fit = implied_forward(strikes, calls, puts)
    assert isinstance(fit, ForwardFit)
    assert not fit.ok and fit.reason == reason
    assert math.isnan(fit.forward) and math.isnan(fit.discount)


def test_inconsistent_quotes_giving_a_negative_discount_are_refused() -> None:
    k = np.array([5990.0, 6000.0, 6010.0, 6020.0])
    fit = implied_forward(k, [10.0, 20.0, 30.0, 40.0], [40.0, 30.0, 20.0, 10.0])  # C − P rises with K
    assert not fit.ok and fit.reason == "nonpositive_discount"


def test_mid_and_spread() -> None:
    mid, spread = mid_and_spread([1.0, 0.0, 2.0, np.nan, -0.1, 1.0], [1.2, 0.5, 1.9, 1.0, 0.2, 1.0])
    np.testing.assert_allclose(mid[[0, 5]], [1.1, 1.0])
    np.testing.assert_allclose(spread[[0, 5]], [0.2, 0.0], atol=1e-12)
    assert np.all(np.isnan(mid[1:5])) and np.all(np.isnan(spread[1:5]))
