"""The optional calm/stressed regime of the simulated market: off changes nothing, on plants a signal.

The effect sizes below are measured on seed 7 over the trading days of 2021–2025 (1255 days, 180
of them stressed) with the default ``RegimeParams(enabled=True)``:

* 10:00 ET VIX9D/VIX: 0.991 on calm days vs 1.091 on stressed days (sd ≈ 0.04 and 0.02); with
  the regime off the same labels show 0.978 vs 0.973.
* 09:30–10:00 realised vol of SPX (annualised): 15.2 % calm vs 23.9 % stressed (off: 14.3 % vs 14.0 %).
* A large adverse move for a put credit spread, the worst close of the next 5 trading days at
  least 2 VIX standard deviations (2·VIX·√(5/252)) below the 10:00 level: 2.1 % of calm days vs
  19.4 % of stressed days, 9.5× (off: 1.4 % vs 2.8 %, i.e. 5 of 180 days, noise). The same move
  upwards, a call spread's risk, stays rare: 0.5 % calm vs 2.8 % stressed (off: none).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from numpy.typing import NDArray

from snapshots import market_calendar as mc
from snapshots.providers import simulated_market as sm
from snapshots.providers.simulated import RegimeParams, SimulatedMarket, jump_schedule, regime_state

ET = ZoneInfo("America/New_York")
SEED = 7
ON = RegimeParams(enabled=True)

# The fingerprint of seed 7 without a regime, the same on every x86-64 CPU level (recorded when the
# vendor greeks were rounded to 6 decimals: unrounded, they differed in the last bit between AVX2 and
# AVX-512 machines; 44573ec8… was the AVX-512 one, from when open interest was rescaled to SPX's order).
NO_REGIME_FINGERPRINT = "2b08a2a41b97bc7f96d84a66a112a903612da7f0fcdaa390cc26db356a9e6886"
FINGERPRINT_INSTANTS = (
    dt.datetime(2025, 1, 2, 10, 0, tzinfo=ET),
    dt.datetime(2025, 3, 14, 9, 0, tzinfo=ET),  # pre-open: the previous close
    dt.datetime(2025, 4, 18, 11, 0, tzinfo=ET),  # Good Friday
    dt.datetime(2025, 7, 3, 12, 30, tzinfo=ET),  # early close
    dt.datetime(2025, 8, 16, 14, 0, tzinfo=ET),  # Saturday
    dt.datetime(2025, 11, 28, 13, 10, tzinfo=ET),  # after the early close
    dt.datetime(2025, 12, 31, 16, 5, tzinfo=ET),
    dt.datetime(2026, 1, 2, 15, 59, tzinfo=ET),  # the anchor day
    dt.datetime(2026, 3, 20, 9, 30, tzinfo=ET),  # AM settlement morning
    dt.datetime(2026, 6, 10, 11, 0, tzinfo=ET),
    dt.datetime(2026, 9, 8, 22, 0, tzinfo=ET),
    dt.datetime(2026, 12, 24, 10, 45, tzinfo=ET),
)

# numpy's dispatch targets above the baseline of its x86-64 wheels (X86_V2); naming one the machine
# lacks is allowed.
BEYOND_X86_64_BASELINE = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"

STUDY_START, STUDY_END = dt.date(2021, 1, 1), dt.date(2025, 12, 31)
HORIZON_DAYS = 5  # a short-dated credit spread's life, in trading days
ADVERSE_VIX_SDS = 2.0


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def fingerprint(make: Callable[[dt.datetime], SimulatedMarket]) -> str:
    """SHA-256 over a chain payload, index quotes, index level and settlement values at each instant."""
    digest = hashlib.sha256()
    for now in FINGERPRINT_INSTANTS:
        market = make(now)
        expiration = market.expirations("SPX")[1].date
        digest.update(canonical(market.chain("SPX", expiration).payload).encode())
        digest.update(canonical(market.quotes(["SPX", "VIX", "VIX9D"]).quotes).encode())
        digest.update(repr(market.index_level(now)).encode())
        day = now.astimezone(ET).date()
        for back in range(4):
            past = day - dt.timedelta(days=back)
            if mc.session_bounds(past) is not None:
                for root in (mc.ROOT_AM, mc.ROOT_PM):
                    digest.update(repr(market.settlement_value(past, root)).encode())
    return digest.hexdigest()


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if mc.session_bounds(day) is not None:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def at_et(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), ET)


@dataclass(frozen=True)
class Study:
    """Per trading day: the latent regime, what a 10:00 decision sees, and the closes after it."""

    stressed: NDArray[np.bool_]
    term_ratio: NDArray[np.float64]  # VIX9D / VIX at 10:00
    realised_vol: NDArray[np.float64]  # 09:30–10:00, annualised
    spot_10: NDArray[np.float64]
    vix_10: NDArray[np.float64]  # decimal
    close: NDArray[np.float64]

    def move_frequencies(self, sign: int) -> tuple[float, float]:
        """(calm, stressed) share of days whose next HORIZON_DAYS closes reach 2 VIX-sds in ``sign``'s direction."""
        n = self.close.size - HORIZON_DAYS
        ahead = np.stack([self.close[k + 1 : k + 1 + n] for k in range(HORIZON_DAYS)])
        extreme = ahead.min(axis=0) if sign < 0 else ahead.max(axis=0)
        move = sign * np.log(extreme / self.spot_10[:n])
        hit = move >= ADVERSE_VIX_SDS * self.vix_10[:n] * np.sqrt(HORIZON_DAYS / 252.0)
        stressed = self.stressed[:n]
        return float(hit[~stressed].mean()), float(hit[stressed].mean())


