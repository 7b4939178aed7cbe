"""OSI / OCC option symbols as Tradier and OPRA spell them (no root padding at Tradier).

``SPXW251219P05800000`` = root SPXW, expiration 2025-12-19, put, strike 5800.000.
The 21-character OCC form pads the root to 6 characters with spaces (``SPX   251219P05800000``);
``parse_symbol`` accepts both, ``format_symbol`` writes the unpadded form unless ``padded=True``.

Layout (OCC Options Symbology Initiative, 2010): root (1–6 characters), expiration YYMMDD,
C or P, strike × 1000 as 8 digits. The two-digit year is read as 20YY, so expirations must lie in
2000–2099. Source: OCC, "Symbology Initiative" specification; reliability.md row 40.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_OSI = re.compile(r"^(?P<root>[A-Z0-9]{1,6}) *(?P<ymd>\d{6})(?P<cp>[CP])(?P<strike>\d{8})$")


@dataclass(frozen=True)
class OptionSymbol:
    """The fields of an OSI symbol; ``strike`` in index points as an exact Decimal."""

    root: str
    expiration: dt.date
    is_call: bool
    strike: Decimal

    def format(self, *, padded: bool = False) -> str:
        """This symbol as text (``format_symbol``)."""
        return format_symbol(self.root, self.expiration, self.is_call, self.strike, padded=padded)


def format_symbol(
    root: str, expiration: dt.date, is_call: bool, strike: Decimal | float | str, *, padded: bool = False
) -> str:
    """Build an OSI symbol; the strike is written × 1000 as 8 digits and must be a multiple of 0.001.

    ``padded=True`` pads the root to 6 characters with spaces (21-character OCC form).
    ``ValueError`` for a strike that does not fit, a bad root or a year outside 2000–2099.
    """
    try:
        milli = Decimal(str(strike)) * 1000
    except InvalidOperation:
        raise ValueError(f"strike {strike!r} is not a number") from None
    if milli != milli.to_integral_value() or milli < 0 or milli >= 10**8:
        raise ValueError(f"strike {strike!r} cannot be written in an OSI symbol")
    root = root.upper()
    if not re.fullmatch(r"[A-Z0-9]{1,6}", root):
        raise ValueError(f"bad option root {root!r}")
    if not 2000 <= expiration.year <= 2099:
        raise ValueError(f"expiration {expiration} cannot be written with a two-digit year")
    head = root.ljust(6) if padded else root
    return f"{head}{expiration:%y%m%d}{'C' if is_call else 'P'}{int(milli):08d}"


def parse_symbol(symbol: str) -> OptionSymbol:
    """Split an OSI symbol into root, expiration, call/put and strike (ValueError if malformed)."""
    m = _OSI.match(symbol.strip().upper()) if isinstance(symbol, str) else None
    if not m:
        raise ValueError(f"not an OSI option symbol: {symbol!r}")
    ymd = m["ymd"]
    expiration = dt.date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    strike = Decimal(int(m["strike"])) / 1000
    return OptionSymbol(m["root"], expiration, m["cp"] == "C", strike)
