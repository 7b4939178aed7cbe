"""Black-76 implied volatility: round trips over the whole domain, bounds with reasons, properties."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategy.quant import black76
from strategy.quant.black76 import implied_vol, implied_vol_with_reason, price

ONE_HOUR = 60 / 525_600


def _grid() -> tuple[np.ndarray, ...]:
    f = 6000.0
    k, t, sigma, is_call = np.meshgrid(
        f * np.exp(np.linspace(-1.0, 1.0, 81)),  # strikes from 0.37·F to 2.7·F
        [ONE_HOUR, 0.25 / 365, 1 / 365, 7 / 365, 30 / 365, 0.5, 1.0, 2.0],
        [0.01, 0.03, 0.08, 0.15, 0.3, 0.6, 1.0, 2.0, 4.0],
        [True, False],
        indexing="ij",
    )
    d = np.exp(-0.045 * t)
    return is_call, np.full(k.shape, f), k, t, d, sigma


def test_round_trip_on_a_grid_including_one_hour_expiries_and_deep_otm() -> None:
    is_call, f, k, t, d, sigma = _grid()
    p = np.asarray(price(is_call, f, k, t, d, sigma))
    res = implied_vol_with_reason(p, is_call, f, k, t, d)
    iv, reason = np.asarray(res.sigma), np.asarray(res.reason)

    otm = np.where(is_call, k >= f, k <= f)
    time_value = p - d * np.maximum(np.where(is_call, f - k, k - f), 0.0)
    # Recoverable: an out-of-the-money price that is a normal float, or an in-the-money price
    # whose time value is not lost in the rounding of the price itself.
    recoverable = np.where(otm, p > 1e-300, time_value > 1e-6 * p)
    assert recoverable.sum() > 6000
    assert np.all(reason[recoverable] == "ok")
    np.testing.assert_allclose(iv[recoverable], sigma[recoverable], rtol=1e-9)

    # Everything else either still solves, or says why not: never a silent value, never a crash.
    assert set(np.unique(reason)) <= {"ok", "no_time_value"}
    assert np.all(np.isnan(iv[reason != "ok"]))
    assert np.all(p[otm & (reason == "no_time_value")] == 0.0)  # underflowed to exactly zero

    # One-hour expiries and deep out-of-the-money strikes are in the recoverable set.
    assert (recoverable & (t == ONE_HOUR)).sum() > 200
    assert (recoverable & otm & (np.abs(np.log(k / f)) > 0.5)).sum() > 500


@pytest.mark.parametrize(
    "is_call, k, t, sigma",
    [
        (True, 6030.0, ONE_HOUR, 0.12),  # 0DTE, an hour left, just out of the money
        (False, 5900.0, ONE_HOUR, 0.25),
        (True, 6600.0, 2 / 365, 0.10),  # price ~1e-30
        (False, 3000.0, 30 / 365, 0.35),  # deep OTM put, price ~1e-21
        (True, 6000.0, 1.0, 4.0),  # 400 % vol, price near its upper bound
        (False, 6000.0, ONE_HOUR, 0.001),  # tiny ATM time value
    ],
)
def test_round_trip_at_the_edges(is_call: bool, k: float, t: float, sigma: float) -> None:
    d = math.exp(-0.04 * t)
    p = price(is_call, 6000.0, k, t, d, sigma)
    res = implied_vol_with_reason(p, is_call, 6000.0, k, t, d)
    assert res.reason == "ok"
    assert res.sigma == pytest.approx(sigma, rel=1e-9)


def test_price_a_hair_above_intrinsic_solves_to_a_small_positive_vol() -> None:
    d = 0.999
    intrinsic = d * (6000.0 - 5800.0)
    for extra in (1e-9, 1e-6, 0.01):
        res = implied_vol_with_reason(intrinsic + extra, True, 6000.0, 5800.0, 7 / 365, d)
        assert res.reason == "ok" and 0 < res.sigma < 0.5
        assert price(True, 6000.0, 5800.0, 7 / 365, d, res.sigma) == pytest.approx(intrinsic + extra, abs=1e-9)


def test_prices_near_zero_solve() -> None:
    for p in (1e-12, 1e-50, 1e-200, 1e-300):
        res = implied_vol_with_reason(p, False, 6000.0, 5000.0, 7 / 365, 0.999)
        assert res.reason == "ok"
        assert price(False, 6000.0, 5000.0, 7 / 365, 0.999, res.sigma) == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize(
    "p, is_call, f, k, t, d, reason",
    [
        (-0.05, True, 6000.0, 6100.0, 0.1, 0.99, "below_intrinsic"),
        (98.0, True, 6000.0, 5900.0, 0.1, 0.99, "below_intrinsic"),  # intrinsic is 99
        (99.0, True, 6000.0, 5900.0, 0.1, 0.99, "no_time_value"),
        (0.0, False, 6000.0, 5900.0, 0.1, 0.99, "no_time_value"),
        (5940.0, True, 6000.0, 5900.0, 0.1, 0.99, "above_upper_bound"),  # = D·F
        (6000.0, True, 6000.0, 5900.0, 0.1, 0.99, "above_upper_bound"),
        (5900.0, False, 6000.0, 5900.0, 0.1, 0.99, "above_upper_bound"),  # > D·K
        (1.0, True, 0.0, 5900.0, 0.1, 0.99, "nonpositive_input"),
        (1.0, True, 6000.0, -5.0, 0.1, 0.99, "nonpositive_input"),
        (1.0, True, 6000.0, 5900.0, 0.0, 0.99, "nonpositive_input"),
        (1.0, True, 6000.0, 5900.0, 0.1, 0.0, "nonpositive_input"),
        (math.nan, True, 6000.0, 5900.0, 0.1, 0.99, "nonfinite_input"),
        (1.0, True, math.inf, 5900.0, 0.1, 0.99, "nonfinite_input"),
    ],
)
def test_outside_no_arbitrage_bounds_gives_nan_and_a_reason(
    p: float, is_call: bool, f: float, k: float, t: float, d: float, reason: str
) -> None:
    res = implied_vol_with_reason(p, is_call, f, k, t, d)
    assert res.reason == reason
    assert math.isnan(res.sigma)
    assert math.isnan(implied_vol(p, is_call, f, k, t, d))


def test_bad_rows_in_an_array_never_raise_and_stay_local() -> None:
    p = np.array([1.0, -1.0, math.nan, 0.0, 1e9, 1.0, 1.0])
    k = np.array([6100.0, 6100.0, 6100.0, 6100.0, 6100.0, -1.0, 6100.0])
    t = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, -0.1])
    res = implied_vol_with_reason(p, True, 6000.0, k, t, 0.99)
    assert list(res.reason) == [
        "ok",
        "below_intrinsic",
        "nonfinite_input",
        "no_time_value",
        "above_upper_bound",
        "nonpositive_input",
        "nonpositive_input",
    ]
    sigma = np.asarray(res.sigma)
    assert np.isfinite(sigma[0]) and np.all(np.isnan(sigma[1:]))
    assert set(black76.IV_REASONS) >= set(res.reason)


def test_shapes_broadcast_and_scalars_stay_scalars() -> None:
    res = implied_vol_with_reason(1.7, True, 19.0, 19.0, 0.75, 0.93)
    assert isinstance(res.sigma, float) and isinstance(res.reason, str)
    out = implied_vol(
        np.full((2, 3), 6.0), np.array([[True], [False]]), 100.0, np.array([95.0, 100.0, 105.0]), 0.25, 1.0
    )
    assert isinstance(out, np.ndarray) and out.shape == (2, 3) and np.all(np.isfinite(out))
    assert implied_vol(np.empty(0), True, 100.0, 100.0, 0.25, 1.0).shape == (0,)  # type: ignore[union-attr]


def test_in_the_money_and_out_of_the_money_give_the_same_vol_by_parity() -> None:
    f, k, t, d = 6000.0, 5800.0, 14 / 365, 0.998
    put = price(False, f, k, t, d, 0.22)
    call = put + d * (f - k)
    assert implied_vol(call, True, f, k, t, d) == pytest.approx(implied_vol(put, False, f, k, t, d), rel=1e-10)


def test_a_whole_chain_solves_quickly() -> None:
    # Generous bound (the benchmark in bench/bench_quant.py reports the real number, ~2 ms).
    rng = np.random.default_rng(7)
    k = np.round(6000 * np.exp(rng.uniform(-0.35, 0.25, 1200)) / 5) * 5
    t = rng.choice([ONE_HOUR, 1 / 365, 7 / 365, 30 / 365], 1200)
    is_call = k >= 6000
    d = np.exp(-0.045 * t)
    p = np.maximum(
        np.round(np.asarray(price(is_call, 6000.0, k, t, d, 0.15 + 0.5 * np.abs(np.log(k / 6000)))) / 0.05) * 0.05, 0.05
    )
    implied_vol(p, is_call, 6000.0, k, t, d)  # warm up
    start = time.perf_counter()
    res = implied_vol_with_reason(p, is_call, 6000.0, k, t, d)
    assert time.perf_counter() - start < 0.25
    assert np.all(res.reason == "ok")


@settings(max_examples=300, deadline=None)
@given(
    is_call=st.booleans(),
    log_moneyness=st.floats(min_value=-0.5, max_value=0.5),
    t=st.floats(min_value=ONE_HOUR, max_value=2.0),
    sigma=st.floats(min_value=0.02, max_value=4.0),
    rate=st.floats(min_value=-0.01, max_value=0.08),
)
def test_implied_vol_inverts_price(is_call: bool, log_moneyness: float, t: float, sigma: float, rate: float) -> None:
    f = 5000.0
    k = f * math.exp(log_moneyness)
    d = math.exp(-rate * t)
    p = float(price(is_call, f, k, t, d, sigma))
    res = implied_vol_with_reason(p, is_call, f, k, t, d)
    intrinsic = d * max((f - k) if is_call else (k - f), 0.0)
    time_value = p - intrinsic
    if time_value > 1e-6 * p and p > 1e-300:
        assert res.reason == "ok"
        assert res.sigma == pytest.approx(sigma, rel=1e-8)
    else:
        assert res.reason in ("ok", "no_time_value")
