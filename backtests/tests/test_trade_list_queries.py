"""The trades lists under volume (bench/README.md "Load"): their queries do not grow with the rows,
the list query joins neither the run (its metrics JSON came back once per row) nor the decision
(the sort read every decision), and the trades page reads the closed trades once for its three
summaries. Here, not in execution/tests, because the lists hold a backtest run's trades too and
execution may not import the run's factories."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backtests.models import BacktestRun
from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution import selectors
from execution.models import Source, Trade
from execution.tests.factories import TradeFactory
from snapshots.tests.factories import read_token_client

pytestmark = pytest.mark.django_db


def _grow(run: BacktestRun, start: int, n: int) -> None:
    """``n`` more live trades (closed, simulated; every fifth live paper) and ``n`` more trades of ``run``."""
    for i in range(start, start + n):
        TradeFactory(closed=True, decision__source=Source.LIVE_PAPER if i % 5 == 0 else Source.SIMULATED,
                     opened_at=dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC) + dt.timedelta(days=i))
        backtest_trade(run, day=dt.date(2025, 1, 6) + dt.timedelta(days=i))


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_trade_lists_queries_do_not_grow_with_rows(client, django_user_model, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client.force_login(django_user_model.objects.create_user("trader", password="pw"))
    api = read_token_client()
    run = BacktestRunFactory(done=True)
    _grow(run, 0, 3)
    urls = [(client, "/trades/"), (client, f"/trades/?run={run.pk}"), (client, "/trades/?source=simulated"),
            (api, "/api/trades"), (api, "/api/trades?source=backtest"), (api, f"/api/backtests/{run.pk}/trades")]
    [_queries(c, url) for c, url in urls]  # once first: the token's last use is stamped on its first call
    few = [_queries(c, url) for c, url in urls]
    _grow(run, 3, 40)
    assert [_queries(c, url) for c, url in urls] == few
    with django_assert_max_num_queries(8):  # session, user, closed trades, count, page, configs (+ savepoints)
        client.get(f"/trades/?run={run.pk}&page=1")


def test_trade_list_reads_neither_the_run_nor_the_decisions() -> None:
    run = BacktestRunFactory(done=True)
    _grow(run, 0, 2)
    never = TradeFactory(status=Trade.Status.NOT_FILLED, opened_at=None,
                         decision__decided_at=dt.datetime(2027, 1, 4, 15, 0, tzinfo=dt.UTC))
    sql = str(selectors.trade_list(limit=None).query)
    assert "backtests_backtestrun" not in sql and 'JOIN "trade_decisions"' not in sql
    rows = list(selectors.trade_list(limit=None))
    # Newest entry first: a trade never filled sorts by its decision's time, and shows it.
    assert rows[0] == never and rows[0].entry_at == never.decision.decided_at
    assert [t.entry_at for t in rows] == sorted((t.entry_at for t in rows), reverse=True)
    assert all(t.entry_at == t.opened_at for t in rows[1:])


def test_trades_page_summaries_come_from_one_read_and_match_each_source() -> None:
    run = BacktestRunFactory(done=True)
    _grow(run, 0, 12)
    books = (Source.LIVE_PAPER, Source.SIMULATED)
    with CaptureQueriesContext(connection) as queries:
        stats, buckets = selectors.pnl_summaries(books)
    assert len(queries) == 1
    assert stats == {s: selectors.pnl_summary(source=s)[0] for s in books}
    assert buckets == selectors.pnl_summary()[1]
    assert selectors.pnl_summaries(books, bucket_source=Source.SIMULATED)[1] == \
        selectors.pnl_summary(source=Source.SIMULATED)[1]
    assert stats[Source.LIVE_PAPER].trades + stats[Source.SIMULATED].trades == 12
    # The bucket label is the one bucket_of gives a trade (DTE, frozen delta, window, side).
    trade = Trade.objects.filter(backtest_run=None).select_related("decision", "strategy_config").first()
    assert trade is not None and selectors.bucket_of(trade) in buckets
