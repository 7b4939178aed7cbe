"""backtests.engine.overfitting: the deflated Sharpe ratio's terms against closed forms computed
here, the PBO on matrices whose answer is worked out by hand, against a brute-force CSCV, and on
pure noise and a planted edge (bands measured over 40 seeds, see the constants). No database."""

from __future__ import annotations

import functools
import itertools
import math
import time

import numpy as np
import pytest

from backtests.engine.overfitting import (
    EULER_GAMMA,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from backtests.engine.selection import Metric, variant_scores

# Measured over seeds 0..39 (T=252 days, N=200 N(0, 100²) variants, S=16): null PBO mean 0.503,
# sd 0.134, range 0.249..0.806; the best noise variant's DSR 0.22..0.88. With one variant's mean
# raised to 0.5 sd per day: PBO <= 0.029 and DSR >= 0.997 (0.4 sd: PBO <= 0.154, DSR >= 0.924).
NULL_SEEDS = range(8)
NULL_PBO_BAND = (0.2, 0.85)  # each seed
NULL_PBO_MEAN_BAND = (0.4, 0.6)  # mean over NULL_SEEDS (sd of a mean of 8: ~0.05)
EDGE_SD_PER_DAY = 0.5


def phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def noise(seed: int, n_variants: int = 200, n_days: int = 252) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 100.0, size=(n_days, n_variants))


@functools.cache
def null_pbo(seed: int) -> float:
    return probability_of_backtest_overfitting(noise(seed)).pbo


# ---- deflated Sharpe ratio -------------------------------------------------------------------


def test_expected_max_sharpe_is_zero_for_one_trial_and_grows_with_trials() -> None:
    assert expected_max_sharpe(1, 0.04) == 0.0
    values = [expected_max_sharpe(n, 0.04) for n in (1, 2, 3, 10, 100, 1000, 10_000)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert expected_max_sharpe(100, 0.0) == 0.0
    assert expected_max_sharpe(100, 0.09) == pytest.approx(1.5 * expected_max_sharpe(100, 0.04))  # ∝ √V


def test_expected_max_sharpe_by_hand_and_against_normal_order_statistics() -> None:
    # N = 2: Φ⁻¹(1/2) = 0, so SR₀ = √V · γ · Φ⁻¹(1 − 1/(2e)); 1 − 1/(2e) = 0.816060 → z = 0.900453.
    assert expected_max_sharpe(2, 1.0) == pytest.approx(EULER_GAMMA * 0.900453, rel=1e-5)
    # E[max of N standard normals] (tables): 10 → 1.5388, 100 → 2.5076, 1000 → 3.2414; the
    # approximation is within 3 %.
    for n, exact in ((10, 1.5388), (100, 2.5076), (1000, 3.2414)):
        assert expected_max_sharpe(n, 1.0) == pytest.approx(exact, rel=0.03)


def test_probabilistic_sharpe_ratio_closed_form() -> None:
    sr, bench, t, g3, g4 = 0.1, 0.02, 253, -1.2, 7.5
    z = (sr - bench) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    assert probabilistic_sharpe_ratio(sr, bench, t, g3, g4) == pytest.approx(phi(z), rel=1e-12)
    # Normal returns: the denominator is √(1 + SR²/2).
    normal = phi(0.1 * math.sqrt(252) / math.sqrt(1 + 0.005))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 253, 0.0, 3.0) == pytest.approx(normal, rel=1e-12)
    assert probabilistic_sharpe_ratio(0.1, 0.1, 253, -1.0, 6.0) == 0.5
    # Fat left tails widen the estimate's error: less confidence in the same positive Sharpe.
    assert probabilistic_sharpe_ratio(0.1, 0.0, 253, -2.0, 12.0) < normal
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0))


def test_deflated_sharpe_ratio_fields_by_hand() -> None:
    rng = np.random.default_rng(3)
    pnl = rng.standard_t(4, size=(120, 5)) * 50.0
    pnl[:, 3] += 30.0
    got = deflated_sharpe_ratio(pnl)
    sharpes = pnl.mean(axis=0) / pnl.std(axis=0, ddof=1)
    x = pnl[:, 3] - pnl[:, 3].mean()
    m2, m3, m4 = (x**2).mean(), (x**3).mean(), (x**4).mean()
    variance = sharpes.var(ddof=1)
    assert got.selected == int(np.argmax(sharpes)) == 3
    assert got.sharpe_per_day == pytest.approx(sharpes[3], rel=1e-12)
    assert got.sharpe_variance == pytest.approx(variance, rel=1e-9)
    assert got.skewness == pytest.approx(m3 / m2**1.5, rel=1e-9)
    assert got.kurtosis == pytest.approx(m4 / m2**2, rel=1e-9)
    assert (got.n_trials, got.n_days) == (5, 120)
    sr0 = math.sqrt(variance) * ((1 - EULER_GAMMA) * 0.841621 + EULER_GAMMA * 1.449666)  # Φ⁻¹(0.8), Φ⁻¹(1 − 1/(5e))
    assert got.expected_max_sharpe_per_day == pytest.approx(sr0, rel=1e-5)
    sr = sharpes[3]
    z = (sr - sr0) * math.sqrt(119) / math.sqrt(1 - got.skewness * sr + (got.kurtosis - 1) / 4 * sr**2)
    assert got.dsr == pytest.approx(phi(z), rel=1e-5)


