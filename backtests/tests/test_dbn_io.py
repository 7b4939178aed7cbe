"""DBN reading/writing: the real OPRA samples decode, bad files are refused with clear reasons,
and what we write is read back by the official client."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import databento as db
import numpy as np
import pytest
import zstandard

from backtests.data import dbn_io
from backtests.data.dbn_io import DbnReader, DbnRefused, read_header, read_records


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _plain(opra_samples: Path, name: str) -> bytes:
    # Databento streams zstd without a content size in the frame header, so no one-shot decompress.
    return zstandard.ZstdDecompressor().decompressobj().decompress((opra_samples / name).read_bytes())


def test_real_cbbo_sample_decodes_with_sentinels_kept(opra_samples: Path) -> None:
    data = read_records(opra_samples / "test_data.cbbo-1m.dbn.zst")
    assert (data.header.dataset, data.header.schema, data.header.version) == ("OPRA.PILLAR", "cbbo-1m", 3)
    assert data.header.utc_dates() == [dt.date(2025, 2, 20)]
    assert data.sha256 == hashlib.sha256((opra_samples / "test_data.cbbo-1m.dbn.zst").read_bytes()).hexdigest()
    recs = data.records
    assert recs.size == 4 and set(recs["instrument_id"]) == {16783963}
    # First record: pre-open empty book; UNDEF stays a raw sentinel, never converted here.
    assert recs["bid_px_00"][0] == dbn_io.UNDEF_PRICE_INT and recs["ts_event"][0] == dbn_io.UNDEF_TIMESTAMP_INT
    assert recs["bid_px_00"][1] == 320_000_000 and recs["ask_px_00"][1] == 340_000_000
    assert recs["bid_sz_00"][1] == 104 and recs["ask_sz_00"][1] == 132


@pytest.mark.parametrize("folder", ["", "dbn-v2"])
def test_real_definition_sample_decodes_in_v2_and_v3(opra_samples: Path, folder: str) -> None:
    data = read_records(opra_samples / folder / "test_data.definition.dbn.zst")
    assert data.header.version == (2 if folder else 3)
    rec = data.records[0]
    assert rec["raw_symbol"] == b"AAPL  250221C00250000"
    assert rec["instrument_class"] == b"C" and rec["strike_price"] == 250 * dbn_io.PRICE_SCALE
    assert rec["expiration"] == dbn_io.utc_day_bounds_ns(dt.date(2025, 2, 21))[0]


@pytest.mark.parametrize("folder", ["", "dbn-v2"])
def test_real_statistics_sample_decodes_in_v2_and_v3(opra_samples: Path, folder: str) -> None:
    """Four OPEN_INTEREST records of 57924 contracts, one per venue publisher (reference §5);
    v2 stores the quantity as i32 in a 64-byte record, v3 as i64 in 80 bytes."""
    data = read_records(opra_samples / folder / "test_data.statistics.dbn.zst")
    recs = data.records
    assert (data.header.schema, data.header.version, recs.itemsize) == ("statistics", 2 if folder else 3, 64 if folder else 80)
    assert recs["publisher_id"].tolist() == [37, 31, 23, 24] and set(recs["instrument_id"]) == {16783963}
    assert (recs["stat_type"] == dbn_io.STAT_OPEN_INTEREST).all() and (recs["update_action"] == dbn_io.STAT_UPDATE_NEW).all()
    quantity, undefined = dbn_io.stat_quantity(recs)
    assert quantity.tolist() == [57924] * 4 and not undefined.any()
    assert (recs["price"] == dbn_io.UNDEF_PRICE_INT).all() and (recs["ts_ref"] == dbn_io.UNDEF_TIMESTAMP_INT).all()


def test_statistics_template_reads_back_with_the_official_client() -> None:
    meta = dbn_io.parent_metadata(dt.date(2025, 2, 20), "statistics", [], [])
    rec = next(iter(db.DBNStore.from_bytes(meta.encode() + dbn_io.statistics_template().tobytes())))
    assert (rec.rtype, rec.stat_type, rec.update_action, rec.quantity) == (24, 9, 1, 0)
    assert rec.price == dbn_io.UNDEF_PRICE_INT and rec.ts_ref == dbn_io.UNDEF_TIMESTAMP_INT


def test_plain_and_compressed_give_the_same_records(opra_samples: Path, tmp_path: Path) -> None:
    plain = _write(tmp_path / "x.cbbo-1m.dbn", _plain(opra_samples, "test_data.cbbo-1m.dbn.zst"))
    a = read_records(plain).records
    b = read_records(opra_samples / "test_data.cbbo-1m.dbn.zst").records
    assert a.tobytes() == b.tobytes()
    assert read_header(plain).compressed is False


def test_chunks_split_without_losing_records(opra_samples: Path) -> None:
    with DbnReader(opra_samples / "test_data.cbbo-1m.dbn.zst", schemas=("cbbo-1m",)) as reader:
        sizes = [c.size for c in reader.chunks(records=3)]
        assert sizes == [3, 1] and reader.record_count == 4


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p, s: _write(p / "empty.dbn.zst", b""), "empty file"),
        (lambda p, s: _write(p / "text.dbn", b"date,bid,ask\n2025-02-20,1,2\n"), "not a DBN file"),
        (lambda p, s: _write(p / "cut.dbn.zst", (s / "test_data.cbbo-1m.dbn.zst").read_bytes()[:-12]), "truncated"),
        (lambda p, s: _write(p / "cut.dbn", _plain(s, "test_data.cbbo-1m.dbn.zst")[:-30]), "truncated"),
        (lambda p, s: _write(p / "head.dbn", _plain(s, "test_data.cbbo-1m.dbn.zst")[:-320]), "no records"),
        (lambda p, s: _write(p / "half-header.dbn", _plain(s, "test_data.cbbo-1m.dbn.zst")[:40]), "truncated inside the DBN metadata"),
        (lambda p, s: s / "test_data.trades.dbn.zst", "schema is 'trades'"),
        (lambda p, s: s / "test_data.cbbo-1s.dbn.zst", "schema is 'cbbo-1s'"),
    ],
)
def test_bad_files_are_refused_with_a_reason(opra_samples: Path, tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, opra_samples)
    with pytest.raises(DbnRefused, match=reason) as info:
        read_records(path)
    assert str(info.value).startswith(path.name)


def test_another_dataset_is_refused(tmp_path: Path) -> None:
    meta = dbn_io.parent_metadata(dt.date(2025, 2, 20), "cbbo-1m", ["AAPL  250221C00250000"], [7])
    path = tmp_path / "glbx.dbn"
    data = bytearray(meta.encode() + dbn_io.cbbo_template().tobytes())
    # Same header layout, dataset field rewritten: the dataset is the first string after the prefix.
    offset = data.index(b"OPRA.PILLAR")
    data[offset : offset + 11] = b"GLBX.MDP3\x00\x00"
    path.write_bytes(bytes(data))
    with pytest.raises(DbnRefused, match="dataset is 'GLBX.MDP3', expected 'OPRA.PILLAR'"):
        read_records(path)


def test_records_of_the_wrong_rtype_are_refused(tmp_path: Path) -> None:
    meta = dbn_io.parent_metadata(dt.date(2025, 2, 20), "cbbo-1m", ["AAPL  250221C00250000"], [7])
    rec = dbn_io.cbbo_template().copy()
    rec["rtype"] = 192  # cbbo-1s records in a file that says cbbo-1m
    path = _write(tmp_path / "mislabelled.dbn", meta.encode() + rec.tobytes())
    with pytest.raises(DbnRefused, match="rtype"):
        read_records(path)


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # inside databento's to_df (reference §8.11)
def test_written_files_read_back_with_the_official_client(tmp_path: Path) -> None:
    day = dt.date(2025, 2, 20)
    symbols = ["SPXW  250220C06100000", "SPXW  250220P06100000"]
    meta = dbn_io.parent_metadata(day, "cbbo-1m", symbols, [1001, 1002])
    recs = np.repeat(dbn_io.cbbo_template(), 2)
    recs["instrument_id"] = [1001, 1002]
    recs["ts_recv"] = dbn_io.utc_day_bounds_ns(day)[0] + 14 * 3600 * 10**9
    recs["bid_px_00"] = [10_000_000_000, dbn_io.UNDEF_PRICE_INT]
    recs["ask_px_00"] = [10_200_000_000, 50_000_000]
    for compress in (True, False):
        path = tmp_path / f"x.dbn{'.zst' if compress else ''}"
        dbn_io.write_dbn(path, meta, recs, compress=compress)
        store = db.DBNStore.from_bytes(path.read_bytes())  # from_file would leave the file open
        assert store.stype_in == "parent" and store.symbols == ["SPX.OPT", "SPXW.OPT"]
        frame = store.to_df(map_symbols=True)
        assert frame["symbol"].tolist() == symbols
        assert frame["bid_px_00"].iloc[0] == 10.0 and np.isnan(frame["bid_px_00"].iloc[1])
        assert [r.side for r in store] == ["N", "N"]


def test_definition_template_has_opra_sentinels() -> None:
    rec = next(iter(db.DBNStore.from_bytes(
        dbn_io.parent_metadata(dt.date(2025, 2, 20), "definition", [], []).encode() + dbn_io.definition_template().tobytes()
    )))
    assert rec.contract_multiplier == 2**31 - 1 and rec.security_type == "OPT" and rec.exchange == "OPRA"
    assert rec.security_update_action == "A"


def test_multi_frame_zstd_streams_are_read_whole_and_a_cut_frame_is_refused(opra_samples: Path, tmp_path: Path) -> None:
    plain = _plain(opra_samples, "test_data.cbbo-1m.dbn.zst")
    cut = len(plain) - 2 * 80  # the last two records in a second frame, as a streamed response may be
    frames = zstandard.ZstdCompressor().compress(plain[:cut]) + zstandard.ZstdCompressor().compress(plain[cut:])
    whole = _write(tmp_path / "frames.dbn.zst", frames)
    assert read_records(whole).records.tobytes() == plain[-4 * 80 :]
    with pytest.raises(DbnRefused, match="ends inside a frame"):
        read_records(_write(tmp_path / "cut-frames.dbn.zst", frames[:-3]))
