"""One trading day of the Parquet store in memory, in the shapes the engine needs.

Reads the day's definitions, then (``load``) only the row groups of the expirations it needs —
the store clusters a day's quotes by expiration — and of those only four columns (``ts_recv``,
``instrument_id``, ``bid_px``, ``ask_px``), then answers everything with
numpy: the quotes in force at a minute for one expiration (entries), and the records of a few
instruments over the day (exits). "In force" is CBBO-1m's carry-forward rule: an instrument's
latest record at or before the minute (no record in a minute means no change). Quotes never
carry over from the previous day: each day's file starts with its own opening book. Records stamped
outside the session (before 09:30 ET, after 16:15 or 13:15 ET) are not read (``store.in_session``).

NULL bid (no bid) reads as 0.0, as Tradier shows it; NULL ask stays NaN (not tradable).

Open interest (``open_interest``) comes from the day's ``statistics`` Parquet, read on the first
call only: NaN where the day has no statistics imported or an instrument has no figure.

Quotes at the 5-minute capture slots (``quotes_at``) come from the day's slot book
(``backtests.data.slots``, derived from the same files) when it is there and current: no minute
records are read or indexed for them. Other instants, and every lookup on a day without a book,
read the minute records (``need`` loads and indexes the rows asked for, once).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from backtests.data import slots, store
from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS
from backtests.engine.settlement import SeriesQuotes

QUOTE_COLUMNS = ["ts_recv", "instrument_id", "bid_px", "ask_px"]
_HOUR_NS = 3_600 * 1_000_000_000
_ROW_SHIFT = 47  # index key = row << 47 | ns since 23:00 UTC the day before (2**47 ns = 39 hours)


def ns(moment: dt.datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime (the store's ``ts_recv`` unit)."""
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _session_only(day: dt.date, q: pa.Table) -> pa.Table:
    """The records of ``q`` stamped in the day's session (``store.in_session``): records outside RTH
    stay in the store but are never read — not as a quote in force at the open, not after the close."""
    inside = store.in_session(day, q.column("ts_recv").cast("int64").to_numpy())
    return q if inside.all() else q.filter(pa.array(inside))


