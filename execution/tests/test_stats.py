import datetime as dt
import math

import pytest

from execution.stats import ClosedTrade, pnl_stats, stats_by_bucket

D = dt.date(2026, 11, 2)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def test_stats_of_a_known_sequence() -> None:
    # +100, −250, +80 (same day as −250), +120: equity 100, −70, 50 → drawdown 170 from the 100 peak.
    s = pnl_stats([ClosedTrade(day(0), 100), ClosedTrade(day(1), -250), ClosedTrade(day(1), 80), ClosedTrade(day(2), 120)])
    assert (s.trades, s.winners) == (4, 3)
    assert s.win_rate == pytest.approx(0.75)
    assert s.total_pnl_usd == 50 and s.expectancy_usd == pytest.approx(12.5)
    assert s.profit_factor == pytest.approx(300 / 250)
    assert s.equity_curve == ((day(0), 100.0), (day(1), -70.0), (day(2), 50.0))
    assert s.daily_pnl[1] == (day(1), -170.0)
    assert s.max_drawdown_usd == 170


def test_edge_cases() -> None:
    empty = pnl_stats([])
    assert empty.trades == 0 and math.isnan(empty.win_rate) and math.isnan(empty.profit_factor)
    assert empty.max_drawdown_usd == 0
    only_wins = pnl_stats([ClosedTrade(day(0), 10), ClosedTrade(day(1), 5)])
    assert only_wins.profit_factor == math.inf and only_wins.max_drawdown_usd == 0
    first_loss = pnl_stats([ClosedTrade(day(0), -40)])
    assert first_loss.max_drawdown_usd == 40  # the peak starts at zero equity


def test_buckets_are_summarised_separately() -> None:
    by = stats_by_bucket([ClosedTrade(day(0), 10, "3DTE put 10d"), ClosedTrade(day(0), -30, "5DTE call 20d"),
                          ClosedTrade(day(1), 20, "3DTE put 10d")])
    assert list(by) == ["3DTE put 10d", "5DTE call 20d"]
    assert by["3DTE put 10d"].total_pnl_usd == 30 and by["5DTE call 20d"].win_rate == 0
