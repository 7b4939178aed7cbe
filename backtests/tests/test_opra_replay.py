"""The OPRA replay provider: the imported Parquet store served like Tradier at an instant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from backtests.data import dbn_generate, store
from backtests.data.dbn_import import import_files
from backtests.providers.opra_replay import OpraReplayMarket, _option_row
from snapshots.analytics import chain_analytics
from snapshots.market_calendar import ET
from snapshots.models import CaptureFailure, ChainSnapshot, ContextSnapshot
from snapshots.providers.base import ProviderUnavailable
from snapshots.providers.simulated import SimulatedMarket
from snapshots.services import provider_get, settlement_value_get, snapshot_capture

pytestmark = pytest.mark.django_db

SEED = 7  # dbn_generate's default seed
DAY = dt.date(2026, 3, 18)  # Wednesday: SPXW 3/18, 3/19, 3/20 and the SPX AM monthly 3/20 listed
AT = dt.datetime(2026, 3, 18, 10, 0, tzinfo=ET)
SPXW_0DTE, SPXW_1DTE, MONTHLY = DAY, dt.date(2026, 3, 19), dt.date(2026, 3, 20)


@pytest.fixture(scope="module")
def market_root(tmp_path_factory: pytest.TempPathFactory, django_db_setup, django_db_blocker) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """One tiny generated day imported into a throwaway store (the import writes manifest rows)."""
    from backtests.models import ImportedDay

    root = tmp_path_factory.mktemp("opra-replay")
    day = dbn_generate.generate_day(DAY, root / "dbn", seed=SEED, params=dbn_generate.TINY)
    with django_db_blocker.unblock():
        import_files([day.definition_path, day.cbbo_path], root_dir=root / "market-data")
    yield root / "market-data"
    with django_db_blocker.unblock():
        ImportedDay.objects.filter(date=DAY).delete()


@pytest.fixture(autouse=True)
def replay_settings(settings, market_root: Path):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_DIR = market_root
    settings.MARKET_DATA_PROVIDER = "opra-replay"
    settings.SNAPSHOT_UNDERLYING = "SPX"
    settings.SNAPSHOT_DTE_TARGETS = [0, 1, 2]
    settings.SNAPSHOT_DTE_TOLERANCE_DAYS = 0
    settings.SNAPSHOT_INTERVAL_MINUTES = 5
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    return settings


def market(at: dt.datetime) -> OpraReplayMarket:
    return OpraReplayMarket(now=lambda: at)


def spx_at(at: dt.datetime) -> float:
    return SimulatedMarket(seed=SEED).index_level(at)


def test_expirations_are_the_days_definitions() -> None:
    listed = store.instruments(DAY)
    by_date: dict[dt.date, set[float]] = {}
    for expiration, strike in zip(listed["expiration"].to_pylist(), listed["strike"].to_pylist()):
        by_date.setdefault(expiration, set()).add(strike)
    got = market(AT).expirations("SPX", strikes=True)
    assert [e.date for e in got] == sorted(by_date) == [SPXW_0DTE, SPXW_1DTE, MONTHLY]
    assert [e.expiration_type for e in got] == ["weeklys", "weeklys", "standard"]
    assert all(e.strikes == tuple(sorted(by_date[e.date])) and e.contract_size == 100 for e in got)
    assert [e.date for e in market(AT).expirations("SPX", include_all_roots=False)] == [MONTHLY]
    assert [e.strikes for e in market(AT).expirations("SPXW")] == [None] * 3
    assert market(AT).expirations("AAPL") == []


def test_chain_is_the_store_at_that_minute() -> None:
    chain = market(AT).chain("SPX", MONTHLY)
    table = store.quotes_at(DAY, AT, expirations=[MONTHLY]).to_pylist()
    assert chain.received_at == AT and chain.underlying == "SPX"
    assert {o["symbol"] for o in chain.options} == {r["symbol"] for r in table}
    assert {o["root_symbol"] for o in chain.options} == {"SPX", "SPXW"}
    by_symbol = {o["symbol"]: o for o in chain.options}
    for row in table:
        option = by_symbol[row["symbol"]]
        assert option["bid"] == (0.0 if row["bid_px"] is None else row["bid_px"])
        assert option["ask"] == row["ask_px"] and option["last"] == row["last_px"]
        assert option["strike"] == row["strike"] and option["option_type"] == ("call" if row["right"] == "C" else "put")
        assert option["expiration_type"] == ("standard" if row["root"] == "SPX" else "weeklys")
        assert option["greeks"] is None and option["open_interest"] is None and option["contract_size"] == 100
    assert chain.payload == {"options": {"option": chain.payload["options"]["option"]}}
    assert market(AT).chain("SPXW", MONTHLY).options == [o for o in chain.options if o["root_symbol"] == "SPXW"]


def test_null_sides_and_instruments_not_quoted_yet() -> None:
    inst = {"symbol": "SPXW260318P06000000", "root": "SPXW", "expiration": DAY, "right": "P", "strike": 6000.0}
    quote = {"bid_px": None, "ask_px": 0.05, "bid_sz": 0, "ask_sz": 10, "last_px": None, "ts_recv": AT}
    assert (_option_row(inst, quote)["bid"], _option_row(inst, quote)["ask"]) == (0.0, 0.05)  # no bid: Tradier's 0
    no_ask = _option_row(inst, {**quote, "bid_px": 1.2, "ask_px": None})
    assert (no_ask["bid"], no_ask["ask"]) == (1.2, None)
    unquoted = _option_row(inst, None)
    assert (unquoted["bid"], unquoted["ask"], unquoted["last"]) == (None, None, None)
    # Before the day's first stamp (09:30, the opening book) every instrument is listed, none quoted.
    early = market(dt.datetime(2026, 3, 18, 9, 29, tzinfo=ET)).chain("SPX", SPXW_1DTE)
    assert len(early.options) == store.instruments(DAY, expirations=[SPXW_1DTE]).num_rows > 0
    assert all(o["bid"] is None and o["ask"] is None for o in early.options)


def test_a_quote_without_a_record_this_minute_is_carried_forward() -> None:
    # The tiny universe is near the money, so only a few instruments skip a given minute.
    stale = [r for r in store.quotes_at(DAY, AT).to_pylist() if r["ts_recv"] < AT]
    assert stale, "every instrument changed at 10:00; pick another minute"
    for row in stale:
        symbol = row["symbol"]
        assert store.quotes(DAY, start=AT, end=AT, symbols=[symbol]).num_rows == 0
        previous = store.quotes(DAY, end=AT, symbols=[symbol]).to_pylist()[-1]
        option = {o["symbol"]: o for o in market(AT).chain("SPX", row["expiration"]).options}[symbol]
        assert (option["bid"], option["ask"]) == (previous["bid_px"] or 0.0, previous["ask_px"])
        assert option["bid_date"] == int(previous["ts_recv"].timestamp() * 1000)


def test_chain_analytics_fit_the_forward_of_the_generated_index() -> None:
    chain = market(AT).chain("SPX", SPXW_1DTE)
    analytics = chain_analytics(chain.options, root="SPXW", expiration=SPXW_1DTE, at=AT)
    assert analytics.fit.ok
    assert analytics.fit.forward == pytest.approx(spx_at(AT), abs=3.0)


def test_index_quote_is_implied_and_vix_is_unmatched() -> None:
    symbol = market(AT).chain("SPXW", SPXW_0DTE).options[0]["symbol"]
    quotes = market(AT).quotes(["SPX", "VIX", "VIX9D", symbol])
    spx = quotes.quotes["SPX"]
    assert spx["type"] == "index" and "implied" in spx["description"]
    assert spx["last"] == pytest.approx(spx_at(AT), abs=3.0)
    assert quotes.quotes[symbol]["bid"] == market(AT).chain("SPXW", SPXW_0DTE).options[0]["bid"]
    assert quotes.unmatched == ("VIX", "VIX9D")


def test_clock_and_calendar_follow_the_trading_calendar() -> None:
    assert market(AT).clock().state == "open"
    days = {d.date: d.status for d in market(AT).calendar(3, 2026)}
    assert days[DAY] == "open" and days[dt.date(2026, 3, 21)] == "closed"


def test_capture_stores_checksummed_opra_replay_snapshots() -> None:
    result = snapshot_capture(now=AT)
    assert result.provider == "opra-replay" and not result.skipped
    assert {r["expiration"] for r in result.inserted} == {d.isoformat() for d in (SPXW_0DTE, SPXW_1DTE, MONTHLY)}
    rows = ChainSnapshot.objects.filter(purpose=ChainSnapshot.Purpose.TARGET)
    assert rows.count() == 3
    for row in rows:
        assert row.provider == "opra-replay" and row.verify_checksum()
        assert row.option_count == store.instruments(DAY, expirations=[row.expiration]).num_rows
        assert row.payload == market(AT).chain("SPX", row.expiration).payload
    # The tiny day lists no 9- or 30-day terms, and OPRA has no VIX: recorded, not fatal.
    assert {f["stage"] for f in result.failures} == {CaptureFailure.Stage.CONTEXT}
    context = ContextSnapshot.objects.get()
    assert context.provider == "opra-replay"
    assert float(context.spx_price) == pytest.approx(spx_at(AT), abs=3.0)


def test_settlement_is_the_implied_close() -> None:
    after = dt.datetime(2026, 3, 18, 16, 30, tzinfo=ET)
    assert market(dt.datetime(2026, 3, 18, 15, 59, tzinfo=ET)).settlement(SPXW_0DTE, "SPXW") is None
    value, source = market(after).settlement(SPXW_0DTE, "SPXW")  # type: ignore[misc]
    true = SimulatedMarket(seed=SEED, now=lambda: after).settlement_value(SPXW_0DTE, "SPXW")
    assert true is not None and value == pytest.approx(true, abs=0.10)
    # From the expiring chain itself, never from a later expiration while it has quotes.
    assert source.startswith("OPRA SPXW 2026-03-18 parity at expiry, 16:00 ET, ")
    assert settlement_value_get(SPXW_0DTE, "SPXW") == (value, source)  # the wall clock is past that close


def test_a_day_not_imported_is_unavailable() -> None:
    later = dt.datetime(2026, 3, 19, 10, 0, tzinfo=ET)
    with pytest.raises(ProviderUnavailable, match=r"2026-03-19.*databento_import.*dbn_generate"):
        market(later).chain("SPX", SPXW_1DTE)
    with pytest.raises(ProviderUnavailable, match="2026-03-20"):  # the AM monthly settles on a day not imported
        market(dt.datetime(2026, 3, 20, 12, 0, tzinfo=ET)).settlement(MONTHLY, "SPX")


def test_provider_get_pins_the_replay_to_the_capture_time() -> None:
    provider = provider_get(now=AT)
    assert isinstance(provider, OpraReplayMarket) and provider.name == "opra-replay"
    assert provider.chain("SPX", SPXW_1DTE).received_at == AT
