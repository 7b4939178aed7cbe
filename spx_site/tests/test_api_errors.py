"""One JSON error shape on every /api/ path; friendly HTML 404/500 pages (with the site's navigation) elsewhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from snapshots.tests.factories import read_token_client
from spx_site.api import server_error

pytestmark = pytest.mark.django_db

KEY = "errors-test-admin-key-0123456789"


def assert_error_shape(response: Any, code: int) -> dict[str, Any]:
    assert response.status_code == code
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) >= {"error", "fields"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["fields"], dict)
    return body


@pytest.fixture
def api(settings: Any) -> APIClient:
    """A read-only token (reads need credentials); writes send the admin key."""
    settings.ADMIN_API_KEY = KEY
    return read_token_client()


@pytest.mark.parametrize("path", ["/api/trades/999999", "/api/decisions/999999", "/api/chain-snapshots/999999",
                                  "/api/backtests/999999", "/api/backtests/999999/trades", "/api/ml/models/999999",
                                  "/api/ml/trainings/999999"])
def test_unknown_ids_are_json_404(api: APIClient, path: str) -> None:
    assert assert_error_shape(api.get(path), 404)["error"] == "not found"


@pytest.mark.parametrize("path", ["/api/nope", "/api/trades/abc", "/api/trades/-1", "/api/backtests/1/nope", "/api/"])
def test_unknown_api_paths_are_json_404_not_html(api: APIClient, path: str) -> None:
    response = api.get(path)
    assert_error_shape(response, 404)
    assert b"<html" not in response.content


def test_an_id_wider_than_any_column_is_404_not_500(api: APIClient) -> None:
    assert_error_shape(api.get("/api/trades/99999999999999999999999"), 404)
    assert_error_shape(api.post("/api/backtests/99999999999999999999999/cancel", HTTP_X_API_KEY=KEY), 404)


def test_malformed_json_body_has_the_error_shape(api: APIClient) -> None:
    response = api.post("/api/backtests", data="{not json", content_type="application/json", HTTP_X_API_KEY=KEY)
    body = assert_error_shape(response, 400)
    assert body["error"].startswith("malformed request body") and "detail" not in body


def test_bad_input_keeps_the_documented_fields(api: APIClient) -> None:
    body = assert_error_shape(api.get("/api/trades?limit=0"), 400)
    assert "limit" in body["fields"]


def test_wrong_method_is_405_with_the_shape(api: APIClient) -> None:
    response = api.delete("/api/trades", HTTP_X_API_KEY=KEY)  # writes are authenticated before the method is checked
    assert_error_shape(response, 405)
    assert "GET" in response["Allow"]


def test_unsupported_media_type_has_the_shape(api: APIClient) -> None:
    response = api.post("/api/backtests", data="x", content_type="text/csv", HTTP_X_API_KEY=KEY)
    assert_error_shape(response, 415)


def test_missing_credentials_have_the_shape(api: APIClient) -> None:
    anonymous = APIClient()
    assert_error_shape(anonymous.post("/api/admin/run-snapshot", {}, format="json"), 401)
    assert_error_shape(anonymous.post("/api/backtests", {}, format="json"), 401)
    assert_error_shape(anonymous.get("/api/trades"), 401)


def test_an_unhandled_error_in_a_view_is_a_json_500(api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from execution import selectors

    def boom(**_: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "trade_list", boom)
    response = api.get("/api/trades")
    body = assert_error_shape(response, 500)
    assert "secret internals" not in response.content.decode() and body["error"] == "internal error"


def test_handler500_answers_json_under_api(rf: RequestFactory) -> None:
    assert_error_shape(server_error(rf.get("/api/trades")), 500)


def test_an_unhandled_error_on_a_page_is_the_friendly_500(django_user_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from execution import views

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "render", boom)
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_user("viewer", password="x"))
    response = client.get("/trades/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and 'href="/backtests/"' in html
    assert "Traceback" not in html and "secret internals" not in html


def test_html_404_page_extends_the_site_layout() -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    for nav in ('href="/snapshots/"', 'href="/decisions/"', 'href="/backtests/"', 'href="/api/docs"'):
        assert nav in html
    assert "Traceback" not in html


# The writes that read a body; the others (cancel, activate, retire) take none.
BODY_WRITES = ["/api/backtests", "/api/ml/models/train", "/api/admin/run-snapshot"]


def _post(api: APIClient, path: str, kind: str, value: str) -> Any:
    if kind == "json":
        return api.post(path, data=json.dumps({"name": value}), content_type="application/json", HTTP_X_API_KEY=KEY)
    if kind == "form":
        return api.post(path, data=f"name={value}", content_type="application/x-www-form-urlencoded", HTTP_X_API_KEY=KEY)
    return api.post(path, {"name": value}, format="multipart", HTTP_X_API_KEY=KEY)


@pytest.mark.parametrize("kind", ["json", "form", "multipart"])
@pytest.mark.parametrize("path", BODY_WRITES)
def test_an_oversize_body_is_a_413_and_nothing_is_stored(api: APIClient, settings: Any, path: str, kind: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from backtests.models import BacktestRun
    from mlmodels.models import TrainingRequest
    from snapshots.models import CaptureFailure, ChainSnapshot

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 2_621_440  # Django's default: the settings do not raise it
    response = _post(api, path, kind, "x" * (limit + 1))
    body = assert_error_shape(response, 413)
    assert body["error"] == f"request body too large: over {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)"
    assert "unhandled API error" not in caplog.text
    for model in (BacktestRun, TrainingRequest, ChainSnapshot, CaptureFailure):
        assert not model.objects.exists(), model.__name__


def test_a_body_under_the_limit_is_read_as_usual(api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post("/api/backtests", data=json.dumps({"start": "not a date", "name": "x" * 9_000}),
                        content_type="application/json", HTTP_X_API_KEY=KEY)
    assert "start" in assert_error_shape(response, 400)["fields"]
    assert_error_shape(_post(api, "/api/backtests", "json", "x" * 10_001), 413)


def test_a_form_with_too_many_fields_is_a_400(api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = api.post("/api/backtests", data="&".join(f"f{i}=1" for i in range(11)),
                        content_type="application/x-www-form-urlencoded", HTTP_X_API_KEY=KEY)
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in assert_error_shape(response, 400)["error"]
