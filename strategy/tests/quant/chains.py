"""Synthetic option chains for the quant tests (Black-76 prices with a known forward and discount)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from strategy.quant import black76
from strategy.quant.vix import TermQuotes

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Chain:
    """One expiration: strikes with exact Black-76 call/put prices and a symmetric quote around them."""

    strikes: NDArray[np.float64]
    call: NDArray[np.float64]
    put: NDArray[np.float64]
    call_bid: NDArray[np.float64]
    call_ask: NDArray[np.float64]
    put_bid: NDArray[np.float64]
    put_ask: NDArray[np.float64]
    forward: float
    discount: float
    minutes: float
    rate: float

    def term(self) -> TermQuotes:
        return TermQuotes(
            self.strikes.copy(),
            self.call_bid.copy(),
            self.call_ask.copy(),
            self.put_bid.copy(),
            self.put_ask.copy(),
            self.minutes,
            self.rate,
        )


def flat_vol_chain(
    *,
    forward: float = 5000.0,
    sigma: float = 0.20,
    days: float = 30.0,
    rate: float = 0.04,
    step: float = 5.0,
    lo: float = 2000.0,
    hi: float = 8000.0,
    half_spread_frac: float = 0.02,
    min_bid: float = 0.05,
) -> Chain:
    """A chain whose every strike has volatility ``sigma``; quotes are mid ± a proportional half-spread.

    A bid that would fall below ``min_bid`` is quoted as 0, as on an exchange, so the far wings
    end in zero bids the way real SPX chains do.
    """
    k = np.arange(lo, hi + step / 2, step, dtype=np.float64)
    minutes = days * 1440.0
    t = minutes / 525_600.0
    d = math.exp(-rate * t)
    call = np.asarray(black76.price(True, forward, k, t, d, sigma))
    put = np.asarray(black76.price(False, forward, k, t, d, sigma))

    def quote(mid: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        half = np.maximum(half_spread_frac * mid, 0.025)
        bid = mid - half
        ask = mid + half
        zero = bid < min_bid
        return np.where(zero, 0.0, bid), np.where(zero, np.maximum(ask, min_bid), ask)

    cb, ca = quote(call)
    pb, pa = quote(put)
    return Chain(k, call, put, cb, ca, pb, pa, forward, d, minutes, rate)


def white_paper_term(term: str, minutes: float, rate: float) -> TermQuotes:
    """The SPX quotes of Cboe's worked VIX example (white paper appendix), near or next term."""
    with open(DATA_DIR / "cboe_vix_white_paper_example.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["term"] == term]

    def col(name: str) -> NDArray[np.float64]:
        return np.array([float(r[name]) for r in rows])

    return TermQuotes(col("strike"), col("call_bid"), col("call_ask"), col("put_bid"), col("put_ask"), minutes, rate)
