"""The run page's "Capital and sizing" section and the API's ``capital`` block, on factory-built
runs and trades: the figures at the run's sizing and at the query's, bad input as a form error (200)
or a 400, never a 500, and the HTMX swap of the section alone.

The factory run has two configs × two windows = 4 risk books (``per_strategy``). Its trades are
25 wide at a 1.20 credit: max loss per contract (25 − 1.20) × 100 = 2,380 USD."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from backtests import capital
from backtests.models import BacktestRun
from backtests.tests.factories import BacktestRunFactory, backtest_trade
from execution.models import Trade
from snapshots.tests.factories import StaffUserFactory, read_token_client
from strategy.models import StrategyConfig

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sizing_defaults(settings: Any) -> None:
    settings.BACKTEST_CAPITAL_USD = 100_000.0
    settings.BACKTEST_RISK_FRACTION = 0.05


@pytest.fixture
def viewer(client: Client) -> Client:
    client.force_login(StaffUserFactory(username="capital-viewer"))
    return client


def two_trades(run: BacktestRun) -> tuple[Trade, Trade]:
    """A take profit of +57.40 on 3DTE put @ 10:00 (2026-03-16) and a stop of −132.60 on 5DTE call
    @ 11:00 (2026-03-17), one contract each."""
    put = StrategyConfig.objects.get(name="3DTE put 10d")
    call = StrategyConfig.objects.get(name="5DTE call 10d")
    won = backtest_trade(run, day=dt.date(2026, 3, 16), decision__strategy_config=put)
    lost = backtest_trade(run, day=dt.date(2026, 3, 17), window=dt.time(11, 0), decision__strategy_config=call,
                          exit_reason="stop_loss", realized_pnl_usd=Decimal("-132.60"))
    return won, lost


def section(html: str) -> str:
    match = re.search(r'<section id="capital-sizing">.*?</section>', html, re.S)
    assert match, "no capital section"
    return match.group(0)


def figure(html: str, row: str) -> str:
    match = re.search(rf'<tr id="capital-{row}"><td class="l">[^<]*</td><td[^>]*>(.*?)</td>', html, re.S)
    assert match, row
    return match.group(1).strip()


def test_a_run_stored_without_sizing_uses_the_settings(viewer: Client) -> None:
    """Budget 100,000 × 0.05 = 5,000 → floor(5,000 / 2,380) = 2 contracts each: 2 × 57.40 − 2 × 132.60
    = −150.40 on 4 × 100,000 = 400,000: −0.0376 % (shown −0.04%). The run's own rows are untouched."""
    run = BacktestRunFactory(done=True)
    assert "sizing" not in run.params
    two_trades(run)
    html = section(viewer.get(f"/backtests/{run.pk}/").content.decode())
    assert "$100,000.00 per strategy × 4 strategies" in html and "<strong>$400,000.00</strong> starting capital" in html
    assert "$100,000.00 × 0.05 = <strong>$5,000.00</strong>" in html
    assert "here $2,380.00 → floor($5,000.00 ÷ $2,380.00) = 2 contracts" in html
    assert figure(html, "taken") == "2 of 2" and figure(html, "contracts") == "2 (4 in all)"
    assert figure(html, "pnl") == "-$150.40" and figure(html, "final") == "$399,849.60"
    assert figure(html, "roc") == "-0.04%"
    assert figure(html, "max-dd") == "$265.20 · 0.07%"  # peak 400,114.80 after the win, then −265.20
    assert list(Trade.objects.filter(backtest_run=run).values_list("quantity", flat=True)) == [1, 1]


def test_the_query_resizes_and_reports_trades_over_budget(viewer: Client) -> None:
    """Capital 100,000 at 2 %: a budget of 2,000 is below one contract's 2,380: both trades over budget,
    nothing taken, every month at 0 %."""
    run = BacktestRunFactory(done=True)
    two_trades(run)
    html = section(viewer.get(f"/backtests/{run.pk}/?capital_usd=100000&risk_fraction=2%25").content.decode())
    assert figure(html, "taken") == "0 of 2" and figure(html, "over-budget") == "2"
    assert figure(html, "pnl") == "$0.00" and figure(html, "mar") == "—"
    assert 'id="capital-no-trades"' in html
    monthly = re.search(r'<table id="capital-monthly".*?</table>', html, re.S).group(0)
    assert "<td class=\"l\">2026</td>" in monthly and ">0.00%<" in monthly


