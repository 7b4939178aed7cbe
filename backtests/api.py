"""DRF API for backtest runs: list and launch, one run (status, progress, parameters, metrics),
cancel, and a run's trades. Launch and cancel are writes (an operator token, the admin key or a
staff session holding ``backtests.add_backtestrun`` / ``backtests.cancel_run``); reads need credentials like
the other reads (a login, any API token or the admin key). A launch is idempotent on its ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests import capital, selectors, services
from backtests.engine.capital import capital_error, risk_fraction_error
from backtests.services import sweeps
from backtests.services.sweep_materialise import variant_materialise
from backtests.models import BacktestRun
from snapshots.permissions import BACKTEST_CANCEL, BACKTEST_LAUNCH, require_session_perm
from execution.api import TradeOutputSerializer
from snapshots.params import StrictDateField
from strategy.models import StrategyConfig
from strategy.services import ENTRY_WINDOWS

WINDOWS = [w.strftime("%H:%M") for w in ENTRY_WINDOWS]
IDEMPOTENCY_HEADER = "Idempotency-Key"

ErrorSerializer = inline_serializer("BacktestError", {
    "error": serializers.CharField(), "fields": serializers.DictField(required=False),
})


class PageInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=settings.API_MAX_LIMIT, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)


# A launch's answers (runs and sweeps alike): created, the same key and body again, refused, another body.
def _launch_responses() -> dict[int, Any]:
    return {201: BacktestRunDetailSerializer, 200: BacktestRunDetailSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="key used with another body")}


def _idempotency_key(request: Request, body: Mapping[str, Any]) -> tuple[str | None, Response | None]:
    """A launch's idempotency key, from the header or the body (they must agree; at most 80
    characters): (key or None, None), or (None, the 400 to answer)."""
    header_key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if header_key and body.get("idempotency_key") and header_key != body["idempotency_key"]:
        return None, Response({"error": "invalid body", "fields": {
            "idempotency_key": [f"differs from the {IDEMPOTENCY_HEADER} header"]}}, status=status.HTTP_400_BAD_REQUEST)
    key = header_key or body.get("idempotency_key") or None
    if key and len(key) > 80:
        return None, Response({"error": "invalid body", "fields": {
            "idempotency_key": ["at most 80 characters"]}}, status=status.HTTP_400_BAD_REQUEST)
    return key, None


def _invalid(serializer: serializers.Serializer, what: str) -> Response:
    return Response({"error": f"invalid {what}", "fields": serializer.errors}, status=status.HTTP_400_BAD_REQUEST)


class BacktestChunkSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    days_total = serializers.IntegerField()
    days_done = serializers.IntegerField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()


class BacktestRunSerializer(serializers.Serializer):
    """A run in lists: status, progress and the summary figures once done (null before)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    risk_scope = serializers.SerializerMethodField()
    strategies = serializers.SerializerMethodField()
    days_total = serializers.IntegerField()
    days_done = serializers.SerializerMethodField()
    chunks_total = serializers.IntegerField()
    progress_pct = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()
    idempotency_key = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_risk_scope(self, run: BacktestRun) -> str | None:
        return (run.params or {}).get("risk_scope")

    def get_strategies(self, run: BacktestRun) -> int:
        return selectors.run_strategy_counts(run)[0]

    def get_days_done(self, run: BacktestRun) -> int:
        return int(selectors.run_progress(run)["days_done"])

    def get_progress_pct(self, run: BacktestRun) -> float:
        return float(selectors.run_progress(run)["pct"])

    def get_summary(self, run: BacktestRun) -> dict[str, Any] | None:
        return (run.metrics or {}).get("summary")


