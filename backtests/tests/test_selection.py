"""backtests.engine.selection: the walk-forward splitter (no look-ahead, proved by perturbing the
future), a hand-computed walk-forward, each metric by hand, tie-breaks, the block scores that the
PBO relies on against plain slicing, and purity. No database."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backtests.engine.metrics import ClosedTrade, summarise
from backtests.engine.selection import (
    Fold,
    Metric,
    block_scores,
    block_summaries,
    best_variant,
    variant_scores,
    walk_forward,
    walk_forward_folds,
)

REPO = Path(__file__).resolve().parents[2]
DAYS = np.arange("2026-01-05", "2026-03-31", dtype="datetime64[D]")


def _inputs(metric: Metric, pnl: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if metric not in (Metric.EXPECTANCY, Metric.WIN_RATE):
        return {}
    trades = rng.integers(0, 3, size=pnl.shape).astype(np.float64)
    return {"trades": trades, "wins": np.minimum(trades, (pnl > 0) * rng.integers(0, 3, size=pnl.shape))}


def test_rolling_folds_by_hand() -> None:
    assert walk_forward_folds(11, train_days=4, test_days=3) == [
        Fold(train=slice(0, 4), test=slice(4, 7)),
        Fold(train=slice(3, 7), test=slice(7, 10)),
        Fold(train=slice(6, 10), test=slice(10, 11)),  # the last block is shorter
    ]


def test_expanding_folds_by_hand() -> None:
    assert walk_forward_folds(10, train_days=4, test_days=3, expanding=True) == [
        Fold(train=slice(0, 4), test=slice(4, 7)),
        Fold(train=slice(0, 7), test=slice(7, 10)),
    ]


@pytest.mark.parametrize("expanding", [False, True])
@pytest.mark.parametrize(("n_days", "train_days", "test_days"), [(30, 5, 5), (31, 10, 7), (12, 11, 1), (40, 3, 50)])
def test_folds_end_where_their_block_starts_and_tile_the_rest(n_days: int, train_days: int, test_days: int,
                                                              expanding: bool) -> None:
    folds = walk_forward_folds(n_days, train_days=train_days, test_days=test_days, expanding=expanding)
    assert folds[0].test.start == train_days
    assert folds[-1].test.stop == n_days
    for f, g in zip(folds, folds[1:]):
        assert f.test.stop == g.test.start
    for f in folds:
        assert f.train.stop == f.test.start  # nothing at or after the block
        assert f.train.start == (0 if expanding else f.test.start - train_days)
        assert 0 < f.test.stop - f.test.start <= test_days


@pytest.mark.parametrize(("n_days", "train_days", "test_days"), [(10, 0, 2), (10, 10, 2), (10, 3, 0)])
def test_folds_reject_bad_sizes(n_days: int, train_days: int, test_days: int) -> None:
    with pytest.raises(ValueError):
        walk_forward_folds(n_days, train_days=train_days, test_days=test_days)


@pytest.mark.parametrize("expanding", [False, True])
@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("seed", range(3))
def test_no_look_ahead_changing_the_future_keeps_past_choices(metric: Metric, expanding: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pnl = rng.normal(0.0, 100.0, size=(60, 25))
    extra = _inputs(metric, pnl, rng)
    base = walk_forward(pnl, DAYS[:60], metric=metric, train_days=10, test_days=5, expanding=expanding, **extra)
    for k, fold in enumerate(base.folds):
        # Rewrite every day from block k on, wildly (including making later variants dominate).
        future = pnl.copy()
        future[fold.test.start:] = rng.normal(0.0, 1e4, size=future[fold.test.start:].shape)
        future[fold.test.start:, -1] += 1e6
        changed = {name: v.copy() for name, v in extra.items()}
        for v in changed.values():
            v[fold.test.start:] = rng.integers(0, 5, size=v[fold.test.start:].shape)
        if changed:
            changed["wins"] = np.minimum(changed["wins"], changed["trades"])
        again = walk_forward(future, DAYS[:60], metric=metric, train_days=10, test_days=5, expanding=expanding,
                             **changed)
        np.testing.assert_array_equal(again.chosen[: k + 1], base.chosen[: k + 1])
        n_past = fold.test.start - base.folds[0].test.start
        np.testing.assert_array_equal(again.oos_pnl_usd[:n_past], base.oos_pnl_usd[:n_past])


def test_walk_forward_by_hand() -> None:
    pnl = np.array([
        [1, 0, 0],
        [1, 0, 0],   # train days 0-1: variant 0 best (2 vs 0 vs 0)
        [0, 5, 0],
        [0, 5, 0],   # traded with 0: 0, 0; train days 2-3: variant 1 best
        [-1, 2, 3],
        [-1, 2, 3],  # traded with 1: 2, 2; train days 4-5: variant 2 best (6)
        [0, 0, -4],
        [0, 0, -4],  # traded with 2: -4, -4
    ], dtype=np.float64)
    days = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(8)]
    wf = walk_forward(pnl, days, metric=Metric.TOTAL_PNL, train_days=2, test_days=2)
    assert wf.chosen.tolist() == [0, 1, 2]
    assert list(wf.days) == days[2:]
    assert wf.oos_pnl_usd.tolist() == [0, 0, 2, 2, -4, -4]
    assert wf.in_sample_best == 1  # totals 0, 14, -2
    assert wf.in_sample_best_pnl_usd.tolist() == [5, 5, 2, 2, 0, 0]
    assert wf.oos_pnl_usd.sum() == -4 < wf.in_sample_best_pnl_usd.sum() == 14  # the gap is the point

    expanding = walk_forward(pnl, days, metric=Metric.TOTAL_PNL, train_days=2, test_days=2, expanding=True)
    assert expanding.chosen.tolist() == [0, 1, 1]  # days 0-5: totals 0, 14, 6


def test_walk_forward_accepts_numpy_days_and_checks_them() -> None:
    pnl = np.zeros((6, 2))
    assert walk_forward(pnl, DAYS[:6], metric=Metric.TOTAL_PNL, train_days=2, test_days=2).days.tolist() == \
        DAYS[2:6].tolist()
    with pytest.raises(ValueError):
        walk_forward(pnl, DAYS[:6][::-1], metric=Metric.TOTAL_PNL, train_days=2, test_days=2)
    with pytest.raises(ValueError):
        walk_forward(pnl, DAYS[:5], metric=Metric.TOTAL_PNL, train_days=2, test_days=2)
    with pytest.raises(ValueError, match="needs trades"):
        walk_forward(pnl, DAYS[:6], metric=Metric.EXPECTANCY, train_days=2, test_days=2)
    with pytest.raises(ValueError, match="finite"):
        walk_forward(np.full((6, 2), np.nan), DAYS[:6], metric=Metric.TOTAL_PNL, train_days=2, test_days=2)
    with pytest.raises(ValueError, match="matrix"):
        walk_forward(np.zeros(6), DAYS[:6], metric=Metric.TOTAL_PNL, train_days=2, test_days=2)


def test_metrics_by_hand() -> None:
    pnl = np.array([[-1.0, 10.0], [2.0, -20.0], [-3.0, 30.0], [1.0, 0.0]])
    trades = np.array([[1, 1], [1, 2], [2, 1], [1, 0]], dtype=np.float64)
    wins = np.array([[0, 1], [1, 0], [0, 1], [1, 0]], dtype=np.float64)
    assert variant_scores(pnl, Metric.TOTAL_PNL).tolist() == [-1.0, 20.0]
    assert variant_scores(pnl, Metric.EXPECTANCY, trades=trades).tolist() == [-1 / 5, 20 / 4]
    assert variant_scores(pnl, Metric.WIN_RATE, trades=trades, wins=wins).tolist() == [2 / 5, 2 / 4]
    # Variant 0: equity -1, 1, -2, -1; peak (from 0) 0, 1, 1, 1; drawdown 1, 0, 3, 2. Variant 1: 10, -10, 20, 20 → 20.
    assert variant_scores(pnl, Metric.MAX_DRAWDOWN).tolist() == [-3.0, -20.0]
    mean, sd = -0.25, math.sqrt(((-0.75) ** 2 + 2.25**2 + 2.75**2 + 1.25**2) / 3)
    assert variant_scores(pnl, Metric.SHARPE)[0] == pytest.approx(mean / sd, rel=1e-12)


def test_undefined_scores_and_tie_breaks() -> None:
    pnl = np.array([[0.0, 5.0, 5.0, 1.0], [0.0, 5.0, 5.0, 3.0]])
    sharpe = variant_scores(pnl, Metric.SHARPE)
    assert np.isnan(sharpe[:3]).all() and sharpe[3] == pytest.approx(2 / math.sqrt(2))  # zeros, constants: undefined
    assert best_variant(sharpe) == 3
    assert np.isnan(variant_scores(pnl[:1, 3:], Metric.SHARPE)).all()  # one day
    assert best_variant(variant_scores(pnl, Metric.TOTAL_PNL)) == 1  # 10 = 10: the lower index
    no_trades = variant_scores(pnl, Metric.EXPECTANCY, trades=np.zeros_like(pnl))
    assert np.isnan(no_trades).all() and best_variant(no_trades) == 0


def test_sharpe_is_metrics_daily_sharpe_not_annualised() -> None:
    rng = np.random.default_rng(4)
    days = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(30)]
    pnl = np.round(rng.normal(10.0, 80.0, size=30), 2)
    trades = [ClosedTrade(entry_day=d, exit_day=d, pnl_usd=float(p), entry_credit=1.0, max_profit_usd=100.0,
                          max_loss_usd=2400.0, exit_reason="settlement", bucket=(3, 0.1, "10:00", "put_credit"))
              for d, p in zip(days, pnl)]
    annualised = summarise(trades, days).sharpe_daily_annualised
    assert annualised is not None
    assert variant_scores(pnl[:, None], Metric.SHARPE)[0] == pytest.approx(annualised / math.sqrt(252), rel=1e-9)


@pytest.mark.parametrize("metric", list(Metric))
def test_block_scores_equal_scores_of_the_joined_rows(metric: Metric) -> None:
    rng = np.random.default_rng(11)
    pnl = rng.normal(0.0, 50.0, size=(23, 7))
    pnl[:, 2] = 0.0  # never trades: undefined Sharpe everywhere
    extra = _inputs(metric, pnl, rng)
    bounds = [(0, 3), (3, 4), (4, 9), (9, 15), (15, 16), (16, 23)]
    blocks = block_summaries(pnl, bounds, **extra)
    combos = np.array(list(itertools.combinations(range(len(bounds)), 3)), dtype=np.intp)
    got = block_scores(blocks, combos, metric)
    for row, combo in zip(got, combos):
        rows = np.concatenate([np.arange(*bounds[b]) for b in combo])
        want = variant_scores(pnl[rows], metric, **{k: v[rows] for k, v in extra.items()})
        np.testing.assert_allclose(row, want, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(np.isnan(row), np.isnan(want))


_PROBE = """
import json, sys
from importlib.metadata import packages_distributions
import numpy, scipy.stats  # their own optional deps (numpy.f2py may load charset_normalizer) are theirs, not ours
before = set(sys.modules)
import backtests.engine.selection, backtests.engine.overfitting
new = {name.split(".")[0] for name in set(sys.modules) - before}
print(json.dumps({"django": any(n == "django" or n.startswith("django.") for n in sys.modules),
                  "packages": sorted(new & set(packages_distributions()))}))
"""


def test_selection_and_overfitting_import_no_django_only_numpy_and_scipy() -> None:
    # A fresh interpreter: this test process already holds Django.
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["django"] is False
    assert set(report["packages"]) <= {"numpy", "scipy"}, report["packages"]
