"""Reading and writing DBN files (Databento Binary Encoding) as numpy record arrays.

Reading is strict: a file is decoded completely and validated before anyone uses it, and every
problem becomes a ``DbnRefused`` with a message that names the file and says what is wrong (empty,
not DBN, truncated, wrong dataset or schema). Records come back as a zero-copy numpy structured
array in the file's own wire layout (the dtype ``DBNStore.to_ndarray()`` gives), so callers stay
vectorised. Writing builds records from templates encoded by ``databento_dbn`` itself, so every
reserved byte and sentinel is what the official encoder writes.

Units: timestamps are UNIX nanoseconds (UTC); prices are int64 × 1e-9 dollars with
``UNDEF_PRICE`` for "none" (reference/databento.md §3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mmap
import os
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import databento as db
import databento_dbn
import databento_dbn.v1
import databento_dbn.v2
import numpy as np
import zstandard
from databento_dbn import FIXED_PRICE_SCALE, UNDEF_PRICE, UNDEF_TIMESTAMP, Metadata, Schema, SType, VersionUpgradePolicy
from numpy.typing import NDArray

DATASET = "OPRA.PILLAR"
SCHEMA_CBBO_1M = "cbbo-1m"
SCHEMA_DEFINITION = "definition"
SCHEMA_STATISTICS = "statistics"
SPX_PARENTS = ("SPX.OPT", "SPXW.OPT")
PUBLISHER_OPRA = 30  # the consolidated OPRA record (reference §1)
PUBLISHER_XCBO = 22  # Cboe Options, the only venue listing SPX/SPXW
RTYPE_CBBO_1M = 193
RTYPE_DEFINITION = 19
RTYPE_STATISTICS = 24
STAT_OPEN_INTEREST = int(databento_dbn.StatType.OPEN_INTEREST)  # 9: contracts, previous session (reference §5)
STAT_UPDATE_NEW = int(databento_dbn.StatUpdateAction.NEW)  # 1
STAT_UPDATE_DELETE = int(databento_dbn.StatUpdateAction.DELETE)  # 2
NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_DAY = 86_400 * NS_PER_SECOND
PRICE_SCALE = FIXED_PRICE_SCALE  # int price units per dollar (1e9)
UNDEF_PRICE_INT = int(UNDEF_PRICE)
UNDEF_TIMESTAMP_INT = int(UNDEF_TIMESTAMP)
UNDEF_I32 = 2**31 - 1  # e.g. contract_multiplier in OPRA definitions (reference §4)
UNDEF_STAT_QUANTITY_INT = int(databento_dbn.UNDEF_STAT_QUANTITY)  # i64 in DBN v3; v1/v2 ``quantity`` is i32 (UNDEF_I32)
CBBO_FLAGS = int(databento_dbn.F_LAST | databento_dbn.F_TOB | databento_dbn.F_PUBLISHER_SPECIFIC)  # 194, as observed

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_DBN_MAGIC = b"DBN"
_PREFIX_BYTES = 8  # b"DBN" + version byte + u32 metadata length
_RTYPE_BY_SCHEMA = {SCHEMA_CBBO_1M: RTYPE_CBBO_1M, SCHEMA_DEFINITION: RTYPE_DEFINITION, SCHEMA_STATISTICS: RTYPE_STATISTICS}
# Record classes per DBN version: the definition record grew from 360 (v1) to 400 (v2) to 520 B (v3),
# the statistics record from 64 (v1/v2, i32 quantity) to 80 B (v3, i64 quantity).
_RECORD_MODULES: dict[int, Any] = {1: databento_dbn.v1, 2: databento_dbn.v2, 3: databento_dbn}
_RECORD_CLASS_BY_SCHEMA = {SCHEMA_CBBO_1M: "CBBOMsg", SCHEMA_DEFINITION: "InstrumentDefMsg", SCHEMA_STATISTICS: "StatMsg"}

RecordArray = NDArray[Any]  # numpy structured array in DBN wire layout

# databento_dbn's type stubs declare enum members as plain str and CBBOMsg ``levels`` as a list
# (reference §8.12); the runtime wants the enums and a single pair, so they are passed as Any.
_PARENT: Any = SType.PARENT
_INSTRUMENT_ID: Any = SType.INSTRUMENT_ID
_SIDE_NONE: Any = databento_dbn.Side.NONE
_CALL: Any = databento_dbn.InstrumentClass.CALL
_ADD: Any = databento_dbn.SecurityUpdateAction.ADD
_OPEN_INTEREST: Any = databento_dbn.StatType.OPEN_INTEREST
_STAT_NEW: Any = databento_dbn.StatUpdateAction.NEW


class DbnRefused(ValueError):
    """A DBN file that cannot be used; ``str()`` names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")


