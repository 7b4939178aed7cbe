"""The decision-time features: every value from its formula, and NaN with a reason where an input is missing."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from strategy.quant import market
from strategy.quant.analytics import chain_analytics_arrays
from strategy.quant.features import (
    FEATURE_GROUPS,
    FEATURE_NAMES,
    ForwardHistory,
    WindowContext,
    candidate_features,
    history_minutes,
)
from strategy.quant.rules import select_spread
from strategy.quant.types import SpreadRules
from strategy.tests.quant.chains import flat_vol_chain

AT = dt.datetime(2026, 3, 18, 15, 0, tzinfo=dt.UTC)  # Wednesday 11:00 ET
SETTLES = dt.datetime(2026, 3, 20, 20, 0, tzinfo=dt.UTC)


def _analytics():  # type: ignore[no-untyped-def]
    c = flat_vol_chain(forward=6000.0, sigma=0.16, days=(SETTLES - AT).total_seconds() / 86400, lo=5500.0, hi=6500.0)
    k = np.repeat(c.strikes, 2)
    is_call = np.tile([True, False], c.strikes.size)
    bid = np.ravel(np.column_stack([c.call_bid, c.put_bid]))
    ask = np.ravel(np.column_stack([c.call_ask, c.put_ask]))
    return chain_analytics_arrays(symbols=np.array([f"S{i}" for i in range(k.size)]), strikes=k, is_call=is_call,
                                  bid=bid, ask=ask, root="SPXW", expiration=SETTLES.date(), at=AT, settles_at=SETTLES)


def _window(**kw):  # type: ignore[no-untyped-def]
    base = dict(at=AT, close_utc=dt.datetime(2026, 3, 18, 20, 15, tzinfo=dt.UTC), early_close=False, vix30=16.0,
                vix9d=14.0, gex_usd_per_pct=1.5e9, prev_close=5990.0, monthly=dt.date(2026, 3, 20),
                fomc_days=(dt.date(2026, 3, 18), dt.date(2026, 4, 29)))
    return WindowContext(**{**base, **kw})


def test_every_feature_from_its_formula() -> None:
    a = _analytics()
    spread = select_spread(_quotes(a), SpreadRules(side="put_credit", short_delta_target=0.10))
    samples = tuple(6000.0 * (1 + 0.0002 * i) for i in range(13))
    row = candidate_features(target_dte=3, delta_target=0.10, side_is_call=False, chain=a, dte_calendar=2,
                             candidate=spread, history=ForwardHistory(at_open=5995.0, samples=samples),  # type: ignore[arg-type]
                             window=_window())
    v = row.values
    assert list(v) == list(FEATURE_NAMES) and set(FEATURE_NAMES) == {n for g in FEATURE_GROUPS.values() for n in g}
    f = a.fit.forward
    assert v["forward"] == f and v["dte_calendar"] == 2 and v["side_is_call"] == 0.0
    assert v["credit_to_width"] == spread.credit_fill / spread.width_points  # type: ignore[union-attr]
    assert v["skew"] == pytest.approx(v["short_iv"] - v["atm_iv"]) and v["atm_iv"] == pytest.approx(0.16, abs=2e-3)
    sd = abs(math.log(spread.short_leg.strike / f)) / (v["atm_iv"] * math.sqrt(a.t_years))  # type: ignore[union-attr]
    assert v["short_distance_sd"] == pytest.approx(sd)
    assert v["move_since_open_pct"] == pytest.approx(100 * math.log(f / 5995.0))
    assert v["move_since_prev_close_pct"] == pytest.approx(100 * math.log(f / 5990.0))
    r = np.diff(np.log(samples))
    assert v["rv_60m"] == pytest.approx(math.sqrt(np.mean(r * r) * 252 * 390 / 5))
    assert v["rv_30m"] == pytest.approx(math.sqrt(np.mean(r[-6:] ** 2) * 252 * 390 / 5))
    assert v["vix_ratio_9d_30d"] == 14.0 / 16.0 and v["gex_usd_per_pct"] == 1.5e9
    assert (v["weekday"], v["minutes_to_close"], v["days_to_monthly"], v["days_to_fomc"], v["fomc_day"]) == (
        2.0, 315.0, 2.0, 0.0, 1.0)
    assert row.missing == {}


def test_missing_inputs_are_nan_with_a_reason_never_zero() -> None:
    row = candidate_features(target_dte=5, delta_target=0.2, side_is_call=True, chain=None, dte_calendar=None,
                             candidate=None, history=ForwardHistory(samples=(math.nan,) * 13),
                             window=_window(vix30=math.nan, gex_usd_per_pct=math.nan, prev_close=math.nan, fomc_days=(),
                                            reasons={"vix30": "term chains missing", "gex_usd_per_pct": "no open interest"}))
    v, why = row.values, row.missing
    for name in ("forward", "credit_fill", "short_iv", "rv_30m", "rv_60m", "vix30", "vix_ratio_9d_30d",
                 "gex_usd_per_pct", "move_since_prev_close_pct", "days_to_fomc"):
        assert math.isnan(v[name]) and why[name], name
    assert why["vix30"] == "term chains missing" and why["gex_usd_per_pct"] == "no open interest"
    assert v["vix9d"] == 14.0 and v["dte_target"] == 5.0 and v["side_is_call"] == 1.0
    assert row.json_values()["forward"] is None and row.json_values()["vix9d"] == 14.0


def test_history_minutes_are_the_live_capture_slots() -> None:
    minutes = history_minutes(AT)
    assert len(minutes) == 13 and minutes[0] == AT - dt.timedelta(hours=1) and minutes[-1] == AT
    assert all((b - a) == dt.timedelta(minutes=5) for a, b in zip(minutes, minutes[1:]))


def test_market_helpers() -> None:
    a = _analytics()
    assert market.index_level([a])[0] == pytest.approx(6000.0, rel=2e-5)  # one forward: the carry stays in
    assert math.isnan(market.realised_vol([1.0, math.nan, 1.0], step_minutes=5))
    assert market.realised_vol([100.0, 100.0, 100.0], step_minutes=5) == 0.0
    total, used = market.gex_of([a])
    assert math.isnan(total) and used == 0  # no open interest anywhere: unknown, not zero


def _quotes(a):  # type: ignore[no-untyped-def]
    from strategy.quant.decision import chain_quotes

    return chain_quotes(a)
