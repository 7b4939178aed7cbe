"""Reads for the strategy app."""

from __future__ import annotations

import datetime as dt
from typing import Any
from django.db.models import QuerySet

from snapshots.models import ChainSnapshot, ContextSnapshot
from strategy.models import TradeDecision
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


def decision_list(
    *,
    day: dt.date | None = None,
    config_id: int | None = None,
    action: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    limit: int = 200,
) -> QuerySet[TradeDecision]:
    qs = TradeDecision.objects.select_related("strategy_config", "snapshot").defer("snapshot__payload_zstd")
    if day:
        qs = qs.filter(trading_day=day)
    if config_id:
        qs = qs.filter(strategy_config_id=config_id)
    if action:
        qs = qs.filter(action=action)
    if reason:
        qs = qs.filter(reason_code=reason)
    if source:
        qs = qs.filter(source=source)
    return qs[:limit]


def feature_groups(decision: TradeDecision) -> list[dict[str, Any]]:
    """The decision's features by group (candidate, market, calendar) in schema order, each with its
    value or the reason it is missing; features of an older schema are listed as stored."""
    stored = decision.features or {}
    missing = decision.feature_missing or {}
    if decision.feature_schema != FEATURE_SCHEMA_VERSION:
        return [{"name": "stored", "rows": [{"name": k, "value": v, "missing": ""} for k, v in sorted(stored.items())]}]
    return [{"name": group, "rows": [{"name": n, "value": stored.get(n), "missing": missing.get(n, "")} for n in names]}
            for group, names in FEATURE_GROUPS.items()]