def test_one_strategy_alone_with_its_months_and_histogram(viewer: Client) -> None:
    """The 3DTE put @ 10:00 book alone on 50,000 at 0.1 → budget 5,000 → 2 contracts; a second trade of
    that book recorded at quantity 2 with +114.80 is +57.40 per contract, so +114.80 again at 2 contracts.
    Total +229.60 on 50,000 = 0.46 %; March: +229.60 of 50,000 = 0.46 %; both trades in one bin: equal values, so the step is nice(114.80 / 20 = 5.74) = 10 → [110, 120)."""
    run = BacktestRunFactory(done=True)
    won, _ = two_trades(run)
    backtest_trade(run, day=dt.date(2026, 3, 18), decision__strategy_config=won.strategy_config, quantity=2,
                   realized_pnl_usd=Decimal("114.80"))
    book = f"{won.strategy_config_id}@1000"
    html = section(viewer.get(f"/backtests/{run.pk}/", {"capital_usd": "50,000", "risk_fraction": "0.1",
                                                          "book": book}).content.decode())
    assert "<strong>3DTE put 10d @ 10:00</strong> alone" in html and 'id="capital-books"' not in html
    assert figure(html, "taken") == "2 of 2" and figure(html, "pnl") == "$229.60" and figure(html, "roc") == "0.46%"
    monthly = re.search(r'<table id="capital-monthly".*?</table>', html, re.S).group(0)
    assert re.search(r'title="Mar 2026: \+229\.60 USD on 50,000\.00 USD at the start of the month">0\.46%</td>', monthly)
    histogram = re.search(r'<svg id="capital-histogram".*?</svg>', html, re.S).group(0)
    assert "$110.00 to $120.00: 2 trades" in histogram


def test_every_book_has_its_row(viewer: Client) -> None:
    run = BacktestRunFactory(done=True)
    won, lost = two_trades(run)
    html = section(viewer.get(f"/backtests/{run.pk}/").content.decode())
    table = re.search(r'<table id="capital-books".*?</table>', html, re.S).group(0)
    names = re.findall(r"#capital-sizing\">([^<]+)</a>", table)
    assert names == ["3DTE put 10d @ 10:00", "3DTE put 10d @ 11:00", "5DTE call 10d @ 10:00", "5DTE call 10d @ 11:00"]
    assert f"book={won.strategy_config_id}%401000" in table and "-$265.20" in table and "$114.80" in table


@pytest.mark.parametrize(("query", "message"), [
    ({"capital_usd": "-5"}, "capital per strategy must be a number from $1,000 to $1,000,000,000"),
    ({"capital_usd": "0"}, "capital per strategy must be a number from $1,000"),
    ({"capital_usd": "lots"}, "&#x27;lots&#x27; is not a number: enter e.g. 100000 or 100,000"),
    ({"capital_usd": "1e400"}, "is not a number"),
    ({"capital_usd": "1e12"}, "capital per strategy must be a number from $1,000 to $1,000,000,000"),
    ({"capital_usd": "9" * 60}, "at most 40 characters"),
    ({"risk_fraction": "2"}, "risk fraction must be a number from 0.0001 to 1"),
    ({"risk_fraction": "-0.02"}, "risk fraction must be a number from 0.0001 to 1"),
    ({"risk_fraction": "nan"}, "is not a number: enter e.g. 0.05 or 5%"),
    ({"risk_fraction": "0"}, "risk fraction must be a number from 0.0001 to 1"),
    ({"book": "no-such-book"}, "this run has no such strategy"),
])
def test_bad_input_is_a_form_error_not_a_500(viewer: Client, query: dict[str, str], message: str) -> None:
    run = BacktestRunFactory(done=True)
    two_trades(run)
    response = viewer.get(f"/backtests/{run.pk}/", query)
    assert response.status_code == 200
    html = section(response.content.decode())
    assert message in html and 'id="capital-errors"' in html and 'id="capital-summary"' not in html
    assert 'id="run-summary"' in response.content.decode()  # the rest of the page is still there


