"""Bounded work per launch: the span and strategy caps (``BACKTEST_MAX_SPAN_DAYS``,
``BACKTEST_MAX_STRATEGIES``) and the calendar's years are refused before any work, at every door
(service, API, page, command); two concurrent launches with one idempotency key make one run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from backtests import services
from backtests.models import BacktestChunk, BacktestRun
from backtests.services import lifecycle
from backtests.tests.conftest import DAY, NEXT_DAY
from snapshots import market_calendar
from snapshots.tests.factories import StaffUserFactory
from strategy.models import StrategyConfig
from strategy.tests.factories import StrategyConfigFactory

KEY = "limits-admin-key"
FAR = {"start": "0001-01-01", "end": "9999-12-31"}
CENTURY = {"start": "1926-01-04", "end": "2025-12-31"}


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if the calendar or the data store is read: a refusal must come first."""
    touched: list[str] = []

    def refuse(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            raise AssertionError(f"{name} was called before the limits refused the launch")
        return call

    monkeypatch.setattr(lifecycle, "trading_days", refuse("trading_days"))
    monkeypatch.setattr(lifecycle, "imported_days", refuse("imported_days"))
    monkeypatch.setattr(market_calendar, "trading_days", refuse("market_calendar.trading_days"))
    return touched


@pytest.fixture
def api(settings: Any) -> APIClient:
    settings.ADMIN_API_KEY = KEY
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=KEY)
    return client


def _configs(n: int = 2) -> list[StrategyConfig]:
    return list(StrategyConfig.objects.order_by("pk")[:n])


# --------------------------------------------------------------------------- the service


@pytest.mark.django_db
def test_the_span_cap_is_calendar_days_inclusive(settings: Any, no_work: list[str]) -> None:
    settings.BACKTEST_MAX_SPAN_DAYS = 10
    start = dt.date(2026, 3, 2)
    assert services.run_limits_errors(start=start, end=start + dt.timedelta(days=9)) == {}  # 10 days: the cap
    errors = services.run_limits_errors(start=start, end=start + dt.timedelta(days=10))
    assert list(errors) == ["end"] and "11 calendar days" in errors["end"][0] and "at most 10" in errors["end"][0]
    with pytest.raises(services.BacktestError) as refused:
        services.params_build(start=start, end=start + dt.timedelta(days=10), configs=_configs())
    assert refused.value.fields == errors and no_work == []


@pytest.mark.django_db
@pytest.mark.parametrize("risk_scope, windows, allowed", [("per_strategy", 3, 6), ("shared", 3, 2)])
def test_the_strategy_cap_counts_config_window_pairs(settings: Any, risk_scope: str, windows: int, allowed: int) -> None:
    assert services.strategy_count(configs=2, windows=windows, risk_scope=risk_scope) == allowed
    settings.BACKTEST_MAX_STRATEGIES = allowed - 1
    with pytest.raises(services.BacktestError, match=f"{allowed} strategies") as refused:
        services.params_build(start=DAY, end=NEXT_DAY, configs=_configs(), risk_scope=risk_scope,
                              windows=["10:00", "11:00", "12:00"][:windows])
    assert list(refused.value.fields) == ["configs"]
    settings.BACKTEST_MAX_STRATEGIES = allowed
    params = services.params_build(start=DAY, end=NEXT_DAY, configs=_configs(), risk_scope=risk_scope,
                                   windows=["10:00", "11:00", "12:00"][:windows])
    assert len(params["strategies"]) == allowed


@pytest.mark.django_db
@pytest.mark.parametrize("span", [FAR, CENTURY], ids=["0001-9999", "100-years"])
def test_huge_ranges_are_refused_at_once_before_any_work(span: dict[str, str], no_work: list[str]) -> None:
    start, end = dt.date.fromisoformat(span["start"]), dt.date.fromisoformat(span["end"])
    began = time.perf_counter()
    with pytest.raises(services.BacktestError, match="BACKTEST_MAX_SPAN_DAYS"):
        services.params_build(start=start, end=end, configs=_configs())
    assert time.perf_counter() - began < 0.5 and no_work == []


@pytest.mark.django_db
def test_run_create_checks_params_built_elsewhere(settings: Any, no_work: list[str]) -> None:
    params = services.params_build(start=DAY, end=NEXT_DAY, configs=_configs())
    settings.BACKTEST_MAX_STRATEGIES = 3  # the params carry 2 configs × 3 windows
    with pytest.raises(services.BacktestError, match="6 strategies"):
        services.run_create(params)
    params["end"] = "2099-12-31"
    settings.BACKTEST_MAX_STRATEGIES = 200
    with pytest.raises(services.BacktestError, match="calendar days"):
        services.run_create(params)
    assert no_work == [] and not BacktestRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("start, end, field", [
    (dt.date(1999, 12, 31), dt.date(2000, 1, 3), "start"),
    (dt.date(2099, 12, 30), dt.date(2100, 1, 4), "end"),
])
def test_dates_outside_the_calendars_years_are_refused(start: dt.date, end: dt.date, field: str,
                                                       no_work: list[str]) -> None:
    with pytest.raises(services.BacktestError, match="outside the trading calendar's years") as refused:
        services.params_build(start=start, end=end, configs=_configs())
    assert list(refused.value.fields) == [field] and no_work == []


