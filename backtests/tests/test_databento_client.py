"""Download with the databento client, priced first — against a fake client (no network)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import secrets
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import databento
import pytest
import requests
import requests.adapters
from django.core.management import call_command
from django.core.management.base import CommandError

from backtests.data import databento_client
from backtests.data.databento_client import DownloadError, download_plan, download_run
from backtests.models import ImportedDay
from backtests.tests.fake_databento import FakeHistorical

MON, FRI = dt.date(2026, 3, 16), dt.date(2026, 3, 20)
ET = dt.timezone(dt.timedelta(hours=-4))  # New York in March after the DST switch
REAL_CLIENT_FROM_ENV = databento_client.client_from_env  # before any test swaps in the fake


def test_plan_prices_each_trading_day_and_schema(fake_databento: FakeHistorical, tmp_path: Path) -> None:
    plan = download_plan(fake_databento, start=dt.date(2026, 3, 13), end=MON, out_dir=tmp_path)  # Fri, weekend, Mon
    assert [(f.day, f.schema) for f in plan.files] == [
        (dt.date(2026, 3, 13), "cbbo-1m"), (dt.date(2026, 3, 13), "definition"), (MON, "cbbo-1m"), (MON, "definition")
    ]
    assert plan.total_cost_usd == pytest.approx(4 * 0.42) and plan.total_billable_bytes == 4 * 250_000_000
    costs = [c.kwargs for c in fake_databento.calls if c.method == "metadata.get_cost"]
    assert len(costs) == 4 and fake_databento.names().count("metadata.get_billable_size") == 4
    first = costs[0]
    assert (first["dataset"], first["symbols"], first["stype_in"], first["schema"]) == (
        "OPRA.PILLAR", ["SPX.OPT", "SPXW.OPT"], "parent", "cbbo-1m"
    )
    assert "mode" not in first  # deprecated in the client (a DeprecationWarning), and the API prices without it
    # cbbo-1m: 09:00 → 16:16 ET (half-open, so the 16:15 stamp is in); definitions: the UTC day.
    cbbo, definition = plan.files[2], plan.files[3]
    assert (cbbo.start.astimezone(ET).time(), cbbo.end.astimezone(ET).time()) == (dt.time(9, 0), dt.time(16, 16))
    assert (definition.start, definition.end) == (
        dt.datetime(2026, 3, 16, tzinfo=dt.UTC), dt.datetime(2026, 3, 17, tzinfo=dt.UTC)
    )
    assert "timeseries.get_range" not in fake_databento.names()  # planning never spends


def test_plan_skips_files_already_present(fake_databento: FakeHistorical, tmp_path: Path) -> None:
    (tmp_path / "2026-03-16.definition.dbn.zst").write_bytes(b"x")
    plan = download_plan(fake_databento, start=MON, end=MON, out_dir=tmp_path)
    assert [f.schema for f in plan.files] == ["cbbo-1m"] and len(plan.already_present) == 1
    forced = download_plan(fake_databento, start=MON, end=MON, out_dir=tmp_path, force=True)
    assert len(forced.files) == 2


def test_plan_refuses_ranges_without_sessions_and_other_schemas(fake_databento: FakeHistorical, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no SPX options trading days"):
        download_plan(fake_databento, start=dt.date(2026, 3, 21), end=dt.date(2026, 3, 22), out_dir=tmp_path)
    with pytest.raises(DownloadError, match="unsupported schema"):
        download_plan(fake_databento, start=MON, end=MON, out_dir=tmp_path, schemas=["trades"])


def test_run_fetches_checks_and_renames(fake_databento: FakeHistorical, tmp_path: Path) -> None:
    plan = download_plan(fake_databento, start=MON, end=MON, out_dir=tmp_path / "dbn")
    paths = download_run(fake_databento, plan)
    assert [p.name for p in paths] == ["2026-03-16.cbbo-1m.dbn.zst", "2026-03-16.definition.dbn.zst"]
    assert sorted(p.name for p in (tmp_path / "dbn").iterdir()) == sorted(p.name for p in paths)  # no .part left
    got = [c.kwargs for c in fake_databento.calls if c.method == "timeseries.get_range"]
    assert [(g["schema"], g["stype_in"], g["stype_out"]) for g in got] == [
        ("cbbo-1m", "parent", "instrument_id"), ("definition", "parent", "instrument_id")
    ]
    assert str(databento.DBNStore.from_bytes(paths[0].read_bytes()).schema) == "cbbo-1m"


@pytest.mark.parametrize(("fault", "message"), [("swap_schema", "expected OPRA.PILLAR cbbo-1m"), ("garbage", "Databento download failed")])
def test_run_rejects_a_bad_reply_and_leaves_nothing(fake_databento: FakeHistorical, tmp_path: Path, fault: str, message: str) -> None:
    plan = download_plan(fake_databento, start=MON, end=MON, out_dir=tmp_path, schemas=["cbbo-1m"])
    setattr(fake_databento, fault, True)
    with pytest.raises(DownloadError, match=message):
        download_run(fake_databento, plan)
    assert list(tmp_path.iterdir()) == []


def test_fake_calls_are_checked_against_the_real_signatures(fake_databento: FakeHistorical) -> None:
    with pytest.raises(TypeError):
        fake_databento.metadata.get_cost(dataset="OPRA.PILLAR", start="2026-03-16", symbol="SPX.OPT")


def test_client_from_env_reads_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABENTO_API_KEY", raising=False)
    with pytest.raises(DownloadError, match="DATABENTO_API_KEY is not set"):
        databento_client.client_from_env()
    monkeypatch.setenv("DATABENTO_API_KEY", "db-" + "x" * 29)
    client = databento_client.client_from_env()  # constructing the client makes no request
    assert isinstance(client, databento.Historical) and client.key == "db-" + "x" * 29


# ---- the management command -------------------------------------------------------------------


@pytest.fixture
def command_client(fake_databento: FakeHistorical, monkeypatch: pytest.MonkeyPatch, market_dir: Path) -> FakeHistorical:
    monkeypatch.setattr(databento_client, "client_from_env", lambda: fake_databento)
    return fake_databento


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("databento_download", *args, stdout=out)
    return out.getvalue()


def test_command_prints_the_estimate_and_spends_nothing_when_declined(
    command_client: FakeHistorical, monkeypatch: pytest.MonkeyPatch, market_dir: Path
) -> None:
    questions: list[str] = []
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or "n")
    output = _run("--start", "2026-03-16", "--end", "2026-03-17")
    assert "Estimated cost: $1.68 for 1.000 GB" in output and "Nothing downloaded." in output
    assert questions == ["Download 4 file(s) for $1.68? [y/N] "]
    assert "timeseries.get_range" not in command_client.names()
    assert not (market_dir / "dbn").exists()


def test_command_without_a_terminal_never_spends(command_client: FakeHistorical, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_terminal(question: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_terminal)
    assert "Nothing downloaded." in _run("--start", "2026-03-16")
    assert "timeseries.get_range" not in command_client.names()


@pytest.mark.django_db
def test_command_downloads_and_imports_when_confirmed(
    command_client: FakeHistorical, monkeypatch: pytest.MonkeyPatch, market_dir: Path
) -> None:
    monkeypatch.setattr("builtins.input", lambda q: "y")
    output = _run("--start", "2026-03-18", "--import")
    assert "downloaded 2 file(s)" in output and "imported 1 day(s)" in output
    assert sorted(p.name for p in (market_dir / "dbn/OPRA.PILLAR").iterdir()) == [
        "2026-03-18.cbbo-1m.dbn.zst", "2026-03-18.definition.dbn.zst"
    ]
    assert ImportedDay.objects.filter(date=dt.date(2026, 3, 18)).count() == 2
    # A second run finds both files and asks nothing.
    monkeypatch.setattr("builtins.input", lambda q: pytest.fail("asked although nothing is missing"))
    assert "Nothing to download." in _run("--start", "2026-03-18", "--yes")


def test_command_max_cost_and_missing_key(command_client: FakeHistorical, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CommandError, match=r"above --max-cost \$1.00"):
        _run("--start", "2026-03-16", "--end", "2026-03-17", "--yes", "--max-cost", "1")
    assert "timeseries.get_range" not in command_client.names()
    monkeypatch.setattr(databento_client, "client_from_env", REAL_CLIENT_FROM_ENV)
    monkeypatch.delenv("DATABENTO_API_KEY", raising=False)
    with pytest.raises(CommandError, match="DATABENTO_API_KEY"):
        _run("--start", "2026-03-16", "--yes")



# ---- the API key never shows (reliability.md B4 #49) --------------------------------------------


@dataclass
class Wire:
    """What the real ``databento.Historical`` sent, below it the HTTP layer that answers instead of Databento."""

    reply: Callable[[requests.PreparedRequest], requests.Response]
    sent: list[requests.PreparedRequest] = field(default_factory=list)

    def keys_sent(self) -> set[str]:
        """The API keys the requests carried (HTTP basic auth, key as the user name)."""
        return {base64.b64decode(r.headers["Authorization"].removeprefix("Basic ")).decode().rstrip(":")
                for r in self.sent}


def _answer(request: requests.PreparedRequest, status: int, body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code, response.request, response.url = status, request, request.url or ""
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps(body).encode()
    return response


def refused_401(request: requests.PreparedRequest) -> requests.Response:
    return _answer(request, 401, {"detail": "Authentication failed."})


def server_500(request: requests.PreparedRequest) -> requests.Response:
    return _answer(request, 500, {"detail": "Internal server error."})


def unreachable(request: requests.PreparedRequest) -> requests.Response:
    raise requests.ConnectionError(f"connection refused for {request.url}")


def download_refused(request: requests.PreparedRequest) -> requests.Response:
    """The (free) cost queries answer; the download itself is refused."""
    if "/metadata." in (request.url or ""):
        return _answer(request, 200, 0.42 if "get_cost" in (request.url or "") else 1000)
    return refused_401(request)


@pytest.mark.parametrize(("reply", "message"), [
    (refused_401, "Databento refused the cost query for 2026-03-16 cbbo-1m: 401 Authentication failed."),
    (server_500, "Databento refused the cost query for 2026-03-16 cbbo-1m: 500 Internal server error."),
    (unreachable, "Databento unreachable for the cost query for 2026-03-16 cbbo-1m: connection refused"),
    (download_refused, "2026-03-16.cbbo-1m.dbn.zst: Databento download failed: 401 Authentication failed."),
], ids=["cost-query-401", "cost-query-500", "unreachable", "download-401"])
def test_the_api_key_never_appears_in_errors_or_logs(reply: Callable[..., requests.Response], message: str,
                                                     monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                                     market_dir: Path) -> None:
    key = "db-" + secrets.token_hex(14)  # fresh per test: a leak check cannot pass by accident on a constant
    monkeypatch.setenv("DATABENTO_API_KEY", key)
    monkeypatch.setattr(databento_client, "client_from_env", REAL_CLIENT_FROM_ENV)
    wire = Wire(reply)

    def send(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        wire.sent.append(request)
        return wire.reply(request)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    caplog.set_level(logging.DEBUG)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as info:
        call_command("databento_download", "--start", "2026-03-16", "--yes", stdout=out, stderr=err)
    assert str(info.value).startswith(message), str(info.value)
    assert wire.keys_sent() == {key}  # the real client did send it, only in the Authorization header
    shown = "".join(traceback.format_exception(info.value)) + out.getvalue() + err.getvalue() + caplog.text
    assert key not in shown and key[3:] not in shown
    assert not list((market_dir / "dbn").rglob("*.part"))
