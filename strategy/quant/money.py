"""One rounding rule for money stored in the database (``DecimalField``).

A float price or dollar amount becomes an exact ``Decimal`` through its shortest ``repr``
(``fills.as_decimal``: 2.675 is read as 2.675, not as the binary 2.67499999…), then is rounded to
the field's places **half up** (away from zero on an exact half): 2.675 → 2.68, 0.125 → 0.13,
−0.125 → −0.13. Live services and the backtester store every money field through this module, so
a replayed day and its backtest write the same cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from strategy.quant.fills import as_decimal

CENT: Final = Decimal("0.01")


def to_places(x: float | int | str | Decimal, places: int) -> Decimal:
    """``x`` rounded half up to ``places`` decimals (``ValueError`` if not finite)."""
    return as_decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def cents(x: float | int | str | Decimal) -> Decimal:
    """A price or dollar amount as stored: rounded half up to the cent."""
    return to_places(x, 2)


MID_PLACES: Final = 4  # a mid of two cent prices has 3 decimals, a difference of two mids too: stored exactly


def mid_or_none(x: float | int | str | Decimal | None) -> Decimal | None:
    """A mid price (or mid credit/debit) stored exactly: ``MID_PLACES`` decimals, None when unknown."""
    if x is None:
        return None
    try:
        return to_places(x, MID_PLACES)
    except ValueError:
        return None


def cents_or_none(x: float | int | str | Decimal | None) -> Decimal | None:
    """``cents(x)``, with None (and a non-finite float: an unknown value) as None."""
    if x is None:
        return None
    try:
        return cents(x)
    except ValueError:
        return None
