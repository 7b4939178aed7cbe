"""Candidates drawn from the simulated market's model directly — fast, for the leakage tests and the
training benchmarks.

The platform's own path to a dataset (generated OPRA days → backtest → ``ml_dataset``) takes
minutes per simulated month; the leakage guards need a year or more for each of 11 seeds, in CI. So
this module walks the same model the generated OPRA files are made of
(``snapshots.providers.simulated_market``: the SPX minute paths, the vol state and its regime, the
smile) without the quote noise, the chain fits and the stores in between:

* each trading day at 10:00, 11:00 and 12:00 ET, for DTE 3/5/7 × |delta| 0.10/0.20 × put/call
  (the seeded grid), a credit spread 25 points wide: the short strike on the 5-point grid whose
  model delta is nearest the target, its credit the model mid minus 0.30 × a model combo spread,
  floored to the 0.05 tick;
* its fate: marked every 5 minutes on the model's prices (debit = mid + 0.30 × combo spread, ceiled
  to the tick) until the exit rules close it (``exit_rules``, default the seed's: take profit at a
  debit ≤ 0.5 × credit, stop at ≥ 2 × credit; a time exit if they have one), each mark checked by
  ``rules.exit_due`` as live marks are, else cash settlement at the model's close; the label and
  PnL as the platform books them (``rules``);
* the features of ``strategy.quant.features`` the model gives (the term ratio, realised vol, the
  moves, the candidate's numbers and the calendar); the rest are NaN.

With the regime off no feature carries information about the label beyond noise; with it on,
stressed days show a higher 9d/30d ratio and realised vol and precede large downside jumps. Rows
come out as ``mlmodels.dataset`` rows (same columns), so ``training`` cannot tell them apart.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import ndtr

from mlmodels.dataset import uniqueness
from snapshots import market_calendar as mc
from snapshots.expiry_selection import choose_expiration
from snapshots.providers.simulated_market import (
    DIVIDEND_YIELD,
    MINUTES_PER_YEAR,
    RATE,
    RegimeParams,
    day_path,
    smile_vol,
    variance_swap_vol,
    vol_level,
)
from strategy.quant import rules
from strategy.quant.features import FEATURE_NAMES
from strategy.quant.fills import entry_credit
from strategy.quant.types import ExitRules, TimeExit

WINDOWS = (dt.time(10), dt.time(11), dt.time(12))
GRID = [(dte, delta, side) for dte in (3, 5, 7) for delta in (0.10, 0.20) for side in ("put_credit", "call_credit")]
WIDTH = 25.0
_SPREAD_BASE, _SPREAD_SLOPE = 0.018, 0.012  # the model's quote width (simulated_market, "Quotes")


def _black76(is_call: bool, forward: Any, strike: Any, t: Any, discount: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    """(price, delta) of European options on a forward — the plain closed form, vectorised (the
    platform's ``black76`` adds the edge-case handling a live chain needs; these inputs never hit it)."""
    sd = np.asarray(sigma) * np.sqrt(t)
    d1 = (np.log(np.asarray(forward) / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * ndtr(d1) - strike * ndtr(d2)), discount * ndtr(d1)
    return discount * (strike * ndtr(-d2) - forward * ndtr(-d1)), -discount * ndtr(-d1)


def _width(price: np.ndarray, x30: float) -> np.ndarray:
    return np.minimum(_SPREAD_BASE + _SPREAD_SLOPE * price, 5.0) * math.sqrt(x30 / 0.16)


def _prices(spot: float, x30: float, front: float, t_years: float, is_call: bool,
            strikes: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    t = max(t_years, 1e-7)
    forward = spot * math.exp((RATE - DIVIDEND_YIELD) * t)
    discount = math.exp(-RATE * t)
    sigma = np.asarray(smile_vol(x30, t, np.log(strikes / forward), front))
    price, delta = _black76(is_call, forward, strikes, t, discount, sigma)
    return np.asarray(price), np.asarray(delta), forward


def _state(seed: int, at: dt.datetime, regime: RegimeParams | None) -> tuple[float, float, float, Any]:
    """(spot, x30, front, path) at an instant within a session."""
    day = at.astimezone(mc.ET).date()
    path = day_path(seed, day, regime)
    i = min(int((at - path.open_utc).total_seconds() // 60), path.minutes)
    return float(path.spot[i]), float(vol_level(path.u[i])), float(path.front), path


def candidates(seed: int, start: dt.date, end: dt.date, *, regime: RegimeParams | None = None,
               exit_rules: ExitRules = rules.DEFAULT_EXIT_RULES) -> list[dict[str, Any]]:
    """Dataset rows (``mlmodels.dataset.COLUMNS``) of the grid's candidates from ``start`` to ``end``,
    each closed by ``exit_rules`` (the same rules for every candidate, as one sweep variant's)."""
    days = list(mc.trading_days(start, end))
    rows: list[dict[str, Any]] = []
    for day in days:
        listed = [e for e, root in mc.listed_expirations(day, 20) if root == mc.ROOT_PM]
        for window in WINDOWS:
            at = dt.datetime.combine(day, window, tzinfo=mc.ET).astimezone(dt.UTC)
            spot, x30, front, path = _state(seed, at, regime)
            i = int((at - path.open_utc).total_seconds() // 60)
            samples = path.spot[max(0, i - 60): i + 1: 5]
            r = np.diff(np.log(samples))
            rv30 = math.sqrt(float(np.mean(r[-6:] ** 2)) * 252 * 390 / 5) if r.size >= 6 else math.nan
            rv60 = math.sqrt(float(np.mean(r ** 2)) * 252 * 390 / 5) if r.size >= 12 else math.nan
            vix30 = 100 * float(np.asarray(variance_swap_vol(x30, 30 / 365, front)).ravel()[0])
            vix9d = 100 * float(np.asarray(variance_swap_vol(x30, 9 / 365, front)).ravel()[0])
            for dte, delta_target, side in GRID:
                choice = choose_expiration(day, listed, target_dte=dte, tolerance_days=1)
                if choice.expiration is None:
                    continue
                row = _candidate(seed, regime, at, day, window, choice.expiration, dte, delta_target, side,
                                 spot, x30, front, path, exit_rules)
                if row is None:
                    continue
                row.update(rv_30m=rv30, rv_60m=rv60, vix30=vix30, vix9d=vix9d, vix_ratio_9d_30d=vix9d / vix30,
                           move_since_open_pct=100 * math.log(spot / float(path.spot[0])),
                           move_since_prev_close_pct=100 * math.log(spot / path.prev_close),
                           weekday=float(day.weekday()), early_close_day=float(mc.is_early_close(day)),
                           minutes_to_close=(path.close_utc - at).total_seconds() / 60)
                rows.append(row)
    rows.sort(key=lambda r: (r["entry_at"], r["strategy"]))
    weights = uniqueness([(r["entry_at"].timestamp() / 60, r["exit_at"].timestamp() / 60) for r in rows])
    for i, (r, w) in enumerate(zip(rows, weights), start=1):
        r["decision_id"], r["uniqueness"] = i, w
    return rows


def _candidate(seed: int, regime: RegimeParams | None, at: dt.datetime, day: dt.date, window: dt.time,
               expiration: dt.date, dte: int, delta_target: float, side: str, spot: float, x30: float, front: float,
               path: Any, exit_rules: ExitRules) -> dict[str, Any] | None:
    is_call = side == "call_credit"
    settle = mc.settlement_instant(expiration, mc.ROOT_PM)
    t = (settle - at).total_seconds() / 60 / MINUTES_PER_YEAR
    grid = np.arange(round(spot * 0.85 / 5) * 5, round(spot * 1.15 / 5) * 5 + 5, 5.0)
    price, delta, forward = _prices(spot, x30, front, t, is_call, grid)
    otm = grid > forward if is_call else grid < forward
    pool = np.flatnonzero(otm & (price > 0.05))
    if pool.size == 0:
        return None
    short_i = int(pool[np.argmin(np.abs(np.abs(delta[pool]) - delta_target))])
    k_short = float(grid[short_i])
    k_long = k_short + WIDTH if is_call else k_short - WIDTH
    legs = np.array([k_short, k_long])
    leg_price, _, _ = _prices(spot, x30, front, t, is_call, legs)
    mid = float(leg_price[0] - leg_price[1])
    combo = float(_width(leg_price, x30).sum())
    credit = entry_credit(mid, combo, 0.30)
    if credit < 0.50:
        return None  # the seeded grid's minimum credit
    time_exit = rules.time_exit_for(exit_rules, expiration=expiration, settles_at=settle)
    exit_reason, exit_at, exit_value = _walk(seed, regime, at, settle, is_call, legs, credit, side, exit_rules, time_exit)
    pnl = rules.pnl_usd(credit, exit_value, 1)
    label = rules.outcome_label(exit_reason, exit_value, entry_credit=credit,
                                take_profit_fraction=exit_rules.take_profit_fraction)
    sd = float(np.asarray(smile_vol(x30, t, 0.0, front))) * math.sqrt(t)
    row: dict[str, Any] = dict.fromkeys(FEATURE_NAMES, math.nan)
    row.update(
        decision_id=0, source="synthetic",
        backtest_run_id=None, trading_day=day, entry_window=window.strftime("%H:%M"),
        strategy=f"{dte}DTE {side.split('_')[0]} {int(delta_target * 100)}d", entry_at=at, exit_at=exit_at,
        exit_reason=exit_reason, label=label, pnl_usd=pnl, holding_minutes=(exit_at - at).total_seconds() / 60,
        dte_target=float(dte), dte_calendar=float((expiration - day).days), minutes_to_settlement=t * MINUTES_PER_YEAR,
        side_is_call=float(is_call), delta_target=delta_target, short_abs_delta=abs(float(delta[short_i])),
        width_points=WIDTH, credit_fill=credit, credit_to_width=credit / WIDTH, credit_mid=mid, combo_spread=combo,
        combo_spread_frac_mid=combo / mid if mid > 0 else math.nan, forward=forward,
        short_distance_points=abs(k_short - forward), short_distance_sd=abs(math.log(k_short / forward)) / sd,
        days_to_monthly=float((mc.next_monthly_expiration(day) - day).days),
    )
    return row


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 10**9


@lru_cache(maxsize=4096)
def _marks_of(seed: int, regime: RegimeParams | None, day: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A session's 5-minute mark stamps (ns) from the open, with the model's spot, vol state and front premium."""
    path = day_path(seed, day, regime)
    m = np.arange(0, path.minutes + 1, 5)
    ns = _ns(path.open_utc) + m.astype(np.int64) * 60 * 10**9
    return ns, np.asarray(path.spot[m]), np.asarray(path.u[m]), float(path.front)


def _walk(seed: int, regime: RegimeParams | None, at: dt.datetime, settle: dt.datetime, is_call: bool,
          legs: np.ndarray, credit: float, side: str, exit_rules: ExitRules,
          time_exit: TimeExit | None) -> tuple[str, dt.datetime, float]:
    """Marks every 5 minutes from the entry on the model's prices (vectorised over the stamps) until
    ``rules.exit_due`` closes the spread, else the cash settlement at the model's close. The debits
    are screened in floats (within a 1e-9 of a threshold, or the time exit's stamps) and only those
    stamps go through the exact decimal rule, in order."""
    spots, us, fronts, stamps = [], [], [], []
    day, last = at.astimezone(mc.ET).date(), settle.astimezone(mc.ET).date()
    at_ns, settle_ns = _ns(at), _ns(settle)
    while day <= last:
        if mc.is_trading_day(day):
            ns, spot_d, u_d, front_d = _marks_of(seed, regime, day)
            keep = (ns >= at_ns) & (ns < settle_ns)
            spots.append(spot_d[keep])
            us.append(u_d[keep])
            fronts.append(np.full(int(keep.sum()), front_d))
            stamps.append(ns[keep])
        day += dt.timedelta(days=1)
    instants = np.concatenate(stamps) if stamps else np.empty(0, dtype=np.int64)
    if instants.size:
        spot, u, front = np.concatenate(spots), np.concatenate(us), np.concatenate(fronts)
        t = (settle_ns - instants) / 6e10 / MINUTES_PER_YEAR
        x30 = np.asarray(vol_level(u))
        forward = spot * np.exp((RATE - DIVIDEND_YIELD) * t)
        discount = np.exp(-RATE * t)
        values = []
        for k in legs:
            sigma = np.asarray(smile_vol(x30, t, np.log(k / forward), front))
            values.append(np.asarray(_black76(is_call, forward, k, t, discount, sigma)[0]))
        short, long_ = values
        width = (np.minimum(_SPREAD_BASE + _SPREAD_SLOPE * short, 5.0) + np.minimum(_SPREAD_BASE + _SPREAD_SLOPE * long_, 5.0)) \
            * np.sqrt(x30 / 0.16)
        raw = np.maximum(short - long_, 0.0) + 0.30 * width
        debit = np.clip(np.ceil(raw / 0.05 - 1e-9) * 0.05, 0.05, WIDTH)
        f, m = exit_rules.take_profit_fraction, exit_rules.stop_loss_multiple
        maybe = (debit <= (1 - f) * credit + 1e-9) | (debit >= (1 + m) * credit - 1e-9)
        if time_exit is not None:
            maybe |= (instants >= _ns(time_exit.at)) & (instants < _ns(time_exit.settles_at))
        for j in np.flatnonzero(maybe):
            stamp = dt.datetime.fromtimestamp(int(instants[j]) // 10**9, tz=dt.UTC)
            signal = rules.exit_due(entry_credit=credit, debit_to_close=round(float(debit[j]), 2),
                                    exit_rules=exit_rules, at=stamp, time_exit=time_exit)
            if signal is not None:
                return signal.reason, stamp, signal.debit_to_close
    close = day_path(seed, last, regime).spot[-1]
    value = rules.settlement_value(side, float(legs[0]), float(legs[1]), float(close))  # type: ignore[arg-type]
    return "settlement", settle, value