def study(regime: RegimeParams | None) -> Study:
    rows = []
    for day in trading_days(STUDY_START, STUDY_END):
        morning = at_et(day, 10)
        market = SimulatedMarket(seed=SEED, now=lambda morning=morning: morning, regime=regime)
        quotes = market.quotes(["SPX", "VIX", "VIX9D"]).quotes
        path = sm.day_path(SEED, day, regime)
        returns = np.diff(np.log(path.spot[:31]))
        rows.append(
            (
                regime_state(SEED, day, ON),  # the same latent labels with the regime on or off
                float(quotes["VIX9D"]["last"]) / float(quotes["VIX"]["last"]),
                float(np.sqrt(np.sum(returns**2) * 252.0 * 390.0 / returns.size)),
                float(quotes["SPX"]["last"]),
                float(quotes["VIX"]["last"]) / 100.0,
                float(path.spot[-1]),
            )
        )
    columns = list(zip(*rows, strict=True))
    return Study(
        stressed=np.array(columns[0], dtype=np.bool_),
        **{
            name: np.array(col)
            for name, col in zip(("term_ratio", "realised_vol", "spot_10", "vix_10", "close"), columns[1:], strict=True)
        },
    )


@pytest.fixture(scope="module")
def on_study() -> Study:
    return study(ON)


@pytest.fixture(scope="module")
def off_study() -> Study:
    return study(None)


# Off: nothing changes.


def test_off_is_byte_identical_to_the_market_without_a_regime() -> None:
    plain = fingerprint(lambda now: SimulatedMarket(seed=SEED, now=lambda: now))
    off = fingerprint(lambda now: SimulatedMarket(seed=SEED, now=lambda: now, regime=RegimeParams()))
    # Disabled parameters are off whatever their numbers say.
    odd = RegimeParams(enabled=False, front_premium=0.2, p_down_calm=0.5)
    off_odd = fingerprint(lambda now: SimulatedMarket(seed=SEED, now=lambda: now, regime=odd))
    assert plain == off == off_odd == NO_REGIME_FINGERPRINT


