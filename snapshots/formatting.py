"""Plain-text formats shared by the pages, the admin and the commands (the template filters wrap them)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def usd_text(value: Any) -> str:
    """The one money format: ``Decimal("-1980")`` → "-$1,980.00"; None/empty → "".

    Decimals are rounded half up to the cent as they are (no float on the way); floats (the JSON
    metrics of a run) go through their shortest repr first, so 0.1 + 0.2 prints as $0.30.
    """
    if value is None or value == "":
        return ""
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        d = d.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f}"


def usd_billions_text(value: Any) -> str:
    """A large dollar figure in billions: ``-8_214_000_000`` → "-$8.21 bn"; None/empty → "".
    (Analytics such as GEX; money of the books uses ``usd_text``.)"""
    if value is None or value == "":
        return ""
    try:
        d = (value if isinstance(value, Decimal) else Decimal(str(value))) / Decimal(10**9)
        d = d.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f} bn"
