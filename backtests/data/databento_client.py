"""Download OPRA.PILLAR SPX/SPXW files with the official ``databento`` client — price first.

A thin wrapper over ``databento.Historical`` (any object with the same ``metadata`` and
``timeseries`` methods can be passed in, which is how the tests run it without a network):

1. ``download_plan`` lists one file per (trading day, schema) still missing on disk and prices
   each with the free ``metadata.get_cost`` / ``get_billable_size`` calls (reference §7);
2. the caller shows the estimate and asks; 3. ``download_run`` fetches each file with
   ``timeseries.get_range(..., path=...)`` into a temporary name, checks its header and renames it.

Request shape (reference §2–§4): parent symbology ``SPX.OPT`` + ``SPXW.OPT`` (two separate OSI
roots), ``stype_out=instrument_id``. ``definition`` covers the whole UTC day (the chain arrives at
06:30 ET and costs ~nothing); ``cbbo-1m`` covers the session only — from 30 minutes before the
09:30 ET open (to catch the pre-open book) to one minute after the 16:15 close (13:15 on early-close
days), since the end is exclusive on ts_recv and the close's own stamp must be included.
The API key comes from the ``DATABENTO_API_KEY`` environment variable.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import databento

from backtests.data import dbn_io, store
from backtests.data.dbn_io import DATASET, SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SPX_PARENTS
from snapshots import market_calendar as mc

API_KEY_ENV = "DATABENTO_API_KEY"
DEFAULT_SCHEMAS = (SCHEMA_CBBO_1M, SCHEMA_DEFINITION)
PRE_OPEN = dt.timedelta(minutes=30)
AFTER_CLOSE = dt.timedelta(minutes=1)


class DownloadError(Exception):
    """A download that cannot go ahead (no key, no trading days, a bad file from the API)."""


# The official client's type; tests pass a fake with the same ``metadata``/``timeseries`` methods.
HistoricalClient = databento.Historical


def client_from_env() -> HistoricalClient:
    """A ``databento.Historical`` client keyed from ``DATABENTO_API_KEY``; ``DownloadError`` if unset."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise DownloadError(f"{API_KEY_ENV} is not set: put your Databento API key in the environment (or .env)")
    return databento.Historical(key=key)


def download_dir(root_dir: Path | None = None) -> Path:
    """Default folder for downloaded DBN files: ``<market data root>/dbn/OPRA.PILLAR``."""
    return (root_dir or store.data_dir()) / "dbn" / DATASET


