"""Backtest pages (list + launch form, run page with live progress and results, compare) and the admin.

Factories give runs with hand-made metrics (pages, compare, admin); the launch test replays the
two tiny generated days for real (import → run_create → chunks on the eager Celery app → assembly).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from backtests.data.dbn_import import import_files
from backtests.models import BacktestChunk, BacktestRun
from backtests.tests.conftest import DAY, NEXT_DAY
from backtests.tests.factories import SAMPLE_TRADES, BacktestRunFactory, backtest_trade, metrics_for
from execution.models import Trade
from snapshots.formatting import usd_text
from snapshots.tests.factories import StaffUserFactory
from strategy.models import StrategyConfig, TradeDecision

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client: Client) -> Client:
    """A staff user with the launch and cancel permissions."""
    client.force_login(StaffUserFactory(username="operator", perms=["backtests.add_backtestrun", "backtests.cancel_run"]))
    return client


@pytest.fixture
def viewer() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("viewer", password="pw-for-tests-only"))
    return client


@pytest.fixture
def imported(tiny_days: dict[dt.date, Any], market_dir: Path) -> tuple[dt.date, dt.date]:
    """The two tiny generated days imported into a throwaway market-data root."""
    import_files([p for day in tiny_days.values() for p in (day.definition_path, day.cbbo_path)])
    return DAY, NEXT_DAY


def rows(html: str, prefix: str) -> list[int]:
    return [int(pk) for pk in re.findall(rf'<tr id="{prefix}-(\d+)"', html)]


def launch_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "tiny", "start": DAY.isoformat(), "end": NEXT_DAY.isoformat(),
        "configs": [c.pk for c in StrategyConfig.objects.filter(name__in=["3DTE call 10d", "3DTE put 10d"])],
        "windows": ["10:00", "11:00"], "risk_scope": "per_strategy", "exit_check_minutes": "1", "chunk_days": "1",
        "idempotency_key": "form-key-1",
    }
    return {**body, **overrides}


# ------------------------------------------------------------------------------------ list and launch

def test_pages_require_login(client: Client) -> None:
    for url in ("/backtests/", "/backtests/1/", "/backtests/compare/?a=1&b=2"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    assert client.post("/backtests/1/cancel/").status_code == 302


def test_the_launch_form_shows_the_imported_ranges_and_defaults_to_the_latest(operator: Client, imported: Any) -> None:
    html = operator.get("/backtests/").content.decode()
    ranges = re.search(r'<p id="data-ranges".*?</p>', html, re.S).group(0)
    assert f"{DAY:%a %Y-%m-%d} → {NEXT_DAY:%a %Y-%m-%d} (2 trading days)" in ranges
    assert f'name="start" value="{DAY.isoformat()}"' in html and f'name="end" value="{NEXT_DAY.isoformat()}"' in html


def test_the_launch_form_says_how_to_get_data_when_none_is_imported(operator: Client, market_dir: Path) -> None:
    ranges = re.search(r'<p id="data-ranges".*?</p>', operator.get("/backtests/").content.decode(), re.S).group(0)
    assert "none yet" in ranges and "databento_import" in ranges


def test_run_list_shows_runs_and_the_launch_form(operator: Client) -> None:
    done = BacktestRunFactory(done=True)
    running = BacktestRunFactory(running=True, chunks__days_done=[2, 0])
    html = operator.get("/backtests/").content.decode()
    assert 'href="/backtests/"' in html  # the nav link
    assert rows(html, "run") == [running.pk, done.pk]  # newest first
    done_row = re.search(rf'<tr id="run-{done.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "done" in done_row and "2026-03-16 → 2026-03-20" in done_row and "100%" in done_row
    assert ">4</td>" in done_row  # two configs × two windows
    assert ">5</td>" in done_row and "80.0%" in done_row and 'class="good">$177.00' in done_row
    running_row = re.search(rf'<tr id="run-{running.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "running" in running_row and "40%" in running_row
    # The launch form, every config selected and every window ticked by default.
    form = re.search(r'<form id="launch-form".*?</form>', html, re.S).group(0)
    configs = re.search(r'<select name="configs".*?</select>', form, re.S).group(0)
    assert configs.count(" selected") == StrategyConfig.objects.count() == 12
    assert form.count('type="checkbox"') == 3 and form.count("checked") == 3
    assert 'name="idempotency_key"' in form and 'name="risk_scope"' in form and 'name="exit_check_minutes"' in form
    # The table partial polls while a run is going, and stops once none is.
    partial = operator.get("/backtests/", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200 and body.lstrip().startswith('<div id="run-table" hx-get="/backtests/"')
    assert "<html" not in body and "launch-form" not in body
    BacktestRun.objects.filter(pk=running.pk).update(status=BacktestRun.Status.CANCELLED)
    stopped = operator.get("/backtests/", headers={"HX-Request": "true"})
    assert stopped.status_code == 286 and stopped.content.decode().lstrip().startswith('<div id="run-table">')


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end": "2026-03-10"}, "end 2026-03-10 is before start 2026-03-18"),
        ({"start": "2026-05-04", "end": "2026-05-05"}, "2 of 2 trading days have no imported OPRA data: 2026-05-04, 2026-05-05"),
        ({"start": "2026-03-21", "end": "2026-03-22"}, "no trading days between 2026-03-21 and 2026-03-22"),
        ({"configs": []}, "choose at least one strategy config"),
        ({"windows": ["09:30"]}, "Select a valid choice. 09:30 is not one of the available choices."),
        ({"exit_check_minutes": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"start": "soon"}, "Enter a valid date."),
    ],
)
def test_launch_form_errors_are_shown_in_the_form(operator: Client, overrides: dict[str, Any], message: str) -> None:
    response = operator.post("/backtests/", launch_body(**overrides))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="launch-form"' in html
    assert message in html, html[html.index('id="launch-form"'):][:3000]
    assert "Traceback" not in html and BacktestRun.objects.count() == 0
    # The form keeps what was typed, and a fresh key for the next try.
    assert 'value="tiny"' in html and 'value="form-key-1"' not in html


def test_launch_runs_the_backtest_and_redirects_to_its_page(
    operator: Client, imported: tuple[dt.date, dt.date], django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as queued:  # chunk tasks run after commit (eager)
        response = operator.post("/backtests/", launch_body())
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/{run.pk}/"
    assert len(queued) == run.chunks_total == 2  # one task per chunk (chunk_days=1)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE and run.name == "tiny" and run.idempotency_key == "form-key-1"
    assert len(run.params["strategies"]) == 4 and run.params["exit_check_minutes"] == 1
    # A double-submitted form lands on the same run.
    again = operator.post("/backtests/", launch_body())
    assert again.status_code == 302 and again["Location"] == f"/backtests/{run.pk}/" and BacktestRun.objects.count() == 1

    html = operator.get(response["Location"]).content.decode()
    assert 'id="run-live">' in html and "hx-trigger" not in html  # finished: no polling
    assert run.data_sha256 in html and run.code_version in html and run.params_sha256 in html
    assert 'id="run-summary"' in html and 'id="equity-curve"' in html and 'id="drawdown-curve"' in html
    trades = list(Trade.objects.filter(backtest_run=run))
    summary = run.metrics["summary"]
    assert summary["trades"] == len([t for t in trades if t.status == Trade.Status.CLOSED])
    assert usd_text(summary["total_pnl_usd"]) in html
    assert sorted(rows(html, "trade")) == sorted(t.pk for t in trades)
    for t in trades:
        assert f'href="/trades/{t.pk}/"' in html
    bucket_table = re.search(r'<table id="bucket-table">.*?</table>', html, re.S).group(0)
    for b in run.metrics["buckets"]:
        assert b["bucket"] in bucket_table
    # One decision per day × strategy (2 × 4), every one counted under its reason.
    assert TradeDecision.objects.filter(backtest_run=run).count() == run.metrics["decisions"] == 8
    reasons = re.search(r'<table id="reason-table".*?</table>', html, re.S).group(0)
    assert sum(int(n) for n in re.findall(r"<td>(\d+)</td>", reasons)) == 8


def test_only_staff_launch_or_cancel(viewer: Client) -> None:
    run = BacktestRunFactory(running=True)
    html = viewer.get("/backtests/").content.decode()
    assert 'id="launch-form"' not in html
    assert viewer.post("/backtests/", launch_body()).status_code == 403
    assert 'id="run-cancel"' not in viewer.get(f"/backtests/{run.pk}/").content.decode()
    assert viewer.post(f"/backtests/{run.pk}/cancel/").status_code == 403
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING and BacktestRun.objects.count() == 1


# ------------------------------------------------------------------------------------ run page

def test_a_running_run_polls_its_progress(operator: Client) -> None:
    run = BacktestRunFactory(running=True, chunks__days_done=[2, 0])
    html = operator.get(f"/backtests/{run.pk}/").content.decode()
    assert f'<div id="run-live" hx-get="/backtests/{run.pk}/" hx-trigger="every 2s" hx-swap="outerHTML">' in html
    assert "2/5 days (40.0%)" in html and 'aria-valuenow="40"' in html and 'id="run-cancel"' in html
    assert 'id="run-params"' in html and "3DTE put 10d @ 10:00" in html and run.params_sha256 in html
    assert 'id="run-summary"' not in html  # no results before the run is assembled
    partial = operator.get(f"/backtests/{run.pk}/", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200 and body.lstrip().startswith('<div id="run-live" hx-get=')
    assert "<html" not in body and 'id="run-params"' not in body and "2/5 days" in body
    BacktestChunk.objects.filter(run=run, index=1).update(days_done=1)
    assert "3/5 days (60.0%)" in operator.get(f"/backtests/{run.pk}/", headers={"HX-Request": "true"}).content.decode()


def test_a_done_run_shows_monthly_pnl_a_pnl_histogram_and_the_bucket_heatmap(operator: Client) -> None:
    run = BacktestRunFactory(done=True)
    backtest_trade(run, day=dt.date(2026, 3, 16))
    backtest_trade(run, day=dt.date(2026, 3, 17), window=dt.time(11, 0), exit_reason="stop_loss", realized_pnl_usd="-132.60")
    html = operator.get(f"/backtests/{run.pk}/").content.decode()
    monthly = re.search(r'<table id="monthly-table".*?</table>', html, re.S).group(0)
    row = re.search(r"<tr><td class=\"l\">2026</td>(.*?)</tr>", monthly, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[2] == "$177.00" and cells[0] == cells[1] == "" and "<strong>$177.00</strong>" in cells[-1]
    histogram = re.search(r'<svg id="pnl-histogram".*?</svg>', html, re.S).group(0)
    titles = re.findall(r'<rect class="bar[^"]*"[^>]*><title>([^<]+)</title>', histogram)
    assert sum(int(t.split(": ")[1].split(" ")[0]) for t in titles) == Trade.objects.filter(backtest_run=run, status="closed").count() == 2
    assert "-$140.00 to -$130.00: 1 trade" in titles  # the −132.60 stop, in a 10-USD bin
    heat = re.search(r'<div id="bucket-heatmap".*?</div>', html, re.S).group(0)
    assert "10:00 · put credit spread" in heat and "11:00 · call credit spread" in heat
    assert re.search(r'style="background:rgba\(22,128,61,0\.68\)"[^>]*>\$79\.07 <span class="muted">\(3\)</span>', heat)
    assert re.search(r'style="background:rgba\(180,35,24,0\.\d+\)"[^>]*>-\$30\.10 <span class="muted">\(2\)</span>', heat)
    for svg in ("equity-curve", "drawdown-curve", "pnl-histogram"):
        chart = re.search(rf'<svg id="{svg}".*?</svg>', html, re.S).group(0)
        assert chart.count('class="axis tick"') == 1 and len(re.findall(r'text-anchor="end">[^<]+</text>', chart)) >= 2


def test_a_done_run_shows_metrics_equity_buckets_trades_and_reasons(operator: Client) -> None:
    run = BacktestRunFactory(done=True)
    won = backtest_trade(run, day=dt.date(2026, 3, 16))
    lost = backtest_trade(run, day=dt.date(2026, 3, 17), window=dt.time(11, 0), exit_reason="stop_loss",
                          realized_pnl_usd="-132.60")
    html = operator.get(f"/backtests/{run.pk}/").content.decode()
    summary = re.search(r'<table id="run-summary".*?</table>', html, re.S).group(0)
    for label, text in (("Closed trades", "5"), ("Win rate", "80.0%"), ("Total PnL (USD)", "$177.00"), ("Losses", "1"),
                        ("Max drawdown (USD)", "$132.60"), ("Exits: take profit", "3"), ("Exits: settlement", "1")):
        assert re.search(rf'<td class="l">{re.escape(label)}</td><td class="[a-z]*">{re.escape(text)}</td>', summary), label
    assert re.search(r'<svg id="equity-curve"[^>]*>.*?<polyline[^>]*points="[\d., ]+"', html, re.S)
    assert re.search(r'<svg id="drawdown-curve"[^>]*>.*?<polyline', html, re.S)
    assert "Fri 2026-03-20: $177.00" in html  # the curve ends on the last day at the total
    bucket_rows = re.findall(r"<tr><td class=\"l\">(\d+d [\d.]+Δ \d\d:\d\d \w+)</td>", html)
    assert bucket_rows == ["3d 0.10Δ 10:00 put", "5d 0.10Δ 11:00 call"]
    assert rows(html, "trade") == [lost.pk, won.pk]  # newest first
    assert f'href="/trades/{won.pk}/"' in html and "-$132.60" in html
    reasons = re.search(r'<table id="reason-table".*?</table>', html, re.S).group(0)
    assert "TRADE" in reasons and "ok" in reasons and "<td>2</td>" in reasons
    assert "hx-trigger" not in html and 'id="run-cancel"' not in html and run.data_sha256 in html
    partial = operator.get(f"/backtests/{run.pk}/", headers={"HX-Request": "true"})
    assert partial.status_code == 286 and 'id="equity-curve"' in partial.content.decode()  # the last swap, then stop


def test_a_done_run_with_no_trades_says_so(operator: Client) -> None:
    run = BacktestRunFactory(done=True, metrics=metrics_for(()))
    html = operator.get(f"/backtests/{run.pk}/").content.decode()
    assert "No closed trades." in html and "No trades: every decision was a SKIP" in html
    assert re.search(r'<td class="l">Win rate</td><td class="">—</td>', html)


def test_a_failed_run_shows_why_and_stops_polling(operator: Client) -> None:
    run = BacktestRunFactory(running=True, chunks__days_done=[3, 1])
    BacktestChunk.objects.filter(run=run, index=1).update(status=BacktestChunk.Status.FAILED, error="OSError: disk full")
    BacktestRun.objects.filter(pk=run.pk).update(status=BacktestRun.Status.FAILED, error="chunk 2: OSError: disk full")
    response = operator.get(f"/backtests/{run.pk}/", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 286 and "hx-trigger" not in body and 'id="run-summary"' not in body
    assert '<p class="bad">chunk 2: OSError: disk full</p>' in body and 'title="OSError: disk full"' in body


def test_cancel_stops_a_running_run(operator: Client) -> None:
    run = BacktestRunFactory(running=True)
    response = operator.post(f"/backtests/{run.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/backtests/{run.pk}/"
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.CANCELLED and run.finished_at is not None
    html = operator.get(f"/backtests/{run.pk}/").content.decode()
    assert ">cancelled<" in html and "hx-trigger" not in html and 'id="run-cancel"' not in html
    assert operator.get(f"/backtests/{run.pk}/cancel/").status_code == 405


def test_unknown_runs_are_404(operator: Client) -> None:
    assert operator.get("/backtests/999999/").status_code == 404
    assert operator.post("/backtests/999999/cancel/").status_code == 404


# ------------------------------------------------------------------------------------ compare

def test_compare_two_runs_side_by_side(operator: Client) -> None:
    a = BacktestRunFactory(done=True, name="grid")
    puts_only = [t for t in SAMPLE_TRADES if t[5][3] == "put_credit"]
    b = BacktestRunFactory(done=True, name="puts", metrics=metrics_for(puts_only))
    html = operator.get(f"/backtests/compare/?a={a.pk}&b={b.pk}").content.decode()
    assert "compare-error" not in html
    pnl = re.search(r'<tr id="compare-total_pnl_usd">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", pnl) == ["Total PnL (USD)", "$177.00", "$237.20", "+$60.20"]
    win = re.search(r'<tr id="compare-win_rate">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", win) == ["Win rate", "80.0%", "100.0%", "+20.0 pp"]
    pf = re.search(r'<tr id="compare-profit_factor">(.*?)</tr>', html, re.S).group(1)
    assert "∞" in pf  # B has no losing trade
    chart = re.search(r'<svg id="compare-chart".*?</svg>', html, re.S).group(0)
    assert chart.count("<polyline") == 2
    buckets = re.search(r'<table id="compare-buckets">.*?</table>', html, re.S).group(0)
    def cells(label: str) -> list[str]:
        row = re.search(rf"<tr><td class=\"l\">{label}</td>(.*?)</tr>", buckets, re.S).group(1)
        return re.findall(r"<td[^>]*>([^<]*)</td>", row)

    # Only A traded the call bucket (−132.60 + 72.40): B's side is blank and B − A counts B as 0.
    assert cells("5d 0.10Δ 11:00 call") == ["2", "50.0%", "-$60.20", "-$30.10", "—", "+$60.20"]
    assert cells("3d 0.10Δ 10:00 put") == ["3", "100.0%", "$237.20", "$79.07", "3", "100.0%", "$237.20", "$79.07", "0"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("a=x&b=2", "a must be a run id (a whole number), got &#x27;x&#x27;"),
        ("a={done}&b=999999", "there is no backtest run #999999 (b)"),
        ("a={done}&b={running}", "run #{running} (b) is running: only finished runs have results to compare"),
        ("a={done}", "choose two runs to compare"),
    ],
)
def test_compare_bad_parameters_give_a_message(operator: Client, query: str, message: str) -> None:
    ids = {"done": BacktestRunFactory(done=True).pk, "running": BacktestRunFactory(running=True).pk}
    response = operator.get("/backtests/compare/?" + query.format(**ids))
    html = response.content.decode()
    assert response.status_code == 200 and message.format(**ids) in html and 'id="compare-summary"' not in html


def test_compare_without_parameters_offers_the_finished_runs(operator: Client) -> None:
    done = BacktestRunFactory(done=True)
    running = BacktestRunFactory(running=True)
    html = operator.get("/backtests/compare/").content.decode()
    assert "compare-error" not in html and "Choose two finished runs." in html
    assert f'<option value="{done.pk}"' in html and f'<option value="{running.pk}"' not in html


# ------------------------------------------------------------------------------------ admin

def test_admin_lists_runs_and_its_actions_call_the_services(
    admin_client: Client, django_capture_on_commit_callbacks: Any,
) -> None:
    done = BacktestRunFactory(done=True)
    stuck = BacktestRunFactory(running=True, chunks__days_done=[3, 1])  # chunk 0 done, chunk 1 half-way
    listing = admin_client.get(reverse("admin:backtests_backtestrun_changelist")).content.decode()
    assert "$177.00" in listing and "2026-03-16 → 2026-03-20" in listing and "80% (4/5 days)" in listing
    page = admin_client.get(reverse("admin:backtests_backtestrun_change", args=[stuck.pk]))
    assert page.status_code == 200 and f"/backtests/{stuck.pk}/" in page.content.decode()
    assert admin_client.get(reverse("admin:backtests_backtestchunk_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:backtests_importedday_changelist")).status_code == 200
    url = reverse("admin:backtests_backtestrun_changelist")
    with django_capture_on_commit_callbacks() as queued:
        html = admin_client.post(url, {"action": "relaunch_unfinished_chunks", "_selected_action": [stuck.pk, done.pk]},
                                 follow=True).content.decode()
    assert len(queued) == 1  # only the unfinished chunk of the stuck run
    # (the admin capitalises messages)
    assert f"Run {stuck.pk}: 1 unfinished chunk(s) queued" in html and f"Run {done.pk} already ended (done)" in html
    html = admin_client.post(url, {"action": "cancel_runs", "_selected_action": [stuck.pk]}, follow=True).content.decode()
    stuck.refresh_from_db()
    assert stuck.status == BacktestRun.Status.CANCELLED and f"Run {stuck.pk} is cancelled" in html


def test_run_list_paginates(viewer: Client) -> None:
    runs = [BacktestRunFactory(done=True) for _ in range(27)]
    first = viewer.get("/backtests/").content.decode()
    assert rows(first, "run") == [r.pk for r in reversed(runs[2:])] and "page 1 of 2" in first
    assert 'href="/backtests/?page=2"' in first
    second = viewer.get("/backtests/?page=2", headers={"HX-Request": "true"})
    assert rows(second.content.decode(), "run") == [runs[1].pk, runs[0].pk]