class BacktestRunDetailSerializer(BacktestRunSerializer):
    """One run: everything it was given and measured. ``metrics.equity`` only with ``?equity=1``."""

    params = serializers.JSONField()
    params_sha256 = serializers.CharField()
    data_sha256 = serializers.CharField()
    data_days = serializers.SerializerMethodField()
    output_sha256 = serializers.CharField(help_text="SHA-256 of the run's decisions and trades (fixed fields and order)")
    data_gaps = serializers.JSONField(help_text="gaps of the days read and the decisions/exits made inside one")
    code_version = serializers.CharField()
    timings = serializers.JSONField()
    metrics = serializers.SerializerMethodField()
    error = serializers.CharField()
    chunks = serializers.SerializerMethodField()
    capital = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_capital(self, run: BacktestRun) -> dict[str, Any] | None:
        """The trades sized by a capital per strategy and a risk fraction (``?capital=true``); null otherwise."""
        return self.context.get("capital")

    def get_data_days(self, run: BacktestRun) -> int:
        return len(run.data_days or [])

    def get_metrics(self, run: BacktestRun) -> dict[str, Any]:
        metrics = dict(run.metrics or {})
        if not self.context.get("equity"):
            metrics.pop("equity", None)
        return metrics

    @extend_schema_field(BacktestChunkSerializer(many=True))
    def get_chunks(self, run: BacktestRun) -> list[dict[str, Any]]:
        return list(BacktestChunkSerializer(selectors.run_chunks(run), many=True).data)


def _detail(run: BacktestRun, *, equity: bool = False, http_status: int = status.HTTP_200_OK) -> Response:
    fresh = selectors.run_get(run.pk) or run  # with the live progress annotation
    return Response(BacktestRunDetailSerializer(fresh, context={"equity": equity}).data, status=http_status)


class SizingInputSerializer(serializers.Serializer):
    """A capital per strategy and a risk fraction, in the engine's ranges (``engine.capital``)."""

    capital_usd = serializers.FloatField(required=False, help_text="capital per strategy (risk book), USD")
    risk_fraction = serializers.FloatField(required=False, help_text="the most one trade may lose, of the capital")

    def validate_capital_usd(self, value: float) -> float:
        if error := capital_error(value):
            raise serializers.ValidationError(error)
        return value

    def validate_risk_fraction(self, value: float) -> float:
        if error := risk_fraction_error(value):
            raise serializers.ValidationError(error)
        return value


