"""Fixtures for the data-layer tests: the real OPRA samples, a throwaway market-data root, and
small generated DBN days (made once per session: generation is the slow part)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from backtests.data import dbn_generate
from backtests.tests.fake_databento import FakeHistorical

# A Wednesday and Thursday with a monthly SPX expiration within the tiny universe's horizon nearby.
DAY = dt.date(2026, 3, 18)
NEXT_DAY = dt.date(2026, 3, 19)


@pytest.fixture(scope="session")
def opra_samples(shared_dir: Path) -> Path:
    """Databento's real OPRA.PILLAR sample files (one AAPL call, 2025-02-20), DBN v3."""
    return shared_dir / "fixtures" / "databento"


@pytest.fixture
def market_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """An empty market-data root, set as settings.MARKET_DATA_DIR for the test."""
    root = tmp_path / "market-data"
    settings.MARKET_DATA_DIR = root
    return root


@pytest.fixture(scope="session")
def tiny_days(tmp_path_factory: pytest.TempPathFactory) -> dict[dt.date, dbn_generate.GeneratedDay]:
    """Two consecutive generated days with the tiny universe (a few dozen instruments each)."""
    out = tmp_path_factory.mktemp("tiny-dbn")
    return {day: dbn_generate.generate_day(day, out, params=dbn_generate.TINY) for day in (DAY, NEXT_DAY)}


@pytest.fixture(scope="session")
def realistic_day(tmp_path_factory: pytest.TempPathFactory) -> dbn_generate.GeneratedDay:
    """One full-size generated day (~13,000 instruments, ~3 M records), plain .dbn to skip zstd."""
    return dbn_generate.generate_day(DAY, tmp_path_factory.mktemp("realistic-dbn"), compress=False)


@pytest.fixture
def fake_databento() -> Iterator[FakeHistorical]:
    client = FakeHistorical()
    try:
        yield client
    finally:
        client.close()


# Enough of the chain to trade 3/5/7-DTE 10/20-delta spreads 25 points wide (~1,400 instruments a
# day, ~0.5 M records, ~1 s to generate), for the engine and parity tests.
COMPACT = dbn_generate.UniverseParams(horizon_days=10, core_sigmas=1.5, core_min=0.015, core_max=0.03,
                                      tail_sigmas=2.0, tail_min=0.02, tail_max=0.04)
COMPACT_DAYS = (dt.date(2026, 3, 16), dt.date(2026, 3, 17), dt.date(2026, 3, 18))


def _compact_files(days: tuple[dt.date, ...], out: Path) -> list[Path]:
    files: list[Path] = []
    for day in days:
        g = dbn_generate.generate_day(day, out, params=COMPACT, compress=False)
        files += list(g.paths)  # definitions, quotes and open interest
    return files


@pytest.fixture(scope="session")
def compact_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three consecutive generated trading days (Mon–Wed) of the compact universe, plain .dbn."""
    return _compact_files(COMPACT_DAYS, tmp_path_factory.mktemp("compact-dbn"))


# Thanksgiving week 2026: 3 and 5 DTE both resolve to Friday 11-27 (an early close: SPXW settles
# at 13:00), the holiday on Thursday, and trades that expire inside the replayed days.
HOLIDAY_DAYS = (dt.date(2026, 11, 23), dt.date(2026, 11, 24), dt.date(2026, 11, 25), dt.date(2026, 11, 27))


@pytest.fixture(scope="session")
def holiday_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The Thanksgiving-week trading days of the compact universe, plain .dbn."""
    return _compact_files(HOLIDAY_DAYS, tmp_path_factory.mktemp("holiday-dbn"))


@pytest.fixture
def compact_market(market_dir: Path, compact_files: list[Path], seeded_grid: list) -> Path:
    """The compact days imported into this test's market-data root (manifest rows included)."""
    from backtests.data.dbn_import import import_files

    import_files(compact_files, root_dir=market_dir, workers=1)
    return market_dir


@pytest.fixture
def seeded_grid(db) -> list:  # type: ignore[no-untyped-def]
    """The 12 seeded strategy configs (3/5/7 DTE × 0.10/0.20 delta × put/call), as migration 0002
    makes them: transactional tests flush the database, seed rows included, so tests that need
    them say so."""
    from decimal import Decimal

    from strategy.tests.factories import StrategyConfigFactory

    return [
        StrategyConfigFactory(name=f"{dte}DTE {side.split('_')[0]} {int(Decimal(delta) * 100)}d", side=side,
                              target_dte=dte, short_delta_target=Decimal(delta), min_credit=Decimal("0.50"))
        for dte in (3, 5, 7) for delta in ("0.10", "0.20") for side in ("put_credit", "call_credit")
    ]
