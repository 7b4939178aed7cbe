"""The generator writes real OPRA-shaped DBN days from the simulated market."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import databento as db
import numpy as np
import pytest

from backtests.data import dbn_generate, dbn_io
from backtests.data.dbn_generate import GeneratedDay
from backtests.tests.conftest import DAY, NEXT_DAY
from snapshots import market_calendar as mc
from snapshots.providers.simulated import DIVIDEND_YIELD, MINUTES_PER_YEAR, RATE, SimulatedMarket
from snapshots.providers.simulated_market import market_moment, option_book

ET = mc.ET


def _decode(day: GeneratedDay) -> tuple[np.ndarray, np.ndarray]:
    return dbn_io.read_records(day.definition_path).records, dbn_io.read_records(day.cbbo_path).records


def test_files_are_what_a_parent_request_returns(tiny_days: dict[dt.date, GeneratedDay]) -> None:
    day = tiny_days[DAY]
    for path, schema in ((day.definition_path, "definition"), (day.cbbo_path, "cbbo-1m"), (day.statistics_path, "statistics")):
        store = db.DBNStore.from_bytes(path.read_bytes())  # from_file would leave the file open
        assert (store.dataset, str(store.schema), store.stype_in, str(store.stype_out)) == (
            "OPRA.PILLAR", schema, "parent", "instrument_id"
        )
        assert store.symbols == ["SPX.OPT", "SPXW.OPT"] and store.metadata.version == 3
        assert len(store.mappings) == day.instrument_count
        assert store.start == dt.datetime(2026, 3, 18, tzinfo=dt.UTC)
    definitions, quotes = _decode(day)
    roots = {r.decode().strip() for r in definitions["raw_symbol"].astype("S6")}
    assert roots == {"SPX", "SPXW"}
    assert set(definitions["asset"]) == {b"SPX", b"SPXW"} and set(definitions["instrument_class"]) == {b"C", b"P"}
    assert (definitions["contract_multiplier"] == 2**31 - 1).all()  # UNDEF in OPRA definitions
    assert np.isin(quotes["instrument_id"], definitions["instrument_id"]).all()
    assert quotes.size == day.record_count and (quotes["rtype"] == 193).all() and (quotes["publisher_id"] == 30).all()


def test_quotes_follow_cbbo_1m_rules(tiny_days: dict[dt.date, GeneratedDay]) -> None:
    definitions, quotes = _decode(tiny_days[DAY])
    ts = quotes["ts_recv"].astype(np.int64)
    assert (np.diff(ts) >= 0).all() and (ts % dbn_io.NS_PER_MINUTE == 0).all()
    open_ns, close_ns = (dbn_io.instant_ns(b) for b in mc.session_bounds(DAY))  # type: ignore[union-attr]
    assert ts.min() == open_ns and ts.max() == close_ns
    stamps = (close_ns - open_ns) // dbn_io.NS_PER_MINUTE + 1
    # Every instrument opens at 09:30 (the opening book) and then writes only when something changed.
    first = quotes[ts == ts.min()]
    assert set(first["instrument_id"]) == set(definitions["instrument_id"])
    per_instrument = np.bincount(np.unique(quotes["instrument_id"], return_inverse=True)[1])
    assert per_instrument.max() <= stamps and per_instrument.min() < stamps / 2  # sparse wings
    assert 0.1 < quotes.size / (definitions.size * stamps) < 0.95
    bid, ask = quotes["bid_px_00"], quotes["ask_px_00"]
    has_bid = bid != dbn_io.UNDEF_PRICE_INT
    assert (quotes["bid_sz_00"][~has_bid] == 0).all() and (quotes["bid_sz_00"][has_bid] > 0).all()
    assert (bid[has_bid] < ask[has_bid]).all()
    cents = ask // 10_000_000
    assert (ask % 10_000_000 == 0).all() and (cents % 5 == 0).all() and (cents[cents > 300] % 10 == 0).all()
    # Last-trade fields: UNDEF until an instrument's first trade, then always defined.
    traded = quotes["price"] != dbn_io.UNDEF_PRICE_INT
    assert ((quotes["ts_event"] != dbn_io.UNDEF_TIMESTAMP_INT) == traded).all()
    assert (quotes["ts_event"][traded] <= quotes["ts_recv"][traded]).all()


def test_same_day_spxw_stops_at_four(tiny_days: dict[dt.date, GeneratedDay]) -> None:
    definitions, quotes = _decode(tiny_days[DAY])
    expiring = definitions["instrument_id"][definitions["expiration"] == dbn_io.utc_day_bounds_ns(DAY)[0]]
    assert expiring.size > 0
    last = quotes["ts_recv"][np.isin(quotes["instrument_id"], expiring)].max()
    assert int(last) == dbn_io.instant_ns(dt.datetime(2026, 3, 18, 16, 0, tzinfo=ET))


def test_ids_are_per_day_and_generation_is_deterministic(tiny_days: dict[dt.date, GeneratedDay], tmp_path: Path) -> None:
    a, _ = _decode(tiny_days[DAY])
    b, _ = _decode(tiny_days[NEXT_DAY])
    assert not set(a["instrument_id"]) & set(b["instrument_id"])
    again = dbn_generate.generate_day(DAY, tmp_path, params=dbn_generate.TINY)
    assert again.paths == dbn_generate.day_paths(tmp_path, DAY)
    for mine, theirs in zip(again.paths, tiny_days[DAY].paths, strict=True):
        assert hashlib.sha256(mine.read_bytes()).digest() == hashlib.sha256(theirs.read_bytes()).digest()


def test_open_interest_is_the_simulated_markets_own_repeated_per_venue(tiny_days: dict[dt.date, GeneratedDay]) -> None:
    """One OPEN_INTEREST record per instrument and venue (four, as in Databento's sample), sent at
    06:30 ET with the definitions, valued at what the simulated market serves at the open."""
    day = tiny_days[DAY]
    definitions = dbn_io.read_records(day.definition_path).records
    stats = dbn_io.read_records(day.statistics_path).records
    venues = len(dbn_generate.OI_PUBLISHERS)
    assert stats.size == venues * day.instrument_count and (stats["rtype"] == 24).all()
    assert (stats["stat_type"] == dbn_io.STAT_OPEN_INTEREST).all() and (stats["update_action"] == dbn_io.STAT_UPDATE_NEW).all()
    assert (stats["price"] == dbn_io.UNDEF_PRICE_INT).all() and (stats["ts_ref"] == dbn_io.UNDEF_TIMESTAMP_INT).all()
    assert (stats["ts_recv"] == dbn_io.instant_ns(dt.datetime(2026, 3, 18, 6, 30, tzinfo=ET))).all()
    grouped = stats.reshape(-1, venues)
    assert (grouped["publisher_id"] == np.array(dbn_generate.OI_PUBLISHERS)).all()
    assert (grouped["quantity"] == grouped["quantity"][:, :1]).all() and (grouped["instrument_id"] == grouped["instrument_id"][:, :1]).all()
    assert sorted(grouped["instrument_id"][:, 0].tolist()) == sorted(definitions["instrument_id"].tolist())
    oi = dict(zip(grouped["instrument_id"][:, 0].tolist(), grouped["quantity"][:, 0].tolist()))
    moment = market_moment(7, dt.datetime(2026, 3, 18, 9, 30, tzinfo=ET))
    books: dict[tuple[str, int], dict[tuple[float, bool], int]] = {}
    for d in definitions:
        root, expiration = d["asset"].decode(), int(d["expiration"])
        if (root, expiration) not in books:
            book = option_book(7, moment, root, dt.date(1970, 1, 1) + dt.timedelta(days=expiration // dbn_io.NS_PER_DAY))
            books[root, expiration] = {(k, c): q for k, c, q in zip(book.strikes.tolist(), book.is_call.tolist(), book.open_interest.tolist())}
        expected = books[root, expiration][d["strike_price"] / 1e9, d["instrument_class"] == b"C"]
        assert oi[int(d["instrument_id"])] == expected
    assert min(oi.values()) >= 0 and len(set(oi.values())) > day.instrument_count // 2  # per-contract figures


def test_put_call_parity_recovers_the_simulated_index(tiny_days: dict[dt.date, GeneratedDay]) -> None:
    """Quotes carried forward to 11:00 ET imply, through C − P = D·(F − K), the index level the
    simulated market serves at that minute: the files are priced off the same path."""
    definitions, quotes = _decode(tiny_days[DAY])
    at = dt.datetime(2026, 3, 18, 11, 0, tzinfo=ET)
    at_ns = dbn_io.instant_ns(at)
    seen = quotes[quotes["ts_recv"] <= at_ns]
    # Carry forward: the last record of each instrument at or before the minute.
    _, last_rev = np.unique(seen["instrument_id"][::-1], return_index=True)
    latest = seen[::-1][last_rev]
    mid = {int(r["instrument_id"]): (r["bid_px_00"] * (r["bid_px_00"] != dbn_io.UNDEF_PRICE_INT) + r["ask_px_00"]) / 2e9 for r in latest}
    expiry = dt.date(2026, 3, 19)
    settle = mc.settlement_instant(expiry, "SPXW")
    t_years = (settle - at).total_seconds() / 60.0 / MINUTES_PER_YEAR
    discount = np.exp(-RATE * t_years)
    pairs: dict[float, dict[bytes, int]] = {}
    for d in definitions[(definitions["asset"] == b"SPXW") & (definitions["expiration"] == dbn_io.utc_day_bounds_ns(expiry)[0])]:
        pairs.setdefault(d["strike_price"] / 1e9, {})[d["instrument_class"]] = int(d["instrument_id"])
    forwards = [k + (mid[p[b"C"]] - mid[p[b"P"]]) / discount for k, p in pairs.items() if len(p) == 2]
    spot = SimulatedMarket(seed=7).index_level(at)
    expected = spot * np.exp((RATE - DIVIDEND_YIELD) * t_years)
    assert len(forwards) >= 10
    assert float(np.median(forwards)) == pytest.approx(expected, abs=1.0)


def test_a_day_without_a_session_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an SPX options trading day"):
        dbn_generate.generate_day(dt.date(2026, 4, 3), tmp_path, params=dbn_generate.TINY)  # Good Friday
    assert dbn_generate.generate_range(dt.date(2026, 3, 21), dt.date(2026, 3, 22), tmp_path, params=dbn_generate.TINY) == []
    assert not list(tmp_path.iterdir())


def test_realistic_density_day(realistic_day: GeneratedDay) -> None:
    """One full-size day: over 10,000 SPX/SPXW instruments, sparse records (the issue's bar)."""
    day = realistic_day
    definitions, quotes = _decode(day)
    stamps = 405
    assert 10_000 < day.instrument_count < 16_000
    assert len(set(definitions["expiration"].tolist())) >= 40  # dailies for two months + monthlies
    assert 0.3 < day.record_count / (day.instrument_count * stamps) < 0.9
    # cbbo-1m 80 B a record, definitions 520 B, four 80-byte open-interest records an instrument.
    assert day.dbn_bytes == pytest.approx(day.record_count * 80 + day.instrument_count * (520 + 4 * 80), rel=0.05)
    assert quotes.size == day.record_count
