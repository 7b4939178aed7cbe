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
