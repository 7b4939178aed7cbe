"""The ML gate the entry windows and backtests consult before a TRADE (registered with ``strategy.gating``).

``gate_factory(None)``: the active model of each strategy group (``ModelVersion``); a candidate of
a group without one passes unscored (``no_active_model``), and with no active model at all there
is no gate. ``gate_factory("N")``: model N for every group — what a backtest "gated by model N"
uses, whatever its status.

Scoring: the candidate's features in the model's stored order (a missing one is NaN, as in
training) → the booster's probability (its best iteration) → the stored calibrator → allowed when
≥ the stored threshold. The score and the model version go on the decision.

Failure policy: a model that cannot score (file missing or changed, a feature schema it was not
trained on, an XGBoost error) never lets a candidate through unscored and never blocks silently:
the gate answers ``error`` — the decision is a SKIP with reason ``ml_error`` and the message says
why — and logs a warning naming the model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from threading import Lock

import numpy as np
import xgboost as xgb

from mlmodels.learner import Calibrator
from mlmodels.services import ModelError, model_bytes
from mlmodels.models import ModelVersion
from strategy.gating import NO_ACTIVE_MODEL
from strategy.quant.decision import Gate, GateScore
from strategy.quant.features import FEATURE_SCHEMA_VERSION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scorer:
    """One loaded model version: booster, calibrator, threshold and feature order."""

    version: str
    booster: xgb.Booster
    iteration_range: tuple[int, int]
    calibrator: Calibrator
    threshold: float
    feature_names: tuple[str, ...]

    def probability(self, X: np.ndarray) -> np.ndarray:
        raw = self.booster.inplace_predict(np.asarray(X, dtype=np.float64), iteration_range=self.iteration_range,
                                           missing=math.nan)
        return self.calibrator(np.asarray(raw, dtype=float))

    def __call__(self, group: str, features: Mapping[str, float]) -> GateScore:
        x = np.array([[_value(features.get(n)) for n in self.feature_names]], dtype=np.float64)
        try:
            p = float(self.probability(x)[0])
        except Exception as exc:  # XGBoost/numpy errors: documented policy, never a silent pass
            log.warning("ml gate: model %s could not score a %s candidate: %s", self.version, group, exc)
            return GateScore(allowed=False, reason=f"scoring failed: {exc}"[:200], model_version=self.version, error=True)
        allowed = p >= self.threshold
        return GateScore(allowed=allowed, reason=f"p {p:.4f} {'≥' if allowed else '<'} threshold {self.threshold:.4f}",
                         model_version=self.version, score=p)


def _value(v: object) -> float:
    try:
        return float(v) if v is not None else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


_cache: dict[tuple[int, str], Scorer] = {}
_lock = Lock()


def load_scorer(mv: ModelVersion) -> Scorer:
    """The scorer of ``mv`` (cached by id and file SHA-256); ``ModelError`` when it cannot be loaded."""
    key = (mv.pk, mv.model_sha256)
    with _lock:
        if key in _cache:
            return _cache[key]
    if mv.feature_schema != FEATURE_SCHEMA_VERSION:
        raise ModelError(f"model {mv.pk} was trained on feature schema {mv.feature_schema}, decisions compute "
                         f"{FEATURE_SCHEMA_VERSION}")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(model_bytes(mv)))
    except xgb.core.XGBoostError as exc:
        raise ModelError(f"model {mv.pk}: XGBoost cannot load its file: {exc}") from None
    best = booster.attr("best_iteration")
    scorer = Scorer(version=mv.version, booster=booster,
                    iteration_range=(0, int(best) + 1) if best is not None else (0, 0),
                    calibrator=Calibrator.from_dict(dict(mv.calibrator)),
                    threshold=float(mv.threshold), feature_names=tuple(mv.feature_names))
    with _lock:
        _cache[key] = scorer
    return scorer


def _broken(version: str, why: str) -> Gate:
    def gate(group: str, features: Mapping[str, float]) -> GateScore:
        log.warning("ml gate: model %s cannot score (%s): %s candidate skipped", version, why, group)
        return GateScore(allowed=False, reason=why[:200], model_version=version, error=True)

    return gate


def _scorer_or_broken(mv: ModelVersion) -> Gate:
    try:
        return load_scorer(mv)
    except ModelError as exc:
        return _broken(mv.version, str(exc))


def model_known(model_version: str) -> bool:
    return str(model_version).isdigit() and ModelVersion.objects.filter(pk=int(model_version)).exists()


def gate_factory(model_version: str | None) -> Gate | None:
    """The gate of ``model_version`` (None: each group's active model); None when no model is active."""
    if model_version is not None:
        mv = ModelVersion.objects.filter(pk=int(model_version)).first() if str(model_version).isdigit() else None
        if mv is None:
            return _broken(str(model_version), f"model {model_version} does not exist")
        return _scorer_or_broken(mv)
    active = {mv.group: _scorer_or_broken(mv) for mv in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)}
    if not active:
        return None

    def gate(group: str, features: Mapping[str, float]) -> GateScore:
        scorer = active.get(group)
        if scorer is None:
            return GateScore(allowed=True, reason=NO_ACTIVE_MODEL)
        return scorer(group, features)

    return gate
