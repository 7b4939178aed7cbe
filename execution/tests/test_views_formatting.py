"""One money format, labels for codes and ET times (UTC on hover) on the trade pages; the filters themselves."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.test import Client

from execution.tests.factories import FillFactory, OrderFactory, TradeFactory
from snapshots.formatting import usd_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("1980"), "$1,980.00"), (Decimal("-1980"), "-$1,980.00"), (Decimal("3670.5"), "$3,670.50"),
    (Decimal("0.005"), "$0.01"), (Decimal("-0.004"), "$0.00"),  # half up, and no "-$0.00"
    (Decimal("1234567.891"), "$1,234,567.89"), (0.1 + 0.2, "$0.30"), (-132.6, "-$132.60"), (None, ""), ("", ""),
])
def test_usd_is_the_one_money_format(value: object, text: str) -> None:
    assert usd_text(value) == text


def test_label_and_et_filters() -> None:
    html = Template('{% load spx_format %}{{ a|label }}|{{ b|label }}|{{ c|label }}|{{ t|et }}|{{ t|et:"H:i" }}').render(
        Context({"a": "call_credit", "b": "stop_loss", "c": "some_new_code",
                 "t": dt.datetime(2026, 7, 1, 14, 5, tzinfo=dt.UTC)}))
    assert html.split("|")[:3] == ["call credit", "stop loss", "some new code"]
    # 14:05 UTC is 10:05 EDT in July; the hover says UTC.
    assert '<time datetime="2026-07-01T14:05:00+00:00" title="2026-07-01 14:05:00 UTC">2026-07-01 10:05</time>' in html
    assert html.endswith('title="2026-07-01 14:05:00 UTC">10:05</time>')


def test_trade_pages_show_labels_money_and_et_times(trader: Client) -> None:
    trade = TradeFactory(closed=True, exit_reason="stop_loss", exit_debit=Decimal("21.00"),
                         realized_pnl_usd=Decimal("-1980.00"), max_loss_usd=Decimal("2380.00"),
                         opened_at=dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC))
    listing = trader.get("/trades/").content.decode()
    row = re.search(rf'<tr id="trade-{trade.pk}">(.*?)</tr>', listing, re.S).group(1)
    assert '>-$1,980.00</td>' in row and "put credit" in row and "stop loss" in row
    assert "put_credit" not in row and "stop_loss" not in row
    # 15:00 UTC in November is 10:00 EST.
    assert 'title="2026-11-20 15:00:00 UTC">2026-11-20 10:00</time>' in row
    entry = OrderFactory(trade=trade)
    FillFactory(order=entry)
    detail = trader.get(f"/trades/{trade.pk}/").content.decode()
    assert "-$1,980.00" in detail and "max loss $2,380.00" in detail and "exit stop loss" in detail
    assert re.search(r'<div class="scroll">\s*<table id="order-table">', detail)  # the wide table scrolls, not the page
    assert 'id="leg-price-note"' in detail and "Exit price" not in detail  # no per-leg exit prices: explained, not blank


def test_decision_page_shows_money_and_labels(trader: Client) -> None:
    trade = TradeFactory(decision__max_profit_usd=Decimal("120.00"), decision__max_loss_usd=Decimal("1980.00"),
                         decision__legs=[{"side": "sell", "strike": 5900, "symbol": "X"}, {"side": "buy", "strike": 5875, "symbol": "Y"}])
    html = trader.get(f"/decisions/{trade.decision_id}/").content.decode()
    assert "max profit $120.00 · max loss $1,980.00" in html
    assert 'title="2026-11-20 15:00:00 UTC">10:00:00</time> ET' in html


def test_dashboard_shows_spx_and_vix_with_time_and_snapshot_link(trader: Client) -> None:
    from snapshots.models import ContextSnapshot
    from snapshots.tests.factories import ChainSnapshotFactory

    assert b"No SPX or VIX level yet" in trader.get("/").content
    ts = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    older = ContextSnapshot.objects.create(ts=ts - dt.timedelta(minutes=5), underlying="SPX", provider="simulated",
                                           spx_price=Decimal("5990.00"), vix_price=Decimal("17.00"))
    chain = ChainSnapshotFactory(ts=ts)
    latest = ContextSnapshot.objects.create(ts=ts, underlying="SPX", provider="simulated", spx_price=Decimal("6012.34"),
                                            vix_price=Decimal("16.20"), vix30_own=16.43)
    latest.chain_snapshots.add(chain)
    html = trader.get("/").content.decode()
    levels = re.search(r'<span id="market-levels">(.*?)</span>\s*</div>', html, re.S).group(1)
    assert '<b id="spx-level">6012.34</b>' in levels and '<b id="vix-level">16.20</b>' in levels
    assert '<b id="vix-own">16.43</b>' in levels and str(older.spx_price) not in levels
    assert f'href="/snapshots/{chain.pk}/"' in levels and 'title="2026-11-20 15:00:00 UTC">11-20 10:00</time> ET' in levels


# Every ``et`` format the templates use, plus a character the fast path does not know (F: month name).
ET_FORMATS = ["Y-m-d H:i", "D Y-m-d H:i:s", "D m-d H:i", "H:i:s", "Y-m-d H:i:s", "m-d H:i", "m-d H:i:s", "F j, Y"]


@pytest.mark.parametrize("fmt", ET_FORMATS)
@pytest.mark.parametrize("instant", [
    dt.datetime(2026, 3, 9, 14, 5, 7, tzinfo=dt.UTC),  # Monday after the spring-forward Sunday: 10:05:07 EDT
    dt.datetime(2026, 11, 27, 18, 0, 0, tzinfo=dt.UTC),  # Friday after Thanksgiving, EST: 13:00:00
    dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # New York still on Thursday the 31st
])
def test_the_et_filter_writes_what_django_dateformat_writes(fmt: str, instant: dt.datetime) -> None:
    from django.utils import dateformat

    from snapshots.templatetags.spx_format import NEW_YORK, et

    html = str(et(instant, fmt))
    shown = re.search(r">([^<]*)</time>", html)
    assert shown is not None
    assert shown.group(1) == dateformat.format(instant.astimezone(NEW_YORK), fmt)
    assert f'datetime="{instant.isoformat()}"' in html
