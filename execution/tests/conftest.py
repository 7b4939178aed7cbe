"""Fixtures for the broker tests: the fake Tradier order server on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from execution.tests.fake_tradier_orders import FakeTradierOrders


@pytest.fixture
def fake_orders(tradier_fixtures: Path) -> Iterator[FakeTradierOrders]:
    # A fresh random token per test, so a leak check cannot pass by accident on a constant.
    server = FakeTradierOrders(tradier_fixtures, token=f"fake-token-{secrets.token_hex(16)}")
    server.start()
    try:
        yield server
    finally:
        server.stop()
