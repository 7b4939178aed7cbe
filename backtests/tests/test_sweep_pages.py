"""The sweep pages: the launch form and its live variant count, the results page (heatmap, sorted
and paginated variant table, CSV, walk-forward panel, deflated Sharpe ratio, PBO), a variant's
page and its materialisation, permissions and bad parameters.

Most sweeps here are hand-made (``sweep_factories.sweep_build``: the real parameters, metrics
and result-file writers over hand-made trades), so every figure can be checked by hand or against
the pure functions; one test launches a small real sweep from the form on the tiny generated days.
"""

from __future__ import annotations

import csv
import datetime as dt
import html as html_mod
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backtests import selectors, sweep_report
from backtests.data.dbn_import import import_files
from backtests.engine.overfitting import deflated_sharpe_ratio, probability_of_backtest_overfitting
from backtests.engine.selection import Metric, walk_forward
from backtests.models import BacktestRun, SweepVariant
from backtests.services import sweeps
from backtests.tests.conftest import COMPACT_DAYS, DAY, NEXT_DAY
from backtests.tests.factories import BacktestRunFactory
from backtests.tests.sweep_factories import pnl_matrix, sweep_build
from execution.models import Trade
from snapshots.formatting import usd_text
from snapshots.tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

WEEK = (dt.date(2026, 3, 16), dt.date(2026, 3, 20))
# The 2 × 2 × 2 grid: variant index = (delta, width, take profit) row-major, the last fastest.
GRID = {"short_delta_target": ["0.10", "0.20"], "width_points": ["10", "25"], "take_profit_fraction": ["0.5", "0.9"]}
# Each variant's one trade (None: no trade), by index.
GRID_PNL: list[float | None] = [50.0, 150.0, -100.0, 20.0, 300.0, 100.0, -40.0, None]


def grid_trades(i: int, dims: dict[str, Any]) -> list[tuple[dt.date, float]]:
    p = GRID_PNL[i]
    return [] if p is None else [(dt.date(2026, 3, 17), p)]


LONG = (dt.date(2026, 1, 5), dt.date(2026, 3, 3))  # 40 trading days
LONG_GRID = {"short_delta_target": ["0.10", "0.15", "0.20"], "take_profit_fraction": ["0.5", "0.9"]}


def long_trades(i: int, dims: dict[str, Any]) -> list[tuple[dt.date, float]]:
    """Noise with a small edge growing with the index, a trade on about 70 % of the days."""
    from backtests import services

    rng = np.random.default_rng(100 + i)
    out = []
    for day in services.trading_days(*LONG):
        if rng.random() < 0.7:
            out.append((day, round(float(rng.normal(5.0 * i, 80.0)), 2)))
    return out


@pytest.fixture(autouse=True)
def _results_dir(tmp_path: Path, settings: Any, market_dir: Path) -> None:
    settings.BACKTEST_RESULTS_DIR = tmp_path / "results"


@pytest.fixture
def grid(seeded_grid: list) -> BacktestRun:
    return sweep_build(dims=GRID, trades=grid_trades, start=WEEK[0], end=WEEK[1])


@pytest.fixture
def long_sweep(seeded_grid: list) -> BacktestRun:
    return sweep_build(dims=LONG_GRID, trades=long_trades, start=LONG[0], end=LONG[1])


@pytest.fixture
def operator(client: Client) -> Client:
    client.force_login(StaffUserFactory(username="operator", perms=["backtests.add_backtestrun"]))
    return client


@pytest.fixture
def viewer() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("viewer", password="pw-for-tests-only"))
    return client


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>.*?</\1>', html, re.S)
    assert m, f"no #{element_id}"
    return m.group(0)


def text_of(html: str, element_id: str) -> str:
    return html_mod.unescape(re.sub(r"<[^>]+>", "", section(html, element_id))).strip()


def variant_rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="variant-(\d+)"', html)]


# ------------------------------------------------------------------------------------ the heatmap

