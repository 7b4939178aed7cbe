"""The slot book: every instrument's quote in force at each 5-minute capture slot of a day.

Derived from the day's cbbo-1m and definition files — nothing in it that the minute data does not
say — so that what the live platform reads at its 5-minute snapshot slots (entry windows, forward
history, the market context, settlement instants) costs the backtest one slice instead of
indexing every minute record of every chain it prices. The minute data stays the source of truth:
exits still walk the open legs minute by minute from the quotes file.

Layout, beside the Parquet store (``<data root>/slots/<dataset>/date=YYYY-MM-DD/``):

- ``book.npy``: float64, shape ``(2, slots, rows)`` — ``[0]`` bid, ``[1]`` ask of each definition
  row (the definition file's order) at each slot. "In force" is CBBO-1m's carry-forward rule (the
  instrument's latest record at or before the slot), exactly as ``engine.daydata.DayData.in_force``
  answers it: NaN bid and ask before an instrument's first record, a NULL bid reads 0.0, a NULL ask
  stays NaN.
- ``book.json``: the format, the slot instants (ns since the epoch, UTC), the row count, and the
  size and modification time of the two files it was derived from. A book whose sources changed
  since (a re-import, a relayout) is stale: ``open_book`` ignores it and the engine reads the minute
  data instead (same answers, slower) until ``build`` runs again.

Slots: the session's open (09:30 ET) to its close (16:15 ET, 13:15 on early closes) every
5 minutes, the live capture's cadence. ``dbn_import.import_files`` builds the book of every day it
writes; ``manage.py store_slots`` builds missing or stale ones (``--check`` compares them with the
minute data).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from backtests.data import store
from backtests.data.dbn_io import DATASET, SCHEMA_CBBO_1M, SCHEMA_DEFINITION
from snapshots import market_calendar

FORMAT = 2  # 2: records outside the session are left out (books of format 1 are stale)
SLOT_MINUTES = 5
BOOK_NAME = "book.npy"
META_NAME = "book.json"
_NS_PER_MINUTE = 60 * 1_000_000_000


def slot_stamps(day: dt.date) -> NDArray[np.int64]:
    """The day's slot instants (ns since the epoch): open to close every 5 minutes; empty when closed."""
    bounds = market_calendar.session_bounds(day)
    if bounds is None:
        return np.empty(0, dtype=np.int64)
    first, last = (int(b.timestamp()) * 1_000_000_000 for b in bounds)
    return np.arange(first, last + 1, SLOT_MINUTES * _NS_PER_MINUTE, dtype=np.int64)


def book_dir(day: dt.date, *, root_dir: Path | None = None, dataset: str = DATASET) -> Path:
    return (root_dir or store.data_dir()) / "slots" / dataset / f"date={day.isoformat()}"


def _sources(day: dt.date, root_dir: Path | None) -> dict[str, list[int]]:
    out = {}
    for schema in (SCHEMA_CBBO_1M, SCHEMA_DEFINITION):
        st = store.parquet_path(schema, day, root_dir=root_dir).stat()
        out[schema] = [st.st_size, st.st_mtime_ns]
    return out


def in_force_matrix(ts: NDArray[np.int64], row: NDArray[np.int64], bid: NDArray[np.float64],
                    ask: NDArray[np.float64], rows: int, stamps: NDArray[np.int64]) -> NDArray[np.float64]:
    """``(2, len(stamps), rows)``: each definition row's (bid, ask) in force at each stamp, from its
    records (``row`` -1 = an instrument without a definition, ignored). NaN before a row's first
    record; a NaN bid of a record reads 0.0."""
    keep = row >= 0
    ts, row = ts[keep].astype(np.int64), row[keep].astype(np.int64)
    out = np.full((2, stamps.size, rows), np.nan)
    if ts.size == 0 or stamps.size == 0:
        return out
    # One ascending key over (row, time): row * span + time since the first record, so a binary
    # search finds each row's last record at or before a stamp; landing in an earlier row's block
    # means "not quoted yet".
    t0 = int(ts.min())
    span = int(ts.max()) - t0 + 2
    if rows * span >= 2**62:
        raise ValueError(f"{rows} rows over {span} ns do not fit one int64 key")
    key = row * span + (ts - t0)
    order = np.argsort(key, kind="stable")
    key, row = key[order], row[order]
    bid = np.where(np.isnan(bid[keep][order]), 0.0, bid[keep][order])
    ask = ask[keep][order]
    offset = np.clip(stamps.astype(np.int64) - t0, -1, span - 1)
    query = np.arange(rows, dtype=np.int64)[None, :] * span + offset[:, None]
    last = np.searchsorted(key, query.ravel(), side="right") - 1
    known = last >= 0
    known[known] = row[last[known]] == np.tile(np.arange(rows), stamps.size)[known]
    flat = out.reshape(2, -1)
    flat[0, known] = bid[last[known]]
    flat[1, known] = ask[last[known]]
    return out


