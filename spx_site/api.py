"""Project-wide API wiring: one JSON error shape on every /api/ path, and /health.

Every error an API client can get is ``{"error": str, "fields": {...}}``: DRF's own exceptions
(``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: bad input, a malformed body, 401/403/404/405/415/429),
a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413) or with too many fields (400),
anything unexpected in a view (500), and, through ``handler404``/``handler500`` in the urls,
Django's own 404 (an unknown /api/ path, an id the path converter refuses) and 500. Other paths
get the friendly HTML pages (``templates/404.html``, ``500.html``), never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler as drf_exception_handler

from snapshots.params import DB_INT_MAX

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def error_body(message: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "fields": fields or {}, **extra}


def _fields_and_message(exc: exceptions.APIException) -> tuple[str, dict[str, Any]]:
    detail: Any = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return "invalid input", dict(fields)
    if isinstance(exc, exceptions.ParseError):
        return f"malformed request body: {detail}", {}
    if isinstance(detail, dict):
        return str(detail.get("detail", exc.default_detail)), {}
    if isinstance(detail, list):
        return "; ".join(str(d) for d in detail), {}
    return str(detail), {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler with the house shape, and a JSON 500 for anything unexpected."""
    if isinstance(exc, OverflowError):  # an id or number wider than any database column
        kwargs = getattr(context.get("view"), "kwargs", None) or {}
        if any(isinstance(v, int) and v > DB_INT_MAX for v in kwargs.values()):
            return Response(error_body("not found"), status=status.HTTP_404_NOT_FOUND)
        return Response(error_body("a number is out of range"), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, SuspiciousOperation):  # raised by Django reading the body; its own views answer 400
        logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
        if isinstance(exc, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            message = f"request body too large: over {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
            return Response(error_body(message), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        message = str(exc) if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)) else "bad request"
        return Response(error_body(message), status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, exceptions.APIException):
            message, fields = _fields_and_message(exc)
        else:  # Django's Http404 / PermissionDenied, which DRF maps to 404 / 403
            message, fields = ("not found" if response.status_code == 404 else "permission denied"), {}
        response.data = error_body(message, fields)
        return response
    view = context.get("view")
    logger.exception("unhandled API error in %s", view.__class__.__name__ if view else "?")
    return Response(error_body("internal error"), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: JSON under /api/, the site's 404 page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not found"), status=404)
    return HttpResponse(render_to_string("404.html", {"path": request.path}, request=request), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON under /api/, the site's 500 page elsewhere (no traceback, no request data)."""
    if _is_api(request):
        return JsonResponse(error_body("internal error"), status=500)
    html: str
    try:
        html = render_to_string("500.html", request=request)
    except Exception:  # the page itself must never fail: a bare fallback
        logger.exception("the 500 page failed to render")
        html = "<!doctype html><title>Server error</title><h1>Something went wrong</h1><p><a href='/'>Dashboard</a></p>"
    return HttpResponse(html, status=500)


class HealthApi(APIView):
    """Liveness: public (the seed's contract) and never throttled, so a probe cannot lock itself out."""

    authentication_classes: list[type] = []
    permission_classes: list[type] = []
    throttle_classes: list[type] = []

    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField()

    @extend_schema(operation_id="health", summary="Liveness", responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
