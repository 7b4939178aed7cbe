"""Shared pytest fixtures: where the recorded fixtures live (``../shared`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parent
SHARED_DIR = Path(os.environ.get("SPX_SHARED_DIR", REPO_DIR.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared fixtures not found at {SHARED_DIR} (set SPX_SHARED_DIR)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def tradier_fixtures(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "tradier"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs on every core (pytest-xdist, ``--dist loadgroup``). The end-to-end tests start
    Celery workers and beat on the configured broker (in CI one Redis), where a worker of one test
    would take another's tasks: they share one xdist group, so they run one after another.

    Node ids must be unique: ``--dist loadgroup`` schedules by node id, so of several tests with one
    id it runs the first and silently drops the rest (it did, for 26 schema tests)."""
    seen: dict[str, int] = {}
    for item in items:
        seen[item.nodeid] = seen.get(item.nodeid, 0) + 1
    repeated = sorted(nodeid for nodeid, n in seen.items() if n > 1)
    if repeated:
        raise pytest.UsageError(f"tests share a node id (xdist would run one of each): {', '.join(repeated[:5])}")
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("broker"))


@pytest.fixture(autouse=True)
def _own_result_folders(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Files keyed by row ids (a sweep's Parquet under ``run-<id>/``, model files) go to the test's
    own folder: parallel test processes each have a database of their own and so the same ids."""
    settings.BACKTEST_RESULTS_DIR = tmp_path / "backtest-results"
    settings.ML_MODEL_DIR = tmp_path / "models"


@pytest.fixture(autouse=True)
def _celery_eager() -> object:
    """Tasks queued by services (e.g. a TRADE's hand-over to order placement) run in-process in
    tests; the end-to-end test starts real worker processes, which this does not touch."""
    from spx_site.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def sim(settings):  # type: ignore[no-untyped-def]
    """The simulated market and broker with the spec's snapshot defaults, session hours enforced."""
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.EXECUTION_BROKER = "simulated"
    settings.SNAPSHOT_UNDERLYING = "SPX"
    settings.SNAPSHOT_DTE_TARGETS = [3, 5, 7]
    settings.SNAPSHOT_DTE_TOLERANCE_DAYS = 1
    settings.SNAPSHOT_INTERVAL_MINUTES = 5
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    settings.ADMIN_API_KEY = ""
    return settings


@pytest.fixture(autouse=True)
def _fresh_cache(settings):  # type: ignore[no-untyped-def]
    """Each test gets an empty in-memory cache: the API rate limits and login lockouts count in the
    cache, so counts never leak between tests (nor into the file cache a dev server in var/ uses)."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    cache.clear()
    yield
    cache.clear()
