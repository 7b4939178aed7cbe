"""The meta-labeler's API: its dataset (metadata as JSON, or the rows as Parquet), model versions,
training requests, activation and retirement (writes: an operator token, the admin key or a staff session
holding the operation's permission, ``snapshots.permissions``)."""

from __future__ import annotations

import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmodels import services
from mlmodels.dataset import COLUMNS, DatasetError, dataset_build
from mlmodels.models import ModelVersion, TrainingRequest
from snapshots.params import IdField, StrictDateField
from strategy.models import Source
from snapshots.permissions import MODEL_ACTIVATE, MODEL_RETIRE, MODEL_TRAIN, require_session_perm
from strategy.quant.decision import DEFAULT_ML_GROUP


class DatasetApi(APIView):
    """``GET /api/ml/dataset?source=backtest&run=N[&start=&end=][&output=parquet]``."""

    class InputSerializer(serializers.Serializer[Any]):
        # A query field named "source": the serializer metaclass moves it off Field.source.
        source = serializers.ChoiceField(choices=Source.values, default=Source.BACKTEST)  # type: ignore[assignment]
        run = IdField(required=False)
        start = StrictDateField(required=False)
        end = StrictDateField(required=False)
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


# ------------------------------------------------------------------------------ model versions

IDEMPOTENCY_HEADER = "Idempotency-Key"
ErrorSerializer = inline_serializer("MlError", {"error": serializers.CharField(), "fields": serializers.DictField(required=False)})


def _error(message: str, code: int = status.HTTP_400_BAD_REQUEST, fields: dict[str, Any] | None = None) -> Response:
    return Response({"error": message, "fields": fields or {}}, status=code)


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    auc = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "group", "status", "created_at", "model_sha256", "dataset_sha256", "dataset_spec", "dataset_rows",
                  "feature_schema", "threshold", "calibrator", "auc", "gain_expectancy_usd", "gain_low_usd", "gain_high_usd",
                  "status_changed_at", "status_reason", "forced", "code_version", "library_versions", "page"]

    def get_auc(self, mv: ModelVersion) -> float | None:
        return (mv.report or {}).get("oos", {}).get("auc")

    def get_page(self, mv: ModelVersion) -> str:
        return f"/models/{mv.pk}/"


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = ModelVersionSerializer.Meta.fields + ["feature_names", "params", "report", "importances"]


class TrainingRequestSerializer(serializers.ModelSerializer[TrainingRequest]):
    class Meta:
        model = TrainingRequest
        fields = ["id", "idempotency_key", "group", "dataset_spec", "params", "status", "progress", "stage", "error",
                  "model", "created_at", "finished_at"]


class _ModelAction(APIView):
    """POST /api/ml/models/<pk>/<action> (a write: operator token, admin key or staff session): validate the body, find the model, act."""

    InputSerializer: type[serializers.Serializer[Any]]
    perm: str  # what a staff session needs (tokens and the admin key are let in by WritesNeedOperator)

    def act(self, mv: ModelVersion, data: dict[str, Any]) -> ModelVersion:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        require_session_perm(request, self.perm)
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            return _error("invalid body", fields=body.errors)
        mv = ModelVersion.objects.filter(pk=pk).first()
        if mv is None:
            return _error("not found", status.HTTP_404_NOT_FOUND)
        try:
            mv = self.act(mv, body.validated_data)
        except services.ModelError as exc:
            return _error(str(exc), status.HTTP_409_CONFLICT)
        return Response(ModelVersionSerializer(mv).data)


class ModelListApi(APIView):
    @extend_schema(operation_id="ml_models_list", summary="Meta-labeler model versions, newest first",
                   responses={200: ModelVersionSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ModelVersionSerializer(ModelVersion.objects.all()[:200], many=True).data)


class ModelDetailApi(APIView):
    @extend_schema(operation_id="ml_models_retrieve", summary="One model version: its report, importances, parameters",
                   responses={200: ModelVersionDetailSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        mv = ModelVersion.objects.filter(pk=pk).first()
        if mv is None:
            return _error("not found", status.HTTP_404_NOT_FOUND)
        return Response(ModelVersionDetailSerializer(mv).data)


class TrainApi(APIView):
    class TrainInputSerializer(serializers.Serializer[Any]):
        source = serializers.ChoiceField(choices=Source.values, default=Source.BACKTEST)  # type: ignore[assignment]
        run = IdField(required=False)
        start = StrictDateField(required=False)
        end = StrictDateField(required=False)
        group = serializers.CharField(max_length=40, default=DEFAULT_ML_GROUP)
        params = serializers.DictField(required=False, default=dict, help_text="LearnParams fields to change")
        idempotency_key = serializers.CharField(max_length=80, required=False,
                                                help_text=f"or the {IDEMPOTENCY_HEADER} header")

    @extend_schema(operation_id="ml_models_train", summary="Train a model on a dataset (a write: operator token, admin key or staff session; idempotent on its key)",
                   request=TrainInputSerializer,
                   parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False)],
                   responses={202: TrainingRequestSerializer, 200: TrainingRequestSerializer, 400: ErrorSerializer,
                              401: ErrorSerializer})
    def post(self, request: Request) -> Response:
        require_session_perm(request, MODEL_TRAIN)
        body = self.TrainInputSerializer(data=request.data)
        if not body.is_valid():
            return _error("invalid body", fields=body.errors)
        p = body.validated_data
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip() or p.get("idempotency_key") or ""
        try:
            req, created = services.request_training(
                dataset_spec={"source": p["source"], "run": p.get("run"), "start": p.get("start"), "end": p.get("end")},
                group=p["group"], params=p["params"], idempotency_key=key)
        except services.ModelError as exc:
            return _error(str(exc))
        if created:
            services.training_launch(req)
        return Response(TrainingRequestSerializer(req).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class TrainingDetailApi(APIView):
    @extend_schema(operation_id="ml_trainings_retrieve", summary="A training request: status, progress, its model",
                   responses={200: TrainingRequestSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        req = TrainingRequest.objects.filter(pk=pk).first()
        if req is None:
            return _error("not found", status.HTTP_404_NOT_FOUND)
        return Response(TrainingRequestSerializer(req).data)


class ActivateApi(_ModelAction):
    class ActivateInputSerializer(serializers.Serializer[Any]):
        force = serializers.BooleanField(default=False)
        reason = serializers.CharField(max_length=500, allow_blank=True, default="")

    InputSerializer = ActivateInputSerializer
    perm = MODEL_ACTIVATE

    def act(self, mv: ModelVersion, data: dict[str, Any]) -> ModelVersion:
        return services.activate(mv, force=data["force"], reason=data["reason"])

    @extend_schema(operation_id="ml_models_activate", summary="Activate a model for its group (operator token, admin key or staff session)",
                   request=ActivateInputSerializer, responses={200: ModelVersionSerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)


class RetireApi(_ModelAction):
    class RetireInputSerializer(serializers.Serializer[Any]):
        reason = serializers.CharField(max_length=500, allow_blank=True, default="")

    InputSerializer = RetireInputSerializer
    perm = MODEL_RETIRE

    def act(self, mv: ModelVersion, data: dict[str, Any]) -> ModelVersion:
        return services.retire(mv, reason=data["reason"])

    @extend_schema(operation_id="ml_models_retire", summary="Retire a model (operator token, admin key or staff session)",
                   request=RetireInputSerializer, responses={200: ModelVersionSerializer, 404: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)