class BacktestRunListCreateApi(APIView):
    """GET lists the runs (a read: any credentials); POST launches one (a write: operator token,
    admin key or staff session, ``snapshots.api_auth.WritesNeedOperator``)."""

    class ListInputSerializer(PageInputSerializer):
        status = serializers.ChoiceField(choices=BacktestRun.Status.values, required=False)

    class BacktestRunCreateInputSerializer(SizingInputSerializer):
        """The run's ``capital_usd`` and ``risk_fraction`` (default: the settings') are stored in its params as
        the default of its capital and sizing view; they change none of its rows."""

        start = StrictDateField()
        end = StrictDateField(required=False, help_text="inclusive; default: start")
        configs = serializers.ListField(child=serializers.CharField(max_length=60), required=False, allow_empty=False,
                                        help_text="strategy config names or ids; default: every config")
        windows = serializers.ListField(child=serializers.ChoiceField(choices=WINDOWS), default=WINDOWS,
                                        allow_empty=False)
        risk_scope = serializers.ChoiceField(choices=services.RISK_SCOPES, default=services.RISK_SCOPES[0])
        exit_check_minutes = serializers.IntegerField(min_value=1, max_value=60, default=1)
        chunk_days = serializers.IntegerField(min_value=1, max_value=366, default=services.DEFAULT_CHUNK_DAYS)
        name = serializers.CharField(max_length=120, allow_blank=True, default="")
        ml_model = serializers.CharField(max_length=20, required=False, allow_null=True, default=None,
                                         help_text="gate the entries with this meta-labeler version; default ungated")
        idempotency_key = serializers.CharField(max_length=80, required=False,
                                                help_text=f"or the {IDEMPOTENCY_HEADER} header")

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            data.setdefault("end", data["start"])
            if data["end"] < data["start"]:
                raise serializers.ValidationError({"end": [f"end {data['end']} is before start {data['start']}"]})
            # The caps, before anything is looked up (the strategies once the configs are resolved, in the service).
            if errors := services.run_limits_errors(start=data["start"], end=data["end"]):
                raise serializers.ValidationError(errors)
            return data

    @extend_schema(
        operation_id="backtests_list", summary="Backtest runs, newest first",
        parameters=[ListInputSerializer],
        responses={200: inline_serializer("BacktestRunList", {
            "items": BacktestRunSerializer(many=True), "count": serializers.IntegerField(),
            "limit": serializers.IntegerField(), "offset": serializers.IntegerField()}), 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        params = self.ListInputSerializer(data=request.query_params)
        if not params.is_valid():
            return _invalid(params, "query")
        p = params.validated_data
        rows = selectors.run_list(status=p.get("status"), limit=p["limit"], offset=p["offset"])
        return Response({"items": BacktestRunSerializer(rows, many=True).data,
                         "count": selectors.run_count(status=p.get("status")), "limit": p["limit"], "offset": p["offset"]})

    @extend_schema(
        operation_id="backtests_create", summary="Launch a backtest (operator token, admin key or staff session; idempotent on its key)",
        request=BacktestRunCreateInputSerializer,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                                     description="the same key and body return the run already launched (200)")],
        responses=_launch_responses(),
    )
    def post(self, request: Request) -> Response:
        require_session_perm(request, BACKTEST_LAUNCH)
        body = self.BacktestRunCreateInputSerializer(data=request.data)
        if not body.is_valid():
            return _invalid(body, "body")
        p = body.validated_data
        key, refused = _idempotency_key(request, p)
        if refused is not None:
            return refused
        if "configs" in p:
            configs, unknown = selectors.configs_resolve(p["configs"])
            if unknown:
                return Response({"error": "invalid body", "fields": {
                    "configs": [f"unknown strategy config(s): {', '.join(unknown)}"]}}, status=status.HTTP_400_BAD_REQUEST)
        else:
            configs = list(StrategyConfig.objects.all())
        try:
            params = services.params_build(
                start=p["start"], end=p["end"], configs=configs, windows=p["windows"], risk_scope=p["risk_scope"],
                exit_check_minutes=p["exit_check_minutes"], chunk_days=p["chunk_days"], ml_model=p["ml_model"],
            )
            params["sizing"] = capital.sizing_params(capital_usd=p.get("capital_usd"), risk_fraction=p.get("risk_fraction"))
            run, created = services.run_create(params, name=p["name"], idempotency_key=key)
        except services.BacktestError as exc:
            if key and selectors.run_by_key(key) is not None:  # the only refusal once the key has a run
                return Response({"error": str(exc), "fields": {}}, status=status.HTTP_409_CONFLICT)
            return Response({"error": str(exc), "fields": exc.fields}, status=status.HTTP_400_BAD_REQUEST)
        if not created:
            if run.name != p["name"][:120]:
                return Response({"error": f"idempotency key {key!r} was used with the name {run.name!r}", "fields": {}},
                                status=status.HTTP_409_CONFLICT)
            return _detail(run)
        services.run_launch(run)
        return _detail(run, http_status=status.HTTP_201_CREATED)


