"""DRF API for trades and PnL: the list with filters, one trade with its legs, orders, fills and
marks, the open positions (strategies' and adopted broker orders'), and the PnL summary (stats,
buckets, equity curve) the pages show."""

from __future__ import annotations

import math

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from snapshots.api_lists import RowListSerializer
from execution import selectors
from snapshots.params import IdField
from execution.models import AdoptedOrder, Fill, Order, PositionMark, Source, Trade, TradeLeg


class TradeOutputSerializer(serializers.ModelSerializer):
    strategy_config = serializers.CharField(source="strategy_config.name")
    backtest_run_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Trade
        list_serializer_class = RowListSerializer  # many=True: the same rows, cheaper (snapshots.api_lists)
        fields = [
            "id", "decision", "strategy_config", "source", "backtest_run_id", "status", "side", "root", "expiration",
            "quantity", "short_strike", "long_strike", "width_points", "entry_credit", "max_profit_usd",
            "max_loss_usd", "take_profit_debit", "stop_loss_debit", "opened_at", "closed_at", "exit_reason",
            "exit_debit", "settlement_price", "settlement_source", "fees_usd", "realized_pnl_usd",
        ]


class TradeListApi(APIView):
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=selectors.STATUS_FILTERS, required=False)
        # A query field named "source": the serializer metaclass moves it off Field.source.
        source = serializers.ChoiceField(choices=Source.values, required=False)  # type: ignore[assignment]
        config = IdField(required=False)
        limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_LIMIT, default=100)

    @extend_schema(operation_id="trades_list", summary="Trades, newest first", parameters=[InputSerializer],
                   responses={200: inline_serializer("TradeList", {"items": TradeOutputSerializer(many=True)})})
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        p = params.validated_data
        rows = selectors.trade_list(status=p.get("status"), source=p.get("source"), config_id=p.get("config"),
                                    limit=p["limit"])
        return Response({"items": TradeOutputSerializer(rows, many=True).data})


class LegOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TradeLeg
        fields = ["symbol", "side", "strike", "option_type", "quantity", "entry_price", "exit_price"]


class FillOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = ["fill_key", "quantity", "price", "filled_at"]


class OrderOutputSerializer(serializers.ModelSerializer):
    fills = FillOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id", "client_tag", "purpose", "attempt", "broker", "broker_order_id", "state", "order_type",
            "limit_price", "initial_limit_price", "quantity", "legs", "filled_quantity", "avg_fill_price",
            "walk_steps", "reason", "submitted_at", "last_synced_at", "created_at", "fills",
        ]


class MarkOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PositionMark
        fields = ["ts", "snapshot", "debit_mid", "debit_fill", "unrealized_pnl_usd", "signal"]


class TradeDetailApi(APIView):
    """One trade with its legs, its orders (oldest first, each with its fills) and its marks by slot."""

    class OutputSerializer(TradeOutputSerializer):
        legs = LegOutputSerializer(many=True, read_only=True)
        orders = OrderOutputSerializer(many=True, read_only=True)
        marks = MarkOutputSerializer(many=True, read_only=True)

        class Meta(TradeOutputSerializer.Meta):
            fields = [*TradeOutputSerializer.Meta.fields, "legs", "orders", "marks"]

    @extend_schema(operation_id="trades_retrieve", summary="One trade with its legs, orders (with fills) and marks",
                   responses={200: OutputSerializer})
    def get(self, request: Request, pk: int) -> Response:
        trade = selectors.trade_get(pk)  # legs, orders with fills and marks are prefetched in order
        if trade is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        return Response(self.OutputSerializer(trade).data)


class FiniteFloatField(serializers.FloatField):
    """NaN and ±∞ are not JSON: a ratio undefined for lack of trades, or a profit factor with no
    losing trade, comes out as null (``trades`` and ``winners`` tell which)."""

    def to_representation(self, value: float) -> float | None:  # type: ignore[override]  # null is the point
        value = float(value)
        return value if math.isfinite(value) else None


class PnlApi(APIView):
    """Realized PnL of live (non-backtest-run) trades: stats, per-bucket stats and the equity curve."""

    class InputSerializer(serializers.Serializer):
        # A query field named "source": the serializer metaclass moves it off Field.source.
        source = serializers.ChoiceField(choices=Source.values, required=False)  # type: ignore[assignment]

    class StatsSerializer(serializers.Serializer):
        trades = serializers.IntegerField()
        winners = serializers.IntegerField()
        win_rate = FiniteFloatField(allow_null=True)
        total_pnl_usd = serializers.FloatField()
        expectancy_usd = FiniteFloatField(allow_null=True)
        profit_factor = FiniteFloatField(allow_null=True)
        max_drawdown_usd = serializers.FloatField()

    class BucketSerializer(StatsSerializer):
        bucket = serializers.CharField()

    @extend_schema(operation_id="pnl", summary="Realized PnL: stats, per-bucket stats, equity curve, daily PnL",
                   parameters=[InputSerializer],
                   responses={200: inline_serializer("Pnl", {
                       "source": serializers.CharField(allow_null=True), "stats": StatsSerializer(),
                       "buckets": BucketSerializer(many=True),
                       "equity_curve": inline_serializer("EquityPoint", {
                           "date": serializers.DateField(), "equity_usd": serializers.FloatField()}, many=True),
                       "daily_pnl": inline_serializer("DailyPnl", {
                           "date": serializers.DateField(), "pnl_usd": serializers.FloatField()}, many=True)})})
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        source = params.validated_data.get("source")
        stats, buckets = selectors.pnl_summary(source=source)
        return Response({
            "source": source,
            "stats": self.StatsSerializer(stats).data,
            "buckets": [{"bucket": name, **self.StatsSerializer(b).data} for name, b in buckets.items()],
            "equity_curve": [{"date": day.isoformat(), "equity_usd": value} for day, value in stats.equity_curve],
            "daily_pnl": [{"date": day.isoformat(), "pnl_usd": value} for day, value in stats.daily_pnl],
        })


class AdoptedOrderOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdoptedOrder
        fields = ["id", "broker_order_id", "origin", "client_tag", "state", "order_type", "quantity", "limit_price",
                  "filled_quantity", "avg_fill_price", "legs", "broker_created_at", "last_synced_at"]


class PositionsApi(APIView):
    """What the dashboard's open positions show: the strategies' trades not closed, live and simulated,
    and, as lines of their own, the filled part of broker orders no strategy placed (B1 #13, #14),
    which no config's max open trades counts."""

    class AdoptedPositionSerializer(serializers.Serializer):
        order = AdoptedOrderOutputSerializer()
        expiration = serializers.DateField(allow_null=True)

    @extend_schema(operation_id="positions_list", summary="Open positions: strategy trades and adopted broker orders",
                   responses={200: inline_serializer("Positions", {
                       "trades": TradeOutputSerializer(many=True),
                       "adopted": AdoptedPositionSerializer(many=True)})})
    def get(self, request: Request) -> Response:
        trades = [p.trade for p in selectors.open_positions()]
        return Response({"trades": TradeOutputSerializer(trades, many=True).data,
                         "adopted": self.AdoptedPositionSerializer(selectors.adopted_positions(), many=True).data})
