"""Performance metrics of closed credit-spread trades: summary figures, the daily equity curve, and
the same figures per bucket (target DTE, short-delta target, entry window, side).

Pure: numpy and the stdlib only, no Django, no I/O, no clock. Money is float64 dollars (``_usd``)
net of fees; credits are index points per share. Daily ratios use *dollar* PnL per trading day
(there is no account size here), annualised with √252.

Conventions, stated once: a trade is a win when ``pnl_usd > 0`` and a loss when ``pnl_usd < 0``;
a trade with exactly 0 is neither, but it still counts in ``trades`` (and so in the win-rate
denominator and the expectancy). A trade's PnL is booked on its ``exit_day`` (see ``equity_curve``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

Bucket = tuple[int, float, str, str]

TRADING_DAYS_PER_YEAR: Final = 252
# Always present in ``Metrics.exits``, so a table of runs has the same columns; others (``time_exit``
# of a config with a time exit, ``manual``) are added when seen, so a run without them keeps its metrics.
EXIT_REASONS: Final = ("take_profit", "stop_loss", "settlement")
_RATIO_FIELDS: Final = frozenset(
    {"win_rate", "profit_factor", "sharpe_daily_annualised", "sortino_daily_annualised", "avg_credit"}
)


@dataclass(frozen=True)
class ClosedTrade:
    entry_day: dt.date  # New York trading day of the entry
    exit_day: dt.date  # New York date of the exit (close or settlement)
    pnl_usd: float  # realised, net of fees
    entry_credit: float  # points per share
    max_profit_usd: float
    max_loss_usd: float
    exit_reason: str  # "take_profit" | "stop_loss" | "time_exit" | "settlement" | "manual"
    bucket: Bucket  # (target_dte, short_delta_target, entry window "HH:MM", side "put_credit"/"call_credit")


@dataclass(frozen=True)
class EquityPoint:
    day: dt.date
    pnl_usd: float  # PnL booked on this day
    equity_usd: float  # cumulative PnL through this day, starting from 0
    drawdown_usd: float  # equity − running peak (peak starts at 0), so always <= 0


@dataclass(frozen=True)
class Metrics:
    """Summary of a set of closed trades over a list of trading days.

    - ``win_rate`` = wins / trades; ``expectancy_usd`` = total_pnl / trades (None without trades).
    - ``avg_win_usd`` = mean PnL of wins (> 0); ``avg_loss_usd`` = mean PnL of losses (< 0, kept
      negative); None when there are none.
    - ``profit_factor`` = Σ wins / |Σ losses|: 0.0 with losses but no wins, **None when there are
      no losses** (it would be infinite, which JSON cannot carry).
    - ``max_drawdown_usd`` = max over days of (running peak − equity), peak starting at 0, so a loss
      on the first day is a drawdown; >= 0, and 0 with no days.
    - With x = daily PnL over *all* days given (days without exits are 0), n = len(x):
      ``sharpe_daily_annualised`` = mean(x) / std(x, ddof=1) · √252, None if n < 2 or every x is equal
      (std = 0; tested exactly, since float rounding leaves std ≈ 1e-17 rather than 0);
      ``sortino_daily_annualised`` = mean(x) / √(mean(min(x, 0)²)) · √252, None if no x < 0.
      Either is also None if its denominator underflows to 0 (PnLs of ~1e-160 dollars).
    - ``avg_credit`` = mean entry credit, points per share.
    - ``exits`` = count per ``exit_reason``; take_profit/stop_loss/settlement always present (time_exit when seen).
    """

    trades: int
    wins: int
    losses: int
    win_rate: float | None
    total_pnl_usd: float
    expectancy_usd: float | None
    avg_win_usd: float | None
    avg_loss_usd: float | None
    profit_factor: float | None
    max_drawdown_usd: float
    sharpe_daily_annualised: float | None
    sortino_daily_annualised: float | None
    avg_credit: float | None
    exits: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy: plain int/float/None, ``_usd`` fields rounded to 2 dp, ratios (and the
        credit in points) to 4 dp, ``exits`` as a new dict."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "exits":
                out[f.name] = {k: int(v) for k, v in value.items()}
            elif value is None or isinstance(value, int):
                out[f.name] = value
            else:
                out[f.name] = round(float(value), 4 if f.name in _RATIO_FIELDS else 2)
        return out


def _daily_pnl(trades: Sequence[ClosedTrade], days: Sequence[dt.date]) -> NDArray[np.float64]:
    """PnL per listed day (float64, one per day)."""
    if any(b <= a for a, b in zip(days, days[1:])):
        raise ValueError("days must be sorted and unique")
    if trades and not days:
        raise ValueError("trades given but no days to book them on")
    pnl = np.zeros(len(days), dtype=np.float64)
    for t in trades:
        pnl[booked_on(days, t.exit_day)] += t.pnl_usd
    return pnl


def booked_on(days: Sequence[dt.date], exit_day: dt.date) -> int:
    """The index in ``days`` (sorted) a trade exiting on ``exit_day`` is booked on: the first listed
    day >= it, else the last (see ``equity_curve``)."""
    return min(bisect.bisect_left(days, exit_day), len(days) - 1)


def daily_pnl(trades: Sequence[ClosedTrade], days: Sequence[dt.date]) -> NDArray[np.float64]:
    """PnL per listed day as the equity curve books it (float64, one per day in ``days``)."""
    return _daily_pnl(trades, days)


def _equity_and_drawdown(pnl: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    equity = np.cumsum(pnl)
    peak = np.maximum.accumulate(np.maximum(equity, 0.0)) if len(equity) else equity
    return equity, equity - peak


def equity_curve(trades: Sequence[ClosedTrade], days: Sequence[dt.date]) -> list[EquityPoint]:
    """One point per day in ``days`` (sorted, unique; else ValueError), with each trade's PnL
    booked on its ``exit_day``. An exit on a day not listed (a weekend settlement, a day missing
    from the run) is booked on the next listed day >= ``exit_day``, or on the last listed day when
    none follows, so every trade lands on the curve and its final equity equals the total PnL.
    ``drawdown_usd`` = equity − max(0, max equity so far) <= 0. Trades with no days: ValueError."""
    pnl = _daily_pnl(trades, days)
    equity, drawdown = _equity_and_drawdown(pnl)
    return [
        EquityPoint(day=d, pnl_usd=float(p), equity_usd=float(e), drawdown_usd=float(dd))
        for d, p, e, dd in zip(days, pnl, equity, drawdown)
    ]


def _mean(values: NDArray[np.float64]) -> float | None:
    return float(values.mean()) if len(values) else None


def summarise(trades: Sequence[ClosedTrade], days: Sequence[dt.date], *,
              daily: NDArray[np.float64] | None = None) -> Metrics:
    """``Metrics`` of ``trades`` over the trading days ``days`` (formulas on ``Metrics``; days and
    booking as in ``equity_curve``). Empty ``trades`` gives zero counts, None rates and ratios.
    ``daily``: the trades' ``daily_pnl`` over ``days`` when the caller already has it."""
    if daily is None:
        daily = _daily_pnl(trades, days)
    return summary_of(pnl_usd=np.asarray([t.pnl_usd for t in trades], dtype=np.float64),
                      entry_credit=np.asarray([t.entry_credit for t in trades], dtype=np.float64),
                      exits=Counter(t.exit_reason for t in trades), daily=daily)


