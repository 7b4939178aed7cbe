"""Settlement values estimated from option quotes alone (OPRA carries no index prints).

Two estimators, both pure (numpy, no clock):

* ``expiring_chain_value`` — the expiring series at its own settlement instant. An option that
  settles now has no time value left, so for every strike ``C − P = S − K`` (discount 1). The
  quotes in force at that minute give one estimate of S per strike, ``K + C − P``, where a quote
  with an ask but no bid counts as worth 0 (nobody bids for it: it expires worthless) and a
  two-sided quote counts at its mid. Near the money both sides are two-sided and parity absorbs
  what time value is left in the last minute; away from the money one side is the intrinsic value
  and the other is 0. Each estimate is weighted by the inverse of its variance, with each option's
  uncertainty half its quoted width (``ask / 2`` for a no-bid quote, never under half a tick). The
  ``max_strikes`` strikes nearest a robust first guess (the median) are kept, points further than
  ``outlier_z`` robust standard deviations (1.4826 × MAD, at least one standard error) from it are
  dropped once, and the rest averaged. On the simulated market this lands within a cent or two of the true close.

* ``spot_from_forwards`` — when the expiring series has no quotes at its settlement instant (an
  AM-settled SPX monthly stops trading the day before its 09:30 settlement), the index implied by
  the forward term structure: ``ln F(T) = ln S + (r − q)·T``, so two forwards F₁, F₂ of the nearest
  later expirations (T₁ < T₂, from ``forward.implied_forward``) extrapolate to T = 0:
  ``ln S = ln F₁ − T₁·(ln F₂ − ln F₁)/(T₂ − T₁)``. With one forward, S = F₁ (its carry, about
  0.1 point for a same-day PM series at the open, is then left in; the caller says so).

Both give index points; a published value has two decimals (``SETTLEMENT_DECIMALS``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike

from strategy.quant.forward import SPX_TICK

SETTLEMENT_DECIMALS: Final = 2  # a published index value has two decimals

EXPIRY_OK: Final = "ok"
EXPIRY_TOO_FEW_STRIKES: Final = "too_few_quoted_strikes"
EXPIRY_MISMATCHED_LENGTHS: Final = "mismatched_lengths"


@dataclass(frozen=True)
class ExpiryEstimate:
    """The index level implied by an expiring chain at its settlement instant.

    ``value`` (index points, NaN unless ``ok``), ``se`` its standard error from the weights
    (points), ``n_used`` strikes averaged, ``n_quoted`` strikes with at least one usable side,
    ``n_outliers`` dropped by the robust pass, ``reason`` one of the ``EXPIRY_*`` codes.
    """

    value: float
    se: float
    n_used: int
    n_quoted: int
    n_outliers: int
    ok: bool
    reason: str


def _option_values(bid: np.ndarray, ask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, half-width) per option at expiry; NaN where the quote says nothing usable.

    Two-sided (bid > 0, ask ≥ bid): the mid, half the width. No bid but an ask: 0, half the ask.
    No ask, or crossed: unusable.
    """
    with np.errstate(invalid="ignore"):
        has_ask = np.isfinite(ask) & (ask > 0)
        no_bid = ~np.isfinite(bid) | (bid <= 0)
        two_sided = has_ask & ~no_bid & (ask >= bid)
        worthless = has_ask & no_bid
    value = np.where(two_sided, (bid + ask) / 2.0, np.where(worthless, 0.0, np.nan))
    half = np.where(two_sided, (ask - bid) / 2.0, np.where(worthless, ask / 2.0, np.nan))
    return value, np.maximum(half, SPX_TICK / 2.0)


