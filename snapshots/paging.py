"""Pagination for the list pages: Django's ``Paginator`` plus the query string of the other filters,
so a page link keeps them (and a filter change starts again at page 1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PER_PAGE = 50


def page_get(request: HttpRequest, items: QuerySet[Any] | Sequence[Any], *, per_page: int = PER_PAGE) -> dict[str, Any]:
    """The requested ``?page=`` of ``items`` and what the pager include needs.

    A bad or out-of-range page number gives the nearest page (``Paginator.get_page``), never an error.
    """
    page: Page[Any] = Paginator(items, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {"page": page, "page_query": query.urlencode(), "page_path": request.path}
