"""The trades page's table rows as HTML, built in Python (``snapshots.cells``): the row the
template drew cell by cell, the same columns, links and text (pinned by
``backtests/tests/test_list_rows.py`` against that template row)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from execution.models import Trade
from snapshots.cells import date_text, float_text, number_text, pnl_class, pk_url
from snapshots.formatting import usd_text
from snapshots.templatetags.spx_format import et, label

_ROW = (
    '<tr id="trade-{}"><td class="l"><a href="{}">{}</a></td><td class="l">{}</td>'
    '<td class="l">{}</td><td class="l">{}</td><td class="l">{}</td>'
    '<td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
    '<td class="l"><span class="pill" title="{}">{}</span></td><td class="l">{}</td>'
    '<td class="{}">{}</td></tr>\n'
)


def _entry(t: Trade) -> SafeString | str:
    if t.opened_at:
        return et(t.opened_at)
    return format_html("{} (not opened)", et(getattr(t, "entry_at", None)))


def _source(t: Trade) -> SafeString | str:
    if t.backtest_run_id:
        return format_html('<a class="run-link" href="{}">backtest #{}</a>',
                           pk_url("backtests:run-detail", t.backtest_run_id), t.backtest_run_id)
    return label(t.source)


def _cells(t: Trade) -> tuple[object, ...]:
    return (
        t.pk, pk_url("execution:trade-detail", t.pk), _entry(t), _source(t),
        t.strategy_config.name, label(t.side), date_text(t.expiration, "D Y-m-d"),
        float_text(t.short_strike, "-2"), float_text(t.long_strike, "-2"), number_text(t.quantity),
        number_text(t.entry_credit), number_text(t.take_profit_debit), number_text(t.stop_loss_debit),
        t.get_status_display(), label(t.status), label(t.exit_reason),
        pnl_class(t.realized_pnl_usd), usd_text(t.realized_pnl_usd),
    )


def trade_rows(trades: Iterable[Trade]) -> SafeString:
    """The ``<tr>`` of each trade (its ``strategy_config`` loaded; ``entry_at`` as ``trade_list``
    annotates it, read for a trade never opened); "" for none."""
    return format_html_join("", _ROW, (_cells(t) for t in trades))
