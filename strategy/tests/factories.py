from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from strategy.models import StrategyConfig, TradeDecision


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
