"""The meta-labeler: XGBoost on the decision-time features, calibrated, with a PnL-maximising threshold.

Per training window (``fit_window``):

1. **Out-of-fold scores.** The window's own walk-forward folds (``walkforward``, same purge and
   embargo) train inner models on the past of each inner block and score it — scores of rows no
   model has seen.
2. **Calibration** on those out-of-fold scores only: sigmoid (Platt) by default, isotonic when the
   calibration slice has at least ``isotonic_min_rows`` (1,000) rows — scikit-learn's
   ``CalibratedClassifierCV`` over a ``FrozenEstimator`` that passes the raw score through. A
   calibration map must not fall: a Platt fit whose probability decreases with the score (the
   out-of-fold scores rank worse than chance in this window) becomes the constant base rate — the
   window has shown no ranking to trust, so the gate keeps every candidate or none rather than
   invert the model.
3. **Threshold**, chosen on the calibrated out-of-fold probabilities to maximise the *expected PnL
   per trade* of the candidates kept (p ≥ threshold), with at least ``min_kept`` of them: the
   payoff is asymmetric (take profit at +50 % of the credit, stop at −100 %, so a win rate below 2/3
   loses), which makes the win rate the wrong target. "Keep all" is a candidate threshold too.
4. **The model** itself: XGBoost ``binary:logistic`` on the whole window, early stopping on its last
   ``validation_frac`` by time (``early_stopping_rounds`` set in the constructor), fixed seed,
   ``subsample`` = 1, sample weights = the rows' average uniqueness.

Rows must be sorted by entry time (the dataset is). NaN features stay NaN (XGBoost handles them);
the logistic-regression baseline imputes the window's medians. Pure: no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlmodels.walkforward import walk_forward

NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True)
class LearnParams:
    """Everything that decides a trained model (stored with it; the same params and data give the same bytes)."""

    n_blocks: int = 4  # out-of-sample test blocks of the outer walk-forward
    inner_blocks: int = 3  # folds inside a training window for the out-of-fold scores
    embargo_days: float | None = None  # None: the dataset's longest holding period, whole days up; checked
    rolling_days: int | None = None  # None: expanding training windows
    validation_frac: float = 0.2
    isotonic_min_rows: int = 1000
    min_kept: int = 30
    min_train: int = 200
    seed: int = 7
    n_estimators: int = 300
    learning_rate: float = 0.05
    max_depth: int = 3
    min_child_weight: float = 5.0
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 30
    n_jobs: int = 2

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def embargo_days_for(params: LearnParams, entry_ns: NDArray[np.int64], exit_ns: NDArray[np.int64]) -> float:
    """The embargo in days: ``params.embargo_days`` when set (``walk_forward`` refuses one shorter than
    the longest holding period), else that longest holding period rounded up to whole days."""
    if params.embargo_days is not None:
        return float(params.embargo_days)
    longest = int((exit_ns - entry_ns).max()) if exit_ns.size else 0
    return float(max(1, math.ceil(longest / NS_PER_DAY)))


@dataclass(frozen=True)
class Rows:
    """The dataset as arrays, rows sorted by entry time."""

    X: NDArray[np.float64]
    y: NDArray[np.int_]
    pnl: NDArray[np.float64]
    weight: NDArray[np.float64]
    entry_ns: NDArray[np.int64]
    exit_ns: NDArray[np.int64]
    days: list[Any]

    def take(self, idx: NDArray[np.int64]) -> Rows:
        return Rows(self.X[idx], self.y[idx], self.pnl[idx], self.weight[idx], self.entry_ns[idx], self.exit_ns[idx],
                    [self.days[i] for i in idx])


class ScoreColumn(ClassifierMixin, BaseEstimator):
    """A "fitted" binary classifier whose probability is its one input column: wrapped in a
    ``FrozenEstimator`` it lets the calibrator learn a map from raw out-of-fold scores to probabilities."""

    def fit(self, X: Any, y: Any) -> ScoreColumn:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        p = np.clip(np.asarray(X, dtype=float)[:, 0], 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> NDArray[np.int_]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


@dataclass
class Calibrator:
    """A fitted map raw score → probability, as plain numbers (stored with the model as JSON).

    ``method``: "sigmoid" (``a``, ``b``: p = expit(−(a·s + b)), Platt), "isotonic" (``x``, ``y``: the
    step thresholds, linear between, clipped at the ends), "constant" (``p``: the out-of-fold base
    rate, when a Platt fit came out decreasing) or "none" (the raw score; one class only).
    Applied by numpy exactly as scikit-learn's fitted calibrator applies it.
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        s = np.clip(np.asarray(raw, dtype=float), 0.0, 1.0)  # what ScoreColumn hands the calibrator
        if self.method == "sigmoid":
            p = expit(-(self.params["a"] * s + self.params["b"]))
        elif self.method == "constant":
            p = np.full(s.shape, float(self.params["p"]))
        elif self.method == "isotonic":
            x, y = np.asarray(self.params["x"], dtype=float), np.asarray(self.params["y"], dtype=float)
            p = np.interp(np.clip(s, x[0], x[-1]), x, y)
        else:
            return s
        return np.asarray(np.clip(p, 0.0, 1.0), dtype=float)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, **self.params}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(d["method"], {k: v for k, v in d.items() if k != "method"})


