"""The live lists (/trades/, /decisions/) against a finished backtest: live sources by default, backtest
rows behind the source or run filter with a link to their run, newest entry first, paginated with
the filters kept, and a backtest trade's page naming its run."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution.models import Trade
from execution.tests.factories import TradeFactory
from strategy.models import TradeDecision
from strategy.tests.factories import TradeDecisionFactory

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")


@pytest.fixture
def trader(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


def rows(html: str, prefix: str) -> list[int]:
    return [int(pk) for pk in re.findall(rf'<tr id="{prefix}-(\d+)"', html)]


@pytest.fixture
def books() -> dict[str, list[Trade]]:
    """Two simulated trades and three trades of a finished run (one still open when its data ended)."""
    run = BacktestRunFactory(done=True)
    live = [TradeFactory(opened_at=dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)),
            TradeFactory(closed=True, opened_at=dt.datetime(2026, 11, 19, 15, 0, tzinfo=dt.UTC))]
    backtest = [backtest_trade(run, day=dt.date(2026, 3, 16)), backtest_trade(run, day=dt.date(2026, 3, 17)),
                backtest_trade(run, day=dt.date(2026, 3, 18), status=Trade.Status.OPEN_AT_END, closed_at=None,
                               exit_reason="", exit_debit=None, realized_pnl_usd=None)]
    return {"live": live, "backtest": backtest}


def test_trade_list_shows_live_sources_by_default(books, trader: Client) -> None:  # type: ignore[no-untyped-def]
    html = trader.get("/trades/").content.decode()
    assert set(rows(html, "trade")) == {t.pk for t in books["live"]}
    assert "/backtests/" not in re.search(r'<table id="trade-table">.*?</table>', html, re.S).group(0)
    assert "simulated" in html  # the source column


def test_trade_list_source_and_run_filters_bring_backtests_in_with_a_run_link(books, trader: Client) -> None:  # type: ignore[no-untyped-def]
    run_id = books["backtest"][0].backtest_run_id
    backtest = trader.get("/trades/?source=backtest").content.decode()
    assert set(rows(backtest, "trade")) == {t.pk for t in books["backtest"]}
    assert backtest.count(f'class="run-link" href="/backtests/{run_id}/"') == 3
    everything = trader.get("/trades/?source=all").content.decode()
    assert set(rows(everything, "trade")) == {t.pk for t in books["live"] + books["backtest"]}
    by_run = trader.get(f"/trades/?run={run_id}").content.decode()
    assert set(rows(by_run, "trade")) == {t.pk for t in books["backtest"]}
    assert rows(trader.get(f"/trades/?run={run_id + 1}").content.decode(), "trade") == []
    bad = trader.get("/trades/?run=last")
    assert bad.status_code == 200 and b"run must be a backtest run id" in bad.content


def test_backtest_trade_status_reads_closed_or_open_at_end_not_open(books, trader: Client) -> None:  # type: ignore[no-untyped-def]
    html = trader.get("/trades/?source=backtest").content.decode()
    statuses = re.findall(r'<span class="pill" title="[^"]*">([^<]*)</span>', html)
    assert sorted(statuses) == ["closed", "closed", "open at end of data"]
    assert rows(trader.get("/trades/?source=backtest&status=open").content.decode(), "trade") == []
    ended = books["backtest"][2]
    assert rows(trader.get("/trades/?source=backtest&status=open_at_end").content.decode(), "trade") == [ended.pk]


def test_trade_list_sorts_by_entry_time_newest_first(trader: Client) -> None:
    at = [dt.datetime(2026, 11, d, 15, 0, tzinfo=dt.UTC) for d in (18, 20, 19)]
    made = [TradeFactory(opened_at=t) for t in at]  # ids in another order than the entry times
    unfilled = TradeFactory(status=Trade.Status.NOT_FILLED, opened_at=None, entry_credit=None,
                            decision__decided_at=dt.datetime(2026, 11, 19, 16, 0, tzinfo=dt.UTC))
    assert rows(trader.get("/trades/").content.decode(), "trade") == [made[1].pk, unfilled.pk, made[2].pk, made[0].pk]


def test_trade_list_paginates_and_page_links_keep_the_filters(trader: Client) -> None:
    trades = [TradeFactory(closed=True, opened_at=dt.datetime(2026, 1, 1, 15, 0, tzinfo=dt.UTC) + dt.timedelta(days=i))
              for i in range(55)]
    TradeFactory()  # open: filtered out
    first = trader.get("/trades/?status=closed").content.decode()
    assert len(rows(first, "trade")) == 50 and "page 1 of 2" in first
    assert 'href="/trades/?status=closed&amp;page=2"' in first and 'hx-get="/trades/?status=closed&amp;page=2"' in first
    second = trader.get("/trades/?status=closed&page=2", headers={"HX-Request": "true"}).content.decode()
    assert second.lstrip().startswith('<div id="trade-panel"')
    assert rows(second, "trade") == [t.pk for t in reversed(trades[:5])]
    assert 'href="/trades/?status=closed&amp;page=1"' in second
    # A page number past the end or not a number gives the nearest page, never an error.
    assert rows(trader.get("/trades/?status=closed&page=99").content.decode(), "trade") == rows(second, "trade")
    assert len(rows(trader.get("/trades/?status=closed&page=x").content.decode(), "trade")) == 50


def test_backtest_trade_page_names_its_run_and_explains_its_marks(books, trader: Client) -> None:  # type: ignore[no-untyped-def]
    trade = books["backtest"][2]
    html = trader.get(f"/trades/{trade.pk}/").content.decode()
    box = re.search(r'<div class="box" id="trade-run">(.*?)</div>', html, re.S).group(1)
    assert f'href="/backtests/{trade.backtest_run_id}/">run #{trade.backtest_run_id}' in box
    assert "one per day it was held" in box and "data ended before this trade" in box
    live = trader.get(f"/trades/{books['live'][0].pk}/").content.decode()
    assert 'id="trade-run"' not in live
    # A trade whose data ended does not change any more: the partial stops polling.
    assert trader.get(f"/trades/{trade.pk}/", headers={"HX-Request": "true"}).status_code == 286


# ------------------------------------------------------------------------------------ decisions

def test_decision_list_shows_live_decisions_by_default_and_backtests_with_the_filter(books, trader: Client) -> None:  # type: ignore[no-untyped-def]
    live = {t.decision_id for t in books["live"]}
    backtest = {t.decision_id for t in books["backtest"]}
    run_id = books["backtest"][0].backtest_run_id
    assert set(rows(trader.get("/decisions/").content.decode(), "decision")) == live
    html = trader.get("/decisions/?source=backtest").content.decode()
    assert set(rows(html, "decision")) == backtest
    assert html.count(f'class="run-link" href="/backtests/{run_id}/"') == 3
    assert set(rows(trader.get(f"/decisions/?run={run_id}").content.decode(), "decision")) == backtest
    assert set(rows(trader.get("/decisions/?source=all").content.decode(), "decision")) == live | backtest
    bad = trader.get("/decisions/?source=paper&run=x")
    assert bad.status_code == 200 and rows(bad.content.decode(), "decision") == []
    assert b"source must be one of live, live_paper, simulated, backtest, all" in bad.content
    assert b"run must be a backtest run id" in bad.content


def test_decision_list_sorts_by_decided_time_newest_first(trader: Client) -> None:
    def at(day: int, hour: int) -> TradeDecision:
        d = dt.date(2026, 11, day)
        return TradeDecisionFactory(trading_day=d, entry_window=dt.time(hour, 0), reason_code=f"r{day}{hour}",
                                    decided_at=dt.datetime.combine(d, dt.time(hour, 0, 5), tzinfo=NY))
    made = [at(18, 11), at(19, 10), at(18, 12), at(19, 12)]
    assert rows(trader.get("/decisions/").content.decode(), "decision") == [made[3].pk, made[1].pk, made[2].pk, made[0].pk]


def _window(day: dt.date, hour: int, *, skips: int, reason: str = "risk_limit", trades: int = 1) -> list[TradeDecision]:
    decided = dt.datetime.combine(day, dt.time(hour, 0, 5), tzinfo=NY)
    made = [TradeDecisionFactory(trading_day=day, entry_window=dt.time(hour, 0), decided_at=decided,
                                 action=TradeDecision.Action.TRADE, reason_code="ok") for _ in range(trades)]
    made += [TradeDecisionFactory(trading_day=day, entry_window=dt.time(hour, 0), decided_at=decided, reason_code=reason,
                                  reason_message="max open trades 1 reached") for _ in range(skips)]
    return made


def test_decision_list_groups_the_skips_of_a_window_by_reason(trader: Client) -> None:
    day = dt.date(2026, 11, 18)
    ten = _window(day, 10, skips=35)
    lone = _window(day, 10, skips=1, reason="stale_snapshot", trades=0)[0]
    eleven = _window(day, 11, skips=3, trades=0)
    html = trader.get("/decisions/").content.decode()
    groups = re.findall(r'<tr class="skip-group" id="skips-(\d+)-(\d+)-simulated-(\w+)">.*?<b class="skip-count">(\d+)</b>',
                        html, re.S)
    assert groups == [("20261118", "1100", "risk_limit", "3"), ("20261118", "1000", "risk_limit", "35")]
    assert "<b>risk limit</b>" in html and "<details" in html  # the label, expandable
    # Every decision stays reachable: the grouped ones inside their <details>, the TRADE and the lone SKIP as rows.
    assert set(rows(html, "decision")) == {d.pk for d in ten + eleven + [lone]}
    top_level = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    assert set(rows(top_level, "decision")) == {ten[0].pk, lone.pk}
    # Filters still work on the grouped list.
    trades_only = trader.get("/decisions/?action=TRADE").content.decode()
    assert rows(trades_only, "decision") == [ten[0].pk] and "skip-group" not in trades_only
    stale = trader.get("/decisions/?reason=stale_snapshot").content.decode()
    assert rows(stale, "decision") == [lone.pk]
    at_eleven = trader.get(f"/decisions/?day={day}&action=SKIP&reason=risk_limit").content.decode()
    assert re.findall(r'<b class="skip-count">(\d+)</b>', at_eleven) == ["3", "35"]


def test_decision_list_paginates_by_whole_windows_and_keeps_the_filters(trader: Client) -> None:
    days = [dt.date(2026, 11, 2) + dt.timedelta(days=i) for i in range(4)]  # Mon..Thu, 12 windows
    for day in days:
        for hour in (10, 11, 12):
            _window(day, hour, skips=2, trades=1)
    first = trader.get("/decisions/?action=SKIP").content.decode()
    assert "page 1 of 2" in first and 'href="/decisions/?action=SKIP&amp;page=2"' in first
    assert len(re.findall(r'class="skip-group"', first)) == 9
    second = trader.get("/decisions/?action=SKIP&page=2", headers={"HX-Request": "true"}).content.decode()
    assert second.lstrip().startswith('<div id="decision-table"') and "<html" not in second
    counts = re.findall(r'id="skips-(\d+)-(\d+)-simulated-risk_limit">.*?<b class="skip-count">(\d+)</b>', second, re.S)
    assert counts == [("20261102", "1200", "2"), ("20261102", "1100", "2"), ("20261102", "1000", "2")]
    assert "TRADE</td>" not in second  # the action filter holds on page 2
