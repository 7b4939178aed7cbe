"""The simulated SPX market: deterministic, Tradier-shaped, and priced like a real SPX chain."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from snapshots import market_calendar as mc
from snapshots.providers import simulated
from snapshots.providers.base import ChainResult, MarketDataProvider
from snapshots.providers.simulated import SimulatedMarket

ET = ZoneInfo("America/New_York")

# Wednesday 2026-06-10, 11:00 ET: a normal session day. Nearby: Fri 06-12, Mon 06-15 (5 DTE),
# Wed 06-17 (7 DTE), Thu 06-18 = June monthly (third Friday 06-19 is Juneteenth).
SESSION_NOW = dt.datetime(2026, 6, 10, 11, 0, tzinfo=ET)
NEAR = dt.date(2026, 6, 15)
MONTHLY = dt.date(2026, 6, 18)


def fixed(moment: dt.datetime) -> SimulatedMarket:
    return SimulatedMarket(seed=7, now=lambda: moment)


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return fixed(SESSION_NOW)


@pytest.fixture(scope="module")
def near_chain(market: SimulatedMarket) -> ChainResult:
    return market.chain("SPX", NEAR)


@pytest.fixture(scope="module")
def monthly_chain(market: SimulatedMarket) -> ChainResult:
    return market.chain("SPX", MONTHLY)


@pytest.fixture(scope="module")
def spot(market: SimulatedMarket) -> float:
    return float(market.quotes(["SPX"]).quotes["SPX"]["last"])


def by_strike(options: list[dict[str, Any]], option_type: str, root: str = "SPXW") -> dict[float, dict[str, Any]]:
    return {o["strike"]: o for o in options if o["option_type"] == option_type and o["root_symbol"] == root}


# --- interface and shape ----------------------------------------------------------------------


def test_implements_the_provider_protocol() -> None:
    provider: MarketDataProvider = SimulatedMarket()
    assert provider.name == "simulated"
    for method in ("expirations", "chain", "quotes", "clock", "calendar"):
        assert callable(getattr(provider, method))


def test_option_objects_have_every_tradier_field(near_chain: ChainResult, tradier_fixtures: Path) -> None:
    recorded = json.loads((tradier_fixtures / "chain_pltr_2026-06-18_greeks_sandbox.json").read_text())
    sample = recorded["options"]["option"][0]
    for option in near_chain.options:
        assert set(option) == set(sample)
        assert set(option["greeks"]) == set(sample["greeks"])
    option = near_chain.options[0]
    assert option["type"] == "option" and option["underlying"] == "SPX" and option["contract_size"] == 100
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", option["greeks"]["updated_at"])
    assert option["greeks"]["updated_at"] == "2026-06-10 15:00:00"  # 11:00 ET in UTC
    assert option["bid_date"] == option["ask_date"] == int(SESSION_NOW.timestamp()) * 1000
    assert isinstance(option["strike"], float)


def test_symbols_descriptions_and_types(near_chain: ChainResult) -> None:
    call = by_strike(near_chain.options, "call")[6000.0]
    put = by_strike(near_chain.options, "put")[6000.0]
    assert call["symbol"] == "SPXW260615C06000000" and put["symbol"] == "SPXW260615P06000000"
    assert call["description"] == "SPXW Jun 15 2026 $6000.00 Call"
    assert put["description"] == "SPXW Jun 15 2026 $6000.00 Put"
    assert call["expiration_date"] == "2026-06-15" and call["expiration_type"] == "weeklys"
    assert near_chain.underlying == "SPX" and near_chain.expiration == NEAR
    assert near_chain.received_at == SESSION_NOW
    assert near_chain.payload["options"]["option"]  # the raw Tradier-shaped body is kept


def test_no_nan_or_infinity_in_payload(near_chain: ChainResult) -> None:
    json.dumps(near_chain.payload, allow_nan=False)


def test_without_greeks_the_key_is_absent(market: SimulatedMarket) -> None:
    chain = market.chain("SPX", dt.date(2026, 6, 12), greeks=False)
    assert chain.options and all("greeks" not in o for o in chain.options)


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_and_time_give_identical_payloads(near_chain: ChainResult) -> None:
    again = fixed(SESSION_NOW)
    assert canonical(again.chain("SPX", NEAR).payload) == canonical(near_chain.payload)
    assert again.quotes(["SPX", "VIX", "VIX9D"]) == fixed(SESSION_NOW).quotes(["SPX", "VIX", "VIX9D"])
    assert again.expirations("SPX", strikes=True) == fixed(SESSION_NOW).expirations("SPX", strikes=True)


def test_same_minute_same_payload(near_chain: ChainResult) -> None:
    later = fixed(SESSION_NOW + dt.timedelta(seconds=40)).chain("SPX", NEAR)
    assert canonical(later.payload) == canonical(near_chain.payload)


def test_different_seed_gives_a_different_market(near_chain: ChainResult) -> None:
    other = SimulatedMarket(seed=8, now=lambda: SESSION_NOW)
    assert canonical(other.chain("SPX", NEAR).payload) != canonical(near_chain.payload)
    assert other.quotes(["SPX"]).quotes["SPX"]["last"] != fixed(SESSION_NOW).quotes(["SPX"]).quotes["SPX"]["last"]


def test_quotes_move_minute_to_minute() -> None:
    levels = [fixed(SESSION_NOW + dt.timedelta(minutes=m)).quotes(["SPX"]).quotes["SPX"]["last"] for m in range(6)]
    assert len(set(levels)) >= 5
    a = fixed(SESSION_NOW).chain("SPX", NEAR)
    b = fixed(SESSION_NOW + dt.timedelta(minutes=1)).chain("SPX", NEAR)
    assert canonical(a.payload) != canonical(b.payload)


def test_anchor_level() -> None:
    # The path is scaled so SPX closes at 6000.00 on 2026-01-02 (16:00 ET is its close).
    market = fixed(dt.datetime(2026, 1, 2, 17, 0, tzinfo=ET))
    assert market.quotes(["SPX"]).quotes["SPX"]["last"] == pytest.approx(6000.0, abs=0.01)


# --- chain contents ---------------------------------------------------------------------------


def test_near_spxw_expiration_has_over_1000_options(near_chain: ChainResult) -> None:
    assert len(near_chain.options) > 1000
    assert {o["root_symbol"] for o in near_chain.options} == {"SPXW"}
    calls = by_strike(near_chain.options, "call")
    puts = by_strike(near_chain.options, "put")
    assert set(calls) == set(puts)


def test_strike_grid_is_wide_with_5_point_strikes_near_the_money(near_chain: ChainResult, spot: float) -> None:
    strikes = np.array(sorted(by_strike(near_chain.options, "call")))
    assert strikes.min() <= 0.70 * spot and strikes.max() >= 1.12 * spot
    band = strikes[(strikes >= 0.72 * spot) & (strikes <= 1.10 * spot)]
    assert np.all(np.diff(band) == 5.0)
    assert np.all(strikes % 5.0 == 0.0)
    outer = strikes[strikes < 0.69 * spot]
    assert outer.size and np.all(outer % 25.0 == 0.0)


def test_monthly_date_holds_both_roots(monthly_chain: ChainResult) -> None:
    roots = [o["root_symbol"] for o in monthly_chain.options]
    assert set(roots) == {"SPX", "SPXW"}
    assert roots.count("SPX") == roots.count("SPXW")
    am = next(o for o in monthly_chain.options if o["root_symbol"] == "SPX")
    assert am["symbol"].startswith("SPX260618") and am["expiration_type"] == "standard"
    assert len({o["symbol"] for o in monthly_chain.options}) == len(monthly_chain.options)


def test_am_series_settle_earlier_so_they_are_worth_less_time_value(monthly_chain: ChainResult, spot: float) -> None:
    strike = round(spot / 5.0) * 5.0
    am = by_strike(monthly_chain.options, "put", root="SPX")[strike]
    pm = by_strike(monthly_chain.options, "put", root="SPXW")[strike]
    assert am["greeks"]["vega"] < pm["greeks"]["vega"]


def test_spxw_only_symbol_filters_roots(market: SimulatedMarket) -> None:
    chain = market.chain("SPXW", MONTHLY)
    assert chain.options and {o["root_symbol"] for o in chain.options} == {"SPXW"}


def test_on_its_expiration_day_the_am_monthly_is_gone() -> None:
    chain = fixed(dt.datetime(2026, 6, 18, 11, 0, tzinfo=ET)).chain("SPX", MONTHLY)
    assert {o["root_symbol"] for o in chain.options} == {"SPXW"}


@pytest.mark.parametrize(
    "expiration",
    [
        dt.date(2026, 6, 13),  # Saturday
        dt.date(2026, 6, 19),  # Juneteenth (the calendar third Friday)
        dt.date(2026, 6, 9),  # already expired
        dt.date(2026, 12, 18),  # beyond the listing horizon
    ],
)
def test_unlisted_expiration_gives_empty_chain(market: SimulatedMarket, expiration: dt.date) -> None:
    chain = market.chain("SPX", expiration)
    assert chain.options == []
    assert chain.payload == {"options": None}


def test_unknown_underlying_gives_empty_chain(market: SimulatedMarket) -> None:
    assert market.chain("QQQ", NEAR).options == []


# --- quotes: ticks, widths, parity ------------------------------------------------------------


def cents(value: float) -> int:
    c = round(value * 100)
    assert abs(value * 100 - c) < 1e-6, value
    return c


@pytest.mark.parametrize("chain_name", ["near_chain", "monthly_chain"])
def test_quotes_on_the_tick_and_never_crossed(chain_name: str, request: pytest.FixtureRequest) -> None:
    chain: ChainResult = request.getfixturevalue(chain_name)
    for option in chain.options:
        bid, ask = cents(option["bid"]), cents(option["ask"])
        assert 0 <= bid < ask, option["symbol"]
        assert ask >= 5
        for price in (bid, ask):
            assert price % (5 if price < 300 else 10) == 0, (option["symbol"], price)
        if bid == 0:
            assert option["bidsize"] == 0 and option["greeks"]["bid_iv"] == 0.0
        else:
            assert option["bidsize"] > 0
        assert option["asksize"] > 0


def test_far_otm_options_have_zero_bid(near_chain: ChainResult, spot: float) -> None:
    far = [o for o in near_chain.options if (o["option_type"] == "put" and o["strike"] < 0.8 * spot)]
    assert far and all(o["bid"] == 0.0 and o["ask"] == 0.05 for o in far)


def test_spread_widths_grow_with_price(near_chain: ChainResult) -> None:
    for option in near_chain.options:
        mid = (option["bid"] + option["ask"]) / 2
        width = option["ask"] - option["bid"]
        if mid < 1.0:
            assert width <= 0.10 + 1e-9, option["symbol"]
        if 100.0 < mid < 500.0:
            assert 0.004 * mid <= width <= 0.02 * mid, option["symbol"]
        assert width <= 10.0  # capped for deep in-the-money contracts


def forward_and_discount(spot: float, expiration: dt.date, root: str, now: dt.datetime) -> tuple[float, float]:
    t = (mc.settlement_instant(expiration, root) - now).total_seconds() / 60 / 525600
    return spot * np.exp((simulated.RATE - simulated.DIVIDEND_YIELD) * t), np.exp(-simulated.RATE * t)


@pytest.mark.parametrize(("chain_name", "root"), [("near_chain", "SPXW"), ("monthly_chain", "SPX"), ("monthly_chain", "SPXW")])
def test_put_call_parity_at_mid_within_the_spreads(chain_name: str, root: str, spot: float, request: pytest.FixtureRequest) -> None:
    chain: ChainResult = request.getfixturevalue(chain_name)
    forward, discount = forward_and_discount(spot, chain.expiration, root, SESSION_NOW)
    calls, puts = by_strike(chain.options, "call", root), by_strike(chain.options, "put", root)
    checked = 0
    for strike, call in calls.items():
        if abs(strike / spot - 1) > 0.05:
            continue
        put = puts[strike]
        parity_gap = (call["bid"] + call["ask"]) / 2 - (put["bid"] + put["ask"]) / 2 - discount * (forward - strike)
        tolerance = (call["ask"] - call["bid"] + put["ask"] - put["bid"]) / 2
        assert abs(parity_gap) <= tolerance + 1e-9, strike
        checked += 1
    assert checked > 50


def test_deltas_monotone_and_bounded(near_chain: ChainResult, monthly_chain: ChainResult) -> None:
    for chain in (near_chain, monthly_chain):
        for option_type in ("call", "put"):
            rows = by_strike(chain.options, option_type)
            deltas = np.array([rows[k]["greeks"]["delta"] for k in sorted(rows)])
            assert np.all(np.diff(deltas) <= 1e-12), option_type
            low, high = (0.0, 1.0) if option_type == "call" else (-1.0, 0.0)
            assert np.all((deltas >= low) & (deltas <= high))


def test_greeks_are_sensible(near_chain: ChainResult, spot: float) -> None:
    strike = round(spot / 5.0) * 5.0
    call = by_strike(near_chain.options, "call")[strike]["greeks"]
    put = by_strike(near_chain.options, "put")[strike]["greeks"]
    assert 0.4 < call["delta"] < 0.6 and -0.6 < put["delta"] < -0.4
    assert call["delta"] - put["delta"] == pytest.approx(1.0, abs=0.002)
    assert call["gamma"] == pytest.approx(put["gamma"]) and call["gamma"] > 0
    assert call["vega"] == pytest.approx(put["vega"]) and call["vega"] > 0
    assert call["theta"] < 0 and put["theta"] < 0
    assert call["rho"] > 0 > put["rho"]
    for greeks in (call, put):
        assert 0 < greeks["bid_iv"] <= greeks["mid_iv"] <= greeks["ask_iv"]
        assert greeks["bid_iv"] <= greeks["smv_vol"] + 0.001 and greeks["smv_vol"] <= greeks["ask_iv"] + 0.001
        assert 0.05 < greeks["smv_vol"] < 0.6


def test_smile_has_put_skew(near_chain: ChainResult, spot: float) -> None:
    puts = by_strike(near_chain.options, "put")
    calls = by_strike(near_chain.options, "call")
    atm = round(spot / 5.0) * 5.0

    def vol(rows: dict[float, dict[str, Any]], strike: float) -> float:
        return rows[round(strike / 5.0) * 5.0]["greeks"]["smv_vol"]

    assert vol(puts, 0.95 * spot) > vol(puts, 0.98 * spot) > vol(puts, atm) > vol(calls, 1.02 * spot)


def test_open_interest_concentrates_near_the_money(near_chain: ChainResult, spot: float) -> None:
    near = [o["open_interest"] for o in near_chain.options if abs(o["strike"] / spot - 1) < 0.02]
    far = [o["open_interest"] for o in near_chain.options if abs(o["strike"] / spot - 1) > 0.10]
    assert np.mean(near) > 20 * np.mean(far)
    assert all(isinstance(o["open_interest"], int) and o["open_interest"] >= 0 for o in near_chain.options)


def test_traded_fields_consistent(near_chain: ChainResult) -> None:
    traded = [o for o in near_chain.options if o["volume"] > 0]
    untraded = [o for o in near_chain.options if o["volume"] == 0]
    assert traded and untraded
    for o in traded:
        assert o["bid"] <= o["last"] <= o["ask"] or o["last"] == 0.05
        assert o["low"] <= o["last"] <= o["high"] and o["low"] <= o["open"] <= o["high"]
        assert o["change"] == pytest.approx(o["last"] - o["prevclose"], abs=1e-9)
        assert o["trade_date"] > 0 and o["close"] is None  # close stays null during the session
        assert 1 <= o["last_volume"] <= o["volume"]
    for o in untraded:
        assert o["last"] is None and o["trade_date"] == 0 and o["prevclose"] is None


# --- index quotes -----------------------------------------------------------------------------


def test_index_quotes(market: SimulatedMarket, spot: float) -> None:
    result = market.quotes(["SPX", "VIX", "VIX9D", "NOPE", "SPXW260615C09990000"])
    assert set(result.quotes) == {"SPX", "VIX", "VIX9D"}
    assert set(result.unmatched) == {"NOPE", "SPXW260615C09990000"}
    for symbol, quote in result.quotes.items():
        assert quote["type"] == "index"
        assert quote["bid"] < quote["ask"]
        assert quote["low"] <= quote["last"] <= quote["high"]
        assert quote["change"] == pytest.approx(quote["last"] - quote["prevclose"], abs=0.011), symbol
    assert 3000 < spot < 12000
    vix = result.quotes["VIX"]["last"]
    assert 10.0 < vix < 45.0 and 8.0 < result.quotes["VIX9D"]["last"] < 50.0


def test_vix_consistent_with_the_chain_smile(market: SimulatedMarket, spot: float) -> None:
    """VIX sits above 30-day ATM implied vol by the skew premium, not anywhere else."""
    expiration = dt.date(2026, 7, 10)  # 30 calendar days out
    chain = market.chain("SPXW", expiration)
    atm = by_strike(chain.options, "call")[round(spot / 5.0) * 5.0]["greeks"]["smv_vol"]
    vix = market.quotes(["VIX"]).quotes["VIX"]["last"] / 100.0
    assert atm < vix < 1.4 * atm


def test_option_quotes_match_chain_rows(market: SimulatedMarket, near_chain: ChainResult) -> None:
    rows = {o["symbol"]: o for o in near_chain.options}
    wanted = ["SPXW260615P06000000", "SPXW260615C06100000", "SPX260618P05900000"]
    plain = market.quotes(wanted)
    assert set(plain.quotes) == set(wanted) and plain.unmatched == ()
    for symbol in wanted[:2]:
        expected = {k: v for k, v in rows[symbol].items() if k != "greeks"}
        assert plain.quotes[symbol] == expected
    with_greeks = market.quotes(wanted[:1], greeks=True)
    assert with_greeks.quotes[wanted[0]] == rows[wanted[0]]


def test_empty_quote_request(market: SimulatedMarket) -> None:
    result = market.quotes([])
    assert result.quotes == {} and result.unmatched == ()


# --- expirations ------------------------------------------------------------------------------


def test_expirations_include_dailies_and_monthlies_and_skip_holidays(market: SimulatedMarket) -> None:
    expirations = market.expirations("SPX", strikes=True)
    dates = [e.date for e in expirations]
    assert dates == sorted(dates) and len(dates) == len(set(dates))
    assert dates[0] == dt.date(2026, 6, 10)  # 0-DTE SPXW trades until 16:00
    horizon = dt.date(2026, 6, 10) + dt.timedelta(days=simulated.EXPIRATION_HORIZON_DAYS)
    assert dates == mc.trading_days(dt.date(2026, 6, 10), horizon)
    for holiday in (dt.date(2026, 6, 19), dt.date(2026, 7, 3)):
        assert holiday not in dates
    types = {e.date: e.expiration_type for e in expirations}
    assert types[MONTHLY] == "standard" and types[dt.date(2026, 7, 17)] == "standard"
    assert types[NEAR] == "weeklys" and types[dt.date(2026, 6, 30)] == "quarterlys"
    first = expirations[0]
    assert first.contract_size == 100 and first.strikes is not None and len(first.strikes) > 500
    # ~9 and ~30 calendar-day expirations exist for the VIX-style computations.
    days_out = [(day - dt.date(2026, 6, 10)).days for day in dates]
    assert any(8 <= n <= 10 for n in days_out) and any(28 <= n <= 32 for n in days_out)


def test_expirations_without_all_roots_are_the_monthlies(market: SimulatedMarket) -> None:
    assert [e.date for e in market.expirations("SPX", include_all_roots=False)] == [MONTHLY, dt.date(2026, 7, 17)]


def test_expirations_unknown_symbol(market: SimulatedMarket) -> None:
    assert market.expirations("ZZZZ") == []


# --- outside the session: frozen at the last close ---------------------------------------------


FRIDAY = dt.date(2026, 6, 12)


def test_market_is_frozen_outside_the_session() -> None:
    after_close = fixed(dt.datetime(2026, 6, 12, 17, 30, tzinfo=ET))
    saturday = fixed(dt.datetime(2026, 6, 13, 12, 0, tzinfo=ET))
    monday_premarket = fixed(dt.datetime(2026, 6, 15, 8, 0, tzinfo=ET))
    at_close = fixed(dt.datetime(2026, 6, 12, 16, 15, tzinfo=ET))
    payloads = {canonical(m.chain("SPX", NEAR).payload) for m in (after_close, saturday, monday_premarket, at_close)}
    assert len(payloads) == 1
    quotes = [m.quotes(["SPX", "VIX"]).quotes for m in (after_close, saturday, monday_premarket)]
    assert quotes[0] == quotes[1] == quotes[2]
    spx = quotes[0]["SPX"]
    assert spx["close"] == spx["last"]
    # Friday's PM series settled at 16:00 on the close; it is no longer listed.
    assert saturday.chain("SPX", FRIDAY).options == []
    assert FRIDAY not in [e.date for e in saturday.expirations("SPX")]
    assert saturday.settlement_value(FRIDAY, "SPXW") == spx["last"]


def test_settlement_values() -> None:
    before = fixed(dt.datetime(2026, 6, 12, 15, 59, tzinfo=ET))
    assert before.settlement_value(FRIDAY, "SPXW") is None
    after = fixed(dt.datetime(2026, 6, 12, 16, 0, tzinfo=ET))
    assert after.settlement_value(FRIDAY, "SPXW") == after.index_level(dt.datetime(2026, 6, 12, 16, 0, tzinfo=ET))
    # The AM monthly settles on the 09:30 opening value of its expiration day.
    monthly = fixed(dt.datetime(2026, 6, 18, 9, 31, tzinfo=ET))
    assert monthly.settlement_value(MONTHLY, "SPX") == monthly.index_level(dt.datetime(2026, 6, 18, 9, 30, tzinfo=ET))
    assert fixed(dt.datetime(2026, 6, 18, 9, 29, tzinfo=ET)).settlement_value(MONTHLY, "SPX") is None
    # The PM settlement is the close the next session reports as its prevclose.
    next_day = fixed(dt.datetime(2026, 6, 15, 10, 0, tzinfo=ET)).quotes(["SPX"]).quotes["SPX"]
    assert next_day["prevclose"] == after.settlement_value(FRIDAY, "SPXW")


def test_zero_dte_quotes_until_16_00_only() -> None:
    at_1559 = fixed(dt.datetime(2026, 6, 12, 15, 59, tzinfo=ET)).chain("SPX", FRIDAY)
    at_1600 = fixed(dt.datetime(2026, 6, 12, 16, 0, tzinfo=ET)).chain("SPX", FRIDAY)
    assert len(at_1559.options) > 1000 and at_1600.options == []


def test_early_close_day_runs_to_13_00() -> None:
    eve = dt.date(2026, 12, 24)
    market = fixed(dt.datetime(2026, 12, 24, 12, 59, tzinfo=ET))
    chain = market.chain("SPX", eve)
    assert chain.options
    assert fixed(dt.datetime(2026, 12, 24, 13, 0, tzinfo=ET)).chain("SPX", eve).options == []
    assert mc.is_early_close(eve)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        SimulatedMarket(now=lambda: dt.datetime(2026, 6, 10, 15, 0)).quotes(["SPX"])


# --- clock and calendar -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "state", "next_change", "next_state"),
    [
        (dt.datetime(2026, 6, 10, 11, 0, tzinfo=ET), "open", "16:15", "postmarket"),
        (dt.datetime(2026, 6, 10, 8, 0, tzinfo=ET), "premarket", "09:30", "open"),
        (dt.datetime(2026, 6, 10, 17, 0, tzinfo=ET), "postmarket", "20:00", "closed"),
        (dt.datetime(2026, 6, 10, 21, 0, tzinfo=ET), "closed", "07:00", "premarket"),
        (dt.datetime(2026, 6, 13, 11, 0, tzinfo=ET), "closed", "07:00", "premarket"),
        (dt.datetime(2026, 11, 27, 12, 0, tzinfo=ET), "open", "13:15", "postmarket"),
    ],
)
def test_clock(moment: dt.datetime, state: str, next_change: str, next_state: str) -> None:
    clock = fixed(moment).clock()
    assert (clock.state, clock.next_change, clock.next_state) == (state, next_change, next_state)
    assert clock.date == moment.date() and clock.timestamp == moment.astimezone(dt.UTC)


def test_calendar_month() -> None:
    days = {d.date: d for d in SimulatedMarket().calendar(6, 2026)}
    assert len(days) == 30
    assert days[dt.date(2026, 6, 19)].status == "closed"
    assert days[dt.date(2026, 6, 13)].status == "closed"
    assert (days[MONTHLY].status, days[MONTHLY].open_start, days[MONTHLY].open_end) == ("open", "09:30", "16:15")
    november = {d.date: d for d in SimulatedMarket().calendar(11, 2026)}
    assert november[dt.date(2026, 11, 27)].open_end == "13:15"
    assert november[dt.date(2026, 11, 26)].status == "closed"
