"""backtests.engine.metrics: hand-computed examples for every field, booking, buckets, empty input,
JSON output, purity, and a property test tying the summary to the equity curve. No database."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from collections import Counter
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtests.engine.metrics import (
    ClosedTrade,
    Metrics,
    bucket_label,
    by_bucket,
    daily_pnl,
    equity_curve,
    summarise,
    summary_of,
)

REPO = Path(__file__).resolve().parents[2]

PUT_10 = (3, 0.10, "10:00", "put_credit")
CALL_15 = (5, 0.15, "11:00", "call_credit")

# Mon 2 March 2026 .. Fri 6 March 2026.
MON, TUE, WED, THU, FRI = (dt.date(2026, 3, d) for d in range(2, 7))
WEEK = [MON, TUE, WED, THU, FRI]


def trade(
    exit_day: dt.date,
    pnl_usd: float,
    *,
    entry_day: dt.date | None = None,
    credit: float = 1.0,
    reason: str = "take_profit",
    bucket: tuple[int, float, str, str] = PUT_10,
) -> ClosedTrade:
    return ClosedTrade(
        entry_day=entry_day or exit_day,
        exit_day=exit_day,
        pnl_usd=pnl_usd,
        entry_credit=credit,
        max_profit_usd=credit * 100,
        max_loss_usd=500 - credit * 100,
        exit_reason=reason,
        bucket=bucket,
    )


# Four trades over five days. Daily PnL: Mon +100, Tue −300, Wed 0, Thu +250+50 = +300, Fri 0.
FOUR = [
    trade(MON, 100.0, entry_day=MON, credit=1.00, reason="take_profit"),
    trade(TUE, -300.0, entry_day=MON, credit=1.50, reason="stop_loss"),
    trade(THU, 250.0, entry_day=TUE, credit=0.80, reason="settlement"),
    trade(THU, 50.0, entry_day=WED, credit=0.70, reason="take_profit"),
]


def test_summarise_four_trades_by_hand() -> None:
    m = summarise(FOUR, WEEK)
    assert (m.trades, m.wins, m.losses) == (4, 3, 1)
    assert m.win_rate == 0.75
    assert m.total_pnl_usd == 100.0
    assert m.expectancy_usd == 25.0
    assert m.avg_win_usd == pytest.approx(400 / 3)
    assert m.avg_loss_usd == -300.0
    assert m.profit_factor == pytest.approx(400 / 300)
    # Equity 100, −200, −200, 100, 100; peak 100 from Monday on → worst fall 300 (Tue/Wed).
    assert m.max_drawdown_usd == 300.0
    # Daily x = [100, −300, 0, 300, 0]: mean 20; deviations 80, −320, −20, 280, −20;
    # Σ dev² = 6400 + 102400 + 400 + 78400 + 400 = 188000; var (ddof=1) = 188000 / 4 = 47000.
    assert m.sharpe_daily_annualised == pytest.approx(20 / math.sqrt(47000) * math.sqrt(252))
    assert m.sharpe_daily_annualised == pytest.approx(1.4645, abs=1e-4)
    # Downside: min(x, 0)² = [0, 90000, 0, 0, 0] → mean 18000 (over all five days).
    assert m.sortino_daily_annualised == pytest.approx(20 / math.sqrt(18000) * math.sqrt(252))
    assert m.sortino_daily_annualised == pytest.approx(2.3664, abs=1e-4)
    assert m.avg_credit == pytest.approx((1.00 + 1.50 + 0.80 + 0.70) / 4)
    assert m.exits == {"take_profit": 2, "stop_loss": 1, "settlement": 1}


def test_equity_curve_four_trades() -> None:
    curve = equity_curve(FOUR, WEEK)
    assert [p.day for p in curve] == WEEK
    assert [p.pnl_usd for p in curve] == [100.0, -300.0, 0.0, 300.0, 0.0]
    assert [p.equity_usd for p in curve] == [100.0, -200.0, -200.0, 100.0, 100.0]
    assert [p.drawdown_usd for p in curve] == [0.0, -300.0, -300.0, 0.0, 0.0]


def test_drawdown_peak_to_trough_with_peak_starting_at_zero() -> None:
    days = [dt.date(2026, 4, d) for d in (1, 2, 3, 6, 7, 8)]
    pnls = [-50.0, 200.0, -120.0, -30.0, 100.0, -300.0]
    trades = [trade(d, p) for d, p in zip(days, pnls)]
    # Equity −50, 150, 30, 0, 100, −200; peak (from 0) 0, 150, 150, 150, 150, 150.
    curve = equity_curve(trades, days)
    assert [p.equity_usd for p in curve] == [-50.0, 150.0, 30.0, 0.0, 100.0, -200.0]
    assert [p.drawdown_usd for p in curve] == [-50.0, 0.0, -120.0, -150.0, -50.0, -350.0]
    assert summarise(trades, days).max_drawdown_usd == 350.0
    # A first-day loss is a drawdown from the starting equity of 0.
    assert summarise([trade(MON, -50.0)], [MON]).max_drawdown_usd == 50.0
    # Only gains: no drawdown.
    assert summarise([trade(MON, 10.0), trade(TUE, 20.0)], [MON, TUE]).max_drawdown_usd == 0.0


def test_profit_factor_none_without_losses_and_zero_without_wins() -> None:
    only_wins = summarise([trade(MON, 100.0), trade(TUE, 40.0)], WEEK)
    assert only_wins.profit_factor is None
    assert only_wins.avg_loss_usd is None
    assert only_wins.sortino_daily_annualised is None  # no negative day
    only_losses = summarise([trade(MON, -100.0)], WEEK)
    assert only_losses.profit_factor == 0.0
    assert only_losses.avg_win_usd is None
    assert only_losses.win_rate == 0.0


def test_zero_pnl_trade_is_neither_win_nor_loss_but_counts() -> None:
    m = summarise([trade(MON, 0.0), trade(TUE, 60.0), trade(WED, -20.0)], WEEK)
    assert (m.trades, m.wins, m.losses) == (3, 1, 1)
    assert m.win_rate == pytest.approx(1 / 3)
    assert m.expectancy_usd == pytest.approx(40 / 3)
    assert m.profit_factor == 3.0


def test_manual_exits_are_counted_after_the_fixed_keys() -> None:
    m = summarise([trade(MON, 5.0, reason="manual"), trade(TUE, -5.0, reason="stop_loss")], WEEK)
    assert m.exits == {"take_profit": 0, "stop_loss": 1, "settlement": 0, "manual": 1}
    assert list(m.exits)[:3] == ["take_profit", "stop_loss", "settlement"]


def test_sharpe_none_for_one_day_or_constant_daily_pnl() -> None:
    assert summarise([trade(MON, 100.0)], [MON]).sharpe_daily_annualised is None
    # 0.1 per day: numpy's std of [0.1, 0.1, 0.1] is ~1.7e-17, not 0; the metric must still be None.
    constant = summarise([trade(d, 0.1) for d in (MON, TUE, WED)], [MON, TUE, WED])
    assert constant.sharpe_daily_annualised is None
    # Two days, +100 and −100: mean 0 → Sharpe 0 and Sortino 0 (both defined).
    flat = summarise([trade(MON, 100.0), trade(TUE, -100.0)], [MON, TUE])
    assert flat.sharpe_daily_annualised == 0.0
    assert flat.sortino_daily_annualised == 0.0


def test_exits_on_unlisted_days_are_booked_on_the_next_listed_day_or_the_last() -> None:
    days = [MON, TUE, THU]  # Wednesday missing (a holiday, say)
    trades = [
        trade(dt.date(2026, 3, 1), 1.0),  # Sunday before the first day → Monday
        trade(MON, 10.0),  # listed → Monday
        trade(WED, 100.0),  # unlisted → Thursday
        trade(dt.date(2026, 3, 7), 1000.0),  # Saturday after the last day → Thursday (last)
    ]
    curve = equity_curve(trades, days)
    assert [(p.day, p.pnl_usd) for p in curve] == [(MON, 11.0), (TUE, 0.0), (THU, 1100.0)]
    assert curve[-1].equity_usd == summarise(trades, days).total_pnl_usd == 1111.0


def test_days_must_be_sorted_unique_and_present_for_trades() -> None:
    with pytest.raises(ValueError, match="sorted and unique"):
        equity_curve([], [TUE, MON])
    with pytest.raises(ValueError, match="sorted and unique"):
        summarise([], [MON, MON])
    with pytest.raises(ValueError, match="no days"):
        summarise([trade(MON, 1.0)], [])


def test_by_bucket_groups_sorts_and_measures_over_all_days() -> None:
    trades = [
        trade(MON, 100.0, bucket=CALL_15, reason="settlement"),
        trade(TUE, -40.0, bucket=PUT_10, reason="stop_loss"),
        trade(WED, 60.0, bucket=PUT_10, credit=0.5),
        trade(THU, 20.0, bucket=CALL_15),
    ]
    groups = by_bucket(trades, WEEK)
    assert list(groups) == [PUT_10, CALL_15]  # 3 DTE sorts before 5 DTE
    put, call = groups[PUT_10], groups[CALL_15]
    assert (put.trades, put.wins, put.losses, put.total_pnl_usd) == (2, 1, 1, 20.0)
    assert put.exits == {"take_profit": 1, "stop_loss": 1, "settlement": 0}
    assert put.avg_credit == 0.75
    assert (call.trades, call.total_pnl_usd, call.profit_factor) == (2, 120.0, None)
    # The call bucket's Sharpe uses all five days: x = [100, 0, 0, 20, 0], mean 24;
    # deviations 76, −24, −24, −4, −24 → Σ dev² = 5776 + 576 + 576 + 16 + 576 = 7520; var = 1880.
    assert call.sharpe_daily_annualised == pytest.approx(24 / math.sqrt(1880) * math.sqrt(252))
    assert sum(m.total_pnl_usd for m in groups.values()) == summarise(trades, WEEK).total_pnl_usd


def test_bucket_label() -> None:
    assert bucket_label((3, 0.1, "10:00", "put_credit")) == "3d 0.10Δ 10:00 put"
    assert bucket_label(CALL_15) == "5d 0.15Δ 11:00 call"


@pytest.mark.parametrize("days", [[], WEEK])
def test_empty_input(days: list[dt.date]) -> None:
    m = summarise([], days)
    assert m == Metrics(
        trades=0, wins=0, losses=0, win_rate=None, total_pnl_usd=0.0, expectancy_usd=None,
        avg_win_usd=None, avg_loss_usd=None, profit_factor=None, max_drawdown_usd=0.0,
        sharpe_daily_annualised=None, sortino_daily_annualised=None, avg_credit=None,
        exits={"take_profit": 0, "stop_loss": 0, "settlement": 0},
    )  # fmt: skip
    curve = equity_curve([], days)
    assert [p.day for p in curve] == days
    assert all(p.pnl_usd == p.equity_usd == p.drawdown_usd == 0.0 for p in curve)
    assert by_bucket([], days) == {}
    json.dumps(m.as_dict(), allow_nan=False)


def test_as_dict_is_json_ready_and_rounded() -> None:
    d = summarise(FOUR, WEEK).as_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["avg_win_usd"] == 133.33  # 400 / 3, 2 dp
    assert d["profit_factor"] == 1.3333  # 4 dp
    assert d["sharpe_daily_annualised"] == 1.4645
    assert d["sortino_daily_annualised"] == 2.3664
    assert d["trades"] == 4 and type(d["trades"]) is int
    assert d["exits"] == {"take_profit": 2, "stop_loss": 1, "settlement": 1}
    for key, value in d.items():
        assert value is None or type(value) in (int, float, dict), (key, type(value))


_days = st.lists(st.dates(dt.date(2026, 1, 1), dt.date(2026, 3, 31)), min_size=1, max_size=40, unique=True).map(sorted)
_pnl = st.floats(-5000, 5000, allow_nan=False, allow_infinity=False)
# Exits range a little beyond the days on both sides, so booking on unlisted days is exercised.
_trades = st.lists(
    st.builds(lambda d, p: trade(d, p), st.dates(dt.date(2025, 12, 20), dt.date(2026, 4, 10)), _pnl), max_size=30
)


@settings(max_examples=200, deadline=None)
@given(trades=_trades, days=_days)
def test_summary_agrees_with_equity_curve(trades: list[ClosedTrade], days: list[dt.date]) -> None:
    m = summarise(trades, days)
    curve = equity_curve(trades, days)
    assert len(curve) == len(days)
    assert m.total_pnl_usd == pytest.approx(math.fsum(p.pnl_usd for p in curve), abs=1e-6)
    assert m.total_pnl_usd == pytest.approx(curve[-1].equity_usd, abs=1e-6)
    assert m.max_drawdown_usd == -min(p.drawdown_usd for p in curve)
    assert m.max_drawdown_usd >= 0
    assert all(p.drawdown_usd <= 0 for p in curve)


_PROBE = """
import json, sys
import numpy
from importlib.metadata import packages_distributions
before = set(sys.modules)
import backtests.engine.metrics
new = {name.split(".")[0] for name in set(sys.modules) - before}
print(json.dumps({"django": any(n == "django" or n.startswith("django.") for n in sys.modules),
                  "packages": sorted(new & set(packages_distributions()))}))
