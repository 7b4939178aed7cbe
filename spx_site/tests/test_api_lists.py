"""The API lists' ``RowListSerializer`` (snapshots.api_lists) gives exactly the rows DRF's own
``many=True`` gave: every field, None and set, Decimals with their places, datetimes, choices,
ids of relations, a nested name; and the endpoints return them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.test import APIClient

from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution import selectors as trade_selectors
from execution.api import TradeOutputSerializer
from execution.models import Trade
from execution.tests.factories import TradeFactory
from mlmodels.tests.factories import ModelVersionFactory
from snapshots.api_lists import RowListSerializer
from snapshots.tests.factories import ChainSnapshotFactory
from strategy import selectors as decision_selectors
from strategy.api import DecisionOutputSerializer
from strategy.models import TradeDecision
from strategy.tests.factories import TradeDecisionFactory

pytestmark = pytest.mark.django_db


def drf_rows(serializer: type[serializers.ModelSerializer[Any]], rows: list[Any]) -> list[dict[str, Any]]:
    """What ``serializer(rows, many=True).data`` gave before ``RowListSerializer``: DRF's ListSerializer."""
    return [dict(r) for r in serializers.ListSerializer(child=serializer(), instance=rows).data]


def test_trade_rows_equal_drf() -> None:
    TradeFactory()
    TradeFactory(closed=True, settlement_price=Decimal("5912.345"), fees_usd=Decimal("2.6"))
    TradeFactory(status=Trade.Status.NOT_FILLED, opened_at=None, entry_credit=None)
    backtest_trade(BacktestRunFactory(), day=dt.date(2026, 6, 1), realized_pnl_usd=Decimal("-1234.5"))
    rows = list(trade_selectors.trade_list(source="all", limit=None))
    fast = TradeOutputSerializer(rows, many=True)
    assert isinstance(fast, RowListSerializer)
    assert [dict(r) for r in fast.data] == drf_rows(TradeOutputSerializer, rows)
    assert len(rows) == 4 and {r["backtest_run_id"] is None for r in fast.data} == {True, False}


def test_decision_rows_equal_drf() -> None:
    TradeDecisionFactory()
    TradeDecisionFactory(
        trading_day=dt.date(2026, 11, 21), action=TradeDecision.Action.TRADE, reason_code="ok", reason_message="",
        snapshot=ChainSnapshotFactory(), snapshot_checksum="abc", credit_fill=Decimal("1.2"), credit_mid=Decimal("1.25"),
        legs=[{"side": "sell", "strike": 5900.0}], features={"vix": 17.5}, feature_missing={"gex": "no chain"},
        model_version=ModelVersionFactory(), model_score=0.61, expiration=dt.date(2026, 11, 26))
    TradeDecisionFactory(trading_day=dt.date(2026, 11, 22), source=TradeDecision.Source.BACKTEST,
                         backtest_run=BacktestRunFactory())
    rows = list(decision_selectors.decision_list(source="all", limit=None))
    fast = DecisionOutputSerializer(rows, many=True)
    assert isinstance(fast, RowListSerializer)
    assert [dict(r) for r in fast.data] == drf_rows(DecisionOutputSerializer, rows)
    assert {r["snapshot"] is None for r in fast.data} == {True, False}


def test_list_endpoints_return_the_rows() -> None:
    TradeFactory(closed=True)
    TradeDecisionFactory()
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user("script", password="pw-for-tests-only"))
    trades = client.get("/api/trades").json()["items"]
    assert trades == drf_rows(TradeOutputSerializer, list(trade_selectors.trade_list(limit=100)))
    decisions = client.get("/api/decisions").json()["items"]
    assert decisions == drf_rows(DecisionOutputSerializer, list(decision_selectors.decision_list(limit=100)))
    assert trades and decisions