def test_deflated_sharpe_ratio_falls_with_the_number_of_trials() -> None:
    pnl = noise(5, n_variants=20)
    pnl[:, 7] += 15.0
    dsr = [deflated_sharpe_ratio(pnl, n_trials=n).dsr for n in (1, 2, 5, 20, 100, 1000)]
    assert all(b < a for a, b in zip(dsr, dsr[1:]))
    one = deflated_sharpe_ratio(pnl, n_trials=1)
    assert one.dsr == probabilistic_sharpe_ratio(one.sharpe_per_day, 0.0, 252, one.skewness, one.kurtosis)


def test_deflated_sharpe_ratio_of_a_chosen_variant_and_of_an_undefined_one() -> None:
    pnl = noise(6, n_variants=4)
    pnl[:, 2] = 0.0
    assert deflated_sharpe_ratio(pnl, selected=1).selected == 1
    assert math.isnan(deflated_sharpe_ratio(pnl, selected=2).dsr)
    assert deflated_sharpe_ratio(pnl).n_trials == 4  # a variant that never trades is still a trial
    with pytest.raises(ValueError):
        deflated_sharpe_ratio(pnl, selected=4)


@pytest.mark.parametrize("seed", NULL_SEEDS)
def test_deflated_sharpe_ratio_of_the_best_noise_variant_is_not_significant(seed: int) -> None:
    got = deflated_sharpe_ratio(noise(seed))
    assert got.dsr < 0.9
    # Undeflated (one trial), the same best variant would pass for skill at 95 %.
    assert probabilistic_sharpe_ratio(got.sharpe_per_day, 0.0, 252, got.skewness, got.kurtosis) > 0.95


# ---- probability of backtest overfitting ------------------------------------------------------


