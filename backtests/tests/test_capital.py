"""backtests.engine.capital: contracts sized by max loss as a fraction of capital, and the account's
figures, against small cases worked out by hand in each test's docstring. No database."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from backtests.engine.capital import (
    NOT_COVERED,
    OVER_BUDGET,
    TAKEN,
    SizingRule,
    TradeOutcome,
    capital_report,
    contracts_for,
    max_loss_per_contract_usd,
    nice_step,
    pnl_histogram,
    size_trades,
    sizing_errors,
)

NY = ZoneInfo("America/New_York")


def at(day: str, hhmm: str = "10:00") -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=NY)


def trade(entry: dt.datetime, exit_: dt.datetime, pnl: float, max_loss: float, book: str = "A") -> TradeOutcome:
    return TradeOutcome(book=book, entry_at=entry, exit_at=exit_, pnl_per_contract_usd=pnl,
                        max_loss_per_contract_usd=max_loss)


# ------------------------------------------------------------------------------------ the contracts rule

def test_max_loss_per_contract_is_width_minus_credit_times_100() -> None:
    """(25 − 1.20) × 100 = 2,380; (10 − 1.00) × 100 = 900; (25 − 23.70) × 100 = 130 exactly (float64
    gives 130.00000000000006 before the rounding to the cent)."""
    assert max_loss_per_contract_usd(25, 1.20) == 2380.0
    assert max_loss_per_contract_usd(10, 1.00) == 900.0
    assert max_loss_per_contract_usd(25, 23.70) == 130.0


def test_contracts_are_the_floor_of_the_budget_over_the_max_loss() -> None:
    """Budget 100,000 × 0.02 = 2,000: a 900 max loss → floor(2.22) = 2; 1,000 → exactly 2; 2,000 → 1;
    2,380 (25 wide at 1.20) → floor(0.84) = 0, not taken. 13,000 × 0.02 = 260 over 130 → 2 (the
    quotient of the unrounded 130.00000000000006 would be 1.9999999999999991)."""
    rule = SizingRule(capital_usd=100_000, risk_fraction=0.02)
    assert rule.budget_usd == 2000.0
    assert [contracts_for(v, rule) for v in (900.0, 1000.0, 2000.0, 2380.0, 2000.01)] == [2, 2, 1, 0, 0]
    assert contracts_for(130.00000000000006, SizingRule(capital_usd=13_000, risk_fraction=0.02)) == 2
    for bad in (0.0, -5.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="positive"):
            contracts_for(bad, rule)


@pytest.mark.parametrize(("capital", "fraction", "field"), [
    (0, 0.02, "capital_usd"), (-100_000, 0.02, "capital_usd"), (999.99, 0.02, "capital_usd"),
    (1e9 + 1, 0.02, "capital_usd"), (math.inf, 0.02, "capital_usd"), (math.nan, 0.02, "capital_usd"),
    (100_000, 0, "risk_fraction"), (100_000, -0.02, "risk_fraction"), (100_000, 1.5, "risk_fraction"),
    (100_000, math.nan, "risk_fraction"), (100_000, 0.00001, "risk_fraction"),
])
def test_inputs_out_of_range_are_refused_by_name(capital: float, fraction: float, field: str) -> None:
    errors = sizing_errors(capital, fraction)
    assert list(errors) == [field]
    with pytest.raises(ValueError, match="must be a number from"):
        SizingRule(capital_usd=capital, risk_fraction=fraction)


def test_the_range_ends_are_accepted() -> None:
    for capital, fraction in ((1_000, 0.0001), (1e9, 1.0), (100_000, 0.02)):
        assert sizing_errors(capital, fraction) == {}


# ------------------------------------------------------------------------------------ sizing a book

def test_over_budget_and_not_covered_trades_are_not_taken_and_counted() -> None:
    """Capital 1,000, fraction 1 → budget 1,000. Book A: t0 (max loss 1,000 → 1 contract) holds 1,000
    from 01-06 10:00 to 01-08 10:00; t1 enters 01-07 (max loss 500 → 2 contracts, risk 1,000) while
    equity − held = 1,000 − 1,000 = 0 → not covered; t2 enters 01-08 10:00, the instant t0 exits
    (+50): exits first, so 1,050 − 0 ≥ 1,000 → taken; t3's max loss 1,200 > 1,000 → 0 contracts,
    over budget. Book B's t4 overlaps t0 but has its own capital → taken (1 contract)."""
    trades = [
        trade(at("2025-01-06"), at("2025-01-08"), 50.0, 1000.0),
        trade(at("2025-01-07"), at("2025-01-07", "15:00"), 20.0, 500.0),
        trade(at("2025-01-08"), at("2025-01-08", "14:00"), 40.0, 1000.0),
        trade(at("2025-01-09"), at("2025-01-09", "14:00"), 40.0, 1200.0),
        trade(at("2025-01-06"), at("2025-01-07"), -300.0, 1000.0, book="B"),
    ]
    sized = size_trades(trades, SizingRule(capital_usd=1000, risk_fraction=1.0))
    assert [s.status for s in sized] == [TAKEN, NOT_COVERED, TAKEN, OVER_BUDGET, TAKEN]
    assert [s.contracts for s in sized] == [1, 0, 1, 0, 1]
    assert [s.pnl_usd for s in sized] == [50.0, 0.0, 40.0, 0.0, -300.0]
    report = capital_report(sized, rule=SizingRule(capital_usd=1000, risk_fraction=1.0), books=2,
                            first_day=dt.date(2025, 1, 6), last_day=dt.date(2025, 1, 10))
    assert (report.trades, report.taken, report.not_covered, report.over_budget) == (5, 3, 1, 1)
    assert report.capital_usd == 2000.0 and report.total_pnl_usd == -210.0