def _bid(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.where(np.isnan(values), 0.0, values)


@dataclass
class LegSeries:
    """All records of one instrument during the day: stamps (ns) and quotes, in time order."""

    ts: NDArray[np.int64]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]

    def at(self, stamps: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(bid, ask) in force at each stamp; NaN before the instrument's first record."""
        # A NaN sentinel at index -1 stands for "no record yet" (and for an empty series).
        i = np.searchsorted(self.ts, stamps, side="right") - 1
        return np.append(self.bid, np.nan)[i], np.append(self.ask, np.nan)[i]


class DayData:
    """The definitions and quote columns of one imported day."""

    def __init__(self, day: dt.date, *, root_dir: Path | None = None) -> None:
        self.day = day
        defs = pq.read_table(store.parquet_path(SCHEMA_DEFINITION, day, root_dir=root_dir),
                             columns=["instrument_id", "symbol", "root", "expiration", "right", "strike"])
        self.symbol = np.asarray(defs.column("symbol").to_pylist(), dtype=object)
        # Root and expiration as codes (a handful of distinct values; no per-row Python objects).
        roots = pc.dictionary_encode(defs.column("root")).combine_chunks()
        self._root_code = roots.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self._root_names = roots.dictionary.to_pylist()
        self._exp_days = defs.column("expiration").cast("int32").to_numpy().astype(np.int64)
        self.is_call = np.asarray(defs.column("right").to_numpy(zero_copy_only=False) == "C", dtype=bool)
        self.strike = defs.column("strike").to_numpy().astype(np.float64)

        self._defs_ids = defs.column("instrument_id")
        self._defs_symbols = defs.column("symbol")
        self._statistics_path = store.parquet_path(SCHEMA_STATISTICS, day, root_dir=root_dir)
        self._open_interest: NDArray[np.float64] | None = None  # per definition row, read on first use
        self._quotes_path = store.parquet_path(SCHEMA_CBBO_1M, day, root_dir=root_dir)
        if not self._quotes_path.is_file():
            raise FileNotFoundError(f"no cbbo-1m data imported for {day} (expected {self._quotes_path})")
        self.ts = np.empty(0, dtype=np.int64)
        self.row = np.empty(0, dtype=np.int32)
        self.bid = np.empty(0)
        self.ask = np.empty(0)
        self.expirations_loaded: set[dt.date] | None = set()
        self.records = 0
        self._base_ns = ns(dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)) - _HOUR_NS
        self._listed: set[tuple[str, dt.date]] | None = None
        self._chains: dict[tuple[str, dt.date], NDArray[np.int64]] | None = None
        self._local: NDArray[np.int64] | None = None
        self._focused = np.empty(0, dtype=np.int64)
        self.read_s = 0.0  # seconds spent reading quote columns (``load``)
        self.book, self.book_missing = slots.open_book(day, rows=self.symbol.size, root_dir=root_dir)

    @functools.cached_property
    def row_of_symbol(self) -> dict[str, int]:
        """OSI symbol → definition row (built on first use: a day without open legs never needs it)."""
        return {s: i for i, s in enumerate(self.symbol.tolist())}

    def load(self, expirations: set[dt.date]) -> None:
        """Read the quote columns of ``expirations`` only (their row groups; the whole file when it
        was written without the expiration mapping)."""
        t0 = time.perf_counter()
        f = pq.ParquetFile(self._quotes_path)
        groups = store.expiration_row_groups(f.metadata)
        if groups is None:
            q = f.read(columns=QUOTE_COLUMNS, use_threads=False)
            self.expirations_loaded = None  # everything
        else:
            wanted = sorted({g for e in expirations for g in groups.get(e, [])})
            q = f.read_row_groups(wanted, columns=QUOTE_COLUMNS, use_threads=False)
            self.expirations_loaded = set(expirations)
        q = _session_only(self.day, q)
        self.ts = q.column("ts_recv").cast("int64").to_numpy()
        # instrument_id → definition row with a hash lookup (OPRA ids are large and sparse); -1 = unknown.
        rows = pc.index_in(q.column("instrument_id"), value_set=self._defs_ids)
        self.row = pc.fill_null(rows, -1).to_numpy()
        self.bid = q.column("bid_px").to_numpy()  # NaN = no bid; read as 0.0 where used (``_bid``)
        self.ask = q.column("ask_px").to_numpy()
        self.records = int(self.ts.size)
        self._focused = np.empty(0, dtype=np.int64)
        self._local = None
        self.read_s += time.perf_counter() - t0

    def open_interest(self, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        """Open interest (contracts, OPRA's morning figure: the previous session's close) of
        definition ``rows``; NaN where unknown — the day's statistics were not imported, or carry
        no figure for that instrument. The statistics file is read on the first call."""
        if self._open_interest is None:
            per_row = np.full(self.symbol.size, np.nan)
            if self._statistics_path.is_file():
                oi = pq.read_table(self._statistics_path, columns=["symbol", "open_interest"])
                # Definition row → statistics row by OSI symbol (the contract's identity, so a
                # re-import of the definitions cannot misalign them); -1 = no figure.
                at = pc.fill_null(pc.index_in(self._defs_symbols, value_set=oi.column("symbol")), -1).to_numpy()
                known = at >= 0
                per_row[known] = oi.column("open_interest").to_numpy().astype(np.float64)[at[known]]
            self._open_interest = per_row
        return self._open_interest[np.asarray(rows, dtype=np.int64)]

    def expirations_of(self, rows: NDArray[np.int64]) -> set[dt.date]:
        epoch = dt.date(1970, 1, 1)
        return {epoch + dt.timedelta(days=int(d)) for d in np.unique(self._exp_days[np.asarray(rows, dtype=np.int64)])}

    # ----------------------------------------------------------------------------- the chain

    def _index_chains(self) -> dict[tuple[str, dt.date], NDArray[np.int64]]:
        if self._chains is None:
            key = self._root_code * 1_000_000 + self._exp_days
            uniq, inverse = np.unique(key, return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[order], np.arange(uniq.size + 1))
            epoch = dt.date(1970, 1, 1)
            self._chains = {
                (self._root_names[int(k // 1_000_000)], epoch + dt.timedelta(days=int(k % 1_000_000))):
                    order[bounds[i]:bounds[i + 1]]
                for i, k in enumerate(uniq)
            }
        return self._chains

    def listed(self) -> set[tuple[str, dt.date]]:
        """(root, expiration) pairs defined today."""
        if self._listed is None:
            self._listed = set(self._index_chains())
        return self._listed

    def chain_rows(self, root: str, expiration: dt.date) -> NDArray[np.int64]:
        return self._index_chains().get((root, expiration), np.empty(0, dtype=np.int64))

    # ----------------------------------------------------------------------------- the index

    def focus(self, rows: NDArray[np.int64]) -> None:
        """Index the records of definition ``rows`` by (row, time) so lookups are binary searches.

        Only the rows a day needs (the chosen expirations, the open legs, the settlement chains)
        are indexed: a radix sort of their records, a few tens of milliseconds.
        """
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self._focused = rows
        local = np.full(self.symbol.size + 1, -1, dtype=np.int64)  # the extra slot catches row -1
        local[rows] = np.arange(rows.size)
        sel = local[self.row]
        pick = np.flatnonzero(sel >= 0)
        small: NDArray[np.signedinteger[Any]] = sel[pick].astype(np.int16 if rows.size < 2**15 else np.int32)
        order = np.argsort(small, kind="stable")  # radix sort; keeps time order within a row
        self._idx = pick[order]
        group: NDArray[np.int64] = small[order].astype(np.int64)
        self._local = local
        self._bounds = np.searchsorted(group, np.arange(rows.size + 1))
        self._key = (group << _ROW_SHIFT) | (self.ts[self._idx] - self._base_ns)

    def need(self, rows: NDArray[np.int64]) -> None:
        """Make the minute records of definition ``rows`` answerable, keeping those already indexed:
        reads the expirations not loaded yet, then re-indexes (nothing when they already are)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0 or np.isin(rows, self._focused).all():
            return
        wanted = np.union1d(self._focused, rows)
        expirations = self.expirations_of(wanted)
        if self.expirations_loaded is not None and not expirations <= self.expirations_loaded:
            self.load(expirations)
        self.focus(wanted)

    def covers(self, stamps_ns: list[int]) -> bool:
        """True when the slot book answers every one of these instants (ns)."""
        return self.book is not None and all(self.book.slot(s) is not None for s in stamps_ns)

    def quotes_at(self, rows: NDArray[np.int64], at_ns: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(bid, ask) of definition ``rows`` in force at ``at_ns``, as ``in_force`` gives them: from the
        slot book at a slot instant, else from the minute records (indexed on first use)."""
        book = self.book
        slot = book.slot(at_ns) if book is not None else None
        if book is not None and slot is not None:
            if len(rows) == 0:
                return np.empty(0), np.empty(0)
            return book.quotes(rows, slot)
        self.need(rows)
        return self.in_force(rows, at_ns)

    def _locals(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        local = self._local[np.asarray(rows, dtype=np.int64)] if self._local is not None else np.array([-1])
        if np.any(local < 0):
            raise ValueError("rows outside the focused set: call focus() with every row the day needs")
        return local

    def in_force(self, rows: NDArray[np.int64], at_ns: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(bid, ask) of definition ``rows`` in force at ``at_ns``: NaN for rows not quoted yet."""
        if len(rows) == 0:
            return np.empty(0), np.empty(0)
        local = self._locals(rows)
        pos = np.searchsorted(self._key, (local << _ROW_SHIFT) | int(np.clip(at_ns - self._base_ns, 0, (1 << _ROW_SHIFT) - 1)), side="right") - 1
        known = pos >= self._bounds[local]
        rec = self._idx[np.where(known, pos, 0)]
        return np.where(known, _bid(self.bid[rec]), np.nan), np.where(known, self.ask[rec], np.nan)

    # ----------------------------------------------------------------------------- the legs

    def series(self, symbols: list[str]) -> dict[str, LegSeries]:
        """Today's records of each symbol (empty for a symbol not listed or not quoted today)."""
        out = {}
        for name in symbols:
            row = self.row_of_symbol.get(name)
            if row is None:
                out[name] = LegSeries(np.empty(0, np.int64), np.empty(0), np.empty(0))
                continue
            local = int(self._locals(np.array([row]))[0])
            rec = self._idx[self._bounds[local]:self._bounds[local + 1]]
            out[name] = LegSeries(self.ts[rec], _bid(self.bid[rec]), self.ask[rec])
        return out

    def series_quotes(self, root: str, expiration: dt.date, at: dt.datetime) -> SeriesQuotes | None:
        """One series' quotes in force at ``at`` (settlement's input); None when it is not listed today."""
        rows = self.chain_rows(root, expiration)
        if rows.size == 0:
            return None
        bid, ask = self.quotes_at(rows, ns(at))
        return SeriesQuotes(self.strike[rows], self.is_call[rows], bid, ask)

    def rows_of_symbols(self, symbols: list[str]) -> NDArray[np.int64]:
        return np.array([self.row_of_symbol[s] for s in symbols if s in self.row_of_symbol], dtype=np.int64)
