"""OSI / OCC option symbols as Tradier and OPRA spell them (no root padding at Tradier).

``SPXW251219P05800000`` = root SPXW, expiration 2025-12-19, put, strike 5800.000.
The 21-character OCC form pads the root to 6 characters with spaces (``SPX   251219P05800000``);
``parse`` accepts both, ``format`` writes the unpadded form unless ``padded=True``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

_OSI = re.compile(r"^(?P<root>[A-Z0-9]{1,6}) *(?P<ymd>\d{6})(?P<cp>[CP])(?P<strike>\d{8})$")


@dataclass(frozen=True)
class OptionSymbol:
    root: str
    expiration: dt.date
    is_call: bool
    strike: Decimal

    def format(self, *, padded: bool = False) -> str:
        return format_symbol(self.root, self.expiration, self.is_call, self.strike, padded=padded)


def format_symbol(
    root: str, expiration: dt.date, is_call: bool, strike: Decimal | float | str, *, padded: bool = False
) -> str:
    """Build an OSI symbol; the strike is written × 1000 as 8 digits and must be a multiple of 0.001."""
    milli = Decimal(str(strike)) * 1000
    if milli != milli.to_integral_value() or milli < 0 or milli >= 10**8:
        raise ValueError(f"strike {strike!r} cannot be written in an OSI symbol")
    root = root.upper()
    if not re.fullmatch(r"[A-Z0-9]{1,6}", root):
        raise ValueError(f"bad option root {root!r}")
    head = root.ljust(6) if padded else root
    return f"{head}{expiration:%y%m%d}{'C' if is_call else 'P'}{int(milli):08d}"


def parse_symbol(symbol: str) -> OptionSymbol:
    """Split an OSI symbol into root, expiration, call/put and strike (ValueError if malformed)."""
    m = _OSI.match(symbol.strip().upper()) if symbol else None
    if not m:
        raise ValueError(f"not an OSI option symbol: {symbol!r}")
    ymd = m["ymd"]
    expiration = dt.date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    strike = Decimal(int(m["strike"])) / 1000
    return OptionSymbol(m["root"], expiration, m["cp"] == "C", strike)