def test_the_heatmap_cells_are_the_variants_figures_fixed_or_aggregated(grid: BacktestRun, viewer: Client) -> None:
    res = selectors.sweep_results(grid)
    assert [v.dims["take_profit_fraction"] for v in res.variants[:2]] == ["0.500", "0.900"]

    def cells(**query: str) -> list[list[tuple[str, int | None]]]:
        q = sweep_report.sweep_query({"x": "short_delta_target", "y": "width_points", **query}, res.dims, len(res.days))
        assert not q.errors, q.errors
        h = sweep_report.heatmap(res, q)
        assert h is not None and h["columns"] == ["0.100", "0.200"] and [r["value"] for r in h["rows"]] == ["10.00", "25.00"]
        return [[(c["text"], c["index"]) for c in r["cells"]] for r in h["rows"]]

    # Rows width 10, 25; columns delta 0.10, 0.20; take profit free. Mean of the two: (50+150)/2, (300+100)/2,
    # (−100+20)/2, (−40+0)/2 (no trade: total 0); each cell links to its best variant.
    assert cells(metric="total_pnl_usd", agg="mean") == [[("$100.00", 1), ("$200.00", 4)], [("-$40.00", 3), ("-$20.00", 7)]]
    assert cells(metric="total_pnl_usd", agg="best") == [[("$150.00", 1), ("$300.00", 4)], [("$20.00", 3), ("$0.00", 7)]]
    # Take profit fixed at 0.9: one variant per cell.
    assert cells(metric="total_pnl_usd", f_take_profit_fraction="0.900") == [
        [("$150.00", 1), ("$100.00", 5)], [("$20.00", 3), ("$0.00", 7)]]
    # Expectancy is undefined without trades: variant 7 is left out of its cell's mean (−40 alone).
    assert cells(metric="expectancy_usd") == [[("$100.00", 1), ("$200.00", 4)], [("-$40.00", 3), ("-$40.00", 6)]]
    # The smallest drawdown is the best: 0 (#3) against 100 (#2).
    assert cells(metric="max_drawdown_usd", agg="best") == [[("$0.00", 0), ("$0.00", 4)], [("$0.00", 3), ("$0.00", 7)]]
    assert cells(metric="max_drawdown_usd", agg="mean") == [[("$0.00", 0), ("$0.00", 4)], [("$50.00", 3), ("$20.00", 7)]]
    assert cells(metric="trades", agg="mean") == [[("1", 0), ("1", 4)], [("1", 2), ("0.50", 6)]]

    # The same figures on the page, each linked to its variant, with what they are made of.
    html = viewer.get(f"/backtests/{grid.pk}/sweep/?x=short_delta_target&y=width_points&metric=total_pnl_usd&agg=mean").content.decode()
    table = section(html, "sweep-heatmap")
    assert re.findall(r'data-variant="(\d+)">([^<]*)<', table) == [
        ("1", "$100.00"), ("4", "$200.00"), ("3", "-$40.00"), ("7", "-$20.00")]
    assert f'href="/backtests/{grid.pk}/sweep/1/"' in table
    basis = text_of(html, "heatmap-basis")
    assert "Total PnL (USD) of each variant" in basis and "Take profit (fraction of credit): all 2 values" in basis
    assert "mean of the variants' figures over its 2 variants" in basis
    # Every cell's figure equals its variants' stored summary.
    tp = {v.index: v.metrics["summary"]["total_pnl_usd"] for v in res.variants}
    assert tp == {i: (p or 0.0) for i, p in enumerate(GRID_PNL)}


def test_the_heatmap_defaults_to_the_dimensions_with_several_values(seeded_grid: list, viewer: Client) -> None:
    run = sweep_build(dims={"short_delta_target": ["0.10", "0.20", "0.30"]}, trades=lambda i, d: [(WEEK[0], 10.0 * i)],
                      start=WEEK[0], end=WEEK[1])
    html = viewer.get(f"/backtests/{run.pk}/sweep/?metric=total_pnl_usd").content.decode()
    # The entry window (one value) is a dimension too: delta × window, one row.
    table = section(html, "sweep-heatmap")
    assert "Entry window (ET) \\ Short |Δ|" in html_mod.unescape(table)
    assert re.findall(r'data-variant="(\d+)">([^<]*)<', table) == [("0", "$0.00"), ("1", "$10.00"), ("2", "$20.00")]
    assert "Each cell is one variant and links to it." in text_of(html, "heatmap-basis")


# ------------------------------------------------------------------------------------ the table and CSV