def build(day: dt.date, *, root_dir: Path | None = None) -> Path | None:
    """Write the day's slot book from its stored quotes and definitions; None when the day has no
    session (nothing to write). Atomic: the book, then its sidecar, each renamed into place."""
    stamps = slot_stamps(day)
    if stamps.size == 0:
        return None
    sources = _sources(day, root_dir)
    ids = pq.read_table(store.parquet_path(SCHEMA_DEFINITION, day, root_dir=root_dir),
                        columns=["instrument_id"]).column("instrument_id")
    q = pq.read_table(store.parquet_path(SCHEMA_CBBO_1M, day, root_dir=root_dir),
                      columns=["ts_recv", "instrument_id", "bid_px", "ask_px"], use_threads=False)
    inside = store.in_session(day, q.column("ts_recv").cast("int64").to_numpy())
    if not inside.all():  # records outside RTH are never read (``store.in_session``)
        q = q.filter(pa.array(inside))
    row = pc.fill_null(pc.index_in(q.column("instrument_id"), value_set=ids), -1).to_numpy()
    book = in_force_matrix(q.column("ts_recv").cast("int64").to_numpy(), row, q.column("bid_px").to_numpy(),
                           q.column("ask_px").to_numpy(), len(ids), stamps)
    folder = book_dir(day, root_dir=root_dir)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "day": day.isoformat(), "slots_ns": stamps.tolist(), "rows": len(ids),
            "sources": sources}
    tag = uuid.uuid4().hex
    tmp_book, tmp_meta = folder / f".{BOOK_NAME}.{tag}.tmp", folder / f".{META_NAME}.{tag}.tmp"
    try:
        with tmp_book.open("wb") as fh:
            np.save(fh, book)
        tmp_meta.write_text(json.dumps(meta))
        (folder / META_NAME).unlink(missing_ok=True)  # a book never pairs with another book's sidecar
        os.replace(tmp_book, folder / BOOK_NAME)
        os.replace(tmp_meta, folder / META_NAME)
    finally:
        tmp_book.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    return folder / BOOK_NAME


@dataclass(frozen=True)
class SlotBook:
    """A day's book, memory-mapped: ``quotes(rows, slot)`` reads only those rows of that slot."""

    stamps: NDArray[np.int64]
    values: NDArray[np.float64]  # (2, slots, rows), memory-mapped

    def slot(self, at_ns: int) -> int | None:
        """The slot index of ``at_ns`` when it is one of the book's instants, else None."""
        i = int(np.searchsorted(self.stamps, at_ns))
        return i if i < self.stamps.size and int(self.stamps[i]) == at_ns else None

    def quotes(self, rows: NDArray[np.int64], slot: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        rows = np.asarray(rows, dtype=np.int64)
        return np.asarray(self.values[0, slot, rows]), np.asarray(self.values[1, slot, rows])


def open_book(day: dt.date, *, rows: int, root_dir: Path | None = None) -> tuple[SlotBook | None, str]:
    """The day's book and "" when it is there and current; else (None, why not)."""
    folder = book_dir(day, root_dir=root_dir)
    try:
        meta = json.loads((folder / META_NAME).read_text())
    except FileNotFoundError:
        return None, "no slot book"
    except (OSError, ValueError) as exc:
        return None, f"unreadable slot book sidecar ({exc})"
    try:
        current = _sources(day, root_dir)
    except FileNotFoundError:
        return None, "the day's quotes or definitions are missing"
    if meta.get("format") != FORMAT or meta.get("sources") != current or meta.get("rows") != rows:
        return None, "stale slot book (its sources changed since it was built)"
    stamps = np.asarray(meta["slots_ns"], dtype=np.int64)
    try:
        values = np.load(folder / BOOK_NAME, mmap_mode="r")
    except (OSError, ValueError) as exc:
        return None, f"unreadable slot book ({exc})"
    if values.shape != (2, stamps.size, rows) or values.dtype != np.float64:
        return None, f"slot book of shape {values.shape}, expected {(2, stamps.size, rows)}"
    return SlotBook(stamps, values), ""
