"""Model versions end to end: train from a stored dataset, the file and its hash, activation rules,
the gate on live decisions (and its failure policy), monitoring, the commands, the API and the pages."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backtests import services as backtest_services
from mlmodels import gate as gate_module
from mlmodels import services, training
from mlmodels.dataset import dataset_build
from mlmodels.learner import LearnParams
from mlmodels.models import ModelVersion, TrainingRequest
from mlmodels.monitoring import monitoring
from snapshots.tests.factories import StaffUserFactory
from spx_site.tests.ml_helpers import planted_rows, stored_run
from strategy import gating
from strategy.models import DecisionOutcome, StrategyConfig, TradeDecision
from strategy.quant.decision import DEFAULT_ML_GROUP
from strategy.quant.features import FEATURE_NAMES

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
SMALL = LearnParams(n_estimators=60, n_blocks=3)


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.ML_MODEL_DIR = tmp_path / "models"
    gate_module._cache.clear()
    return settings.ML_MODEL_DIR


@pytest.fixture
def planted_run():  # type: ignore[no-untyped-def]
    return stored_run(planted_rows(dt.date(2022, 1, 1), dt.date(2024, 12, 31)))


def _small_run():  # type: ignore[no-untyped-def]
    return stored_run(planted_rows(dt.date(2024, 1, 1), dt.date(2024, 6, 30), seed=5))


def test_a_trained_version_is_reproducible_and_gates_by_its_stored_file(planted_run, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    spec = {"source": "backtest", "run": planted_run.pk}
    mv = services.train_model(dataset_spec=spec)
    data = dataset_build(source="backtest", run_id=planted_run.pk, group=DEFAULT_ML_GROUP)
    assert mv.status == "candidate" and mv.dataset_sha256 == data.sha256 and mv.dataset_rows == len(data.rows) > 20_000
    raw = (model_dir / mv.model_file).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == mv.model_sha256 and raw[:1] == b"{"  # UBJ starts an object
    sidecar = json.loads((model_dir / mv.sidecar_file).read_text())
    assert sidecar["model_sha256"] == mv.model_sha256 and sidecar["feature_names"] == list(FEATURE_NAMES)
    assert sidecar["dataset_sha256"] == data.sha256 and sidecar["library_versions"]["xgboost"]
    report = mv.report
    assert report["oos"]["auc"] >= 0.60 and mv.gain_low_usd > 0  # the planted signal, out of sample
    assert {f["fold"] for f in report["folds"]} and all(f["purged"] > 0 for f in report["folds"])
    assert mv.importances[0]["mean_abs_shap"] >= mv.importances[-1]["mean_abs_shap"]
    assert set(report["reference"]) == set(FEATURE_NAMES) | {"score"}

    # The same dataset and parameters: the same version; retrained from scratch: the same bytes.
    assert services.train_model(dataset_spec=spec).pk == mv.pk
    again = training.train(data.rows, FEATURE_NAMES, LearnParams())
    assert hashlib.sha256(bytes(again.final.model.get_booster().save_raw(raw_format="ubj"))).hexdigest() == mv.model_sha256

    # The gate loads the stored file and gives the training's own probabilities.
    scorer = gate_module.load_scorer(mv)
    X = training.rows_from(data.rows, FEATURE_NAMES).X
    assert np.array_equal(scorer.probability(X[:500]), again.final.probability(X[:500]))
    assert scorer.threshold == again.final.threshold == mv.threshold

    services.activate(mv, reason="planted signal")
    gate = gating.gate_for()
    row = data.rows[0]
    score = gate(DEFAULT_ML_GROUP, {n: row[n] for n in FEATURE_NAMES})
    p = float(scorer.probability(X[:1])[0])
    assert score.model_version == str(mv.pk) and score.score == p and score.allowed == (p >= mv.threshold)
    assert gate("another-group", {}).reason == gating.NO_ACTIVE_MODEL and gate("another-group", {}).allowed


def test_activation_refuses_a_gain_that_may_be_zero_unless_forced_with_a_reason() -> None:
    run = stored_run(training.shuffled_rows(planted_rows(dt.date(2024, 1, 1), dt.date(2024, 6, 30), seed=5), 1))
    mv = services.train_model(dataset_spec={"source": "backtest", "run": run.pk}, params=SMALL)
    assert not (mv.gain_low_usd > 0)
    with pytest.raises(services.ModelError, match="does not lie above zero"):
        services.activate(mv)
    with pytest.raises(services.ModelError, match="needs a reason"):
        services.activate(mv, force=True, reason="  ")
    mv = services.activate(mv, force=True, reason="smoke test of the live gate")
    assert (mv.status, mv.forced, mv.status_reason) == ("active", True, "smoke test of the live gate")
    # A second active model of the group retires the first, in one transaction.
    other = services.train_model(dataset_spec={"source": "backtest", "run": run.pk}, params=replace(SMALL, max_depth=2))
    services.activate(other, force=True, reason="replace")
    mv.refresh_from_db()
    assert mv.status == "retired" and mv.status_reason == f"replaced by model {other.pk}"
    assert ModelVersion.objects.filter(status="active").count() == 1
    services.retire(other, reason="done")
    assert gating.gate_for() is gating.pass_all  # no active model: every entry passes, unscored


def _forced_active():  # type: ignore[no-untyped-def]
    run = _small_run()
    return services.activate(services.train_model(dataset_spec={"source": "backtest", "run": run.pk}, params=SMALL),
                             force=True, reason="test")


def test_live_windows_store_the_score_and_a_broken_model_skips_with_ml_error(sim, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from execution.services import entry_window_trade

    mv = _forced_active()
    path = model_dir / mv.model_file
    good = path.read_bytes()
    path.write_bytes(b"not a model")  # changed on disk: the window must not trade unscored
    entry_window_trade(at=dt.datetime(2026, 11, 20, 10, 0, tzinfo=NY))
    friday = TradeDecision.objects.filter(trading_day=dt.date(2026, 11, 20))
    broken = friday.filter(reason_code="ml_error")
    assert broken.exists() and not friday.filter(action="TRADE").exists()
    assert all("does not match its SHA-256" in d.reason_message and d.model_version == str(mv.pk) for d in broken)

    path.write_bytes(good)
    gate_module._cache.clear()
    entry_window_trade(at=dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY))
    monday = TradeDecision.objects.filter(trading_day=dt.date(2026, 11, 23))
    wanted = monday.filter(reason_code__in=["ok", "risk_limit", "ml_gate"])
    assert wanted.exists() and all(d.model_version == str(mv.pk) and d.model_score is not None for d in wanted)
    for d in wanted.filter(reason_code="ml_gate"):
        assert d.model_score < mv.threshold and f"model {mv.pk}" in d.reason_message
    for d in wanted.filter(action="TRADE"):
        assert d.model_score >= mv.threshold


def test_monitoring_compares_live_outcomes_with_training_and_flags_drift(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    mv = _forced_active()
    live_rows = planted_rows(dt.date(2024, 7, 1), dt.date(2024, 8, 30), seed=5)
    for r in live_rows[: len(live_rows) // 2]:
        r["vix30"] = r["vix30"] + 40.0  # a regime the training data never saw
    stored_run(live_rows, source="simulated")
    scorer = gate_module.load_scorer(mv)
    live = list(TradeDecision.objects.filter(backtest_run__isnull=True))
    scores = [scorer(DEFAULT_ML_GROUP, {k: (v if v is not None else float("nan")) for k, v in d.features.items()})
              for d in live]
    # Turn away the lower half by score (whatever this model's threshold does to these rows), so
    # both the gated trades and the turned-away candidates have outcomes to compare.
    cut = float(np.median([g.score for g in scores]))
    for d, g in zip(live, scores):
        d.model_version, d.model_score = g.model_version, g.score
        if g.score < cut:
            d.action, d.reason_code = "SKIP", "ml_gate"
        d.save(update_fields=["model_version", "model_score", "action", "reason_code"])
    m = monitoring(mv)
    assert m["resolved"] == len(live_rows) == m["scored"]
    assert m["brier"] is not None and m["baseline_brier"] == mv.report["oos"]["brier"]
    assert len(m["rolling_brier"]) == len(live_rows)
    assert "vix30" in m["flags"] and "dte_target" not in m["flags"]
    taken = TradeDecision.objects.filter(backtest_run__isnull=True, action="TRADE")
    assert m["gated_trades"]["n"] == taken.count()
    assert m["turned_away"]["n"] == TradeDecision.objects.filter(backtest_run__isnull=True, reason_code="ml_gate").count()
    pnl = [float(o.pnl_usd) for o in DecisionOutcome.objects.filter(decision__in=taken)]
    assert m["gated_trades"]["expectancy_usd"] == pytest.approx(sum(pnl) / len(pnl))
    client.force_login(django_user_model.objects.create_user("trader", password="pw"))
    home = client.get("/").content.decode()
    assert 'id="ml-drift"' in home and "vix30" in home and f"model {mv.pk}" in home
    assert 'id="psi-flags"' in client.get(f"/models/{mv.pk}/").content.decode()


def test_commands_train_activate_and_retire() -> None:
    run = _small_run()
    out = io.StringIO()
    call_command("train_model", "--run", str(run.pk), "--param", "n_estimators=60", "--param", "n_blocks=3", stdout=out)
    mv = ModelVersion.objects.get()
    assert f"model {mv.pk}" in out.getvalue() and "gain per trade" in out.getvalue()
    assert TrainingRequest.objects.get().model == mv
    with pytest.raises(CommandError, match="unknown training parameter"):
        call_command("train_model", "--run", str(run.pk), "--param", "depth=3")
    with pytest.raises(CommandError, match="needs --run"):
        call_command("train_model")
    if not (mv.gain_low_usd or 0) > 0:
        with pytest.raises(CommandError, match="does not lie above zero"):
            call_command("activate_model", str(mv.pk))
    call_command("activate_model", str(mv.pk), "--force", "--reason", "cli", stdout=io.StringIO())
    call_command("retire_model", str(mv.pk), stdout=io.StringIO())
    assert ModelVersion.objects.get().status == "retired"
    with pytest.raises(CommandError, match="does not exist"):
        call_command("activate_model", "999")


def test_a_backtest_names_its_gate_model_and_refuses_an_unknown_one() -> None:
    configs = StrategyConfig.objects.all()[:1]
    with pytest.raises(backtest_services.BacktestError, match="model 999 does not exist"):
        backtest_services.params_build(start=dt.date(2025, 3, 3), end=dt.date(2025, 3, 4), configs=configs, ml_model="999")
    assert backtest_services.params_build(start=dt.date(2025, 3, 3), end=dt.date(2025, 3, 4),
                                          configs=configs)["ml_model"] is None


def test_api_train_is_idempotent_and_activation_answers_409_then_forced(client, settings, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    run = _small_run()
    settings.ADMIN_API_KEY = "k" * 24
    body = {"run": run.pk, "params": {"n_estimators": 60, "n_blocks": 3}}
    assert client.post("/api/ml/models/train", body, content_type="application/json").status_code == 401
    headers = {"HTTP_X_API_KEY": "k" * 24, "HTTP_IDEMPOTENCY_KEY": "train-1"}
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued after commit (eager here)
        first = client.post("/api/ml/models/train", body, content_type="application/json", **headers)
    assert first.status_code == 202 and first.json()["status"] == "pending"
    again = client.post("/api/ml/models/train", body, content_type="application/json", **headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    done = client.get(f"/api/ml/trainings/{first.json()['id']}", **headers).json()
    assert done["status"] == "done" and done["progress"] == 1.0
    model_id = done["model"]
    listed = client.get("/api/ml/models", **headers).json()
    assert [m["id"] for m in listed] == [model_id] and listed[0]["page"] == f"/models/{model_id}/"
    detail = client.get(f"/api/ml/models/{model_id}", **headers).json()
    assert detail["feature_names"] == list(FEATURE_NAMES) and "folds" in detail["report"]
    bad = client.post("/api/ml/models/train", {"run": run.pk, "params": {"nope": 1}}, content_type="application/json",
                      **{"HTTP_X_API_KEY": "k" * 24})
    assert bad.status_code == 400 and "unknown training parameter" in bad.json()["error"]
    mv = ModelVersion.objects.get(pk=model_id)
    activate = f"/api/ml/models/{model_id}/activate"
    if not (mv.gain_low_usd or 0) > 0:
        assert client.post(activate, {}, content_type="application/json", **headers).status_code == 409
    forced = client.post(activate, {"force": True, "reason": "api"}, content_type="application/json", **headers)
    assert forced.status_code == 200 and forced.json()["status"] == "active"
    retired = client.post(f"/api/ml/models/{model_id}/retire", {}, content_type="application/json", **headers)
    assert retired.json()["status"] == "retired"
    assert client.get("/api/ml/models/999", **headers).status_code == 404


def test_pages_list_detail_train_and_activate(client, django_user_model, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    run = _small_run()
    staff = StaffUserFactory(perms=["mlmodels.add_trainingrequest", "mlmodels.activate_model", "mlmodels.retire_model"])
    client.force_login(staff)
    assert "No model yet" in client.get("/models/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/models/", {"source": "backtest", "run": run.pk, "group": DEFAULT_ML_GROUP, "idempotency_key": "p1"})
    assert r.status_code == 302
    assert "training-table" in client.get("/models/").content.decode()
    mv = ModelVersion.objects.get()
    page = client.get(f"/models/{mv.pk}/").content.decode()
    for part in ("result-table", "fold-table", "reliability-chart", "sweep-chart", "equity-chart", "importance-table",
                 "monitoring", mv.model_sha256, mv.dataset_sha256):
        assert part in page
    refused = client.post(f"/models/{mv.pk}/activate/", {"reason": ""}, follow=True).content.decode()
    if not (mv.gain_low_usd or 0) > 0:
        assert "does not lie above zero" in refused
    client.post(f"/models/{mv.pk}/activate/", {"force": "on", "reason": "page"})
    mv.refresh_from_db()
    assert mv.status == "active" and mv.status_changed_by == staff
    assert client.post("/models/", {"source": "backtest", "group": DEFAULT_ML_GROUP}).status_code == 200  # form error
    viewer = django_user_model.objects.create_user("viewer", password="pw")
    client.force_login(viewer)
    assert client.post(f"/models/{mv.pk}/retire/").status_code == 403
    assert client.get("/models/999/").status_code == 404
