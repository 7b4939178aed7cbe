"""DBN → Parquet import: joins, manifest, replacement, and refusals that leave nothing behind."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow.parquet as pq
import pytest

from backtests.data import dbn_generate, dbn_import, dbn_io, store
from backtests.data.dbn_generate import GeneratedDay
from backtests.data.dbn_import import ImportRefused, import_files
from backtests.engine.daydata import DayData
from backtests.models import ImportedDay
from backtests.tests.conftest import DAY, NEXT_DAY
from snapshots.market_calendar import ET

SAMPLE_DAY = dt.date(2025, 2, 20)
pytestmark = pytest.mark.django_db


def _files(root: Path) -> list[Path]:
    """Every file under the market-data root (temporaries included: they are hidden, not absent)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _pair(days: dict[dt.date, GeneratedDay], day: dt.date) -> list[Path]:
    return [days[day].definition_path, days[day].cbbo_path]


@pytest.mark.parametrize("folder", ["", "dbn-v2"])
def test_real_opra_samples_import(opra_samples: Path, market_dir: Path, folder: str) -> None:
    source = opra_samples / folder
    results = import_files([source / "test_data.definition.dbn.zst", source / "test_data.cbbo-1m.dbn.zst"])
    assert [(r.schema, r.date, r.record_count, r.instrument_count) for r in results] == [
        ("definition", SAMPLE_DAY, 1, 1),
        ("cbbo-1m", SAMPLE_DAY, 4, 1),
    ]
    quotes = store.quotes(SAMPLE_DAY).to_pylist()
    assert [q["ts_recv"].strftime("%H:%M") for q in quotes] == ["13:01", "14:31", "14:32", "14:33"]
    first, second = quotes[0], quotes[1]
    assert (second["symbol"], second["root"], second["expiration"], second["right"], second["strike"]) == (
        "AAPL250221C00250000", "AAPL", dt.date(2025, 2, 21), "C", 250.0
    )
    assert first["bid_px"] is None and first["ask_px"] is None and first["last_px"] is None and first["last_ts"] is None
    assert (second["bid_px"], second["ask_px"], second["bid_sz"], second["ask_sz"]) == (0.32, 0.34, 104, 132)
    assert (second["last_px"], second["last_sz"], second["flags"]) == (0.34, 1, 194)
    rows = {r.schema: r for r in ImportedDay.objects.all()}
    cbbo = rows["cbbo-1m"]
    assert cbbo.file_sha256 == hashlib.sha256((source / "test_data.cbbo-1m.dbn.zst").read_bytes()).hexdigest()
    assert (cbbo.record_count, cbbo.instrument_count, cbbo.date, cbbo.dataset) == (4, 1, SAMPLE_DAY, "OPRA.PILLAR")
    assert Path(cbbo.parquet_path) == store.parquet_path("cbbo-1m", SAMPLE_DAY) and Path(cbbo.parquet_path).is_file()
    assert rows["definition"].record_count == 1


@pytest.mark.parametrize("folder", ["", "dbn-v2"])
def test_real_opra_statistics_sample_imports_one_open_interest(opra_samples: Path, market_dir: Path, folder: str) -> None:
    """Databento's sample repeats the AAPL call's 57924 once per venue (publishers 37, 31, 23, 24):
    one row, mapped to the symbol through the day's definition."""
    source = opra_samples / folder
    results = import_files([source / "test_data.statistics.dbn.zst", source / "test_data.definition.dbn.zst"])
    assert [(r.schema, r.date, r.record_count, r.instrument_count) for r in results] == [
        ("definition", SAMPLE_DAY, 1, 1),
        ("statistics", SAMPLE_DAY, 4, 1),
    ]
    table = store.open_interest(SAMPLE_DAY)
    [row] = table.to_pylist()
    assert (row["instrument_id"], row["symbol"], row["root"], row["expiration"], row["right"], row["strike"]) == (
        16783963, "AAPL250221C00250000", "AAPL", dt.date(2025, 2, 21), "C", 250.0
    )
    assert (row["open_interest"], row["report_count"], row["conflicting"]) == (57924, 4, False)
    assert table["ts_recv"].cast("int64").to_pylist() == [1740051008943854625]  # 06:30 ET, with the definitions
    assert row["ts_ref"] is None  # UNDEF in OPRA's records
    assert row["publisher_id"] == 24  # all four tie on ts_recv: the last in the file is kept
    manifest = ImportedDay.objects.get(schema="statistics")
    assert manifest.file_sha256 == hashlib.sha256((source / "test_data.statistics.dbn.zst").read_bytes()).hexdigest()
    assert (manifest.record_count, manifest.instrument_count, manifest.date) == (4, 1, SAMPLE_DAY)
    assert Path(manifest.parquet_path) == store.parquet_path("statistics", SAMPLE_DAY) == (
        market_dir / "parquet/OPRA.PILLAR/statistics/date=2025-02-20/data.parquet"
    )


