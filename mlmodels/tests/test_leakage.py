"""Leakage guards on the simulated market's candidates (``mlmodels.synthetic``).

* Null market, 10 seeds × one year: the walk-forward AUC stays inside the band the same
  walk-forward gives on shuffled labels, and the gated expectancy gain inside the band of gains on
  shuffled labels — while a shuffled K-fold split on the same data looks better (rows of one day
  on both sides), which is exactly what the walk-forward must not do.
  The null market is the simulated market with the regime off *and* its outcomes moved to other
  days (``training.shuffled_rows``: each day takes another day's outcomes in a random order, so
  outcomes stay clustered by day as a market makes them). The regime-off market alone is not
  information-free: its smile prices the put wing richer than its paths realise and strategies
  differ in base rate, so a model finds real structure there (seed 101, 2024: out-of-sample AUC
  0.64, the strategy alone 0.64) — signal, not leakage, and not what this guard is about.
* Planted signal (regime on, three years): out-of-sample AUC ≥ 0.60, and the gated expectancy and
  win rate above ungated with the day-block bootstrap interval of the gain above zero.
* Byte-identical retrain: the same rows and parameters give the same UBJ file and predictions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import statistics
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from mlmodels import synthetic, training
from mlmodels.learner import LearnParams
from snapshots.providers.simulated_market import regime_preset
from strategy.quant.features import FEATURE_NAMES

NULL_SEEDS = tuple(range(101, 111))
PARAMS = LearnParams()
# The planted regime strong enough for a year of the grid to show it (the default "on" is milder).
PLANTED = regime_preset("strong")


@pytest.fixture(scope="module")
def null_runs() -> dict[str, Any]:
    out: dict[str, Any] = {"auc": [], "gain": [], "null_auc": [], "null_gain": [], "split_auc": []}
    for seed in NULL_SEEDS:
        rows = training.shuffled_rows(synthetic.candidates(seed, dt.date(2024, 1, 1), dt.date(2024, 12, 31)), seed)
        report = training.train(rows, FEATURE_NAMES, PARAMS, bootstrap_draws=100).report
        out["auc"].append(report["oos"]["auc"])
        out["gain"].append(report["result"]["gain"]["expectancy_usd"])
        again = training.train(training.shuffled_rows(rows, 10 * seed), FEATURE_NAMES, PARAMS, bootstrap_draws=20).report
        out["null_auc"].append(again["oos"]["auc"])
        out["null_gain"].append(again["result"]["gain"]["expectancy_usd"]["value"])
        out["split_auc"].append(training.shuffled_split_auc(rows, FEATURE_NAMES, PARAMS))
    return out


def _band(values: list[float], k: float = 4.0) -> tuple[float, float]:
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    return mean - k * sd, mean + k * sd


def test_null_market_auc_stays_in_the_shuffled_label_band(null_runs: dict[str, Any]) -> None:
    lo, hi = _band(null_runs["null_auc"])
    assert 0.40 < lo < 0.5 < hi < 0.60, (lo, hi)
    for seed, auc in zip(NULL_SEEDS, null_runs["auc"]):
        assert lo <= auc <= hi, f"seed {seed}: walk-forward AUC {auc:.3f} outside the null band [{lo:.3f}, {hi:.3f}]"
    assert abs(statistics.fmean(null_runs["auc"]) - 0.5) < 0.02


def test_null_market_shows_no_gain_outside_the_null_band(null_runs: dict[str, Any]) -> None:
    lo, hi = _band(null_runs["null_gain"])
    for seed, gain in zip(NULL_SEEDS, null_runs["gain"]):
        assert lo <= gain["value"] <= hi, f"seed {seed}: gain {gain['value']:.2f} outside [{lo:.2f}, {hi:.2f}]"
    # and the seeds' own bootstrap intervals include zero (a 95 % interval misses ~1 in 20 by chance)
    assert sum(1 for g in null_runs["gain"] if g["low"] > 0 or g["high"] < 0) <= 2


def test_a_shuffled_split_looks_better_on_the_same_null_data(null_runs: dict[str, Any]) -> None:
    walk, split = statistics.fmean(null_runs["auc"]), statistics.fmean(null_runs["split_auc"])
    assert split > walk + 0.02 and split > 0.52, (split, walk)


def test_planted_signal_is_found_out_of_sample() -> None:
    rows = synthetic.candidates(3, dt.date(2022, 1, 1), dt.date(2024, 12, 31), regime=PLANTED)
    report = training.train(rows, FEATURE_NAMES, PARAMS, bootstrap_draws=200).report
    assert report["oos"]["auc"] >= 0.60
    result = report["result"]
    for figure in ("expectancy_usd", "win_rate"):
        assert result["gated"][figure]["value"] > result["ungated"][figure]["value"]
        assert result["gain"][figure]["low"] > 0, (figure, result["gain"][figure])
    assert report["oos_logistic"]["auc"] > 0.55  # the baseline sees it too, on the same folds


def test_retraining_is_byte_identical() -> None:
    rows = synthetic.candidates(5, dt.date(2024, 1, 1), dt.date(2024, 6, 30), regime=PLANTED)
    params = replace(PARAMS, n_blocks=3)

    def once() -> tuple[str, np.ndarray, float]:
        final = training.train(rows, FEATURE_NAMES, params, bootstrap_draws=20).final
        raw = bytes(final.model.get_booster().save_raw(raw_format="ubj"))
        X = training.rows_from(rows, FEATURE_NAMES).X
        return hashlib.sha256(raw).hexdigest(), final.probability(X), final.threshold

    a, b = once(), once()
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2]
    other = training.train(rows, FEATURE_NAMES, replace(params, learning_rate=0.1), bootstrap_draws=20).final
    assert hashlib.sha256(bytes(other.model.get_booster().save_raw(raw_format="ubj"))).hexdigest() != a[0]
