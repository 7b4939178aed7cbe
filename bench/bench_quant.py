"""Timing of the quant hot paths: implied vol of a 1,200-option chain and a two-term VIX index.

Run from the repository root:  .venv/bin/python bench/bench_quant.py [repeats]
Prints the median (and min/max) wall time in milliseconds; it asserts nothing.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strategy.quant import black76, forward, vix

FORWARD = 6000.0


def _chain_1200(seed: int = 0) -> tuple[NDArray[np.float64], ...]:
    """1,200 SPX-like options: strikes −35 %…+25 % around F, expiries from one hour to 90 days,
    a skewed smile, and prices rounded to the 0.05 tick (at least one tick)."""
    rng = np.random.default_rng(seed)
    k = np.round(FORWARD * np.exp(rng.uniform(-0.35, 0.25, 1200)) / 5.0) * 5.0
    t = rng.choice(np.array([60.0, 390.0, 1440.0, 3 * 1440.0, 7 * 1440.0, 30 * 1440.0, 90 * 1440.0]) / 525_600.0, 1200)
    x = np.log(k / FORWARD)
    sigma = 0.15 - 0.25 * x + 0.8 * x * x
    is_call = k >= FORWARD
    d = np.exp(-0.045 * t)
    p = np.asarray(black76.price(is_call, FORWARD, k, t, d, sigma))
    p = np.maximum(np.round(p / 0.05) * 0.05, 0.05)
    return is_call.astype(np.float64), k, t, d, p


def _vix_term(days: float, step: float = 5.0) -> vix.TermQuotes:
    """A flat-20 % chain, strikes 3000–9000 every ``step`` points, quoted at mid ± 2 %."""
    k = np.arange(3000.0, 9000.0 + step / 2, step)
    minutes = days * 1440.0
    t = minutes / 525_600.0
    d = math.exp(-0.045 * t)
    quotes: list[NDArray[np.float64]] = []
    for is_call in (True, False):
        mid = np.asarray(black76.price(is_call, FORWARD, k, t, d, 0.20))
        half = np.maximum(0.02 * mid, 0.025)
        bid = np.where(mid - half < 0.05, 0.0, mid - half)
        quotes += [bid, mid + half]
    return vix.TermQuotes(k, quotes[0], quotes[1], quotes[2], quotes[3], minutes, 0.045)


def _time_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    fn()  # warm-up (imports, caches)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples), min(samples), max(samples)


def main(repeats: int = 50) -> None:
    is_call, k, t, d, p = _chain_1200()
    near, nxt = _vix_term(25.0), _vix_term(32.0)
    strikes = np.arange(5800.0, 6200.0 + 1, 5.0)
    t30 = 30 / 365
    call = np.asarray(black76.price(True, FORWARD, strikes, t30, 0.996, 0.18))
    put = np.asarray(black76.price(False, FORWARD, strikes, t30, 0.996, 0.18))

    cases: list[tuple[str, Callable[[], object]]] = [
        (
            "implied_vol_with_reason, 1,200 options",
            lambda: black76.implied_vol_with_reason(p, is_call, FORWARD, k, t, d),
        ),
        ("price, 1,200 options", lambda: black76.price(is_call, FORWARD, k, t, d, 0.2)),
        ("greeks, 1,200 options", lambda: black76.greeks(is_call, FORWARD, k, t, d, 0.2)),
        (f"vix_index, two terms of {np.asarray(near.strikes).size} strikes", lambda: vix.vix_index(near, nxt)),
        ("implied_forward, 81 strikes", lambda: forward.implied_forward(strikes, call, put)),
    ]
    print(f"strategy.quant timings, {repeats} repeats (ms: median  [min … max])")
    for name, fn in cases:
        med, lo, hi = _time_ms(fn, repeats)
        print(f"  {name:<45} {med:8.3f}  [{lo:.3f} … {hi:.3f}]")
    reasons = np.asarray(black76.implied_vol_with_reason(p, is_call, FORWARD, k, t, d).reason)
    labels, counts = np.unique(reasons, return_counts=True)
    print("  implied vol reasons:", dict(zip(labels.tolist(), counts.tolist(), strict=True)))
    print(f"  vix_index value: {vix.vix_index(near, nxt).index:.4f} (flat 20 % chain)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
