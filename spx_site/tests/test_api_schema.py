"""The OpenAPI schema: valid with no warnings (every endpoint has request/response serializers), the docs
page served from vendored assets (no CDN), and schemathesis against the live app: no 5xx, every response
matches its documented schema (the error shape included)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from rest_framework.test import APIClient

from backtests.tests.factories import BacktestRunFactory
from execution.tests.factories import OrderFactory, PositionMarkFactory, TradeFactory
from snapshots.api_tokens import token_create
from snapshots.models import ApiToken
from snapshots.tests.factories import ChainSnapshotFactory

KEY = "schema-test-admin-key-0123456789abcdef"


@pytest.mark.django_db
def test_the_schema_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))  # raises on any warning
    text = out.read_text()
    assert "unable to guess" not in text and "/api/backtests/{id}/cancel" in text
    assert "apiToken" in text and "adminApiKey" in text


@pytest.mark.django_db
def test_api_docs_are_served_from_vendored_assets() -> None:
    html = APIClient().get("/api/docs").content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


# ---------------------------------------------------------------------------------- schemathesis


# Loaded at collection from the app itself (no server, no DB: the schema view reads none). The lazy
# ``schemathesis.pytest.from_fixture`` loader does not run under pytest 9 (it sets ``Function._nodeid``),
# and ``schema.parametrize()`` gives every operation the same node id, which pytest-xdist's
# ``--dist loadgroup`` runs once: one test per operation, with the operation in its id, instead.
schema = schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application())
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def factory_data(db: None, settings: Any) -> Iterator[dict[str, str]]:
    """A few rows for the read endpoints, and the headers of a read-only token: reads need
    credentials, and with it writes answer their documented 403 instead of launching work. The
    admin key is set, so /api/admin/* answers its documented 401. As Django's test client does, the
    WSGI handler must not close the test transaction's connection after each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    settings.ADMIN_API_KEY = KEY
    settings.MARKET_DATA_PROVIDER = "simulated"
    ChainSnapshotFactory(ts=dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC))
    BacktestRunFactory()
    BacktestRunFactory(running=True)
    opened = TradeFactory()
    OrderFactory(trade=opened)
    PositionMarkFactory(trade=opened)
    TradeFactory(closed=True)
    _, key = token_create(user=get_user_model().objects.create_user("schemathesis"), scope=ApiToken.Scope.READ)
    try:
        yield {"Authorization": f"Token {key}"}
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_operation_of_the_schema_is_a_test_of_its_own() -> None:
    ids = [op.label for op in OPERATIONS]
    assert len(ids) == len(set(ids)) >= 25 and "GET /api/trades" in ids and "POST /api/backtests/sweeps" in ids


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_api_conforms_to_its_schema(operation: Any, factory_data: dict[str, str]) -> None:
    @hypothesis_settings(max_examples=15, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        case.call_and_validate(headers=factory_data, checks=[not_a_server_error, response_schema_conformance])

    check()
