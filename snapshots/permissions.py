"""Who may act, shared by every app's pages and API writes (it sits in the lowest app, beside
``api_auth``, so any app can use it).

An operation that changes something (force a capture, launch or cancel a backtest, train, activate
or retire a model, make or revoke an API token) needs a staff login *and* the model permission that
names it — the same permission the admin action checks, so a staff user holding only ``view_*``
permissions can look but not act, on the pages, in the admin and through the API alike.
Superusers hold every permission. API tokens are not users' sessions: an operator token (or the
admin key) keeps its documented powers (``api_auth.WritesNeedOperator``).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from snapshots.api_auth import admin_key_given

# The operations and the permission each needs (``app_label.codename``): one list for the README.
FORCE_CAPTURE = "snapshots.force_capture"
TOKEN_CREATE = "snapshots.add_apitoken"
TOKEN_REVOKE = "snapshots.change_apitoken"
BACKTEST_LAUNCH = "backtests.add_backtestrun"
BACKTEST_CANCEL = "backtests.cancel_run"
MODEL_TRAIN = "mlmodels.add_trainingrequest"
MODEL_ACTIVATE = "mlmodels.activate_model"
MODEL_RETIRE = "mlmodels.retire_model"
CONFIG_CREATE = "strategy.add_strategyconfig"  # create or copy a strategy config
CONFIG_CHANGE = "strategy.change_strategyconfig"  # edit, enable or disable one


def user_can(user: object, perm: str) -> bool:
    """A staff user holding ``perm`` (superusers hold all); anonymous and non-staff users never."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False)
                and user.has_perm(perm))  # type: ignore[attr-defined]


def require_perm(request: HttpRequest, perm: str) -> None:
    """For a page's POST: 403 (the 403 page) unless the logged-in user may (``user_can``)."""
    if not user_can(request.user, perm):
        raise PermissionDenied(f"this needs a staff login with the {perm} permission")


def require_session_perm(request: Request, perm: str) -> None:
    """For an API write: a *staff session* must hold ``perm`` as on the pages; an operator token
    or the admin key is not a session and keeps working (``WritesNeedOperator`` has let it in)."""
    if admin_key_given(request):
        return
    if isinstance(request.successful_authenticator, SessionAuthentication) and not user_can(request.user, perm):
        raise exceptions.PermissionDenied(f"this needs a staff login with the {perm} permission")
