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

from mlmodels import evaluation
from mlmodels.models import ModelVersion
from strategy.models import DecisionOutcome, TradeDecision
from strategy.quant.decision import ML_GATE, TRADE

log = logging.getLogger(__name__)

PSI_FLAG = 0.25
ROLLING = 50


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
    reference = (mv.report or {}).get("reference", {})
    scored = list(TradeDecision.objects.filter(model_version=mv.version, backtest_run__isnull=True,
                                               model_score__isnull=False).values("features", "model_score"))
    psi = []
    for name in list(mv.feature_names) + ["score"]:
        ref = reference.get(name)
        if not ref or not scored:
            continue
        values = np.array([_num(r["model_score"]) if name == "score" else _num((r["features"] or {}).get(name))
                           for r in scored], dtype=np.float64)
        value = evaluation.psi_against(ref, values)
        psi.append({"name": name, "psi": value, "flag": bool(math.isfinite(value) and value >= PSI_FLAG)})
    out["psi"] = sorted(psi, key=lambda r: -(r["psi"] if math.isfinite(r["psi"]) else -1))
    out["flags"] = [r["name"] for r in psi if r["flag"]]
    out["scored"] = len(scored)
    taken = [d for d in decisions if d.action == TRADE]
    away = [d for d in decisions if d.reason_code == ML_GATE]
    out["gated_trades"] = _figures([float(d.outcome.pnl_usd or 0) for d in taken], [int(d.outcome.label or 0) for d in taken])
    out["turned_away"] = _figures([float(d.outcome.pnl_usd or 0) for d in away], [int(d.outcome.label or 0) for d in away])
    return out


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