def calibrate(raw: NDArray[np.float64], y: NDArray[np.int_], *, isotonic_min_rows: int) -> Calibrator:
    """Fit the calibration map on out-of-fold raw scores (module docstring, step 2)."""
    if len(set(np.asarray(y).tolist())) < 2:
        return Calibrator("none")
    method = "isotonic" if raw.size >= isotonic_min_rows else "sigmoid"
    model = CalibratedClassifierCV(FrozenEstimator(ScoreColumn().fit(None, None)), method=method)
    model.fit(np.asarray(raw, dtype=float).reshape(-1, 1), np.asarray(y))
    fitted = model.calibrated_classifiers_[0].calibrators[0]  # one (ensemble=False with a FrozenEstimator)
    if method == "sigmoid":
        if float(fitted.a_) >= 0.0:  # p = expit(−(a·s + b)) would not rise with the score
            return Calibrator("constant", {"p": float(np.mean(y))})
        return Calibrator(method, {"a": float(fitted.a_), "b": float(fitted.b_)})
    return Calibrator(method, {"x": [float(v) for v in fitted.X_thresholds_],
                               "y": [float(v) for v in fitted.y_thresholds_]})


def choose_threshold(p: NDArray[np.float64], pnl: NDArray[np.float64], *, min_kept: int) -> tuple[float, list[dict[str, float]]]:
    """(threshold, sweep): the probability cut maximising mean PnL of the kept candidates (p ≥ cut),
    among cuts keeping ≥ ``min_kept``; 0.0 keeps everything. The sweep lists every cut tried."""
    order = np.argsort(-p, kind="stable")
    ps, pn = p[order], pnl[order]
    csum = np.cumsum(pn)
    sweep = [{"threshold": 0.0, "kept": float(p.size), "expectancy_usd": float(pn.mean()) if p.size else 0.0}]
    best_cut, best = 0.0, sweep[0]["expectancy_usd"]
    for cut in np.unique(np.round(ps, 4))[::-1]:
        k = int(np.searchsorted(-ps, -cut, side="right"))  # rows with p >= cut
        if k < min_kept:
            continue
        mean = float(csum[k - 1] / k)
        sweep.append({"threshold": float(cut), "kept": float(k), "expectancy_usd": mean})
        if mean > best:
            best, best_cut = mean, float(cut)
    return best_cut, sorted(sweep, key=lambda r: r["threshold"])


def _xgb(params: LearnParams, n_train: int) -> xgb.XGBClassifier:
    return xgb.XGBClassifier(
        objective="binary:logistic", eval_metric="logloss", n_estimators=params.n_estimators,
        learning_rate=params.learning_rate, max_depth=params.max_depth, min_child_weight=params.min_child_weight,
        reg_lambda=params.reg_lambda, subsample=1.0, colsample_bytree=1.0, tree_method="hist",
        random_state=params.seed, n_jobs=params.n_jobs,
        early_stopping_rounds=params.early_stopping_rounds if n_train >= 50 else None,
    )


def fit_xgb(rows: Rows, params: LearnParams) -> xgb.XGBClassifier:
    """XGBoost on ``rows``, early stopping on the last ``validation_frac`` of them by time."""
    n = rows.y.size
    cut = int(n * (1 - params.validation_frac))
    model = _xgb(params, n)
    if model.get_params()["early_stopping_rounds"] and 0 < cut < n and len(set(rows.y[cut:].tolist())) == 2:
        model.fit(rows.X[:cut], rows.y[:cut], sample_weight=rows.weight[:cut],
                  eval_set=[(rows.X[cut:], rows.y[cut:])], sample_weight_eval_set=[rows.weight[cut:]], verbose=False)
    else:
        model.set_params(early_stopping_rounds=None)
        model.fit(rows.X, rows.y, sample_weight=rows.weight, verbose=False)
    return model


def fit_logistic(rows: Rows, params: LearnParams) -> Any:
    """The baseline: logistic regression on the same features (median-imputed, standardised)."""
    model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          LogisticRegression(max_iter=500, random_state=params.seed))
    model.fit(rows.X, rows.y, logisticregression__sample_weight=rows.weight)
    return model


