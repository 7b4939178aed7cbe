"""CSV downloads: trades, decisions, a run's trades and its bucket table — every row the filters
select (not one page), the stored values unformatted, bad filters reported on the page instead."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution.models import Trade
from execution.tests.factories import TradeFactory
from strategy.models import TradeDecision

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


def table(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_trades_csv_keeps_the_filters_and_every_page(trader: Client) -> None:
    run = BacktestRunFactory(done=True)
    live = [TradeFactory(closed=True, opened_at=dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)) for _ in range(3)]
    ours = [backtest_trade(run, day=dt.date(2026, 3, 16) + dt.timedelta(days=i % 5)) for i in range(60)]
    default = table(trader.get("/trades/?format=csv"))
    assert {int(r["trade_id"]) for r in default} == {t.pk for t in live}  # live sources, as the page
    rows = table(trader.get(f"/trades/?run={run.pk}&format=csv"))
    assert len(rows) == 60 and {int(r["trade_id"]) for r in rows} == {t.pk for t in ours}  # past the 50-row page
    first = Trade.objects.get(pk=rows[0]["trade_id"])
    assert rows[0]["realized_pnl_usd"] == str(first.realized_pnl_usd) and rows[0]["source"] == "backtest"
    assert rows[0]["backtest_run_id"] == str(run.pk) and rows[0]["opened_at"].endswith(("-04:00", "-05:00"))
    bad = trader.get("/trades/?status=maybe&format=csv")
    assert bad["Content-Type"].startswith("text/html") and b"status must be one of" in bad.content
    page = trader.get(f"/trades/?run={run.pk}").content.decode()
    assert f'href="/trades/?run={run.pk}&amp;format=csv"' in page


def test_decisions_csv_has_one_line_per_decision(trader: Client) -> None:
    run = BacktestRunFactory(done=True)
    for i in range(4):
        backtest_trade(run, day=dt.date(2026, 3, 16) + dt.timedelta(days=i))
    TradeDecision.objects.filter(backtest_run=run).update(legs=[{"side": "sell", "strike": 5900.0}, {"side": "buy", "strike": 5875.0}])
    rows = table(trader.get(f"/decisions/?run={run.pk}&action=TRADE&format=csv"))
    decisions = TradeDecision.objects.filter(backtest_run=run, action="TRADE")
    assert {int(r["decision_id"]) for r in rows} == set(decisions.values_list("pk", flat=True)) and len(rows) == 4
    d = decisions.get(pk=rows[0]["decision_id"])
    assert rows[0]["credit_fill"] == str(d.credit_fill) and (rows[0]["short_strike"], rows[0]["long_strike"]) == ("5900.0", "5875.0")
    assert table(trader.get("/decisions/?format=csv")) == []  # live sources only by default: none here


def test_a_runs_bucket_table_downloads_with_its_stored_figures(trader: Client) -> None:
    run = BacktestRunFactory(done=True)
    rows = table(trader.get(f"/backtests/{run.pk}/buckets.csv"))
    buckets = run.metrics["buckets"]
    assert len(rows) == len(buckets) > 0
    by_name = {b["bucket"]: b for b in buckets}
    for row in rows:
        stored = by_name[row["bucket"]]
        assert Decimal(row["total_pnl_usd"]) == Decimal(str(stored["total_pnl_usd"])) and row["trades"] == str(stored["trades"])
    assert trader.get("/backtests/999999/buckets.csv").status_code == 404
    assert f'href="/backtests/{run.pk}/buckets.csv"' in trader.get(f"/backtests/{run.pk}/").content.decode()
