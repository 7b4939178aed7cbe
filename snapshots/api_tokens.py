"""API tokens for scripts: make one (the key is returned once, only its SHA-256 is kept), find one, revoke one."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import User
from django.utils import timezone

from snapshots.models import ApiToken


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, user: User, scope: str, name: str = "") -> tuple[ApiToken, str]:
    """A new token and its key; the key is not stored and cannot be shown again."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, scope=scope, name=name[:80], key_sha256=key_hash(key), prefix=key[:8])
    return token, key


def token_find(key: str) -> ApiToken | None:
    """The active token with this key (its user active too), else None."""
    if not key:
        return None
    token = ApiToken.objects.select_related("user").filter(key_sha256=key_hash(key), revoked_at=None).first()
    if token is None or not token.user.is_active:
        return None
    return token


def token_touch(token: ApiToken) -> None:
    """Record the use, at most once a minute per token (a read-heavy script does not write on every call)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def token_revoke(token: ApiToken) -> bool:
    """Revoke; False when it already was."""
    return ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now()) == 1