def _raw(model: Any, X: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


@dataclass
class WindowFit:
    """What one training window produces: the model, its calibrator and threshold, and the
    out-of-fold evidence they were chosen on."""

    model: Any
    calibrator: Calibrator
    threshold: float
    sweep: list[dict[str, float]] = field(default_factory=list)
    oof_rows: int = 0

    def probability(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.calibrator(_raw(self.model, X))


class ConstantModel:
    """What a training window with one outcome only can say: that outcome's share, for every row.
    (A stretch of days where every candidate lost — or won — teaches no ranking.)"""

    def __init__(self, share: float) -> None:
        self.share = float(share)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        n = np.asarray(X).shape[0]
        return np.column_stack([np.full(n, 1.0 - self.share), np.full(n, self.share)])


def fit_window(rows: Rows, params: LearnParams, *, kind: str = "xgboost") -> WindowFit:
    """Model, calibrator and threshold from one training window (module docstring, steps 1–4).

    A window whose rows all have one label gets a ``ConstantModel`` and keeps every candidate
    (threshold 0): with nothing to rank by, the gate stays out of the way."""
    if len(set(rows.y.tolist())) < 2:
        return WindowFit(ConstantModel(float(rows.y.mean()) if rows.y.size else 0.0), Calibrator("none"), 0.0)
    fit = fit_xgb if kind == "xgboost" else fit_logistic
    inner = walk_forward(rows.entry_ns, rows.exit_ns, rows.days, n_blocks=params.inner_blocks,
                         embargo_ns=int(embargo_days_for(params, rows.entry_ns, rows.exit_ns) * NS_PER_DAY),
                         min_train=max(params.min_train // 4, 20))
    oof_idx, oof_raw = [], []
    for f in inner:
        train = rows.take(f.train)
        if len(set(train.y.tolist())) < 2:
            continue
        oof_idx.append(f.test)
        oof_raw.append(_raw(fit(train, params), rows.X[f.test]))
    model = fit(rows, params)
    if not oof_idx:  # too little history for out-of-fold scores: uncalibrated, keep everything
        return WindowFit(model, Calibrator("none"), 0.0)
    idx, raw = np.concatenate(oof_idx), np.concatenate(oof_raw)
    calibrator = calibrate(raw, rows.y[idx], isotonic_min_rows=params.isotonic_min_rows)
    threshold, sweep = choose_threshold(calibrator(raw), rows.pnl[idx], min_kept=params.min_kept)
    return WindowFit(model, calibrator, threshold, sweep, int(idx.size))


def null_permutation(days: list[Any], seed: int) -> NDArray[np.int64]:
    """Row i takes the outcome of row ``take[i]``: the trading days are permuted, and each day's
    rows take the outcomes of its image day's rows in a random order (drawn with replacement where
    the image day has fewer rows).

    What no-signal data must keep is the clustering of outcomes: candidates of one day share its
    market, so they win or lose together, and a row-by-row shuffle would make the no-signal band
    far too narrow. Everything else is broken on purpose — the features, the strategy (its base
    rate) and the calendar no longer say anything about the outcome.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    by_day: dict[Any, list[int]] = {}
    for i, d in enumerate(days):
        by_day.setdefault(d, []).append(i)
    unique = list(by_day)
    take = np.empty(len(days), dtype=np.int64)
    for d, j in zip(unique, rng.permutation(len(unique))):
        mine, theirs = by_day[d], np.array(by_day[unique[int(j)]])
        take[mine] = (rng.permutation(theirs)[: len(mine)] if theirs.size >= len(mine)
                      else rng.choice(theirs, size=len(mine), replace=True))
    return take


def importances(model: xgb.XGBClassifier, X: NDArray[np.float64], names: list[str]) -> list[dict[str, Any]]:
    """Gain importance and mean |SHAP| (``pred_contribs``) per feature, largest SHAP first."""
    booster = model.get_booster()
    gain = booster.get_score(importance_type="gain")
    contribs = booster.predict(xgb.DMatrix(X, missing=math.nan), pred_contribs=True)[:, :-1]
    shap = np.abs(contribs).mean(axis=0) if contribs.size else np.zeros(len(names))

    def gain_of(i: int) -> float:
        g = gain.get(f"f{i}", 0.0)
        return float(g if not isinstance(g, list) else sum(g))

    rows: list[dict[str, Any]] = [{"feature": n, "gain": gain_of(i), "mean_abs_shap": float(shap[i])}
                                  for i, n in enumerate(names)]
    return sorted(rows, key=lambda r: (-float(r["mean_abs_shap"]), str(r["feature"])))
