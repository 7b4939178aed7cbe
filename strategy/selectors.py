"""Reads for the strategy app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.params import QueryParams
from strategy.models import Source, TradeDecision
from strategy.quant.features import FEATURE_GROUPS, FEATURE_SCHEMA_VERSION

def latest_snapshot(*, underlying: str, target_dte: int, at: dt.datetime) -> ChainSnapshot | None:
    """The newest DTE-target snapshot serving the bucket at or before ``at`` (its age is checked by the caller).

    A chain serves every target that resolved to its expiration (``dte_targets``) and is stored under
    the smallest of them: the newest row of the bucket itself, or a newer row of a smaller target
    that also serves it (3 and 5 DTE share an expiration in Thanksgiving week).
    """
    base = ChainSnapshot.objects.filter(underlying=underlying, purpose=ChainSnapshot.Purpose.TARGET,
                                        ts__lte=at).defer("payload_zstd")
    own = base.filter(target_dte=target_dte).order_by("-ts").first()
    newer = base.filter(target_dte__lt=target_dte)
    # Shared rows newer than the bucket's own (looking back a day at most when it has none).
    newer = newer.filter(ts__gt=own.ts if own is not None else at - dt.timedelta(days=1))
    # Each slot holds one row per distinct expiration, so this walks a few rows per slot.
    for row in newer.order_by("-ts", "-target_dte").iterator():
        if target_dte in row.dte_targets:
            return row
    return own


def context_at(*, underlying: str, ts: dt.datetime) -> ContextSnapshot | None:
    return ContextSnapshot.objects.filter(underlying=underlying, ts=ts).first()


# The lists' source filter (decisions and trades): "live" (the default: live paper and simulated,
# no backtest run), one source, or "all" (backtests included); a run id implies the backtest source.
LIVE = "live"
ALL = "all"
SOURCE_FILTERS = (LIVE, *Source.values, ALL)
SOURCE_CHOICES = [(LIVE, "live (paper + simulated)"), *Source.choices, (ALL, "all, backtests included")]


def source_filters(query: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``source`` and ``backtest_run_id`` from a list page's query string, and what was wrong with them."""
    params = QueryParams(query)
    out: dict[str, Any] = {"source": LIVE}
    if (run := params.id("run", expected="a backtest run id")) is not None:
        out["backtest_run_id"] = run
        out["source"] = Source.BACKTEST
    if (source := params.choice("source", SOURCE_FILTERS)) is not None:
        out["source"] = source
    return out, params.errors


def decision_list(
    *,
    day: dt.date | None = None,
    config_id: int | None = None,
    action: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    backtest_run_id: int | None = None,
    limit: int | None = 200,
) -> QuerySet[TradeDecision]:
    """Decisions, the latest decided first. ``source``: a ``Source`` value, ``"live"`` (no backtest
    run) or None/``"all"``; ``limit=None`` leaves the queryset unsliced (for a paginator)."""
    qs = TradeDecision.objects.select_related("strategy_config", "snapshot").defer("snapshot__payload_zstd")
    if day:
        qs = qs.filter(trading_day=day)
    if config_id:
        qs = qs.filter(strategy_config_id=config_id)
    if action:
        qs = qs.filter(action=action)
    if reason:
        qs = qs.filter(reason_code=reason)
    if source == LIVE:
        qs = qs.filter(backtest_run__isnull=True).exclude(source=Source.BACKTEST)
    elif source and source != ALL:
        qs = qs.filter(source=source)
    if backtest_run_id is not None:
        qs = qs.filter(backtest_run_id=backtest_run_id)
    qs = qs.order_by("-decided_at", "strategy_config__priority", "strategy_config__name", "-pk")
    return qs if limit is None else qs[:limit]


@dataclass(frozen=True)
class SkipGroup:
    """SKIP decisions of one entry window (day × window × source × run) with one reason, counted."""

    trading_day: dt.date
    entry_window: dt.time
    source: str
    backtest_run_id: int | None
    reason_code: str
    decisions: tuple[TradeDecision, ...]

    is_group = True  # templates tell a group from a decision row by this

    @property
    def count(self) -> int:
        return len(self.decisions)

    @property
    def example_message(self) -> str:
        return self.decisions[0].reason_message


def decision_windows(decisions: QuerySet[TradeDecision]) -> QuerySet[Any]:
    """The distinct (trading day, entry window) pairs of ``decisions``, latest first: the unit the
    decisions page paginates by, so a window's SKIP counts are never split across pages."""
    return decisions.order_by().values_list("trading_day", "entry_window").distinct().order_by(
        "-trading_day", "-entry_window")


def decisions_in_windows(decisions: QuerySet[TradeDecision],
                         windows: Iterable[tuple[dt.date, dt.time]]) -> list[TradeDecision]:
    """The rows of ``decisions`` that fall in the given (day, window) pairs, in the queryset's order."""
    match = Q(pk__in=[])
    for day, window in windows:
        match |= Q(trading_day=day, entry_window=window)
    return list(decisions.filter(match))


def decision_rows(decisions: list[TradeDecision], *, group_skips: bool = True) -> list[TradeDecision | SkipGroup]:
    """The page's rows in the given order: TRADE decisions one by one; the SKIPs of one entry window
    that share a reason collapse into a ``SkipGroup`` (where the first of them stood), so 35
    ``risk_limit`` SKIPs read as one counted line. A lone SKIP stays a plain row."""
    if not group_skips:
        return list(decisions)
    groups: dict[tuple[Any, ...], list[TradeDecision]] = {}
    for d in decisions:
        if d.action == TradeDecision.Action.SKIP:
            groups.setdefault((d.trading_day, d.entry_window, d.source, d.backtest_run_id, d.reason_code), []).append(d)
    rows: list[TradeDecision | SkipGroup] = []
    seen: set[tuple[Any, ...]] = set()
    for d in decisions:
        key = (d.trading_day, d.entry_window, d.source, d.backtest_run_id, d.reason_code)
        if d.action != TradeDecision.Action.SKIP or len(groups[key]) == 1:
            rows.append(d)
        elif key not in seen:
            seen.add(key)
            members = groups[key]
            rows.append(SkipGroup(d.trading_day, d.entry_window, d.source, d.backtest_run_id, d.reason_code,
                                  tuple(members)))
    return rows


def feature_groups(decision: TradeDecision) -> list[dict[str, Any]]:
    """The decision's features by group (candidate, market, calendar) in schema order, each with its
    value or the reason it is missing; features of an older schema are listed as stored."""
    stored = decision.features or {}
    missing = decision.feature_missing or {}
    if decision.feature_schema != FEATURE_SCHEMA_VERSION:
        return [{"name": "stored", "rows": [{"name": k, "value": v, "missing": ""} for k, v in sorted(stored.items())]}]
    return [{"name": group, "rows": [{"name": n, "value": stored.get(n), "missing": missing.get(n, "")} for n in names]}
            for group, names in FEATURE_GROUPS.items()]