def summary_of(*, pnl_usd: NDArray[np.float64], entry_credit: NDArray[np.float64], exits: Mapping[str, int],
               daily: NDArray[np.float64]) -> Metrics:
    """``summarise`` from its inputs as arrays: the closed trades' PnL and entry credit (in trade
    order), their exit reasons' counts, and their ``daily_pnl`` (a sweep's assembly has these for
    every variant without building a ``ClosedTrade`` per variant-trade)."""
    pnl = pnl_usd
    if entry_credit.shape != pnl.shape or sum(exits.values()) != len(pnl):
        raise ValueError("pnl_usd, entry_credit and exits must describe the same trades")
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_win, gross_loss = float(wins.sum()), float(losses.sum())

    _, drawdown = _equity_and_drawdown(daily)
    root_year = math.sqrt(TRADING_DAYS_PER_YEAR)
    mean_day = float(daily.mean()) if len(daily) else 0.0
    # The "> 0" tests on the denominators also catch squares of tiny PnLs underflowing to 0.
    std = float(np.std(daily, ddof=1)) if len(daily) >= 2 and np.ptp(daily) > 0 else 0.0
    downside = math.sqrt(float(np.mean(np.minimum(daily, 0.0) ** 2))) if (daily < 0).any() else 0.0
    sharpe = mean_day / std * root_year if std > 0 else None
    sortino = mean_day / downside * root_year if downside > 0 else None

    n = len(pnl)
    return Metrics(
        trades=n,
        wins=len(wins),
        losses=len(losses),
        win_rate=len(wins) / n if n else None,
        total_pnl_usd=float(pnl.sum()),
        expectancy_usd=_mean(pnl),
        avg_win_usd=_mean(wins),
        avg_loss_usd=_mean(losses),
        profit_factor=gross_win / -gross_loss if len(losses) else None,
        max_drawdown_usd=float(-drawdown.min()) if len(drawdown) else 0.0,
        sharpe_daily_annualised=sharpe,
        sortino_daily_annualised=sortino,
        avg_credit=_mean(entry_credit),
        exits={**{r: exits.get(r, 0) for r in EXIT_REASONS}, **dict(sorted((r, n) for r, n in exits.items() if n))},
    )


def by_bucket(trades: Sequence[ClosedTrade], days: Sequence[dt.date]) -> dict[Bucket, Metrics]:
    """``summarise`` per ``bucket``, in bucket order. Each bucket is measured over all of ``days``
    (not only its own trading days), so its Sharpe/Sortino/drawdown compare with the whole run's."""
    groups: dict[Bucket, list[ClosedTrade]] = defaultdict(list)
    for t in trades:
        groups[t.bucket].append(t)
    return {key: summarise(groups[key], days) for key in sorted(groups)}


def bucket_label(bucket: Bucket) -> str:
    """Short display name, e.g. ``(3, 0.1, "10:00", "put_credit")`` → ``"3d 0.10Δ 10:00 put"``."""
    dte, delta, window, side = bucket
    return f"{dte}d {delta:.2f}Δ {window} {side.removesuffix('_credit')}"
