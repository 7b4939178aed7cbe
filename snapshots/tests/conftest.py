"""Fixtures for the provider tests: a fake Tradier server fed by the recorded fixtures."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshots.tests.fake_tradier import FakeTradier


@pytest.fixture
def fake_tradier(tradier_fixtures: Path) -> Iterator[FakeTradier]:
    # A fresh random token per test, so a leak check cannot pass by accident on a constant.
    server = FakeTradier(tradier_fixtures, token=f"fake-token-{secrets.token_hex(16)}").start()
    try:
        yield server
    finally:
        server.stop()
