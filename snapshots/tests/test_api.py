"""The API keeps the original contracts; bad input is a 400 with JSON, provider trouble a 502."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from snapshots.models import ChainSnapshot
from snapshots.tests.factories import ChainSnapshotFactory, read_token_client

pytestmark = pytest.mark.django_db


def targets():  # type: ignore[no-untyped-def]
    """The DTE-target snapshots (a capture also stores the VIX terms' chains)."""
    return ChainSnapshot.objects.filter(purpose=ChainSnapshot.Purpose.TARGET)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def sim(settings):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.ADMIN_API_KEY = ""
    return settings


def test_health(api: APIClient) -> None:
    response = api.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_chain_snapshots_contract_and_order(api: APIClient) -> None:
    old = ChainSnapshotFactory(ts=dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC))
    new = ChainSnapshotFactory(ts=dt.datetime(2026, 11, 20, 15, 5, tzinfo=dt.UTC), target_dte=5)
    body = api.get("/api/chain-snapshots?limit=50").json()
    assert [i["snapshot_id"] for i in body["items"]] == [new.pk, old.pk]
    item = body["items"][0]
    assert {"snapshot_id", "ts", "underlying", "target_dte", "expiration", "checksum"} <= set(item)
    assert item["checksum"] == new.checksum and item["expiration"] == "2026-11-23"
    assert item["ts"].startswith("2026-11-20T")
    assert len(api.get("/api/chain-snapshots?limit=1").json()["items"]) == 1


@pytest.mark.parametrize("limit", ["0", "-3", "abc", "501", "1.5"])
def test_chain_snapshots_bad_limit_is_400_json(api: APIClient, limit: str) -> None:
    response = api.get(f"/api/chain-snapshots?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.json()["fields"]


def test_run_snapshot_returns_inserted(api: APIClient, sim) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/admin/run-snapshot", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["skipped"] is False and "now_et" in body
    assert len(body["inserted"]) == targets().count() > 0
    assert set(body["inserted"][0]) == {"target_dte", "expiration", "actual_dte_days", "checksum"}


def test_admin_endpoints_require_key_when_set(api: APIClient, sim) -> None:  # type: ignore[no-untyped-def]
    sim.ADMIN_API_KEY = "s3cret-key"
    for call in (lambda **h: api.post("/api/admin/run-snapshot", **h), lambda **h: api.get("/api/admin/expirations", **h)):
        assert call().status_code == 401
        assert call(HTTP_X_API_KEY="wrong").status_code == 401
        ok = call(HTTP_X_API_KEY="s3cret-key")
        assert ok.status_code == 200
        assert "s3cret-key" not in ok.content.decode()


def test_expirations_lists_spx_and_rejects_unknown_symbol(api: APIClient, sim) -> None:  # type: ignore[no-untyped-def]
    body = api.get("/api/admin/expirations?symbol=spx").json()
    assert body["symbol"] == "SPX" and body["provider"] == "simulated"
    assert len(body["expirations"]) > 20 and body["expirations"] == sorted(body["expirations"])
    bad = api.get("/api/admin/expirations?symbol=NOPE")
    assert bad.status_code == 400 and "symbol" in bad.json()["fields"]


def test_provider_failure_is_502_with_reason(api: APIClient, settings, fake_tradier, tradier_fixtures) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "tradier"
    settings.TRADIER_BASE_URL = fake_tradier.base_url
    settings.TRADIER_ACCESS_TOKEN = fake_tradier.token
    settings.ADMIN_API_KEY = ""
    fault = (tradier_fixtures / "error_fault_access_token_expired_observed.json").read_bytes()
    fake_tradier.set_route("/v1/markets/options/expirations", fault, status=401)
    for response in (api.get("/api/admin/expirations"), api.post("/api/admin/run-snapshot", {"force": True}, format="json")):
        assert response.status_code == 502
        body = response.json()
        assert body["error"] == "provider failed" and "expired" in body["reason"].lower()
        assert fake_tradier.token not in response.content.decode()


def test_run_snapshot_bad_body_is_400(api: APIClient, sim) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/api/admin/run-snapshot", {"force": "maybe"}, format="json")
    assert response.status_code == 400 and "force" in response.json()["fields"]
    assert targets().count() == 0


def test_openapi_schema_lists_the_endpoints(api: APIClient) -> None:
    response = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/chain-snapshots", "/api/admin/run-snapshot", "/api/admin/expirations"} <= set(paths)


def test_snapshot_detail_has_our_forward_iv_and_delta(api: APIClient, sim) -> None:  # type: ignore[no-untyped-def]
    api.post("/api/admin/run-snapshot", format="json")
    snap = targets().order_by("target_dte").first()
    assert api.get(f"/api/chain-snapshots/{snap.pk}").status_code == 401  # the list is public, the detail is not
    api = read_token_client()
    body = api.get(f"/api/chain-snapshots/{snap.pk}").json()
    assert body["checksum"] == snap.checksum and body["checksum_verified"] is True
    assert body["forward"]["ok"] and 0.99 < body["forward"]["discount"] <= 1
    otm_puts = [o for o in body["root_options"] if o["option_type"] == "put" and o["delta"] and -0.5 < o["delta"] < -0.05]
    assert otm_puts and all(0 < o["iv"] < 2 and o["iv_reason"] == "ok" for o in otm_puts)
    assert api.get("/api/chain-snapshots/999999").status_code == 404


def test_context_snapshots_list(api: APIClient, sim) -> None:  # type: ignore[no-untyped-def]
    api.post("/api/admin/run-snapshot", format="json")
    api = read_token_client()
    items = api.get("/api/context-snapshots?limit=5").json()["items"]
    assert len(items) == 1
    ctx = items[0]
    assert ctx["vix30_own"] is not None and ctx["forwards"] and len(ctx["chain_snapshots"]) >= 3
    assert api.get("/api/context-snapshots?limit=0").status_code == 400
