"""Template context for every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def api_security(request: HttpRequest) -> dict[str, Any]:
    """``api_admin_open``: /api/admin/* answers anyone (``ADMIN_API_KEY`` unset); the dashboard warns."""
    return {"api_admin_open": not settings.ADMIN_API_KEY}