def test_the_htmx_swap_renders_the_section_alone(viewer: Client) -> None:
    run = BacktestRunFactory(done=True)
    two_trades(run)
    response = viewer.get(f"/backtests/{run.pk}/?capital_usd=50000&risk_fraction=0.1",
                          headers={"HX-Request": "true", "HX-Target": "capital-sizing"})
    body = response.content.decode()
    assert response.status_code == 200 and body.strip().startswith('<section id="capital-sizing">')
    assert 'id="run-summary"' not in body and "<html" not in body and figure(body, "pnl") == "-$150.40"
    bad = viewer.get(f"/backtests/{run.pk}/?capital_usd=abc",
                     headers={"HX-Request": "true", "HX-Target": "capital-sizing"})
    assert bad.status_code == 200 and "is not a number" in bad.content.decode()
    # The progress poll of a finished run still gets its last swap and the stop (286), sizing included.
    poll = viewer.get(f"/backtests/{run.pk}/", headers={"HX-Request": "true", "HX-Target": "run-live"})
    assert poll.status_code == 286 and 'id="capital-sizing"' in poll.content.decode()


def test_a_run_launched_with_its_sizing_defaults_to_it(viewer: Client) -> None:
    run = BacktestRunFactory(done=True)
    run.params = {**run.params, "sizing": capital.sizing_params(capital_usd=25_000, risk_fraction=0.2)}
    run.save(update_fields=["params"])
    two_trades(run)
    html = section(viewer.get(f"/backtests/{run.pk}/").content.decode())
    assert "This run's sizing: $25,000.00 per strategy at 20.00%" in html
    assert 'name="capital_usd" value="25000"' in html and 'name="risk_fraction" value="0.2"' in html
    assert figure(html, "contracts") == "2 (4 in all)"  # floor(5,000 / 2,380)


def test_a_run_without_trades_and_a_running_run(viewer: Client) -> None:
    run = BacktestRunFactory(done=True)
    html = section(viewer.get(f"/backtests/{run.pk}/").content.decode())
    assert figure(html, "taken") == "0 of 0" and figure(html, "roc") == "0.00%" and 'id="capital-no-trades"' in html
    running = BacktestRunFactory(running=True)
    assert 'id="capital-sizing"' not in viewer.get(f"/backtests/{running.pk}/").content.decode()


def test_sizing_params_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="capital per strategy"):
        capital.sizing_params(capital_usd=10, risk_fraction=0.05)
    assert capital.sizing_params() == {"capital_usd": 100_000.0, "risk_fraction": 0.05}


# ------------------------------------------------------------------------------------ API

def test_api_detail_has_the_capital_block_on_request() -> None:
    api: APIClient = read_token_client()
    run = BacktestRunFactory(done=True)
    two_trades(run)
    assert api.get(f"/api/backtests/{run.pk}").json()["capital"] is None
    block = api.get(f"/api/backtests/{run.pk}?capital=true").json()["capital"]
    assert block["rule"]["budget_per_trade_usd"] == 5000.0 and block["capital_usd"] == 400_000.0
    assert (block["taken"], block["contracts_total"], block["total_pnl_usd"]) == (2, 4, -150.4)
    assert block["return_on_capital"] == pytest.approx(-0.000376) and len(block["books"]) == 4
    assert block["monthly"] == [{"year": 2026, "month": 3, "start_equity_usd": 400_000.0, "pnl_usd": -150.4,
                                 "return_pct": pytest.approx(-0.000376)}]
    one = api.get(f"/api/backtests/{run.pk}?capital_usd=50000&risk_fraction=0.1&book="
                  f"{run.params['strategies'][0]['book']}").json()["capital"]
    assert one["book"] == run.params["strategies"][0]["book"] and one["capital_usd"] == 50_000.0
    assert one["total_pnl_usd"] == 114.8


@pytest.mark.parametrize(("query", "field"), [
    ("capital_usd=-1", "capital_usd"), ("capital_usd=abc", "capital_usd"), ("capital_usd=1e400", "capital_usd"),
    ("risk_fraction=1.5", "risk_fraction"), ("risk_fraction=nan", "risk_fraction"), ("book=nope", "book"),
])
def test_api_bad_sizing_is_400(query: str, field: str) -> None:
    api: APIClient = read_token_client()
    run = BacktestRunFactory(done=True)
    response = api.get(f"/api/backtests/{run.pk}?{query}")
    assert response.status_code == 400 and field in response.json()["fields"], response.json()


