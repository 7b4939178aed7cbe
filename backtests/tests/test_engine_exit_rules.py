"""The backtest's exit walk with per-strategy exit rules (issue 16 §1): the engine reads each
strategy's frozen rules (``StrategySpec.exits``) and takes the pure core's mark step at each
stamp — take profit and stop at the config's levels, and the time exits on the expiration day."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from backtests.engine import replay as replay_mod
from backtests.engine.daydata import LegSeries, ns
from backtests.engine.replay import DayReplayer, EngineParams, check_stamps
from backtests.engine.types import Candidate
from backtests.tests.test_engine import _spread, _strategy
from strategy.quant import rules
from strategy.quant.decision import Evaluation
from strategy.quant.timemodel import settlement_instant_utc
from strategy.quant.types import ExitRules

NY = ZoneInfo("America/New_York")
EXPIRY = dt.date(2026, 3, 19)          # a Thursday SPXW expiration, 16:00 ET
EARLY = dt.date(2026, 11, 27)          # settles 13:00 ET (early close)


def _open(exits: ExitRules, *, credit: float = 2.0, expiration: dt.date = EXPIRY, early: bool = False) -> replay_mod._Open:
    spec = dataclasses.replace(_strategy("a", "a").spec, exits=exits)
    at = dt.datetime.combine(expiration - dt.timedelta(days=3), dt.time(10), tzinfo=NY).astimezone(dt.UTC)
    evaluation = Evaluation(spec, at, _spread(credit), "", "")
    return replay_mod._Open(Candidate("a", at.date(), dt.time(10), evaluation, expiration=expiration, root="SPXW",
                                      settles_at=settlement_instant_utc(expiration, "SPXW", early_close=early)))


def _walk(p: replay_mod._Open, day: dt.date, short_bid: list[float], *, every: int = 5) -> None:
    """Walk ``p`` over ``day``'s stamps; the short leg's bid follows ``short_bid`` (one value per
    stamp, ask = bid + 0.10), the long leg stays 0.45/0.55: debit = short bid − 0.45 + 0.06, ceiled."""
    stamps = check_stamps(day, every)
    assert len(short_bid) == len(stamps)
    bid = np.array(short_bid)
    series = {"S": LegSeries(stamps, bid, bid + 0.10), "L": LegSeries(stamps[:1], np.array([0.45]), np.array([0.55]))}
    settles_ns = ns(p.candidate.settles_at)  # type: ignore[arg-type]
    DayReplayer([], EngineParams(exit_check_minutes=every), load_day=lambda d: None)._walk(
        p, stamps[stamps <= settles_ns], series)


def _et(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=NY).astimezone(dt.UTC)


def _index(day: dt.date, hh: int, mm: int, every: int = 5) -> int:
    return int(np.flatnonzero(check_stamps(day, every) == ns(_et(day, hh, mm)))[0])


def test_take_profit_a_quarter_and_stop_at_twice_the_credit_lost_in_the_walk() -> None:
    day = dt.date(2026, 3, 17)
    n = len(check_stamps(day, 5))
    path = [2.30] * n  # debit 2.30 - 0.45 + 0.06 = 1.91 → 1.95: hold
    path[_index(day, 11, 0)] = 1.84  # debit 1.45 → 1.45 <= (1 - 0.25) x 2.00 = 1.50: take profit at 25 %
    assert rules.close_debit(1.84, 1.94, 0.45, 0.55, width_points=25.0)[1] == 1.45
    p = _open(ExitRules(take_profit_fraction=0.25, stop_loss_multiple=2.0))
    _walk(p, day, path)
    assert p.exit is not None and (p.exit.at, p.exit.reason, p.exit.debit) == (_et(day, 11, 0), "take_profit", 1.45)
    default = _open(ExitRules())  # 50 % needs a debit of 1.00: the same path holds
    _walk(default, day, path)
    assert default.exit is None and default.marks[-1].signal == ""
    up = [2.30] * n
    up[_index(day, 10, 30)] = 4.60   # debit 4.21 → 4.25 >= 2 x 2.00: the default stop would close here
    up[_index(day, 13, 0)] = 6.30    # debit 5.91 → 5.95 < 6.00: holds
    up[_index(day, 14, 0)] = 6.39    # debit 6.00 = (1 + 2) x 2.00: the stop at twice the credit lost (inclusive)
    assert rules.close_debit(6.39, 6.49, 0.45, 0.55, width_points=25.0)[1] == 6.00
    p = _open(ExitRules(take_profit_fraction=0.25, stop_loss_multiple=2.0))
    _walk(p, day, up)
    assert p.exit is not None and (p.exit.at, p.exit.reason, p.exit.debit) == (_et(day, 14, 0), "stop_loss", 6.00)
    default = _open(ExitRules())
    _walk(default, day, up)
    assert default.exit is not None and (default.exit.at, default.exit.reason) == (_et(day, 10, 30), "stop_loss")


def test_a_clock_time_exit_closes_on_the_expiration_day_only() -> None:
    exits = ExitRules(take_profit_fraction=0.5, stop_loss_multiple=1.0, exit_at_time=dt.time(14, 32))
    before = EXPIRY - dt.timedelta(days=1)
    p = _open(exits)
    _walk(p, before, [2.30] * len(check_stamps(before, 5)))
    assert p.exit is None  # 14:32 the day before the expiration is no exit
    _walk(p, EXPIRY, [2.30] * len(check_stamps(EXPIRY, 5)))
    assert p.exit is not None and (p.exit.at, p.exit.reason, p.exit.debit) == (_et(EXPIRY, 14, 35), "time_exit", 1.95)
    assert p.marks[-1].signal == "time_exit" and p.marks[-1].ts == _et(EXPIRY, 14, 35)
    # Checked every minute, the same rule closes at 14:32 itself.
    p = _open(exits)
    _walk(p, EXPIRY, [2.30] * len(check_stamps(EXPIRY, 1)), every=1)
    assert p.exit is not None and p.exit.at == _et(EXPIRY, 14, 32)


def test_minutes_before_an_early_close_settlement_and_a_stamp_without_quotes() -> None:
    exits = ExitRules(exit_minutes_before_settlement=47)  # 13:00 − 47 min = 12:13 ET
    stamps = check_stamps(EARLY, 5)
    path = [2.30] * len(stamps)
    path[_index(EARLY, 12, 15)] = float("nan")  # no bid at 12:15: no mark, so the next stamp closes it
    p = _open(exits, expiration=EARLY, early=True)
    _walk(p, EARLY, path)
    assert p.exit is not None and (p.exit.at, p.exit.reason) == (_et(EARLY, 12, 20), "time_exit")
    # A take profit before the time exit's instant wins, as at any stamp.
    path = [2.30] * len(stamps)
    path[_index(EARLY, 11, 0)] = 1.30
    p = _open(exits, expiration=EARLY, early=True)
    _walk(p, EARLY, path)
    assert p.exit is not None and (p.exit.at, p.exit.reason) == (_et(EARLY, 11, 0), "take_profit")


def test_a_clock_time_past_an_early_close_settlement_holds_to_settlement() -> None:
    p = _open(ExitRules(exit_at_time=dt.time(15, 30)), expiration=EARLY, early=True)
    _walk(p, EARLY, [2.30] * len(check_stamps(EARLY, 5)))
    assert p.exit is None  # the replay then settles it at 13:00 (``_settle``)
    assert rules.time_exit_for(p.candidate.evaluation.spec.exits, expiration=EARLY,
                               settles_at=p.candidate.settles_at) is None  # type: ignore[arg-type]
