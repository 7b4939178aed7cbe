"""One rounding rule for stored money: the float's shortest repr, then half up."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from strategy.quant.money import cents, cents_or_none, mid_or_none, to_places


@pytest.mark.parametrize(("value", "stored"), [
    (2.675, "2.68"), (0.125, "0.13"), (-0.125, "-0.13"), (2.665, "2.67"), (0.1 + 0.2, "0.30"),
    (np.float64(1.005), "1.01"), (Decimal("2.675"), "2.68"), (3, "3.00"), ("4.105", "4.11"),
])
def test_half_up_to_the_cent(value: object, stored: str) -> None:
    assert cents(value) == Decimal(stored)  # type: ignore[arg-type]


def test_unknown_values_stay_unknown_and_mids_keep_their_decimals() -> None:
    assert cents_or_none(None) is None and cents_or_none(math.nan) is None and cents_or_none(math.inf) is None
    assert mid_or_none(2.375) == Decimal("2.3750") and mid_or_none(None) is None
    assert to_places(1.23456, 4) == Decimal("1.2346")
    with pytest.raises(ValueError):
        cents(math.nan)