# --------------------------------------------------------------------------- the doors


@pytest.mark.django_db
@pytest.mark.parametrize("span, field", [(FAR, "start"), (CENTURY, "end")], ids=["0001-9999", "100-years"])
def test_the_api_answers_400_with_fields(api: APIClient, span: dict[str, str], field: str, no_work: list[str]) -> None:
    began = time.perf_counter()
    response = api.post("/api/backtests", span, format="json")
    assert time.perf_counter() - began < 2.0
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["error"] == "invalid body" and field in payload["fields"]
    assert any("BACKTEST_MAX_SPAN_DAYS" in m for m in payload["fields"]["end"])
    assert no_work == [] and not BacktestRun.objects.exists()


@pytest.mark.django_db
def test_the_api_names_the_configs_when_there_are_too_many_strategies(api: APIClient, settings: Any) -> None:
    settings.BACKTEST_MAX_STRATEGIES = 3
    response = api.post("/api/backtests", {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat(),
                                           "configs": [c.name for c in _configs()]}, format="json")
    assert response.status_code == 400 and "6 strategies" in response.json()["fields"]["configs"][0]
    assert not BacktestRun.objects.exists()


@pytest.mark.django_db
def test_the_page_form_shows_field_errors(settings: Any, no_work: list[str]) -> None:
    settings.BACKTEST_MAX_STRATEGIES = 3
    client = Client()
    client.force_login(StaffUserFactory(perms=["backtests.add_backtestrun"]))
    response = client.post("/backtests/", {
        "start": "1926-01-04", "end": "2025-12-31", "configs": [c.pk for c in _configs()],
        "windows": ["10:00", "11:00"], "risk_scope": "per_strategy", "exit_check_minutes": 1})
    assert response.status_code == 200  # the form again, with its errors
    form = response.context["form"]
    assert "BACKTEST_MAX_SPAN_DAYS" in form.errors["end"][0] and "4 strategies" in form.errors["configs"][0]
    assert no_work == [] and not BacktestRun.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_without_a_traceback(no_work: list[str]) -> None:
    with pytest.raises(CommandError, match="BACKTEST_MAX_SPAN_DAYS"):
        call_command("backtest", "--start", "0001-01-01", "--end", "9999-12-31")
    assert no_work == [] and not BacktestRun.objects.exists()


# --------------------------------------------------------------------------- concurrent launches


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_launches_with_one_key_make_one_run(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both requests pass the "key unused?" look-up before either inserts (the barrier sits between the
    look-up and the insert, in the data check): the unique key lets one insert, the other gets that run."""
    settings.ADMIN_API_KEY = KEY
    StrategyConfigFactory(name="race call", side="call_credit")
    monkeypatch.setattr(lifecycle, "trading_days", lambda start, end: [DAY, NEXT_DAY])
    barrier = threading.Barrier(2, timeout=30)

    def both_checked(days: Any) -> dict[dt.date, dict[str, str]]:
        barrier.wait()  # each thread has seen no run for the key
        return {d: {"cbbo-1m": "c" * 64, "definition": "d" * 64} for d in days}

    monkeypatch.setattr(lifecycle, "imported_days", both_checked)
    monkeypatch.setattr(services, "run_launch", lambda run: None)
    body = {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat(), "configs": ["race call"], "name": "race"}
    responses: list[Any] = []
    errors: list[BaseException] = []

    def launch() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_X_API_KEY=KEY)
            responses.append(client.post("/api/backtests", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1"))
        except BaseException as exc:  # noqa: BLE001 — reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r.status_code for r in responses) == [200, 201], [r.content for r in responses]
    assert BacktestRun.objects.count() == 1 and BacktestChunk.objects.count() == 1
    run = BacktestRun.objects.get()
    assert {r.json()["id"] for r in responses} == {run.pk} and run.idempotency_key == "race-1"


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_launch_with_the_key_and_another_body_is_a_409(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.ADMIN_API_KEY = KEY
    StrategyConfigFactory(name="race put", side="put_credit")
    monkeypatch.setattr(lifecycle, "trading_days", lambda start, end: [DAY, NEXT_DAY])
    barrier = threading.Barrier(2, timeout=30)

    def both_checked(days: Any) -> dict[dt.date, dict[str, str]]:
        barrier.wait()
        return {d: {"cbbo-1m": "c" * 64, "definition": "d" * 64} for d in days}

    monkeypatch.setattr(lifecycle, "imported_days", both_checked)
    monkeypatch.setattr(services, "run_launch", lambda run: None)
    responses: list[Any] = []

    def launch(windows: list[str]) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_X_API_KEY=KEY)
            responses.append(client.post("/api/backtests", {
                "start": DAY.isoformat(), "end": NEXT_DAY.isoformat(), "configs": ["race put"], "windows": windows,
            }, format="json", HTTP_IDEMPOTENCY_KEY="race-2"))
        finally:
            connection.close()

    threads = [threading.Thread(target=launch, args=(w,)) for w in (["10:00"], ["11:00"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in responses) == [201, 409], [r.content for r in responses]
    assert BacktestRun.objects.count() == 1
