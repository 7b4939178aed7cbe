"""The parity report as a page: linked from a run and from the dashboard, identical or each difference."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backtests.models import BacktestRun
from backtests.tests.factories import BacktestRunFactory
from strategy.models import TradeDecision
from strategy.tests.factories import StrategyConfigFactory, TradeDecisionFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 16)


@pytest.fixture
def trader(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


def live_like_run() -> BacktestRun:
    run = BacktestRunFactory(done=True)
    run.params = {**run.params, "risk_scope": "shared", "exit_check_minutes": 5}
    run.save(update_fields=["params"])
    return run


def pair(run: BacktestRun, **backtest_fields: object) -> tuple[TradeDecision, TradeDecision]:
    config = StrategyConfigFactory()
    live = TradeDecisionFactory(trading_day=DAY, strategy_config=config)
    mine = TradeDecisionFactory(trading_day=DAY, strategy_config=config, backtest_run=run,
                                source=TradeDecision.Source.BACKTEST, **backtest_fields)
    return live, mine


def test_a_run_that_reproduces_live_reads_identical_and_is_linked(trader: Client) -> None:
    run = live_like_run()
    pair(run)
    html = trader.get(f"/backtests/{run.pk}/parity/").content.decode()
    assert 'id="parity-verdict">identical<' in html and "1 decisions, 0 trades" in html
    assert 'id="parity-setup"' not in html
    assert f'href="/backtests/{run.pk}/parity/"' in trader.get(f"/backtests/{run.pk}/").content.decode()
    assert 'href="/backtests/parity/"' in trader.get("/").content.decode()
    latest = trader.get("/backtests/parity/")
    assert latest.status_code == 302 and latest["Location"] == f"/backtests/{run.pk}/parity/"


def test_each_difference_is_listed_with_both_values(trader: Client) -> None:
    run = live_like_run()
    pair(run, reason_code="risk_limit")
    html = trader.get(f"/backtests/{run.pk}/parity/").content.decode()
    assert 'id="parity-verdict">1 difference<' in html
    row = html.split('<table id="parity-differences">')[1]
    assert "<code>reason_code</code>" in row and "stale_snapshot" in row and "risk_limit" in row


def test_a_run_not_set_up_like_live_says_so_and_missing_runs_404(trader: Client) -> None:
    run = BacktestRunFactory(done=True)  # per-strategy scope, exits every minute
    html = trader.get(f"/backtests/{run.pk}/parity/").content.decode()
    assert 'id="parity-setup"' in html and "No live decisions on this run" in html
    assert trader.get("/backtests/999999/parity/").status_code == 404
    none = trader.get("/backtests/parity/")
    assert none.status_code == 200 and 'id="parity-none"' in none.content.decode()
