"""Import OPRA DBN files (``.dbn`` / ``.dbn.zst``) into the Parquet store, with a manifest.

``import_files(paths)`` takes ``cbbo-1m``, ``definition`` and ``statistics`` files (or folders of
them), in any mix and order. Each quote is joined to its day's definition by (UTC date,
instrument_id) — Databento's ids are only valid within one UTC mapping day (reference §2) — and
written to ``store.parquet_path("cbbo-1m", day)``; the definitions go to ``…/definition/…``. A
day's quotes need that day's definitions: from a definition file in the same call, else the
definitions already imported for that day.

Statistics keep only the open interest (``stat_type`` OPEN_INTEREST, 9), joined to the day's
definitions the same way (the same rule: no definitions, no import; an id missing from them is
refused) and written one row per instrument to ``…/statistics/…`` (``store.open_interest``).
OPRA repeats each figure once per venue publisher (reference §5), and a day may bring
corrections, so the records of one instrument collapse to one — **the latest ``ts_recv`` wins;
among records with the same ``ts_recv``, the one later in the input (a later file on the
command line, or later in its file) wins**. Records with no quantity (UNDEF) are ignored; if the
winning record is a DELETE the instrument has no open interest that day (no row). Each row keeps
how many records reported a value (``report_count``) and whether they disagreed
(``conflicting``). Several statistics files for one day are merged by that rule; the manifest
names the last.

Quotes out of order or repeated: the engine's carry-forward needs each day's records in
``ts_recv`` order, so the import **sorts a day's quote records by ``ts_recv`` (stable: records with
the same stamp keep their input order) and keeps one record per (``instrument_id``, ``ts_recv``) —
the one later in the input**, the record a carry-forward over the raw file would have used.
``DayImport.reordered`` / ``duplicates_dropped`` count what was changed (the import command prints
them); the manifest's ``record_count`` stays the records read. A file already in order with no
repeats (every Databento file seen so far) is checked in linear time and written as it came.

Records outside the session and gaps (reliability #43): **quotes stamped before the open or after
the close (09:30–16:15 ET, 13:15 on an early close, both stamps included: ``store.session_minutes``)
are kept in the store as Databento sent them, counted (``DayImport.outside_session``, the
manifest's ``outside_session``), and never read by the engine** (``store.in_session``: not as the
quote in force at the open, not after the close). **A session minute with no record of any
instrument is a gap**: the day's count (``empty_minutes``) and runs (``gaps``, [first, last] ET
minutes) go to the manifest; quotes are still carried forward over it, and a run reports the
decisions and exits it made inside one (``BacktestRun.data_gaps``).

All or nothing: every file is decoded and validated, and every day's Parquet written to a
temporary file, before anything is renamed into place; the renames and the ``ImportedDay``
manifest rows then commit together in one transaction (a failed rename restores the files it
replaced). After the commit, every day whose quotes or definitions were written gets its slot book
(``slots``: the quotes in force at each 5-minute capture slot, derived from those files). A bad file — empty, not DBN, truncated, another dataset or schema, quotes without a
definition — raises ``ImportRefused`` naming the file, and leaves the store as it was.

Speed: records are never touched one by one. A file is streamed in chunks of ``CHUNK_RECORDS``
(a few MB, so field reads stay in cache) viewed as numpy structured arrays; ids map to definition
rows through a lookup table; the joined columns are Arrow dictionary arrays indexed by that row;
a day's chunks are kept as Arrow arrays and written once, clustered by expiration
(``store.write_quotes``: the replay engine then reads only the expirations it trades); and cbbo-1m
files are staged in parallel threads (zstd, numpy and the Parquet writer release the GIL). Memory
is about one day of Arrow columns per thread (~250 MB for a full SPX day).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction
from django.utils import timezone
from numpy.typing import NDArray

from backtests.data import dbn_io, slots, store
from snapshots.market_calendar import ET
from backtests.data.dbn_io import (
    DATASET,
    SCHEMA_CBBO_1M,
    SCHEMA_DEFINITION,
    SCHEMA_STATISTICS,
    DbnHeader,
    DbnRefused,
    RecordArray,
)

IMPORTABLE_SCHEMAS = (SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS)
_RESULT_ORDER = {SCHEMA_DEFINITION: 0, SCHEMA_CBBO_1M: 1, SCHEMA_STATISTICS: 2}
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
# Parquet codec (measured on a generated SPX day of 3.2 M records): LZ4 106 MB for ~15 % more
# import CPU than no codec (207 MB); zstd 77 MB for ~40 % more. Leaving only the price columns
# uncompressed saved ~6 % CPU for +35 % disk: not worth it. Row groups: one expiration each (at
# most 256k rows), see ``store.write_quotes``.
PARQUET_COMPRESSION = "lz4"
COMPRESSIONS = ("lz4", "zstd", "snappy", "none")
CHUNK_RECORDS = 1 << 15  # records decoded per step (2.6 MB of cbbo-1m: stays in cache)
_LOOKUP_TABLE_MAX = 1 << 26  # dense id → row table up to 64 M ids (256 MB); else binary search
_RIGHTS = pa.array(["C", "P"], type=pa.string())
_TIMESTAMP = pa.timestamp("ns", tz="UTC")


class ImportRefused(Exception):
    """An import that was refused; nothing was written. ``str()`` says which file and why."""


@dataclass(frozen=True)
class DayImport:
    """One (day, schema) written by an import: what the manifest row records."""

    date: dt.date
    schema: str
    dataset: str
    source_file: Path
    file_sha256: str
    record_count: int  # DBN records of this day read (statistics: of every stat type, from every file of the day)
    instrument_count: int  # cbbo-1m: instruments quoted; definition: instruments defined; statistics: with open interest
    parquet_path: Path
    parquet_bytes: int
    # cbbo-1m only (the rule in the module docstring): records put back in time order, and records
    # dropped because a later record of the same file had the same (instrument_id, ts_recv).
    reordered: int = 0
    duplicates_dropped: int = 0
    # cbbo-1m only: records kept but stamped outside the session (``store.in_session``: the engine
    # never reads them), and the session minutes with no record at all — their count and their
    # runs as [first, last] ET "HH:MM" (both included).
    outside_session: int = 0
    empty_minutes: int = 0
    gaps: tuple[tuple[str, str], ...] = ()


@dataclass
class _Staged:
    result: DayImport
    tmp_path: Path


class _Instruments:
    """One day's definitions, sorted by (root, expiration, right, strike), with the per-instrument
    codes the quote columns are built from and a vectorised id → row lookup."""

    def __init__(
        self,
        *,
        instrument_id: NDArray[np.uint32],
        symbol: pa.Array,
        root: pa.Array,
        expiration_days: NDArray[np.int32],
        is_put: NDArray[np.bool_],
        strike: NDArray[np.float64],
        ts_recv: NDArray[np.int64],
    ) -> None:
        self.instrument_id = instrument_id
        self.symbol = symbol  # string, OSI without root padding
        self.root = root  # string
        self.expiration_days = expiration_days  # days since 1970-01-01
        self.is_put = is_put
        self.strike = strike  # index points
        self.ts_recv = ts_recv  # UNIX ns
        root_values, root_codes = np.unique(np.asarray(root.to_pylist(), dtype=str), return_inverse=True)
        self.root_values = pa.array(root_values.tolist(), type=pa.string())
        self.root_codes = root_codes.astype(np.int16)
        exp_values, exp_codes = np.unique(expiration_days, return_inverse=True)
        self.exp_values = pa.array(exp_values.astype(np.int32), type=pa.int32()).cast(pa.date32())
        self.exp_codes = exp_codes.astype(np.int16)
        strike_values, strike_codes = np.unique(strike, return_inverse=True)
        self.strike_values = pa.array(strike_values, type=pa.float64())
        self.strike_codes = strike_codes.astype(np.int32)
        self.right_codes = is_put.astype(np.int8)
        self.lookup = _id_lookup(instrument_id)

    def __len__(self) -> int:
        return int(self.instrument_id.size)


# ---- definitions ------------------------------------------------------------------------------


def _utc_day_index(ts_ns: NDArray[np.uint64]) -> NDArray[np.int64]:
    return (ts_ns // np.uint64(dbn_io.NS_PER_DAY)).astype(np.int64)


def _day_of(index: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=index)


def _parse_definitions(records: RecordArray, path: Path) -> _Instruments:
    """Vectorised parse of definition records (any DBN version): dedupe by id (last wins), check
    they are OSI options, sort by (root, expiration, right, strike) and build the id lookup."""
    # Keep the latest definition of each id: unique on the reversed array finds last occurrences.
    ids_rev = records["instrument_id"][::-1]
    _, first_rev = np.unique(ids_rev, return_index=True)
    recs = records[::-1][first_rev]
    full = recs["raw_symbol"]
    raw = full.astype("S21")
    chars = raw.view(np.uint8).reshape(-1, 21) if raw.size else np.zeros((0, 21), np.uint8)
    digits = np.concatenate((chars[:, 6:12], chars[:, 13:21]), axis=1)
    cls = recs["instrument_class"]
    valid = (
        (np.strings.str_len(full) == 21)
        & np.all((digits >= ord("0")) & (digits <= ord("9")), axis=1)
        & np.isin(chars[:, 12], (ord("C"), ord("P")))
        & np.isin(cls, (b"C", b"P"))
        & (recs["strike_price"] != dbn_io.UNDEF_PRICE_INT)
    )
    if not valid.all():
        bad = recs[~valid][0]
        raise ImportRefused(
            f"{path.name}: {int((~valid).sum())} definitions are not OSI option contracts "
            f"(e.g. instrument {int(bad['instrument_id'])} {bad['raw_symbol'].decode(errors='replace')!r})"
        )
    root6 = raw.astype("S6")
    expiration = recs["expiration"]
    exp_days = _utc_day_index(expiration).astype(np.int32)
    undefined = expiration == dbn_io.UNDEF_TIMESTAMP_INT
    if undefined.any():
        # OPRA sends the expiry as 00:00 UTC of the date; if a file leaves it UNDEF, use the OSI date.
        ymd = (digits[:, :6] - ord("0")).astype(np.int64)
        months = (2000 + ymd[:, 0] * 10 + ymd[:, 1] - 1970) * 12 + ymd[:, 2] * 10 + ymd[:, 3] - 1
        osi = months.astype("datetime64[M]").astype("datetime64[D]") + (ymd[:, 4] * 10 + ymd[:, 5] - 1)
        exp_days = np.where(undefined, osi.astype(np.int64), exp_days).astype(np.int32)
    strike = recs["strike_price"] / dbn_io.PRICE_SCALE
    is_put = cls == b"P"
    order = np.lexsort((strike, is_put, exp_days, root6))
    ids = np.ascontiguousarray(recs["instrument_id"][order]).astype(np.uint32)
    symbols = np.strings.replace(raw[order], b" ", b"")  # OSI without the root padding
    roots = np.strings.strip(root6[order])
    return _Instruments(
        instrument_id=ids,
        symbol=pa.array(symbols, type=pa.binary()).cast(pa.string()),
        root=pa.array(roots, type=pa.binary()).cast(pa.string()),
        expiration_days=exp_days[order],
        is_put=is_put[order],
        strike=strike[order],
        ts_recv=recs["ts_recv"][order].astype(np.int64),
    )


def _id_lookup(ids: NDArray[np.uint32]) -> Callable[[NDArray[np.uint32]], NDArray[np.int32]]:
    """id → row in the sorted instruments (−1 when unknown), as a vectorised function.

    A dense table when the ids span a modest range (one gather per record), else binary search.
    """
    if ids.size == 0:
        return lambda q: np.full(q.shape, -1, dtype=np.int32)
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo < _LOOKUP_TABLE_MAX:
        table = np.full(hi - lo + 1, -1, dtype=np.int32)
        table[ids.astype(np.int64) - lo] = np.arange(ids.size, dtype=np.int32)

        def dense(q: NDArray[np.uint32]) -> NDArray[np.int32]:
            offset = q.astype(np.int64) - lo
            inside = (offset >= 0) & (offset <= hi - lo)
            return np.where(inside, table[np.clip(offset, 0, hi - lo)], -1).astype(np.int32)

        return dense
    sorter = np.argsort(ids)
    sorted_ids = ids[sorter]

    def search(q: NDArray[np.uint32]) -> NDArray[np.int32]:
        pos = np.clip(np.searchsorted(sorted_ids, q), 0, sorted_ids.size - 1)
        return np.where(sorted_ids[pos] == q, sorter[pos], -1).astype(np.int32)

    return search


def _instruments_table(inst: _Instruments) -> pa.Table:
    return pa.table(
        {
            "instrument_id": pa.array(inst.instrument_id, type=pa.uint32()),
            "symbol": inst.symbol,
            "root": inst.root,
            "expiration": pa.array(inst.expiration_days, type=pa.int32()).cast(pa.date32()),
            "right": pa.array(np.where(inst.is_put, "P", "C")),
            "strike": pa.array(inst.strike, type=pa.float64()),
            "ts_recv": pa.array(inst.ts_recv, type=pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        },
        schema=store.INSTRUMENTS_SCHEMA,
    )


def _instruments_from_store(day: dt.date, root_dir: Path) -> _Instruments | None:
    """The definitions imported earlier for ``day``, or None."""
    path = store.parquet_path(SCHEMA_DEFINITION, day, root_dir=root_dir)
    if not path.is_file():
        return None
    table = pq.read_table(path)
    return _Instruments(
        instrument_id=table["instrument_id"].to_numpy().astype(np.uint32),
        symbol=table["symbol"].combine_chunks(),
        root=table["root"].combine_chunks(),
        expiration_days=table["expiration"].cast(pa.int32()).to_numpy(),
        is_put=(table["right"].to_numpy(zero_copy_only=False) == "P"),
        strike=table["strike"].to_numpy(),
        ts_recv=table["ts_recv"].cast(pa.int64()).to_numpy(),
    )


# ---- quotes -----------------------------------------------------------------------------------


def _price(raw: NDArray[np.int64]) -> pa.Array:
    """Fixed-point 1e-9 prices → float64 dollars, UNDEF → NULL (never arithmetic on the sentinel).

    True division, not a multiplication by 1e-9: it gives the float nearest the decimal price
    (43400000000 → 43.4, where × 1e-9 gives 43.400000000000006).
    """
    undefined = raw == dbn_io.UNDEF_PRICE_INT
    return pa.array(raw / dbn_io.PRICE_SCALE, mask=undefined if undefined.any() else None, type=pa.float64())


def _quote_arrays(recs: RecordArray, rows: NDArray[np.int32], inst: _Instruments) -> list[pa.Array]:
    """The quote columns of one chunk (``store.QUOTES_SCHEMA`` order), the definition joined
    through ``rows`` (index into ``inst``). The chunk is a few MB, so the field reads stay in cache."""
    last_ts = recs["ts_event"]
    no_trade = last_ts == dbn_io.UNDEF_TIMESTAMP_INT
    return [
        pa.array(recs["ts_recv"].astype(np.int64), type=pa.int64()).view(_TIMESTAMP),
        pa.array(np.ascontiguousarray(recs["instrument_id"]), type=pa.uint32()),
        # Dictionary arrays share the instrument row as index: the Parquet writer takes the codes
        # as they are, instead of hashing millions of repeated values.
        pa.DictionaryArray.from_arrays(pa.array(rows, type=pa.int32()), inst.symbol),
        pa.DictionaryArray.from_arrays(pa.array(inst.root_codes[rows], type=pa.int16()), inst.root_values),
        pa.DictionaryArray.from_arrays(pa.array(inst.exp_codes[rows], type=pa.int16()), inst.exp_values),
        pa.DictionaryArray.from_arrays(pa.array(inst.right_codes[rows], type=pa.int8()), _RIGHTS),
        pa.DictionaryArray.from_arrays(pa.array(inst.strike_codes[rows], type=pa.int32()), inst.strike_values),
        _price(recs["bid_px_00"]),
        _price(recs["ask_px_00"]),
        pa.array(np.ascontiguousarray(recs["bid_sz_00"]), type=pa.uint32()),
        pa.array(np.ascontiguousarray(recs["ask_sz_00"]), type=pa.uint32()),
        _price(recs["price"]),
        pa.array(np.ascontiguousarray(recs["size"]), type=pa.uint32()),
        pa.array(last_ts.astype(np.int64), mask=no_trade if no_trade.any() else None, type=pa.int64()).view(_TIMESTAMP),
        pa.array(np.ascontiguousarray(recs["flags"]), type=pa.uint8()),
    ]


def in_time_order_deduplicated(stamps: NDArray[np.int64], rows: NDArray[np.int32],
                                n_instruments: int) -> tuple[NDArray[np.int64] | None, int, int]:
    """The records to keep of one day's quotes, in ``ts_recv`` order, one per (instrument, ``ts_recv``).

    ``rows`` are the records' instruments as rows of the day's definitions (``0 … n_instruments − 1``).
    Returns ``(keep, reordered, dropped)``: ``keep`` is None when the records are already in time
    order with no repeat (the usual case, checked in linear time), else the indices to write;
    ``reordered`` counts records that came after a later stamp; ``dropped`` the repeats removed.
    Equal stamps keep their input order (a stable sort), and of repeats the one later in the input
    wins — the record a carry-forward over the raw file would have used.
    """
    n = int(stamps.size)
    if n == 0:
        return None, 0, 0
    reordered = int(np.count_nonzero(np.diff(stamps) < 0))
    order = np.argsort(stamps, kind="stable") if reordered else np.arange(n)
    in_order = stamps[order]
    # (stamp run, instrument) as one integer: the run index counts the distinct stamps so far.
    run = np.concatenate(([0], np.cumsum(np.diff(in_order) != 0)))
    key = run * n_instruments + rows[order]
    cells = (int(run[-1]) + 1) * n_instruments
    if cells <= _DENSE_CELLS:  # minute stamps: ≤ 1,440 runs × the instruments, a bitmap of a few MB
        seen = np.zeros(cells, dtype=np.bool_)
        seen[key] = True
        repeats = n - int(np.count_nonzero(seen))
    else:
        repeats = n - int(np.unique(key).size)
    if repeats == 0:
        return (order if reordered else None), reordered, 0
    _, last_from_end = np.unique(key[::-1], return_index=True)
    survivors = np.sort(n - 1 - last_from_end)  # positions, in time order, of each key's last record
    return order[survivors], reordered, n - int(survivors.size)


_DENSE_CELLS = 1 << 26


def _et_minute(stamp_ns: int) -> str:
    """A stamp (ns) as New York "HH:MM"."""
    moment = dt.datetime.fromtimestamp(stamp_ns // 1_000_000_000, tz=dt.UTC).astimezone(ET)
    return moment.strftime("%H:%M")


def _tmp_path(final: Path) -> Path:
    """A hidden temporary name beside ``final`` (no ``.parquet`` suffix: the store's globs skip it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"


class _QuoteDayWriter:
    """Collects one day's quotes, then writes them to a temporary Parquet file clustered by expiration."""

    def __init__(self, day: dt.date, inst: _Instruments, reader: dbn_io.DbnReader, root_dir: Path, compression: str) -> None:
        self.day = day
        self.inst = inst
        self.reader = reader
        self.final = store.parquet_path(SCHEMA_CBBO_1M, day, root_dir=root_dir)
        self.tmp = _tmp_path(self.final)
        self.seen = np.zeros(len(inst), dtype=bool)
        self.records = 0
        self.compression = compression
        self._parts: list[list[pa.Array]] = []
        self._expirations: list[NDArray[np.int32]] = []
        self._stamps: list[NDArray[np.int64]] = []
        self._rows: list[NDArray[np.int32]] = []

    def add(self, recs: RecordArray) -> None:
        rows = self.inst.lookup(recs["instrument_id"])
        missing = rows < 0
        if missing.any():
            unknown = np.unique(recs["instrument_id"][missing])
            examples = ", ".join(str(int(i)) for i in unknown[:5])
            raise ImportRefused(
                f"{self.reader.path.name}: quote records on {self.day} reference instrument_ids missing from that "
                f"day's definitions (e.g. {examples}); import the day's definition file with it"
            )
        self.seen[rows] = True
        self._parts.append(_quote_arrays(recs, rows, self.inst))
        self._expirations.append(self.inst.expiration_days[rows])
        self._stamps.append(recs["ts_recv"].astype(np.int64))
        self._rows.append(rows)
        self.records += recs.size

    def finish(self) -> _Staged:
        """The day's quotes, clustered by expiration (``store.write_quotes``), in the temporary file."""
        columns = [pa.chunked_array([part[i] for part in self._parts], type=column.type)
                   for i, column in enumerate(store.QUOTES_SCHEMA)]
        expirations = np.concatenate(self._expirations) if self._expirations else np.empty(0, dtype=np.int32)
        table = pa.Table.from_arrays(columns, schema=store.QUOTES_SCHEMA)
        stamps = np.concatenate(self._stamps) if self._stamps else np.empty(0, dtype=np.int64)
        rows = np.concatenate(self._rows) if self._rows else np.empty(0, dtype=np.int32)
        self._parts, self._expirations, self._stamps, self._rows = [], [], [], []
        keep, reordered, dropped = in_time_order_deduplicated(stamps, rows.astype(np.int64), len(self.inst))
        if keep is not None:
            table, expirations = table.take(pa.array(keep)), expirations[keep]
        store.write_quotes(self.tmp, table, expirations, compression=self.compression)
        kept = stamps if keep is None else stamps[keep]
        runs = store.empty_minutes(self.day, kept)
        result = DayImport(
            date=self.day,
            schema=SCHEMA_CBBO_1M,
            dataset=DATASET,
            source_file=self.reader.path,
            file_sha256=self.reader.sha256,
            record_count=self.records,
            instrument_count=int(np.count_nonzero(self.seen)),
            parquet_path=self.final,
            parquet_bytes=self.tmp.stat().st_size,
            reordered=reordered,
            duplicates_dropped=dropped,
            outside_session=int(np.count_nonzero(~store.in_session(self.day, kept))),
            empty_minutes=sum((last - first) // dbn_io.NS_PER_MINUTE + 1 for first, last in runs),
            gaps=tuple((_et_minute(first), _et_minute(last)) for first, last in runs),
        )
        return _Staged(result=result, tmp_path=self.tmp)

    def abort(self) -> None:
        self._parts, self._expirations, self._stamps, self._rows = [], [], [], []
        self.tmp.unlink(missing_ok=True)


# ---- statistics (open interest) --------------------------------------------------------------

# The open-interest records kept from a statistics file (any DBN version), in input order.
_OI_DTYPE = np.dtype(
    [
        ("instrument_id", np.uint32),
        ("ts_event", np.uint64),
        ("ts_recv", np.uint64),
        ("ts_ref", np.uint64),
        ("quantity", np.int64),
        ("undefined", np.bool_),
        ("update_action", np.uint8),
        ("publisher_id", np.uint16),
    ]
)


@dataclass
class _StatisticsDay:
    """One UTC day's open-interest records gathered from the statistics files of an import."""

    records: int  # statistics records of the day, every stat type
    parts: list[RecordArray]  # ``_OI_DTYPE`` arrays, in input order
    source_path: Path  # the last file that had records of the day (the manifest names it)
    source_sha256: str


def _open_interest_records(recs: RecordArray) -> RecordArray:
    """The OPEN_INTEREST records of a chunk in ``_OI_DTYPE`` (v2's i32 quantity widened)."""
    oi = recs[recs["stat_type"] == dbn_io.STAT_OPEN_INTEREST]
    out = np.empty(oi.size, dtype=_OI_DTYPE)
    for name in ("instrument_id", "ts_event", "ts_recv", "ts_ref", "update_action", "publisher_id"):
        out[name] = oi[name]
    out["quantity"], out["undefined"] = dbn_io.stat_quantity(oi)
    return out


def _statistics_by_day(files: Sequence[Path]) -> dict[dt.date, _StatisticsDay]:
    """Every statistics file streamed once, its open-interest records split by UTC day of ts_recv."""
    by_day: dict[dt.date, _StatisticsDay] = {}
    for path in files:
        with dbn_io.DbnReader(path, schemas=(SCHEMA_STATISTICS,)) as reader:
            for recs in reader.chunks(CHUNK_RECORDS):
                dbn_io.check_rtype(path, SCHEMA_STATISTICS, recs)
                days = _utc_day_index(recs["ts_recv"])
                for index in np.unique(days).tolist():
                    part = recs if days.min() == days.max() else recs[days == index]
                    day = by_day.setdefault(_day_of(index), _StatisticsDay(0, [], reader.path, reader.sha256))
                    day.records += int(part.size)
                    day.parts.append(_open_interest_records(part))
                    day.source_path, day.source_sha256 = reader.path, reader.sha256
    return by_day


def _latest_open_interest(records: RecordArray) -> tuple[RecordArray, NDArray[np.uint16], NDArray[np.bool_]]:
    """One record per instrument by the module's rule (latest ts_recv, then latest in the input),
    with how many records reported a value and whether their values differed. Vectorised."""
    usable = records[~records["undefined"] | (records["update_action"] == dbn_io.STAT_UPDATE_DELETE)]
    if usable.size == 0:
        return usable, np.empty(0, dtype=np.uint16), np.empty(0, dtype=bool)
    order = np.lexsort((np.arange(usable.size), usable["ts_recv"], usable["instrument_id"]))
    ordered = usable[order]
    ids = ordered["instrument_id"]
    last = np.flatnonzero(np.append(ids[1:] != ids[:-1], True))  # the winner closes each id's run
    first = np.concatenate(([0], last[:-1] + 1))
    valued = (ordered["update_action"] != dbn_io.STAT_UPDATE_DELETE) & ~ordered["undefined"]
    quantity = ordered["quantity"]
    reports = np.add.reduceat(valued.astype(np.int64), first)
    low = np.minimum.reduceat(np.where(valued, quantity, np.iinfo(np.int64).max), first)
    high = np.maximum.reduceat(np.where(valued, quantity, np.iinfo(np.int64).min), first)
    winners = ordered[last]
    keep = winners["update_action"] != dbn_io.STAT_UPDATE_DELETE
    conflicting = (reports > 1) & (low != high)
    return winners[keep], np.minimum(reports[keep], np.iinfo(np.uint16).max).astype(np.uint16), conflicting[keep]


def _timestamps(values: NDArray[np.uint64]) -> pa.Array:
    undefined = values == dbn_io.UNDEF_TIMESTAMP_INT
    return pa.array(values.astype(np.int64), mask=undefined if undefined.any() else None, type=pa.int64()).view(_TIMESTAMP)


def _open_interest_table(day: dt.date, gathered: _StatisticsDay, inst: _Instruments) -> pa.Table:
    records = np.concatenate(gathered.parts) if len(gathered.parts) != 1 else gathered.parts[0]
    path = gathered.source_path
    rows = inst.lookup(records["instrument_id"])
    if (rows < 0).any():
        unknown = np.unique(records["instrument_id"][rows < 0])
        examples = ", ".join(str(int(i)) for i in unknown[:5])
        raise ImportRefused(
            f"{path.name}: open-interest records on {day} reference instrument_ids missing from that day's "
            f"definitions (e.g. {examples}); import the day's definition file with it"
        )
    valued = ~records["undefined"] & (records["update_action"] != dbn_io.STAT_UPDATE_DELETE)
    negative = valued & (records["quantity"] < 0)
    if negative.any():
        bad = records[negative][0]
        raise ImportRefused(
            f"{path.name}: {int(negative.sum())} open-interest records on {day} are negative "
            f"(e.g. instrument {int(bad['instrument_id'])}: {int(bad['quantity'])})"
        )
    winners, reports, conflicting = _latest_open_interest(records)
    rows = inst.lookup(winners["instrument_id"])
    order = np.argsort(rows, kind="stable")  # the definitions' (root, expiration, right, strike) order
    rows, winners, reports, conflicting = rows[order], winners[order], reports[order], conflicting[order]
    take = pa.array(rows, type=pa.int32())
    return pa.table(
        {
            "instrument_id": pa.array(winners["instrument_id"], type=pa.uint32()),
            "symbol": inst.symbol.take(take),
            "root": inst.root.take(take),
            "expiration": pa.array(inst.expiration_days[rows], type=pa.int32()).cast(pa.date32()),
            "right": pa.array(np.where(inst.is_put[rows], "P", "C")).cast(pa.string()),
            "strike": pa.array(inst.strike[rows], type=pa.float64()),
            "open_interest": pa.array(winners["quantity"], type=pa.int64()),
            "ts_event": _timestamps(winners["ts_event"]),
            "ts_recv": _timestamps(winners["ts_recv"]),
            "ts_ref": _timestamps(winners["ts_ref"]),
            "publisher_id": pa.array(winners["publisher_id"], type=pa.uint16()),
            "report_count": pa.array(reports, type=pa.uint16()),
            "conflicting": pa.array(conflicting, type=pa.bool_()),
        },
        schema=store.OPEN_INTEREST_SCHEMA,
    )


def _stage_statistics(
    day: dt.date, gathered: _StatisticsDay, inst: _Instruments, root_dir: Path, compression: str
) -> _Staged:
    table = _open_interest_table(day, gathered, inst)
    final = store.parquet_path(SCHEMA_STATISTICS, day, root_dir=root_dir)
    tmp = _tmp_path(final)
    try:
        pq.write_table(table, tmp, compression=compression)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result = DayImport(
        date=day,
        schema=SCHEMA_STATISTICS,
        dataset=DATASET,
        source_file=gathered.source_path,
        file_sha256=gathered.source_sha256,
        record_count=gathered.records,
        instrument_count=table.num_rows,
        parquet_path=final,
        parquet_bytes=tmp.stat().st_size,
    )
    return _Staged(result=result, tmp_path=tmp)


# ---- planning and staging -----------------------------------------------------------------


def _expand(paths: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders expanded to their ``*.dbn`` / ``*.dbn.zst`` files (recursively)."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith((".dbn", ".dbn.zst")))
            if not found:
                raise ImportRefused(f"{path}: no .dbn or .dbn.zst files in this folder")
            files.extend(found)
        else:
            files.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in files))
    if not unique:
        raise ImportRefused("no files to import")
    return unique


def _check_header(header: DbnHeader) -> None:
    if header.dataset != DATASET:
        raise DbnRefused(header.path, f"dataset is {header.dataset!r}, expected {DATASET!r}")
    if header.schema not in IMPORTABLE_SCHEMAS:
        raise DbnRefused(header.path, f"schema is {header.schema or 'mixed'!r}, expected one of: {', '.join(IMPORTABLE_SCHEMAS)}")


@dataclass
class _Plan:
    definition_files: list[Path]
    cbbo_files: list[Path]
    statistics_files: list[Path]


def _plan(files: Sequence[Path]) -> _Plan:
    """Read every header first, so a wrong dataset/schema or an empty file fails before decoding."""
    plan = _Plan(definition_files=[], cbbo_files=[], statistics_files=[])
    by_schema = {SCHEMA_DEFINITION: plan.definition_files, SCHEMA_CBBO_1M: plan.cbbo_files,
                 SCHEMA_STATISTICS: plan.statistics_files}
    for path in files:
        header = dbn_io.read_header(path)
        _check_header(header)
        by_schema[header.schema].append(path)
    return plan


def _definitions_by_day(files: Sequence[Path]) -> dict[dt.date, list[tuple[RecordArray, dbn_io.DbnData]]]:
    """Decoded definition records split by the UTC day of each record's ts_recv."""
    by_day: dict[dt.date, list[tuple[RecordArray, dbn_io.DbnData]]] = {}
    for path in files:
        data = dbn_io.read_records(path, schemas=(SCHEMA_DEFINITION,))
        days = _utc_day_index(data.records["ts_recv"])
        for index in np.unique(days).tolist():
            part = data.records if days.min() == days.max() else data.records[days == index]
            by_day.setdefault(_day_of(index), []).append((part, data))
    return by_day


def _stage_definitions(
    day: dt.date, parts: list[tuple[RecordArray, dbn_io.DbnData]], root_dir: Path, compression: str
) -> tuple[_Instruments, _Staged]:
    records = np.concatenate([p for p, _ in parts]) if len(parts) > 1 else parts[0][0]
    source = parts[-1][1]
    inst = _parse_definitions(records, source.header.path)
    final = store.parquet_path(SCHEMA_DEFINITION, day, root_dir=root_dir)
    tmp = _tmp_path(final)
    try:
        pq.write_table(_instruments_table(inst), tmp, compression=compression)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result = DayImport(
        date=day,
        schema=SCHEMA_DEFINITION,
        dataset=DATASET,
        source_file=source.header.path,
        file_sha256=source.sha256,
        record_count=int(records.size),
        instrument_count=len(inst),
        parquet_path=final,
        parquet_bytes=tmp.stat().st_size,
    )
    return inst, _Staged(result=result, tmp_path=tmp)


class _Stager:
    """Decodes and stages everything of one import; remembers every temporary file."""

    def __init__(
        self, plan: _Plan, root_dir: Path, workers: int, progress: Callable[[DayImport], None] | None, compression: str
    ) -> None:
        self.plan = plan
        self.compression = compression
        self.root_dir = root_dir
        self.workers = max(1, workers)
        self.progress = progress
        self.staged: list[_Staged] = []
        self.instruments: dict[dt.date, _Instruments] = {}

    def run(self) -> list[_Staged]:
        for day, parts in sorted(_definitions_by_day(self.plan.definition_files).items()):
            inst, staged = _stage_definitions(day, parts, self.root_dir, self.compression)
            self.instruments[day] = inst
            self._keep(staged)
        # Statistics next: small files, and a refusal comes before the long cbbo-1m work.
        for day, gathered in sorted(_statistics_by_day(self.plan.statistics_files).items()):
            defined = self._instruments_of(day)
            if defined is None:
                raise ImportRefused(
                    f"{gathered.source_path.name}: no definitions for {day}; import that day's definition file with it"
                )
            self._keep(_stage_statistics(day, gathered, defined, self.root_dir, self.compression))
        if self.workers == 1 or len(self.plan.cbbo_files) <= 1:
            for path in self.plan.cbbo_files:
                for staged in self._stage_cbbo_file(path):
                    self._keep(staged)
        else:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures = [pool.submit(self._stage_cbbo_file, path) for path in self.plan.cbbo_files]
                error: BaseException | None = None
                for future in futures:
                    try:
                        for staged in future.result():
                            self._keep(staged)
                    except BaseException as exc:  # keep collecting, so every temporary file is known
                        error = error or exc
                if error is not None:
                    raise error
        quote_days = [s.result.date for s in self.staged if s.result.schema == SCHEMA_CBBO_1M]
        twice = sorted({d for d in quote_days if quote_days.count(d) > 1})
        if twice:
            raise ImportRefused(f"more than one cbbo-1m file has quotes for {', '.join(map(str, twice))}; pass one file per day")
        return self.staged

    def _instruments_of(self, day: dt.date) -> _Instruments | None:
        """The day's definitions from this import, else from the store (then remembered), else None."""
        inst = self.instruments.get(day)
        if inst is None:
            inst = _instruments_from_store(day, self.root_dir)
            if inst is not None:
                self.instruments[day] = inst
        return inst

    def _keep(self, staged: _Staged) -> None:
        self.staged.append(staged)
        if self.progress:
            self.progress(staged.result)

    def _writer(self, writers: dict[int, _QuoteDayWriter], index: int, reader: dbn_io.DbnReader) -> _QuoteDayWriter:
        writer = writers.get(index)
        if writer is None:
            day = _day_of(index)
            inst = self.instruments.get(day) or _instruments_from_store(day, self.root_dir)
            if inst is None:
                raise ImportRefused(
                    f"{reader.path.name}: no definitions for {day}; import that day's definition file with it"
                )
            writer = writers[index] = _QuoteDayWriter(day, inst, reader, self.root_dir, self.compression)
        return writer

    def _stage_cbbo_file(self, path: Path) -> list[_Staged]:
        """Stream one cbbo-1m file into per-day temporary Parquet files (usually one day)."""
        writers: dict[int, _QuoteDayWriter] = {}
        try:
            with dbn_io.DbnReader(path, schemas=(SCHEMA_CBBO_1M,)) as reader:
                for recs in reader.chunks(CHUNK_RECORDS):
                    dbn_io.check_rtype(path, SCHEMA_CBBO_1M, recs)
                    ts = recs["ts_recv"]
                    first = int(ts.min()) // dbn_io.NS_PER_DAY
                    if int(ts.max()) // dbn_io.NS_PER_DAY == first:  # the usual case: one UTC day per chunk
                        self._writer(writers, first, reader).add(recs)
                    else:
                        days = _utc_day_index(ts)
                        for index in np.unique(days).tolist():
                            self._writer(writers, index, reader).add(recs[days == index])
                return [writers[index].finish() for index in sorted(writers)]
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise


# ---- commit -----------------------------------------------------------------------------------


def _commit(staged: Sequence[_Staged]) -> None:
    """Manifest rows and file renames in one transaction; a failed rename restores what it replaced."""
    from backtests.models import ImportedDay  # lazy: the parsing above loads without Django apps

    token = uuid.uuid4().hex
    backups: list[tuple[Path, Path]] = []  # (final, backup)
    placed: list[Path] = []
    now = timezone.now()
    try:
        with transaction.atomic():
            for item in staged:
                r = item.result
                ImportedDay.objects.update_or_create(
                    date=r.date,
                    dataset=r.dataset,
                    schema=r.schema,
                    defaults={
                        "source_file": str(r.source_file),
                        "file_sha256": r.file_sha256,
                        "record_count": r.record_count,
                        "instrument_count": r.instrument_count,
                        "parquet_path": str(r.parquet_path),
                        "parquet_bytes": r.parquet_bytes,
                        "outside_session": r.outside_session,
                        "empty_minutes": r.empty_minutes,
                        "gaps": [list(g) for g in r.gaps],
                        "imported_at": now,
                    },
                )
            # Rename inside the transaction: if a rename fails the rows roll back with it.
            for item in staged:
                final = item.result.parquet_path
                if final.exists():
                    backup = final.parent / f".{final.name}.{token}.bak"
                    os.replace(final, backup)
                    backups.append((final, backup))
                os.replace(item.tmp_path, final)
                placed.append(final)
    except BaseException:
        for final in placed:
            final.unlink(missing_ok=True)
        for final, backup in backups:
            os.replace(backup, final)
        raise
    for _, backup in backups:
        backup.unlink(missing_ok=True)


def _build_slot_books(days: set[dt.date], root_dir: Path) -> None:
    """The slot book (``slots``) of each day written whose quotes and definitions are both stored."""
    for day in sorted(days):
        if all(store.parquet_path(schema, day, root_dir=root_dir).is_file() for schema in (SCHEMA_CBBO_1M, SCHEMA_DEFINITION)):
            slots.build(day, root_dir=root_dir)


def import_files(
    paths: Iterable[Path | str],
    *,
    root_dir: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[DayImport], None] | None = None,
    compression: str = PARQUET_COMPRESSION,
) -> list[DayImport]:
    """Import DBN files (or folders of them) into the Parquet store and the manifest.

    Returns one ``DayImport`` per (day, schema) written: definitions first, then quotes, then
    statistics, each by date. Re-importing a (day, schema) replaces its file and manifest row.
    Raises ``ImportRefused`` (nothing written) for a bad file or a day whose quotes or statistics
    have no definitions. ``progress`` is called as each day is staged, before the commit.
    ``workers`` cbbo-1m files are staged in parallel; ``compression`` is the Parquet codec (one
    of ``COMPRESSIONS``).
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
    base = root_dir or store.data_dir()
    stager: _Stager | None = None
    try:
        stager = _Stager(_plan(_expand(paths)), base, workers, progress, compression)
        staged = stager.run()
        _commit(staged)
        _build_slot_books({s.result.date for s in staged if s.result.schema in (SCHEMA_CBBO_1M, SCHEMA_DEFINITION)}, base)
    except DbnRefused as exc:
        raise ImportRefused(str(exc)) from exc
    finally:
        if stager is not None:
            for item in stager.staged:
                item.tmp_path.unlink(missing_ok=True)  # already renamed on success; leftovers on failure
    return sorted((s.result for s in staged), key=lambda r: (_RESULT_ORDER[r.schema], r.date))