# ------------------------------------------------------------------------------------ launching with a sizing

@pytest.fixture
def operator(client: Client) -> Client:
    client.force_login(StaffUserFactory(username="capital-operator", perms=["backtests.add_backtestrun"]))
    return client


@pytest.fixture
def imported(tiny_days: dict[dt.date, Any], market_dir: Any) -> None:
    from backtests.data.dbn_import import import_files

    import_files([p for day in tiny_days.values() for p in (day.definition_path, day.cbbo_path)])


def launch_form(**overrides: Any) -> dict[str, Any]:
    from backtests.tests.conftest import DAY, NEXT_DAY

    return {"name": "sized", "start": DAY.isoformat(), "end": NEXT_DAY.isoformat(),
            "configs": [c.pk for c in StrategyConfig.objects.filter(name__in=["3DTE call 10d", "3DTE put 10d"])],
            "windows": ["10:00"], "risk_scope": "per_strategy", "exit_check_minutes": "1", "chunk_days": "1",
            **overrides}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("capital_usd", "-1", "capital per strategy must be a number from $1,000"),
    ("capital_usd", "abc", "Enter a number."),
    ("risk_fraction", "3", "risk fraction must be a number from 0.0001 to 1"),
])
def test_the_launch_form_refuses_a_bad_sizing(operator: Client, field: str, value: str, message: str) -> None:
    response = operator.post("/backtests/", launch_form(**{field: value}))
    assert response.status_code == 200 and message in response.content.decode()
    assert BacktestRun.objects.count() == 0


