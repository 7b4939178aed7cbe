"""Fill model and SPX tick rules: exact decimal rounding, direction, tick sizes, validation."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategy.quant import fills
from strategy.quant.fills import (
    COMPLEX_ORDER_TICK,
    as_decimal,
    combo_spread_of,
    entry_credit,
    exit_debit,
    is_on_tick,
    mid_price,
    round_to_tick,
    single_leg_tick,
)

# Prices in whole cents from 0.00 to 50.00, as an exchange quotes them.
cents = st.integers(min_value=0, max_value=5000).map(lambda c: c / 100)


def test_design_defaults() -> None:
    assert fills.DEFAULT_FILL_FRACTION == 0.30
    assert COMPLEX_ORDER_TICK == 0.05


# ---- rounding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "direction", "expected"),
    [
        (0.42, "down", 0.40),
        (0.42, "up", 0.45),
        (0.42, "nearest", 0.40),
        (0.425, "nearest", 0.45),  # exact half tick goes away from zero
        (0.40, "down", 0.40),  # already on the tick: unchanged either way
        (0.40, "up", 0.40),
        (-0.03, "down", -0.05),  # floor is toward −∞, also for a negative net price
        (-0.03, "up", 0.0),
        (0.1 + 0.2, "up", 0.30),  # 0.30000000000000004 is 0.30, not 0.35
        (0.35, "down", 0.35),  # plain float: floor(0.35 / 0.05) = 6 → 0.30
        (0.7, "up", 0.70),
    ],
)
def test_round_to_tick(price: float, direction: fills.Direction, expected: float) -> None:
    assert round_to_tick(price, direction) == expected


def test_round_to_other_tick_and_bad_arguments() -> None:
    assert round_to_tick(3.07, "down", 0.10) == 3.0
    assert round_to_tick(3.07, "up", 0.10) == 3.1
    with pytest.raises(ValueError, match="direction"):
        round_to_tick(1.0, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tick"):
        round_to_tick(1.0, "up", 0.0)
    with pytest.raises(ValueError, match="finite"):
        round_to_tick(math.nan, "up")


# ---- SPX tick sizes (Cboe: 0.05 below 3.00, 0.10 at or above) -----------------------------------


@pytest.mark.parametrize(
    ("price", "tick", "on_tick"),
    [
        (0.05, 0.05, True),
        (2.95, 0.05, True),
        (2.97, 0.05, False),  # below 3.00 but not a multiple of 0.05
        (2.999, 0.05, False),
        (3.00, 0.10, True),  # the break: 3.00 already trades in dimes
        (3.05, 0.10, False),  # a nickel price above the break is off the tick
        (3.07, 0.10, False),
        (3.10, 0.10, True),
        (12.30, 0.10, True),
    ],
)
def test_single_leg_tick(price: float, tick: float, on_tick: bool) -> None:
    assert single_leg_tick(price) == tick
    assert is_on_tick(price, single_leg_tick(price)) is on_tick


def test_single_leg_tick_rejects_bad_prices() -> None:
    for bad in (-0.05, math.nan, math.inf):
        with pytest.raises(ValueError):
            single_leg_tick(bad)


def test_is_on_tick_ignores_float_noise_only() -> None:
    assert is_on_tick(0.1 + 0.2, 0.05)  # 0.30000000000000004
    assert is_on_tick(3 * 0.05, 0.05)  # 0.15000000000000002
    assert not is_on_tick(0.151, 0.05)
    assert not is_on_tick(0.15000001, 0.05)  # a real 1e-8 offset is kept
    with pytest.raises(ValueError):
        is_on_tick(0.15, -0.05)


# ---- prices and spreads -------------------------------------------------------------------------


def test_mid_price_is_exact() -> None:
    assert mid_price(0.05, 0.10) == 0.075  # float: (0.05 + 0.10) / 2 = 0.07500000000000001
    assert mid_price(1.10, 1.15) == 1.125
    assert mid_price(np.float64(4.85), np.float64(3.65)) == 4.25


def test_combo_spread_is_the_sum_of_leg_widths() -> None:
    assert combo_spread_of([3.65, 1.06], [4.85, 3.05]) == 3.19
    assert combo_spread_of([0.10, 0.20], [0.15, 0.25]) == 0.10  # float sum would be 0.09999999999999998
    assert combo_spread_of([1.0], [1.0]) == 0.0
    with pytest.raises(ValueError, match="crossed"):
        combo_spread_of([1.10], [1.05])
    with pytest.raises(ValueError):
        combo_spread_of([1.0, 2.0], [1.1])
    with pytest.raises(ValueError):
        combo_spread_of([], [])


def test_as_decimal() -> None:
    assert as_decimal(0.15) == Decimal("0.15")
    assert as_decimal(np.float64(0.15)) == Decimal("0.15")  # numpy 2's repr would be "np.float64(0.15)"
    assert as_decimal("2.05") == Decimal("2.05")
    assert as_decimal(3) == Decimal(3)
    assert as_decimal(0.1 + 0.2) == Decimal("0.3")
    for bad in (math.nan, math.inf, -math.inf, "nan", "abc"):
        with pytest.raises(ValueError):
            as_decimal(bad)


# ---- the fill model -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mid", "spread", "credit", "debit"),
    [
        (0.30, 0.50, 0.15, 0.45),  # 0.30 ∓ 0.15 exactly: already on the tick, no rounding
        (0.45, 0.10, 0.40, 0.50),  # 0.42 → 0.40 (down), 0.48 → 0.50 (up)
        (2.195, 3.19, 1.20, 3.20),  # PLTR 20/18 put spread: 2.195 ∓ 0.957 = 1.238 → 1.20 and 3.152 → 3.20
        (1.00, 0.00, 1.00, 1.00),  # no spread: mid on the tick is the fill
        (0.10, 1.00, -0.20, 0.40),  # wide spread: the credit can go negative (caller rejects it)
    ],
)
def test_entry_and_exit_examples(mid: float, spread: float, credit: float, debit: float) -> None:
    assert entry_credit(mid, spread) == credit
    assert exit_debit(mid, spread) == debit


def test_fraction_is_configurable_and_validated() -> None:
    assert entry_credit(1.00, 0.50, fraction=0.5) == 0.75
    assert entry_credit(1.00, 0.50, fraction=0.0) == 1.00
    assert exit_debit(1.00, 0.50, fraction=1.0) == 1.50
    with pytest.raises(ValueError, match="fraction"):
        entry_credit(1.0, 0.5, fraction=1.5)
    with pytest.raises(ValueError, match="combo spread"):
        exit_debit(1.0, -0.05)


@given(mid_cents=st.integers(-200, 5000), spread=cents, fraction=st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 1.0]))
def test_entry_credit_is_never_better_than_the_model(mid_cents: int, spread: float, fraction: float) -> None:
    mid = mid_cents / 200  # half-cent mids, as (bid + ask) / 2 gives
    raw = Decimal(mid_cents) / 200 - Decimal(str(fraction)) * Decimal(str(spread))
    credit = entry_credit(mid, spread, fraction)
    assert is_on_tick(credit, COMPLEX_ORDER_TICK)
    assert Decimal(str(credit)) <= raw < Decimal(str(credit)) + Decimal("0.05")
    assert credit <= mid


@given(mid_cents=st.integers(0, 5000), spread=cents, fraction=st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 1.0]))
def test_exit_debit_is_never_better_than_the_model(mid_cents: int, spread: float, fraction: float) -> None:
    mid = mid_cents / 200
    raw = Decimal(mid_cents) / 200 + Decimal(str(fraction)) * Decimal(str(spread))
    debit = exit_debit(mid, spread, fraction)
    assert is_on_tick(debit, COMPLEX_ORDER_TICK)
    assert Decimal(str(debit)) - Decimal("0.05") < raw <= Decimal(str(debit))
    assert debit >= mid
