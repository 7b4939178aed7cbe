"""The dashboard's drift check under volume (bench/README.md "Load"): ``drift_flags`` flags what
``monitoring`` flags, is cached under the rows it was computed from (a refresh costs one aggregate
query), and a new scored decision is seen at once; the dashboard's queries do not grow with the
model's live history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlmodels import evaluation
from mlmodels.models import ModelVersion
from mlmodels.monitoring import drift_flags, monitoring
from mlmodels.tests.factories import ModelVersionFactory
from strategy.models import TradeDecision
from strategy.tests.factories import TradeDecisionFactory

pytestmark = pytest.mark.django_db
FEATURES = ("vix30", "rv_30m", "dte_target")


def _model() -> ModelVersion:
    rng = np.random.default_rng(3)
    reference = {n: evaluation.psi_reference(rng.normal(0, 1, 2000)) for n in FEATURES}
    reference["score"] = evaluation.psi_reference(rng.uniform(0.4, 0.8, 2000))
    return ModelVersionFactory(status=ModelVersion.Status.ACTIVE, feature_names=list(FEATURES),
                               report={"reference": reference, "oos": {"brier": 0.24}})


def _scored(mv: ModelVersion, n: int, *, start: int = 0, vix30_shift: float = 0.0) -> None:
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        TradeDecisionFactory(trading_day=dt.date(2026, 1, 1) + dt.timedelta(days=i), model_version=mv.version,
                             model_score=float(rng.uniform(0.4, 0.8)),
                             features={"vix30": float(rng.normal(vix30_shift, 1)), "rv_30m": float(rng.normal(0, 1)),
                                       "dte_target": float(rng.normal(0, 1))})


def test_drift_flags_are_monitorings_flags_and_cached_under_their_rows() -> None:
    mv = _model()
    _scored(mv, 60)
    before = drift_flags(mv)
    assert before == monitoring(mv)["flags"] and "vix30" not in before
    with CaptureQueriesContext(connection) as queries:
        assert drift_flags(mv) == before
    assert len(queries) == 1  # the key (count, last id, last time) only: the flags come from the cache
    _scored(mv, 120, start=60, vix30_shift=3.0)  # a regime the training data never saw
    flags = drift_flags(mv)
    assert flags == monitoring(mv)["flags"] and "vix30" in flags and "dte_target" not in flags


def test_dashboard_queries_do_not_grow_with_the_live_history(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    client.force_login(django_user_model.objects.create_user("trader", password="pw"))
    mv = _model()
    _scored(mv, 5)

    def count(url: str, **headers: Any) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, headers=headers).status_code == 200
        return len(queries)

    few = [count("/"), count("/", **{"HX-Request": "true"})]
    _scored(mv, 60, start=5)
    assert TradeDecision.objects.filter(model_version=mv.version).count() == 65
    assert [count("/"), count("/", **{"HX-Request": "true"})] == few
