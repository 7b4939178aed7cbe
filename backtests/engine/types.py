"""The engine's values, typed end to end: strategies, candidates, their exits and marks.

Frozen dataclasses with real dates and datetimes (aware UTC). They cross a process boundary once,
as a chunk's result (``engine.codec``); nothing in between is a dict of strings. Pure: no Django.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from strategy.quant.decision import Evaluation, StrategySpec


@dataclass(frozen=True)
class Strategy:
    """One strategy of a run: a strategy config at some entry windows, in a risk book.

    ``key`` is unique in the run (``spec.key``). Strategies whose ``spec.book`` is the same share
    one risk budget and compete at a window like live configs do. ``params`` are the config's
    frozen parameters (stored on its decisions).
    """

    spec: StrategySpec
    config_id: int
    name: str
    params: dict[str, Any] = field(hash=False, compare=False)
    windows: tuple[dt.time, ...] = ()

    @property
    def key(self) -> str:
        return self.spec.key


@dataclass(frozen=True)
class EngineParams:
    """Run-wide settings of the replay (each strategy's exit rules travel in ``Strategy.spec.exits``)."""

    fill_fraction: float = 0.30
    exit_check_minutes: int = 1
    dte_tolerance_days: int = 1
    fee_per_contract_usd: float = 0.0
    context_dte_targets: tuple[int, ...] = (3, 5, 7)  # the live capture's targets: its market context's chains


@dataclass(frozen=True)
class Mark:
    """A position mark as live stores it (raw floats; the writer rounds them as live does)."""

    ts: dt.datetime
    debit_mid: float
    debit_fill: float
    signal: str = ""


@dataclass(frozen=True)
class Exit:
    """How a candidate ends: take profit / stop / time exit at a stamp's closing debit, or cash settlement."""

    at: dt.datetime
    reason: str
    debit: float
    message: str
    settlement_price: float | None = None
    settlement_source: str = ""


@dataclass(frozen=True, eq=False)
class Candidate:
    """One strategy at one entry window: its evaluation, and — when it passed selection — its fate.

    ``expiration``/``root`` are the series the strategy read (None when none was chosen);
    ``settles_at`` its settlement instant; ``exit`` None while (or if) it never exits within the
    data; ``marks`` one summary mark per day held plus the exit's.
    """

    strategy: str
    day: dt.date
    window: dt.time
    evaluation: Evaluation
    expiration: dt.date | None = None
    root: str | None = None
    settles_at: dt.datetime | None = None
    exit: Exit | None = None
    marks: tuple[Mark, ...] = ()

    @property
    def decided_at(self) -> dt.datetime:
        return self.evaluation.at

    @property
    def passed(self) -> bool:
        return self.evaluation.wants_to_trade
