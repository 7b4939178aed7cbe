"""Fixtures for the broker tests: the fake Tradier order server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from execution import services
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


@pytest.fixture
def market_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Pin the instant the local market check judges orders at (``services.order_gate``).

    For tests that drive the live, wall-clock paths (the Celery hand-over, an admin action, a
    command) on a replayed or hand-made past day: the orders' series expired long before the wall
    clock, so the check would refuse every one. Everything else (stamps, the brokers) keeps its clock.
    """
    def pin(at: dt.datetime) -> None:
        gate = services.order_gate
        monkeypatch.setattr(services, "order_gate", lambda legs, *, at_=at, **_: gate(legs, at=at_))

    return pin
