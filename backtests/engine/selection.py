"""Walk-forward selection over a set of strategy variants: choose the best variant by a metric on a
training window of past trading days, trade it on the next block of days, repeat.

Pure: numpy only, no Django, no I/O, no clock. Inputs are matrices with one row per trading day
(sorted, unique) and one column per variant: ``pnl_usd`` (float64 dollars booked that day, net of
fees, 0 on days without exits, as ``metrics.equity_curve`` books them), optionally ``trades``
(trades closed that day) and ``wins`` (of those, the ones with ``pnl_usd > 0``).

Metrics are *scores*, higher is better, over a set of days:

- ``total_pnl``: Σ pnl_usd, USD.
- ``expectancy``: Σ pnl_usd / Σ trades, USD per trade (needs ``trades``); undefined without trades.
- ``win_rate``: Σ wins / Σ trades (needs ``trades`` and ``wins``); undefined without trades.
- ``sharpe``: mean / std (ddof=1) of the daily pnl_usd, **per day, not annualised** (× √252 gives
  ``metrics.summarise``'s figure; the ranking is the same); undefined with fewer than 2 days or a
  constant series (variance <= 1e-12 × the mean square: constant up to rounding).
- ``max_drawdown``: the score is −(max drawdown in USD), the peak starting at 0 as in
  ``metrics.py``, so the smallest drawdown wins.

Undefined scores are NaN and rank below every defined score. Ties, and a window in which no
variant has a defined score, go to the **lowest variant index**.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Bound on the (combinations × blocks × variants) temporaries of ``block_scores``: ~32 MB of float64.
_CHUNK_ELEMENTS: Final = 4_000_000


class Metric(StrEnum):
    TOTAL_PNL = "total_pnl"
    EXPECTANCY = "expectancy"
    WIN_RATE = "win_rate"
    SHARPE = "sharpe"
    MAX_DRAWDOWN = "max_drawdown"


@dataclass(frozen=True)
class Blocks:
    """Summaries of consecutive row blocks (axis 0: block in time order, axis 1: variant), enough to
    score any union of blocks without going back to the days. Money in USD."""

    n_days: NDArray[np.float64]  # (S,)
    pnl_usd: NDArray[np.float64]  # Σ pnl
    pnl_sq_usd2: NDArray[np.float64]  # Σ pnl²
    trades: NDArray[np.float64] | None
    wins: NDArray[np.float64] | None
    peak_usd: NDArray[np.float64]  # max(0, highest cumulative PnL within the block)
    trough_usd: NDArray[np.float64]  # min(0, lowest cumulative PnL within the block)
    drawdown_usd: NDArray[np.float64]  # max drawdown within the block, peak starting at 0


def as_matrix(values: ArrayLike, name: str, shape: tuple[int, ...] | None = None) -> NDArray[np.float64]:
    """``values`` as a finite 2-D float64 array (of ``shape`` if given), else ValueError."""
    out = np.asarray(values, dtype=np.float64)
    if out.ndim != 2 or (shape is not None and out.shape != shape):
        raise ValueError(f"{name} must be a days × variants matrix{'' if shape is None else f' of shape {shape}'}")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} must be finite")
    return out


def block_summaries(pnl_usd: NDArray[np.float64], bounds: Sequence[tuple[int, int]], *,
                    trades: NDArray[np.float64] | None = None,
                    wins: NDArray[np.float64] | None = None) -> Blocks:
    """``Blocks`` of the rows ``[start, stop)`` of each non-empty (start, stop) in ``bounds``."""
    parts = [pnl_usd[a:b] for a, b in bounds]
    if any(len(p) == 0 for p in parts):
        raise ValueError("every block needs at least one day")
    cum = [np.cumsum(p, axis=0) for p in parts]
    peak = [np.maximum.accumulate(np.maximum(c, 0.0), axis=0) for c in cum]

    def per_block(rows: NDArray[np.float64] | None) -> NDArray[np.float64] | None:
        return None if rows is None else np.stack([rows[a:b].sum(axis=0) for a, b in bounds])

    return Blocks(
        n_days=np.array([len(p) for p in parts], dtype=np.float64),
        pnl_usd=np.stack([p.sum(axis=0) for p in parts]),
        pnl_sq_usd2=np.stack([(p * p).sum(axis=0) for p in parts]),
        trades=per_block(trades),
        wins=per_block(wins),
        peak_usd=np.stack([p[-1] for p in peak]),
        trough_usd=np.stack([np.minimum(c.min(axis=0), 0.0) for c in cum]),
        drawdown_usd=np.stack([(p - c).max(axis=0) for p, c in zip(peak, cum)]),
    )


def _needed(values: NDArray[np.float64] | None, metric: Metric, what: str) -> NDArray[np.float64]:
    if values is None:
        raise ValueError(f"metric {metric.value!r} needs {what}")
    return values


def block_scores(blocks: Blocks, combos: NDArray[np.intp], metric: Metric) -> NDArray[np.float64]:
    """Score of every variant over each union of blocks: ``combos`` is (k, m), each row m block
    indices in ascending (time) order; returns (k, N). Formulas in the module docstring."""

    def total(per_block: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(per_block[combos].sum(axis=1), dtype=np.float64)

    with np.errstate(divide="ignore", invalid="ignore"):
        if metric is Metric.TOTAL_PNL:
            return total(blocks.pnl_usd)
        if metric in (Metric.EXPECTANCY, Metric.WIN_RATE):
            trades = total(_needed(blocks.trades, metric, "trades"))
            top = total(blocks.pnl_usd) if metric is Metric.EXPECTANCY else total(_needed(blocks.wins, metric, "wins"))
            return np.where(trades > 0, top / trades, np.nan)
        if metric is Metric.SHARPE:
            n = blocks.n_days[combos].sum(axis=1)[:, None]
            pnl, sq = total(blocks.pnl_usd), total(blocks.pnl_sq_usd2)
            mean = pnl / n
            var = (sq - pnl * mean) / (n - 1)
            defined = (n >= 2) & (var > 1e-12 * sq / n)
            return np.where(defined, mean / np.sqrt(np.where(defined, var, 1.0)), np.nan)
    # Max drawdown of the blocks joined in time order: within a block, or from the peak before it
    # (``peak - equity``, equity being the PnL so far) down to the block's trough.
    equity = peak = drawdown = np.zeros((len(combos), blocks.pnl_usd.shape[1]))
    for j in range(combos.shape[1]):
        b = combos[:, j]
        drawdown = np.maximum(drawdown, np.maximum(blocks.drawdown_usd[b], peak - equity - blocks.trough_usd[b]))
        peak = np.maximum(peak, equity + blocks.peak_usd[b])
        equity = equity + blocks.pnl_usd[b]
    return -drawdown


def combos_per_chunk(blocks_each: int, n_variants: int) -> int:
    """How many combinations of ``blocks_each`` blocks to score at once (memory bound)."""
    return max(1, _CHUNK_ELEMENTS // max(1, blocks_each * n_variants))


def variant_scores(pnl_usd: ArrayLike, metric: Metric, *, trades: ArrayLike | None = None,
                   wins: ArrayLike | None = None) -> NDArray[np.float64]:
    """Score of each variant (column) of the days × variants ``pnl_usd`` over all its days, (N,)
    float64, NaN where undefined (module docstring)."""
    pnl = as_matrix(pnl_usd, "pnl_usd")
    blocks = block_summaries(pnl, [(0, len(pnl))], trades=_optional(trades, "trades", pnl.shape),
                             wins=_optional(wins, "wins", pnl.shape))
    return block_scores(blocks, np.zeros((1, 1), dtype=np.intp), metric).reshape(-1)


def _optional(values: ArrayLike | None, name: str, shape: tuple[int, ...]) -> NDArray[np.float64] | None:
    return None if values is None else as_matrix(values, name, shape)


def best_variant(scores: NDArray[np.float64]) -> int:
    """Index of the highest score; NaN ranks lowest; ties (and all-NaN) go to the lowest index."""
    return int(np.argmax(np.where(np.isnan(scores), -np.inf, scores)))


@dataclass(frozen=True)
class Fold:
    train: slice  # row indices of the training window
    test: slice  # the block traded with the training window's best; train.stop == test.start


def walk_forward_folds(n_days: int, *, train_days: int, test_days: int, expanding: bool = False) -> list[Fold]:
    """Consecutive test blocks of ``test_days`` days from day index ``train_days`` to the end (the
    last block may be shorter). Each block's training window is the ``train_days`` days just before
    it (rolling) or every day before it (``expanding``). A window always ends where its block
    starts, so a choice never sees the block or any later day."""
    if not 1 <= train_days < n_days or test_days < 1:
        raise ValueError("need 1 <= train_days < n_days and test_days >= 1")
    return [
        Fold(train=slice(0 if expanding else start - train_days, start), test=slice(start, min(start + test_days, n_days)))
        for start in range(train_days, n_days, test_days)
    ]


@dataclass(frozen=True)
class WalkForward:
    folds: tuple[Fold, ...]
    chosen: NDArray[np.intp]  # the variant traded in each fold's test block
    days: NDArray[Any]  # the out-of-sample days: every test block's, in order
    oos_pnl_usd: NDArray[np.float64]  # the chosen variant's PnL on each of those days (cumsum: the walk-forward equity)
    in_sample_best: int  # the best variant by the metric over all days (chosen with hindsight)
    in_sample_best_pnl_usd: NDArray[np.float64]  # its PnL on the same out-of-sample days


def walk_forward(pnl_usd: ArrayLike, days: Sequence[dt.date] | NDArray[Any], *, metric: Metric, train_days: int,
                 test_days: int, expanding: bool = False, trades: ArrayLike | None = None,
                 wins: ArrayLike | None = None) -> WalkForward:
    """Walk-forward selection over the variants (columns) of the days × variants ``pnl_usd``:
    for each fold of ``walk_forward_folds``, the best variant by ``metric`` on the training rows
    only (``best_variant``: lowest index on ties) is traded on the test rows. ``trades``/``wins``
    (same shape) are needed by the expectancy and win-rate metrics. ``days`` (sorted, unique, one
    per row; dates or numpy datetime64) label the rows."""
    pnl = as_matrix(pnl_usd, "pnl_usd")
    day_array = np.asarray(days)
    if day_array.shape != (len(pnl),) or not np.all(day_array[1:] > day_array[:-1]):
        raise ValueError("days must be sorted, unique and one per row of pnl_usd")
    trades_m, wins_m = _optional(trades, "trades", pnl.shape), _optional(wins, "wins", pnl.shape)

    def best(rows: slice) -> int:  # sees the rows of ``rows`` and nothing else
        return best_variant(variant_scores(pnl[rows], metric, trades=None if trades_m is None else trades_m[rows],
                                           wins=None if wins_m is None else wins_m[rows]))

    folds = walk_forward_folds(len(pnl), train_days=train_days, test_days=test_days, expanding=expanding)
    chosen = np.array([best(f.train) for f in folds], dtype=np.intp)
    oos = slice(folds[0].test.start, len(pnl))
    hindsight = best(slice(0, len(pnl)))
    return WalkForward(
        folds=tuple(folds),
        chosen=chosen,
        days=day_array[oos],
        oos_pnl_usd=np.concatenate([pnl[f.test, c] for f, c in zip(folds, chosen)]),
        in_sample_best=hindsight,
        in_sample_best_pnl_usd=pnl[oos, hindsight].copy(),
    )
