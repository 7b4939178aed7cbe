"""Who may read the API: every GET endpoint in the URLconf (found by walking the resolver, so a new
endpoint is covered without touching this file) answers anonymous callers 401 in the error shape,
except the seed's public list (``/api/chain-snapshots``), ``/health`` and the schema pages; a read
token, a login session (any user) and the admin key read everything; /api/admin/* keeps its key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from backtests.tests.factories import BacktestRunFactory
from execution.tests.factories import TradeFactory
from mlmodels.tests.factories import ModelVersionFactory, TrainingRequestFactory
from snapshots.api_tokens import token_create
from snapshots.models import ApiToken
from snapshots.tests.factories import ChainSnapshotFactory

pytestmark = pytest.mark.django_db

KEY = "access-test-admin-key-0123456789abcdef"
PUBLIC = {"health", "api-chain-snapshots", "api-schema", "api-docs"}
ADMIN = {"api-expirations"}  # /api/admin/*: the admin key, whatever else the caller has
QUERIES = {"ml-dataset": "?source=simulated"}  # a query the endpoint answers 200 to


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str, type[APIView]]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            cls = getattr(p.callback, "cls", None)
            if cls is not None and issubclass(cls, APIView) and hasattr(cls, "get") and p.name:
                yield p.name, prefix + str(p.pattern), cls


GET_ENDPOINTS = sorted({(name, route) for name, route, _ in _walk(get_resolver().url_patterns)})


def test_the_walk_finds_the_api() -> None:
    names = {name for name, _ in GET_ENDPOINTS}
    assert {"health", "api-trades", "api-trade-detail", "api-pnl", "api-decisions", "ml-models", "ml-training",
            "api-backtest-trades", "api-chain-snapshot-detail", "api-schema", "api-docs"} <= names
    assert len(names) >= 19


@pytest.fixture
def ids() -> dict[str, int]:
    trade = TradeFactory()
    run = BacktestRunFactory()
    mv = ModelVersionFactory()
    return {"api-chain-snapshot-detail": ChainSnapshotFactory().pk, "api-trade-detail": trade.pk,
            "api-decision-detail": trade.decision_id, "api-backtest-detail": run.pk, "api-backtest-trades": run.pk,
            "ml-model": mv.pk, "ml-training": TrainingRequestFactory(model=mv).pk,
            "api-config-history": trade.decision.strategy_config_id}


def url_of(name: str, route: str, ids: dict[str, int]) -> str:
    path = "/" + re.sub(r"<int:pk>", lambda _: str(ids[name]), route)
    assert "<" not in path, f"{name}: give its path parameters an id in the ids fixture"
    return path + QUERIES.get(name, "")


@pytest.mark.parametrize(("name", "route"), GET_ENDPOINTS, ids=[n for n, _ in GET_ENDPOINTS])
def test_anonymous_reads_are_401_except_the_public_ones(settings: Any, ids: dict[str, int], name: str,
                                                        route: str) -> None:
    settings.ADMIN_API_KEY = KEY
    response = APIClient().get(url_of(name, route, ids))
    if name in PUBLIC:
        assert response.status_code == 200, response.content[:300]
        return
    assert response.status_code == 401, (name, response.status_code)
    body = json.loads(response.content)
    assert set(body) == {"error", "fields"} and body["fields"] == {}
    expected = "missing or wrong X-API-Key" if name in ADMIN else "reads need a login, an API token"
    assert body["error"].startswith(expected), body
    assert response["WWW-Authenticate"]  # 401, not 403: the client is told how to authenticate


def _reader_clients(settings: Any) -> dict[str, Any]:
    user = get_user_model().objects.create_user("reader", password="pw-for-tests-only")
    _, key = token_create(user=user, scope=ApiToken.Scope.READ)
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    session = Client()
    session.force_login(user)  # any user: not staff
    admin_key = APIClient()
    admin_key.credentials(HTTP_X_API_KEY=KEY)
    return {"read token": token, "session": session, "admin key": admin_key}


@pytest.mark.parametrize(("name", "route"), GET_ENDPOINTS, ids=[n for n, _ in GET_ENDPOINTS])
def test_a_read_token_a_session_and_the_admin_key_read_everything(settings: Any, ids: dict[str, int], name: str,
                                                                  route: str) -> None:
    settings.ADMIN_API_KEY = KEY
    settings.MARKET_DATA_PROVIDER = "simulated"
    for who, client in _reader_clients(settings).items():
        response = client.get(url_of(name, route, ids))
        if name in ADMIN and who != "admin key":
            assert response.status_code == 401, (who, name)  # the admin contract: only the key opens it
        else:
            assert response.status_code == 200, (who, name, response.content[:300])


def test_the_chain_snapshot_detail_is_not_public(settings: Any) -> None:
    """The seed made the list public; the detail (our analytics on a snapshot) came later and needs credentials."""
    settings.ADMIN_API_KEY = ""
    snapshot = ChainSnapshotFactory()
    assert APIClient().get("/api/chain-snapshots").json()["items"][0]["snapshot_id"] == snapshot.pk
    assert APIClient().get(f"/api/chain-snapshots/{snapshot.pk}").status_code == 401


def test_a_logged_out_session_reads_nothing(settings: Any) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_user("leaver", password="pw-for-tests-only"))
    assert client.get("/api/trades").status_code == 200
    client.logout()
    assert client.get("/api/trades").status_code == 401
