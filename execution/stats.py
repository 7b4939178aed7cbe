"""PnL statistics from closed trades (pure: plain numbers in, a frozen dataclass out).

Shared by the trades pages, the dashboard and the backtester so a live run and a backtest are
summarised by the same definitions:

- win rate = winners / trades, a winner being realised PnL > 0 (after fees);
- expectancy = mean PnL per trade (USD);
- profit factor = gross profit / gross loss (∞ with no losing trade, NaN with no trade);
- equity curve = cumulative realised PnL by close date; max drawdown = the largest fall of that
  curve from a previous peak (USD, ≥ 0), the peak starting at 0 (the account's starting equity).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClosedTrade:
    closed_on: dt.date
    pnl_usd: float
    bucket: str = ""


@dataclass(frozen=True)
class PnlStats:
    trades: int
    winners: int
    win_rate: float
    total_pnl_usd: float
    expectancy_usd: float
    profit_factor: float
    max_drawdown_usd: float
    equity_curve: tuple[tuple[dt.date, float], ...] = field(default=())
    daily_pnl: tuple[tuple[dt.date, float], ...] = field(default=())


def pnl_stats(trades: Iterable[ClosedTrade]) -> PnlStats:
    rows = sorted(trades, key=lambda t: t.closed_on)
    n = len(rows)
    pnls = [t.pnl_usd for t in rows]
    gross_profit = sum(p for p in pnls if p > 0)
    gross_loss = -sum(p for p in pnls if p < 0)
    by_day: dict[dt.date, float] = defaultdict(float)
    for t in rows:
        by_day[t.closed_on] += t.pnl_usd
    equity, peak, drawdown = 0.0, 0.0, 0.0
    curve = []
    for day in sorted(by_day):
        equity += by_day[day]
        peak = max(peak, equity)
        drawdown = max(drawdown, peak - equity)
        curve.append((day, round(equity, 2)))
    winners = sum(1 for p in pnls if p > 0)
    if n == 0:
        profit_factor = math.nan
    elif gross_loss == 0:
        profit_factor = math.inf
    else:
        profit_factor = gross_profit / gross_loss
    return PnlStats(
        trades=n,
        winners=winners,
        win_rate=winners / n if n else math.nan,
        total_pnl_usd=round(sum(pnls), 2),
        expectancy_usd=sum(pnls) / n if n else math.nan,
        profit_factor=profit_factor,
        max_drawdown_usd=round(drawdown, 2),
        equity_curve=tuple(curve),
        daily_pnl=tuple((d, round(by_day[d], 2)) for d in sorted(by_day)),
    )


def stats_by_bucket(trades: Iterable[ClosedTrade]) -> dict[str, PnlStats]:
    groups: dict[str, list[ClosedTrade]] = defaultdict(list)
    for t in trades:
        groups[t.bucket].append(t)
    return {bucket: pnl_stats(rows) for bucket, rows in sorted(groups.items())}
