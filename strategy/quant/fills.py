"""The fill model shared by the backtester and the simulated broker, and SPX tick rules.

Prices are per share in index points (× ``black76.SPX_MULTIPLIER`` = 100 for dollars per contract).

Fill model (``shared/design.md``, "Strategy rules"):

    combo spread  = Σ over the legs of (ask − bid)
    entry credit  = mid credit − 0.30 × combo spread, rounded DOWN to the 0.05 complex-order tick
    exit debit    = mid debit  + 0.30 × combo spread, rounded UP   to the 0.05 complex-order tick

Rounding always goes against us, so a modelled fill is never better than the model's raw price.

Tick sizes (Cboe, S&P 500 Index Options product specification; ``shared/reference/calendar.md`` §1):
a single SPX/SPXW series quoted below 3.00 trades in 0.05, at or above 3.00 in 0.10; a complex
order's legs may trade in 0.01 but the net package price must be a multiple of 0.05.

Arithmetic: every price is turned into a ``Decimal`` through its shortest ``repr`` and quantised to
1e-8 points (``as_decimal``) before anything is added, multiplied or rounded. Binary noise of a
float price below 100,000 is far under 1e-8, so ``0.1 + 0.2`` counts as exactly 0.30 and
``0.30 − 0.30 × 0.50`` as exactly 0.15 — a plain-float ``floor(0.15 / 0.05)`` would give 2 ticks,
not 3. Results go back out as the nearest ``float`` (the quant boundary is float64; services convert
to ``DecimalField`` once, via ``str``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, Literal

COMPLEX_ORDER_TICK: Final = 0.05  # net price of a multi-leg SPX order (Cboe SPX specification)
SINGLE_LEG_TICK_LOW: Final = 0.05  # a series quoted below 3.00
SINGLE_LEG_TICK_HIGH: Final = 0.10  # a series quoted at or above 3.00
SINGLE_LEG_TICK_BREAK: Final = 3.00
DEFAULT_FILL_FRACTION: Final = 0.30  # share of the combo spread given up to the market

_QUANTUM: Final = Decimal("1e-8")  # absorbs float noise; far finer than any real price step
_ROUNDING: Final = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}

Direction = Literal["down", "up", "nearest"]


def as_decimal(value: float | int | str | Decimal) -> Decimal:
    """``value`` as an exact Decimal, quantised to 1e-8 points; ``ValueError`` if not finite.

    A float (numpy float64 included) goes through its shortest ``repr`` (``0.15`` →
    ``Decimal("0.15")``, not the binary expansion 0.1499999999999999944…); the 1e-8 quantisation
    then removes the noise left by float arithmetic upstream (``0.1 + 0.2`` → ``0.30000000``).
    """
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a price: {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    else:
        # float() first: numpy 2 spells repr(np.float64(0.15)) as "np.float64(0.15)".
        d = Decimal(repr(float(value)))
    if not d.is_finite():
        raise ValueError(f"price must be finite, got {value!r}")
    return d.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def round_to_tick(price: float, direction: Direction, tick: float = COMPLEX_ORDER_TICK) -> float:
    """``price`` rounded to a multiple of ``tick`` (points): "down" (floor), "up" (ceiling) or "nearest".

    "nearest" sends an exact half-tick away from zero (``ROUND_HALF_UP``). Floor and ceiling are
    toward −∞ / +∞, so a negative net price rounds the same way as a positive one.
    """
    return float(_round_decimal(as_decimal(price), direction, as_decimal(tick)))


def _round_decimal(price: Decimal, direction: Direction, step: Decimal) -> Decimal:
    if direction not in _ROUNDING:
        raise ValueError(f"direction must be one of {sorted(_ROUNDING)}, got {direction!r}")
    if step <= 0:
        raise ValueError(f"tick must be positive, got {step}")
    return (price / step).to_integral_value(rounding=_ROUNDING[direction]) * step


def is_on_tick(price: float, tick: float) -> bool:
    """True when ``price`` (points) is an exact multiple of ``tick``, float noise below 1e-8 ignored."""
    step = as_decimal(tick)
    if step <= 0:
        raise ValueError(f"tick must be positive, got {tick!r}")
    return as_decimal(price) % step == 0


def single_leg_tick(price: float) -> float:
    """Minimum price step of a single SPX/SPXW series quoted at ``price``: 0.05 below 3.00, else 0.10.

    Source: Cboe, S&P 500 Index Options product specification ("minimum tick").
    """
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"price must be finite and non-negative, got {price!r}")
    return SINGLE_LEG_TICK_LOW if as_decimal(price) < as_decimal(SINGLE_LEG_TICK_BREAK) else SINGLE_LEG_TICK_HIGH


def mid_price(bid: float, ask: float) -> float:
    """(bid + ask) / 2 in points, computed exactly (``mid_price(0.05, 0.10) == 0.075``)."""
    return float((as_decimal(bid) + as_decimal(ask)) / 2)


def combo_spread_of(bids: Sequence[float], asks: Sequence[float]) -> float:
    """Bid–ask width of a multi-leg order: Σ (ask − bid) over its legs, in points (never negative).

    The legs' widths add whichever side each leg is on: selling the package at mid gives up half of
    every leg's width. ``ValueError`` for a crossed leg (ask < bid) or mismatched lengths.
    """
    if len(bids) != len(asks) or not bids:
        raise ValueError("need one ask per bid and at least one leg")
    total = Decimal(0)
    for bid, ask in zip(bids, asks):
        width = as_decimal(ask) - as_decimal(bid)
        if width < 0:
            raise ValueError(f"crossed quote: bid {bid!r} > ask {ask!r}")
        total += width
    return float(total)


def _check_model_inputs(combo_spread_points: float, fraction: float) -> tuple[Decimal, Decimal]:
    spread = as_decimal(combo_spread_points)
    frac = as_decimal(fraction)
    if spread < 0:
        raise ValueError(f"combo spread must be non-negative, got {combo_spread_points!r}")
    if not 0 <= frac <= 1:
        raise ValueError(f"fill fraction must lie in [0, 1], got {fraction!r}")
    return spread, frac


def entry_credit(mid_credit: float, combo_spread: float, fraction: float = DEFAULT_FILL_FRACTION) -> float:
    """Modelled credit (points per share) for opening a credit spread: mid − fraction × spread, floored to 0.05.

    ``mid_credit`` is the package mid (short mid − long mid); ``combo_spread`` the sum of the legs'
    bid–ask widths. The result can be ≤ 0 when the spread is wide; callers reject that as
    "no_credit". Source: ``shared/design.md`` fill model; 0.05 = Cboe SPX complex-order net tick.
    """
    spread, frac = _check_model_inputs(combo_spread, fraction)
    raw = as_decimal(mid_credit) - frac * spread
    return float(_round_decimal(raw, "down", as_decimal(COMPLEX_ORDER_TICK)))


def exit_debit(mid_debit: float, combo_spread: float, fraction: float = DEFAULT_FILL_FRACTION) -> float:
    """Modelled debit (points per share) for closing a credit spread: mid + fraction × spread, ceiled to 0.05.

    ``mid_debit`` is the closing package mid (short mid − long mid at the time of the exit).
    Source: ``shared/design.md`` fill model; 0.05 = Cboe SPX complex-order net tick.
    """
    spread, frac = _check_model_inputs(combo_spread, fraction)
    raw = as_decimal(mid_debit) + frac * spread
    return float(_round_decimal(raw, "up", as_decimal(COMPLEX_ORDER_TICK)))
