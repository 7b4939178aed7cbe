"""Walk-forward training of the meta-labeler and its out-of-sample report.

``train`` runs the outer walk-forward (``walkforward.walk_forward``: expanding windows, purged,
embargoed): per fold, ``learner.fit_window`` on the training window — XGBoost and, as the baseline,
logistic regression — then both score the next block unchanged (threshold included). Pooled over
the blocks: AUC, log loss, Brier score and the reliability curve of the calibrated probabilities;
gated vs ungated on the same candidates (trades, win rate, expectancy, profit factor, total PnL, max
drawdown) with day-block bootstrap intervals; the same per bucket (DTE × delta × window × side);
the daily equity of both. Finally the model that would go live: ``fit_window`` on every row.

Pure (numpy, scikit-learn, xgboost); ``mlmodels.services`` stores what it returns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlmodels import evaluation, learner
from mlmodels.learner import LearnParams, Rows, WindowFit
from mlmodels.walkforward import walk_forward

Progress = Callable[[str, float], None]  # (what, fraction done)


def rows_from(dataset_rows: Sequence[Mapping[str, Any]], feature_names: Sequence[str]) -> Rows:
    """The dataset's rows (``mlmodels.dataset``, sorted by entry) as arrays."""
    def ns(t: dt.datetime) -> int:
        return int(t.timestamp()) * 10**9

    return Rows(
        X=np.array([[float(r[n]) for n in feature_names] for r in dataset_rows], dtype=np.float64).reshape(
            len(dataset_rows), len(feature_names)),
        y=np.array([int(r["label"]) for r in dataset_rows], dtype=np.int64),
        pnl=np.array([float(r["pnl_usd"]) for r in dataset_rows], dtype=np.float64),
        weight=np.array([float(r["uniqueness"]) for r in dataset_rows], dtype=np.float64),
        entry_ns=np.array([ns(r["entry_at"]) for r in dataset_rows], dtype=np.int64),
        exit_ns=np.array([ns(r["exit_at"]) for r in dataset_rows], dtype=np.int64),
        days=[r["trading_day"] for r in dataset_rows],
    )


def bucket_of(row: Mapping[str, Any]) -> str:
    side = "call" if row.get("side_is_call") == 1.0 else "put"
    return f"{int(row['dte_target'])}DTE {row['delta_target']:g}d {row['entry_window']} {side}"


@dataclass
class Trained:
    """The model that goes live (``final``) and the walk-forward evidence about it (``report``)."""

    final: WindowFit
    report: dict[str, Any]


def _equity(days: Sequence[Any], pnl: np.ndarray, kept: np.ndarray) -> list[dict[str, Any]]:
    by_day: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for d, p, k in zip(days, pnl, kept):
        by_day[d][0] += p
        by_day[d][1] += p if k else 0.0
    out, u, g = [], 0.0, 0.0
    for d in sorted(by_day):
        u += by_day[d][0]
        g += by_day[d][1]
        out.append({"day": str(d), "ungated_usd": round(u, 2), "gated_usd": round(g, 2)})
    return out


