"""CSV downloads of the pages' tables: every row the page's filters select (not just one page), raw
values for a spreadsheet (Decimal as stored, instants in ISO 8601 with their New York offset)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

from strategy.quant.timemodel import NEW_YORK

Column = tuple[str, Callable[[Any], Any]]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer over a streaming response."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> str:
    """One CSV field: None → empty, aware datetimes in New York time (ISO 8601 with offset)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return (value.astimezone(NEW_YORK) if value.tzinfo else value).isoformat()
    if isinstance(value, (dt.date, dt.time, Decimal)):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    return str(value)


def csv_response(filename: str, columns: Sequence[Column], rows: Iterable[Any]) -> StreamingHttpResponse:
    """A streamed CSV attachment: a header of the column names, then one line per row."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([name for name, _ in columns])
        for row in rows:
            yield writer.writerow([cell(get(row)) for _, get in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def wants_csv(request: Any) -> bool:
    return request.GET.get("format") == "csv"
