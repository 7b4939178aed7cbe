"""Trades pages, dashboard, admin actions, API and commands.

``opened`` replays four slots of a simulated morning (snapshots → 10:00 decision → order → fill →
marks) as ``test_paper_day`` does, so pages and actions run on real rows; the factories serve the
cases where a hand-made row is simpler (filters, PnL numbers, a closing order that stays working).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from snapshots.tests.factories import read_token_client

from execution import services
from execution.models import AdoptedOrder, Fill, Order, PositionMark, SimulatedBrokerOrder, Trade, TradeLeg
from execution.order_states import OrderState
from execution.tasks import orders_sync
from execution.tests.factories import AdoptedOrderFactory, FillFactory, OrderFactory, PositionMarkFactory, TradeFactory
from snapshots.formatting import usd_text
from snapshots.services import snapshot_capture
from spx_site.dashboard import next_entry_window
from strategy.models import StrategyConfig
from execution.services import entry_window_trade as entry_window_run
from strategy.tests.factories import TradeDecisionFactory

NY = ZoneInfo("America/New_York")
pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 11, 18)  # a Wednesday; the 3-DTE bucket is Friday's SPXW


@pytest.fixture(autouse=True)
def _market_open_on_the_day(market_at) -> None:  # type: ignore[no-untyped-def]
    """The Celery hand-over, the admin actions and the commands send orders on the wall clock; the
    local market check (``test_order_gate``) judges them in the replayed day's session instead."""
    market_at(dt.datetime.combine(DAY, dt.time(11, 35), tzinfo=NY))


@pytest.fixture
def sim(sim):  # type: ignore[no-untyped-def]
    """The shared simulated market and broker, narrowed to the one bucket and config traded here (quicker)."""
    sim.SNAPSHOT_CONTEXT_ENABLED = False
    sim.SNAPSHOT_DTE_TARGETS = [3]
    StrategyConfig.objects.update(enabled=False)
    StrategyConfig.objects.filter(name="3DTE put 20d").update(enabled=True)
    return sim


@pytest.fixture
def opened(sim, django_capture_on_commit_callbacks) -> Trade:  # type: ignore[no-untyped-def]
    """A real open trade with four marks: 10:00 entry, then marked at 10:00, 10:30, 11:00, 11:30 ET."""
    for hour, minute in ((10, 0), (10, 30), (11, 0), (11, 30)):
        slot = dt.datetime.combine(DAY, dt.time(hour, minute), tzinfo=NY)
        snapshot_capture(now=slot)
        if (hour, minute) == (10, 0):
            with django_capture_on_commit_callbacks(execute=True):  # the TRADE's hand-over runs after commit
                entry_window_run(at=slot)
        orders_sync.apply()
        services.positions_mark(at=slot, broker=services.broker_get(now=slot))
    trade = Trade.objects.get()
    assert trade.status == Trade.Status.OPEN and trade.marks.count() == 4
    return trade


@pytest.fixture
def trader(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("operator", password="pw-for-tests-only"))
    return client


def rows(html: str, prefix: str) -> list[int]:
    return [int(pk) for pk in re.findall(rf'<tr id="{prefix}-(\d+)"', html)]


# ------------------------------------------------------------------------------------ pages

