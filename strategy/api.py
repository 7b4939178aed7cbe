"""DRF API for decisions (list with filters, and one decision) and a strategy config's change history."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from snapshots.api_lists import RowListSerializer
from snapshots.params import IdField, StrictDateField
from strategy import configs, selectors
from strategy.models import StrategyConfig, StrategyConfigChange, TradeDecision


class DecisionOutputSerializer(serializers.ModelSerializer):
    strategy_config = serializers.CharField(source="strategy_config.name")
    backtest_run_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = TradeDecision
        list_serializer_class = RowListSerializer  # many=True: the same rows, cheaper (snapshots.api_lists)
        fields = [
            "id", "trading_day", "entry_window", "strategy_config", "config_params", "source", "backtest_run_id",
            "decided_at", "action", "reason_code", "reason_message", "snapshot", "snapshot_checksum", "context",
            "expiration", "legs", "credit_mid", "credit_fill", "width_points", "max_profit_usd", "max_loss_usd",
            "features", "feature_missing", "feature_schema", "model_version", "model_score",
        ]


class DecisionListApi(APIView):
    class InputSerializer(serializers.Serializer):
        day = StrictDateField(required=False)
        config = IdField(required=False)
        action = serializers.ChoiceField(choices=TradeDecision.Action.values, required=False)
        reason = serializers.CharField(required=False, max_length=40)
        # A query field named "source": the serializer metaclass moves it off Field.source.
        source = serializers.ChoiceField(choices=TradeDecision.Source.values, required=False)  # type: ignore[assignment]
        limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_LIMIT, default=100)

    @extend_schema(operation_id="decisions_list", summary="Decisions, newest first", parameters=[InputSerializer],
                   responses={200: inline_serializer("DecisionList", {"items": DecisionOutputSerializer(many=True)})})
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        p = params.validated_data
        rows = selectors.decision_list(
            day=p.get("day"), config_id=p.get("config"), action=p.get("action"), reason=p.get("reason"),
            source=p.get("source"), limit=p["limit"],
        )
        return Response({"items": DecisionOutputSerializer(rows, many=True).data})


class DecisionDetailApi(APIView):
    @extend_schema(operation_id="decisions_retrieve", summary="One decision", responses={200: DecisionOutputSerializer})
    def get(self, request: Request, pk: int) -> Response:
        decision = TradeDecision.objects.select_related("strategy_config").filter(pk=pk).first()
        if decision is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        return Response(DecisionOutputSerializer(decision).data)


class ConfigChangeOutputSerializer(serializers.ModelSerializer):
    config_id = serializers.IntegerField(read_only=True)
    copied_from_id = serializers.IntegerField(read_only=True, allow_null=True)
    changed_by = serializers.CharField(source="changed_by_name")

    class Meta:
        model = StrategyConfigChange
        fields = ["id", "config_id", "changed_at", "changed_by", "action", "via", "copied_from_id", "diff", "before",
                  "after"]


class ConfigHistoryApi(APIView):
    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_LIMIT, default=100)

    @extend_schema(operation_id="config_history", summary="A strategy config's recorded changes, newest first",
                   parameters=[InputSerializer],
                   responses={200: inline_serializer("ConfigHistory", {
                       "config": inline_serializer("ConfigRef", {"id": serializers.IntegerField(),
                                                                 "name": serializers.CharField()}),
                       "items": ConfigChangeOutputSerializer(many=True)})})
    def get(self, request: Request, pk: int) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        config = StrategyConfig.objects.filter(pk=pk).first()
        if config is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        rows = configs.config_history(config)[: params.validated_data["limit"]]
        return Response({"config": {"id": config.pk, "name": config.name},
                         "items": ConfigChangeOutputSerializer(rows, many=True).data})
