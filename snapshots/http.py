"""The request type of the HTMX pages: Django's request with django-htmx's ``request.htmx``."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """What ``HtmxMiddleware`` hands to a view (``request.htmx`` is truthy for an HTMX request)."""

    htmx: HtmxDetails