def test_the_fingerprint_does_not_depend_on_the_cpu() -> None:
    """The same fingerprint with numpy held to its x86-64 baseline kernels (no AVX2, no AVX-512)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the CPU levels named here are x86-64's")
    script = (
        "from snapshots.tests import test_regime as t;"
        "from snapshots.providers.simulated import SimulatedMarket as M;"
        "print(t.fingerprint(lambda now: M(seed=t.SEED, now=lambda: now)))"
    )
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": BEYOND_X86_64_BASELINE}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == fingerprint(lambda now: SimulatedMarket(seed=SEED, now=lambda: now))


def test_off_shares_the_model_paths_and_their_cache() -> None:
    day = dt.date(2025, 10, 14)
    assert sm.day_path(SEED, day, RegimeParams()) is sm.day_path(SEED, day)
    path = sm.day_path(SEED, day)
    assert path.regime is None and not path.stressed and path.front == path.prev_front == 0.0


# On: deterministic, persistent, and it carries the planted signal.


def test_on_is_deterministic_per_seed_and_differs_from_off() -> None:
    now = at_et(dt.date(2025, 10, 14), 11)

    def payloads(seed: int, regime: RegimeParams | None) -> str:
        market = SimulatedMarket(seed=seed, now=lambda: now, regime=regime)
        expiration = market.expirations("SPX")[1].date
        return canonical([market.chain("SPX", expiration).payload, market.quotes(["SPX", "VIX", "VIX9D"]).quotes])

    first = payloads(SEED, ON)
    for cache in (sm._day_path, sm._year_block, sm._regime_block, sm._anchor_log):
        cache.cache_clear()  # rebuilt from scratch, not read back from a cache
    assert payloads(SEED, ON) == first
    assert payloads(SEED, None) != first
    assert payloads(SEED + 1, ON) != first
    # Cache keys include the parameters: other numbers, another market.
    assert payloads(SEED, replace(ON, stressed_vol_multiplier=2.0)) != first


def test_the_regime_chain_is_persistent() -> None:
    days, stressed = sm.regime_states(SEED, dt.date(2001, 1, 1), dt.date(2025, 12, 31), ON)
    assert days.size == 6523
    stay = float((stressed[1:] & stressed[:-1]).sum() / stressed[:-1].sum())
    enter = float((stressed[1:] & ~stressed[:-1]).sum() / (~stressed[:-1]).sum())
    # 25 years: P(stressed → stressed) ≈ 0.80 and P(calm → stressed) ≈ 0.03, as parametrised.
    assert stay == pytest.approx(1.0 - ON.p_stressed_to_calm, abs=0.04)
    assert enter == pytest.approx(ON.p_calm_to_stressed, abs=0.01)
    assert float(stressed.mean()) == pytest.approx(ON.stressed_share, abs=0.04)
    # The chain is the same whether or not the market uses it.
    _, off_labels = sm.regime_states(SEED, dt.date(2001, 1, 1), dt.date(2025, 12, 31), RegimeParams())
    assert np.array_equal(off_labels, stressed)
    assert regime_state(SEED, dt.date(2025, 10, 14), ON) == bool(
        sm.regime_states(SEED, dt.date(2025, 10, 14), dt.date(2025, 10, 14), ON)[1][0]
    )


def test_stressed_mornings_show_a_steeper_front_end_and_more_movement(on_study: Study, off_study: Study) -> None:
    calm, stressed = ~on_study.stressed, on_study.stressed
    assert int(stressed.sum()) == 180
    # VIX9D/VIX at 10:00: 0.991 calm vs 1.091 stressed; off there is nothing to see (0.978 vs 0.973).
    assert on_study.term_ratio[stressed].mean() - on_study.term_ratio[calm].mean() > 0.07
    assert abs(off_study.term_ratio[stressed].mean() - off_study.term_ratio[calm].mean()) < 0.02
    # 09:30–10:00 realised vol: 15.2 % calm vs 23.9 % stressed; off 14.3 % vs 14.0 %.
    assert on_study.realised_vol[stressed].mean() > 1.4 * on_study.realised_vol[calm].mean()
    assert off_study.realised_vol[stressed].mean() < 1.1 * off_study.realised_vol[calm].mean()


def test_large_adverse_moves_follow_stressed_days(on_study: Study, off_study: Study) -> None:
    calm_down, stressed_down = on_study.move_frequencies(-1)
    calm_up, stressed_up = on_study.move_frequencies(+1)
    # Down ≥ 2 VIX-sds within 5 trading days: 2.1 % after calm days, 19.4 % after stressed ones (9.5×).
    assert stressed_down > 0.15
    assert stressed_down > 5.0 * calm_down
    # Up moves (what hurts call spreads) stay rare: 0.5 % calm, 2.8 % stressed.
    assert calm_up < calm_down and stressed_up < 0.25 * stressed_down
    # Without the regime the same labels are no warning: 1.4 % vs 2.8 % (5 of 180 days).
    off_calm, off_stressed = off_study.move_frequencies(-1)
    assert off_stressed < 0.25 * stressed_down and off_stressed - off_calm < 0.03


def test_the_jump_schedule_follows_the_regime() -> None:
    start, end = dt.date(2001, 1, 1), dt.date(2025, 12, 31)
    jumps = jump_schedule(SEED, start, end, ON)
    assert jumps == jump_schedule(SEED, start, end, RegimeParams())  # drawn whether used or not
    days, stressed = sm.regime_states(SEED, start - dt.timedelta(days=10), end, ON)
    stressed_by_day = dict(zip(days.tolist(), stressed.tolist(), strict=True))
    for jump in jumps:
        lag = int(np.busday_count(jump.drawn_on, jump.lands_on))
        assert 1 <= lag <= ON.max_lag_days
        assert start <= jump.lands_on <= end and 0.0 <= jump.session_fraction < 1.0
        size = abs(jump.log_return)
        assert (
            (ON.down_jump[0] <= size <= ON.down_jump[1])
            if jump.log_return < 0
            else (ON.up_jump[0] <= size <= ON.up_jump[1])
        )
    downs_stressed = sum(1 for j in jumps if j.log_return < 0 and stressed_by_day[j.drawn_on])
    downs_calm = sum(1 for j in jumps if j.log_return < 0 and not stressed_by_day[j.drawn_on])
    n_stressed = int(stressed.sum())
    n_calm = stressed.size - n_stressed
    # Per drawing day: ≈ 10 % of stressed days vs ≈ 0.2 % of calm days draw a down jump.
    assert downs_stressed / n_stressed == pytest.approx(ON.p_down_stressed, abs=0.025)
    assert downs_calm / n_calm == pytest.approx(ON.p_down_calm, abs=0.002)


def test_a_jump_shows_in_the_path_index_quotes_chain_and_settlement() -> None:
    jumps = jump_schedule(SEED, dt.date(2025, 1, 1), dt.date(2026, 12, 31), ON)
    jump = next(
        j
        for j in jumps
        if j.log_return < 0
        and mc.session_bounds(j.lands_on) is not None
        and 60 <= int(j.session_fraction * 391) <= 360  # well inside a full session
        and not any(o.lands_on == j.lands_on and o is not j for o in jumps)
    )
    day = jump.lands_on
    path = sm.day_path(SEED, day, ON)
    minute = int(jump.session_fraction * (path.minutes + 1))
    # The step at the jump's minute is the jump (one minute of diffusion is ≈ 0.05 %).
    step = float(np.log(path.spot[minute] / path.spot[minute - 1]))
    assert step == pytest.approx(jump.log_return, abs=0.003)
    assert path.u[minute] - path.u[minute - 1] == pytest.approx(-ON.jump_vol_leverage * jump.log_return, abs=0.05)

    open_utc = path.open_utc
    before = open_utc + dt.timedelta(minutes=minute - 1)
    after = open_utc + dt.timedelta(minutes=minute)
    m_before = SimulatedMarket(seed=SEED, now=lambda: before, regime=ON)
    m_after = SimulatedMarket(seed=SEED, now=lambda: after, regime=ON)
    assert m_before.index_level(before) == float(path.spot[minute - 1])
    assert m_after.quotes(["SPX"]).quotes["SPX"]["last"] == float(path.spot[minute])
    assert m_after.quotes(["VIX"]).quotes["VIX"]["last"] > m_before.quotes(["VIX"]).quotes["VIX"]["last"]
    # The chains reprice: the near-the-money put of the next expiration gains.
    expiration = m_after.expirations("SPX")[1].date
    strike = 5.0 * round(float(path.spot[minute - 1]) / 5.0)

    def put_bid(market: SimulatedMarket) -> float:
        return next(
            o["bid"]
            for o in market.chain("SPXW", expiration).options
            if o["strike"] == strike and o["option_type"] == "put"
        )

    assert put_bid(m_after) > put_bid(m_before) + 0.5 * strike * abs(jump.log_return) * 0.5
    # The close carries it into the settlement value and the next day's previous close.
    evening = at_et(day, 17)
    settled = SimulatedMarket(seed=SEED, now=lambda: evening, regime=ON)
    assert settled.settlement_value(day, mc.ROOT_PM) == float(path.spot[-1]) == settled.index_level(evening)
    assert sm.day_path(SEED, mc.next_trading_day(day), ON).prev_close == float(path.spot[-1])


def test_vix9d_and_the_chain_carry_the_front_premium_on_a_stressed_day() -> None:
    day = next(d for d in trading_days(dt.date(2025, 1, 1), dt.date(2025, 12, 31)) if regime_state(SEED, d, ON))
    now = at_et(day, 10, 30)
    moment = sm.market_moment(SEED, now, ON)
    assert moment.path.stressed and moment.front == ON.front_premium
    x30 = float(sm.vol_level(moment.u))
    quotes = SimulatedMarket(seed=SEED, now=lambda: now, regime=ON).quotes(["VIX", "VIX9D"]).quotes
    assert quotes["VIX9D"]["last"] == round(100.0 * float(sm.variance_swap_vol(x30, 9 / 365, ON.front_premium)[0]), 2)
    assert quotes["VIX"]["last"] == round(100.0 * float(sm.variance_swap_vol(x30, 30 / 365)[0]), 2)  # 30 d unchanged
    # The chain's smile is the same surface: ATM vol with the premium, well above it without.
    market = SimulatedMarket(seed=SEED, now=lambda: now, regime=ON)
    expiration = market.expirations("SPX")[1].date
    book = sm.option_book(SEED, moment, mc.ROOT_PM, expiration)
    atm = int(np.argmin(np.abs(book.strikes - book.forward)))
    expected = sm.smile_vol(x30, book.t_years, np.log(book.strikes[atm] / book.forward), ON.front_premium)
    assert float(book.sigma[atm]) == pytest.approx(float(expected), rel=1e-12)
    assert (
        float(book.sigma[atm]) - float(sm.smile_vol(x30, book.t_years, np.log(book.strikes[atm] / book.forward))) > 0.02
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_calm_to_stressed": 1.5},
        {"p_down_stressed": 0.9, "p_up_stressed": 0.2},
        {"down_jump": (0.05, 0.03)},
        {"max_lag_days": 0},
        {"stressed_vol_multiplier": 0.0},
    ],
)
def test_regime_params_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RegimeParams(enabled=True, **kwargs)


def test_regime_presets_by_name() -> None:
    from snapshots.providers.simulated_market import regime_preset

    assert regime_preset("off") == RegimeParams() == regime_preset("false") == regime_preset("")
    assert regime_preset("on") == ON == regime_preset("TRUE")
    strong = regime_preset("strong")
    assert strong.enabled and strong.p_down_stressed > ON.p_down_stressed and strong.p_up_stressed == 0.0
    with pytest.raises(ValueError, match="unknown regime"):
        regime_preset("wild")


def test_stressed_vol_preset_makes_stressed_days_volatile_with_a_steadier_drift() -> None:
    """``stressed-vol``: the same spells as ``strong``, stressed closes about three times as volatile,
    and a compensating drift under a third of ``strong``'s (so a year's index stays in range)."""
    from snapshots.providers.simulated_market import regime_preset

    strong, vol = regime_preset("strong"), regime_preset("stressed-vol")
    assert vol.jump_compensator < 0.3 * strong.jump_compensator
    assert sm.regime_states(SEED, dt.date(2021, 1, 1), dt.date(2025, 12, 31), vol)[1].tolist() == \
        sm.regime_states(SEED, dt.date(2021, 1, 1), dt.date(2025, 12, 31), strong)[1].tolist()
    calm_sd, stressed_sd, levels = [], [], []
    for year in range(2021, 2026):
        block = sm._year_block(SEED, year, vol)
        _, stressed = sm.regime_states(SEED, dt.date(year, 1, 1), dt.date(year, 12, 31), vol)
        returns = np.diff(block.log_level, prepend=block.log_level[0])[1:]
        landed = sm._regime_block(SEED, year, vol).landing_log[1:] != 0.0
        calm_sd.append(returns[~stressed[1:] & ~landed])
        stressed_sd.append(returns[stressed[1:] & ~landed])
        levels.append(np.exp(block.log_level))
    ratio = float(np.std(np.concatenate(stressed_sd)) / np.std(np.concatenate(calm_sd)))
    assert 2.3 < ratio < 3.7, ratio
    year_2025 = levels[-1]
    assert year_2025.max() / year_2025.min() < 1.8  # strong, seed 7: 8,200 / 4,000 ≈ 2.05
