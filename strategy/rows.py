"""The decisions page's table rows as HTML, built in Python (``snapshots.cells``): a decision's
11-cell row and a window's grouped SKIPs, as the template drew them (pinned by
``backtests/tests/test_list_rows.py`` against those template rows)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.template.defaultfilters import truncatechars
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from snapshots.cells import date_text, float_text, number_text, pk_url
from snapshots.formatting import usd_text
from snapshots.templatetags.spx_format import et, label
from strategy.models import TradeDecision
from strategy.selectors import SkipGroup

_ROW = (
    '<tr id="decision-{}"><td class="l"><a href="{}">{}</a></td><td class="l">{} {}</td>'
    '<td class="l">{}</td><td class="l">{}</td><td class="l {}">{}</td><td class="l" title="{}">{}</td>'
    '<td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="l">{}</td></tr>\n'
)
_GROUP = (
    '<tr class="skip-group" id="skips-{}-{}-{}{}-{}"><td class="l" colspan="11"><details class="group"><summary>'
    '<b class="skip-count">{}</b> × <span class="muted">SKIP</span> <b>{}</b> · {} {} ET · {} '
    '<span class="muted">— e.g. {}</span></summary><table class="members">{}</table></details></td></tr>\n'
)
_MEMBER = '<tr id="decision-{}"><td class="l"><a href="{}">{}</a></td><td class="l">{}</td><td>{}</td></tr>'


def _legs(legs: list[dict[str, Any]], *, labelled: bool) -> str:
    """"sell 5900 / buy 5875": a leg's side (as words on a decision's row) and its strike, whole."""
    return " / ".join(f"{label(leg['side']) if labelled else leg['side']} {float_text(leg['strike'], '0')}"
                      for leg in legs)


def _source(source: str, run_id: int | None) -> SafeString | str:
    if run_id:
        return format_html('<a class="run-link" href="{}">backtest #{}</a>', pk_url("backtests:run-detail", run_id), run_id)
    return label(source)


def _snapshot(d: TradeDecision) -> SafeString | str:
    if not d.snapshot_id:
        return ""
    return format_html('<a href="{}"><code>{}</code></a>', pk_url("snapshots:snapshot-detail", d.snapshot_id),
                       (d.snapshot_checksum or "")[:10])


def _decision(d: TradeDecision) -> SafeString:
    return format_html(
        _ROW, d.pk, pk_url("strategy:decision-detail", d.pk), et(d.decided_at),
        date_text(d.trading_day, "D"), date_text(d.entry_window, "H:i"), _source(d.source, d.backtest_run_id),
        d.strategy_config.name, "good" if d.action == TradeDecision.Action.TRADE else "muted", d.action,
        d.reason_message, label(d.reason_code), _legs(d.legs, labelled=True), number_text(d.credit_fill),
        usd_text(d.max_profit_usd), usd_text(d.max_loss_usd), _snapshot(d))


def _group(g: SkipGroup) -> SafeString:
    members = format_html_join("", _MEMBER, (
        (d.pk, pk_url("strategy:decision-detail", d.pk), d.strategy_config.name, _legs(d.legs, labelled=False),
         number_text(d.credit_fill)) for d in g.decisions))
    return format_html(
        _GROUP, date_text(g.trading_day, "Ymd"), date_text(g.entry_window, "Hi"), g.source,
        f"-{g.backtest_run_id}" if g.backtest_run_id else "", g.reason_code,
        g.count, label(g.reason_code), date_text(g.trading_day, "D Y-m-d"), date_text(g.entry_window, "H:i"),
        _source(g.source, g.backtest_run_id), truncatechars(g.example_message, 90), members)


def decision_rows_html(rows: Iterable[TradeDecision | SkipGroup]) -> SafeString:
    """The ``<tr>`` of each row of ``strategy.selectors.decision_rows`` (decisions with their
    ``strategy_config`` loaded); "" for none."""
    return mark_safe("".join(_group(r) if isinstance(r, SkipGroup) else _decision(r) for r in rows))  # noqa: S308  # each part is format_html
