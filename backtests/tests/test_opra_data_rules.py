"""Reliability #43: OPRA data rules — gaps flagged, records outside RTH kept but never read, and a
run's output hashed (same input, same hash; one quote changed, another hash)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from backtests import services
from backtests.data import dbn_io, slots, store
from backtests.data.dbn_generate import GeneratedDay
from backtests.data.dbn_import import import_files
from backtests.engine.daydata import DayData
from backtests.models import BacktestRun, ImportedDay
from backtests.services.assembly import output_sha256
from backtests.tests.conftest import COMPACT_DAYS, DAY
from execution.models import Trade
from snapshots.market_calendar import ET
from strategy.models import StrategyConfig, TradeDecision

pytestmark = pytest.mark.django_db


def _ns(day: dt.date, hh: int, mm: int) -> int:
    return dbn_io.instant_ns(dt.datetime.combine(day, dt.time(hh, mm), tzinfo=ET))


def _rewrite(path: Path, day: dt.date, records: np.ndarray, out: Path) -> Path:
    dbn_io.write_dbn(out, dbn_io.parent_metadata(day, "cbbo-1m", [], []), records, compress=out.name.endswith(".zst"))
    return out


def test_minutes_without_any_record_are_flagged_as_gaps_in_the_manifest(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path
) -> None:
    generated = tiny_days[DAY]
    clean = next(r for r in import_files([generated.definition_path, generated.cbbo_path]) if r.schema == "cbbo-1m")
    assert (clean.empty_minutes, clean.gaps, clean.outside_session) == (0, (), 0)  # every session minute has records

    raw = dbn_io.read_records(generated.cbbo_path).records
    ts = raw["ts_recv"].astype(np.int64)
    holes = ((ts >= _ns(DAY, 11, 0)) & (ts <= _ns(DAY, 11, 4))) | (ts == _ns(DAY, 14, 30))
    holed = _rewrite(generated.cbbo_path, DAY, raw[~holes], tmp_path / "holed.cbbo-1m.dbn.zst")
    result = next(r for r in import_files([generated.definition_path, holed]) if r.schema == "cbbo-1m")
    assert result.empty_minutes == 6 and result.gaps == (("11:00", "11:04"), ("14:30", "14:30"))
    row = ImportedDay.objects.get(date=DAY, schema="cbbo-1m")
    assert (row.empty_minutes, row.gaps) == (6, [["11:00", "11:04"], ["14:30", "14:30"]])
    # Quotes are still carried forward over the gap: the 11:02 book is the 10:59 records.
    data = DayData(DAY)
    data.load(data.expirations_of(np.arange(data.symbol.size)))
    rows = np.arange(data.symbol.size)
    data.focus(rows)
    data.need(rows)
    inside = data.in_force(rows, _ns(DAY, 11, 2))
    before = data.in_force(rows, _ns(DAY, 10, 59))
    assert np.array_equal(inside[0], before[0], equal_nan=True) and np.array_equal(inside[1], before[1], equal_nan=True)


def test_records_outside_rth_are_kept_in_the_store_counted_and_never_read(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path
) -> None:
    generated = tiny_days[DAY]
    raw = dbn_io.read_records(generated.cbbo_path).records
    ts = raw["ts_recv"].astype(np.int64)
    open_ns, close_ns = _ns(DAY, 9, 30), _ns(DAY, 16, 15)
    # An instrument quoted at the open: drop its opening record, give it a pre-open quote instead
    # (the overnight session's, say); and quotes after the close and in the evening (19:30 ET: still the same UTC day).
    at_open = raw[ts == open_ns]
    target = int(at_open["instrument_id"][0])
    keep = ~((ts == open_ns) & (raw["instrument_id"] == target))
    extra = np.repeat(at_open[:1], 4)
    extra["ts_recv"] = np.array([_ns(DAY, 8, 1), open_ns - dbn_io.NS_PER_MINUTE, close_ns + dbn_io.NS_PER_MINUTE,
                                 _ns(DAY, 19, 30)], dtype=np.uint64)
    extra["bid_px_00"], extra["ask_px_00"] = 7 * 10**9, 8 * 10**9  # $7.00 / $8.00: nothing in session quotes that
    messy = _rewrite(generated.cbbo_path, DAY, np.concatenate([extra[:2], raw[keep], extra[2:]]),
                     tmp_path / "rth.cbbo-1m.dbn.zst")

    result = next(r for r in import_files([generated.definition_path, messy]) if r.schema == "cbbo-1m")
    assert result.outside_session == 4 and result.record_count == int(keep.sum()) + 4
    assert ImportedDay.objects.get(date=DAY, schema="cbbo-1m").outside_session == 4
    stored = pq.read_table(store.parquet_path("cbbo-1m", DAY))["ts_recv"].cast("int64").to_numpy()
    assert int(np.count_nonzero(~store.in_session(DAY, stored))) == 4  # kept as Databento sent them

    data = DayData(DAY)
    data.load(data.expirations_of(np.arange(data.symbol.size)))
    assert data.records == int(keep.sum()) and store.in_session(DAY, data.ts).all()  # never read
    ids = pq.read_table(store.parquet_path("definition", DAY), columns=["instrument_id"])["instrument_id"].to_numpy()
    row = np.flatnonzero(ids == target)[:1]
    data.focus(row)
    data.need(row)
    bid, ask = data.in_force(row, open_ns)
    assert not np.isfinite(ask[0]) and not np.isfinite(bid[0])  # the pre-open quote is not in force at the open
    # After the close the quote in force stays the session's last, not the $7.00 / $8.00 ones.
    late = data.in_force(row, _ns(DAY, 19, 45))
    assert late == data.in_force(row, close_ns) and late[1][0] != 8.0
    # The slot book (what entries read at 09:30) agrees: no quote yet at the open.
    book, why = slots.open_book(DAY, rows=data.symbol.size)
    assert book is not None, why
    slot = book.slot(open_ns)
    assert slot is not None and not np.isfinite(book.quotes(np.array([row]), slot)[1][0])


def _file(files: list[Path], day: dt.date, schema: str) -> Path:
    return next(p for p in files if p.name.startswith(f"{day.isoformat()}.{schema}."))


def _params() -> dict:
    configs = StrategyConfig.objects.filter(target_dte=3)
    return services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1], configs=configs, chunk_days=2)


def test_a_run_hashes_its_output_same_input_same_hash_one_quote_changed_another(
    compact_market: Path, compact_files: list[Path], tmp_path: Path
) -> None:
    first = services.run_execute_inline(services.run_create(_params(), name="one")[0])
    second = services.run_execute_inline(services.run_create(_params(), name="two")[0])
    assert first.status == second.status == BacktestRun.Status.DONE
    assert len(first.output_sha256) == 64 and first.output_sha256 == second.output_sha256
    assert output_sha256(first) == first.output_sha256  # recomputed from the rows: idempotent
    assert first.data_gaps == {"days": [], "empty_minutes": 0, "decisions_in_gap": [], "exits_in_gap": []}

    # One quote changed: the short leg's record in force at a traded decision, its bid and ask 5 ticks up.
    trade = Trade.objects.filter(backtest_run=first).select_related("decision").order_by("opened_at", "pk").first()
    assert trade is not None
    decision: TradeDecision = trade.decision
    day = decision.trading_day
    short = next(leg["symbol"] for leg in decision.legs if leg.get("side", leg.get("role")) in ("sell", "short"))
    ids = pq.read_table(store.parquet_path("definition", day), columns=["instrument_id", "symbol"])
    instrument = int(ids["instrument_id"].to_numpy()[ids["symbol"].to_numpy(zero_copy_only=False) == short][0])
    path = _file(compact_files, day, "cbbo-1m")
    raw = dbn_io.read_records(path).records.copy()
    mine = np.flatnonzero((raw["instrument_id"] == instrument)
                          & (raw["ts_recv"].astype(np.int64) <= dbn_io.instant_ns(decision.decided_at)))
    raw["bid_px_00"][mine[-1]] += 25 * 10**7
    raw["ask_px_00"][mine[-1]] += 25 * 10**7
    changed = _rewrite(path, day, raw, tmp_path / path.name)
    definitions = _file(compact_files, day, "definition")
    import_files([definitions, changed], workers=1)
    third = services.run_execute_inline(services.run_create(_params(), name="three")[0])
    assert third.status == BacktestRun.Status.DONE
    assert third.data_sha256 != first.data_sha256 and third.output_sha256 != first.output_sha256


def test_a_run_reports_the_decisions_it_made_inside_a_gap(
    compact_market: Path, compact_files: list[Path], tmp_path: Path
) -> None:
    day = COMPACT_DAYS[0]
    path = _file(compact_files, day, "cbbo-1m")
    definitions = _file(compact_files, day, "definition")
    raw = dbn_io.read_records(path).records
    ts = raw["ts_recv"].astype(np.int64)
    holed = _rewrite(path, day, raw[~((ts > _ns(day, 10, 55)) & (ts <= _ns(day, 11, 0)))], tmp_path / path.name)
    import_files([definitions, holed], workers=1)
    run = services.run_execute_inline(services.run_create(_params(), name="gap")[0])
    assert run.status == BacktestRun.Status.DONE
    gaps = run.data_gaps
    assert gaps["days"] == [{"date": day.isoformat(), "empty_minutes": 5, "ranges": [["10:56", "11:00"]],
                             "outside_session": 0}]
    assert gaps["empty_minutes"] == 5
    at_eleven = TradeDecision.objects.filter(backtest_run=run, trading_day=day, entry_window=dt.time(11, 0)).count()
    assert at_eleven and len(gaps["decisions_in_gap"]) == at_eleven
    assert all(when.startswith(f"{day.isoformat()}T11:00") for when, _ in gaps["decisions_in_gap"])
