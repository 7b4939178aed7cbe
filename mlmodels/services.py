"""Train, store, activate and retire meta-labeler model versions.

``train_model``: dataset (``mlmodels.dataset``, its SHA-256 recorded) → walk-forward report and
final model (``training.train``) → the model file (XGBoost UBJ, content-addressed by its SHA-256,
written atomically under ``ML_MODEL_DIR``) and its JSON sidecar → a ``ModelVersion`` (candidate).
The same dataset, group and parameters give the same file and return the existing version.

``activate`` refuses a model whose out-of-sample expectancy gain interval does not lie above zero
unless forced with a reason (stored), and one trained on another feature schema; it retires the
group's previous active model in the same transaction. ``retire`` takes a model out of service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
import xgboost as xgb
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlmodels import training
from mlmodels.dataset import DatasetError, candidates, dataset_build
from mlmodels.learner import LearnParams
from mlmodels.models import ModelVersion, TrainingRequest
from snapshots.payloads import sha256_of
from strategy.models import DecisionOutcome, Source
from strategy.quant.decision import DEFAULT_ML_GROUP
from strategy.quant.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION

Progress = Callable[[str, float], None]


class ModelError(ValueError):
    """A training, activation or retirement that cannot be done as asked; the message says why."""


_OPTIONAL_KINDS = {"rolling_days": int, "embargo_days": float}  # the fields whose default is None


def learn_params(overrides: Mapping[str, Any] | None = None) -> LearnParams:
    """``LearnParams`` with the given fields changed; unknown names or bad types are a ``ModelError``."""
    base = LearnParams()
    unknown = set(overrides or {}) - set(base.as_dict())
    if unknown:
        raise ModelError(f"unknown training parameter(s): {', '.join(sorted(unknown))}")
    values = base.as_dict()
    for name, value in (overrides or {}).items():
        kind = _OPTIONAL_KINDS.get(name) or type(values[name])
        try:
            values[name] = None if value is None else kind(value)
        except (TypeError, ValueError):
            raise ModelError(f"training parameter {name} must be {kind.__name__}, got {value!r}") from None
    return LearnParams(**values)


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "xgboost": xgb.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__}


def code_version() -> str:
    """``CODE_VERSION``, else the checkout's commit read from ``.git`` (no subprocess), else ""."""
    if settings.CODE_VERSION:
        return str(settings.CODE_VERSION)[:60]
    git = Path(settings.BASE_DIR) / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = git / ref
            if path.is_file():
                return path.read_text().strip()[:60]
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:60]
            return ""
        return head[:60]
    except OSError:
        return ""


