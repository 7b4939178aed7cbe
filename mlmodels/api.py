"""The meta-labeler's API: its dataset (metadata as JSON, or the rows as Parquet)."""

from __future__ import annotations

import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmodels.dataset import COLUMNS, DatasetError, dataset_build
from strategy.models import Source


class DatasetApi(APIView):
    """``GET /api/ml/dataset?source=backtest&run=N[&start=&end=][&output=parquet]``."""

    class InputSerializer(serializers.Serializer[Any]):
        # A query field named "source": the serializer metaclass moves it off Field.source.
        source = serializers.ChoiceField(choices=Source.values, default=Source.BACKTEST)  # type: ignore[assignment]
        run = serializers.IntegerField(required=False, min_value=1)
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)
        output = serializers.ChoiceField(choices=["json", "parquet"], default="json")  # DRF owns ?format=

    class OutputSerializer(serializers.Serializer[Any]):
        rows = serializers.IntegerField()
        sha256 = serializers.CharField()
        columns = serializers.ListField(child=serializers.CharField())
        label_share = serializers.FloatField(allow_null=True)
        skipped = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(
        operation_id="ml_dataset", summary="The meta-labeler's dataset of a backtest run or of live candidates",
        parameters=[OpenApiParameter("source", str), OpenApiParameter("run", int), OpenApiParameter("start", str),
                    OpenApiParameter("end", str), OpenApiParameter("output", str, description="json (metadata) or parquet (the rows)")],
        responses={200: OutputSerializer},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return Response({"error": "invalid query", "fields": params.errors}, status=status.HTTP_400_BAD_REQUEST)
        q = params.validated_data
        try:
            data = dataset_build(source=q["source"], run_id=q.get("run"), start=q.get("start"), end=q.get("end"))
        except DatasetError as exc:
            return Response({"error": str(exc), "fields": {}}, status=status.HTTP_400_BAD_REQUEST)
        if q["output"] == "parquet":
            buffer = io.BytesIO()
            data.write_parquet(buffer)
            response = HttpResponse(buffer.getvalue(), content_type="application/vnd.apache.parquet")
            response["Content-Disposition"] = f'attachment; filename="dataset-{data.sha256[:12]}.parquet"'
            response["X-Dataset-SHA256"] = data.sha256
            return response
        n = len(data.rows)
        return Response({"rows": n, "sha256": data.sha256, "columns": list(COLUMNS),
                         "label_share": (sum(r["label"] for r in data.rows) / n) if n else None, "skipped": data.skipped})
