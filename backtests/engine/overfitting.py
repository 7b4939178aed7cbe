"""How much of the best variant of a sweep is luck: the deflated Sharpe ratio and the probability
of backtest overfitting, over a days × variants matrix of daily PnL (``selection``'s inputs).

Pure: numpy and scipy only, no Django, no I/O, no clock. Every Sharpe ratio here is **per trading
day, not annualised** (mean / std with ddof=1 of daily dollar PnL; × √252 for the annualised
figure of ``metrics.summarise``): the formulas below need the per-period value.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import kurtosis, norm, skew

from backtests.engine.selection import (
    Metric,
    as_matrix,
    best_variant,
    block_scores,
    block_summaries,
    combos_per_chunk,
    variant_scores,
)

EULER_GAMMA: Final = 0.5772156649015329


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum of ``n_trials`` independent per-day Sharpe ratios whose true value is 0 and
    whose estimates have variance ``sharpe_variance`` (per day²) — Bailey & López de Prado (2014),
    "The deflated Sharpe ratio", eq. for SR₀:

        SR₀ = √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))),   γ = Euler–Mascheroni ≈ 0.5772

    per day. N = 1 gives 0 (one trial has nothing to pick from; the approximation itself is for
    large N); it grows with N and with V."""
    if n_trials < 1 or sharpe_variance < 0:
        raise ValueError("need n_trials >= 1 and sharpe_variance >= 0")
    if n_trials == 1:
        return 0.0
    z = (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials) + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * float(z)


def probabilistic_sharpe_ratio(sharpe_per_day: float, benchmark_sharpe_per_day: float, n_days: int,
                               skewness: float, kurtosis: float) -> float:
    """Probability that the true per-day Sharpe exceeds ``benchmark_sharpe_per_day`` given an
    estimate ``sharpe_per_day`` from ``n_days`` daily returns with that ``skewness`` and (non-excess,
    normal = 3) ``kurtosis`` — Bailey & López de Prado (2012), "The Sharpe ratio efficient frontier":

        PSR = Φ( (SR − SR*) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 · SR²) )

    with SR, SR* per day (not annualised), T = ``n_days``. NaN if the square root's argument is
    <= 0 (only on Pearson's bound γ₄ = γ₃² + 1, two-valued returns) or n_days < 2."""
    var_term = 1 - skewness * sharpe_per_day + (kurtosis - 1) / 4 * sharpe_per_day**2
    if n_days < 2 or not var_term > 0:
        return math.nan
    z = (sharpe_per_day - benchmark_sharpe_per_day) * math.sqrt(n_days - 1) / math.sqrt(var_term)
    return float(norm.cdf(z))


@dataclass(frozen=True)
class DeflatedSharpe:
    dsr: float  # PSR of the selected variant against the expected maximum Sharpe: P(true Sharpe > 0 after N trials)
    selected: int  # variant index
    sharpe_per_day: float  # the selected variant's, not annualised
    expected_max_sharpe_per_day: float  # SR₀, the benchmark
    n_trials: int
    sharpe_variance: float  # across the trials' per-day Sharpe ratios (ddof=1)
    skewness: float  # of the selected variant's daily PnL
    kurtosis: float  # idem, non-excess (normal = 3)
    n_days: int


def deflated_sharpe_ratio(pnl_usd: ArrayLike, *, selected: int | None = None,
                          n_trials: int | None = None) -> DeflatedSharpe:
    """Deflated Sharpe ratio (Bailey & López de Prado 2014) of a variant of the days × variants
    ``pnl_usd``: ``probabilistic_sharpe_ratio`` of its per-day Sharpe SR against the benchmark
    SR₀ = ``expected_max_sharpe(N, V)``, with

    - SR: mean / std (ddof=1) of the variant's daily PnL, per day (``selection.Metric.SHARPE``);
    - N = ``n_trials``, default the number of variants (columns): every variant tried counts,
      correlated or not, which errs on the side of a higher benchmark;
    - V: variance (ddof=1) of the per-day Sharpe ratios of the variants whose Sharpe is defined;
    - skewness and kurtosis (non-excess; biased sample moments, ``scipy.stats``) and T = number
      of days, of the variant's daily PnL.

    ``selected`` defaults to the variant with the highest Sharpe (lowest index on ties). A DSR of
    0.95 or more says the selected Sharpe beats what the best of N trials with no skill would
    show, at 95 % confidence. NaN when the selected variant's Sharpe is undefined."""
    pnl = as_matrix(pnl_usd, "pnl_usd")
    n_days, n_variants = pnl.shape
    sharpe = variant_scores(pnl, Metric.SHARPE)
    pick = best_variant(sharpe) if selected is None else selected
    if not 0 <= pick < n_variants:
        raise ValueError("selected is not a variant index")
    trials = n_variants if n_trials is None else n_trials
    defined = sharpe[~np.isnan(sharpe)]
    variance = float(np.var(defined, ddof=1)) if len(defined) >= 2 else 0.0
    benchmark = expected_max_sharpe(trials, variance)
    x, sr = pnl[:, pick], float(sharpe[pick])
    # An undefined Sharpe (a constant series) has no moments either: NaN throughout, and no scipy warning.
    skewness, kurt = (math.nan, math.nan) if math.isnan(sr) else (float(skew(x)), float(kurtosis(x, fisher=False)))
    return DeflatedSharpe(
        dsr=probabilistic_sharpe_ratio(sr, benchmark, n_days, skewness, kurt),  # NaN in, NaN out
        selected=pick,
        sharpe_per_day=sr,
        expected_max_sharpe_per_day=benchmark,
        n_trials=trials,
        sharpe_variance=variance,
        skewness=skewness,
        kurtosis=kurt,
        n_days=n_days,
    )


