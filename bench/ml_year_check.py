"""Which generated year can show the meta-labeler's gain? The one-year walk-forward on the synthetic
candidates of each seed, before spending the hour a platform year costs to generate.

Run from the repository root:

    .venv/bin/python bench/ml_year_check.py [--year 2025] [--regime stressed-vol] [--seeds 1 2 3 ...]

For each market seed: ``mlmodels.synthetic`` candidates of the year (the same model the generated
OPRA files are made of), kept only where the seeded configs' combo-spread rule would let them
through (``combo_spread`` ≤ min(1.50, 0.50 × mid) — with the spread scaled by ``--spread-scale``,
default 1.35: the generated quotes' combo spreads run about 35 % wider than the synthetic model's
(2025-01/02 of seed 7, the same 1,094 candidates: 0.763 vs 0.567 points mean)), then
``training.train`` as ``train_model`` runs it. Prints the out-of-sample AUC, the trades the gate
kept, gated / ungated expectancy and the gain with its 95 % day-block interval. Asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _interval(d: dict) -> str:
    return f"{d['value']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]" if d.get("value") is not None else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--regime", default="stressed-vol")
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4, 5, 7])
    parser.add_argument("--spread-scale", type=float, default=1.35)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench._django import temp_django

    temp_django("ml-year-check-")
    from mlmodels import synthetic, training
    from mlmodels.dataset import uniqueness
    from mlmodels.learner import LearnParams
    from snapshots.providers.simulated_market import regime_preset
    from strategy.quant.features import FEATURE_NAMES

    regime = regime_preset(args.regime)
    print(f"one-year walk-forward on synthetic candidates: {args.year}, regime {args.regime}, "
          f"combo spread × {args.spread_scale}", flush=True)
    for seed in args.seeds:
        rows = [r for r in synthetic.candidates(seed, dt.date(args.year, 1, 1), dt.date(args.year, 12, 31), regime=regime)
                if r["combo_spread"] * args.spread_scale <= min(1.5, 0.5 * r["credit_mid"])]
        weights = uniqueness([(r["entry_at"].timestamp() / 60, r["exit_at"].timestamp() / 60) for r in rows])
        for r, w in zip(rows, weights):
            r["uniqueness"] = w
        report = training.train(rows, FEATURE_NAMES, LearnParams()).report
        result = report["result"]
        print(f"seed {seed}: {len(rows):,} candidates, OOS AUC {report['oos']['auc']:.3f}, "
              f"kept {result['gated']['trades']['value']:,.0f}, gated {_interval(result['gated']['expectancy_usd'])}, "
              f"ungated {_interval(result['ungated']['expectancy_usd'])}, "
              f"gain {_interval(result['gain']['expectancy_usd'])} USD per trade", flush=True)


if __name__ == "__main__":
    main()