def brute_force_logits(pnl: np.ndarray, n_blocks: int, metric: Metric, **extra: np.ndarray) -> np.ndarray:
    """CSCV as the paper writes it: join the rows, score, rank (average ranks), logit."""
    parts = np.array_split(np.arange(len(pnl)), n_blocks)
    out = []
    for combo in itertools.combinations(range(n_blocks), n_blocks // 2):
        is_rows = np.concatenate([parts[b] for b in combo])
        oos_rows = np.concatenate([parts[b] for b in range(n_blocks) if b not in combo])
        is_scores = variant_scores(pnl[is_rows], metric, **{k: v[is_rows] for k, v in extra.items()})
        oos_scores = variant_scores(pnl[oos_rows], metric, **{k: v[oos_rows] for k, v in extra.items()})
        best = int(np.argmax(np.nan_to_num(is_scores, nan=-np.inf)))
        oos = np.nan_to_num(oos_scores, nan=-np.inf)
        rank = 1 + np.sum(oos < oos[best]) + (np.sum(oos == oos[best]) - 1) / 2
        omega = rank / (len(oos) + 1)
        out.append(math.log(omega / (1 - omega)))
    return np.array(out)


def test_clear_winner_gives_pbo_zero() -> None:
    # T = 4 days, S = 4 blocks of one day; variant 1 beats variant 0 on every day, so it wins every
    # in-sample pair and ranks 2 of 2 out of sample: ω = 2/3, λ = ln 2 for all C(4, 2) = 6 splits.
    pnl = np.array([[1.0, 11.0], [-2.0, 8.0], [3.0, 13.0], [-4.0, 6.0]])
    got = probability_of_backtest_overfitting(pnl, n_blocks=4, metric=Metric.TOTAL_PNL)
    assert (got.pbo, got.n_combinations, got.n_blocks) == (0.0, 6, 4)
    np.testing.assert_allclose(got.logits, math.log(2))
    # Three variants, the last one best on every day: rank 3 of 3, ω = 3/4, λ = ln 3.
    three = np.column_stack([pnl, pnl[:, 1] + 1.0])
    got3 = probability_of_backtest_overfitting(three, n_blocks=4, metric=Metric.TOTAL_PNL)
    assert got3.pbo == 0.0
    np.testing.assert_allclose(got3.logits, math.log(3))
    # By Sharpe (two days in sample): 1, 2, 3, 4 has a positive Sharpe on every pair, −1 … −4 a negative one.
    ramp = np.array([[-1.0, 1.0], [-2.0, 2.0], [-3.0, 3.0], [-4.0, 4.0]])
    assert probability_of_backtest_overfitting(ramp, n_blocks=4).pbo == 0.0


def test_in_sample_best_always_out_of_sample_worst_gives_pbo_one() -> None:
    # d sums to 0 and no two days sum to 0: whichever of d, −d wins two days loses the other two.
    d = np.array([1.0, 2.0, 4.0, -7.0])
    got = probability_of_backtest_overfitting(np.column_stack([d, -d]), n_blocks=4, metric=Metric.TOTAL_PNL)
    assert got.pbo == 1.0
    np.testing.assert_allclose(got.logits, -math.log(2))  # rank 1 of 2: ω = 1/3
    # A third variant at 0 sits in the middle in sample and out: the winner is still last, ω = 1/4.
    got3 = probability_of_backtest_overfitting(np.column_stack([d, -d, 0 * d]), n_blocks=4, metric=Metric.TOTAL_PNL)
    assert got3.pbo == 1.0
    np.testing.assert_allclose(got3.logits, math.log(1 / 3))


def test_identical_variants_rank_in_the_middle() -> None:
    # Ties are averaged: rank (N + 1)/2, ω = 1/2, λ = 0, which counts as overfit (λ <= 0).
    pnl = np.repeat(noise(1, n_variants=1, n_days=32), 3, axis=1)
    got = probability_of_backtest_overfitting(pnl, n_blocks=8)
    np.testing.assert_array_equal(got.logits, 0.0)
    assert got.pbo == 1.0


@pytest.mark.parametrize("metric", list(Metric))
def test_pbo_equals_brute_force_cscv(metric: Metric) -> None:
    rng = np.random.default_rng(21)
    pnl = rng.normal(0.0, 100.0, size=(27, 6))  # 27 rows in 6 blocks: sizes 5, 5, 5, 4, 4, 4
    pnl[:, 1] += 20.0
    pnl[:5, 4] = 0.0
    extra: dict[str, np.ndarray] = {}
    if metric in (Metric.EXPECTANCY, Metric.WIN_RATE):
        trades = rng.integers(0, 3, size=pnl.shape).astype(np.float64)
        extra = {"trades": trades, "wins": np.minimum(trades, pnl > 0)}
    got = probability_of_backtest_overfitting(pnl, n_blocks=6, metric=metric, **extra)
    want = brute_force_logits(pnl, 6, metric, **extra)
    np.testing.assert_allclose(got.logits, want, rtol=1e-12, atol=1e-12)
    assert got.pbo == np.mean(want <= 0)
    assert got.n_combinations == 20


@pytest.mark.parametrize("seed", NULL_SEEDS)
def test_pbo_of_pure_noise_is_near_one_half(seed: int) -> None:
    assert NULL_PBO_BAND[0] < null_pbo(seed) < NULL_PBO_BAND[1]


def test_pbo_of_pure_noise_averages_one_half() -> None:
    mean = np.mean([null_pbo(seed) for seed in NULL_SEEDS])
    assert NULL_PBO_MEAN_BAND[0] < mean < NULL_PBO_MEAN_BAND[1]


@pytest.mark.parametrize("seed", range(4))
def test_a_planted_edge_gives_low_pbo_and_high_dsr(seed: int) -> None:
    pnl = noise(seed)
    pnl[:, 37] += EDGE_SD_PER_DAY * 100.0
    assert probability_of_backtest_overfitting(pnl).pbo < 0.1
    got = deflated_sharpe_ratio(pnl)
    assert got.selected == 37
    assert got.dsr > 0.95


def test_pbo_rejects_bad_shapes() -> None:
    for kwargs in ({"n_blocks": 5}, {"n_blocks": 0}, {"n_blocks": 40}):
        with pytest.raises(ValueError):
            probability_of_backtest_overfitting(noise(0, n_variants=3, n_days=30), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(noise(0, n_variants=1, n_days=32))
    with pytest.raises(ValueError, match="needs trades"):
        probability_of_backtest_overfitting(noise(0, n_variants=3, n_days=32), metric=Metric.EXPECTANCY)


def test_pbo_of_a_year_of_a_thousand_variants_is_vectorised() -> None:
    # ~0.3 s on the dev box; the bound only catches a fall back to a loop over combinations.
    pnl = noise(0, n_variants=1000)
    start = time.perf_counter()
    got = probability_of_backtest_overfitting(pnl)
    assert time.perf_counter() - start < 15.0
    assert got.n_combinations == 12_870 == math.comb(16, 8) == got.logits.shape[0]