def test_the_variant_table_sorts_by_any_figure_and_paginates(grid: BacktestRun, viewer: Client, monkeypatch: Any) -> None:
    url = f"/backtests/{grid.pk}/sweep/"
    assert variant_rows(viewer.get(url).content.decode()) == [4, 1, 5, 0, 3, 7, 6, 2]  # total PnL, best first
    assert variant_rows(viewer.get(url + "?sort=total_pnl_usd").content.decode()) == [2, 6, 7, 3, 0, 5, 1, 4]
    # An undefined figure sorts last both ways.
    assert variant_rows(viewer.get(url + "?sort=expectancy_usd").content.decode()) == [2, 6, 3, 0, 5, 1, 4, 7]
    assert variant_rows(viewer.get(url + "?sort=-expectancy_usd").content.decode()) == [4, 1, 5, 0, 3, 6, 2, 7]
    assert variant_rows(viewer.get(url + "?sort=index").content.decode()) == list(range(8))
    html = viewer.get(url + "?sort=-win_rate").content.decode()
    assert variant_rows(html)[-1] == 7
    table = section(html, "variant-table")
    assert 'data-sort="win_rate"' in table and "Win rate</a> ▼" in table

    monkeypatch.setattr(sweep_report, "VARIANTS_PER_PAGE", 3)
    page2 = viewer.get(url + "?sort=-total_pnl_usd&page=2")
    assert variant_rows(page2.content.decode()) == [0, 3, 7]
    partial = viewer.get(url + "?sort=-total_pnl_usd&page=3", headers={"HX-Request": "true", "HX-Target": "variant-table"})
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="variant-table"') and "<html" not in body and 'id="sweep-heatmap"' not in body
    assert variant_rows(body) == [6, 2]
    assert "sort=-total_pnl_usd&amp;page=2" in body  # the pager keeps the sort


