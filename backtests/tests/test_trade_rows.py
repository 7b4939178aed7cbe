"""The trades page's rows built in Python (``execution.rows``) are the template row they replaced:
the same cells, links and text for open, closed, losing, never-opened and backtest trades."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.test import Client

from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution import selectors
from execution.models import Trade
from execution.rows import trade_rows
from execution.tests.factories import TradeFactory
from snapshots.tests.html import squeezed

pytestmark = pytest.mark.django_db

# The row as templates/execution/trade_list.html drew it before execution.rows (main at ed1feab).
TEMPLATE_ROW = """{% load spx_format %}{% for t in page %}
      <tr id="trade-{{ t.pk }}">
        <td class="l"><a href="{% url 'execution:trade-detail' t.pk %}">{% if t.opened_at %}{{ t.opened_at|et }}{% else %}{{ t.entry_at|et }} (not opened){% endif %}</a></td>
        <td class="l">{% if t.backtest_run_id %}<a class="run-link" href="{% url 'backtests:run-detail' t.backtest_run_id %}">backtest #{{ t.backtest_run_id }}</a>{% else %}{{ t.source|label }}{% endif %}</td>
        <td class="l">{{ t.strategy_config.name }}</td><td class="l">{{ t.side|label }}</td><td class="l">{{ t.expiration|date:"D Y-m-d" }}</td>
        <td>{{ t.short_strike|floatformat:"-2" }}/{{ t.long_strike|floatformat:"-2" }}</td><td>{{ t.quantity }}</td>
        <td>{{ t.entry_credit|default_if_none:"" }}</td><td>{{ t.take_profit_debit|default_if_none:"" }}</td><td>{{ t.stop_loss_debit|default_if_none:"" }}</td>
        <td class="l"><span class="pill" title="{{ t.get_status_display }}">{{ t.status|label }}</span></td><td class="l">{{ t.exit_reason|label }}</td>
        <td class="{% if t.realized_pnl_usd > 0 %}good{% elif t.realized_pnl_usd < 0 %}bad{% endif %}">{{ t.realized_pnl_usd|usd }}</td>
      </tr>
    {% endfor %}"""


def _trades() -> list[Trade]:
    TradeFactory()  # open, live paper
    TradeFactory(closed=True, decision__strategy_config__name="A <b>&</b> 'name'")  # escaped as the template did
    TradeFactory(closed=True, realized_pnl_usd=Decimal("-1234.5"), exit_reason=Trade.ExitReason.STOP_LOSS,
                 short_strike=Decimal("5900.5"), long_strike=Decimal("5875.25"), quantity=3,
                 entry_credit=Decimal("1.2000"), expiration=dt.date(2026, 12, 31))
    TradeFactory(closed=True, realized_pnl_usd=Decimal("0"), exit_reason=Trade.ExitReason.SETTLEMENT)
    TradeFactory(status=Trade.Status.NOT_FILLED, opened_at=None, entry_credit=None, take_profit_debit=None,
                 stop_loss_debit=None, decision__decided_at=dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC))
    backtest_trade(BacktestRunFactory(), day=dt.date(2026, 6, 1))
    return list(selectors.trade_list(source="all", limit=None))


def test_trade_rows_equal_the_template_row() -> None:
    trades = _trades()
    assert len(trades) == 6 and any(t.opened_at is None for t in trades) and any(t.backtest_run_id for t in trades)
    expected = Template(TEMPLATE_ROW).render(Context({"page": trades}))
    assert squeezed(str(trade_rows(trades))) == squeezed(expected)
    assert "A &lt;b&gt;&amp;&lt;/b&gt; &#x27;name&#x27;" in str(trade_rows(trades))


def test_trades_page_shows_the_rows_and_the_empty_line(client: Client) -> None:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    assert "No trades match." in client.get("/trades/").content.decode()
    trades = _trades()
    html = client.get("/trades/?source=all").content.decode()
    assert "No trades match." not in html
    assert squeezed(str(trade_rows(trades))) in squeezed(html)