def test_bad_trades_are_refused() -> None:
    rule = SizingRule(capital_usd=10_000, risk_fraction=0.1)
    with pytest.raises(ValueError, match="before it enters"):
        size_trades([trade(at("2025-01-07"), at("2025-01-06"), 1.0, 100.0)], rule)
    with pytest.raises(ValueError, match="timezone-aware"):
        size_trades([trade(dt.datetime(2025, 1, 6, 10), dt.datetime(2025, 1, 6, 12), 1.0, 100.0)], rule)


# ------------------------------------------------------------------------------------ the account's figures

def hand_case() -> list[TradeOutcome]:
    """Capital 10,000, fraction 0.10 → budget 1,000; one book:
    t0 01-04 → 01-04 14:00, max loss 400 → 2 contracts × +50 = +100 (equity 10,100, the peak);
    t1 01-05 → 01-07 16:00, max loss 900 → 1 contract × −900 = −900 (9,200: drawdown 900 = 8.9109 %);
    t2 02-01 → 02-01 12:00, max loss 250 → 4 contracts × +125 = +500 (9,700: drawdown 400, 3.96 %);
    t3 02-02, max loss 1,100 → 0 contracts, over budget."""
    return [
        trade(at("2021-01-04"), at("2021-01-04", "14:00"), 50.0, 400.0),
        trade(at("2021-01-05"), at("2021-01-07", "16:00"), -900.0, 900.0),
        trade(at("2021-02-01"), at("2021-02-01", "12:00"), 125.0, 250.0),
        trade(at("2021-02-02"), at("2021-02-02", "12:00"), 80.0, 1100.0),
    ]


def test_hand_computed_account() -> None:
    """``hand_case`` over 2021-01-01..2024-12-31: 1,461 calendar days = 4.0 years of 365.25.
    Total −300, ROC −300 / 10,000 = −3 %; final 9,700; CAGR 0.97^(1/4) − 1 = 0.992414 − 1 = −0.758588 %;
    max drawdown 900 USD and 900 / 10,100 = 8.910891 %; MAR −0.00758588 / 0.0891089 = −0.085130;
    contracts 2, 1, 4 → min 1, max 4, total 7."""
    rule = SizingRule(capital_usd=10_000, risk_fraction=0.10)
    report = capital_report(size_trades(hand_case(), rule), rule=rule, books=1,
                            first_day=dt.date(2021, 1, 1), last_day=dt.date(2024, 12, 31))
    assert (report.calendar_days, report.years) == (1461, 4.0)
    assert (report.trades, report.taken, report.over_budget, report.not_covered) == (4, 3, 1, 0)
    assert (report.contracts_min, report.contracts_max, report.contracts_total) == (1, 4, 7)
    assert report.total_pnl_usd == -300.0 and report.final_equity_usd == 9700.0
    assert report.return_on_capital == pytest.approx(-0.03)
    assert report.cagr == pytest.approx(-0.00758588, abs=1e-8)
    assert report.max_drawdown_usd == 900.0
    assert report.max_drawdown_pct == pytest.approx(0.08910891, abs=1e-8)
    assert report.mar == pytest.approx(-0.0851305, abs=1e-7)
    assert [(p.equity_usd, p.drawdown_usd) for p in report.equity] == [(10100.0, 0.0), (9200.0, 900.0), (9700.0, 400.0)]