def request_window(day: dt.date, schema: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in aware UTC of the request for one trading day and schema (see module doc)."""
    if schema == SCHEMA_CBBO_1M:
        bounds = mc.session_bounds(day)
        if bounds is None:
            raise DownloadError(f"{day} is not an SPX options trading day")
        return bounds[0] - PRE_OPEN, bounds[1] + AFTER_CLOSE
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


@dataclass(frozen=True)
class PlannedFile:
    """One request: a schema for one trading day, its window and where it lands, and its price."""

    day: dt.date
    schema: str
    start: dt.datetime  # aware UTC, inclusive (ts_recv)
    end: dt.datetime  # aware UTC, exclusive
    path: Path
    cost_usd: float
    billable_bytes: int  # uncompressed DBN bytes Databento bills


@dataclass(frozen=True)
class DownloadPlan:
    """What ``download_run`` would fetch, with Databento's price for each file."""

    dataset: str
    parents: tuple[str, ...]
    files: tuple[PlannedFile, ...]
    already_present: tuple[Path, ...]

    @property
    def total_cost_usd(self) -> float:
        return sum(f.cost_usd for f in self.files)

    @property
    def total_billable_bytes(self) -> int:
        return sum(f.billable_bytes for f in self.files)

    def cost_by_schema(self) -> dict[str, tuple[int, float, int]]:
        """schema → (files, USD, billable bytes)."""
        out: dict[str, tuple[int, float, int]] = {}
        for f in self.files:
            n, usd, size = out.get(f.schema, (0, 0.0, 0))
            out[f.schema] = (n + 1, usd + f.cost_usd, size + f.billable_bytes)
        return out


def download_plan(
    client: HistoricalClient,
    *,
    start: dt.date,
    end: dt.date,
    out_dir: Path,
    schemas: Sequence[str] = DEFAULT_SCHEMAS,
    parents: Sequence[str] = SPX_PARENTS,
    force: bool = False,
) -> DownloadPlan:
    """Price every missing (trading day, schema) file from ``start`` to ``end`` inclusive.

    Uses only Databento's free metadata endpoints. Files already in ``out_dir`` are skipped
    (and not priced) unless ``force``.
    """
    unknown = set(schemas) - set(DEFAULT_SCHEMAS)
    if unknown:
        raise DownloadError(f"unsupported schema(s) {sorted(unknown)}; this pipeline imports {', '.join(DEFAULT_SCHEMAS)}")
    days = mc.trading_days(start, end)
    if not days:
        raise DownloadError(f"no SPX options trading days from {start} to {end}")
    files: list[PlannedFile] = []
    present: list[Path] = []
    for day in days:
        for schema in schemas:
            path = out_dir / dbn_io.file_name(day, schema)
            if path.exists() and not force:
                present.append(path)
                continue
            window_start, window_end = request_window(day, schema)
            query: dict[str, Any] = {
                "dataset": DATASET,
                "start": window_start.isoformat(),
                "end": window_end.isoformat(),
                "symbols": list(parents),
                "schema": schema,
                "stype_in": "parent",
            }
            try:
                cost = float(client.metadata.get_cost(**query))  # no `mode`: deprecated, and the client no longer sends it
                size = int(client.metadata.get_billable_size(**query))
            except databento.BentoError as exc:  # HTTP 4xx/5xx (bad key, bad request) or a client-side check
                raise DownloadError(f"Databento refused the cost query for {day} {schema}: {exc}") from exc
            except OSError as exc:  # requests' connection errors and timeouts (the key is never in their text)
                raise DownloadError(f"Databento unreachable for the cost query for {day} {schema}: {exc}") from exc
            files.append(PlannedFile(day, schema, window_start, window_end, path, cost, size))
    return DownloadPlan(dataset=DATASET, parents=tuple(parents), files=tuple(files), already_present=tuple(present))


def download_run(
    client: HistoricalClient, plan: DownloadPlan, *, progress: Callable[[PlannedFile], None] | None = None
) -> list[Path]:
    """Fetch every planned file (this spends money). Each lands under a temporary name, its DBN
    header is checked (dataset, schema), then it is renamed into place; returns the paths.

    Stops at the first failure with ``DownloadError``; files fetched before it stay (each is
    complete), the failed one leaves nothing behind, and a rerun skips what is present."""
    done: list[Path] = []
    for planned in plan.files:
        planned.path.parent.mkdir(parents=True, exist_ok=True)
        # The client opens its path with "x" (must not exist), so every attempt gets a fresh name.
        tmp = planned.path.with_name(f".{planned.path.name}.{uuid.uuid4().hex}.part")
        try:
            store = client.timeseries.get_range(
                dataset=plan.dataset,
                start=planned.start.isoformat(),
                end=planned.end.isoformat(),
                symbols=list(plan.parents),
                schema=planned.schema,
                stype_in="parent",
                stype_out="instrument_id",
                path=tmp,
            )
            store.reader.close()  # the returned DBNStore keeps the file open; we only need it on disk
            header = dbn_io.read_header(tmp)
            if header.dataset != plan.dataset or header.schema != planned.schema:
                raise DownloadError(
                    f"{planned.path.name}: the API returned {header.dataset} {header.schema or 'mixed'}, "
                    f"expected {plan.dataset} {planned.schema}"
                )
            os.replace(tmp, planned.path)
        except dbn_io.DbnRefused as exc:
            raise DownloadError(f"{planned.path.name}: the downloaded file is unusable ({exc.reason})") from exc
        except (databento.BentoError, OSError) as exc:  # an HTTP error, the connection, or the disk
            raise DownloadError(f"{planned.path.name}: Databento download failed: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        done.append(planned.path)
        if progress:
            progress(planned)
    return done