def _stat_records(rows: list[tuple[int, int, int | None, int, int, int]]) -> np.ndarray:
    """Statistics records from (instrument_id, seconds after 06:30 ET, quantity or None for UNDEF,
    publisher_id, update_action, stat_type), in file order."""
    base = dbn_io.instant_ns(dt.datetime.combine(DAY, dt.time(6, 30), tzinfo=ET))
    recs = np.repeat(dbn_io.statistics_template(), len(rows))
    for rec, (iid, seconds, quantity, publisher, action, stat_type) in zip(recs, rows):
        rec["instrument_id"], rec["publisher_id"] = iid, publisher
        rec["ts_event"] = rec["ts_recv"] = base + seconds * dbn_io.NS_PER_SECOND
        rec["quantity"] = dbn_io.UNDEF_STAT_QUANTITY_INT if quantity is None else quantity
        rec["update_action"], rec["stat_type"] = action, stat_type
    return recs


def test_duplicate_and_conflicting_open_interest_resolve_to_the_latest(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path
) -> None:
    """Per instrument the latest ts_recv wins; at the same ts_recv the record later in the input
    (later file, later in its file) wins; UNDEF quantities are ignored, a winning DELETE leaves no
    figure, other stat types are skipped."""
    ids = [int(i) for i in dbn_io.read_records(tiny_days[DAY].definition_path).records["instrument_id"][:7]]
    a, b, c, d, e, f, g = ids
    new, delete, oi, close_price = dbn_io.STAT_UPDATE_NEW, dbn_io.STAT_UPDATE_DELETE, dbn_io.STAT_OPEN_INTEREST, 11
    first = _stat_records([
        *((a, 0, 100, p, new, oi) for p in (37, 31, 23, 24)),  # OPRA's repeat per venue
        (b, 0, 200, 37, new, oi), (b, 0, 250, 31, new, oi),  # same instant: the later record
        (c, 60, 300, 37, new, oi), (c, 0, 350, 31, new, oi),  # a later ts_recv beats file order
        (d, 0, 400, 37, new, oi), (d, 60, None, 37, delete, oi),  # deleted afterwards: no figure
        (e, 0, 999, 37, new, close_price),  # not open interest
        (f, 0, 500, 37, new, oi), (f, 60, None, 31, new, oi),  # a record without a value is ignored
        (g, 0, 0, 37, new, oi),  # zero is a figure, not a missing one
    ])
    second = _stat_records([(a, 0, 120, 23, new, oi)])  # same instant as a's first four, a later file
    paths = [tmp_path / "one.statistics.dbn", tmp_path / "two.statistics.dbn.zst"]
    for path, recs in zip(paths, (first, second)):
        dbn_io.write_dbn(path, dbn_io.parent_metadata(DAY, "statistics", [], []), recs, compress=path.suffix == ".zst")
    results = import_files([tiny_days[DAY].definition_path, *paths])
    got = {r["instrument_id"]: r for r in store.open_interest(DAY).to_pylist()}
    assert {i: (r["open_interest"], r["report_count"], r["conflicting"], r["publisher_id"]) for i, r in got.items()} == {
        a: (120, 5, True, 23),
        b: (250, 2, True, 31),
        c: (300, 2, True, 37),
        f: (500, 1, False, 37),
        g: (0, 1, False, 37),
    }
    assert got[c]["ts_recv"] == dt.datetime.combine(DAY, dt.time(6, 31), tzinfo=ET)
    statistics = [r for r in results if r.schema == "statistics"]
    assert [(r.record_count, r.instrument_count, r.source_file) for r in statistics] == [(len(first) + 1, 5, paths[1].resolve())]
    keys = [(r["root"], r["expiration"], r["right"], r["strike"]) for r in got.values()]
    assert keys == sorted(keys)  # the definitions' order