def test_monthly_returns_are_of_the_start_of_month_equity() -> None:
    """``hand_case`` over 2021-01-01..2021-03-31: January −800 of 10,000 = −8 %; February +500 of
    9,200 = 5.434783 %; March 0 of 9,700 = 0 %. The year: 9,700 / 10,000 − 1 = −3 %
    (= 0.92 × 1.0543478 × 1 − 1)."""
    rule = SizingRule(capital_usd=10_000, risk_fraction=0.10)
    report = capital_report(size_trades(hand_case(), rule), rule=rule, books=1,
                            first_day=dt.date(2021, 1, 1), last_day=dt.date(2021, 3, 31))
    assert [(m.year, m.month, m.start_equity_usd, m.pnl_usd) for m in report.monthly] == [
        (2021, 1, 10000.0, -800.0), (2021, 2, 9200.0, 500.0), (2021, 3, 9700.0, 0.0)]
    assert [m.return_pct for m in report.monthly] == pytest.approx([-0.08, 0.05434783, 0.0], abs=1e-8)
    assert report.yearly == {2021: pytest.approx(-0.03)}


def test_a_month_is_the_new_york_month_of_the_exit() -> None:
    """An exit at 2025-01-31 20:30 ET is 2025-02-01 01:30 UTC: it is January's (+100 of 10,000 = 1 %)."""
    rule = SizingRule(capital_usd=10_000, risk_fraction=0.10)
    exit_ = dt.datetime(2025, 2, 1, 1, 30, tzinfo=dt.UTC)
    report = capital_report(size_trades([trade(at("2025-01-31"), exit_, 100.0, 1000.0)], rule), rule=rule, books=1,
                            first_day=dt.date(2025, 1, 2), last_day=dt.date(2025, 2, 28))
    assert [(m.month, m.pnl_usd, m.return_pct) for m in report.monthly] == [(1, 100.0, 0.01), (2, 0.0, 0.0)]


def test_no_trades() -> None:
    """Nothing traded: PnL 0, ROC 0, CAGR (1)^(1/y) − 1 = 0, no drawdown, MAR undefined, every month
    of the period at 0 %, an empty histogram."""
    rule = SizingRule(capital_usd=100_000, risk_fraction=0.02)
    report = capital_report([], rule=rule, books=3, first_day=dt.date(2025, 3, 3), last_day=dt.date(2025, 4, 30))
    assert report.capital_usd == 300_000.0 and report.final_equity_usd == 300_000.0
    assert (report.trades, report.taken, report.total_pnl_usd, report.return_on_capital, report.cagr) == (0, 0, 0.0, 0.0, 0.0)
    assert (report.max_drawdown_usd, report.max_drawdown_pct, report.mar) == (0.0, 0.0, None)
    assert (report.contracts_min, report.contracts_max, report.contracts_total) == (None, None, 0)
    assert [(m.month, m.return_pct) for m in report.monthly] == [(3, 0.0), (4, 0.0)]
    assert report.histogram.edges_usd == () and report.histogram.bin_usd is None and report.equity == ()


def test_all_losses() -> None:
    """Capital 10,000, fraction 0.05 → budget 500; three trades with max loss 250 → 2 contracts each,
    losing −100, −50, −250 per contract → −200, −100, −500: equity 9,800, 9,700, 9,200. The peak stays
    the capital: max drawdown 800 = 8 %, ROC −8 %; one calendar year 2023 (365 / 365.25 years):
    CAGR 0.92^(365.25/365) − 1 = e^(−0.0833816 × 1.000685) − 1 = −8.0053 %; MAR −0.080053 / 0.08 = −1.000657."""
    rule = SizingRule(capital_usd=10_000, risk_fraction=0.05)
    trades = [trade(at(d), at(d, "15:00"), pnl, 250.0) for d, pnl in
              (("2023-03-01", -100.0), ("2023-03-02", -50.0), ("2023-06-01", -250.0))]
    report = capital_report(size_trades(trades, rule), rule=rule, books=1,
                            first_day=dt.date(2023, 1, 1), last_day=dt.date(2023, 12, 31))
    assert [s.contracts for s in size_trades(trades, rule)] == [2, 2, 2]
    assert [p.equity_usd for p in report.equity] == [9800.0, 9700.0, 9200.0]
    assert report.max_drawdown_usd == 800.0 and report.max_drawdown_pct == pytest.approx(0.08)
    assert report.return_on_capital == pytest.approx(-0.08)
    assert report.cagr == pytest.approx(0.92 ** (365.25 / 365) - 1) == pytest.approx(-0.0800525, abs=1e-7)
    assert report.mar == pytest.approx(-1.000657, abs=1e-6)
    assert report.histogram.counts and all(e <= 0 for e in report.histogram.edges_usd)


