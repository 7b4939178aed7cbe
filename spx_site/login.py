"""The login page with a lockout: after ``LOGIN_MAX_FAILURES`` failed logins for one username, or
from one client IP, within ``LOGIN_LOCKOUT_SECONDS``, further attempts are refused (429, the page
re-rendered with the wait) without checking the password, until the window that began with the
first failure has passed. A successful login clears its username's count; an IP's count only
expires, so a valid account cannot be used to reset it while guessing at others.

The counts live in the shared cache (``CACHES["default"]``), keyed by a hash of the lower-cased
username and by the client address as the API throttles see it (``REST_FRAMEWORK["NUM_PROXIES"]``).
They are read and written without a lock: parallel attempts can slip a few past the limit, no more.
Passwords are never logged; a lockout logs the username and the address.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

KEY_PREFIX = "login-failures"


def client_ip(request: HttpRequest) -> str:
    """The client's address, as the API's throttles identify it (REMOTE_ADDR unless proxies are configured)."""
    return str(BaseThrottle().get_ident(request))  # type: ignore[arg-type]  # reads request.META only


def _keys(username: str, ip: str) -> list[str]:
    keys = [f"{KEY_PREFIX}:ip:{hashlib.sha256(ip.encode()).hexdigest()}"]
    name = username.strip().lower()
    if name:
        keys.append(f"{KEY_PREFIX}:user:{hashlib.sha256(name.encode()).hexdigest()}")
    return keys


def lockout_wait(*, username: str, ip: str) -> int:
    """Seconds until this username or address may try again; 0 when neither is locked."""
    now = time.time()
    wait = 0.0
    for key in _keys(username, ip):
        count, until = cache.get(key) or (0, now)
        if count >= settings.LOGIN_MAX_FAILURES:
            wait = max(wait, until - now)
    return math.ceil(wait) if wait > 0 else 0


def failure_record(*, username: str, ip: str) -> None:
    """Count a failed login against the username and the address (a window opens with the first failure)."""
    now = time.time()
    for key in _keys(username, ip):
        count, until = cache.get(key) or (0, now + settings.LOGIN_LOCKOUT_SECONDS)
        cache.set(key, (count + 1, until), timeout=max(1, math.ceil(until - now)))
        if count + 1 == settings.LOGIN_MAX_FAILURES:
            logger.warning("login locked after %d failures: %s (username %r, from %s)",
                           count + 1, key.split(":")[1], username[:150], ip)


def failures_clear(*, username: str) -> None:
    """A successful login: its username starts again from zero (the address keeps its count)."""
    cache.delete_many([k for k in _keys(username, "") if ":user:" in k])


class LockoutLoginView(LoginView):
    """Django's ``LoginView`` counting failures per username and per address (see the module docstring)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))
        wait = lockout_wait(username=username, ip=client_ip(request))
        if wait:
            # An unbound form: binding it would check the password, which a locked login must not do.
            form = self.get_form_class()(request=request, initial={"username": username[:150]})
            minutes = math.ceil(wait / 60)
            response = self.render_to_response(self.get_context_data(
                form=form, locked_message=f"Too many failed logins. Try again in {minutes} minute{'s' * (minutes != 1)}."),
                status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        failure_record(username=str(form.data.get("username", "")), ip=client_ip(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        failures_clear(username=str(form.data.get("username", "")))
        return super().form_valid(form)
