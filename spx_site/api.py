"""Project-wide API pieces: the JSON error handler, the admin API-key check and /health."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
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


class ApiKeyAuthentication(BaseAuthentication):
    """Checks ``X-API-Key`` against ``ADMIN_API_KEY``; its header makes DRF answer 401, not 403."""

    def authenticate(self, request: Request) -> None:
        return None

    def authenticate_header(self, request: Request) -> str:
        return "X-API-Key"


class HasAdminApiKey(BasePermission):
    """Admin endpoints: open while ``ADMIN_API_KEY`` is unset (the original contract), else the key is required."""

    message = "missing or wrong X-API-Key"

    def has_permission(self, request: Request, view: APIView) -> bool:
        expected = settings.ADMIN_API_KEY
        if not expected:
            return True
        given = request.headers.get("X-API-Key", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise exceptions.NotAuthenticated(self.message)
        return True


class HealthApi(APIView):
    authentication_classes: list[type] = []
    permission_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