def test_a_drawdown_to_zero_capital_stops_the_book() -> None:
    """Capital 1,000, fraction 1: the first trade (max loss 1,000 → 1 contract) loses all of it;
    equity 0, so the next one (max loss 500 → 2 contracts, risk 1,000) is not covered. ROC −100 %,
    CAGR −100 %, max drawdown 1,000 = 100 %, MAR −1 / 1 = −1. February starts at equity 0: its
    return is undefined; the year 2025 went from 1,000 to 0: −100 %."""
    rule = SizingRule(capital_usd=1000, risk_fraction=1.0)
    trades = [trade(at("2025-01-06"), at("2025-01-06", "15:00"), -1000.0, 1000.0),
              trade(at("2025-02-03"), at("2025-02-03", "15:00"), 100.0, 500.0)]
    sized = size_trades(trades, rule)
    assert [s.status for s in sized] == [TAKEN, NOT_COVERED]
    report = capital_report(sized, rule=rule, books=1, first_day=dt.date(2025, 1, 2), last_day=dt.date(2025, 2, 28))
    assert (report.final_equity_usd, report.return_on_capital, report.cagr) == (0.0, -1.0, -1.0)
    assert (report.max_drawdown_usd, report.max_drawdown_pct, report.mar) == (1000.0, 1.0, -1.0)
    assert [m.return_pct for m in report.monthly] == [-1.0, None]
    assert report.yearly == {2025: -1.0}


def test_a_single_month() -> None:
    """One month, two books of 50,000 (capital 100,000), fraction 0.02 → budget 1,000 each; each trades
    once (max loss 480 → 2 contracts): +40 × 2 = +80 in A, −480 × 2 = −960 in B, both exiting at 15:00
    on 2025-06-10: one equity point, 100,000 − 880 = 99,120 (drawdown 880 = 0.88 %, not 960).
    June: −880 of 100,000 = −0.88 %. Period 06-02..06-30 = 29 days."""
    rule = SizingRule(capital_usd=50_000, risk_fraction=0.02)
    trades = [trade(at("2025-06-10"), at("2025-06-10", "15:00"), 40.0, 480.0, book="A"),
              trade(at("2025-06-10", "11:00"), at("2025-06-10", "15:00"), -480.0, 480.0, book="B")]
    report = capital_report(size_trades(trades, rule), rule=rule, books=2,
                            first_day=dt.date(2025, 6, 2), last_day=dt.date(2025, 6, 30))
    assert report.calendar_days == 29 and len(report.monthly) == 1
    assert [(p.equity_usd, p.drawdown_usd) for p in report.equity] == [(99120.0, 880.0)]
    assert report.max_drawdown_pct == pytest.approx(0.0088)
    assert report.monthly[0].return_pct == pytest.approx(-0.0088)
    assert report.cagr == pytest.approx(0.9912 ** (365.25 / 29) - 1)


def test_the_period_reaches_the_last_exit() -> None:
    """A trade entered on the run's last day (2025-03-31) settles 2025-04-04: the period and the
    months run to April (2025-03-03..2025-04-04 = 33 days)."""
    rule = SizingRule(capital_usd=10_000, risk_fraction=0.1)
    report = capital_report(size_trades([trade(at("2025-03-31"), at("2025-04-04", "16:00"), 60.0, 400.0)], rule),
                            rule=rule, books=1, first_day=dt.date(2025, 3, 3), last_day=dt.date(2025, 3, 31))
    assert (report.last_day, report.calendar_days) == (dt.date(2025, 4, 4), 33)
    assert [(m.month, m.pnl_usd) for m in report.monthly] == [(3, 0.0), (4, 120.0)]