@dataclass(frozen=True)
class Pbo:
    pbo: float  # share of combinations whose in-sample best ranks in the lower half out of sample (λ <= 0)
    logits: NDArray[np.float64]  # λ per combination, in itertools.combinations order of the in-sample blocks
    n_combinations: int  # C(S, S/2)
    n_blocks: int  # S


def _rank_logits(is_scores: NDArray[np.float64], oos_scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """λ = ln(ω / (1 − ω)) per row, ω = (out-of-sample rank of the in-sample best) / (N + 1), the rank
    running from 1 (worst) to N (best), ties averaged, NaN scores lowest."""
    rows = np.arange(len(is_scores))
    best = np.argmax(np.where(np.isnan(is_scores), -np.inf, is_scores), axis=1)  # lowest index on ties
    oos = np.where(np.isnan(oos_scores), -np.inf, oos_scores)
    own = oos[rows, best][:, None]
    rank = 1 + (oos < own).sum(axis=1) + ((oos == own).sum(axis=1) - 1) / 2
    omega = rank / (oos.shape[1] + 1)
    return np.asarray(np.log(omega / (1 - omega)), dtype=np.float64)


def probability_of_backtest_overfitting(pnl_usd: ArrayLike, *, n_blocks: int = 16, metric: Metric = Metric.SHARPE,
                                        trades: ArrayLike | None = None, wins: ArrayLike | None = None) -> Pbo:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey,
    Borwein, López de Prado & Zhu 2015, "The probability of backtest overfitting").

    The T days × N variants ``pnl_usd`` is cut into S = ``n_blocks`` (even) consecutive row blocks
    (``np.array_split``: sizes differ by at most one day). For each of the C(S, S/2) ways to take
    S/2 blocks as in-sample (the rest, in time order, out of sample): the in-sample best variant by
    ``metric`` (``selection``'s scores; lowest index on ties), its relative rank ω = rank / (N + 1)
    out of sample (1 = worst … N = best, ties averaged, undefined scores lowest) and the logit
    λ = ln(ω / (1 − ω)). PBO = share of combinations with λ <= 0: how often the in-sample winner is
    no better than the median out of sample. Pure noise gives about 0.5, a real edge near 0.

    Each combination's complement is also a combination (the (C−1−i)-th in lexicographic order),
    so each set of blocks is scored once and serves as the other's out-of-sample half."""
    pnl = as_matrix(pnl_usd, "pnl_usd")
    n_days, n_variants = pnl.shape
    if n_blocks < 2 or n_blocks % 2 or n_days < n_blocks or n_variants < 2:
        raise ValueError("need an even n_blocks >= 2, at least n_blocks days and 2 variants")
    parts = np.array_split(np.arange(n_days), n_blocks)
    blocks = block_summaries(
        pnl, [(int(p[0]), int(p[-1]) + 1) for p in parts],
        trades=None if trades is None else as_matrix(trades, "trades", pnl.shape),
        wins=None if wins is None else as_matrix(wins, "wins", pnl.shape),
    )
    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    n_combos = len(combos)
    logits = np.empty(n_combos)
    step = combos_per_chunk(n_blocks // 2, n_variants)
    for start in range(0, n_combos // 2, step):
        first = np.arange(start, min(start + step, n_combos // 2))
        other = n_combos - 1 - first  # the complements
        a, b = block_scores(blocks, combos[first], metric), block_scores(blocks, combos[other], metric)
        logits[first], logits[other] = _rank_logits(a, b), _rank_logits(b, a)
    return Pbo(pbo=float(np.mean(logits <= 0)), logits=logits, n_combinations=n_combos, n_blocks=n_blocks)
