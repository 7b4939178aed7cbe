"""The meta-labeler's dataset of a backtest run: rows from its candidates, fixed columns, weights, a stable hash."""

from __future__ import annotations

import datetime as dt
import io
import math
from io import StringIO
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command
from snapshots.tests.factories import read_token_client

from backtests import services
from backtests.tests.conftest import COMPACT_DAYS
from mlmodels.dataset import COLUMNS, META, DatasetError, dataset_build, uniqueness
from strategy.models import DecisionOutcome, StrategyConfig, TradeDecision
from strategy.quant.features import FEATURE_NAMES

pytestmark = pytest.mark.django_db


def test_uniqueness_by_hand() -> None:
    # a: [0, 10] alone for 0–5, shared with b for 5–10 → (5 + 5/2) / 10 = 0.75; b: [5, 15] → (5/2 + 5) / 10.
    assert uniqueness([(0, 10), (5, 15)]) == [0.75, 0.75]
    # c inside a: a = (2 + 4/2 + 4) / 10 = 0.8, c = 0.5; a zero-length label at a shared instant: 1/2.
    assert uniqueness([(0, 10), (2, 6)]) == [pytest.approx(0.8), 0.5]
    assert uniqueness([(0, 10), (4, 4)]) == [pytest.approx(1.0), 0.5]
    assert uniqueness([(0, 1), (2, 3)]) == [1.0, 1.0] and uniqueness([]) == []


@pytest.fixture
def run(compact_market: Path) -> int:
    params = services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1],
                                   configs=StrategyConfig.objects.filter(target_dte=3), chunk_days=2)
    return services.run_execute_inline(services.run_create(params, name="dataset")[0]).pk


def test_a_backtest_dataset_has_every_resolved_candidate_once(run: int, tmp_path: Path) -> None:
    data = dataset_build(source="backtest", run_id=run)
    candidates = TradeDecision.objects.filter(backtest_run_id=run, credit_fill__isnull=False).exclude(
        action="SKIP", reason_code__in=["credit_below_min", "combo_spread_too_wide", "no_credit"])
    resolved = DecisionOutcome.objects.filter(decision__in=candidates, status="resolved")
    assert data.rows and len(data.rows) == resolved.count()
    assert data.skipped["outcome unresolved (data ended)"] == candidates.count() - resolved.count()
    assert list(data.rows[0]) == list(COLUMNS) == [*META, *FEATURE_NAMES]
    times = [(r["entry_at"], r["decision_id"]) for r in data.rows]
    assert times == sorted(times)
    for r in data.rows:
        o = DecisionOutcome.objects.get(decision_id=r["decision_id"])
        assert (r["label"], r["exit_reason"], r["pnl_usd"]) == (o.label, o.exit_reason, float(o.pnl_usd))
        assert 0 < r["uniqueness"] <= 1 and r["exit_at"] >= r["entry_at"]
        assert all(isinstance(r[n], float) for n in FEATURE_NAMES)
    assert any(math.isnan(r["rv_60m"]) for r in data.rows)  # missing stays NaN, never 0
    # Same rows → same hash and byte-identical files.
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    data.write_parquet(a)
    dataset_build(source="backtest", run_id=run).write_parquet(b)
    assert a.read_bytes() == b.read_bytes() and dataset_build(source="backtest", run_id=run).sha256 == data.sha256
    table = pq.read_table(a)
    assert table.column_names == list(COLUMNS) and table.num_rows == len(data.rows)


def test_the_command_and_the_api(run: int, tmp_path: Path) -> None:
    out = StringIO()
    call_command("ml_dataset", "--source", "backtest", "--run", str(run), "--out", str(tmp_path / "d.parquet"), stdout=out)
    sha = dataset_build(source="backtest", run_id=run).sha256
    assert f"sha256 {sha}" in out.getvalue() and " rows × " in out.getvalue()
    with pytest.raises(CommandError, match="needs --run"):
        call_command("ml_dataset", "--source", "backtest", "--out", str(tmp_path / "x.parquet"))
    api = read_token_client()
    body = api.get(f"/api/ml/dataset?source=backtest&run={run}").json()
    assert body["sha256"] == sha and body["columns"] == list(COLUMNS) and body["rows"] > 0
    parquet = api.get(f"/api/ml/dataset?source=backtest&run={run}&output=parquet")
    assert parquet["X-Dataset-SHA256"] == sha
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == body["rows"]
    bad = api.get("/api/ml/dataset?source=nope")
    assert bad.status_code == 400 and "fields" in bad.json()
    assert api.get("/api/ml/dataset?source=backtest").status_code == 400  # no run


def test_bad_requests_say_why() -> None:
    with pytest.raises(DatasetError, match="source must be one of"):
        dataset_build(source="paper")
    assert dataset_build(source="simulated", start=dt.date(2030, 1, 1)).rows == []