def test_a_cagr_too_large_for_float64_is_undefined() -> None:
    """Capital 1,000 at fraction 1, a max loss of 10 → 100 contracts × +490 = +49,000 in one day: the
    equity × 50, annualised over 1 / 365.25 year, is 50^365.25 ≈ 10^620: None (and so is MAR)."""
    rule = SizingRule(capital_usd=1000, risk_fraction=1.0)
    report = capital_report(size_trades([trade(at("2025-01-06"), at("2025-01-06", "15:00"), 490.0, 10.0)], rule),
                            rule=rule, books=1, first_day=dt.date(2025, 1, 6), last_day=dt.date(2025, 1, 6))
    assert report.return_on_capital == 49.0 and report.cagr is None and report.mar is None


def test_as_dict_is_json_ready() -> None:
    import json

    rule = SizingRule(capital_usd=10_000, risk_fraction=0.10)
    report = capital_report(size_trades(hand_case(), rule), rule=rule, books=1,
                            first_day=dt.date(2021, 1, 1), last_day=dt.date(2021, 3, 31))
    out = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    assert out["return_on_capital"] == -0.03 and out["max_drawdown_usd"] == 900.0 and out["over_budget"] == 1
    assert out["monthly"][1] == {"year": 2021, "month": 2, "start_equity_usd": 9200.0, "pnl_usd": 500.0,
                                 "return_pct": 0.054348}
    assert out["histogram"]["bin_usd"] == 100.0 and sum(out["histogram"]["counts"]) == 3


# ------------------------------------------------------------------------------------ the histogram

def test_nice_steps() -> None:
    assert [nice_step(v) for v in (12.5, 0.4, 3.0, 2.2, 7.0, 100.0)] == [20.0, 0.5, 5.0, 2.5, 10.0, 100.0]


def test_histogram_bins_are_fixed_width_on_multiples_of_the_step() -> None:
    """[−132.60, 57.40, 62.40, 72.40, 117.40]: span 250 / 20 bins = 12.5 → step 20. Bins
    floor(v / 20): −7, 2, 3, 3, 5 → edges −140, −120, …, 120 (13 bins); counts 1 in [−140, −120),
    1 in [40, 60), 2 in [60, 80), 1 in [100, 120)."""
    h = pnl_histogram([-132.60, 57.40, 62.40, 72.40, 117.40])
    assert h.bin_usd == 20.0
    assert h.edges_usd == tuple(float(v) for v in range(-140, 121, 20))
    assert h.counts == (1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1)


def test_histogram_edges_are_half_open_and_zero_is_an_edge() -> None:
    """[0, 20, 40] in 2 bins: step 20; each value opens its own bin [v, v + 20): 0 | 20 | 40, edges
    0, 20, 40, 60. [−0.3, 0.3] in 20 bins: step 0.6 / 20 = 0.03 (nice: 0.05); −0.3 is in [−0.30, −0.25),
    0.3 in [0.30, 0.35) despite 0.3 / 0.05 = 5.999999999999999; 0 is an edge."""
    h = pnl_histogram([0.0, 20.0, 40.0], bins=2)
    assert (h.edges_usd, h.counts) == ((0.0, 20.0, 40.0, 60.0), (1, 1, 1))
    h = pnl_histogram([-0.3, 0.3])
    assert h.bin_usd == 0.05 and h.edges_usd[0] == -0.3 and h.edges_usd[-1] == 0.35 and 0.0 in h.edges_usd
    assert h.counts[0] == 1 and h.counts[-1] == 1 and sum(h.counts) == 2


def test_histogram_of_equal_values() -> None:
    """[57.40]: span taken as 57.4 → 57.4 / 20 = 2.87 → step 5: one bin [55, 60). [0, 0]: span 1 →
    step 0.05: [0, 0.05) holds both."""
    assert pnl_histogram([57.40]) == pnl_histogram([57.40])
    h = pnl_histogram([57.40])
    assert (h.edges_usd, h.counts, h.bin_usd) == ((55.0, 60.0), (1,), 5.0)
    h = pnl_histogram([0.0, 0.0])
    assert (h.edges_usd, h.counts) == ((0.0, 0.05), (2,))
    with pytest.raises(ValueError, match="finite"):
        pnl_histogram([1.0, math.nan])


def test_the_module_imports_no_django() -> None:
    code = "import sys, backtests.engine.capital; print(any(m.split('.')[0] == 'django' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
