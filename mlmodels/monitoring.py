"""How a model behaves once it gates live and paper decisions, against what training said.

On the model's resolved live/paper decisions (scored by it, outcome known — the trades it let
through and the shadow outcomes of the candidates it or the risk rules turned away):

* the Brier score, rolling over the last ``ROLLING`` resolved decisions, and the calibration curve,
  next to the out-of-fold (walk-forward) baseline stored with the model;
* PSI of each feature and of the score against the training distributions stored with the model
  (``report["reference"]``); ``PSI_FLAG`` (0.25) or more is flagged on the dashboard and logged;
* the trades it let through (win rate, expectancy) vs the shadow outcomes of the candidates it
  turned away (``ml_gate``): a gate that works turns away the worse ones.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max, QuerySet

from mlmodels import evaluation
from mlmodels.models import ModelVersion
from strategy.models import DecisionOutcome, TradeDecision
from strategy.quant.decision import ML_GATE, TRADE

log = logging.getLogger(__name__)

PSI_FLAG = 0.25
ROLLING = 50
DRIFT_CACHE_SECONDS = 86_400  # an entry outlives its key's last use by a day at most; new rows mean a new key


def _figures(pnl: list[float], labels: list[int]) -> dict[str, Any]:
    n = len(pnl)
    return {"n": n, "win_rate": (sum(labels) / n) if n else None, "expectancy_usd": (sum(pnl) / n) if n else None}


def monitoring(mv: ModelVersion) -> dict[str, Any]:
    """The model's live monitoring (module docstring); every number from stored decisions and outcomes."""
    decisions = list(
        TradeDecision.objects.filter(model_version=mv.version, backtest_run__isnull=True, model_score__isnull=False,
                                     outcome__status=DecisionOutcome.Status.RESOLVED)
        .select_related("outcome").order_by("decided_at", "pk"))
    y = np.array([int(d.outcome.label or 0) for d in decisions], dtype=np.int64)
    p = np.array([float(d.model_score or 0.0) for d in decisions], dtype=np.float64)
    baseline = (mv.report or {}).get("oos", {})
    out: dict[str, Any] = {"resolved": len(decisions), "baseline_brier": baseline.get("brier"),
                           "baseline_reliability": baseline.get("reliability", [])}
    if decisions:
        metrics = evaluation.score_metrics(y, p)
        out["brier"], out["reliability"] = metrics["brier"], metrics["reliability"]
        sq = (p - y) ** 2
        out["rolling_brier"] = [{"n": i + 1, "brier": float(sq[max(0, i + 1 - ROLLING):i + 1].mean())}
                                for i in range(sq.size)]
    else:
        out["brier"], out["reliability"], out["rolling_brier"] = None, [], []
    psi, scored = drift(mv)
    out["psi"] = sorted(psi, key=lambda r: -(r["psi"] if math.isfinite(r["psi"]) else -1))
    out["flags"] = [r["name"] for r in psi if r["flag"]]
    out["scored"] = scored
    taken = [d for d in decisions if d.action == TRADE]
    away = [d for d in decisions if d.reason_code == ML_GATE]
    out["gated_trades"] = _figures([float(d.outcome.pnl_usd or 0) for d in taken], [int(d.outcome.label or 0) for d in taken])
    out["turned_away"] = _figures([float(d.outcome.pnl_usd or 0) for d in away], [int(d.outcome.label or 0) for d in away])
    return out


def _scored(mv: ModelVersion) -> QuerySet[TradeDecision]:
    """The model's scored live and paper decisions (``decision_scored_live_idx`` covers this filter)."""
    return TradeDecision.objects.filter(model_version=mv.version, backtest_run__isnull=True, model_score__isnull=False)


def drift(mv: ModelVersion, *, upto_pk: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """PSI of each feature and of the score over the model's scored live/paper decisions (those up to
    ``upto_pk`` if given) against its training reference, in the model's feature order, and how many
    decisions were scored.

    One query for the two columns it needs (features, score), as plain values, and one pass over the
    rows into a matrix.
    """
    reference = (mv.report or {}).get("reference", {})
    scored = _scored(mv) if upto_pk is None else _scored(mv).filter(pk__lte=upto_pk)
    rows = list(scored.order_by().values_list("features", "model_score"))  # PSI needs no order: no join for one
    names = [n for n in [*mv.feature_names, "score"] if reference.get(n)]
    if not rows or not names:
        return [], len(rows)
    features = [n for n in names if n != "score"]
    matrix = np.array([[_num((f or {}).get(n)) for n in features] + [_num(score)] for f, score in rows],
                      dtype=np.float64).reshape(len(rows), len(features) + 1)
    column = {n: j for j, n in enumerate(features)} | {"score": len(features)}
    psi = []
    for name in names:
        value = evaluation.psi_against(reference[name], matrix[:, column[name]])
        psi.append({"name": name, "psi": value, "flag": bool(math.isfinite(value) and value >= PSI_FLAG)})
    return psi, len(rows)


def drift_flags(mv: ModelVersion) -> list[str]:
    """The names whose PSI is at or above ``PSI_FLAG`` (the dashboard's drift warning), as ``monitoring`` flags them.

    The dashboard asks on every refresh, and the answer reads the model's whole live history, so it
    is kept in the cache under what it was computed from: the model (id, file hash, creation time)
    and its scored decisions (count, last id, last creation time). A decision's features and score
    are written once, with the decision, so a new decision changes the key and the flags are
    recomputed; the cached value is exactly what ``drift`` gives for those rows.
    """
    seen = _scored(mv).order_by().aggregate(n=Count("pk"), last=Max("pk"), at=Max("created_at"))
    at = seen["at"].isoformat() if seen["at"] else ""
    key = f"ml-drift-flags:{mv.pk}:{mv.model_sha256}:{mv.created_at.isoformat()}:{seen['n']}:{seen['last']}:{at}"
    flags = cache.get(key)
    if flags is None:
        flags = [r["name"] for r in drift(mv, upto_pk=seen["last"])[0] if r["flag"]]
        cache.set(key, flags, timeout=DRIFT_CACHE_SECONDS)
    return list(flags)


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def monitoring_check() -> list[str]:
    """Log every active model's PSI flags (the beat job); returns the log lines."""
    lines = []
    for mv in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE):
        m = monitoring(mv)
        for row in m["psi"]:
            if row["flag"]:
                line = f"model {mv.pk} ({mv.group}): PSI of {row['name']} is {row['psi']:.2f} (≥ {PSI_FLAG}) over {m['scored']} scored decisions"
                log.warning("ml monitoring: %s", line)
                lines.append(line)
    return lines
