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


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Fixed options: identical tables give identical bytes (no timestamps in the metadata).
    pq.write_table(table, tmp, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=True, row_group_size=1 << 20)
    os.replace(tmp, path)


def trades_write(run_id: int, columns: dict[str, Any]) -> Path:
    """Write the variant-trades (column → list or array, ``TRADE_SCHEMA`` order) for the run."""
    path = run_dir(run_id) / TRADES_FILE
    _write(pa.Table.from_pydict({name: columns[name] for name in TRADE_SCHEMA.names}, schema=TRADE_SCHEMA), path)
    return path


def daily_write(run_id: int, columns: dict[str, Any]) -> Path:
    path = run_dir(run_id) / DAILY_FILE
    _write(pa.Table.from_pydict({name: columns[name] for name in DAILY_SCHEMA.names}, schema=DAILY_SCHEMA), path)
    return path


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
