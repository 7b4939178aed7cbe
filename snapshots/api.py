"""DRF API for snapshots, keeping the original contracts (see README "API")."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from snapshots import selectors
from snapshots.analytics import snapshot_analytics
from snapshots.api_auth import PUBLIC_READS, ApiKeyAuthentication, HasAdminApiKey
from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.params import BoundedIntegerField
from snapshots.providers.base import ProviderError
from snapshots.services import provider_get, snapshot_capture

KNOWN_UNDERLYINGS = ("SPX",)

ProviderErrorSerializer = inline_serializer("ProviderError", {
    "error": serializers.CharField(), "fields": serializers.DictField(), "reason": serializers.CharField()})


class SnapshotInsertedSerializer(serializers.Serializer):
    target_dte = serializers.IntegerField()
    expiration = serializers.DateField()
    actual_dte_days = serializers.IntegerField()
    checksum = serializers.CharField()


class SnapshotOptionSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    strike = serializers.FloatField()
    option_type = serializers.ChoiceField(choices=["call", "put"])
    bid = serializers.FloatField(allow_null=True)
    ask = serializers.FloatField(allow_null=True)
    iv = serializers.FloatField(allow_null=True)
    iv_reason = serializers.CharField(allow_blank=True)
    delta = serializers.FloatField(allow_null=True)


class ForwardFitSerializer(serializers.Serializer):
    forward = serializers.FloatField(allow_null=True)
    discount = serializers.FloatField(allow_null=True)
    r_squared = serializers.FloatField(allow_null=True)
    n_used = serializers.IntegerField()
    ok = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True, allow_null=True)


class ChainSnapshotListApi(APIView):
    """The seed's public list: no credentials needed (the detail and everything else need them)."""

    permission_classes = PUBLIC_READS

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, default=50)
        target_dte = BoundedIntegerField(min_value=0, required=False)

        def validate_limit(self, value: int) -> int:
            if value > settings.API_MAX_LIMIT:
                raise serializers.ValidationError(f"at most {settings.API_MAX_LIMIT}")
            return value

    class OutputSerializer(serializers.Serializer):
        snapshot_id = serializers.IntegerField(source="pk")
        ts = serializers.DateTimeField()
        underlying = serializers.CharField()
        # A field named "root": the serializer metaclass moves it off Field.root.
        root = serializers.CharField()  # type: ignore[assignment]
        target_dte = serializers.IntegerField()
        purpose = serializers.CharField()
        expiration = serializers.DateField()
        actual_dte_days = serializers.IntegerField()
        provider = serializers.CharField()
        option_count = serializers.IntegerField()
        checksum = serializers.CharField()

    @extend_schema(operation_id="chain_snapshots_list", summary="Chain snapshots, newest first",
                   parameters=[InputSerializer],
                   responses={200: inline_serializer("ChainSnapshotList", {"items": OutputSerializer(many=True)})})
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        rows = selectors.snapshot_list(**params.validated_data)
        return Response({"items": self.OutputSerializer(rows, many=True).data})


