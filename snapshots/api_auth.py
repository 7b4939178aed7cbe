"""Who may call the API, shared by every app's ``api.py`` (it sits in the lowest app so any app's
endpoints can use it without importing the project wiring).

- ``/api/admin/*`` (the seed's contract): ``HasAdminApiKey`` — open while ``ADMIN_API_KEY`` is
  unset, else ``X-API-Key`` must match.
- every other endpoint (``WritesNeedOperator``, the project default): reads are open; a write
  (POST/PUT/PATCH/DELETE) needs an operator token (``Authorization: Token <key>``), the admin key
  (when one is set) or a staff session — never anonymous, whatever the key setting. A read-only
  token gets 403 on writes.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from snapshots.api_tokens import token_find, token_touch
from snapshots.models import ApiToken

if TYPE_CHECKING:  # rest_framework.views loads the default authentication classes: no import at run time
    from rest_framework.views import APIView

TOKEN_KEYWORDS = (b"token", b"bearer")


def admin_key_given(request: Request) -> bool:
    """True when ``ADMIN_API_KEY`` is set and the request's ``X-API-Key`` matches it (constant time)."""
    expected = settings.ADMIN_API_KEY
    given = request.headers.get("X-API-Key", "")
    return bool(expected) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class ApiKeyAuthentication(BaseAuthentication):
    """Checks ``X-API-Key`` against ``ADMIN_API_KEY``; its header makes DRF answer 401, not 403."""

    def authenticate(self, request: Request) -> None:
        return None

    def authenticate_header(self, request: Request) -> str:
        return "X-API-Key"


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>`` (or ``Bearer``): the user of an active ``ApiToken``; ``request.auth`` is the token."""

    def authenticate(self, request: Request) -> tuple[object, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in TOKEN_KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("invalid Authorization header: expected 'Token <key>'")
        token = token_find(parts[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed("unknown or revoked token")
        token_touch(token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


class HasAdminApiKey(BasePermission):
    """Admin endpoints: open while ``ADMIN_API_KEY`` is unset (the original contract), else the key is required."""

    message = "missing or wrong X-API-Key"

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not settings.ADMIN_API_KEY:
            return True
        if not admin_key_given(request):
            raise exceptions.NotAuthenticated(self.message)
        return True


class WritesNeedOperator(BasePermission):
    """Reads stay open; writes need an operator token, the admin key or a staff session."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS or admin_key_given(request):
            return True
        token = request.auth
        if isinstance(token, ApiToken):
            if token.can_write:
                return True
            raise exceptions.PermissionDenied("read-only token: writes need a token with operator scope")
        if request.user and request.user.is_authenticated:
            if isinstance(request.successful_authenticator, SessionAuthentication) and request.user.is_staff:
                return True
            raise exceptions.PermissionDenied("writes need a staff login, an operator token or the admin API key")
        raise exceptions.NotAuthenticated(
            "writes need an operator token (Authorization: Token <key>), the admin API key (X-API-Key) or a staff login")
