"""Walk-forward validation by time, with purging and an embargo (never a shuffled split).

Rows are candidates sorted by entry time. The trading days are cut into ``n_blocks + 1`` consecutive
pieces: the first is the initial training window, each later one an out-of-sample test block. Fold
k trains on every row that *entered before* its test block, minus

* **purged** rows: those whose label interval [entry, exit] reaches into the test block (exit at
  or after the block's first instant) — their outcome was not known when the block began;
* the **embargo**: also those whose exit falls within ``embargo`` before the block starts, with
  ``embargo`` at least the longest holding period seen, so serially correlated labels next to the
  boundary do not leak either.

The window expands (``rolling_days=None``) or rolls (only the last ``rolling_days`` trading days
before the block). Pure numpy; no Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: row indices to train on and to test, and the test block's bounds."""

    index: int
    train: NDArray[np.int64]
    test: NDArray[np.int64]
    test_start: dt.date
    test_end: dt.date  # inclusive trading day
    purged: int  # training rows dropped because their label reached the test block (or the embargo)


def walk_forward(
    entry_ns: NDArray[np.int64], exit_ns: NDArray[np.int64], days: Sequence[dt.date], *, n_blocks: int,
    embargo_ns: int, rolling_days: int | None = None, min_train: int = 50,
) -> list[Fold]:
    """Folds over rows given by entry/exit instants (ns, rows sorted by entry) and their trading days.

    ``embargo_ns`` must be ≥ the longest holding period (``ValueError`` otherwise: a shorter one
    would leak). Folds with fewer than ``min_train`` training rows are skipped.
    """
    entry_ns, exit_ns = np.asarray(entry_ns, dtype=np.int64), np.asarray(exit_ns, dtype=np.int64)
    if entry_ns.size != exit_ns.size or entry_ns.size != len(days):
        raise ValueError("entry, exit and days must have one value per row")
    if entry_ns.size and np.any(np.diff(entry_ns) < 0):
        raise ValueError("rows must be sorted by entry time")
    if n_blocks < 1:
        raise ValueError("n_blocks must be at least 1")
    longest = int((exit_ns - entry_ns).max()) if entry_ns.size else 0
    if embargo_ns < longest:
        raise ValueError(f"the embargo ({embargo_ns / 6e10:.0f} min) is shorter than the longest holding period "
                         f"({longest / 6e10:.0f} min)")
    unique_days = sorted(set(days))
    if len(unique_days) < n_blocks + 1:
        raise ValueError(f"{len(unique_days)} trading days cannot make {n_blocks} test blocks after a training window")
    day_arr = np.array([d.toordinal() for d in days])
    pieces = np.array_split(np.array([d.toordinal() for d in unique_days]), n_blocks + 1)
    folds = []
    for k, block in enumerate(pieces[1:]):
        first, last = int(block[0]), int(block[-1])
        test = np.flatnonzero((day_arr >= first) & (day_arr <= last))
        if test.size == 0:
            continue
        block_start = int(entry_ns[test].min())
        before = day_arr < first
        if rolling_days is not None:
            earliest = unique_days[max(0, unique_days.index(dt.date.fromordinal(first)) - rolling_days)].toordinal()
            before &= day_arr >= earliest
        clean = before & (exit_ns < block_start - embargo_ns)
        train = np.flatnonzero(clean)
        if train.size < min_train:
            continue
        folds.append(Fold(index=k, train=train, test=test, test_start=dt.date.fromordinal(first),
                          test_end=dt.date.fromordinal(last), purged=int(before.sum() - clean.sum())))
    return folds