def test_the_csv_has_every_variant_with_its_dimensions_and_figures(grid: BacktestRun, viewer: Client) -> None:
    response = viewer.get(f"/backtests/{grid.pk}/sweep/variants.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["index"]) for r in rows] == list(range(8))
    for r, v in zip(rows, SweepVariant.objects.filter(run=grid).order_by("index")):
        assert (r["window"], r["short_delta_target"], r["width_points"], r["take_profit_fraction"]) == (
            v.dims["window"], v.dims["short_delta_target"], v.dims["width_points"], v.dims["take_profit_fraction"])
        assert float(r["total_pnl_usd"]) == v.metrics["summary"]["total_pnl_usd"] == (GRID_PNL[v.index] or 0.0)
        assert int(r["trades"]) == (0 if GRID_PNL[v.index] is None else 1)
        assert r["expectancy_usd"] == ("" if GRID_PNL[v.index] is None else str(v.metrics["summary"]["expectancy_usd"]))
        assert r["name"] == v.name and r["key"] == f"v{v.index}"
    assert {"exits_take_profit", "exits_stop_loss", "max_drawdown_usd", "sharpe_daily_annualised", "materialized_run"} <= set(rows[0])


# ------------------------------------------------------------------------------------ honest selection

def test_the_walk_forward_panel_is_walk_forward_on_the_variants_daily_pnl(long_sweep: BacktestRun, viewer: Client) -> None:
    res = selectors.sweep_results(long_sweep)
    hand = pnl_matrix(long_sweep, long_trades)
    assert res.daily_pnl_usd.shape == hand.shape == (len(res.days), 6) and len(res.days) == 40
    np.testing.assert_allclose(res.daily_pnl_usd, hand)
    for sel, mode in (("total_pnl", "rolling"), ("sharpe", "expanding"), ("expectancy", "rolling")):
        html = viewer.get(f"/backtests/{long_sweep.pk}/sweep/?sel={sel}&train=10&test=5&mode={mode}").content.decode()
        wf = walk_forward(hand, res.days, metric=Metric(sel), train_days=10, test_days=5, expanding=mode == "expanding",
                          trades=res.daily_trades, wins=res.daily_wins)
        assert text_of(html, "wf-oos-total") == usd_text(float(wf.oos_pnl_usd.sum()))
        assert text_of(html, "wf-hindsight-total") == usd_text(float(wf.in_sample_best_pnl_usd.sum()))
        gap = float(wf.in_sample_best_pnl_usd.sum() - wf.oos_pnl_usd.sum())
        assert text_of(html, "wf-gap") == usd_text(gap)
        folds = section(html, "wf-folds")
        assert [int(i) for i in re.findall(r'data-variant="(\d+)"', folds)] == wf.chosen.tolist() and len(wf.folds) == 6
        assert f"{res.days[10]:%Y-%m-%d} → {res.days[14]:%Y-%m-%d}" in folds
        inputs = text_of(html, "wf-inputs")
        assert f"{mode} training window of 10 trading days" in inputs and "traded on the next 5" in inputs
        assert 'id="wf-chart"' in html and f"in-sample best #{wf.in_sample_best} (chosen with hindsight)" in html
    # The chart's last points are the two curves' ends.
    panel = sweep_report.walk_forward_panel(res, sweep_report.sweep_query({"train": "10", "test": "5"}, res.dims, 40))
    last = [ln["last"] for ln in panel["chart"]["lines"]]
    wf = walk_forward(hand, res.days, metric=Metric.SHARPE, train_days=10, test_days=5, trades=res.daily_trades,
                      wins=res.daily_wins)
    assert last == pytest.approx([wf.oos_pnl_usd.sum(), wf.in_sample_best_pnl_usd.sum()])


def test_the_deflated_sharpe_ratio_and_pbo_shown_are_the_pure_functions(long_sweep: BacktestRun, viewer: Client) -> None:
    res = selectors.sweep_results(long_sweep)
    hand = pnl_matrix(long_sweep, long_trades)
    html = viewer.get(f"/backtests/{long_sweep.pk}/sweep/?blocks=4&sel=sharpe").content.decode()
    d = deflated_sharpe_ratio(hand)
    assert text_of(html, "dsr-value") == f"{d.dsr:.3f}"
    assert text_of(html, "dsr-trials").startswith("6 ") and d.n_trials == 6
    assert text_of(html, "dsr-variance").startswith(f"{d.sharpe_variance:.3g}")
    assert text_of(html, "dsr-sharpe").startswith(f"{d.sharpe_per_day:.4f} per day")
    assert text_of(html, "dsr-benchmark").startswith(f"{d.expected_max_sharpe_per_day:.4f} per day")
    assert text_of(html, "dsr-moments").startswith(f"{d.skewness:.3f}, {d.kurtosis:.3f}")
    assert f'href="/backtests/{long_sweep.pk}/sweep/{d.selected}/"' in section(html, "dsr-inputs")
    assert "deflated Sharpe ratio is the probability" in section(html, "deflated-sharpe")

    p = probability_of_backtest_overfitting(hand, n_blocks=4, metric=Metric.SHARPE, trades=res.daily_trades,
                                            wins=res.daily_wins)
    assert text_of(html, "pbo-value") == f"{p.pbo:.3f}"
    assert text_of(html, "pbo-combinations") == "6" == str(p.n_combinations)
    assert text_of(html, "pbo-blocks") == "4 blocks of 10 consecutive trading days"
    assert text_of(html, "pbo-size") == "6, 40"
    assert "probability of backtest overfitting is how often" in section(html, "pbo")
    # Another metric and S give the function's figure for those.
    html = viewer.get(f"/backtests/{long_sweep.pk}/sweep/?blocks=8&sel=total_pnl").content.decode()
    p = probability_of_backtest_overfitting(hand, n_blocks=8, metric=Metric.TOTAL_PNL)
    assert text_of(html, "pbo-value") == f"{p.pbo:.3f}" and text_of(html, "pbo-combinations") == "70"


def test_pbo_is_computed_once_per_daily_file_metric_and_s(long_sweep: BacktestRun, viewer: Client,
                                                          monkeypatch: Any) -> None:
    url = f"/backtests/{long_sweep.pk}/sweep/?blocks=4"
    first = text_of(viewer.get(url).content.decode(), "pbo-value")

    def recomputed(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("PBO recomputed")

    monkeypatch.setattr(sweep_report, "probability_of_backtest_overfitting", recomputed)
    # Another heatmap or sort: the same figure, not computed again.
    html = viewer.get(url + "&metric=win_rate&sort=index").content.decode()
    assert text_of(html, "pbo-value") == first
    for other in ("?blocks=6", "?blocks=4&sel=total_pnl"):
        with pytest.raises(AssertionError, match="PBO recomputed"):
            viewer.get(f"/backtests/{long_sweep.pk}/sweep/{other}")
    # Another result file (a rerun of different data) is another key.
    BacktestRun.objects.filter(pk=long_sweep.pk).update(metrics={**long_sweep.metrics, "daily_file_sha256": "0" * 64})
    with pytest.raises(AssertionError, match="PBO recomputed"):
        viewer.get(url)


def test_too_few_days_or_variants_give_a_message_instead_of_a_figure(grid: BacktestRun, viewer: Client) -> None:
    html = viewer.get(f"/backtests/{grid.pk}/sweep/").content.decode()  # 5 days, default S = 16
    assert "S = 16 blocks, this sweep has 5 days" in text_of(html, "pbo-message") and 'id="pbo-value"' not in html
    assert 'id="wf-oos-total"' in html and 'id="dsr-value"' in html  # 5 days are enough for these
    one = sweep_build(dims={"short_delta_target": ["0.10"]}, trades=lambda i, d: [(WEEK[0], 10.0)], start=WEEK[0], end=WEEK[1])
    html = viewer.get(f"/backtests/{one.pk}/sweep/").content.decode()
    assert "needs at least 2 variants to choose from; this sweep has 1" in text_of(html, "wf-message")
    assert "needs at least 2 variants and 3 trading days" in text_of(html, "dsr-message")
    assert "needs at least 2 variants; this sweep has 1" in text_of(html, "pbo-message")
    assert variant_rows(html) == [0] and re.findall(r'data-variant="(\d+)"', section(html, "sweep-heatmap")) == ["0"]


# ------------------------------------------------------------------------------------ a variant

def test_a_variant_page_draws_its_curve_from_the_daily_pnl_and_lists_its_trades(long_sweep: BacktestRun, viewer: Client) -> None:
    res = selectors.sweep_results(long_sweep)
    html = viewer.get(f"/backtests/{long_sweep.pk}/sweep/3/").content.decode()
    curve = sweep_report.variant_curve(res, 3)
    hand = np.cumsum(pnl_matrix(long_sweep, long_trades)[:, 3])
    assert [e for _, e in curve] == pytest.approx(hand.tolist())
    assert 'id="equity-curve"' in html and 'id="drawdown-curve"' in html
    assert usd_text(float(hand[-1])) in html and usd_text(long_sweep.sweep_variants.get(index=3).metrics["summary"]["total_pnl_usd"]) in html
    trades = long_trades(3, {})
    assert html.count('class="variant-trade"') == min(len(trades), 100)
    assert usd_text(trades[0][1]) in html
    assert "Δ0.150" in html and "TP0.900" in html and 'id="materialise"' not in html  # the viewer may not materialise


# ------------------------------------------------------------------------------------ permissions and bad input

def test_the_pages_need_a_login_and_only_staff_launch_or_materialise(grid: BacktestRun, client: Client, viewer: Client) -> None:
    for url in (f"/backtests/{grid.pk}/sweep/", "/backtests/sweeps/new/", f"/backtests/{grid.pk}/sweep/1/",
                f"/backtests/{grid.pk}/sweep/variants.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    assert client.post(f"/backtests/{grid.pk}/sweep/1/materialise/").status_code == 302
    assert viewer.get(f"/backtests/{grid.pk}/sweep/").status_code == 200
    page = viewer.get(f"/backtests/{grid.pk}/sweep/1/").content.decode()
    assert 'id="materialise"' not in page
    assert viewer.post(f"/backtests/{grid.pk}/sweep/1/materialise/").status_code == 403
    new = viewer.get("/backtests/sweeps/new/").content.decode()
    assert 'id="sweep-form"' not in new and 'id="sweep-no-permission"' in new
    assert viewer.post("/backtests/sweeps/new/", {"short_delta_target": "0.1"}).status_code == 403
    # Staff without the permission is a viewer too.
    staff = Client()
    staff.force_login(StaffUserFactory(username="looker", perms=["backtests.view_backtestrun"]))
    assert staff.post(f"/backtests/{grid.pk}/sweep/1/materialise/").status_code == 403
    assert SweepVariant.objects.get(run=grid, index=1).materialized_run is None
    assert 'id="sweep-new-link"' not in viewer.get("/backtests/").content.decode()


@pytest.mark.parametrize("query, message", [
    ("x=colour", "x must be a swept dimension (window, short_delta_target, width_points, take_profit_fraction), got 'colour'"),
    ("x=width_points&y=width_points", "x and y must be two different dimensions, got 'width_points' twice"),
    ("metric=luck", "metric must be one of expectancy_usd, win_rate"),
    ("agg=median", "agg must be one of mean, best, got 'median'"),
    ("f_take_profit_fraction=0.7", "f_take_profit_fraction must be one of the swept values 0.500, 0.900, got '0.7'"),
    ("sort=colour", "sort must be a figure of the table"),
    ("train=abc", "train must be a whole number of trading days from 1 to 4 (the sweep has 5 days), got 'abc'"),
    ("train=5", "train must be a whole number of trading days from 1 to 4"),
    ("train=2&test=0", "test must be a whole number of trading days from 1 to 3"),
    ("sel=luck", "sel must be one of sharpe, total_pnl"),
    ("mode=sideways", "mode must be one of rolling, expanding"),
    ("blocks=5", "blocks must be an even number from 2 to 16, got '5'"),
    ("train=99999999999999999999999999", "train must be a whole number"),
])
def test_bad_parameters_are_reported_on_the_page(grid: BacktestRun, viewer: Client, query: str, message: str) -> None:
    response = viewer.get(f"/backtests/{grid.pk}/sweep/?{query}")
    html = response.content.decode()
    assert response.status_code == 200 and "Traceback" not in html
    assert message in html_mod.unescape(section(html, "sweep-errors")), text_of(html, "sweep-errors")
    assert 'id="sweep-heatmap"' in html and 'id="variant-table"' in html  # the defaults are shown


def test_unknown_runs_variants_and_non_sweeps(grid: BacktestRun, viewer: Client) -> None:
    assert viewer.get("/backtests/999999/sweep/").status_code == 404
    assert viewer.get("/backtests/999999/sweep/variants.csv").status_code == 404
    assert viewer.get(f"/backtests/{grid.pk}/sweep/8/").status_code == 404
    ordinary = BacktestRunFactory(done=True)
    for url in (f"/backtests/{ordinary.pk}/sweep/", f"/backtests/{ordinary.pk}/sweep/0/"):
        response = viewer.get(url)
        assert response.status_code == 302 and response["Location"] == f"/backtests/{ordinary.pk}/", url
    # A sweep is linked from the run list and its run page.
    listing = viewer.get("/backtests/").content.decode()
    assert f'id="sweep-link-{grid.pk}" href="/backtests/{grid.pk}/sweep/"' in listing
    assert f'id="sweep-link-{ordinary.pk}"' not in listing
    detail = viewer.get(f"/backtests/{grid.pk}/").content.decode()
    assert f'href="/backtests/{grid.pk}/sweep/"' in section(detail, "sweep-results-link")
    assert 'id="sweep-results-link"' not in viewer.get(f"/backtests/{ordinary.pk}/").content.decode()


# ------------------------------------------------------------------------------------ the launch form

def form_body(**overrides: Any) -> dict[str, Any]:
    from strategy.models import StrategyConfig

    body = {"name": "tiny sweep", "config": StrategyConfig.objects.get(name="3DTE put 10d").pk,
            "start": DAY.isoformat(), "end": NEXT_DAY.isoformat(), "short_delta_target": "0.10,0.20",
            "window": "10:00", "exit_check_minutes": "1", "chunk_days": "1", "idempotency_key": "sweep-form-1"}
    return {**body, **overrides}


@pytest.mark.parametrize("overrides, field, message", [
    ({"short_delta_target": "0.10,1.5"}, "short_delta_target", "|delta| 1.5 must lie in (0, 1)"),
    ({"short_delta_target": "0.30:0.05:0.05"}, "short_delta_target", "needs start &lt;= stop and a positive step"),
    ({"window": "10:02"}, "window", "entry window 10:02 must be a 5-minute slot"),
    ({"window": "10:00-09:00/30"}, "window", "needs start &lt;= stop"),
    ({"target_dte": "9"}, "target_dte", "DTE 9 must lie in 0–7"),
    ({"side": "straddle"}, "side", "side &#x27;straddle&#x27; must be put or call"),
    ({"take_profit_fraction": "0.5,0.5"}, "take_profit_fraction", "repeated value(s): 0.500"),
    ({"exit_at_time": "15:00", "exit_minutes_before_settlement": "30"}, "exit_at_time", "not both"),
    ({"config": ""}, "config", "choose the base strategy config"),
    ({"end": "2026-03-01"}, "end", "is before start"),
    ({"start": "soon"}, "start", "Enter a valid date."),
])
def test_launch_form_errors_are_shown_on_their_field(seeded_grid: list, operator: Client, overrides: dict[str, Any],
                                                     field: str, message: str) -> None:
    response = operator.post("/backtests/sweeps/new/", form_body(**overrides))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="sweep-form"' in html and "Traceback" not in html
    label = re.search(rf'<label[^>]*>(?:(?!</label>).)*name="{field}".*?</label>', html, re.S)
    assert label and message in label.group(0), html[html.index('id="sweep-form"'):][:4000]
    assert not BacktestRun.objects.exists()
    assert 'value="tiny sweep"' in html and 'value="sweep-form-1"' not in html  # kept what was typed; a fresh key


def test_the_launch_form_refuses_more_variants_than_the_limit(seeded_grid: list, operator: Client, settings: Any) -> None:
    settings.SWEEP_MAX_VARIANTS = 10
    html = operator.post("/backtests/sweeps/new/", form_body(short_delta_target="0.05:0.30:0.05", width_points="10,25")).content.decode()
    errors = section(html, "sweep-errors")
    assert "12 variants (1 window × 6 short_delta_target × 2 width_points); a sweep may have at most 10" in errors
    assert "12 variants" in text_of(html, "variant-count") and not BacktestRun.objects.exists()


def test_the_variant_count_follows_the_form_as_it_is_typed(seeded_grid: list, operator: Client, settings: Any) -> None:
    page = operator.get("/backtests/sweeps/new/").content.decode()
    assert 'hx-get="/backtests/sweeps/new/" hx-trigger="input delay:400ms, change" hx-target="#sweep-count"' in page
    assert text_of(page, "variant-count") == "3 variants"  # the default windows alone
    hx = {"HX-Request": "true"}
    query = {"short_delta_target": "0.05:0.30:0.05", "width_points": "10,25", "window": "10:00-11:00/30",
             "config": form_body()["config"]}
    response = operator.get("/backtests/sweeps/new/", query, headers=hx)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="sweep-count"') and "<html" not in body and 'id="sweep-form"' not in body
    assert text_of(body, "variant-count") == "36 variants"
    assert "(3 window × 6 short_delta_target × 2 width_points;" in body  # the grid's order
    assert "10:00, 10:30, 11:00" in body and "base: 3" in body  # DTE from the base config
    settings.SWEEP_MAX_VARIANTS = 20
    body = operator.get("/backtests/sweeps/new/", query, headers=hx).content.decode()
    assert "36 variants (3 window × 6 short_delta_target × 2 width_points); a sweep may have at most 20" in body
    body = operator.get("/backtests/sweeps/new/", {**query, "take_profit_fraction": "0.5,abc"}, headers=hx).content.decode()
    assert text_of(body, "variant-count") == "—" and "Take profit (fraction of credit): &#x27;abc&#x27; is not a number" in body


# ------------------------------------------------------------------------------------ a real sweep

@pytest.fixture
def imported(tiny_days: dict[dt.date, Any], market_dir: Path, seeded_grid: list) -> tuple[dt.date, dt.date]:
    import_files([p for day in tiny_days.values() for p in (day.definition_path, day.cbbo_path)])
    return DAY, NEXT_DAY


def test_a_sweep_launched_from_the_form_runs_shows_its_results_and_materialises_a_variant(
    operator: Client, compact_market: Path, django_capture_on_commit_callbacks: Any,
) -> None:
    body = form_body(take_profit_fraction="0.5,0.9", start=COMPACT_DAYS[0].isoformat(), end=COMPACT_DAYS[-1].isoformat())
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = operator.post("/backtests/sweeps/new/", body)
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/{run.pk}/sweep/"
    assert len(queued) == run.chunks_total == 3
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.name == "tiny sweep" and run.idempotency_key == "sweep-form-1" and run.params["sweep"]["variants"] == 4
    assert run.params["sweep"]["dims"] == [["window", ["10:00"]], ["short_delta_target", ["0.100", "0.200"]],
                                           ["take_profit_fraction", ["0.500", "0.900"]]]
    again = operator.post("/backtests/sweeps/new/", body)
    assert again["Location"] == f"/backtests/{run.pk}/sweep/" and BacktestRun.objects.count() == 1

    html = operator.get(response["Location"]).content.decode()
    assert 'id="sweep-live">' in html and "hx-trigger" not in section(html, "sweep-progress")
    res = selectors.sweep_results(run)
    assert variant_rows(html) == [v.index for v in sweep_report.variants_sorted(res.variants, "-total_pnl_usd")]
    assert 'id="sweep-heatmap"' in html and 'id="walk-forward"' in html and 'id="deflated-sharpe"' in html
    for v in res.variants:
        assert usd_text(v.metrics["summary"]["total_pnl_usd"]) in section(html, "variant-table")

    best = sweep_report.variants_sorted(res.variants, "-trades")[0]
    assert best.metrics["trades_total"] > 0  # a variant with trades to materialise
    page = operator.get(f"/backtests/{run.pk}/sweep/{best.index}/").content.decode()
    assert 'id="materialise"' in page
    assert page.count('class="variant-trade"') == len(selectors.sweep_variant_trades(run, best.index))
    done = operator.post(f"/backtests/{run.pk}/sweep/{best.index}/materialise/")
    assert done.status_code == 302 and done["Location"] == f"/backtests/{run.pk}/sweep/{best.index}/"
    child = SweepVariant.objects.get(run=run, index=best.index).materialized_run
    assert child is not None and child.status == BacktestRun.Status.DONE
    assert Trade.objects.filter(backtest_run=child).count() == len(selectors.sweep_variant_trades(run, best.index))
    page = operator.get(done["Location"]).content.decode()
    assert f'id="materialised-run" href="/backtests/{child.pk}/"' in page
    assert f'id="materialised-trades" href="/trades/?run={child.pk}"' in page and 'id="materialise"' not in page
    # Materialising again is the same run.
    operator.post(f"/backtests/{run.pk}/sweep/{best.index}/materialise/")
    assert SweepVariant.objects.get(run=run, index=best.index).materialized_run_id == child.pk
    assert f'href="/backtests/{child.pk}/"' in section(operator.get(f"/backtests/{run.pk}/sweep/?sort=index").content.decode(),
                                                       f"variant-{best.index}")


def test_a_running_sweep_polls_its_progress_and_stops_when_done(operator: Client, imported: tuple[dt.date, dt.date]) -> None:
    from strategy.models import StrategyConfig

    run, _ = sweeps.sweep_create(config=StrategyConfig.objects.get(name="3DTE put 10d"),
                                 dims={"short_delta_target": ["0.10", "0.20"]}, windows=["10:00"], start=DAY, end=NEXT_DAY)
    url = f"/backtests/{run.pk}/sweep/"
    html = operator.get(url + "?metric=win_rate").content.decode()
    assert f'<div id="sweep-live" hx-get="{url}?metric=win_rate" hx-trigger="every 2s" hx-swap="outerHTML">' in html
    assert "0/2 days (0.0%)" in html and 'id="sweep-heatmap"' not in html and 'id="sweep-spec"' in html
    assert operator.get(url + "1/").status_code == 302  # no variants yet: back to the sweep
    partial = operator.get(url, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200 and body.lstrip().startswith('<div id="sweep-live" hx-get=')
    assert 'id="sweep-spec"' not in body and "<html" not in body
    from backtests import services

    services.run_execute_inline(run)
    partial = operator.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 286  # htmx stops polling
    body = partial.content.decode()
    assert body.lstrip().startswith('<div id="sweep-live">') and 'id="variant-table"' in body
