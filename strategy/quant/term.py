"""Volatility term structure from a 9-day and a 30-day VIX-style index.

ratio_9d_30d = index_9d / index_30d. Above 1 the curve is inverted (backwardation: short-dated
volatility priced above 30-day, typical of stress); below 1 it is in contango, the usual state.
slope_pts_per_day = (index_30d − index_9d) / (30 − 9): index points per day of maturity,
positive in contango. Both indexes are 100 × annualised volatility (``vix.vix_index``).
Source: Cboe VIX9D / VIX methodology for the indexes; the ratio is the usual VIX9D/VIX gauge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from strategy.quant.vix import VIX9D_TARGET_DAYS, VIX_TARGET_DAYS, VixResult


@dataclass(frozen=True)
class TermStructure:
    """9-day vs 30-day implied volatility (indexes in vol points, 100 × annualised vol).

    ratio_9d_30d: index_9d / index_30d (NaN unless both are finite and positive)
    slope_pts_per_day: (index_30d − index_9d) / 21 days
    backwardation: ratio > 1 (False when the ratio is NaN)
    """

    index_9d: float
    index_30d: float
    ratio_9d_30d: float
    slope_pts_per_day: float
    backwardation: bool


def term_structure(index_9d: float, index_30d: float) -> TermStructure:
    """Ratio and slope of the 9-day vs 30-day index; NaN inputs give NaN outputs, never raise."""
    v9, v30 = float(index_9d), float(index_30d)
    valid = math.isfinite(v9) and math.isfinite(v30) and v9 > 0 and v30 > 0
    ratio = v9 / v30 if valid else math.nan
    slope = (v30 - v9) / (VIX_TARGET_DAYS - VIX9D_TARGET_DAYS) if valid else math.nan
    return TermStructure(v9, v30, ratio, slope, bool(valid and ratio > 1.0))


def term_structure_from_results(vix9d: VixResult, vix30: VixResult) -> TermStructure:
    """``term_structure`` from two ``VixResult``s (a not-calculable one contributes NaN)."""
    return term_structure(vix9d.index if vix9d.calculable else math.nan, vix30.index if vix30.calculable else math.nan)