def test_statistics_can_use_definitions_imported_earlier_and_replace_the_day(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path
) -> None:
    import_files([tiny_days[DAY].definition_path])
    results = import_files([tiny_days[DAY].statistics_path])
    assert [(r.schema, r.record_count, r.instrument_count) for r in results] == [
        ("statistics", 4 * tiny_days[DAY].instrument_count, tiny_days[DAY].instrument_count)
    ]
    before = store.open_interest(DAY)
    import_files([tiny_days[DAY].statistics_path])  # a re-import replaces the file and the row
    assert store.open_interest(DAY).equals(before)
    assert ImportedDay.objects.filter(date=DAY, schema="statistics").count() == 1
    assert not store.parquet_path("cbbo-1m", DAY).exists()  # statistics do not need the quotes


def test_generated_days_import_and_join(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path) -> None:
    results = import_files([*_pair(tiny_days, DAY), *_pair(tiny_days, NEXT_DAY)], workers=2)
    assert [(r.schema, r.date) for r in results] == [
        ("definition", DAY), ("definition", NEXT_DAY), ("cbbo-1m", DAY), ("cbbo-1m", NEXT_DAY)
    ]
    for day in (DAY, NEXT_DAY):
        generated = tiny_days[day]
        table = pq.read_table(store.parquet_path("cbbo-1m", day))
        assert table.num_rows == generated.record_count
        assert ImportedDay.objects.get(date=day, schema="cbbo-1m").record_count == generated.record_count
        # The join: every row's symbol is the OSI of its own definition (same id, same day).
        definitions = dbn_io.read_records(generated.definition_path).records
        osi = {int(i): s.decode().replace(" ", "") for i, s in zip(definitions["instrument_id"], definitions["raw_symbol"])}
        ids = table["instrument_id"].to_pylist()
        symbols = table["symbol"].to_pylist()
        assert all(osi[i] == s for i, s in zip(ids[::97], symbols[::97]))
        strikes = table["strike"].to_pylist()
        assert all(float(s[-8:]) / 1000 == k for s, k in zip(symbols[::97], strikes[::97]))
        # Prices: dollars, NULL where DBN says UNDEF (rows compared in (ts_recv, instrument_id) order:
        # the file is clustered by expiration).
        raw = dbn_io.read_records(generated.cbbo_path).records
        raw = raw[np.lexsort((raw["instrument_id"], raw["ts_recv"]))]
        mine = np.lexsort((table["instrument_id"].to_numpy(), table["ts_recv"].cast("int64").to_numpy()))
        bids = table["bid_px"].to_numpy(zero_copy_only=False)[mine]
        undefined = raw["bid_px_00"] == dbn_io.UNDEF_PRICE_INT
        assert np.isnan(bids[undefined]).all()
        assert np.allclose(bids[~undefined], raw["bid_px_00"][~undefined] / 1e9)
        # Layout: one expiration per row group, time order inside, the mapping in the metadata.
        meta = pq.read_metadata(store.parquet_path("cbbo-1m", day))
        groups = store.expiration_row_groups(meta)
        assert groups and sorted(g for gs in groups.values() for g in gs) == list(range(meta.num_row_groups))
        f = pq.ParquetFile(store.parquet_path("cbbo-1m", day))
        for expiration, indexes in groups.items():
            part = f.read_row_groups(indexes, columns=["ts_recv", "expiration"])
            assert set(part["expiration"].to_pylist()) == {expiration}
            assert np.all(np.diff(part["ts_recv"].cast("int64").to_numpy()) >= 0)
    assert ImportedDay.objects.count() == 4