def model_dir() -> Path:
    return Path(settings.ML_MODEL_DIR)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def model_bytes(mv: ModelVersion) -> bytes:
    """The model file of ``mv``, checked against its SHA-256 (``ModelError`` if missing or changed)."""
    path = model_dir() / mv.model_file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model {mv.pk}: its file {path} cannot be read ({exc.strerror})") from None
    if sha256_bytes(data) != mv.model_sha256:
        raise ModelError(f"model {mv.pk}: {path} does not match its SHA-256 (changed on disk)")
    return data


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def train_model(*, dataset_spec: Mapping[str, Any], group: str = DEFAULT_ML_GROUP,
                params: LearnParams | None = None, progress: Progress | None = None) -> ModelVersion:
    """Train on the dataset ``dataset_spec`` names (source, run, start, end) and store a candidate."""
    params = params or LearnParams()
    spec = {"source": dataset_spec.get("source", Source.BACKTEST), "run": dataset_spec.get("run"),
            "start": dataset_spec.get("start"), "end": dataset_spec.get("end")}
    try:
        data = dataset_build(source=spec["source"], run_id=spec["run"], start=_date(spec["start"]),
                             end=_date(spec["end"]), group=group)
    except DatasetError as exc:
        raise ModelError(str(exc)) from None
    if not data.rows:
        raise ModelError(f"the dataset ({_describe(spec)}, group {group}) has no labelled rows "
                         f"(left out: {', '.join(f'{k} {v}' for k, v in data.skipped.items() if v) or 'none'})")
    params_sha = sha256_of(params.as_dict())
    existing = ModelVersion.objects.filter(dataset_sha256=data.sha256, params_sha256=params_sha, group=group).first()
    if existing is not None:
        return existing
    try:
        trained = training.train(data.rows, FEATURE_NAMES, params, progress=progress)
    except ValueError as exc:
        raise ModelError(f"cannot train on {_describe(spec)}: {exc}") from None
    raw = bytes(trained.final.model.get_booster().save_raw(raw_format="ubj"))
    sha = sha256_bytes(raw)
    name = f"{group}-{sha[:16]}"
    result = trained.report["result"]
    gain = result["gain"]["expectancy_usd"]
    versions, code = library_versions(), code_version()
    sidecar: dict[str, Any] = {
        "model_sha256": sha, "group": group, "dataset_sha256": data.sha256, "dataset": spec,
        "dataset_rows": len(data.rows), "feature_schema": FEATURE_SCHEMA_VERSION, "feature_names": list(FEATURE_NAMES),
        "params": params.as_dict(), "library_versions": versions, "code_version": code,
        "calibrator": trained.final.calibrator.as_dict(), "threshold": trained.final.threshold,
        "best_iteration": _best_iteration(trained.final.model),
    }
    _write_atomic(model_dir() / f"{name}.ubj", raw)
    _write_atomic(model_dir() / f"{name}.json", json.dumps(sidecar, sort_keys=True, indent=1).encode())
    try:
        return ModelVersion.objects.create(
            group=group, model_file=f"{name}.ubj", model_sha256=sha, sidecar_file=f"{name}.json",
            dataset_sha256=data.sha256, dataset_spec=spec, dataset_rows=len(data.rows),
            feature_schema=FEATURE_SCHEMA_VERSION, feature_names=list(FEATURE_NAMES), params=params.as_dict(),
            params_sha256=params_sha, library_versions=versions, code_version=code,
            calibrator=sidecar["calibrator"], threshold=trained.final.threshold, report=_json_safe(trained.report),
            importances=trained.report["importances"], gain_expectancy_usd=gain["value"],
            gain_low_usd=gain["low"], gain_high_usd=gain["high"],
        )
    except IntegrityError:  # a concurrent identical training won the race: same bytes, same row
        return ModelVersion.objects.get(dataset_sha256=data.sha256, params_sha256=params_sha, group=group)


def _best_iteration(model: xgb.XGBClassifier) -> int | None:
    value = model.get_booster().attr("best_iteration")
    return int(value) if value is not None else None


def _date(value: Any) -> Any:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ModelError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _describe(spec: Mapping[str, Any]) -> str:
    parts = [str(spec["source"])] + [f"{k} {spec[k]}" for k in ("run", "start", "end") if spec.get(k)]
    return ", ".join(parts)


def _json_safe(value: Any) -> Any:
    """NaN/inf → None, numpy scalars → Python (JSONField stores strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if np.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ------------------------------------------------------------------------------ status changes

def activate(mv: ModelVersion, *, user: Any = None, force: bool = False, reason: str = "") -> ModelVersion:
    """Make ``mv`` its group's active model (module docstring for the refusals)."""
    reason = (reason or "").strip()
    if mv.feature_schema != FEATURE_SCHEMA_VERSION:
        raise ModelError(f"model {mv.pk} was trained on feature schema {mv.feature_schema}; decisions now compute "
                         f"schema {FEATURE_SCHEMA_VERSION}: retrain it")
    if not (mv.gain_low_usd is not None and mv.gain_low_usd > 0):
        if not force:
            raise ModelError(
                f"model {mv.pk}: its out-of-sample expectancy gain interval "
                f"[{_usd(mv.gain_low_usd)}, {_usd(mv.gain_high_usd)}] per trade does not lie above zero; "
                "activate with force and a reason to override")
        if not reason:
            raise ModelError("a forced activation needs a reason (it is stored with the model)")
    model_bytes(mv)  # the file must be there and intact before it gates anything
    now = timezone.now()
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=mv.pk)
        if locked.status == ModelVersion.Status.ACTIVE:
            return locked
        for old in ModelVersion.objects.select_for_update().filter(group=locked.group, status=ModelVersion.Status.ACTIVE):
            old.status, old.status_changed_at, old.status_changed_by = ModelVersion.Status.RETIRED, now, user
            old.status_reason = f"replaced by model {locked.pk}"
            old.save(update_fields=["status", "status_changed_at", "status_changed_by", "status_reason"])
        locked.status, locked.status_changed_at, locked.status_changed_by = ModelVersion.Status.ACTIVE, now, user
        locked.forced = force and not (mv.gain_low_usd is not None and mv.gain_low_usd > 0)
        locked.status_reason = reason or "activated"
        locked.save(update_fields=["status", "status_changed_at", "status_changed_by", "status_reason", "forced"])
    return locked