def train(dataset_rows: Sequence[Mapping[str, Any]], feature_names: Sequence[str], params: LearnParams, *,
          progress: Progress | None = None, bootstrap_draws: int = 400) -> Trained:
    """The walk-forward report and the final model of one dataset (module docstring)."""
    rows = rows_from(dataset_rows, feature_names)
    if rows.y.size == 0:
        raise ValueError("the dataset has no rows")
    if len(set(rows.y.tolist())) < 2:
        raise ValueError(f"every candidate of the dataset has label {int(rows.y[0])}: nothing to learn")
    # One embargo for the outer and the inner folds: resolved once from the whole dataset.
    params = dataclasses.replace(params, embargo_days=learner.embargo_days_for(params, rows.entry_ns, rows.exit_ns))
    assert params.embargo_days is not None
    embargo = int(params.embargo_days * learner.NS_PER_DAY)
    folds = walk_forward(rows.entry_ns, rows.exit_ns, rows.days, n_blocks=params.n_blocks, embargo_ns=embargo,
                         rolling_days=params.rolling_days, min_train=params.min_train)
    if not folds:
        raise ValueError(f"no walk-forward fold has {params.min_train} training rows: the dataset is too small")
    tested, p_xgb, p_lr, kept_xgb, kept_lr, fold_rows = [], [], [], [], [], []
    for i, f in enumerate(folds):
        if progress:
            progress(f"fold {i + 1} of {len(folds)}", i / (len(folds) + 1))
        train_rows, test_rows = rows.take(f.train), rows.take(f.test)
        fx = learner.fit_window(train_rows, params, kind="xgboost")
        fl = learner.fit_window(train_rows, params, kind="logistic")
        px, pl = fx.probability(test_rows.X), fl.probability(test_rows.X)
        tested.append(f.test)
        p_xgb.append(px)
        p_lr.append(pl)
        kept_xgb.append(px >= fx.threshold)
        kept_lr.append(pl >= fl.threshold)
        m = evaluation.score_metrics(test_rows.y, px)
        fold_rows.append({
            "fold": f.index, "test_start": f.test_start.isoformat(), "test_end": f.test_end.isoformat(),
            "train_rows": int(f.train.size), "purged": f.purged, "test_rows": int(f.test.size),
            "threshold": fx.threshold, "calibration": fx.calibrator.method, "oof_rows": fx.oof_rows,
            "kept": int(kept_xgb[-1].sum()), "auc": m["auc"], "brier": m["brier"],
            "gated_expectancy_usd": float(test_rows.pnl[kept_xgb[-1]].mean()) if kept_xgb[-1].any() else None,
            "ungated_expectancy_usd": float(test_rows.pnl.mean()),
        })
    idx = np.concatenate(tested)
    px, pl = np.concatenate(p_xgb), np.concatenate(p_lr)
    kx, kl = np.concatenate(kept_xgb), np.concatenate(kept_lr)
    y, pnl, days = rows.y[idx], rows.pnl[idx], [rows.days[i] for i in idx]
    if progress:
        progress("bootstrap intervals", len(folds) / (len(folds) + 1))
    buckets: dict[str, list[int]] = defaultdict(list)
    for j, i in enumerate(idx):
        buckets[bucket_of(dataset_rows[int(i)])].append(j)
    per_bucket = []
    for name in sorted(buckets):
        b = np.array(buckets[name])
        u = evaluation.trade_figures(pnl[b], np.zeros(b.size, dtype=int), 1)
        g = evaluation.trade_figures(pnl[b][kx[b]], np.zeros(int(kx[b].sum()), dtype=int), 1)
        per_bucket.append({"bucket": name, "candidates": int(b.size), "gated": g, "ungated": u})
    final = learner.fit_window(rows, params, kind="xgboost")
    report = {
        "rows": int(rows.y.size), "tested_rows": int(idx.size), "folds": fold_rows, "embargo_days": params.embargo_days,
        "oos": evaluation.score_metrics(y, px),
        "oos_logistic": evaluation.score_metrics(y, pl),
        "result": evaluation.day_block_bootstrap(pnl, days, kx, draws=bootstrap_draws, seed=params.seed),
        "result_logistic": evaluation.day_block_bootstrap(pnl, days, kl, draws=bootstrap_draws, seed=params.seed),
        "buckets": per_bucket,
        "equity": _equity(days, pnl, kx),
        "threshold": final.threshold, "calibration": final.calibrator.method, "sweep": final.sweep,
        "importances": learner.importances(final.model, rows.X, list(feature_names)),
        "label_share": float(rows.y.mean()),
        # What live monitoring compares against (PSI): each feature's training distribution, and the
        # out-of-sample scores'.
        "reference": {**{n: evaluation.psi_reference(rows.X[:, j]) for j, n in enumerate(feature_names)},
                      "score": evaluation.psi_reference(px)},
    }
    if progress:
        progress("done", 1.0)
    return Trained(final, report)


def shuffled_rows(dataset_rows: Sequence[Mapping[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The dataset with its outcomes moved by ``learner.null_permutation`` (the no-signal control)."""
    take = learner.null_permutation([r["trading_day"] for r in dataset_rows], seed)
    moved = ("label", "pnl_usd", "exit_reason")
    return [{**r, **{k: dataset_rows[int(j)][k] for k in moved}} for r, j in zip(dataset_rows, take)]


def shuffled_split_auc(dataset_rows: Sequence[Mapping[str, Any]], feature_names: Sequence[str], params: LearnParams,
                       *, folds: int = 4) -> float:
    """The control the walk-forward guards against: AUC of a *shuffled* K-fold split (rows of one
    day on both sides, no purge). Candidates of one day share the market, so this looks better than
    it is; never use it to choose a model."""
    from sklearn.model_selection import KFold

    rows = rows_from(dataset_rows, feature_names)
    ys, ps = [], []
    for train, test in KFold(n_splits=folds, shuffle=True, random_state=params.seed).split(rows.X):
        fit = learner.fit_xgb(rows.take(train), params)
        ps.append(np.asarray(fit.predict_proba(rows.X[test])[:, 1]))
        ys.append(rows.y[test])
    return float(evaluation.score_metrics(np.concatenate(ys), np.concatenate(ps))["auc"])
