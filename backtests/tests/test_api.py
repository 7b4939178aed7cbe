"""Backtest API: list, launch (admin key, idempotent on its key), one run, cancel, a run's trades.

Bad input is a 400 with JSON {"error", "fields"}; the launch test replays the two tiny generated
days for real, so the trades endpoint serves rows the engine wrote.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from backtests.data.dbn_import import import_files
from backtests.models import BacktestRun
from backtests.tests.conftest import DAY, NEXT_DAY
from backtests.tests.factories import BacktestRunFactory, backtest_trade
from snapshots.tests.factories import read_token_client
from execution.models import Trade
from strategy.models import StrategyConfig

pytestmark = pytest.mark.django_db
KEY = "s3cret-admin-key"


@pytest.fixture
def api(settings) -> APIClient:  # type: ignore[no-untyped-def]
    """Anonymous, with the admin key set (``admin_api`` sends it)."""
    settings.ADMIN_API_KEY = KEY
    return APIClient()


@pytest.fixture
def reader(api: APIClient) -> APIClient:
    """A read-only token (API reads need credentials)."""
    return read_token_client()


@pytest.fixture
def admin_api(api: APIClient) -> APIClient:
    api.credentials(HTTP_X_API_KEY=KEY)
    return api


@pytest.fixture
def imported(tiny_days: dict[dt.date, Any], market_dir: Path) -> None:
    import_files([p for day in tiny_days.values() for p in (day.definition_path, day.cbbo_path)])


def body(**overrides: Any) -> dict[str, Any]:
    return {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat(), "configs": ["3DTE call 10d", "3DTE put 10d"],
            "windows": ["10:00", "11:00"], "risk_scope": "per_strategy", "exit_check_minutes": 1, "chunk_days": 1,
            "name": "api tiny", **overrides}


def test_launch_and_cancel_need_credentials(api: APIClient) -> None:
    run = BacktestRunFactory(running=True)
    for headers in ({}, {"HTTP_X_API_KEY": "wrong"}):
        launch = api.post("/api/backtests", body(), format="json", **headers)
        assert launch.status_code == 401 and launch.json()["error"].startswith("writes need an operator token")
        assert api.post(f"/api/backtests/{run.pk}/cancel", **headers).status_code == 401
    assert BacktestRun.objects.count() == 1
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING
    assert api.get("/api/backtests").status_code == 401  # reads need credentials too
    reader = read_token_client()
    assert KEY not in reader.get("/api/backtests").content.decode()  # a read token reads, and the key is never echoed
    assert reader.get("/api/backtests").status_code == 200 and reader.get(f"/api/backtests/{run.pk}").status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start": None}, "start"),
        ({"start": "soon"}, "start"),
        ({"end": "2026-03-01"}, "end"),
        ({"windows": ["09:30"]}, "windows"),
        ({"windows": []}, "windows"),
        ({"configs": ["3DTE put 10d", "no such config"]}, "configs"),
        ({"configs": []}, "configs"),
        ({"risk_scope": "yolo"}, "risk_scope"),
        ({"exit_check_minutes": 0}, "exit_check_minutes"),
        ({"chunk_days": 0}, "chunk_days"),
        ({"idempotency_key": "x" * 81}, "idempotency_key"),
    ],
)
def test_bad_launch_input_is_400_with_fields(admin_api: APIClient, overrides: dict[str, Any], field: str) -> None:
    data = {k: v for k, v in body(**overrides).items() if v is not None}
    response = admin_api.post("/api/backtests", data, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["error"] == "invalid body" and field in payload["fields"], payload
    assert BacktestRun.objects.count() == 0


def test_unknown_config_names_the_reference(admin_api: APIClient) -> None:
    response = admin_api.post("/api/backtests", body(configs=["3DTE put 10d", "nope", 999]), format="json")
    assert response.json()["fields"]["configs"] == ["unknown strategy config(s): nope, 999"]


def test_missing_data_is_400_with_the_message(admin_api: APIClient) -> None:
    response = admin_api.post("/api/backtests", body(start="2026-05-04", end="2026-05-05"), format="json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("2 of 2 trading days have no imported OPRA data: 2026-05-04, 2026-05-05")
    assert BacktestRun.objects.count() == 0


def test_launch_is_idempotent_on_its_key(admin_api: APIClient, imported: None, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True) as queued:  # the chunk tasks run after commit (eager)
        first = admin_api.post("/api/backtests", body(), format="json", HTTP_IDEMPOTENCY_KEY="launch-1")
    assert first.status_code == 201, first.content
    created = first.json()
    assert created["status"] == "pending" and created["idempotency_key"] == "launch-1" and len(queued) == 2
    assert created["days_total"] == 2 and created["chunks_total"] == 2 and created["strategies"] == 4
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.DONE  # the queued chunks ran and the last one assembled the run

    with django_capture_on_commit_callbacks(execute=True) as queued:
        again = admin_api.post("/api/backtests", body(), format="json", HTTP_IDEMPOTENCY_KEY="launch-1")
    assert again.status_code == 200 and again.json()["id"] == run.pk and again.json()["status"] == "done"
    assert queued == [] and BacktestRun.objects.count() == 1  # nothing relaunched
    # The key can come in the body too.
    same = admin_api.post("/api/backtests", body(idempotency_key="launch-1"), format="json")
    assert same.status_code == 200 and same.json()["id"] == run.pk

    for changed in (body(windows=["10:00"]), body(exit_check_minutes=5), body(name="renamed")):
        conflict = admin_api.post("/api/backtests", changed, format="json", HTTP_IDEMPOTENCY_KEY="launch-1")
        assert conflict.status_code == 409 and "launch-1" in conflict.json()["error"]
    clash = admin_api.post("/api/backtests", body(idempotency_key="other"), format="json", HTTP_IDEMPOTENCY_KEY="launch-1")
    assert clash.status_code == 400 and "idempotency_key" in clash.json()["fields"]
    assert BacktestRun.objects.count() == 1

    # Without a key every launch is a new run; without configs it takes every config.
    with django_capture_on_commit_callbacks(execute=False):
        no_configs = {k: v for k, v in body(windows=["12:00"]).items() if k != "configs"}
        every = admin_api.post("/api/backtests", no_configs, format="json")
    assert every.status_code == 201 and every.json()["strategies"] == StrategyConfig.objects.count() == 12


def test_run_status_metrics_and_trades(admin_api: APIClient, imported: None, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run_id = admin_api.post("/api/backtests", body(), format="json").json()["id"]
    run = BacktestRun.objects.get(pk=run_id)
    detail = admin_api.get(f"/api/backtests/{run_id}").json()
    assert detail["status"] == "done" and detail["progress_pct"] == 100.0 and detail["days_done"] == 2
    assert detail["params"] == run.params and detail["params_sha256"] == run.params_sha256
    assert detail["data_sha256"] == run.data_sha256 and detail["code_version"] == run.code_version
    assert detail["data_days"] == 2 and [c["status"] for c in detail["chunks"]] == ["done", "done"]
    assert set(detail["metrics"]) == {"summary", "decisions", "trade_decisions", "open_trades", "buckets", "trades_total",
                                     "open_at_end_mtm_usd", "open_at_end_unmarked"}
    assert detail["metrics"]["summary"] == run.metrics["summary"] == detail["summary"]
    with_equity = admin_api.get(f"/api/backtests/{run_id}?equity=1").json()
    assert with_equity["metrics"]["equity"] == run.metrics["equity"] and len(run.metrics["equity"]) == 2
    assert admin_api.get(f"/api/backtests/{run_id}?equity=maybe").status_code == 400

    trades = Trade.objects.filter(backtest_run=run).order_by("-opened_at", "-pk")
    assert trades.exists()
    page = admin_api.get(f"/api/backtests/{run_id}/trades").json()
    assert page["run"] == run_id and page["count"] == trades.count()
    assert [t["id"] for t in page["items"]] == [t.pk for t in trades]
    item = page["items"][0]
    assert item["backtest_run_id"] == run_id and item["source"] == "backtest" and item["entry_window"] in ("10:00", "11:00")
    assert item["realized_pnl_usd"] == str(trades[0].realized_pnl_usd)
    one = admin_api.get(f"/api/backtests/{run_id}/trades?limit=1&offset=1").json()
    assert [t["id"] for t in one["items"]] == [t.pk for t in trades][1:2] and one["count"] == trades.count()
    bad = admin_api.get(f"/api/backtests/{run_id}/trades?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()["fields"]


def test_list_is_paginated_and_filtered(reader: APIClient) -> None:
    api = reader
    done = BacktestRunFactory(done=True)
    running = BacktestRunFactory(running=True, chunks__days_done=[2, 0])
    listing = api.get("/api/backtests").json()
    assert listing["count"] == 2 and [r["id"] for r in listing["items"]] == [running.pk, done.pk]
    r, d = listing["items"]
    assert r["status"] == "running" and r["progress_pct"] == 40.0 and r["days_done"] == 2 and r["summary"] is None
    assert d["summary"]["total_pnl_usd"] == 177.0 and d["summary"]["trades"] == 5 and d["strategies"] == 4
    assert "metrics" not in d and "params" not in d  # the list stays light
    assert [r["id"] for r in api.get("/api/backtests?limit=1&offset=1").json()["items"]] == [done.pk]
    assert [r["id"] for r in api.get("/api/backtests?status=done").json()["items"]] == [done.pk]
    for query in ("limit=0", "limit=501", "offset=-1", "status=finished"):
        response = api.get(f"/api/backtests?{query}")
        assert response.status_code == 400 and response.json()["error"] == "invalid query", query


def test_detail_of_a_factory_run_hides_the_equity_by_default(reader: APIClient) -> None:
    api = reader
    run = BacktestRunFactory(done=True)
    backtest_trade(run, day=dt.date(2026, 3, 16))
    detail = api.get(f"/api/backtests/{run.pk}").json()
    assert "equity" not in detail["metrics"] and detail["metrics"]["buckets"][0]["bucket"] == "3d 0.10Δ 10:00 put"
    assert len(api.get(f"/api/backtests/{run.pk}?equity=true").json()["metrics"]["equity"]) == 5
    assert api.get(f"/api/backtests/{run.pk}/trades").json()["count"] == 1


def test_cancel(admin_api: APIClient) -> None:
    running = BacktestRunFactory(running=True)
    response = admin_api.post(f"/api/backtests/{running.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    running.refresh_from_db()
    assert running.status == BacktestRun.Status.CANCELLED and running.finished_at is not None
    assert admin_api.post(f"/api/backtests/{running.pk}/cancel").status_code == 200  # again: still cancelled
    done = BacktestRunFactory(done=True)
    conflict = admin_api.post(f"/api/backtests/{done.pk}/cancel")
    assert conflict.status_code == 409 and conflict.json()["error"] == f"run {done.pk} already ended: done"
    done.refresh_from_db()
    assert done.status == BacktestRun.Status.DONE


def test_unknown_runs_are_404(admin_api: APIClient) -> None:
    for response in (admin_api.get("/api/backtests/999999"), admin_api.get("/api/backtests/999999/trades"),
                     admin_api.post("/api/backtests/999999/cancel")):
        assert response.status_code == 404 and response.json() == {"error": "not found", "fields": {}}


def test_openapi_schema_lists_the_backtest_endpoints(api: APIClient) -> None:
    response = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/backtests", "/api/backtests/{id}", "/api/backtests/{id}/cancel", "/api/backtests/{id}/trades"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/backtests"])
    headers = [p["name"] for p in paths["/api/backtests"]["post"]["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
