"""The Parquet market-data store and its DuckDB queries.

Layout under the data root (``settings.MARKET_DATA_DIR``, default ``VAR_DIR / "market-data"``)::

    parquet/OPRA.PILLAR/cbbo-1m/date=2025-02-20/data.parquet      quotes of one UTC day
    parquet/OPRA.PILLAR/definition/date=2025-02-20/data.parquet   that day's instruments
    parquet/OPRA.PILLAR/statistics/date=2025-02-20/data.parquet   that day's open interest (optional)

Hive-style ``date=`` folders, so DuckDB can read every day at once and prune by date. One file per
(day, schema): a re-import replaces it with one atomic rename.

**Quotes** (one row per CBBO-1m record, clustered by expiration: each row group holds the
records of one expiration in ``ts_recv`` order — an expiration with more than 256k records spans
several — with min/max statistics on ``ts_recv`` and ``expiration``, and the file's key-value
metadata ``spx:expiration_row_groups`` maps each expiration to its row groups, so the replay
engine reads only the expirations it trades, ~15 % of a day): ``ts_recv`` timestamp[ns, UTC]
(the minute stamp, the interval *end*), ``instrument_id`` uint32
(Databento's id, valid for that day only), the day's definition joined in — ``symbol`` (OSI without
root padding, e.g. ``SPXW250220P06100000``, as Tradier and ``strategy.quant.osi`` spell it),
``root``, ``expiration`` date, ``right`` ``"C"``/``"P"``, ``strike`` float64 index points — then
``bid_px``/``ask_px`` float64 dollars (NULL = no bid / no ask), ``bid_sz``/``ask_sz`` uint32
contracts, ``last_px`` float64 dollars and ``last_sz`` uint32 (the last trade, carried forward by
OPRA; NULL before the first trade), ``last_ts`` timestamp (that trade's time, NULL if none), and
``flags`` uint8 (DBN flags; 4 = maybe-bad book, 8 = bad ts_recv). The joined columns are
dictionary-encoded in the file (pyarrow reads them as dictionary arrays; DuckDB as VARCHAR, DATE
and DOUBLE).

**Instruments**: ``instrument_id``, ``symbol``, ``root``, ``expiration``, ``right``, ``strike``,
``ts_recv`` (when the definition arrived), sorted by (root, expiration, right, strike).

**Open interest** (from the ``statistics`` schema, ``OPEN_INTEREST`` records only; one row per
instrument, sorted like the instruments): the definition columns ``instrument_id``, ``symbol``,
``root``, ``expiration``, ``right``, ``strike``, then ``open_interest`` int64 contracts (OPRA's
morning figure: the previous session's end-of-day OI from OCC, reference §5), ``ts_event`` /
``ts_recv`` / ``ts_ref`` of the record kept (``ts_ref`` NULL when undefined, as OPRA sends it),
its ``publisher_id``, ``report_count`` (OI records with a value for the instrument that day:
OPRA repeats each once per venue, 4 in Databento's sample) and ``conflicting`` (those records
did not all carry the same value; which one is kept: ``dbn_import``). A day's statistics are
optional: a day imported without them has no file, and ``open_interest`` raises.

Records are sparse (reference §3): no record means no change, so the quote of an instrument at a
minute is its latest record at or before that minute — ``quotes_at`` does that carry-forward.
All records of the UTC day are kept, pre-open and after-hours included; filter by time in queries.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from backtests.data.dbn_io import DATASET, NS_PER_MINUTE, SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS, instant_ns
from snapshots import market_calendar

PARQUET_NAME = "data.parquet"

QUOTES_SCHEMA = pa.schema(
    [
        ("ts_recv", pa.timestamp("ns", tz="UTC")),
        ("instrument_id", pa.uint32()),
        ("symbol", pa.dictionary(pa.int32(), pa.string())),
        ("root", pa.dictionary(pa.int16(), pa.string())),
        ("expiration", pa.dictionary(pa.int16(), pa.date32())),
        ("right", pa.dictionary(pa.int8(), pa.string())),
        ("strike", pa.dictionary(pa.int32(), pa.float64())),
        ("bid_px", pa.float64()),
        ("ask_px", pa.float64()),
        ("bid_sz", pa.uint32()),
        ("ask_sz", pa.uint32()),
        ("last_px", pa.float64()),
        ("last_sz", pa.uint32()),
        ("last_ts", pa.timestamp("ns", tz="UTC")),
        ("flags", pa.uint8()),
    ]
)

INSTRUMENTS_SCHEMA = pa.schema(
    [
        ("instrument_id", pa.uint32()),
        ("symbol", pa.string()),
        ("root", pa.string()),
        ("expiration", pa.date32()),
        ("right", pa.string()),
        ("strike", pa.float64()),
        ("ts_recv", pa.timestamp("ns", tz="UTC")),
    ]
)

OPEN_INTEREST_SCHEMA = pa.schema(
    [
        ("instrument_id", pa.uint32()),
        ("symbol", pa.string()),
        ("root", pa.string()),
        ("expiration", pa.date32()),
        ("right", pa.string()),
        ("strike", pa.float64()),
        ("open_interest", pa.int64()),
        ("ts_event", pa.timestamp("ns", tz="UTC")),
        ("ts_recv", pa.timestamp("ns", tz="UTC")),
        ("ts_ref", pa.timestamp("ns", tz="UTC")),
        ("publisher_id", pa.uint16()),
        ("report_count", pa.uint16()),
        ("conflicting", pa.bool_()),
    ]
)

EXPIRATION_GROUPS_KEY = b"spx:expiration_row_groups"
ROW_GROUP_ROWS = 1 << 18


def write_quotes(path: Path, table: pa.Table, expiration_days: np.ndarray, *, compression: str = "lz4") -> None:
    """Write one day's quotes (``QUOTES_SCHEMA``, rows in ``ts_recv`` order) clustered by expiration.

    ``expiration_days`` gives each row's expiration (days since the epoch). A stable sort by it
    keeps time order within an expiration; each expiration starts a new row group, and the mapping
    expiration → row groups goes into the file's metadata (``expiration_row_groups`` reads it).
    """
    import json

    order = np.argsort(expiration_days, kind="stable")
    keys = np.asarray(expiration_days)[order]
    table = table.take(pa.array(order))
    # Row groups as (expiration, first row, row count): a new group at each expiration and every
    # ROW_GROUP_ROWS rows within one.
    starts = np.flatnonzero(np.diff(keys, prepend=np.int64(keys[0]) - 1)) if keys.size else np.empty(0, dtype=np.int64)
    ends = np.append(starts[1:], keys.size)
    pieces = [(int(keys[start]), first, min(end, first + ROW_GROUP_ROWS) - first)
              for start, end in zip(starts.tolist(), ends.tolist()) for first in range(start, end, ROW_GROUP_ROWS)]
    groups: dict[str, list[int]] = {}
    for index, (days, _, _) in enumerate(pieces):
        groups.setdefault((dt.date(1970, 1, 1) + dt.timedelta(days=days)).isoformat(), []).append(index)
    schema = QUOTES_SCHEMA.with_metadata({EXPIRATION_GROUPS_KEY: json.dumps(groups).encode()})
    with pq.ParquetWriter(path, schema, compression=compression,
                          use_dictionary=["symbol", "root", "expiration", "right", "strike"],
                          write_statistics=["ts_recv", "expiration"]) as writer:
        for _, first, count in pieces:
            writer.write_table(table.slice(first, count), row_group_size=ROW_GROUP_ROWS)


def expiration_row_groups(metadata: pq.FileMetaData) -> dict[dt.date, list[int]] | None:
    """Expiration → row groups of a quotes file (None for a file written without the mapping)."""
    import json

    raw = (metadata.metadata or {}).get(EXPIRATION_GROUPS_KEY)
    if raw is None:
        return None
    return {dt.date.fromisoformat(k): v for k, v in json.loads(raw).items()}


# Where the data root comes from when a caller passes none: set by the app at start-up
# (``backtests.apps``: ``settings.MARKET_DATA_DIR``), read at each call so a changed setting applies.
# This module stays framework-free: a script or notebook passes ``root_dir`` or sets its own.
_default_root: Callable[[], Path] | None = None


def set_default_root(source: Callable[[], Path] | None) -> None:
    """Install the function that gives the data root when a call passes no ``root_dir``."""
    global _default_root
    _default_root = source


def data_dir() -> Path:
    """The default market-data root (``set_default_root``; in the platform ``MARKET_DATA_DIR``)."""
    if _default_root is None:
        raise RuntimeError("no market-data root: pass root_dir, or call store.set_default_root() first")
    return _default_root()


def parquet_root(root_dir: Path | None = None, *, dataset: str = DATASET) -> Path:
    """``<data root>/parquet/<dataset>``."""
    return (root_dir or data_dir()) / "parquet" / dataset


def parquet_path(schema: str, day: dt.date, *, root_dir: Path | None = None, dataset: str = DATASET) -> Path:
    """The Parquet file of one (schema, UTC day): ``…/<schema>/date=YYYY-MM-DD/data.parquet``."""
    return parquet_root(root_dir, dataset=dataset) / schema / f"date={day.isoformat()}" / PARQUET_NAME


def available_days(schema: str = SCHEMA_CBBO_1M, *, root_dir: Path | None = None, dataset: str = DATASET) -> list[dt.date]:
    """Days with a Parquet file for ``schema``, ascending (the files, not the manifest).

    One directory listing and one ``stat`` per day (the backtests page asks on every view)."""
    base = os.fspath(parquet_root(root_dir, dataset=dataset) / schema)
    days = []
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.name.startswith("date=") or not os.path.isfile(os.path.join(entry.path, PARQUET_NAME)):
            continue
        try:
            days.append(dt.date.fromisoformat(entry.name.removeprefix("date=")))
        except ValueError:
            continue
    return sorted(days)


def session_minutes(day: dt.date) -> np.ndarray:
    """The cbbo-1m stamps (ns, interval ends) of ``day``'s session: the open (09:30 ET, the opening
    book) to the close (16:15 ET, 13:15 on an early close), both included, every minute; empty on a
    closed day. The engine reads only records stamped in this range (``in_session``)."""
    bounds = market_calendar.session_bounds(day)
    if bounds is None:
        return np.empty(0, dtype=np.int64)
    return np.arange(instant_ns(bounds[0]), instant_ns(bounds[1]) + 1, NS_PER_MINUTE, dtype=np.int64)


def in_session(day: dt.date, ts_ns: np.ndarray) -> np.ndarray:
    """Which record stamps (ns) fall in ``day``'s session, open and close included (``session_minutes``).

    The rule for records outside RTH: the import keeps them in the store (the file's day, as
    Databento sent it) and counts them; the engine never reads them — not as a quote in force at the
    open, not after the close. On a closed day nothing is in session."""
    minutes = session_minutes(day)
    if minutes.size == 0:
        return np.zeros(ts_ns.shape, dtype=np.bool_)
    ts = ts_ns.astype(np.int64)
    mask: np.ndarray = (ts >= minutes[0]) & (ts <= minutes[-1])
    return mask


def empty_minutes(day: dt.date, ts_ns: np.ndarray) -> list[tuple[int, int]]:
    """The gaps of a day's quotes: runs of session minutes (``session_minutes``) with no record at all,
    as (first, last) stamps in ns, in time order. A record counts for the minute its stamp is in
    (cbbo-1m stamps are clamped to the minute)."""
    minutes = session_minutes(day)
    if minutes.size == 0:
        return []
    have = np.unique(ts_ns.astype(np.int64) // NS_PER_MINUTE * NS_PER_MINUTE)
    empty = minutes[~np.isin(minutes, have)]
    if empty.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(empty) != NS_PER_MINUTE)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [empty.size - 1]))
    return [(int(empty[a]), int(empty[b])) for a, b in zip(starts, ends, strict=True)]


def _existing(schema: str, day: dt.date, root_dir: Path | None) -> Path:
    path = parquet_path(schema, day, root_dir=root_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no {schema} data imported for {day} (expected {path})")
    return path


def _filters(
    *,
    roots: Sequence[str] | None = None,
    expirations: Sequence[dt.date] | None = None,
    symbols: Sequence[str] | None = None,
    rights: Sequence[str] | None = None,
) -> tuple[list[str], list[Any]]:
    """SQL predicates with one placeholder per value (literal IN-lists let DuckDB push them down)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("root", roots), ("expiration", expirations), ("symbol", symbols), ("\"right\"", rights)):
        if values is None:
            continue
        listed = list(values)
        if not listed:
            clauses.append("FALSE")
            continue
        clauses.append(f"{column} IN ({', '.join('?' for _ in listed)})")
        params.extend(listed)
    return clauses, params