@dataclass(frozen=True)
class DbnHeader:
    """What a DBN file's metadata says about it (no records decoded)."""

    path: Path
    dataset: str
    schema: str  # e.g. "cbbo-1m", "definition", "statistics"; "" for mixed-schema (live) files
    version: int
    start_ns: int  # request start, UNIX ns UTC
    end_ns: int | None  # request end (exclusive), UNIX ns UTC; None when the request had none
    compressed: bool  # zstd
    metadata_bytes: int  # length of the metadata block incl. the 8-byte prefix
    ts_out: bool

    def utc_dates(self) -> list[dt.date]:
        """UTC dates the request range covers ([start, end) on ts_recv), at least the start date."""
        first = _ns_to_date(self.start_ns)
        if self.end_ns is None or self.end_ns <= self.start_ns:
            return [first]
        last = _ns_to_date(self.end_ns - 1)
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class DbnData:
    """A fully decoded and validated DBN file."""

    header: DbnHeader
    sha256: str  # of the file's bytes as stored (compressed or not)
    size_bytes: int  # file size on disk
    records: RecordArray  # structured array in the file's wire layout


def _ns_to_date(ns: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=ns // NS_PER_DAY)


def utc_day_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[00:00 UTC of ``day``, 00:00 UTC of the next day) in UNIX ns, the span of one mapping day."""
    start = (day - dt.date(1970, 1, 1)).days * NS_PER_DAY
    return start, start + NS_PER_DAY


def file_name(day: dt.date, schema: str, *, compressed: bool = True) -> str:
    """The file name downloads and the generator use: ``2025-02-20.cbbo-1m.dbn.zst``."""
    return f"{day.isoformat()}.{schema}.dbn{'.zst' if compressed else ''}"


def instant_ns(moment: dt.datetime) -> int:
    """An aware datetime as UNIX ns (whole microseconds; our instants are whole minutes)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}")
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000


def _schema_text(schema: Schema | str | None) -> str:
    return "" if schema is None else str(schema)


def _parse_metadata(path: Path, prefix_and_body: bytes) -> tuple[Metadata, int]:
    if len(prefix_and_body) < _PREFIX_BYTES or prefix_and_body[:3] != _DBN_MAGIC:
        raise DbnRefused(path, "not a DBN file (no DBN header)")
    length = _PREFIX_BYTES + int.from_bytes(prefix_and_body[4:8], "little")
    if len(prefix_and_body) < length:
        raise DbnRefused(path, "truncated inside the DBN metadata header")
    try:
        meta = Metadata.decode(prefix_and_body[:length], upgrade_policy=VersionUpgradePolicy.AS_IS)  # type: ignore[arg-type]  # stub types the enum as int
    except Exception as exc:  # databento_dbn raises its own DBNError for a corrupt header
        raise DbnRefused(path, f"corrupt DBN metadata header ({exc})") from exc
    return meta, length


