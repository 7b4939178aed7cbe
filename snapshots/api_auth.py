"""Who may call the API: the admin API-key check, shared by every app's ``api.py``.

It sits in the lowest app so any app's endpoints can use it without importing the project wiring.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


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
