"""Chain analytics: the batch of several series gives each series exactly what it gets alone."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from strategy.quant.analytics import chain_analytics_arrays, chain_analytics_batch, chain_forward, chain_layout
from strategy.tests.quant.chains import flat_vol_chain

AT = dt.datetime(2026, 3, 18, 15, 0, tzinfo=dt.UTC)


def _series(days: float, sigma: float, forward: float, seed: int, *, quoted: bool = True) -> dict:  # type: ignore[type-arg]
    settles = AT + dt.timedelta(days=days)
    c = flat_vol_chain(forward=forward, sigma=sigma, days=days, lo=forward * 0.8, hi=forward * 1.2)
    rng = np.random.default_rng(seed)
    k = np.repeat(c.strikes, 2)
    is_call = np.tile([True, False], c.strikes.size)
    bid = np.ravel(np.column_stack([c.call_bid, c.put_bid])) * rng.uniform(0.97, 1.0, k.size)
    ask = np.ravel(np.column_stack([c.call_ask, c.put_ask])) * rng.uniform(1.0, 1.03, k.size)
    if not quoted:
        bid[:] = np.nan
    shuffle = rng.permutation(k.size)  # input order must not matter
    return dict(symbols=np.array([f"S{seed}-{i}" for i in range(k.size)])[shuffle], strikes=k[shuffle],
                is_call=is_call[shuffle], bid=bid[shuffle], ask=ask[shuffle],
                open_interest=rng.integers(0, 5000, k.size).astype(float)[shuffle],
                root="SPXW", expiration=settles.date(), at=AT, settles_at=settles)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name
        elif f.name == "fit":
            assert (x.ok, x.reason, x.n_used) == (y.ok, y.reason, y.n_used)
            assert np.array_equal([x.forward, x.discount], [y.forward, y.discount], equal_nan=True)
        else:
            assert x == y, f.name


def test_batch_is_bit_for_bit_the_single_series_call() -> None:
    series = [_series(2, 0.14, 6000.0, 1), _series(9, 0.18, 6010.0, 2), _series(33, 0.22, 6050.0, 3),
              _series(5, 0.2, 6000.0, 4, quoted=False)]
    batch = chain_analytics_batch(series)
    alone = [chain_analytics_arrays(**s) for s in series]
    assert [a.fit.ok for a in batch] == [True, True, True, False]
    assert np.isfinite(batch[1].iv).sum() > 100
    for a, b in zip(batch, alone):
        _same(a, b)


def test_a_given_layout_changes_nothing() -> None:
    s = _series(3, 0.16, 6000.0, 7)
    layout = chain_layout(s["strikes"], s["is_call"])
    _same(chain_analytics_arrays(**s, layout=layout), chain_analytics_arrays(**s))
    with_layout = chain_forward(s["strikes"], s["is_call"], s["bid"], s["ask"], layout=layout)
    assert with_layout.forward == chain_analytics_arrays(**s).fit.forward
