"""Project-wide API wiring: the JSON error handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``) and /health."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's handler, plus a JSON 500 for anything unexpected: a script never gets a traceback page."""
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    logger.exception("unhandled API error in %s", context.get("view").__class__.__name__)
    return Response({"error": "internal error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


class HealthApi(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
