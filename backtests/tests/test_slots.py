"""The slot book: the quotes in force at each 5-minute slot, derived from the minute data at import,
equal to it everywhere, ignored when stale, and never changing what a backtest decides."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backtests import services
from backtests.data import slots, store
from backtests.data.dbn_import import import_files
from backtests.engine.daydata import DayData, ns
from backtests.engine.replay import DayReplayer
from backtests.services.chunks import _load_day
from backtests.services.params import engine_params, strategies_of
from backtests.tests.conftest import COMPACT_DAYS, HOLIDAY_DAYS
from strategy.models import StrategyConfig

NY = ZoneInfo("America/New_York")


def _minute(day: dt.date) -> DayData:
    """The day with every row indexed by minute (the reference the book must equal)."""
    data = DayData(day)
    data.load({e for _, e in data.listed()})
    data.focus(np.arange(data.symbol.size))
    return data


def test_in_force_matrix_carries_each_rows_latest_record_forward() -> None:
    # Row 0 quoted at 10 and 30 (no bid at 30), row 1 at 20, row 2 never, an unknown instrument (-1) at 5.
    ts = np.array([30, 5, 10, 20], dtype=np.int64)
    row = np.array([0, -1, 0, 1], dtype=np.int64)
    bid = np.array([np.nan, 9.0, 1.0, 2.0])
    ask = np.array([1.5, 9.5, 1.2, np.nan])
    book = slots.in_force_matrix(ts, row, bid, ask, 3, np.array([0, 10, 25, 30, 99], dtype=np.int64))
    bids, asks = book[0], book[1]
    assert np.array_equal(bids[:, 0], [np.nan, 1.0, 1.0, 0.0, 0.0], equal_nan=True)  # a NULL bid reads 0.0
    assert np.array_equal(asks[:, 0], [np.nan, 1.2, 1.2, 1.5, 1.5], equal_nan=True)
    assert np.array_equal(bids[:, 1], [np.nan, np.nan, 2.0, 2.0, 2.0], equal_nan=True)
    assert np.isnan(asks[2:, 1]).all()  # quoted with no ask: still not tradable
    assert np.isnan(book[:, :, 2]).all()


def test_the_import_writes_a_book_equal_to_the_minute_data_at_every_slot(compact_market: Path) -> None:
    day = COMPACT_DAYS[1]
    data = DayData(day)
    assert data.book is not None and data.book_missing == ""
    stamps = data.book.stamps
    assert stamps.size == 82  # 09:30 to 16:15 ET every 5 minutes
    assert dt.datetime.fromtimestamp(int(stamps[0]) / 1e9, tz=NY).time() == dt.time(9, 30)
    reference = _minute(day)
    rows = np.arange(data.symbol.size)
    for i, stamp in enumerate(stamps.tolist()):
        got = data.book.quotes(rows, i)
        want = reference.in_force(rows, stamp)
        assert np.array_equal(got[0], want[0], equal_nan=True) and np.array_equal(got[1], want[1], equal_nan=True)
    # And against the store's own carry-forward (DuckDB), at one slot.
    moment = dt.datetime.combine(day, dt.time(11, 0), tzinfo=NY)
    table = store.quotes_at(day, moment)
    expected = dict(zip(table.column("symbol").to_pylist(), table.column("ask_px").to_pylist()))
    bid, ask = data.quotes_at(rows, ns(moment))
    got = {str(data.symbol[r]): (None if math.isnan(a) else a) for r, b, a in zip(rows, bid, ask) if not math.isnan(b)}
    assert got == expected and len(got) > 500


def test_a_stale_or_missing_book_is_ignored_and_the_minute_data_answers(compact_market: Path) -> None:
    day = COMPACT_DAYS[0]
    rows = DayData(day).chain_rows("SPXW", sorted(e for r, e in DayData(day).listed() if r == "SPXW")[1])
    at = ns(dt.datetime.combine(day, dt.time(10, 0), tzinfo=NY))
    with_book = DayData(day).quotes_at(rows, at)
    quotes = store.parquet_path("cbbo-1m", day)
    st = quotes.stat()
    os.utime(quotes, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # as a re-import would
    data = DayData(day)
    assert data.book is None and "stale" in data.book_missing
    assert not data.covers([at])
    fallback = data.quotes_at(rows, at)  # reads and indexes the minute records itself
    assert np.array_equal(fallback[0], with_book[0], equal_nan=True)
    assert np.array_equal(fallback[1], with_book[1], equal_nan=True)
    shutil.rmtree(slots.book_dir(day))
    assert DayData(day).book_missing == "no slot book"


def test_a_book_from_other_definitions_is_refused(compact_market: Path) -> None:
    day = COMPACT_DAYS[0]
    assert slots.open_book(day, rows=DayData(day).symbol.size)[0] is not None
    book, why = slots.open_book(day, rows=DayData(day).symbol.size + 1)
    assert book is None and "stale" in why


def test_an_instant_off_the_slots_reads_the_minute_records(compact_market: Path) -> None:
    day = COMPACT_DAYS[0]
    data = DayData(day)
    rows = data.chain_rows("SPXW", sorted(e for r, e in data.listed() if r == "SPXW")[0])
    off = ns(dt.datetime.combine(day, dt.time(10, 2), tzinfo=NY))
    assert data.covers([ns(dt.datetime.combine(day, dt.time(10, 5), tzinfo=NY))]) and not data.covers([off])
    assert data.records == 0
    bid, ask = data.quotes_at(rows, off)
    assert data.records > 0  # the expiration's minute records were read for it
    want = _minute(day).in_force(rows, off)
    assert np.array_equal(bid, want[0], equal_nan=True) and np.array_equal(ask, want[1], equal_nan=True)


def _replay(days: tuple) -> list[str]:
    params = services.params_build(start=days[0], end=days[-1], configs=StrategyConfig.objects.all(),
                                   risk_scope="per_strategy", exit_check_minutes=1)
    r = DayReplayer(strategies_of(params), engine_params(params), load_day=_load_day)
    for day in days:
        assert r.run_day(day, entries=True)
    return [repr(c) for c in r.out.candidates] + [repr((p.exit, p.marks)) for p in r.out._entries if hasattr(p, "marks")]


@pytest.mark.parametrize("files", ["compact_files", "holiday_files"])
def test_a_backtest_decides_the_same_with_and_without_books(market_dir: Path, seeded_grid: list, files: str,
                                                             request: pytest.FixtureRequest) -> None:
    import_files(request.getfixturevalue(files), root_dir=market_dir, workers=1)
    days = COMPACT_DAYS if files == "compact_files" else HOLIDAY_DAYS
    with_books = _replay(days)
    shutil.rmtree(market_dir / "slots")
    assert all(DayData(d).book is None for d in days)
    without = _replay(days)
    assert len(with_books) > 100 and sum("take_profit" in c or "stop_loss" in c or "settlement" in c for c in without) > 0
    assert with_books == without


def test_store_slots_builds_missing_books_and_checks_them(compact_market: Path) -> None:
    shutil.rmtree(slots.book_dir(COMPACT_DAYS[2]))
    out = StringIO()
    call_command("store_slots", "--check", stdout=out)
    text = out.getvalue()
    assert f"{COMPACT_DAYS[2]}: built (no slot book)" in text and "1 book(s) built, 2 current" in text
    assert text.count("book equals the minute data at 82 slots") == 3
    # A book that no longer says what the minute data says fails the check.
    path = slots.book_dir(COMPACT_DAYS[0]) / slots.BOOK_NAME
    values = np.load(path)
    values[1, 10, int(np.flatnonzero(np.isfinite(values[1, 10]))[0])] += 0.05
    meta = (slots.book_dir(COMPACT_DAYS[0]) / slots.META_NAME).read_text()
    np.save(path, values)
    (slots.book_dir(COMPACT_DAYS[0]) / slots.META_NAME).write_text(meta)
    with pytest.raises(CommandError, match="differs from the minute data"):
        call_command("store_slots", "--check", "--start", COMPACT_DAYS[0].isoformat(), stdout=StringIO())
    with pytest.raises(CommandError, match="no imported"):
        call_command("store_slots", "--start", "2030-01-01", stdout=StringIO())