def test_a_launch_stores_its_sizing(operator: Client, imported: None, django_capture_on_commit_callbacks: Any,
                                    settings: Any) -> None:
    """The form's pair lands in ``params["sizing"]`` (the queued chunks are not run here); an API launch
    without one stores the settings' pair."""
    with django_capture_on_commit_callbacks(execute=False):
        response = operator.post("/backtests/", launch_form(capital_usd="250000", risk_fraction="0.03"))
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and run.params["sizing"] == {"capital_usd": 250_000.0, "risk_fraction": 0.03}
    assert capital.sizing_default(run) == (250_000.0, 0.03)

    settings.ADMIN_API_KEY = "capital-admin-key"
    api = APIClient()
    api.credentials(HTTP_X_API_KEY="capital-admin-key")
    body = {"start": launch_form()["start"], "end": launch_form()["end"], "configs": ["3DTE put 10d"], "windows": ["10:00"]}
    assert api.post("/api/backtests", {**body, "risk_fraction": 7}, format="json").json()["fields"] == {
        "risk_fraction": ["risk fraction must be a number from 0.0001 to 1 (0.02 = 2 % of the capital at risk per trade)"]}
    with django_capture_on_commit_callbacks(execute=False):
        created = api.post("/api/backtests", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["params"]["sizing"] == {"capital_usd": 100_000.0, "risk_fraction": 0.05}


# ------------------------------------------------------------------------------------ the compare page

def test_compare_sizes_both_runs_alike(viewer: Client) -> None:
    """A: the two trades (−150.40 at 2 contracts each); B: only the +57.40 one (+114.80), sized at the
    settings' 100,000 × 0.05 even though B was launched with another sizing: one basis. Both start at
    4 × 100,000. ROC −0.0376 % vs +0.0287 %: +0.0663 pp, shown +0.07 pp."""
    a = BacktestRunFactory(done=True)
    two_trades(a)
    b = BacktestRunFactory(done=True)
    b.params = {**b.params, "sizing": capital.sizing_params(capital_usd=5_000, risk_fraction=0.01)}
    b.save(update_fields=["params"])
    backtest_trade(b, day=dt.date(2026, 3, 16), decision__strategy_config=StrategyConfig.objects.get(name="3DTE put 10d"))
    html = viewer.get(f"/backtests/compare/?a={a.pk}&b={b.pk}").content.decode()
    table = re.search(r'<table id="compare-capital".*?</table>', html, re.S).group(0)

    def cells(key: str) -> list[str]:
        row = re.search(rf'<tr id="compare-capital-{key}">(.*?)</tr>', table, re.S).group(1)
        return re.findall(r"<td[^>]*>([^<]*)</td>", row)[1:]

    assert cells("capital_usd") == ["$400,000.00", "$400,000.00", "0"]
    assert cells("total_pnl_usd") == ["-$150.40", "$114.80", "+$265.20"]
    assert cells("return_on_capital") == ["-0.04%", "0.03%", "+0.07 pp"]
    assert cells("taken") == ["2", "1", "-1"] and cells("mar")[1] == "—"
    assert "$100,000.00 per strategy, at most $5,000.00 lost per trade" in html
    resized = viewer.get(f"/backtests/compare/?a={a.pk}&b={b.pk}&capital_usd=50000&risk_fraction=2%25").content.decode()
    assert "at most $1,000.00 lost per trade" in resized and "Not taken: over budget</td><td>2</td><td>1</td>" in resized


def test_compare_with_a_bad_sizing_keeps_the_rest(viewer: Client) -> None:
    a, b = BacktestRunFactory(done=True), BacktestRunFactory(done=True)
    response = viewer.get(f"/backtests/compare/?a={a.pk}&b={b.pk}&capital_usd=1e12&risk_fraction=x")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="compare-summary"' in html and 'id="compare-capital"' not in html
    assert "capital per strategy must be a number from $1,000" in html and "is not a number" in html


def test_trades_open_at_the_end_are_left_out_and_said(viewer: Client) -> None:
    run = BacktestRunFactory(done=True)
    two_trades(run)
    open_one = backtest_trade(run, day=dt.date(2026, 3, 19), decision__strategy_config=StrategyConfig.objects.get(
        name="3DTE put 10d"))
    Trade.objects.filter(pk=open_one.pk).update(status=Trade.Status.OPEN_AT_END, closed_at=None, realized_pnl_usd=None)
    html = section(viewer.get(f"/backtests/{run.pk}/").content.decode())
    assert "1 trade open at the end of the data left out (no realized PnL)" in html and figure(html, "taken") == "2 of 2"


def test_a_sweep_run_is_not_sized_here() -> None:
    """A sweep keeps its variants' trades in Parquet, not as Trade rows: the section says so, the API gives null."""
    client = Client()
    client.force_login(StaffUserFactory(username="capital-sweep"))
    run = BacktestRunFactory(done=True)
    run.params = {**run.params, "kind": "sweep", "sweep": {"variants": 3}, "strategies": []}
    run.save(update_fields=["params"])
    response = client.get(f"/backtests/{run.pk}/?capital_usd=50000")
    html = section(response.content.decode())
    assert response.status_code == 200 and 'id="capital-sweep"' in html and 'id="capital-form"' not in html
    assert read_token_client().get(f"/api/backtests/{run.pk}?capital=true").json()["capital"] is None


def test_a_finished_run_is_sized_once_per_inputs_until_it_is_reassembled(django_assert_num_queries: Any) -> None:
    """The run page sizes a done run from the cache; new inputs, or a new ``finished_at`` (a
    reassembly writes new rows), size it again."""
    run = BacktestRunFactory(done=True)
    won, _ = two_trades(run)
    first = capital.run_capital(run, capital_usd=100_000.0, risk_fraction=0.05)
    with django_assert_num_queries(0):
        again = capital.run_capital(run, capital_usd=100_000.0, risk_fraction=0.05)
    assert again.report.total_pnl_usd == first.report.total_pnl_usd
    Trade.objects.filter(pk=won.pk).update(realized_pnl_usd=Decimal("100.00"))  # as a reassembly would rewrite it
    assert capital.run_capital(run, capital_usd=100_000.0, risk_fraction=0.05).report.total_pnl_usd == \
        first.report.total_pnl_usd  # same finished_at: the cached figures
    run.finished_at = run.finished_at + dt.timedelta(minutes=1)
    run.save(update_fields=["finished_at"])
    resized = capital.run_capital(run, capital_usd=100_000.0, risk_fraction=0.05)
    assert resized.report.total_pnl_usd == pytest.approx(first.report.total_pnl_usd + 2 * (100.00 - 57.40))
    other = capital.run_capital(run, capital_usd=200_000.0, risk_fraction=0.05)
    assert other.report.total_pnl_usd != resized.report.total_pnl_usd
