"""The list pages' rows built in Python are the template rows they replaced: the trades page's
(``execution.rows``: open, closed, losing, never-opened and backtest trades) and the decisions
page's (``strategy.rows``: TRADE rows with legs and a snapshot, lone SKIPs, a window's grouped
SKIPs, live and of a run); each page shows them, or its empty line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.test import Client

from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution import selectors as trade_selectors
from execution.models import Trade
from execution.rows import trade_rows
from execution.tests.factories import TradeFactory
from snapshots.tests.factories import ChainSnapshotFactory
from snapshots.tests.html import squeezed
from strategy import selectors
from strategy.models import TradeDecision
from strategy.rows import decision_rows_html
from strategy.tests.factories import StrategyConfigFactory, TradeDecisionFactory

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
    return list(trade_selectors.trade_list(source="all", limit=None))


def test_trade_rows_equal_the_template_row() -> None:
    trades = _trades()
    assert len(trades) == 6 and any(t.opened_at is None for t in trades) and any(t.backtest_run_id for t in trades)
    expected = Template(TEMPLATE_ROW).render(Context({"page": trades}))
    assert squeezed(str(trade_rows(trades))) == squeezed(expected)
    assert "A &lt;b&gt;&amp;&lt;/b&gt; &#x27;name&#x27;" in str(trade_rows(trades))


# The rows as templates/strategy/decision_list.html drew them before strategy.rows (main at ed1feab).
TEMPLATE_ROWS = """{% load spx_format partials %}{% partialdef decision-row %}
      <tr id="decision-{{ d.pk }}">
        <td class="l"><a href="{% url 'strategy:decision-detail' d.pk %}">{{ d.decided_at|et }}</a></td>
        <td class="l">{{ d.trading_day|date:"D" }} {{ d.entry_window|time:"H:i" }}</td>
        <td class="l">{% if d.backtest_run_id %}<a class="run-link" href="{% url 'backtests:run-detail' d.backtest_run_id %}">backtest #{{ d.backtest_run_id }}</a>{% else %}{{ d.source|label }}{% endif %}</td>
        <td class="l">{{ d.strategy_config.name }}</td>
        <td class="l {% if d.action == 'TRADE' %}good{% else %}muted{% endif %}">{{ d.action }}</td>
        <td class="l" title="{{ d.reason_message }}">{{ d.reason_code|label }}</td>
        <td class="l">{% for leg in d.legs %}{{ leg.side|label }} {{ leg.strike|floatformat:0 }}{% if not forloop.last %} / {% endif %}{% endfor %}</td>
        <td>{{ d.credit_fill|default_if_none:"" }}</td><td>{{ d.max_profit_usd|usd }}</td><td>{{ d.max_loss_usd|usd }}</td>
        <td class="l">{% if d.snapshot_id %}<a href="{% url 'snapshots:snapshot-detail' d.snapshot_id %}"><code>{{ d.snapshot_checksum|slice:":10" }}</code></a>{% endif %}</td>
      </tr>
{% endpartialdef %}
    {% for row in rows %}
      {% if row.is_group %}
      <tr class="skip-group" id="skips-{{ row.trading_day|date:"Ymd" }}-{{ row.entry_window|time:"Hi" }}-{{ row.source }}{% if row.backtest_run_id %}-{{ row.backtest_run_id }}{% endif %}-{{ row.reason_code }}">
        <td class="l" colspan="11"><details class="group"><summary>
          <b class="skip-count">{{ row.count }}</b> × <span class="muted">SKIP</span> <b>{{ row.reason_code|label }}</b>
          · {{ row.trading_day|date:"D Y-m-d" }} {{ row.entry_window|time:"H:i" }} ET ·
          {% if row.backtest_run_id %}<a class="run-link" href="{% url 'backtests:run-detail' row.backtest_run_id %}">backtest #{{ row.backtest_run_id }}</a>{% else %}{{ row.source|label }}{% endif %}
          <span class="muted">— e.g. {{ row.example_message|truncatechars:90 }}</span></summary>
          <table class="members">{% for d in row.decisions %}<tr id="decision-{{ d.pk }}"><td class="l"><a href="{% url 'strategy:decision-detail' d.pk %}">{{ d.strategy_config.name }}</a></td>
            <td class="l">{% for leg in d.legs %}{{ leg.side }} {{ leg.strike|floatformat:0 }}{% if not forloop.last %} / {% endif %}{% endfor %}</td><td>{{ d.credit_fill|default_if_none:"" }}</td></tr>{% endfor %}</table>
        </details></td>
      </tr>
      {% else %}{% with d=row %}{% partial decision-row %}{% endwith %}{% endif %}
    {% endfor %}"""

LEGS = [{"side": "sell", "strike": 5900.0, "option_type": "put"}, {"side": "buy", "strike": 5874.5, "option_type": "put"}]
LONG_MESSAGE = "no put within 0.05 of the 0.10 delta target in the 5-DTE chain; nearest 0.031 at 5650 <and> 0.171 at 5800, " * 2


def _rows() -> list[object]:
    day, window = dt.date(2026, 11, 20), dt.time(10, 0)
    snapshot = ChainSnapshotFactory()
    TradeDecisionFactory(action=TradeDecision.Action.TRADE, reason_code="ok", reason_message="", legs=LEGS,
                         credit_fill=Decimal("1.2500"), max_profit_usd=Decimal("125"), max_loss_usd=Decimal("-2375.5"),
                         snapshot=snapshot, snapshot_checksum="abcdef0123456789",
                         strategy_config=StrategyConfigFactory(name="tp <50%> & 'a'"))
    TradeDecisionFactory(trading_day=day, entry_window=dt.time(11, 0))  # a lone SKIP: a plain row
    for _ in range(3):  # one window's SKIPs of one reason: one counted line
        TradeDecisionFactory(trading_day=day, entry_window=window, reason_code="no_candidate", reason_message=LONG_MESSAGE,
                             legs=LEGS[:1])
    run = BacktestRunFactory()
    for _ in range(2):
        TradeDecisionFactory(trading_day=day, entry_window=dt.time(12, 0), source=TradeDecision.Source.BACKTEST,
                             backtest_run=run, reason_code="risk_limit", reason_message="risk budget used")
    decisions = list(selectors.decision_list(source="all", limit=None))
    return list(selectors.decision_rows(decisions))


def test_decision_rows_equal_the_template_rows() -> None:
    rows = _rows()
    assert sum(1 for r in rows if isinstance(r, selectors.SkipGroup)) == 2 and len(rows) == 4
    expected = Template(TEMPLATE_ROWS).render(Context({"rows": rows}))
    html = str(decision_rows_html(rows))
    assert squeezed(html) == squeezed(expected)
    assert "tp &lt;50%&gt; &amp; &#x27;a&#x27;" in html and "sell 5900 / buy 5875" in html and "sell 5900</td>" in html


@pytest.mark.parametrize(("path", "empty", "build", "render"), [
    ("/trades/", "No trades match.", _trades, trade_rows),
    ("/decisions/", "No decisions match.", _rows, decision_rows_html),
])
def test_page_shows_the_rows_and_the_empty_line(client: Client, path: str, empty: str, build: Callable[[], list[Any]],
                                                render: Callable[[list[Any]], object]) -> None:
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    assert empty in client.get(path).content.decode()
    rows = build()
    html = client.get(f"{path}?source=all").content.decode()
    assert empty not in html
    assert squeezed(str(render(rows))) in squeezed(html)
