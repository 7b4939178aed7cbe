"""DuckDB queries over the Parquet store: minute ranges, filters, carried-forward quotes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from backtests.data import dbn_io, store
from backtests.data.dbn_generate import GeneratedDay
from backtests.data.dbn_import import import_files
from backtests.tests.conftest import DAY, NEXT_DAY
from snapshots.market_calendar import ET

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path) -> dict[dt.date, GeneratedDay]:
    import_files([p for d in tiny_days.values() for p in (d.definition_path, d.cbbo_path)])
    return tiny_days


def _osi(day: GeneratedDay) -> dict[int, str]:
    recs = dbn_io.read_records(day.definition_path).records
    return {int(i): s.decode().replace(" ", "") for i, s in zip(recs["instrument_id"], recs["raw_symbol"])}


def test_quotes_in_a_minute_range_with_filters(imported: dict[dt.date, GeneratedDay]) -> None:
    start = dt.datetime(2026, 3, 18, 10, 0, tzinfo=ET)
    end = dt.datetime(2026, 3, 18, 10, 4, tzinfo=ET)
    table = store.quotes(DAY, start=start, end=end, roots=["SPXW"], expirations=[dt.date(2026, 3, 19)], rights=["P"])
    raw = dbn_io.read_records(imported[DAY].cbbo_path).records
    osi = _osi(imported[DAY])
    in_range = raw[(raw["ts_recv"] >= dbn_io.instant_ns(start)) & (raw["ts_recv"] <= dbn_io.instant_ns(end))]
    expected = [r for r in in_range if osi[int(r["instrument_id"])].startswith("SPXW260319P")]
    assert table.num_rows == len(expected) > 0
    assert set(table["root"].to_pylist()) == {"SPXW"} and set(table["right"].to_pylist()) == {"P"}
    stamps = table["ts_recv"].to_pylist()
    assert stamps == sorted(stamps) and stamps[0] >= start and stamps[-1] <= end
    assert store.quotes(DAY, roots=[]).num_rows == 0
    only = store.quotes(DAY, symbols=[table["symbol"][0].as_py()], columns=["ts_recv", "bid_px", "ask_px"])
    assert only.column_names == ["ts_recv", "bid_px", "ask_px"] and only.num_rows > 0


def test_quotes_at_carries_the_last_record_forward(imported: dict[dt.date, GeneratedDay]) -> None:
    at = dt.datetime(2026, 3, 18, 12, 30, tzinfo=ET)
    table = store.quotes_at(DAY, at)
    raw = dbn_io.read_records(imported[DAY].cbbo_path).records
    seen = raw[raw["ts_recv"] <= dbn_io.instant_ns(at)]
    _, last_rev = np.unique(seen["instrument_id"][::-1], return_index=True)
    latest = {int(r["instrument_id"]): r for r in seen[::-1][last_rev]}
    assert table.num_rows == len(latest) == imported[DAY].instrument_count
    for row in table.to_pylist():
        rec = latest[row["instrument_id"]]
        assert row["ts_recv"] == dt.datetime.fromtimestamp(int(rec["ts_recv"]) / 1e9, tz=dt.UTC)
        assert row["ask_px"] == pytest.approx(rec["ask_px_00"] / 1e9)
    keys = [(r["root"], r["expiration"], r["right"], r["strike"]) for r in table.to_pylist()]
    assert keys == sorted(keys)
    # Many instruments did not change in the very minute asked for: their quote is older.
    assert sum(r["ts_recv"] < at for r in table.to_pylist()) > 0


def test_quotes_at_max_age_drops_stale_instruments(imported: dict[dt.date, GeneratedDay]) -> None:
    at = dt.datetime(2026, 3, 18, 12, 30, tzinfo=ET)
    fresh = store.quotes_at(DAY, at, max_age=dt.timedelta(minutes=2))
    assert 0 < fresh.num_rows < store.quotes_at(DAY, at).num_rows
    assert min(fresh["ts_recv"].to_pylist()) >= at - dt.timedelta(minutes=2)
    before_open = store.quotes_at(DAY, dt.datetime(2026, 3, 18, 9, 0, tzinfo=ET))
    assert before_open.num_rows == 0


def test_instruments_and_the_all_days_views(imported: dict[dt.date, GeneratedDay]) -> None:
    chain = store.instruments(DAY, roots=["SPX"])
    assert chain.num_rows > 0 and set(chain["expiration"].to_pylist()) == {dt.date(2026, 3, 20)}
    assert store.available_days() == [DAY, NEXT_DAY]
    with store.connect() as con:
        counts = con.sql("SELECT date, count(*) FROM quotes GROUP BY date ORDER BY date").fetchall()
        assert counts == [(DAY, imported[DAY].record_count), (NEXT_DAY, imported[NEXT_DAY].record_count)]
        per_day = con.sql("SELECT count(*) FROM instruments WHERE date = DATE '2026-03-19'").fetchall()[0]
        assert per_day == (imported[NEXT_DAY].instrument_count,)


def test_open_interest_filters_and_the_all_days_view(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path) -> None:
    import_files([p for d in tiny_days.values() for p in d.paths])
    table = store.open_interest(DAY)
    assert table.schema.equals(store.OPEN_INTEREST_SCHEMA) and table.num_rows == tiny_days[DAY].instrument_count
    assert table["instrument_id"].to_pylist() == store.instruments(DAY)["instrument_id"].to_pylist()  # same order
    spx = store.open_interest(DAY, roots=["SPX"], expirations=[dt.date(2026, 3, 20)])
    assert 0 < spx.num_rows < table.num_rows and set(spx["root"].to_pylist()) == {"SPX"}
    assert store.open_interest(DAY, expirations=[]).num_rows == 0
    assert store.available_days("statistics") == [DAY, NEXT_DAY]
    with store.connect() as con:
        counts = con.sql("SELECT date, count(*), sum(open_interest) FROM open_interest GROUP BY date ORDER BY date").fetchall()
    assert [c[:2] for c in counts] == [(DAY, tiny_days[DAY].instrument_count), (NEXT_DAY, tiny_days[NEXT_DAY].instrument_count)]
    assert counts[0][2] == sum(table["open_interest"].to_pylist())


def test_missing_days_and_naive_times_are_errors(market_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no cbbo-1m data imported for 2026-03-18"):
        store.quotes(DAY)
    with pytest.raises(FileNotFoundError, match="no statistics data imported for 2026-03-18"):
        store.open_interest(DAY)
    with store.connect() as con:  # an empty store still has the views
        assert con.sql("SELECT count(*) FROM quotes").fetchall() == [(0,)]
        assert con.sql("SELECT count(*) FROM open_interest").fetchall() == [(0,)]
    with pytest.raises(ValueError, match="timezone-aware"):
        store._aware(dt.datetime(2026, 3, 18, 10, 0))


def test_data_dir_comes_from_settings(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_DIR = tmp_path / "elsewhere"
    assert store.parquet_path("cbbo-1m", DAY) == tmp_path / "elsewhere/parquet/OPRA.PILLAR/cbbo-1m/date=2026-03-18/data.parquet"
    del settings.MARKET_DATA_DIR
    assert store.data_dir() == settings.VAR_DIR / "market-data"


def test_relayout_upgrades_a_time_ordered_file_once(tiny_days, market_dir) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    from backtests.data.dbn_import import import_files
    from backtests.tests.conftest import DAY

    import_files([tiny_days[DAY].definition_path, tiny_days[DAY].cbbo_path])
    path = store.parquet_path("cbbo-1m", DAY)
    before = store.quotes(DAY)
    # Rewrite it the old way: time order, no mapping.
    pq.write_table(pq.read_table(path).sort_by([("ts_recv", "ascending")]).replace_schema_metadata(None), path)
    assert store.expiration_row_groups(pq.read_metadata(path)) is None
    assert store.relayout(DAY) is True
    assert store.expiration_row_groups(pq.read_metadata(path))
    assert store.relayout(DAY) is False
    assert store.quotes(DAY).equals(before)
