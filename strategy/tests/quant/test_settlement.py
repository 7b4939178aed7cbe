"""Settlement values from quotes: the expiring chain at its settlement instant, and the forward term
structure extrapolated to T = 0 when the expiring series has no quotes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategy.quant.settlement import (
    EXPIRY_MISMATCHED_LENGTHS,
    EXPIRY_TOO_FEW_STRIKES,
    expiring_chain_value,
    spot_from_forwards,
)


def expiry_quotes(spot: float, strikes: np.ndarray, *, half_width: float = 0.05) -> tuple[np.ndarray, ...]:
    """Quotes of a series at its settlement instant: intrinsic ± ``half_width``, no bid when worthless."""
    k = np.repeat(strikes, 2)
    is_call = np.tile([True, False], strikes.size)
    value = np.where(is_call, np.maximum(spot - k, 0.0), np.maximum(k - spot, 0.0))
    bid = np.where(value > half_width, value - half_width, np.nan)
    ask = np.where(value > half_width, value + half_width, 0.05)
    return k, is_call, bid, ask


def test_parity_at_expiry_recovers_the_index_and_no_bid_options_count_as_worthless() -> None:
    k, c, b, a = expiry_quotes(6301.45, np.arange(6250.0, 6355.0, 5.0))
    est = expiring_chain_value(k, c, b, a)
    assert est.ok and est.value == pytest.approx(6301.45, abs=1e-9)
    assert est.n_used == 12 and est.n_quoted == 21  # the 12 strikes nearest the median estimate
    # Counting a no-bid option at half its ask instead of 0 would bias the estimate by 0.025 a strike.
    assert est.se > 0


def test_a_zero_bid_reads_like_a_missing_bid() -> None:
    k, c, b, a = expiry_quotes(6000.30, np.arange(5950.0, 6055.0, 5.0))
    zero = np.where(np.isnan(b), 0.0, b)
    assert expiring_chain_value(k, c, zero, a).value == expiring_chain_value(k, c, b, a).value


def test_near_the_money_time_value_cancels_in_parity() -> None:
    # One minute before the close an at-the-money call and put both carry ~0.4 of time value.
    k, c, b, a = expiry_quotes(6001.0, np.arange(5950.0, 6055.0, 5.0))
    atm = k == 6000.0
    b, a = b.copy(), a.copy()
    b[atm] += 0.40
    a[atm] += 0.40
    b[atm & ~c] = 0.35  # the put is worth 0.40 of time value only
    a[atm & ~c] = 0.45
    est = expiring_chain_value(k, c, b, a)
    assert est.value == pytest.approx(6001.0, abs=1e-9)


def test_one_stale_quote_is_dropped_by_the_robust_pass() -> None:
    k, c, b, a = expiry_quotes(5500.0, np.arange(5450.0, 5555.0, 5.0))
    stale = (k == 5490.0) & c  # an in-the-money call still showing an hour-old price
    b, a = b.copy(), a.copy()
    b[stale] += 6.0
    a[stale] += 6.0
    est = expiring_chain_value(k, c, b, a)
    assert est.n_outliers == 1 and est.value == pytest.approx(5500.0, abs=1e-9)


def test_wide_quotes_weigh_less() -> None:
    k, c, b, a = expiry_quotes(6000.0, np.arange(5980.0, 6025.0, 5.0))
    wide = (k == 5980.0) & c
    b, a = b.copy(), a.copy()
    b[wide], a[wide] = 19.0, 22.0  # mid 20.5: says 6000.5, but 3 points wide
    est = expiring_chain_value(k, c, b, a)
    assert 6000.0 < est.value < 6000.01


def test_too_few_strikes_and_bad_input_say_why() -> None:
    k, c, b, a = expiry_quotes(6000.0, np.array([5990.0, 6010.0]))
    assert expiring_chain_value(k, c, b, a).reason == EXPIRY_TOO_FEW_STRIKES
    # Only no-bid quotes: nothing is two-sided, so nothing is known.
    k, c, _, a = expiry_quotes(6000.0, np.arange(5900.0, 6100.0, 5.0))
    est = expiring_chain_value(k, c, np.full(k.size, np.nan), np.full(k.size, 0.05))
    assert not est.ok and math.isnan(est.value)
    assert expiring_chain_value([1.0], [True, False], [1.0], [1.0]).reason == EXPIRY_MISMATCHED_LENGTHS


def test_spot_from_forwards_removes_the_carry() -> None:
    spot, carry = 5899.27, 0.04 - 0.013
    points = [(t, spot * math.exp(carry * t)) for t in (390 / 525_600, (390 + 1440) / 525_600)]
    assert spot_from_forwards(points) == pytest.approx(spot, abs=1e-9)
    assert spot_from_forwards(list(reversed(points))) == pytest.approx(spot, abs=1e-9)  # any order
    assert spot_from_forwards(points[:1]) == points[0][1]  # one forward: its carry stays in
    with pytest.raises(ValueError):
        spot_from_forwards([(0.0, 6000.0), (0.01, math.nan)])
