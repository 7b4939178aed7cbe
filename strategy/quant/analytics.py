"""Our own numbers for one option series at one instant: implied forward, discount, IV, delta, gamma.

Decisions and backtests use these, not a vendor's greeks (Tradier's come from ORATS and refresh
about hourly; OPRA has none). Pure: arrays in, a frozen dataclass out; the settlement instant is
passed in (``snapshots.analytics`` reads it from the trading calendar).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from strategy.quant import black76, forward, timemodel


@dataclass(frozen=True)
class ChainAnalytics:
    """One expiration and one root at one instant; arrays are aligned, sorted by (strike, put first).

    ``iv`` is solved from each option's mid with the chain's implied forward and discount
    (NaN where the quote is one-sided or the price is outside the no-arbitrage bounds;
    ``iv_reason`` says which). ``delta`` is Black-76 ∂V/∂F (= D·N(d1) for calls), NaN where IV is.
    """

    root: str
    expiration: dt.date
    at: dt.datetime
    settles_at: dt.datetime
    minutes_to_settlement: float
    t_years: float
    fit: forward.ForwardFit
    symbols: NDArray[np.str_] = field(repr=False)
    strikes: NDArray[np.float64] = field(repr=False)
    is_call: NDArray[np.bool_] = field(repr=False)
    bid: NDArray[np.float64] = field(repr=False)
    ask: NDArray[np.float64] = field(repr=False)
    mid: NDArray[np.float64] = field(repr=False)
    open_interest: NDArray[np.float64] = field(repr=False)
    iv: NDArray[np.float64] = field(repr=False)
    iv_reason: NDArray[np.str_] = field(repr=False)
    delta: NDArray[np.float64] = field(repr=False)
    gamma: NDArray[np.float64] = field(repr=False)

    @property
    def n_options(self) -> int:
        return int(self.strikes.size)


def _mid_and_fit(strikes: NDArray[np.float64], is_call: NDArray[np.bool_], bid: NDArray[np.float64],
                 ask: NDArray[np.float64]) -> tuple[NDArray[np.float64], forward.ForwardFit]:
    """Mids of the two-sided quotes, and the implied forward fit over the strikes with both legs."""
    with np.errstate(invalid="ignore"):
        two_sided = (bid > 0) & (ask >= bid)
    mid = np.where(two_sided, (bid + ask) / 2.0, np.nan)
    spread = np.where(two_sided, ask - bid, np.nan)
    # Put–call parity wants one row per strike with both legs: pivot calls and puts by strike.
    unique_k = np.unique(strikes[np.isfinite(strikes)])
    call_mid = np.full(unique_k.size, np.nan)
    put_mid = np.full(unique_k.size, np.nan)
    call_spread = np.full(unique_k.size, np.nan)
    put_spread = np.full(unique_k.size, np.nan)
    pos = np.searchsorted(unique_k, strikes)
    valid = np.isfinite(strikes)
    call_mid[pos[valid & is_call]] = mid[valid & is_call]
    put_mid[pos[valid & ~is_call]] = mid[valid & ~is_call]
    call_spread[pos[valid & is_call]] = spread[valid & is_call]
    put_spread[pos[valid & ~is_call]] = spread[valid & ~is_call]
    return mid, forward.implied_forward(unique_k, call_mid, put_mid, call_spread=call_spread, put_spread=put_spread)


def chain_forward(strikes: NDArray[np.float64], is_call: NDArray[np.bool_], bid: NDArray[np.float64],
                  ask: NDArray[np.float64]) -> forward.ForwardFit:
    """Just the implied forward fit of one series (what ``chain_analytics_arrays`` fits, without
    the IVs): the forward series of an expiration through the day costs a fraction of the analytics."""
    order = np.lexsort((is_call, strikes))
    return _mid_and_fit(strikes[order], is_call[order], bid[order], ask[order])[1]


def chain_analytics_arrays(
    *, symbols: NDArray[np.str_], strikes: NDArray[np.float64], is_call: NDArray[np.bool_],
    bid: NDArray[np.float64], ask: NDArray[np.float64], open_interest: NDArray[np.float64] | None = None,
    root: str, expiration: dt.date, at: dt.datetime, settles_at: dt.datetime,
) -> ChainAnalytics:
    """Forward, discount, IV and delta of one series (one root, one expiration) at ``at``.

    Aligned arrays, NaN = no quote; ``settles_at`` is the series' settlement instant (aware; from
    the trading calendar, which this module does not read). The live path (snapshot JSON) and the
    backtester (OPRA quotes from Parquet) both end here, so the same quotes give the same forward,
    IV and delta bit for bit.
    """
    order = np.lexsort((is_call, strikes))  # by strike, put first
    symbols, strikes, is_call = symbols[order], strikes[order], is_call[order]
    bid, ask = bid[order], ask[order]
    oi = open_interest[order] if open_interest is not None else np.full(strikes.size, np.nan)
    mid, fit = _mid_and_fit(strikes, is_call, bid, ask)
    minutes = timemodel.minutes_to_settlement(at, settles_at)
    t = max(minutes, 0.0) / timemodel.MINUTES_PER_YEAR

    if fit.ok and t > 0:
        solved = black76.implied_vol_with_reason(mid, is_call, fit.forward, strikes, t, fit.discount)
        iv, reason = np.asarray(solved.sigma, dtype=float), np.asarray(solved.reason)
        g = black76.greeks(is_call, fit.forward, strikes, t, fit.discount, iv)
        delta, gamma = np.asarray(g.delta, dtype=float), np.asarray(g.gamma, dtype=float)
    else:
        iv = np.full(strikes.size, np.nan)
        reason = np.full(strikes.size, "no_forward" if not fit.ok else "expired")
        delta = np.full(strikes.size, np.nan)
        gamma = np.full(strikes.size, np.nan)
    return ChainAnalytics(
        root=root, expiration=expiration, at=at, settles_at=settles_at, minutes_to_settlement=minutes, t_years=t, fit=fit,
        symbols=symbols, strikes=strikes, is_call=is_call, bid=bid, ask=ask, mid=mid, open_interest=oi,
        iv=np.asarray(iv, dtype=float), iv_reason=np.asarray(reason).astype(str), delta=delta, gamma=gamma,
    )