"""


def test_metrics_imports_no_django_and_only_numpy() -> None:
    # A fresh interpreter: this test process already holds Django.
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["django"] is False
    assert set(report["packages"]) <= {"numpy"}, report["packages"]


_reasons = st.sampled_from(["take_profit", "stop_loss", "settlement", "time_exit", "manual", "expired"])


@settings(max_examples=200, deadline=None)
@given(trades=st.lists(st.builds(lambda d, p, c, r: trade(d, p, credit=c, reason=r),
                                 st.dates(dt.date(2025, 12, 20), dt.date(2026, 4, 10)), _pnl,
                                 st.floats(0.05, 20, allow_nan=False), _reasons), max_size=30), days=_days)
def test_the_summary_from_arrays_is_the_summary_of_the_trades(trades: list[ClosedTrade], days: list[dt.date]) -> None:
    """A sweep's assembly summarises every variant from arrays (no ClosedTrade per variant-trade):
    the same Metrics, bit for bit and in the same key order, as ``summarise`` of the trades."""
    import numpy as np

    alone = summarise(trades, days)
    arrays = summary_of(pnl_usd=np.array([t.pnl_usd for t in trades], dtype=np.float64),
                        entry_credit=np.array([t.entry_credit for t in trades], dtype=np.float64),
                        exits=dict(Counter(t.exit_reason for t in trades)), daily=daily_pnl(trades, days))
    assert arrays == alone == summarise(trades, days, daily=daily_pnl(trades, days))
    assert list(arrays.exits) == list(alone.exits)
    if trades:
        with pytest.raises(ValueError, match="same trades"):
            summary_of(pnl_usd=np.zeros(len(trades)), entry_credit=np.zeros(len(trades) + 1), exits={},
                       daily=np.zeros(len(days)))