def test_pages_require_login(client: Client) -> None:
    for url in ("/", "/trades/", "/trades/1/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_trade_list_filters_stats_buckets_and_partial(sim, trader: Client) -> None:  # type: ignore[no-untyped-def]
    open_ = TradeFactory()
    win = TradeFactory(closed=True, closed_at=dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC))
    loss = TradeFactory(closed=True, exit_reason="stop_loss", exit_debit=Decimal("2.40"),
                        realized_pnl_usd=Decimal("-122.60"), closed_at=dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC))
    unfilled = TradeFactory(status=Trade.Status.NOT_FILLED, entry_credit=None, opened_at=None)
    html = trader.get("/trades/").content.decode()
    assert "<html" in html and 'id="trade-panel"' in html
    assert sorted(rows(html, "trade")) == sorted(t.pk for t in (open_, win, loss, unfilled))
    assert f"/trades/{win.pk}/" in html and "-$122.60" in html and "5900/5875" in html
    # Stats per source (the simulated book has the two closed trades), and the per-bucket table.
    simulated_row = re.search(r"<td class=\"l\">simulated market and broker</td>(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", simulated_row) == ["2", "50.0%", "-$32.60", "0.47", "$122.60", "-$65.20"]
    assert "5DTE 0.100d 10:00 put_credit" in html
    closed = trader.get("/trades/?status=closed").content.decode()
    assert sorted(rows(closed, "trade")) == sorted([win.pk, loss.pk])
    assert rows(trader.get("/trades/?status=open").content.decode(), "trade") == [open_.pk]
    assert rows(trader.get("/trades/?status=not_filled").content.decode(), "trade") == [unfilled.pk]
    assert rows(trader.get(f"/trades/?config={win.strategy_config_id}").content.decode(), "trade") == [win.pk]
    assert rows(trader.get("/trades/?source=live_paper").content.decode(), "trade") == []
    partial = trader.get("/trades/?status=closed", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="trade-panel"') and "<html" not in partial and "<form" not in partial
    assert sorted(rows(partial, "trade")) == sorted([win.pk, loss.pk])
    assert 'hx-get="/trades/?status=closed"' in partial  # the poll keeps the filters
    bad = trader.get("/trades/?status=maybe&config=x&source=paper")
    assert bad.status_code == 200 and rows(bad.content.decode(), "trade") == []
    for message in (b"status must be one of open, closed, not_filled, open_at_end", b"config must be a config id",
                    b"source must be one of live, live_paper, simulated, backtest, all"):
        assert message in bad.content


def test_trade_page_shows_marks_chart_with_tp_and_sl_lines(opened: Trade, trader: Client) -> None:
    html = trader.get(f"/trades/{opened.pk}/").content.decode()
    assert 'id="marks-chart"' in html and "<polyline" in html
    tp = re.search(r'<line id="tp-line" class="level tp" x1="\d+" x2="\d+" y1="([\d.]+)"', html)
    sl = re.search(r'<line id="sl-line" class="level sl" x1="\d+" x2="\d+" y1="([\d.]+)"', html)
    assert tp and sl and float(tp.group(1)) > float(sl.group(1))  # SVG y grows downwards: the stop sits higher
    assert f"take profit {opened.take_profit_debit}" in html and f"stop loss {opened.stop_loss_debit}" in html
    assert html.count("<circle") == 4 and 'id="credit-line"' in html
    last = opened.marks.order_by("-ts").first()
    assert f'id="unrealized" class="{"good" if last.unrealized_pnl_usd > 0 else "bad"}">{usd_text(last.unrealized_pnl_usd)}' in html
    for leg in opened.legs.all():
        assert leg.symbol in html
    entry = opened.orders.get()
    assert entry.client_tag in html and f"1 @ {entry.avg_fill_price}" in html and 'id="order-table"' in html
    partial = trader.get(f"/trades/{opened.pk}/", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200 and body.lstrip().startswith('<div id="trade-live" hx-get=')
    assert "<html" not in body and 'id="marks-chart"' in body and 'id="trade-legs"' not in body
    assert trader.get("/trades/999999/").status_code == 404


def test_a_finished_trade_stops_polling(trader: Client) -> None:
    trade = TradeFactory(closed=True)
    response = trader.get(f"/trades/{trade.pk}/", headers={"HX-Request": "true"})
    assert response.status_code == 286 and response.content.decode().lstrip().startswith('<div id="trade-live">')
    assert "No marks yet" in response.content.decode() and "$57.40" in response.content.decode()


def test_dashboard_shows_the_open_position_with_its_mark(opened: Trade, trader: Client) -> None:
    today = timezone.now().astimezone(NY).date()
    decision = TradeDecisionFactory(trading_day=today, reason_code="no_snapshot")
    TradeDecisionFactory(trading_day=today - dt.timedelta(days=1), reason_code="yesterday_only")
    TradeFactory(closed=True, closed_at=dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC))
    html = trader.get("/").content.decode()
    last = opened.marks.order_by("-ts").first()
    position = re.search(rf'<tr id="position-{opened.pk}">(.*?)</tr>', html, re.S).group(1)
    assert f"<b>{last.debit_fill}</b>" in position and usd_text(last.unrealized_pnl_usd) in position
    assert str(opened.take_profit_debit) in position and str(opened.stop_loss_debit) in position
    assert rows(html, "decision") == [decision.pk] and "yesterday_only" not in html
    assert 'id="market-status"' in html and 'id="next-window"' in html
    assert 'id="equity-curve"' in html and "57.40" in html
    partial = trader.get("/", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="dashboard-panel"') and "<html" not in partial
    assert f'id="position-{opened.pk}"' in partial
    bad = trader.get("/?source=nope")
    assert bad.status_code == 200 and b"source must be one of" in bad.content


def test_dashboard_shows_adopted_fills_as_their_own_lines_marked_by_origin(trader: Client, operator: Client) -> None:
    """B1 #13/#14: a strategy's trade, a hand-placed filled spread and a recovered partial fill, each a
    line of its own; an adopted order with nothing filled is no position. The admin shows them read-only."""
    trade = TradeFactory(expiration=dt.date(2030, 12, 20))
    external = AdoptedOrderFactory()
    recovered = AdoptedOrderFactory(origin="recovered", client_tag="spx-open-ffffffffffffffffffff",
                                    state="partially_filled", quantity=2, filled_quantity=1, avg_fill_price=Decimal("1.45"))
    unfilled = AdoptedOrderFactory(state="open")
    html = trader.get("/").content.decode()
    assert rows(html, "position") == [trade.pk] and rows(html, "adopted-position") == [external.pk, recovered.pk]
    ext = re.search(rf'<tr id="adopted-position-{external.pk}" [^>]*>(.*?)</tr>', html, re.S).group(1)
    assert f"broker order {external.broker_order_id}" in ext and "×1" in ext and "1.50" in ext
    assert "external (placed outside this platform)" in ext and "Fri 2030-12-20" in ext
    rec = re.search(rf'<tr id="adopted-position-{recovered.pk}" [^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "recovered (our tag, no local row)" in rec and "×1" in rec and "1.45" in rec
    assert f'adopted-position-{unfilled.pk}"' not in html

    listing = operator.get(reverse("admin:execution_adoptedorder_changelist")).content.decode()
    assert external.broker_order_id in listing and recovered.client_tag in listing
    change = operator.get(reverse("admin:execution_adoptedorder_change", args=[external.pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content  # nothing to edit
    assert operator.get(reverse("admin:execution_adoptedorder_add")).status_code == 403
    assert AdoptedOrder.objects.count() == 3

    body = read_token_client().get("/api/positions").json()
    assert [t["id"] for t in body["trades"]] == [trade.pk]
    assert [(a["order"]["broker_order_id"], a["order"]["origin"], a["order"]["filled_quantity"], a["expiration"])
            for a in body["adopted"]] == [(external.broker_order_id, "external", 1, "2030-12-20"),
                                          (recovered.broker_order_id, "recovered", 1, "2030-12-20")]
    assert body["adopted"][0]["order"]["avg_fill_price"] == "1.50"


@pytest.mark.parametrize(
    ("now_et", "expected_et"),
    [
        (dt.datetime(2026, 11, 18, 9, 0), dt.datetime(2026, 11, 18, 10, 0)),
        (dt.datetime(2026, 11, 18, 10, 0), dt.datetime(2026, 11, 18, 11, 0)),  # the 10:00 window is under way
        (dt.datetime(2026, 11, 20, 12, 30), dt.datetime(2026, 11, 23, 10, 0)),  # Friday afternoon → Monday
        (dt.datetime(2026, 11, 25, 15, 0), dt.datetime(2026, 11, 27, 10, 0)),  # Thanksgiving is closed
    ],
)
def test_next_entry_window_skips_closed_days(now_et: dt.datetime, expected_et: dt.datetime) -> None:
    assert next_entry_window(now_et.replace(tzinfo=NY)) == expected_et.replace(tzinfo=NY)


# ------------------------------------------------------------------------------------ admin

def test_admin_lists_every_model_and_close_now_closes_once(opened: Trade, operator: Client) -> None:
    for model, obj in ((Trade, opened), (TradeLeg, opened.legs.first()), (Order, opened.orders.first()),
                       (Fill, Fill.objects.first()), (PositionMark, opened.marks.first()),
                       (SimulatedBrokerOrder, SimulatedBrokerOrder.objects.first())):
        name = model._meta.model_name
        listing = operator.get(reverse(f"admin:execution_{name}_changelist"))
        assert listing.status_code == 200, name
        assert operator.get(reverse(f"admin:execution_{name}_change", args=[obj.pk])).status_code == 200, name
    assert b"filled" in operator.get(reverse("admin:execution_simulatedbrokerorder_changelist")).content
    last = opened.marks.order_by("-ts").first()
    url = reverse("admin:execution_trade_changelist")
    first = operator.post(url, {"action": "close_now", "_selected_action": [opened.pk]}, follow=True).content.decode()
    close = opened.orders.get(purpose="close")
    assert close.limit_price == last.debit_fill and close.reason == "manual: operator"
    mark_time = timezone.localtime(last.ts).strftime("%m-%d %H:%M")
    assert f"closing order {close.client_tag} at {close.limit_price} (mark of {mark_time} ET) is {close.state}" in first
    again = operator.post(url, {"action": "close_now", "_selected_action": [opened.pk]}, follow=True).content.decode()
    assert opened.orders.filter(purpose="close").count() == 1 and "nothing to close" in again
    opened.refresh_from_db()
    if close.state == OrderState.FILLED:  # the simulated broker filled at the mark's fill-model debit
        assert opened.status == Trade.Status.CLOSED and opened.exit_reason == "manual"


def test_close_now_twice_leaves_one_working_close_order_and_cancel_reopens(sim, operator: Client) -> None:  # type: ignore[no-untyped-def]
    trade = TradeFactory()
    PositionMarkFactory(trade=trade, debit_fill=Decimal("0.85"))
    url = reverse("admin:execution_trade_changelist")
    for _ in range(2):  # no snapshot quotes this expiration, so the simulated broker keeps the order working
        operator.post(url, {"action": "close_now", "_selected_action": [trade.pk]})
    close = Order.objects.get(trade=trade, purpose="close")
    assert close.state == OrderState.OPEN and close.limit_price == Decimal("0.85") and close.broker_order_id
    trade.refresh_from_db()
    assert trade.status == Trade.Status.CLOSING
    orders_url = reverse("admin:execution_order_changelist")
    html = operator.post(orders_url, {"action": "cancel_order", "_selected_action": [close.pk]}, follow=True).content.decode()
    close.refresh_from_db()
    trade.refresh_from_db()
    assert close.state == OrderState.CANCELED and trade.status == Trade.Status.OPEN
    assert f"Order {close.client_tag}: the broker accepted the cancel; now canceled" in html  # admin capitalises
    html = operator.post(orders_url, {"action": "reconcile", "_selected_action": [close.pk]}, follow=True).content.decode()
    assert "Reconciled: 0 submitted, 0 synced" in html
    unmarked = TradeFactory()
    html = operator.post(url, {"action": "close_now", "_selected_action": [unmarked.pk]}, follow=True).content.decode()
    assert "no mark to price the close from" in html and not unmarked.orders.exists()
    # Off the 0.05 tick: denied before anything is sent; the trade stays open for the next attempt.
    with pytest.raises(CommandError, match="rejected: manual: operator; denied locally"):  # its cause kept in front
        call_command("close_trade", str(unmarked.pk), "--price", "0.07", stdout=StringIO())
    unmarked.refresh_from_db()
    assert unmarked.status == Trade.Status.OPEN and unmarked.orders.get().state == OrderState.REJECTED


# ------------------------------------------------------------------------------------ API

def test_trade_api_filters_detail_and_errors(sim) -> None:  # type: ignore[no-untyped-def]
    api = read_token_client()
    open_ = TradeFactory()
    closed = TradeFactory(closed=True)
    entry = OrderFactory(trade=open_)
    FillFactory(order=entry)
    PositionMarkFactory(trade=open_)
    assert {i["id"] for i in api.get("/api/trades").json()["items"]} == {open_.pk, closed.pk}
    items = api.get("/api/trades?status=closed&source=simulated").json()["items"]
    assert [i["id"] for i in items] == [closed.pk] and items[0]["realized_pnl_usd"] == "57.40"
    assert items[0]["strategy_config"] == closed.strategy_config.name
    assert api.get("/api/trades?source=live_paper").json()["items"] == []
    assert len(api.get("/api/trades?limit=1").json()["items"]) == 1
    for query in ("status=maybe", "limit=0", "limit=501", "source=paper", "config=x"):
        response = api.get(f"/api/trades?{query}")
        assert response.status_code == 400 and response.json()["error"] == "invalid query", query
    detail = api.get(f"/api/trades/{open_.pk}").json()
    assert [leg["side"] for leg in detail["legs"]] == ["sell", "buy"]
    assert detail["orders"][0]["client_tag"] == entry.client_tag and detail["orders"][0]["fills"][0]["price"] == "1.20"
    assert detail["marks"][0]["debit_fill"] == "1.00" and detail["marks"][0]["unrealized_pnl_usd"] == "20.00"
    missing = api.get("/api/trades/999999")
    assert missing.status_code == 404 and missing.json() == {"error": "not found", "fields": {}}


def test_pnl_api_stats_buckets_curve_and_errors(sim) -> None:  # type: ignore[no-untyped-def]
    api = read_token_client()
    empty = api.get("/api/pnl").json()
    assert empty["stats"]["trades"] == 0 and empty["stats"]["win_rate"] is None and empty["equity_curve"] == []
    TradeFactory(closed=True, closed_at=dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC))
    TradeFactory(closed=True, realized_pnl_usd=Decimal("20.00"), closed_at=dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC))
    body = api.get("/api/pnl?source=simulated").json()
    assert body["source"] == "simulated"
    assert body["stats"] == {"trades": 2, "winners": 2, "win_rate": 1.0, "total_pnl_usd": 77.4,
                             "expectancy_usd": 38.7, "profit_factor": None, "max_drawdown_usd": 0.0}
    assert body["equity_curve"] == [{"date": "2026-11-20", "equity_usd": 57.4}, {"date": "2026-11-23", "equity_usd": 77.4}]
    assert [b["bucket"] for b in body["buckets"]] == ["5DTE 0.100d 10:00 put_credit"] and body["buckets"][0]["trades"] == 2
    assert api.get("/api/pnl?source=live_paper").json()["stats"]["trades"] == 0
    bad = api.get("/api/pnl?source=paper")
    assert bad.status_code == 400 and "source" in bad.json()["fields"]


# ------------------------------------------------------------------------------------ commands

def test_commands_mark_sync_reconcile_and_close(opened: Trade) -> None:
    out = StringIO()
    # 11:35 reads the 11:30 snapshot again (marks are kept at most 10 minutes): the same mark, updated in place.
    call_command("mark_positions", "--at", "2026-11-18T11:35", stdout=out)
    assert "marked 1 trade(s) at 2026-11-18 11:35 ET; settled 0" in out.getvalue()
    assert f"trade {opened.pk}" in out.getvalue() and opened.marks.count() == 4
    with pytest.raises(CommandError, match="--at"):
        call_command("mark_positions", "--at", "noon")
    out = StringIO()
    call_command("sync_orders", stdout=out)
    assert "0 working order(s) synced" in out.getvalue()  # the entry filled at once
    out = StringIO()
    call_command("reconcile_orders", stdout=out)
    assert "reconciled: 0 submitted, 0 synced" in out.getvalue()
    with pytest.raises(CommandError, match="not a number"):
        call_command("close_trade", str(opened.pk), "--price", "cheap")
    with pytest.raises(CommandError, match="no trade"):
        call_command("close_trade", "999999")
    out = StringIO()
    call_command("close_trade", str(opened.pk), "--price", "0.05", stdout=out)  # far below the market: stays working
    close = opened.orders.get(purpose="close")
    assert f"closing order {close.client_tag} at 0.05: open" in out.getvalue() and close.limit_price == Decimal("0.05")
    with pytest.raises(CommandError, match="already working"):
        call_command("close_trade", str(opened.pk))
    out = StringIO()
    call_command("sync_orders", stdout=out)
    assert f"{close.client_tag} close debit" in out.getvalue() and "1 working order(s) synced" in out.getvalue()
