"""The meta-labeler's speed: walk-forward training on 10k and 100k candidates, scoring one window.

Run from the repository root:

    .venv/bin/python bench/bench_ml.py [--sizes 10000 100000]

Candidates come from the simulated market's model with the planted regime (``mlmodels.synthetic``,
~9,000 a year of the 36-strategy grid), generated first and not timed: 2022–2024 of market seed 7,
then the same years of seeds 8, 9, … (100k = 11 seed-years on 750 trading days; before 2022 SPXW
did not list every weekday, so older years give far fewer candidates).
Training = ``training.train`` as ``train_model`` runs it: the outer walk-forward (4 blocks), per
window the inner folds, calibration and threshold, the logistic baseline, the day-block bootstrap
(400 draws), the final model and its importances. Scoring = one entry window's 12 candidates
through the stored model as the live gate does it (``mlmodels.gate.Scorer``: feature vector,
booster, calibrator, threshold), median of 200. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench._django import temp_django

    temp_django("bench-ml-")
    import numpy as np
    import xgboost as xgb

    from mlmodels import synthetic, training
    from mlmodels.gate import Scorer
    from mlmodels.learner import LearnParams
    from snapshots.providers.simulated_market import regime_preset
    from strategy.quant.features import FEATURE_NAMES

    planted = regime_preset("strong")
    print(f"meta-labeler benchmark: {os.cpu_count()} cores, xgboost {xgb.__version__}, n_jobs={LearnParams().n_jobs}")
    rows: list[dict] = []
    # Years with SPXW expirations every weekday (2022 on) give ~9,000 candidates each; beyond three
    # years the same years are drawn again from further market seeds (independent markets).
    plan = [(seed, year) for seed in range(7, 20) for year in (2024, 2023, 2022)]
    for size in sorted(args.sizes):
        t0 = time.perf_counter()
        while len(rows) < size:
            seed, year = plan.pop(0)
            rows += synthetic.candidates(seed, dt.date(year, 1, 1), dt.date(year, 12, 31), regime=planted)
        data = sorted(rows[:size], key=lambda r: (r["entry_at"], r["strategy"]))
        gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        trained = training.train(data, FEATURE_NAMES, LearnParams())
        wall = time.perf_counter() - t0
        r = trained.report
        g = r["result"]["gain"]["expectancy_usd"]
        print(f"{len(data):,} candidates ({data[0]['trading_day']} … {data[-1]['trading_day']}, generated in {gen:.0f} s): "
              f"walk-forward training {wall:.1f} s | {len(r['folds'])} folds, OOS AUC {r['oos']['auc']:.3f} "
              f"(logistic {r['oos_logistic']['auc']:.3f}), gain {g['value']:+.2f} USD/trade [{g['low']:+.2f}, {g['high']:+.2f}]",
              flush=True)
    booster = trained.final.model.get_booster()
    best = booster.attr("best_iteration")
    scorer = Scorer(version="bench", booster=booster, iteration_range=(0, int(best) + 1) if best is not None else (0, 0),
                    calibrator=trained.final.calibrator, threshold=trained.final.threshold, feature_names=FEATURE_NAMES)
    window = [{n: r[n] for n in FEATURE_NAMES} for r in data[-12:]]
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        for features in window:
            scorer("spx-verticals", features)
        times.append(time.perf_counter() - t0)
    print(f"scoring one entry window (12 candidates, one at a time as decide_window asks): "
          f"{statistics.median(times) * 1000:.2f} ms median, {max(times) * 1000:.2f} ms max of 200")
    X = np.array([[r[n] for n in FEATURE_NAMES] for r in data[-12:]])
    t0 = time.perf_counter()
    for _ in range(200):
        scorer.probability(X)
    print(f"scoring the 12 as one batch: {(time.perf_counter() - t0) / 200 * 1000:.2f} ms")


if __name__ == "__main__":
    main()