class BacktestRunDetailApi(APIView):
    class InputSerializer(SizingInputSerializer):
        equity = serializers.BooleanField(default=False, help_text="include metrics.equity, the daily curve")
        capital = serializers.BooleanField(
            default=False, help_text="include `capital`: the trades sized by capital_usd and risk_fraction (default: "
                                     "the run's own), contracts = floor(capital × fraction ÷ ((width − credit) × 100))")
        book = serializers.CharField(required=False, max_length=40, help_text="one risk book of the run instead of all")

    @extend_schema(operation_id="backtests_retrieve", summary="One run: status, progress, parameters, metrics",
                   parameters=[InputSerializer],
                   responses={200: BacktestRunDetailSerializer, 400: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        params = self.InputSerializer(data=request.query_params)
        if not params.is_valid():
            return _invalid(params, "query")
        run = selectors.run_get(pk)
        if run is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        p = params.validated_data
        context: dict[str, Any] = {"equity": p["equity"]}
        sizing_asked = p["capital"] or any(k in p for k in ("capital_usd", "risk_fraction", "book"))
        if sizing_asked and run.status == BacktestRun.Status.DONE and not selectors.run_is_sweep(run):
            default_capital, default_fraction = capital.sizing_default(run)
            if p.get("book") and p["book"] not in {b.key for b in capital.run_books(run)}:
                return Response({"error": "invalid query", "fields": {"book": [f"run {run.pk} has no strategy "
                                                                               f"{p['book']!r}"]}},
                                status=status.HTTP_400_BAD_REQUEST)
            context["capital"] = capital.as_api(capital.run_capital(
                run, capital_usd=p.get("capital_usd", default_capital),
                risk_fraction=p.get("risk_fraction", default_fraction), book=p.get("book")))
        return Response(BacktestRunDetailSerializer(run, context=context).data)


class BacktestRunCancelApi(APIView):
    """Cancel a pending or running run (its chunks stop between days). A cancelled run answers 200 again;
    a run that already ended otherwise is a 409."""

    @extend_schema(operation_id="backtests_cancel", summary="Cancel a run (operator token, admin key or staff session)", request=None,
                   responses={200: BacktestRunDetailSerializer, 401: ErrorSerializer, 404: ErrorSerializer,
                              409: ErrorSerializer})
    def post(self, request: Request, pk: int) -> Response:
        require_session_perm(request, BACKTEST_CANCEL)
        run = selectors.run_get(pk)
        if run is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        if run.finished and run.status != BacktestRun.Status.CANCELLED:
            return Response({"error": f"run {run.pk} already ended: {run.status}", "fields": {}}, status=status.HTTP_409_CONFLICT)
        services.run_cancel(run)
        return _detail(run)


class BacktestRunTradesApi(APIView):
    """A run's trades, newest entry first, ``limit``/``offset`` paginated."""

    class BacktestTradeSerializer(TradeOutputSerializer):
        entry_window = serializers.TimeField(source="decision.entry_window", format="%H:%M")
        trading_day = serializers.DateField(source="decision.trading_day")

        class Meta(TradeOutputSerializer.Meta):
            fields = [*TradeOutputSerializer.Meta.fields, "trading_day", "entry_window"]

    @extend_schema(operation_id="backtests_trades", summary="A run's trades, newest first",
                   parameters=[PageInputSerializer],
                   responses={200: inline_serializer("BacktestRunTrades", {
                       "run": serializers.IntegerField(), "items": BacktestTradeSerializer(many=True),
                       "count": serializers.IntegerField(), "limit": serializers.IntegerField(),
                       "offset": serializers.IntegerField()}), 400: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, pk: int) -> Response:
        params = PageInputSerializer(data=request.query_params)
        if not params.is_valid():
            return _invalid(params, "query")
        run = selectors.run_get(pk)
        if run is None:
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        p = params.validated_data
        rows = selectors.run_trades(run, limit=p["limit"], offset=p["offset"])
        return Response({"run": run.pk, "items": self.BacktestTradeSerializer(rows, many=True).data,
                         "count": selectors.run_trade_count(run), "limit": p["limit"], "offset": p["offset"]})


class SweepCreateApi(APIView):
    """Launch a parameter sweep: one run of a base config × value lists (``services.sweeps``)."""

    class InputSerializer(serializers.Serializer):
        config = serializers.CharField(max_length=60, help_text="the base strategy config's name or id")
        start = StrictDateField()
        end = StrictDateField(required=False, help_text="inclusive; default: start")
        dims = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField(allow_blank=True, allow_null=True, max_length=20),
                                        allow_empty=True, max_length=10_000),
            help_text="dimension → values: short_delta_target, width_points, take_profit_fraction, stop_loss_multiple, "
                      "window, side, target_dte, exit_at_time, exit_minutes_before_settlement ('none' = no time exit)")
        windows = serializers.ListField(child=serializers.CharField(max_length=5), required=False, allow_empty=False,
                                        help_text="entry windows when `window` is not swept (default 10:00, 11:00, 12:00)")
        exit_check_minutes = serializers.IntegerField(min_value=1, max_value=60, default=1)
        chunk_days = serializers.IntegerField(min_value=1, max_value=400, default=services.DEFAULT_CHUNK_DAYS)
        name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
        idempotency_key = serializers.CharField(max_length=80, required=False, allow_blank=True)

    @extend_schema(
        operation_id="backtests_sweeps_create",
        summary="Launch a parameter sweep (operator token, admin key or staff session; idempotent on its key)",
        request=InputSerializer,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                                     description="the same key and body return the sweep already launched (200)")],
        responses=_launch_responses(),
    )
    def post(self, request: Request) -> Response:
        require_session_perm(request, BACKTEST_LAUNCH)
        body = self.InputSerializer(data=request.data)
        if not body.is_valid():
            return _invalid(body, "body")
        p = body.validated_data
        key, refused = _idempotency_key(request, p)
        if refused is not None:
            return refused
        configs, unknown = selectors.configs_resolve([p["config"]])
        if unknown or not configs:
            return Response({"error": "invalid body", "fields": {"config": [f"unknown strategy config: {p['config']}"]}},
                            status=status.HTTP_400_BAD_REQUEST)
        try:
            run, created = sweeps.sweep_create(
                config=configs[0], dims=p["dims"], start=p["start"], end=p.get("end") or p["start"],
                windows=p.get("windows"), exit_check_minutes=p["exit_check_minutes"], chunk_days=p["chunk_days"],
                name=p["name"], idempotency_key=key)
        except services.BacktestError as exc:
            if key and selectors.run_by_key(key) is not None:  # the only refusal once the key has a run
                return Response({"error": str(exc), "fields": {}}, status=status.HTTP_409_CONFLICT)
            return Response({"error": str(exc), "fields": exc.fields}, status=status.HTTP_400_BAD_REQUEST)
        if not created:
            if run.name != p["name"][:120]:
                return Response({"error": f"idempotency key {key!r} was used with the name {run.name!r}", "fields": {}},
                                status=status.HTTP_409_CONFLICT)
            return _detail(run)
        sweeps.sweep_launch(run)
        return _detail(run, http_status=status.HTTP_201_CREATED)


class SweepVariantMaterialiseApi(APIView):
    """Write one variant of a done sweep as an ordinary run's decisions and trades (idempotent:
    the same run again); answers that run."""

    @extend_schema(operation_id="backtests_sweep_variant_materialise",
                   summary="Materialise a sweep variant into ordinary rows (operator token, admin key or staff session)",
                   request=None, responses={200: BacktestRunDetailSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
                                            404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, pk: int, index: int) -> Response:
        require_session_perm(request, BACKTEST_LAUNCH)
        run = selectors.run_get(pk)
        if run is None or not selectors.run_is_sweep(run):
            return Response({"error": "not found", "fields": {}}, status=status.HTTP_404_NOT_FOUND)
        if run.status != BacktestRun.Status.DONE:
            return Response({"error": f"sweep {run.pk} is {run.status}", "fields": {}}, status=status.HTTP_409_CONFLICT)
        try:
            child = variant_materialise(run, index)
        except services.BacktestError as exc:
            return Response({"error": str(exc), "fields": exc.fields}, status=status.HTTP_400_BAD_REQUEST)
        return _detail(child)