class RunSnapshotApi(APIView):
    """Capture now. ``force`` (default true, as the original endpoint) ignores the session hours."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasAdminApiKey]

    class InputSerializer(serializers.Serializer):
        force = serializers.BooleanField(default=True)

    class OutputSerializer(serializers.Serializer):
        skipped = serializers.BooleanField()
        reason = serializers.CharField(allow_blank=True, allow_null=True)
        now_et = serializers.DateTimeField()
        provider = serializers.CharField(allow_null=True)
        inserted = SnapshotInsertedSerializer(many=True)
        existing = serializers.JSONField()
        failures = serializers.JSONField()

    @extend_schema(operation_id="admin_run_snapshot", summary="Capture now (X-API-Key when ADMIN_API_KEY is set)",
                   request=InputSerializer, responses={200: OutputSerializer, 502: ProviderErrorSerializer})
    def post(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.data)
        if not params.is_valid():
            return Response({"error": "invalid body", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            result = snapshot_capture(now=timezone.now(), force=params.validated_data["force"])
        except ProviderError as exc:
            return Response({"error": "provider failed", "fields": {}, "reason": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(
            {
                "skipped": result.skipped,
                "reason": result.reason,
                "now_et": result.now_et.isoformat(),
                "provider": result.provider,
                "inserted": [
                    {k: r[k] for k in ("target_dte", "expiration", "actual_dte_days", "checksum")}
                    for r in result.inserted
                ],
                "existing": result.existing,
                "failures": result.failures,
            }
        )


class ExpirationListApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasAdminApiKey]

    class InputSerializer(serializers.Serializer):
        symbol = serializers.CharField(default="SPX")

        def validate_symbol(self, value: str) -> str:
            value = value.upper()
            if value not in KNOWN_UNDERLYINGS:
                raise serializers.ValidationError(f"unknown symbol; supported: {', '.join(KNOWN_UNDERLYINGS)}")
            return value

    @extend_schema(operation_id="admin_expirations", summary="Listed expirations (X-API-Key when ADMIN_API_KEY is set)",
                   parameters=[InputSerializer],
                   responses={200: inline_serializer("ExpirationList", {
                       "symbol": serializers.CharField(), "provider": serializers.CharField(),
                       "expirations": serializers.ListField(child=serializers.DateField())}),
                       502: ProviderErrorSerializer})
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        symbol = params.validated_data["symbol"]
        provider = provider_get()
        try:
            expirations = provider.expirations(symbol, include_all_roots=True)
        except ProviderError as exc:
            return Response({"error": "provider failed", "fields": {}, "reason": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(
            {"symbol": symbol, "provider": provider.name, "expirations": [e.date.isoformat() for e in expirations]}
        )


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class ChainSnapshotDetailApi(APIView):
    """One snapshot: metadata, our implied forward, and per-option IV and delta (recomputed)."""

    class OutputSerializer(ChainSnapshotListApi.OutputSerializer):
        checksum_verified = serializers.BooleanField()
        forward = ForwardFitSerializer()
        minutes_to_settlement = serializers.FloatField(allow_null=True)
        root_options = SnapshotOptionSerializer(many=True)

    @extend_schema(operation_id="chain_snapshots_retrieve",
                   summary="One snapshot with our implied forward and per-option IV, IV reason and delta",
                   responses={200: OutputSerializer})
    def get(self, request: Request, pk: int) -> Response:
        snapshot = ChainSnapshot.objects.filter(pk=pk).first()
        if snapshot is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        a = snapshot_analytics(snapshot)
        options = [
            {
                "symbol": str(a.symbols[i]), "strike": float(a.strikes[i]),
                "option_type": "call" if a.is_call[i] else "put",
                "bid": _finite_or_none(a.bid[i]), "ask": _finite_or_none(a.ask[i]),
                "iv": _finite_or_none(a.iv[i]), "iv_reason": str(a.iv_reason[i]),
                "delta": _finite_or_none(a.delta[i]),
            }
            for i in range(a.n_options)
        ]
        return Response(
            {
                **ChainSnapshotListApi.OutputSerializer(snapshot).data,
                "purpose": snapshot.purpose,
                "checksum_verified": snapshot.verify_checksum(),
                "forward": {
                    "forward": _finite_or_none(a.fit.forward), "discount": _finite_or_none(a.fit.discount),
                    "r_squared": _finite_or_none(a.fit.r_squared), "n_used": a.fit.n_used,
                    "ok": a.fit.ok, "reason": a.fit.reason,
                },
                "minutes_to_settlement": a.minutes_to_settlement,
                "root_options": options,
            }
        )


class ContextSnapshotListApi(APIView):
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = ContextSnapshot
            fields = [
                "id", "ts", "underlying", "provider", "spx_price", "vix_price", "vix9d_price", "vix30_own",
                "vix9d_own", "vix30_reason", "vix9d_reason", "term_ratio_9d_30d", "term_slope_pts_per_day",
                "gex_usd_per_pct", "forwards", "details", "chain_snapshots",
            ]

    @extend_schema(operation_id="context_snapshots_list", summary="Market context per slot, newest first",
                   parameters=[ChainSnapshotListApi.InputSerializer],
                   responses={200: inline_serializer("ContextSnapshotList", {"items": OutputSerializer(many=True)})})
    def get(self, request: Request) -> Response:
        params = ChainSnapshotListApi.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        rows = selectors.context_list(limit=params.validated_data["limit"]).prefetch_related("chain_snapshots")
        return Response({"items": self.OutputSerializer(rows, many=True).data})
