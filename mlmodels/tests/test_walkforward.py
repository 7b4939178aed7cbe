"""Walk-forward folds: time order only, labels reaching the test block purged, an embargo that covers holding."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from mlmodels.walkforward import walk_forward

NS_MIN = 60 * 10**9
START = dt.date(2025, 1, 6)


def _rows(n_days: int, per_day: int = 4, hold_days: float = 3.0) -> tuple[np.ndarray, np.ndarray, list[dt.date]]:
    days = [START + dt.timedelta(days=i) for i in range(n_days) for _ in range(per_day)]
    entry = np.array([(dt.datetime.combine(d, dt.time(15), tzinfo=dt.UTC).timestamp() * 1e9) + k * NS_MIN
                      for k, d in enumerate(days)], dtype=np.int64)
    exit_ = entry + int(hold_days * 1440 * NS_MIN)
    return entry, exit_, days


def test_training_rows_ended_before_the_block_minus_the_embargo() -> None:
    entry, exit_, days = _rows(100)
    embargo = 4 * 1440 * NS_MIN
    folds = walk_forward(entry, exit_, days, n_blocks=4, embargo_ns=embargo, min_train=10)
    assert len(folds) == 4
    for f in folds:
        block_start = entry[f.test].min()
        assert exit_[f.train].max() < block_start - embargo  # nothing known only later leaks in
        assert entry[f.train].max() < block_start
        assert set(f.train).isdisjoint(f.test)
        # every row that entered before the block but is not trained on was purged for its label
        before = np.flatnonzero(entry < block_start)
        assert f.purged == before.size - f.train.size > 0
    tested = np.concatenate([f.test for f in folds])
    assert np.all(np.diff(tested) > 0)  # blocks follow each other in time, each row tested once


def test_expanding_and_rolling_windows() -> None:
    entry, exit_, days = _rows(100)
    embargo = 4 * 1440 * NS_MIN
    expanding = walk_forward(entry, exit_, days, n_blocks=4, embargo_ns=embargo, min_train=10)
    rolling = walk_forward(entry, exit_, days, n_blocks=4, embargo_ns=embargo, rolling_days=20, min_train=10)
    assert [f.train.size for f in expanding] == sorted(f.train.size for f in expanding)
    assert all(r.train.size < e.train.size for r, e in zip(rolling[1:], expanding[1:]))
    assert all(len({days[i] for i in r.train}) <= 20 for r in rolling)


def test_an_embargo_shorter_than_the_holding_period_is_refused() -> None:
    entry, exit_, days = _rows(60, hold_days=7.0)
    with pytest.raises(ValueError, match="shorter than the longest holding period"):
        walk_forward(entry, exit_, days, n_blocks=3, embargo_ns=3 * 1440 * NS_MIN)
    with pytest.raises(ValueError, match="sorted by entry"):
        walk_forward(entry[::-1], exit_[::-1], days[::-1], n_blocks=3, embargo_ns=8 * 1440 * NS_MIN)


def test_a_window_with_one_outcome_keeps_every_candidate_and_a_dataset_with_one_is_refused() -> None:
    from mlmodels import learner, training
    from mlmodels.learner import LearnParams, Rows

    entry, exit_, days = _rows(40)
    rows = Rows(X=np.random.default_rng(1).normal(size=(entry.size, 3)), y=np.zeros(entry.size, dtype=np.int64),
                pnl=np.full(entry.size, -100.0), weight=np.ones(entry.size), entry_ns=entry, exit_ns=exit_, days=days)
    for kind in ("xgboost", "logistic"):
        fit = learner.fit_window(rows, LearnParams(), kind=kind)
        assert fit.threshold == 0.0 and np.all(fit.probability(rows.X[:5]) == 0.0)
    dataset = [{"label": 0, "pnl_usd": -1.0, "uniqueness": 1.0, "entry_at": dt.datetime.fromtimestamp(e / 1e9, dt.UTC),
                "exit_at": dt.datetime.fromtimestamp(x / 1e9, dt.UTC), "trading_day": d, "f": 0.0}
               for e, x, d in zip(entry, exit_, days)]
    with pytest.raises(ValueError, match="nothing to learn"):
        training.train(dataset, ["f"], LearnParams())


def test_the_default_embargo_is_the_longest_holding_period_in_whole_days_and_a_set_one_is_checked() -> None:
    from mlmodels import learner
    from mlmodels.learner import LearnParams

    entry, exit_, _ = _rows(30, hold_days=3.0)
    exit_[7] = entry[7] + int(8.25 * 1440 * NS_MIN)  # a 7-DTE trade over a holiday weekend
    assert learner.embargo_days_for(LearnParams(), entry, exit_) == 9.0
    assert learner.embargo_days_for(LearnParams(embargo_days=12), entry, exit_) == 12.0
    days = [START + dt.timedelta(days=int(i // 4)) for i in range(entry.size)]
    with pytest.raises(ValueError, match="shorter than the longest holding period"):
        walk_forward(entry, exit_, days, n_blocks=3,
                     embargo_ns=int(learner.embargo_days_for(LearnParams(embargo_days=8), entry, exit_) * 1440 * NS_MIN))


def test_a_calibration_that_would_invert_the_scores_becomes_the_base_rate() -> None:
    from mlmodels import learner

    rng = np.random.default_rng(3)
    raw = rng.uniform(0.2, 0.8, 600)
    y = (rng.uniform(size=raw.size) > raw).astype(np.int64)  # higher score, fewer wins: worse than chance
    flat = learner.calibrate(raw, y, isotonic_min_rows=1000)
    assert flat.method == "constant" and flat.params["p"] == pytest.approx(y.mean())
    assert np.all(flat(np.array([0.1, 0.5, 0.9])) == y.mean())
    threshold, _ = learner.choose_threshold(flat(raw), np.where(y == 1, 50.0, -100.0), min_kept=30)
    assert (flat(raw) >= threshold).all()  # one probability: keep all (or, at its level, none) — never invert
    rising = learner.calibrate(raw, 1 - y, isotonic_min_rows=1000)  # the same scores where they do rank
    assert rising.method == "sigmoid" and rising(np.array([0.9]))[0] > rising(np.array([0.1]))[0]
    assert learner.Calibrator.from_dict(flat.as_dict())(np.array([0.3]))[0] == flat.params["p"]
