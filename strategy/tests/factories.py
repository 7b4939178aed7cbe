from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from strategy.models import StrategyConfig, StrategyConfigChange, TradeDecision


class StrategyConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StrategyConfig
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"config {n}")
    side = StrategyConfig.Side.PUT_CREDIT
    target_dte = 5
    short_delta_target = Decimal("0.10")
    width_points = Decimal("25")
    min_credit = Decimal("0.50")


class TradeDecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TradeDecision

    trading_day = dt.date(2026, 11, 20)
    entry_window = dt.time(10, 0)
    strategy_config = factory.SubFactory(StrategyConfigFactory)
    config_params = factory.LazyAttribute(lambda o: o.strategy_config.frozen())
    source = TradeDecision.Source.SIMULATED
    decided_at = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    action = TradeDecision.Action.SKIP
    reason_code = "stale_snapshot"
    reason_message = "latest 5-DTE snapshot is 30 min old (max 10)"


class StrategyConfigChangeFactory(factory.django.DjangoModelFactory):
    """A recorded edit of a config (``priority`` 100 → 90 by default); real ones come from ``config_save``."""

    class Meta:
        model = StrategyConfigChange

    config = factory.SubFactory(StrategyConfigFactory, priority=90)
    changed_at = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
    changed_by = None
    changed_by_name = ""
    action = StrategyConfigChange.Action.EDITED
    via = StrategyConfigChange.Via.COMMAND
    after = factory.LazyAttribute(lambda o: o.config.frozen())
    before = factory.LazyAttribute(lambda o: {**o.after, "priority": 100})
    diff = factory.LazyAttribute(lambda o: {"priority": [o.before["priority"], o.after["priority"]]})