def _header(path: Path, meta: Metadata, length: int, compressed: bool) -> DbnHeader:
    end = meta.end
    return DbnHeader(
        path=path,
        dataset=str(meta.dataset),
        schema=_schema_text(meta.schema),
        version=int(meta.version),
        start_ns=int(meta.start),
        end_ns=None if end is None or int(end) == UNDEF_TIMESTAMP_INT else int(end),
        compressed=compressed,
        metadata_bytes=length,
        ts_out=bool(meta.ts_out),
    )


def read_header(path: Path | str) -> DbnHeader:
    """Decode only the metadata block of a ``.dbn`` / ``.dbn.zst`` file (cheap: a few KB–MB read).

    Raises ``DbnRefused`` for a missing, empty or non-DBN file or a corrupt header.
    """
    path = Path(path)
    if not path.is_file():
        raise DbnRefused(path, "no such file")
    with path.open("rb") as fh:
        magic = fh.read(4)
        if not magic:
            raise DbnRefused(path, "empty file (0 bytes)")
        fh.seek(0)
        compressed = magic == _ZSTD_MAGIC
        reader: Any = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True) if compressed else fh
        try:
            prefix = reader.read(_PREFIX_BYTES)
            length = int.from_bytes(prefix[4:8], "little") if len(prefix) == _PREFIX_BYTES else 0
            body = reader.read(length) if prefix[:3] == _DBN_MAGIC else b""
        except zstandard.ZstdError as exc:
            raise DbnRefused(path, f"corrupt zstd data ({exc})") from exc
    meta, length = _parse_metadata(path, prefix + body)
    return _header(path, meta, length, compressed)


def record_size(schema: str, version: int) -> int:
    """Bytes per record of ``schema`` in DBN ``version`` (cbbo 80; definition 360/400/520; statistics 64/64/80)."""
    module = _RECORD_MODULES.get(version)
    if module is None:
        raise ValueError(f"unsupported DBN version {version}")
    cls = getattr(module, _RECORD_CLASS_BY_SCHEMA[schema], None) or getattr(databento_dbn, _RECORD_CLASS_BY_SCHEMA[schema])
    return int(cls.size_hint)