def test_reimport_replaces_the_day(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path) -> None:
    import_files(_pair(tiny_days, DAY))
    other = dbn_generate.generate_day(DAY, tmp_path / "seed8", seed=8, params=dbn_generate.TINY)
    import_files([other.definition_path, other.cbbo_path])
    assert ImportedDay.objects.filter(date=DAY).count() == 2
    row = ImportedDay.objects.get(date=DAY, schema="cbbo-1m")
    assert row.file_sha256 == hashlib.sha256(other.cbbo_path.read_bytes()).hexdigest()
    assert row.record_count == other.record_count != tiny_days[DAY].record_count
    assert pq.read_metadata(store.parquet_path("cbbo-1m", DAY)).num_rows == other.record_count
    # No backups, no temporaries: the two files and the day's slot book, rebuilt from the new files.
    assert sorted(p.name for p in _files(market_dir)) == ["book.json", "book.npy", "data.parquet", "data.parquet"]
    assert DayData(DAY).book is not None


def test_quotes_can_use_definitions_imported_earlier(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path) -> None:
    import_files([tiny_days[DAY].definition_path])
    assert not store.parquet_path("cbbo-1m", DAY).exists()
    results = import_files([tiny_days[DAY].cbbo_path])
    assert [(r.schema, r.record_count) for r in results] == [("cbbo-1m", tiny_days[DAY].record_count)]


def test_a_multi_day_file_is_split_by_utc_day(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path) -> None:
    both = np.concatenate([dbn_io.read_records(tiny_days[d].cbbo_path).records for d in (DAY, NEXT_DAY)])
    meta = dbn_io.parent_metadata(DAY, "cbbo-1m", [], [])
    path = tmp_path / "two-days.cbbo-1m.dbn.zst"
    dbn_io.write_dbn(path, meta, both, compress=True)
    results = import_files([tiny_days[DAY].definition_path, tiny_days[NEXT_DAY].definition_path, path])
    quotes = [(r.date, r.record_count) for r in results if r.schema == "cbbo-1m"]
    assert quotes == [(DAY, tiny_days[DAY].record_count), (NEXT_DAY, tiny_days[NEXT_DAY].record_count)]


