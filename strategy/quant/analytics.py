"""Our own numbers for one option series at one instant: implied forward, discount, IV, delta, gamma.

Decisions and backtests use these, not a vendor's greeks (Tradier's come from ORATS and refresh
about hourly; OPRA has none). Pure: arrays in, a frozen dataclass out; the settlement instant is
passed in (``snapshots.analytics`` reads it from the trading calendar).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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


@dataclass(frozen=True)
class ChainLayout:
    """How one series' options sort (by strike, put first) and pivot into one row per strike.

    Depends on the listing only, not on quotes, so a caller that prices the same series at many
    instants (the backtester's forward history) builds it once and passes it in.
    """

    order: NDArray[np.int64]      # input position of each sorted option
    strikes: NDArray[np.float64]  # sorted
    is_call: NDArray[np.bool_]    # sorted
    unique_k: NDArray[np.float64]
    call_at: NDArray[np.int64]    # sorted positions of the calls / puts with a finite strike ...
    put_at: NDArray[np.int64]
    call_k: NDArray[np.int64]     # ... and their strike's index in ``unique_k``
    put_k: NDArray[np.int64]


def chain_layout(strikes: NDArray[np.float64], is_call: NDArray[np.bool_]) -> ChainLayout:
    order = np.lexsort((is_call, strikes))  # by strike, put first
    k, c = strikes[order], is_call[order]
    valid = np.isfinite(k)
    unique_k = np.unique(k[valid])
    pos = np.searchsorted(unique_k, k)
    call_at, put_at = np.flatnonzero(valid & c), np.flatnonzero(valid & ~c)
    return ChainLayout(order, k, c, unique_k, call_at, put_at, pos[call_at], pos[put_at])


def _mid_and_fit(layout: ChainLayout, bid: NDArray[np.float64],
                 ask: NDArray[np.float64]) -> tuple[NDArray[np.float64], forward.ForwardFit]:
    """Mids of the two-sided quotes (sorted like ``layout``), and the implied forward fit over the
    strikes with both legs (put–call parity wants one row per strike: calls and puts pivoted)."""
    with np.errstate(invalid="ignore"):
        two_sided = (bid > 0) & (ask >= bid)
    mid = np.where(two_sided, (bid + ask) / 2.0, np.nan)
    spread = np.where(two_sided, ask - bid, np.nan)
    n = layout.unique_k.size
    call_mid, put_mid, call_spread, put_spread = (np.full(n, np.nan) for _ in range(4))
    call_mid[layout.call_k] = mid[layout.call_at]
    put_mid[layout.put_k] = mid[layout.put_at]
    call_spread[layout.call_k] = spread[layout.call_at]
    put_spread[layout.put_k] = spread[layout.put_at]
    return mid, forward.implied_forward(layout.unique_k, call_mid, put_mid, call_spread=call_spread,
                                        put_spread=put_spread)


def chain_forward(strikes: NDArray[np.float64], is_call: NDArray[np.bool_], bid: NDArray[np.float64],
                  ask: NDArray[np.float64], *, layout: ChainLayout | None = None) -> forward.ForwardFit:
    """Just the implied forward fit of one series (what ``chain_analytics_arrays`` fits, without
    the IVs): the forward series of an expiration through the day costs a fraction of the analytics.
    ``layout``: ``chain_layout(strikes, is_call)`` when the caller has it already."""
    lay = layout or chain_layout(strikes, is_call)
    return _mid_and_fit(lay, bid[lay.order], ask[lay.order])[1]


def chain_analytics_arrays(
    *, symbols: NDArray[np.str_], strikes: NDArray[np.float64], is_call: NDArray[np.bool_],
    bid: NDArray[np.float64], ask: NDArray[np.float64], open_interest: NDArray[np.float64] | None = None,
    root: str, expiration: dt.date, at: dt.datetime, settles_at: dt.datetime,
    layout: ChainLayout | None = None,
) -> ChainAnalytics:
    """Forward, discount, IV and delta of one series (one root, one expiration) at ``at``.

    Aligned arrays, NaN = no quote; ``settles_at`` is the series' settlement instant (aware; from
    the trading calendar, which this module does not read). The live path (snapshot JSON) and the
    backtester (OPRA quotes from Parquet) both end here, so the same quotes give the same forward,
    IV and delta bit for bit.
    """
    return chain_analytics_batch([dict(symbols=symbols, strikes=strikes, is_call=is_call, bid=bid, ask=ask,
                                       open_interest=open_interest, root=root, expiration=expiration, at=at,
                                       settles_at=settles_at, layout=layout)])[0]


class _Priced(NamedTuple):
    """One series of a batch after its forward fit (sorted like its layout)."""

    args: dict[str, Any]
    layout: ChainLayout
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    open_interest: NDArray[np.float64]
    mid: NDArray[np.float64]
    fit: forward.ForwardFit
    minutes: float
    t_years: float


def chain_analytics_batch(chains: list[dict[str, Any]]) -> list[ChainAnalytics]:
    """``chain_analytics_arrays`` for several series at once (each a dict of its keyword arguments).

    Each series gets its own forward fit; the IVs and greeks of all of them are solved in one
    vectorised call (the solver is elementwise, so every option's IV is the one the single-series
    call gives, bit for bit — a test checks it), which saves most of the per-call overhead when a
    backtest prices the half-dozen chains of a window's market context.
    """
    prepared = []
    for c in chains:
        lay: ChainLayout = c.get("layout") or chain_layout(c["strikes"], c["is_call"])
        o = lay.order
        bid, ask = c["bid"][o], c["ask"][o]
        oi = c["open_interest"][o] if c.get("open_interest") is not None else np.full(o.size, np.nan)
        mid, fit = _mid_and_fit(lay, bid, ask)
        minutes = timemodel.minutes_to_settlement(c["at"], c["settles_at"])
        t = max(minutes, 0.0) / timemodel.MINUTES_PER_YEAR
        prepared.append(_Priced(c, lay, bid, ask, oi, mid, fit, minutes, t))

    solvable = [i for i, p in enumerate(prepared) if p.fit.ok and p.t_years > 0]
    solved: dict[int, tuple[NDArray[np.float64], NDArray[np.str_], NDArray[np.float64], NDArray[np.float64]]] = {}
    if solvable:
        picked = [prepared[i] for i in solvable]
        sizes = [p.layout.order.size for p in picked]

        def per_option(values: list[float]) -> NDArray[np.float64]:
            return np.repeat(np.asarray(values, dtype=np.float64), sizes)

        mid_all = np.concatenate([p.mid for p in picked])
        call_all = np.concatenate([p.layout.is_call for p in picked])
        k_all = np.concatenate([p.layout.strikes for p in picked])
        f_all = per_option([p.fit.forward for p in picked])
        t_all = per_option([p.t_years for p in picked])
        d_all = per_option([p.fit.discount for p in picked])
        iv_solve = black76.implied_vol_with_reason(mid_all, call_all, f_all, k_all, t_all, d_all)
        iv_all = np.asarray(iv_solve.sigma, dtype=float)
        g = black76.greeks(call_all, f_all, k_all, t_all, d_all, iv_all)
        cuts = np.cumsum(sizes)[:-1]
        parts = zip(np.split(iv_all, cuts), np.split(np.asarray(iv_solve.reason), cuts),
                    np.split(np.asarray(g.delta, dtype=float), cuts), np.split(np.asarray(g.gamma, dtype=float), cuts))
        solved = dict(zip(solvable, parts))

    out = []
    for i, (c, lay, bid, ask, oi, mid, fit, minutes, t) in enumerate(prepared):
        n = lay.order.size
        if i in solved:
            iv, reason, delta, gamma = solved[i]
        else:
            iv, delta, gamma = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
            reason = np.full(n, "no_forward" if not fit.ok else "expired")
        out.append(ChainAnalytics(
            root=c["root"], expiration=c["expiration"], at=c["at"], settles_at=c["settles_at"],
            minutes_to_settlement=minutes, t_years=t, fit=fit, symbols=c["symbols"][lay.order], strikes=lay.strikes,
            is_call=lay.is_call, bid=bid, ask=ask, mid=mid, open_interest=oi, iv=np.asarray(iv, dtype=float),
            iv_reason=np.asarray(reason).astype(str), delta=delta, gamma=gamma,
        ))
    return out