def _columns(columns: Iterable[str] | None) -> str:
    if columns is None:
        return "*"
    names = list(columns)
    unknown = set(names) - set(QUOTES_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown quote columns: {sorted(unknown)}")
    return ", ".join(f'"{name}"' for name in names)


_local = threading.local()


def _connect() -> duckdb.DuckDBPyConnection:
    """A fresh cursor on this thread's in-memory database (the caller closes it).

    Opening a DuckDB database costs ~16 ms, a cursor ~0.2 ms: each thread keeps one database per
    process (a forked Celery worker opens its own) and every query gets its own cursor.
    """
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        _local.db, _local.pid = duckdb.connect(":memory:"), pid
    cur = _local.db.cursor()
    cur.execute("SET TimeZone = 'UTC'")  # timestamps come back in UTC whatever the process TZ is
    return cur


def quotes(
    day: dt.date,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    roots: Sequence[str] | None = None,
    expirations: Sequence[dt.date] | None = None,
    rights: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    columns: Iterable[str] | None = None,
    root_dir: Path | None = None,
) -> pa.Table:
    """The records of ``day`` with ``start <= ts_recv <= end`` (aware datetimes, either optional),
    filtered by root / expiration / right / symbol, ordered by (ts_recv, symbol).

    Sparse: only minutes where the instrument changed (see ``quotes_at`` for carried-forward
    quotes). ``FileNotFoundError`` when the day was not imported.
    """
    path = _existing(SCHEMA_CBBO_1M, day, root_dir)
    clauses, params = _filters(roots=roots, expirations=expirations, symbols=symbols, rights=rights)
    if start is not None:
        clauses.append("ts_recv >= ?")
        params.append(_aware(start))
    if end is not None:
        clauses.append("ts_recv <= ?")
        params.append(_aware(end))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT {_columns(columns)} FROM read_parquet(?) {where} ORDER BY ts_recv, symbol"
    with _connect() as con:
        return con.sql(sql, params=[str(path), *params]).to_arrow_table()


def quotes_at(
    day: dt.date,
    at: dt.datetime,
    *,
    roots: Sequence[str] | None = None,
    expirations: Sequence[dt.date] | None = None,
    rights: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    max_age: dt.timedelta | None = None,
    root_dir: Path | None = None,
) -> pa.Table:
    """Each instrument's quote in force at ``at`` (aware): its latest record with ts_recv <= at.

    CBBO-1m writes a record only when something changed, so this carries quotes forward (reference
    §8.2). ``max_age`` drops instruments whose latest record is older than ``at - max_age``.
    One row per instrument, ordered by (root, expiration, right, strike); columns as ``quotes``.
    """
    path = _existing(SCHEMA_CBBO_1M, day, root_dir)
    clauses, params = _filters(roots=roots, expirations=expirations, symbols=symbols, rights=rights)
    clauses.append("ts_recv <= ?")
    params.append(_aware(at))
    if max_age is not None:
        clauses.append("ts_recv >= ?")
        params.append(_aware(at) - max_age)
    sql = (
        f"SELECT * FROM read_parquet(?) WHERE {' AND '.join(clauses)} "
        "QUALIFY row_number() OVER (PARTITION BY instrument_id ORDER BY ts_recv DESC) = 1 "
        'ORDER BY root, expiration, "right", strike'
    )
    with _connect() as con:
        return con.sql(sql, params=[str(path), *params]).to_arrow_table()


def instruments(
    day: dt.date,
    *,
    roots: Sequence[str] | None = None,
    expirations: Sequence[dt.date] | None = None,
    rights: Sequence[str] | None = None,
    root_dir: Path | None = None,
) -> pa.Table:
    """The day's chain from its definitions, ordered by (root, expiration, right, strike)."""
    path = _existing(SCHEMA_DEFINITION, day, root_dir)
    clauses, params = _filters(roots=roots, expirations=expirations, rights=rights)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f'SELECT * FROM read_parquet(?) {where} ORDER BY root, expiration, "right", strike'
    with _connect() as con:
        return con.sql(sql, params=[str(path), *params]).to_arrow_table()


def open_interest(
    day: dt.date,
    *,
    roots: Sequence[str] | None = None,
    expirations: Sequence[dt.date] | None = None,
    root_dir: Path | None = None,
) -> pa.Table:
    """The open interest OPRA published for ``day`` (contracts; the previous session's close), one
    row per instrument that has a figure, ordered by (root, expiration, right, strike); columns as
    ``OPEN_INTEREST_SCHEMA``. An instrument of the day's definitions without a row has no known
    open interest (not 0). ``FileNotFoundError`` when the day's statistics were not imported.
    """
    path = _existing(SCHEMA_STATISTICS, day, root_dir)
    clauses, params = _filters(roots=roots, expirations=expirations)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    # No hive ``date`` column: the day is the argument, and the table keeps exactly its schema.
    sql = f'SELECT * FROM read_parquet(?, hive_partitioning = false) {where} ORDER BY root, expiration, "right", strike'
    with _connect() as con:
        return con.sql(sql, params=[str(path), *params]).to_arrow_table()


_VIEWS = (
    ("quotes", SCHEMA_CBBO_1M, QUOTES_SCHEMA),
    ("instruments", SCHEMA_DEFINITION, INSTRUMENTS_SCHEMA),
    ("open_interest", SCHEMA_STATISTICS, OPEN_INTEREST_SCHEMA),
)


def connect(*, root_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with views ``quotes``, ``instruments`` and ``open_interest`` over every
    imported day.

    Each view carries a ``date`` column from the ``date=`` folders, so ``WHERE date = DATE
    '2025-02-20'`` (or a range) reads only those days. The caller closes the connection.
    """
    base = parquet_root(root_dir)
    con = duckdb.connect(":memory:")  # its own database: the views live in its catalog
    con.execute("SET TimeZone = 'UTC'")
    for view, schema, empty in _VIEWS:
        pattern = base / schema / f"date=*/{PARQUET_NAME}"
        if any(base.glob(f"{schema}/date=*/{PARQUET_NAME}")):
            con.execute(
                f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{_sql_text(str(pattern))}', hive_partitioning = true)"
            )
        else:
            con.register(f"_{view}_empty", empty.empty_table())
            con.execute(f"CREATE VIEW {view} AS SELECT *, NULL::DATE AS date FROM _{view}_empty")
    return con


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware, got {moment!r}")
    return moment.astimezone(dt.UTC)


def relayout(day: dt.date, *, root_dir: Path | None = None) -> bool:
    """Rewrite a quotes file imported before expiration clustering (``write_quotes``); True if it
    was rewritten. Atomic: written beside the file, then renamed over it."""
    import os
    import uuid

    path = parquet_path(SCHEMA_CBBO_1M, day, root_dir=root_dir)
    if expiration_row_groups(pq.read_metadata(path)) is not None:
        return False
    table = _conform(pq.read_table(path))
    days = table.column("expiration").cast(pa.date32()).cast(pa.int32()).to_numpy()
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        write_quotes(tmp, table, days)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _conform(table: pa.Table) -> pa.Table:
    """``table`` with exactly ``QUOTES_SCHEMA``'s column types (dictionary columns re-encoded)."""
    columns = []
    for field in QUOTES_SCHEMA:
        column = table.column(field.name)
        if column.type != field.type:
            if pa.types.is_dictionary(field.type):
                if pa.types.is_dictionary(column.type):
                    column = column.cast(field.type.value_type)
                column = column.cast(field.type.value_type).dictionary_encode().cast(field.type)
            else:
                column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=QUOTES_SCHEMA)
