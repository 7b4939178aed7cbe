"""Out-of-sample evaluation of a gate: probability scores, trade figures, and their uncertainty.

* ``score_metrics``: AUC, log loss, Brier score, and a reliability curve (mean predicted vs observed
  frequency in probability bins).
* ``trade_figures``: trades kept, win rate (PnL > 0), expectancy, profit factor, total PnL and max
  drawdown (daily equity, peak from 0) of a set of candidates.
* ``day_block_bootstrap``: those figures for the gated and the ungated set of the same candidates,
  and their difference, with 95 % intervals from resampling whole trading days with replacement
  (candidates of one day are correlated: they share the market). Seeded, so reruns agree.

Pure numpy/scikit-learn; no Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

FIGURES = ("trades", "win_rate", "expectancy_usd", "profit_factor", "total_pnl_usd", "max_drawdown_usd")


def score_metrics(y: NDArray[np.int_], p: NDArray[np.float64], *, bins: int = 10) -> dict[str, Any]:
    """AUC (None with one class only), log loss, Brier score and the reliability curve of ``p``."""
    y, p = np.asarray(y, dtype=int), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    two = len(set(y.tolist())) == 2
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    curve = [{"bin": i, "mean_predicted": float(p[which == i].mean()), "observed": float(y[which == i].mean()),
              "n": int((which == i).sum())} for i in range(bins) if (which == i).any()]
    return {
        "n": int(y.size), "positives": int(y.sum()),
        "auc": float(roc_auc_score(y, p)) if two else None,
        "log_loss": float(log_loss(y, p, labels=[0, 1])) if y.size else None,
        "brier": float(brier_score_loss(y, p)) if y.size else None,
        "reliability": curve,
    }


def _max_drawdown(pnl: NDArray[np.float64], day_index: NDArray[np.int_], n_days: int) -> float:
    daily = np.bincount(day_index, weights=pnl, minlength=n_days)
    equity = np.cumsum(daily)
    peak = np.maximum.accumulate(np.maximum(equity, 0.0))
    return float((peak - equity).max()) if equity.size else 0.0


def trade_figures(pnl: NDArray[np.float64], day_index: NDArray[np.int_], n_days: int) -> dict[str, float | None]:
    """The figures of a set of candidates taken as trades (``day_index``: their trading day, 0…n_days−1)."""
    pnl = np.asarray(pnl, dtype=float)
    n = pnl.size
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    return {
        "trades": float(n),
        "win_rate": float((pnl > 0).mean()) if n else None,
        "expectancy_usd": float(pnl.mean()) if n else None,
        "profit_factor": float(wins / losses) if losses > 0 else None,
        "total_pnl_usd": float(pnl.sum()),
        "max_drawdown_usd": _max_drawdown(pnl, np.asarray(day_index, dtype=int), n_days) if n else 0.0,
    }


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def _interval(value: float | None, draws: Sequence[float | None]) -> Interval:
    finite = np.array([d for d in draws if d is not None and math.isfinite(d)], dtype=float)
    if value is None or finite.size < 10:
        return Interval(value, None, None)
    return Interval(value, float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975)))


def day_block_bootstrap(pnl: NDArray[np.float64], days: Sequence[Any], kept: NDArray[np.bool_], *,
                        draws: int = 400, seed: int = 7) -> dict[str, dict[str, dict[str, float | None]]]:
    """{"gated"|"ungated"|"gain": {figure: {value, low, high}}} for the same candidates; ``kept`` = the
    gate let it trade. ``gain`` = gated − ungated (win rate and expectancy are what the gate is for)."""
    pnl = np.asarray(pnl, dtype=float)
    kept = np.asarray(kept, dtype=bool)
    unique = sorted(set(days))
    index = {d: i for i, d in enumerate(unique)}
    day_index = np.array([index[d] for d in days], dtype=int)
    n_days = len(unique)
    rows_of_day = [np.flatnonzero(day_index == i) for i in range(n_days)]

    def figures(rows: NDArray[np.int64], day_of_row: NDArray[np.int_], n: int) -> tuple[dict[str, Any], dict[str, Any]]:
        gated = trade_figures(pnl[rows][kept[rows]], day_of_row[kept[rows]], n)
        ungated = trade_figures(pnl[rows], day_of_row, n)
        return gated, ungated

    base_g, base_u = figures(np.arange(pnl.size), day_index, n_days)
    rng = np.random.Generator(np.random.PCG64(seed))
    samples: dict[str, dict[str, list[float | None]]] = {k: {f: [] for f in FIGURES} for k in ("gated", "ungated", "gain")}
    for _ in range(draws):
        picked = rng.integers(0, n_days, n_days)
        rows = np.concatenate([rows_of_day[i] for i in picked]) if n_days else np.empty(0, dtype=np.int64)
        day_of_row = np.concatenate([np.full(rows_of_day[i].size, j) for j, i in enumerate(picked)]) if n_days \
            else np.empty(0, dtype=int)
        g, u = figures(rows, day_of_row, n_days)
        for f in FIGURES:
            samples["gated"][f].append(g[f])
            samples["ungated"][f].append(u[f])
            samples["gain"][f].append(g[f] - u[f] if g[f] is not None and u[f] is not None else None)
    base_gain = {f: (base_g[f] - base_u[f]) if base_g[f] is not None and base_u[f] is not None else None for f in FIGURES}
    return {
        "gated": {f: _interval(base_g[f], samples["gated"][f]).as_dict() for f in FIGURES},
        "ungated": {f: _interval(base_u[f], samples["ungated"][f]).as_dict() for f in FIGURES},
        "gain": {f: _interval(base_gain[f], samples["gain"][f]).as_dict() for f in FIGURES},
    }


def psi_reference(expected: NDArray[np.float64], *, bins: int = 10) -> dict[str, list[float]]:
    """The reference distribution PSI compares against: ``expected``'s decile edges and the share of
    values in each bin, NaN as its own last bin (stored with a model: no training data needed later)."""
    e = np.asarray(expected, dtype=float)
    finite = e[np.isfinite(e)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))) if finite.size else np.array([0.0])
    return {"edges": [float(v) for v in edges], "shares": [float(v) for v in _shares(edges, e)]}


def _shares(edges: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    nan = ~np.isfinite(x)
    inner = np.asarray(edges, dtype=float)[1:-1]
    counts = np.bincount(np.clip(np.searchsorted(inner, x[~nan], side="right"), 0, max(len(edges) - 2, 0)),
                         minlength=max(len(edges) - 1, 1)).astype(float)
    return np.append(counts, nan.sum()) / max(x.size, 1)


def psi_against(reference: dict[str, list[float]], actual: NDArray[np.float64]) -> float:
    """PSI of ``actual`` against a ``psi_reference``: Σ (a − e)·ln(a / e), shares floored at 1e-4.
    ≥ 0.25 is a shift worth a look; NaN without values."""
    a = np.asarray(actual, dtype=float)
    if a.size == 0 or not reference.get("shares"):
        return math.nan
    se = np.maximum(np.asarray(reference["shares"], dtype=float), 1e-4)
    sa = np.maximum(_shares(np.asarray(reference["edges"], dtype=float), a), 1e-4)
    return float(((sa - se) * np.log(sa / se)).sum())


def psi(expected: NDArray[np.float64], actual: NDArray[np.float64], *, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` over ``expected``'s decile bins."""
    if np.asarray(expected).size == 0:
        return math.nan
    return psi_against(psi_reference(expected, bins=bins), actual)