class DbnReader:
    """A validated, streaming reader of one DBN file (``.dbn`` or zstd ``.dbn.zst``).

    Opening checks what the header can tell (empty, not DBN, dataset, schema, ts_out) and hashes
    the file; ``chunks()`` then yields the records as read-only numpy structured arrays of at most
    ``records`` rows each, decompressing a few MB at a time so the data stays in cache, and
    raises ``DbnRefused`` at the end if the stream was truncated or held no records. Use as a
    context manager (the file is memory-mapped).
    """

    _INPUT_PIECE = 1 << 18  # compressed bytes fed to zstd per call (~1 MB out)
    _PLAIN_PIECE = 1 << 20

    def __init__(self, path: Path | str, *, schemas: Collection[str], dataset: str = DATASET) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DbnRefused(self.path, "no such file")
        self.size_bytes = self.path.stat().st_size
        if self.size_bytes == 0:
            raise DbnRefused(self.path, "empty file (0 bytes)")
        with self.path.open("rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self.sha256 = hashlib.sha256(self._map).hexdigest()
            self.compressed = self._map[:4] == _ZSTD_MAGIC
            self._pieces = self._decompressed_pieces() if self.compressed else self._plain_pieces()
            self._pending = bytearray()
            meta, length = self._read_metadata()
            self.header = _header(self.path, meta, length, self.compressed)
            self._validate(schemas, dataset)
        except BaseException:
            self.close()
            raise
        self.record_size = record_size(self.header.schema, self.header.version)
        self.record_count = 0

    def __enter__(self) -> DbnReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pieces = iter(())
        try:
            self._map.close()
        except BufferError:
            # A chunk generator abandoned mid-file (an exception) still holds a slice of the map;
            # the map is unmapped when that generator is collected. Never mask the original error.
            pass

    def _validate(self, schemas: Collection[str], dataset: str) -> None:
        header = self.header
        if header.dataset != dataset:
            raise DbnRefused(self.path, f"dataset is {header.dataset!r}, expected {dataset!r}")
        if header.schema not in schemas:
            raise DbnRefused(self.path, f"schema is {header.schema or 'mixed'!r}, expected one of: {', '.join(sorted(schemas))}")
        if header.ts_out:
            raise DbnRefused(self.path, "records carry ts_out (a live capture); historical files only")

    def _plain_pieces(self) -> Iterator[memoryview]:
        """An uncompressed file in slices of about what zstd yields, so chunking copies little."""
        view = memoryview(self._map)
        try:
            for start in range(0, len(view), self._PLAIN_PIECE):
                yield view[start : start + self._PLAIN_PIECE]
        finally:
            view.release()

    def _decompressed_pieces(self) -> Iterator[bytes]:
        """Decompressed bytes, frame after frame; every frame must reach its end.

        ``ZstdDecompressor.stream_reader`` silently returns a truncated stream's prefix, so frames
        are driven by hand and each must report ``eof``.
        """
        dctx = zstandard.ZstdDecompressor()
        view = memoryview(self._map)
        obj = dctx.decompressobj(write_size=1 << 20)
        fed = False  # has the current frame object seen any input?
        try:
            for start in range(0, len(view), self._INPUT_PIECE):
                data: bytes | memoryview = view[start : start + self._INPUT_PIECE]
                while data:
                    out = obj.decompress(data)
                    fed = True
                    if out:
                        yield out
                    if not obj.eof:
                        break
                    data = obj.unused_data  # the next frame starts inside this piece
                    obj = dctx.decompressobj(write_size=1 << 20)
                    fed = False
        except zstandard.ZstdError as exc:
            raise DbnRefused(self.path, f"corrupt zstd data ({exc})") from exc
        finally:
            view.release()
        if fed and not obj.eof:
            raise DbnRefused(self.path, "truncated: the zstd stream ends inside a frame")

    def _take(self, count: int) -> bytes:
        """Exactly ``count`` bytes from the stream (fewer only at its end)."""
        while len(self._pending) < count:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._pending += piece
        out = bytes(self._pending[:count])
        del self._pending[:count]
        return out

    def _read_metadata(self) -> tuple[Metadata, int]:
        prefix = self._take(_PREFIX_BYTES)
        if len(prefix) < _PREFIX_BYTES or prefix[:3] != _DBN_MAGIC:
            raise DbnRefused(self.path, "not a DBN file (no DBN header)")
        body = self._take(int.from_bytes(prefix[4:8], "little"))
        return _parse_metadata(self.path, prefix + body)

    def _dtype(self, first_record: bytes) -> np.dtype[Any]:
        # DBNStore knows each version's layout (v1/v2 definitions differ); decode one record.
        meta = Metadata(
            dataset=self.header.dataset,
            start=self.header.start_ns,
            stype_in=_PARENT,
            stype_out=_INSTRUMENT_ID,
            schema=Schema.from_str(self.header.schema),
            version=self.header.version,
        )
        return db.DBNStore.from_bytes(meta.encode() + first_record).to_ndarray().dtype

    def chunks(self, records: int = 1 << 15) -> Iterator[RecordArray]:
        """Yield the records in file order, at most ``records`` per array (each a fresh buffer)."""
        size = self.record_size
        want = records * size
        dtype: np.dtype[Any] | None = None
        pieces: list[bytes | memoryview] = [bytes(self._pending)] if self._pending else []
        have = len(self._pending)
        self._pending = bytearray()
        exhausted = False
        while True:
            while have < want and not exhausted:
                piece = next(self._pieces, None)
                if piece is None:
                    exhausted = True
                else:
                    pieces.append(piece)
                    have += len(piece)
            usable = min(want, have - have % size)
            if usable == 0:
                break
            # One copy per byte: join the pieces, view the whole records, keep the tail for later.
            joined = b"".join(pieces)  # always a copy: no array may pin the memory map
            view = memoryview(joined)
            tail = view[usable:]
            pieces = [bytes(tail)] if len(tail) else []
            have = len(tail)
            if dtype is None:
                dtype = self._dtype(bytes(view[:size]))
            array = np.frombuffer(view[:usable], dtype=dtype)
            self.record_count += array.size
            yield array
        self._pending = bytearray(b"".join(pieces))
        if self._pending:
            raise DbnRefused(self.path, f"truncated: {len(self._pending)} trailing bytes of an incomplete {size}-byte record")
        if self.record_count == 0:
            raise DbnRefused(self.path, "no records (metadata only)")


def check_rtype(path: Path, schema: str, records: RecordArray) -> None:
    """``DbnRefused`` when a record's rtype does not belong to ``schema`` (e.g. a mislabelled file)."""
    bad = records["rtype"] != _RTYPE_BY_SCHEMA[schema]
    if bad.any():
        raise DbnRefused(path, f"{int(bad.sum())} records have an rtype that does not belong to {schema}")


def read_records(
    path: Path | str,
    *,
    schemas: Collection[str] = (SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS),
    dataset: str = DATASET,
) -> DbnData:
    """Read and validate a whole DBN file into one array (for small files: definitions, tests).

    Refused (``DbnRefused``): empty or non-DBN files, truncated zstd frames or a partial last
    record, another dataset, a schema outside ``schemas``, live files with ``ts_out``, files with
    no records, and records whose rtype does not match the schema. A plain ``.dbn`` cut exactly at
    a record boundary cannot be told from a shorter file (DBN stores no record count).
    """
    with DbnReader(path, schemas=schemas, dataset=dataset) as reader:
        parts = list(reader.chunks(1 << 16))
        records = parts[0] if len(parts) == 1 else np.concatenate(parts)
        check_rtype(reader.path, reader.header.schema, records)
        return DbnData(header=reader.header, sha256=reader.sha256, size_bytes=reader.size_bytes, records=records)


# ---- writing ---------------------------------------------------------------------------------


class _Interval:
    """A symbology mapping interval as ``databento_dbn.Metadata`` reads it (duck-typed)."""

    def __init__(self, start_date: dt.date, end_date: dt.date, symbol: str) -> None:
        self.start_date, self.end_date, self.symbol = start_date, end_date, symbol


class _Mapping:
    def __init__(self, raw_symbol: str, intervals: list[_Interval]) -> None:
        self.raw_symbol, self.intervals = raw_symbol, intervals


def parent_metadata(
    day: dt.date, schema: str, raw_symbols: list[str], instrument_ids: list[int], *, parents: tuple[str, ...] = SPX_PARENTS
) -> Metadata:
    """Metadata of a one-day parent-symbology request (``stype_in=parent``), as Databento writes it.

    The mappings are keyed by each resolved OSI raw symbol with one interval [day, day + 1) whose
    symbol is the instrument_id as text (reference §2, §6).
    """
    start, end = utc_day_bounds_ns(day)
    next_day = day + dt.timedelta(days=1)
    mappings = [_Mapping(sym, [_Interval(day, next_day, str(iid))]) for sym, iid in zip(raw_symbols, instrument_ids, strict=True)]
    return Metadata(
        dataset=DATASET,
        start=start,
        end=end,
        stype_in=_PARENT,
        stype_out=_INSTRUMENT_ID,
        schema=Schema.from_str(schema),
        symbols=list(parents),
        mappings=cast(Any, mappings),
    )


@lru_cache(maxsize=1)
def cbbo_template() -> RecordArray:
    """One empty CBBO-1m record (v3 layout) encoded by databento_dbn: UNDEF prices, 0 sizes."""
    rec = databento_dbn.CBBOMsg(
        rtype=RTYPE_CBBO_1M,
        publisher_id=PUBLISHER_OPRA,
        instrument_id=0,
        ts_event=UNDEF_TIMESTAMP,
        price=UNDEF_PRICE,
        size=0,
        side=_SIDE_NONE,
        ts_recv=0,
        flags=CBBO_FLAGS,
        levels=cast(Any, databento_dbn.ConsolidatedBidAskPair()),
    )
    return _decode_template(SCHEMA_CBBO_1M, bytes(rec))


@lru_cache(maxsize=1)
def definition_template() -> RecordArray:
    """One OPRA-style option definition (v3 layout) with OPRA's sentinels (reference §4)."""
    rec = databento_dbn.InstrumentDefMsg(
        publisher_id=PUBLISHER_OPRA,
        instrument_id=0,
        ts_event=0,
        ts_recv=0,
        min_price_increment=UNDEF_PRICE,
        display_factor=UNDEF_PRICE,
        raw_symbol="",
        asset="",
        security_type="OPT",
        instrument_class=_CALL,
        security_update_action=_ADD,
        expiration=UNDEF_TIMESTAMP,
        strike_price=UNDEF_PRICE,
        raw_instrument_id=0,
        contract_multiplier=UNDEF_I32,
        channel_id=1,
        currency="USD",
        group="popra-1",
        exchange="OPRA",
        underlying="SPX",
        strike_price_currency="USD",
    )
    return _decode_template(SCHEMA_DEFINITION, bytes(rec))


@lru_cache(maxsize=1)
def statistics_template() -> RecordArray:
    """One OPRA open-interest record (v3 layout) as Databento's sample has them (reference §5):
    ``stat_type`` OPEN_INTEREST, ``quantity`` 0 (contracts), price and ts_ref UNDEF, update NEW."""
    rec = databento_dbn.StatMsg(
        publisher_id=PUBLISHER_OPRA,
        instrument_id=0,
        ts_event=0,
        ts_recv=0,
        ts_ref=UNDEF_TIMESTAMP,
        price=UNDEF_PRICE,
        quantity=0,
        stat_type=_OPEN_INTEREST,
        channel_id=1,
        update_action=_STAT_NEW,
    )
    return _decode_template(SCHEMA_STATISTICS, bytes(rec))


def stat_quantity(records: RecordArray) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(quantity as int64, undefined mask) of statistics records of any DBN version: v3 stores an
    i64 with ``UNDEF_STAT_QUANTITY``, v1/v2 an i32 with ``i32::MAX`` for "none"."""
    raw = records["quantity"]
    undef = UNDEF_STAT_QUANTITY_INT if raw.dtype.itemsize == 8 else UNDEF_I32
    return raw.astype(np.int64), raw == undef


def _decode_template(schema: str, record: bytes) -> RecordArray:
    meta = Metadata(dataset=DATASET, start=0, stype_in=_PARENT, stype_out=_INSTRUMENT_ID, schema=Schema.from_str(schema))
    array = db.DBNStore.from_bytes(meta.encode() + record).to_ndarray()
    out = np.array(array, copy=True)
    out.flags.writeable = False
    return out


def write_dbn(path: Path, metadata: Metadata, records: RecordArray, *, compress: bool, level: int = 3) -> int:
    """Write metadata + records as one DBN stream (zstd-compressed when ``compress``), atomically.

    Written to a temporary file in the target folder, then renamed, so a reader never sees a
    partial file. Returns the bytes written to disk.
    """
    head = metadata.encode()
    body = np.ascontiguousarray(records).data.cast("B")  # a view: no copy of a 100 MB+ array
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if compress:
                # Declaring the size puts it in the frame header, so readers decompress in one buffer.
                cctx = zstandard.ZstdCompressor(level=level, threads=-1)
                with cctx.stream_writer(fh, size=len(head) + body.nbytes, closefd=False) as writer:
                    writer.write(head)
                    writer.write(body)
            else:
                fh.write(head)
                fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size
