"""A stand-in for ``databento.Historical`` that never touches the network.

Every call is checked against the real client's method signature (``inspect.signature().bind``),
so a misspelt or missing keyword fails here exactly as it would against Databento, and recorded
for assertions. ``timeseries.get_range(path=...)`` writes a real DBN file made by our generator
(tiny universe) for the requested UTC day and schema, opening the path with mode ``"x"`` like the
real client does.
"""

from __future__ import annotations

import datetime as dt
import inspect
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import databento
from databento.historical.api.metadata import MetadataHttpAPI
from databento.historical.api.timeseries import TimeseriesHttpAPI

from backtests.data import dbn_generate, dbn_io


@dataclass
class Call:
    method: str
    kwargs: dict[str, Any]


@dataclass
class FakeHistorical:
    """``cost_per_file`` / ``bytes_per_file`` answer the metadata calls; ``swap_schema`` makes
    get_range answer with the other schema's file and ``garbage`` with bytes that are not DBN
    (broken API replies)."""

    cost_per_file: float = 0.42
    bytes_per_file: int = 250_000_000
    swap_schema: bool = False
    garbage: bool = False
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = _Metadata(self)
        self.timeseries = _Timeseries(self)
        self._cache = Path(tempfile.mkdtemp(prefix="fake-databento-"))

    def record(self, real: Any, name: str, kwargs: dict[str, Any]) -> None:
        inspect.signature(real).bind(None, **kwargs)  # TypeError on a wrong keyword, like the real client
        self.calls.append(Call(name, kwargs))

    def names(self) -> list[str]:
        return [c.method for c in self.calls]

    def day_file(self, day: dt.date, schema: str) -> Path:
        definition, cbbo, _ = dbn_generate.day_paths(self._cache, day)
        if not cbbo.exists():
            dbn_generate.generate_day(day, self._cache, params=dbn_generate.TINY)
        return definition if schema == dbn_io.SCHEMA_DEFINITION else cbbo

    def close(self) -> None:
        shutil.rmtree(self._cache, ignore_errors=True)


class _Metadata:
    def __init__(self, owner: FakeHistorical) -> None:
        self.owner = owner

    def get_cost(self, **kwargs: Any) -> float:
        self.owner.record(MetadataHttpAPI.get_cost, "metadata.get_cost", kwargs)
        return self.owner.cost_per_file

    def get_billable_size(self, **kwargs: Any) -> int:
        self.owner.record(MetadataHttpAPI.get_billable_size, "metadata.get_billable_size", kwargs)
        return self.owner.bytes_per_file


class _Timeseries:
    def __init__(self, owner: FakeHistorical) -> None:
        self.owner = owner

    def get_range(self, **kwargs: Any) -> databento.DBNStore:
        self.owner.record(TimeseriesHttpAPI.get_range, "timeseries.get_range", kwargs)
        start = dt.datetime.fromisoformat(kwargs["start"]).astimezone(dt.UTC)
        schema = kwargs["schema"]
        if self.owner.swap_schema:
            schema = dbn_io.SCHEMA_DEFINITION if schema == dbn_io.SCHEMA_CBBO_1M else dbn_io.SCHEMA_CBBO_1M
        data = b"<html>bad gateway</html>" if self.owner.garbage else self.owner.day_file(start.date(), schema).read_bytes()
        with open(kwargs["path"], "x+b") as fh:  # the real client refuses to overwrite
            fh.write(data)
        # The real client returns DBNStore.from_file(path), which raises BentoError on bytes that are
        # not DBN; from_bytes answers and fails the same way without holding the file open.
        return databento.DBNStore.from_bytes(data)
