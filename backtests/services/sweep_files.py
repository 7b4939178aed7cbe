"""A sweep's result files: its variants' trades and daily PnL as Parquet, one folder per run.

``BACKTEST_RESULTS_DIR/run-<id>/``:

- ``sweep_trades.parquet``: one row per variant-trade (what a ``Trade`` row of that variant run
  alone would hold), sorted by (variant, decided_at). Columns in ``TRADE_SCHEMA``.
- ``sweep_daily.parquet``: one row per (variant, trading day) with a closed trade booked that day
  (PnL on the exit day, as ``engine.metrics.equity_curve`` books it), sorted by (variant, day).
  Days without a row had no PnL. Columns in ``DAILY_SCHEMA``.

Both are written to a temporary name and renamed into place (a reader never sees half a file),
with fixed writer options so the same results give the same bytes (``file_sha256``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

TRADES_FILE = "sweep_trades.parquet"
DAILY_FILE = "sweep_daily.parquet"

MONEY = pa.decimal128(12, 2)
TRADE_SCHEMA = pa.schema([
    ("variant", pa.int32()),            # SweepVariant.index
    ("trading_day", pa.date32()),       # New York trading day of the entry
    ("entry_window", pa.string()),      # "HH:MM" New York
    ("decided_at", pa.timestamp("us", tz="UTC")),  # = the trade's opened_at
    ("expiration", pa.date32()),
    ("root", pa.string()),              # SPXW / SPX
    ("side", pa.string()),              # put_credit / call_credit
    ("short_symbol", pa.string()),
    ("long_symbol", pa.string()),
    ("short_strike", pa.float64()),
    ("long_strike", pa.float64()),
    ("width_points", pa.float64()),
    ("quantity", pa.int16()),
    ("entry_credit", MONEY),            # points per share, on the 0.05 tick
    ("max_profit_usd", MONEY),
    ("max_loss_usd", MONEY),
    ("status", pa.string()),            # "closed" | "open_at_end" (as Trade.status)
    ("exit_at", pa.timestamp("us", tz="UTC")),  # null while open at the end
    ("exit_reason", pa.string()),       # take_profit / stop_loss / time_exit / settlement; "" open at the end
    ("exit_debit", MONEY),              # closing debit or settlement value, points per share
    ("settlement_price", MONEY),
    ("fees_usd", MONEY),
    ("realized_pnl_usd", MONEY),        # null while open at the end
    ("last_mark_pnl_usd", MONEY),       # open at the end: unrealized PnL at its last mark (null without one)
])
DAILY_SCHEMA = pa.schema([
    ("variant", pa.int32()),
    ("day", pa.date32()),
    ("pnl_usd", pa.float64()),          # sum of the realized PnL of the trades closed (booked) that day, USD
    ("trades", pa.int32()),             # closed trades booked that day
    ("wins", pa.int32()),               # of which pnl > 0
])


def run_dir(run_id: int, *, root: Path | None = None) -> Path:
    return Path(root or settings.BACKTEST_RESULTS_DIR) / f"run-{run_id}"


ROW_GROUP_ROWS = 1 << 20
# Fixed options: identical tables give identical bytes (no timestamps in the metadata).
_WRITER_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3, "use_dictionary": True,
                                   "write_statistics": True}


class TableWriter:
    """A result file written from consecutive pieces of its table, to a temporary name renamed into
    place by ``close``. The bytes are those of ``pq.write_table`` of the whole table with
    ``row_group_size=row_group_rows`` (a test compares them): the pieces are cut into row groups at
    the same rows (the pieces' chunks are not copied into one: Arrow encodes a chunked column to
    the same pages). So the assembly can hand over a block of variants at a time, and its memory is
    bounded by a row group of pending rows and a block, not the run."""

    def __init__(self, path: Path, schema: pa.Schema, *, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.schema, self.rows = path, schema, row_group_rows
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, schema, **_WRITER_OPTIONS)
        self._pending: list[pa.Table] = []
        self._n = 0
        self._written = False

    def write(self, columns: pa.Table | dict[str, Any]) -> None:
        table = columns if isinstance(columns, pa.Table) else pa.Table.from_pydict(
            {name: columns[name] for name in self.schema.names}, schema=self.schema)
        self._pending.append(table)
        self._n += table.num_rows
        while self._n >= self.rows:
            self._flush(self.rows)

    def _flush(self, n: int) -> None:
        table = pa.concat_tables(self._pending) if self._pending else self.schema.empty_table()
        head, tail = table.slice(0, n), table.slice(n)
        self._writer.write_table(head, row_group_size=self.rows)  # chunked as it came: the same bytes
        self._written = True
        self._pending, self._n = ([tail] if tail.num_rows else []), tail.num_rows

    def abort(self) -> None:
        """Drop what was written (an assembly that failed leaves no temporary file behind)."""
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def close(self) -> Path:
        if self._n or not self._written:  # the last part (an empty table, as write_table writes one)
            self._flush(self._n)
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path


def trades_writer(run_id: int) -> TableWriter:
    """The run's trades file, written a block of variants at a time (``TRADE_SCHEMA`` columns)."""
    return TableWriter(run_dir(run_id) / TRADES_FILE, TRADE_SCHEMA)


def daily_writer(run_id: int) -> TableWriter:
    return TableWriter(run_dir(run_id) / DAILY_FILE, DAILY_SCHEMA)


def trades_write(run_id: int, columns: dict[str, Any]) -> Path:
    """Write the variant-trades (column → list or array, ``TRADE_SCHEMA`` order) for the run."""
    writer = trades_writer(run_id)
    writer.write(columns)
    return writer.close()


def daily_write(run_id: int, columns: dict[str, Any]) -> Path:
    writer = daily_writer(run_id)
    writer.write(columns)
    return writer.close()


def files_delete(run_id: int) -> None:
    shutil.rmtree(run_dir(run_id), ignore_errors=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def trades_read(run_id: int, *, variant: int | None = None) -> pa.Table:
    """The run's variant-trades (all, or one variant's), ``TRADE_SCHEMA``; empty without a file."""
    path = run_dir(run_id) / TRADES_FILE
    if not path.is_file():
        return TRADE_SCHEMA.empty_table()
    filters = [("variant", "=", int(variant))] if variant is not None else None
    return pq.read_table(path, filters=filters, schema=TRADE_SCHEMA)


def daily_matrix(run_id: int, days: list[dt.date], n_variants: int) -> dict[str, np.ndarray]:
    """``{"pnl_usd", "trades", "wins"}``: days × variants matrices (float64, int64, int64) from
    ``sweep_daily.parquet``; zeros where no trade closed."""
    pnl = np.zeros((len(days), n_variants))
    trades = np.zeros((len(days), n_variants), dtype=np.int64)
    wins = np.zeros((len(days), n_variants), dtype=np.int64)
    path = run_dir(run_id) / DAILY_FILE
    if path.is_file() and days:
        t = pq.read_table(path, schema=DAILY_SCHEMA)
        day_index = {d: i for i, d in enumerate(days)}
        rows = np.array([day_index.get(d, -1) for d in t.column("day").to_pylist()], dtype=np.int64)
        cols = t.column("variant").to_numpy().astype(np.int64)
        ok = (rows >= 0) & (cols < n_variants)
        pnl[rows[ok], cols[ok]] = t.column("pnl_usd").to_numpy()[ok]
        trades[rows[ok], cols[ok]] = t.column("trades").to_numpy()[ok]
        wins[rows[ok], cols[ok]] = t.column("wins").to_numpy()[ok]
    return {"pnl_usd": pnl, "trades": trades, "wins": wins}