def _truncated(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    with target.open("r+b") as fh:
        fh.truncate(target.stat().st_size - 1000)
    return target


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("truncated", "truncated"),
        ("empty", "empty file"),
        ("wrong schema", "schema is 'trades'"),
        ("wrong dataset", "dataset is 'XNAS.ITCH'"),
        ("no definitions", "no definitions for 2026-03-19"),
        ("unknown ids", "missing from that day's definitions"),
        ("statistics without definitions", "2026-03-19.statistics.dbn.zst: no definitions for 2026-03-19"),
        ("statistics with unknown ids", "open-interest records on 2026-03-18 reference instrument_ids missing"),
        ("negative open interest", "open-interest records on 2026-03-19 are negative"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    bad: str, message: str, tiny_days: dict[dt.date, GeneratedDay], opra_samples: Path, market_dir: Path, tmp_path: Path
) -> None:
    good = _pair(tiny_days, DAY)  # a good day in the same call must not be half-imported either
    extra: list[Path] = [tiny_days[NEXT_DAY].definition_path]
    if bad == "truncated":
        extra.append(_truncated(tiny_days[NEXT_DAY].cbbo_path, tmp_path / "cut.cbbo-1m.dbn.zst"))
    elif bad == "empty":
        extra.append(tmp_path / "empty.cbbo-1m.dbn.zst")
        extra[-1].write_bytes(b"")
    elif bad == "wrong schema":
        extra.append(opra_samples / "test_data.trades.dbn.zst")
    elif bad == "wrong dataset":
        raw = bytearray(dbn_io.read_records(tiny_days[NEXT_DAY].cbbo_path).records.tobytes())
        meta = dbn_io.parent_metadata(NEXT_DAY, "cbbo-1m", [], []).encode().replace(b"OPRA.PILLAR", b"XNAS.ITCH\x00\x00")
        extra.append(tmp_path / "itch.dbn")
        extra[-1].write_bytes(meta + bytes(raw))
    elif bad == "no definitions":
        extra = [tiny_days[NEXT_DAY].cbbo_path]
    elif bad == "unknown ids":
        # NEXT_DAY's quotes against DAY's definitions: ids are per day, so none of them match.
        recs = dbn_io.read_records(tiny_days[NEXT_DAY].cbbo_path).records.copy()
        recs["ts_recv"] -= dbn_io.NS_PER_DAY
        extra = [tmp_path / "shifted.cbbo-1m.dbn"]
        dbn_io.write_dbn(extra[0], dbn_io.parent_metadata(DAY, "cbbo-1m", [], []), recs, compress=False)
        good = [tiny_days[DAY].definition_path]
    elif bad == "statistics without definitions":
        extra = [tiny_days[NEXT_DAY].statistics_path]
    elif bad == "statistics with unknown ids":
        recs = dbn_io.read_records(tiny_days[NEXT_DAY].statistics_path).records.copy()
        recs["ts_recv"] -= dbn_io.NS_PER_DAY
        extra = [tmp_path / "shifted.statistics.dbn"]
        dbn_io.write_dbn(extra[0], dbn_io.parent_metadata(DAY, "statistics", [], []), recs, compress=False)
        good = [tiny_days[DAY].definition_path]
    elif bad == "negative open interest":
        recs = dbn_io.read_records(tiny_days[NEXT_DAY].statistics_path).records.copy()
        recs["quantity"][5] = -3
        extra.append(tmp_path / "negative.statistics.dbn")
        dbn_io.write_dbn(extra[-1], dbn_io.parent_metadata(NEXT_DAY, "statistics", [], []), recs, compress=False)
    with pytest.raises(ImportRefused, match=message):
        import_files([*good, *extra], workers=2)
    assert _files(market_dir) == []  # no file at all, not even a temporary one
    assert ImportedDay.objects.count() == 0


def test_a_refused_reimport_keeps_the_previous_import(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path) -> None:
    import_files(_pair(tiny_days, DAY))
    before = {p: p.read_bytes() for p in _files(market_dir)}
    row = ImportedDay.objects.get(date=DAY, schema="cbbo-1m")
    with pytest.raises(ImportRefused, match="truncated"):
        import_files([tiny_days[DAY].definition_path, _truncated(tiny_days[DAY].cbbo_path, tmp_path / "cut.dbn.zst")])
    assert {p: p.read_bytes() for p in _files(market_dir)} == before
    assert ImportedDay.objects.get(date=DAY, schema="cbbo-1m").imported_at == row.imported_at


def test_a_failed_rename_rolls_back_files_and_manifest(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_files(_pair(tiny_days, DAY))
    before = {p: p.read_bytes() for p in _files(market_dir)}
    rows_before = list(ImportedDay.objects.values_list("date", "schema", "imported_at"))
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src: str | Path, dst: str | Path) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # backup def, place def, backup cbbo, then fail placing the new cbbo
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(dbn_import.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        import_files([*_pair(tiny_days, DAY), *_pair(tiny_days, NEXT_DAY)])
    monkeypatch.setattr(dbn_import.os, "replace", real_replace)
    assert {p: p.read_bytes() for p in _files(market_dir)} == before
    assert list(ImportedDay.objects.values_list("date", "schema", "imported_at")) == rows_before


def test_definitions_that_are_not_options_are_refused(market_dir: Path, tmp_path: Path) -> None:
    recs = np.repeat(dbn_io.definition_template(), 1)
    recs["instrument_id"] = 5
    recs["raw_symbol"] = b"ESH6"
    recs["instrument_class"] = b"F"
    recs["ts_recv"] = dbn_io.utc_day_bounds_ns(DAY)[0]
    path = tmp_path / "future.definition.dbn"
    dbn_io.write_dbn(path, dbn_io.parent_metadata(DAY, "definition", [], []), recs, compress=False)
    with pytest.raises(ImportRefused, match="not OSI option contracts"):
        import_files([path])
    assert ImportedDay.objects.count() == 0


def test_a_folder_imports_everything_in_it(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path) -> None:
    results = import_files([tiny_days[DAY].cbbo_path.parent])
    assert {(r.schema, r.date) for r in results} == {(s, d) for s in ("definition", "cbbo-1m", "statistics") for d in (DAY, NEXT_DAY)}


def test_a_realistic_day_imports(realistic_day: GeneratedDay, market_dir: Path) -> None:
    results = import_files([realistic_day.definition_path, realistic_day.cbbo_path])
    assert [(r.schema, r.record_count) for r in results] == [
        ("definition", realistic_day.instrument_count), ("cbbo-1m", realistic_day.record_count)
    ]
    assert results[1].instrument_count == realistic_day.instrument_count > 10_000
    meta = pq.read_metadata(store.parquet_path("cbbo-1m", DAY))
    assert meta.num_rows == realistic_day.record_count and meta.num_row_groups > 5
    at = dt.datetime(2026, 3, 18, 10, 0, tzinfo=ET)
    chain = store.quotes_at(DAY, at, roots=["SPXW"], expirations=[dt.date(2026, 3, 23)])
    assert 200 < chain.num_rows < 1000 and set(chain["right"].to_pylist()) == {"C", "P"}


def test_time_order_and_duplicates_rule_on_small_arrays() -> None:
    rows = np.array([0, 1, 0, 0, 1])
    for dense in (True, False):  # the bitmap check and, past its size, the sort
        with mock.patch.object(dbn_import, "_DENSE_CELLS", 1 << 20 if dense else 0):
            # In order, no repeats: nothing to do.
            assert dbn_import.in_time_order_deduplicated(np.array([1, 1, 2, 3, 3]), rows, 2) == (None, 0, 0)
            # One record back in time: a stable sort, equal stamps in input order.
            keep, reordered, dropped = dbn_import.in_time_order_deduplicated(np.array([2, 1, 1, 3, 3]), rows, 2)
            assert keep is not None and keep.tolist() == [1, 2, 0, 3, 4] and (reordered, dropped) == (1, 0)
            # Instrument 0 at t=1 twice: the later in the input (index 2) wins, wherever the two sit.
            keep, reordered, dropped = dbn_import.in_time_order_deduplicated(np.array([1, 2, 1, 3, 3]), rows, 2)
            assert keep is not None and keep.tolist() == [2, 1, 3, 4] and (reordered, dropped) == (1, 1)


def test_quotes_out_of_order_and_repeated_import_in_time_order_later_record_winning(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path
) -> None:
    generated = tiny_days[DAY]
    raw = dbn_io.read_records(generated.cbbo_path).records
    rng = np.random.default_rng(5)
    repeated = np.sort(rng.choice(raw.size, 40, replace=False))
    corrections = raw[repeated].copy()
    corrections["bid_px_00"] = np.where(corrections["bid_px_00"] == dbn_io.UNDEF_PRICE_INT, 10**9,
                                        corrections["bid_px_00"] + 5 * 10**7)  # +$0.05, or $1.00 where there was none
    shuffled = raw[rng.permutation(raw.size)]
    messy = tmp_path / "messy.cbbo-1m.dbn.zst"
    dbn_io.write_dbn(messy, dbn_io.parent_metadata(DAY, "cbbo-1m", [], []), np.concatenate([shuffled, corrections]),
                     compress=True)

    results = import_files([generated.definition_path, messy])
    quotes = next(r for r in results if r.schema == "cbbo-1m")
    assert quotes.duplicates_dropped == 40 and quotes.reordered > 0
    assert quotes.record_count == raw.size + 40  # the manifest counts the records read

    expected = raw.copy()
    expected["bid_px_00"][repeated] = corrections["bid_px_00"]
    expected = expected[np.lexsort((expected["instrument_id"], expected["ts_recv"]))]
    table = pq.read_table(store.parquet_path("cbbo-1m", DAY))
    assert table.num_rows == raw.size
    mine = np.lexsort((table["instrument_id"].to_numpy(), table["ts_recv"].cast("int64").to_numpy()))
    bids = table["bid_px"].to_numpy(zero_copy_only=False)[mine]
    defined = expected["bid_px_00"] != dbn_io.UNDEF_PRICE_INT
    assert np.array_equal(np.isnan(bids), ~defined)
    assert np.allclose(bids[defined], expected["bid_px_00"][defined] / 1e9)
    # The engine's carry-forward needs time order within each expiration's row groups.
    f = pq.ParquetFile(store.parquet_path("cbbo-1m", DAY))
    for indexes in store.expiration_row_groups(f.metadata).values():
        stamps = f.read_row_groups(indexes, columns=["ts_recv"])["ts_recv"].cast("int64").to_numpy()
        assert np.all(np.diff(stamps) >= 0)
