"""Open interest end to end: generator → statistics import → ``store.open_interest`` → the OPRA
replay provider's option rows → ``DayData.open_interest``, and None / NaN for a day imported
without statistics (never 0)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from backtests.data import dbn_io, store
from backtests.data.dbn_generate import GeneratedDay
from backtests.data.dbn_import import import_files
from backtests.engine.daydata import DayData
from backtests.providers.opra_replay import OpraReplayMarket
from backtests.tests.conftest import DAY
from snapshots.analytics import chain_analytics
from snapshots.market_calendar import ET
from snapshots.providers.simulated_market import market_moment, option_book
from strategy.quant.osi import format_symbol

pytestmark = pytest.mark.django_db

SEED = 7  # dbn_generate's default seed
AT = dt.datetime(2026, 3, 18, 10, 0, tzinfo=ET)
SPXW_1DTE = dt.date(2026, 3, 19)


def _simulated_open_interest(table_roots: list[str], table_expirations: list[dt.date]) -> dict[str, int]:
    """OSI symbol → the simulated market's open interest at the session open, for those series."""
    moment = market_moment(SEED, dt.datetime(2026, 3, 18, 9, 30, tzinfo=ET))
    out: dict[str, int] = {}
    for root, expiration in set(zip(table_roots, table_expirations)):
        book = option_book(SEED, moment, root, expiration)
        for strike, is_call, oi in zip(book.strikes.tolist(), book.is_call.tolist(), book.open_interest.tolist()):
            out[format_symbol(root, expiration, is_call, strike)] = oi
    return out


def test_a_generated_days_open_interest_reaches_the_provider_and_the_engine(
    tiny_days: dict[dt.date, GeneratedDay], market_dir: Path
) -> None:
    generated = tiny_days[DAY]
    market = OpraReplayMarket(now=lambda: AT)
    import_files([generated.definition_path, generated.cbbo_path])

    # Imported without statistics: unknown, not zero.
    assert all(o["open_interest"] is None for o in market.chain("SPX", SPXW_1DTE).options)
    before = DayData(DAY)
    assert np.isnan(before.open_interest(np.arange(before.symbol.size))).all()
    with pytest.raises(FileNotFoundError, match="no statistics data imported"):
        store.open_interest(DAY)

    [result] = import_files([generated.statistics_path])
    assert (result.schema, result.record_count, result.instrument_count) == (
        "statistics", 4 * generated.instrument_count, generated.instrument_count
    )
    table = store.open_interest(DAY)
    by_symbol = dict(zip(table["symbol"].to_pylist(), table["open_interest"].to_pylist()))
    expected = _simulated_open_interest(table["root"].to_pylist(), table["expiration"].to_pylist())
    assert by_symbol == {s: expected[s] for s in by_symbol} and len(by_symbol) == generated.instrument_count
    assert set(table["report_count"].to_pylist()) == {4} and not any(table["conflicting"].to_pylist())

    # The provider: every listed option carries its figure (chain and quotes), as Tradier's ints.
    for expiration in (e.date for e in market.expirations("SPX")):
        options = market.chain("SPX", expiration).options
        assert options and all(o["open_interest"] == by_symbol[o["symbol"]] for o in options)
    symbol = next(iter(by_symbol))
    assert market.quotes([symbol]).quotes[symbol]["open_interest"] == by_symbol[symbol]
    # ... and the live analytics read it from those rows (GEX = open interest × gamma downstream).
    options = market.chain("SPXW", SPXW_1DTE).options
    analytics = chain_analytics(options, root="SPXW", expiration=SPXW_1DTE, at=AT)
    assert np.nansum(analytics.open_interest) == sum(o["open_interest"] for o in options)

    # The engine: per definition row, read only when asked.
    data = DayData(DAY)
    assert data._open_interest is None
    rows = data.chain_rows("SPXW", SPXW_1DTE)
    got = data.open_interest(rows)
    assert got.dtype == np.float64 and got.tolist() == [float(by_symbol[s]) for s in data.symbol[rows]]
    every = data.open_interest(np.arange(data.symbol.size))
    assert every.tolist() == [float(by_symbol[s]) for s in data.symbol]


def test_an_instrument_without_a_figure_is_nan_and_none(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, tmp_path: Path) -> None:
    """Statistics that cover only part of the chain: the rest stays unknown."""
    generated = tiny_days[DAY]
    recs = dbn_io.read_records(generated.statistics_path).records
    keep = recs[: 4 * 10]  # the first ten instruments, four venues each
    partial = tmp_path / "partial.statistics.dbn"
    dbn_io.write_dbn(partial, dbn_io.parent_metadata(DAY, "statistics", [], []), keep, compress=False)
    import_files([generated.definition_path, generated.cbbo_path, partial])
    covered = set(int(i) for i in keep["instrument_id"])
    assert store.open_interest(DAY).num_rows == len(covered) == 10

    data = DayData(DAY)
    oi = data.open_interest(np.arange(data.symbol.size))
    ids = store.instruments(DAY)["instrument_id"].to_pylist()
    assert [not np.isnan(v) for v in oi] == [i in covered for i in ids]
    rows = OpraReplayMarket(now=lambda: AT)._rows(DAY, AT, roots=("SPX", "SPXW"))
    assert sum(r["open_interest"] is not None for r in rows) == 10
    assert all(r["open_interest"] is None or r["open_interest"] >= 0 for r in rows)
