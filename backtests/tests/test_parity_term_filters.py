"""The VIX-style entry filters on a day whose chains reach past 30 days, so vix30 and the 9d/30d
ratio are computed (the compact days list nothing 30 days out, so there they are missing): live
and the backtest read the same values, refuse and let through the same candidates, and trade the
same spreads."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from backtests.data import dbn_generate
from backtests.tests.parity_helpers import live_then_backtest, replay_market_in
from execution.models import Trade
from strategy.models import StrategyConfig, TradeDecision

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2026, 3, 16)
# The compact universe (backtests/tests/conftest.py) with expirations 34 days out: two bracket 30 days.
TERM = dbn_generate.UniverseParams(horizon_days=34, core_sigmas=1.5, core_min=0.015, core_max=0.03,
                                   tail_sigmas=2.0, tail_min=0.02, tail_max=0.04)


@pytest.fixture(scope="module")
def term_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return list(dbn_generate.generate_day(DAY, tmp_path_factory.mktemp("term-dbn"), params=TERM, compress=False).paths)


def _value(message: str) -> float:
    found = re.search(r"(vix30|vix_ratio_9d_30d) ([0-9.]+)", message)
    assert found, message
    return float(found.group(2))


def test_vix_and_term_ratio_filters_read_computed_values_alike_live_and_in_the_backtest(
        tmp_path: Path, settings, term_files: list[Path], seeded_grid: list) -> None:  # type: ignore[no-untyped-def]
    replay_market_in(tmp_path / "market-data", settings, term_files)
    StrategyConfig.objects.exclude(name__in=["3DTE put 10d", "3DTE call 10d", "5DTE put 10d"]).update(enabled=False)
    StrategyConfig.objects.filter(name="3DTE put 10d").update(vix_min=1, vix_max=99, term_ratio_min="0.2",
                                                              term_ratio_max=5, priority=1)
    StrategyConfig.objects.filter(name="3DTE call 10d").update(vix_max=5)  # far below any vix30 of the model
    StrategyConfig.objects.filter(name="5DTE put 10d").update(term_ratio_max="0.1")
    run, report = live_then_backtest((DAY,), context=True, every_minutes=30)
    assert report.decisions_compared == 3 * 3
    # Live captured every 30 minutes here (the 5-minute step of the other parity tests costs 6× the
    # captures), so the realised-vol features, which need the 5-minute samples of the last 30/60
    # minutes, are missing live; the backtest reads the minute data. No rule here reads them.
    rv = {"rv_30m", "rv_60m"}
    for d in report.differences:
        if d.field == "feature_missing":
            assert set(d.live) ^ set(d.backtest) <= rv, d
        else:
            assert d.field in {f"features.{name}" for name in rv} and d.live is None, d

    live = TradeDecision.objects.filter(backtest_run__isnull=True).select_related("strategy_config")
    for d in live:
        assert 5 < d.features["vix30"] < 99 and 0.2 < d.features["vix_ratio_9d_30d"] < 5, d.features
    for d in TradeDecision.objects.filter(backtest_run=run):
        twin = live.get(entry_window=d.entry_window, strategy_config=d.strategy_config)
        assert (d.features["vix30"], d.features["vix_ratio_9d_30d"]) == (
            twin.features["vix30"], twin.features["vix_ratio_9d_30d"])

    calls = live.filter(strategy_config__name="3DTE call 10d")
    # (A window whose chain gives no spread SKIPs at selection, before the filters.)
    assert calls.filter(reason_code="entry_filter").exists() and not calls.filter(action="TRADE").exists()
    for d in calls.filter(reason_code="entry_filter"):
        assert d.reason_message.startswith("vix_max: vix30 ") and d.reason_message.endswith("above max 5")
        assert _value(d.reason_message) == pytest.approx(d.features["vix30"], abs=1e-4)
    fives = live.filter(strategy_config__name="5DTE put 10d")
    assert fives.filter(reason_code="entry_filter").exists() and not fives.filter(action="TRADE").exists()
    for d in fives.filter(reason_code="entry_filter"):
        assert d.reason_message.startswith("term_ratio_max: vix_ratio_9d_30d ")
        assert _value(d.reason_message) == pytest.approx(d.features["vix_ratio_9d_30d"], abs=1e-4)
    puts = live.filter(strategy_config__name="3DTE put 10d")
    assert not puts.filter(reason_code="entry_filter").exists()  # inside both ranges: on to the rules
    assert puts.filter(action="TRADE").exists()
    assert report.trades_compared == Trade.objects.filter(backtest_run__isnull=True).count() >= 1
