"""Who may call the API, shared by every app's ``api.py`` (it sits in the lowest app so any app's
endpoints can use it without importing the project wiring).

- Public, no credentials (the seed's public contract): ``/health`` and ``GET /api/chain-snapshots``
  (the list; its views set ``permission_classes = PUBLIC_READS``), plus the OpenAPI schema and its
  browser (``/api/schema``, ``/api/docs``: they describe the endpoints and expose no data;
  ``SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]``).
- ``/api/admin/*`` (the seed's contract): ``HasAdminApiKey`` — open while ``ADMIN_API_KEY`` is
  unset, else ``X-API-Key`` must match.
- every other endpoint (the project default, ``ReadsNeedCredentials`` + ``WritesNeedOperator``):
  a read (GET/HEAD/OPTIONS) needs a login session (any user), an API token of any scope
  (``Authorization: Token <key>``) or the admin key (when one is set) — anonymous reads are a 401;
  a write (POST/PUT/PATCH/DELETE) needs an operator token, the admin key (when one is set) or a
  staff session — never anonymous, whatever the key setting. A read-only token gets 403 on writes.

Rate limits (``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``): ``UserThrottle`` per user (a session's
or a token's) and for the admin key, at ``API_THROTTLE_USER``; ``AnonThrottle`` per client address
for everyone else, at ``API_THROTTLE_ANON``. The rates are read from the settings at each request.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

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
        if len(parts) == 1:
            raise exceptions.AuthenticationFailed("invalid Authorization header: no key after the scheme "
                                                  "(expected 'Token <key>')")
        if len(parts) > 2:
            raise exceptions.AuthenticationFailed("invalid Authorization header: the key contains spaces "
                                                  "(expected 'Token <key>')")
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


class ReadsNeedCredentials(BasePermission):
    """A read needs a login, an API token of any scope or the admin key; writes are left to ``WritesNeedOperator``."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method not in SAFE_METHODS or admin_key_given(request):
            return True
        if request.user and request.user.is_authenticated:  # a session, or a token's user
            return True
        raise exceptions.NotAuthenticated(
            "reads need a login, an API token (Authorization: Token <key>) or the admin API key (X-API-Key)")


class WritesNeedOperator(BasePermission):
    """Reads pass (``ReadsNeedCredentials`` guards them); writes need an operator token, the admin key or a staff session."""

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


# The seed's public reads: anyone may GET; a write (none today) would keep the usual rule. AllowAny
# passes everything and is there for the schema: drf-spectacular marks the credentials optional.
PUBLIC_READS: list[type[BasePermission]] = [AllowAny, WritesNeedOperator]


class AnonThrottle(AnonRateThrottle):
    """Callers without credentials, per client address (the admin key counts as a user, below)."""

    def get_rate(self) -> str | None:
        return str(settings.API_THROTTLE_ANON)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if admin_key_given(request):
            return None
        return super().get_cache_key(request, view)


class UserThrottle(UserRateThrottle):
    """A logged-in or token user, per user; the admin key shares one budget of its own."""

    def get_rate(self) -> str | None:
        return str(settings.API_THROTTLE_USER)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.user and request.user.is_authenticated:
            ident = str(request.user.pk)
        elif admin_key_given(request):
            ident = "admin-key"
        else:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}