def retire(mv: ModelVersion, *, user: Any = None, reason: str = "") -> ModelVersion:
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=mv.pk)
        if locked.status != ModelVersion.Status.RETIRED:
            locked.status, locked.status_changed_at, locked.status_changed_by = (
                ModelVersion.Status.RETIRED, timezone.now(), user)
            locked.status_reason = (reason or "").strip() or "retired"
            locked.save(update_fields=["status", "status_changed_at", "status_changed_by", "status_reason"])
    return locked


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.2f} USD"


# ------------------------------------------------------------------------------ training requests

def request_training(*, dataset_spec: Mapping[str, Any], group: str = DEFAULT_ML_GROUP,
                     params: Mapping[str, Any] | None = None, idempotency_key: str = "",
                     user: Any = None) -> tuple[TrainingRequest, bool]:
    """Record an ask to train (``(request, created)``); the same key returns the first request.

    Checked now, so a bad ask fails at once and never reaches a worker: the parameters, and that
    the dataset has resolved candidates (one query; the worker builds the dataset itself).
    """
    key = (idempotency_key or "").strip()[:80] or uuid.uuid4().hex
    existing = TrainingRequest.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing, False
    checked = learn_params(params)
    spec = {"source": dataset_spec.get("source", Source.BACKTEST), "run": dataset_spec.get("run"),
            "start": _iso(dataset_spec.get("start")), "end": _iso(dataset_spec.get("end"))}
    try:
        found = candidates(source=spec["source"], run_id=spec["run"], start=_date(spec["start"]), end=_date(spec["end"]),
                           group=group).filter(outcome__status=DecisionOutcome.Status.RESOLVED).exists()
    except DatasetError as exc:
        raise ModelError(str(exc)) from None
    if not found:
        raise ModelError(f"the dataset ({_describe(spec)}, group {group}) has no labelled rows")
    try:
        with transaction.atomic():
            return TrainingRequest.objects.create(idempotency_key=key, group=group, dataset_spec=spec,
                                                  params=checked.as_dict(), requested_by=user), True
    except IntegrityError:
        return TrainingRequest.objects.get(idempotency_key=key), False


def _iso(value: Any) -> str | None:
    return None if value in (None, "") else _date(value).isoformat()


def training_run(request_id: int, *, progress: Progress | None = None) -> TrainingRequest:
    """Carry out one training request (the Celery task's and the command's body); a done request is
    left as it is. Progress goes on the request row (and to ``progress`` when given)."""
    with transaction.atomic():
        req = TrainingRequest.objects.select_for_update().get(pk=request_id)
        if req.status == TrainingRequest.Status.DONE:
            return req
        req.status, req.stage, req.progress, req.error = TrainingRequest.Status.RUNNING, "reading the dataset", 0.0, ""
        req.save(update_fields=["status", "stage", "progress", "error"])

    def report(stage: str, fraction: float) -> None:
        TrainingRequest.objects.filter(pk=request_id).update(stage=stage[:80], progress=round(float(fraction), 3))
        if progress is not None:
            progress(stage, fraction)

    try:
        mv = train_model(dataset_spec=req.dataset_spec, group=req.group, params=learn_params(req.params),
                         progress=report)
    except ModelError as exc:
        TrainingRequest.objects.filter(pk=request_id).update(status=TrainingRequest.Status.FAILED, error=str(exc),
                                                             finished_at=timezone.now())
        req.refresh_from_db()
        return req
    TrainingRequest.objects.filter(pk=request_id).update(status=TrainingRequest.Status.DONE, model=mv, progress=1.0,
                                                         stage="done", finished_at=timezone.now())
    req.refresh_from_db()
    return req


def training_fail(request_id: int, reason: str) -> None:
    """A request that could not finish (e.g. the task's time limit): failed, with the reason shown."""
    TrainingRequest.objects.filter(pk=request_id).exclude(status=TrainingRequest.Status.DONE).update(
        status=TrainingRequest.Status.FAILED, error=reason[:2000], finished_at=timezone.now())


def training_launch(req: TrainingRequest) -> None:
    """Queue a pending or failed request on the Celery workers (after commit)."""
    from mlmodels.tasks import train_run  # the task module imports these services

    if req.status in (TrainingRequest.Status.PENDING, TrainingRequest.Status.FAILED):
        train_run.delay_on_commit(req.pk)