def expiring_chain_value(
    strikes: ArrayLike, is_call: ArrayLike, bid: ArrayLike, ask: ArrayLike, *,
    max_strikes: int = 12, min_strikes: int = 3, outlier_z: float = 5.0,
) -> ExpiryEstimate:
    """S from one expiring series' quotes at its settlement instant (module docstring).

    Arrays are aligned, one row per option (strike in points, ``is_call`` bool, bid/ask per share,
    NaN or 0 bid = no bid). A strike is used when its call and put are both listed and at least one
    of them has a two-sided quote (two no-bid quotes say only that S is somewhere between them).
    Never raises on bad data: ``ok=False`` with a reason.
    """
    k = np.asarray(strikes, dtype=np.float64).ravel()
    calls = np.asarray(is_call, dtype=bool).ravel()
    b = np.asarray(bid, dtype=np.float64).ravel()
    a = np.asarray(ask, dtype=np.float64).ravel()
    if not (k.size == calls.size == b.size == a.size):
        return ExpiryEstimate(math.nan, math.nan, 0, 0, 0, False, EXPIRY_MISMATCHED_LENGTHS)
    value, half = _option_values(b, a)
    with np.errstate(invalid="ignore"):
        two_sided = np.isfinite(b) & (b > 0) & np.isfinite(a) & (a >= b)
    unique_k = np.unique(k[np.isfinite(k)])
    pos = np.searchsorted(unique_k, k)
    ok_row = np.isfinite(k)
    c_val, p_val, c_half, p_half = (np.full(unique_k.size, np.nan) for _ in range(4))
    c_live, p_live = np.zeros(unique_k.size, dtype=bool), np.zeros(unique_k.size, dtype=bool)
    for mask, val, hw, live in ((ok_row & calls, c_val, c_half, c_live), (ok_row & ~calls, p_val, p_half, p_live)):
        val[pos[mask]] = value[mask]
        hw[pos[mask]] = half[mask]
        live[pos[mask]] = two_sided[mask]
    usable = np.isfinite(c_val) & np.isfinite(p_val) & (c_live | p_live)
    n_quoted = int(usable.sum())
    if n_quoted < min_strikes:
        return ExpiryEstimate(math.nan, math.nan, 0, n_quoted, 0, False, EXPIRY_TOO_FEW_STRIKES)
    per_strike = (unique_k + c_val - p_val)[usable]
    weight = 1.0 / (c_half[usable] ** 2 + p_half[usable] ** 2)
    guess = float(np.median(per_strike))
    keep = np.argsort(np.abs(unique_k[usable] - guess), kind="stable")[:max_strikes]
    est, w = per_strike[keep], weight[keep]
    # z is in units of each strike's own standard error; the robust scale never goes under one of
    # them, so a chain whose quotes agree exactly still drops a stale quote far outside its width.
    z = (est - guess) * np.sqrt(w)
    scale = max(1.4826 * float(np.median(np.abs(z - np.median(z)))), 1.0)
    inlier = np.abs(z - np.median(z)) <= outlier_z * scale
    n_outliers = 0
    if inlier.sum() >= min_strikes and not inlier.all():
        n_outliers = int((~inlier).sum())
        est, w = est[inlier], w[inlier]
    value_hat = float((w * est).sum() / w.sum())
    return ExpiryEstimate(value_hat, math.sqrt(1.0 / float(w.sum())), int(est.size), n_quoted, n_outliers, True, EXPIRY_OK)


def spot_from_forwards(points: Sequence[tuple[float, float]]) -> float:
    """The index at T = 0 from (t_years, forward) pairs of later expirations (module docstring).

    Uses the two shortest positive maturities; one pair gives its forward unchanged. ``ValueError``
    when no pair has a positive, finite forward and maturity.
    """
    good = sorted((t, f) for t, f in points if math.isfinite(t) and t > 0 and math.isfinite(f) and f > 0)
    if not good:
        raise ValueError("no forward with a positive maturity")
    if len(good) == 1 or good[1][0] <= good[0][0]:
        return good[0][1]
    (t1, f1), (t2, f2) = good[0], good[1]
    slope = (math.log(f2) - math.log(f1)) / (t2 - t1)
    return math.exp(math.log(f1) - t1 * slope)
