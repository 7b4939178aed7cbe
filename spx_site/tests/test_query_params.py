"""Every query parameter a list page or list endpoint reads, fed bad values: never a 5xx. The API
answers 400 in the error shape naming the parameter; a page renders (200) with a message naming it
and ignores the filter; an empty value means "not given" on both. Plus the shared parser itself."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backtests.tests.factories import BacktestRunFactory
from execution.tests.factories import TradeFactory
from snapshots.params import DB_INT_MAX, ParamError, QueryParams, parse_date, parse_int
from snapshots.tests.factories import ChainSnapshotFactory, read_token_client

pytestmark = pytest.mark.django_db

BAD = ["99999999999999999999", "-1", "abc", "1e309", "2026-13-45", "²"]  # 2^63 and friends: the parser's tests
BAD_IDS = [v.replace("²", "%C2%B2") for v in BAD]  # as they travel in a URL

# (path, parameter): every parameter the list pages read (choices included: they must not 500 either).
PAGE_PARAMS = [
    ("/decisions/", "day"), ("/decisions/", "config"), ("/decisions/", "run"), ("/decisions/", "action"),
    ("/decisions/", "source"),
    ("/trades/", "config"), ("/trades/", "run"), ("/trades/", "status"), ("/trades/", "source"),
    ("/snapshots/", "dte"), ("/snapshots/", "purpose"),
    ("/backtests/compare/", "a"), ("/backtests/compare/", "b"),
    ("/", "source"),
]
PAGED = ["/decisions/", "/trades/", "/snapshots/", "/backtests/"]  # ?page= gives the nearest page, no message

# (path, parameter): every query parameter of the list endpoints.
API_PARAMS = [
    ("/api/chain-snapshots", "limit"), ("/api/chain-snapshots", "target_dte"),
    ("/api/context-snapshots", "limit"),
    ("/api/decisions", "day"), ("/api/decisions", "config"), ("/api/decisions", "limit"),
    ("/api/decisions", "action"), ("/api/decisions", "source"),
    ("/api/trades", "config"), ("/api/trades", "limit"), ("/api/trades", "status"), ("/api/trades", "source"),
    ("/api/pnl", "source"),
    ("/api/backtests", "limit"), ("/api/backtests", "offset"), ("/api/backtests", "status"),
    ("/api/backtests/{run}/trades", "limit"), ("/api/backtests/{run}/trades", "offset"),
    ("/api/ml/dataset?source=simulated", "run"), ("/api/ml/dataset?source=simulated", "start"),
    ("/api/ml/dataset?source=simulated", "end"),
]


@pytest.fixture
def rows() -> dict[str, int]:
    ChainSnapshotFactory()
    TradeFactory()
    return {"run": BacktestRunFactory(done=True).pk}


@pytest.fixture
def trader() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    return client


def _url(path: str, param: str, value: str, rows: dict[str, int]) -> str:
    path = path.format(**rows)
    return f"{path}{'&' if '?' in path else '?'}{param}={value}"


@pytest.mark.parametrize("value", BAD_IDS)
@pytest.mark.parametrize(("path", "param"), PAGE_PARAMS, ids=[f"{p}?{q}" for p, q in PAGE_PARAMS])
def test_a_bad_value_on_a_page_is_reported_not_a_500(trader: Client, rows: dict[str, int], path: str, param: str,
                                                     value: str) -> None:
    response = trader.get(_url(path, param, value, rows))
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert 'class="bad' in html and f"{param} must be" in html, html[:2000]


@pytest.mark.parametrize(("path", "param"), PAGE_PARAMS, ids=[f"{p}?{q}" for p, q in PAGE_PARAMS])
def test_an_empty_value_on_a_page_is_ignored(trader: Client, rows: dict[str, int], path: str, param: str) -> None:
    response = trader.get(_url(path, param, "", rows))
    assert response.status_code == 200 and f"{param} must be" not in response.content.decode()


@pytest.mark.parametrize("value", ["99999999999999999999", "-1", "1e309", ""])
@pytest.mark.parametrize("path", PAGED)
def test_a_bad_page_number_gives_the_nearest_page(trader: Client, rows: dict[str, int], path: str, value: str) -> None:
    assert trader.get(f"{path}?page={value}").status_code == 200


@pytest.mark.parametrize("value", BAD_IDS)
@pytest.mark.parametrize(("path", "param"), API_PARAMS, ids=[f"{p}?{q}" for p, q in API_PARAMS])
def test_a_bad_value_on_the_api_is_a_400_naming_it(rows: dict[str, int], path: str, param: str, value: str) -> None:
    response = read_token_client().get(_url(path, param, value, rows))
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = json.loads(response.content)
    assert set(body) == {"error", "fields"} and list(body["fields"]) == [param], body


@pytest.mark.parametrize(("path", "param"), API_PARAMS, ids=[f"{p}?{q}" for p, q in API_PARAMS])
def test_an_empty_value_on_the_api_is_not_given(rows: dict[str, int], path: str, param: str) -> None:
    response = read_token_client().get(_url(path, param, "", rows))
    assert response.status_code == 200, response.content[:300]


def test_the_widest_id_is_accepted_and_finds_nothing(trader: Client, rows: dict[str, int]) -> None:
    api = read_token_client()
    assert api.get(f"/api/trades?config={DB_INT_MAX}").json()["items"] == []
    assert api.get(f"/api/trades?config={DB_INT_MAX + 1}").status_code == 400
    page = trader.get(f"/trades/?config={DB_INT_MAX}")
    assert page.status_code == 200 and "config must be" not in page.content.decode()
    assert "No trades match" in page.content.decode()
    assert "No trades match" not in trader.get("/trades/").content.decode()  # the factory's trade, unfiltered


@pytest.mark.parametrize("path", ["/trades/{n}/", "/decisions/{n}/", "/snapshots/{n}/", "/backtests/{n}/",
                                  "/backtests/{n}/parity/", "/models/{n}/", "/configs/{n}/"])
def test_a_page_id_wider_than_any_column_is_404(trader: Client, path: str) -> None:
    assert trader.get(path.format(n="99999999999999999999")).status_code == 404


# ------------------------------------------------------------------------------- the parser


def test_parse_int_bounds_to_a_64_bit_column() -> None:
    assert parse_int(str(DB_INT_MAX)) == DB_INT_MAX and parse_int(" 7 ") == 7 and parse_int("-3") == -3
    for raw in (str(DB_INT_MAX + 1), str(-(2**63) - 1), "1e309", "1.0", "", "١٢", "²", "0x10", "9" * 30):
        with pytest.raises(ParamError):
            parse_int(raw)
    with pytest.raises(ParamError, match="from 1 to"):
        parse_int("0", min_value=1)


def test_parse_date_is_strict() -> None:
    assert parse_date("2026-11-20") == dt.date(2026, 11, 20)
    for raw in ("2026-13-45", "2026-02-30", "20261120", "2026-W47-5", "2026-11-20T00:00", "11/20/2026", ""):
        with pytest.raises(ParamError):
            parse_date(raw)


def test_query_params_collect_one_message_per_bad_parameter() -> None:
    params = QueryParams({"config": "99999999999999999999", "day": "2026-13-45", "a": "", "ok": "5"})
    assert params.id("config", expected="a config id") is None and params.date("day") is None
    assert params.id("a") is None and params.id("missing") is None and params.id("ok") == 5
    assert params.errors == ["config must be a config id, got '99999999999999999999'",
                             "day must be a real date (YYYY-MM-DD), got '2026-13-45'"]


def test_serializer_fields_are_bounded(settings: Any) -> None:
    from snapshots.params import BoundedIntegerField, IdField, StrictDateField

    assert IdField().run_validation("5") == 5
    for field, raw in ((IdField(), "0"), (IdField(), str(DB_INT_MAX + 1)), (BoundedIntegerField(), str(2**64)),
                       (StrictDateField(), "20261120"), (StrictDateField(), "2026-13-45")):
        with pytest.raises(Exception) as err:
            field.run_validation(raw)
        assert type(err.value).__name__ == "ValidationError", raw
