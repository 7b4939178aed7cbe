"""Per-config exit rules in the pure core (issue 16 §1): take profit and stop at any fraction and
multiple, the two time exits, their precedence, and the labels — on hand-made quote paths."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from strategy.quant.rules import close_debit, exit_due, mark_step, outcome_label, time_exit_for
from strategy.quant.timemodel import settlement_instant_utc
from strategy.quant.types import ExitRules, TimeExit

NY = ZoneInfo("America/New_York")
FRIDAY = dt.date(2026, 11, 20)        # a regular SPXW expiration: settles 16:00 ET
EARLY_FRIDAY = dt.date(2026, 11, 27)  # the day after Thanksgiving: SPXW settles at 13:00 ET
MONTHLY = dt.date(2026, 12, 18)       # third Friday: the AM SPX monthly settles at the 09:30 open


def et(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=NY).astimezone(dt.UTC)


def walk(path: list[tuple[dt.datetime, tuple[float, float, float, float]]], *, credit: float, rules: ExitRules,
         expiration: dt.date = FRIDAY, settles_at: dt.datetime | None = None) -> tuple[dt.datetime, str, float] | None:
    """Mark each (stamp, quotes) in order with the live mark step; the first exit, or None."""
    settles_at = settles_at or settlement_instant_utc(expiration, "SPXW")
    time_exit = time_exit_for(rules, expiration=expiration, settles_at=settles_at)
    for at, quotes in path:
        step = mark_step(*quotes, entry_credit=credit, width_points=25.0, exit_rules=rules, at=at, time_exit=time_exit)
        if step is not None and step[2] is not None:
            return at, step[2].reason, step[1]
    return None


def q(debit_mid: float) -> tuple[float, float, float, float]:
    """Leg quotes whose closing debit (fill model) is ``debit_mid`` + 0.30 × 0.10, ceiled to the tick:
    short bid/ask around debit_mid + 0.50, long 0.45/0.55 (combo spread 0.10 + 0.10 = 0.20 → +0.06)."""
    return (round(debit_mid + 0.45, 2), round(debit_mid + 0.55, 2), 0.45, 0.55)


# ---- take profit and stop at the config's own levels ---------------------------------------------

def test_take_profit_a_quarter_and_stop_at_twice_the_credit_lost() -> None:
    rules = ExitRules(take_profit_fraction=0.25, stop_loss_multiple=2.0)
    # Credit 2.00: take profit at a debit <= (1 - 0.25) x 2.00 = 1.50; stop at >= (1 + 2) x 2.00 = 6.00.
    assert close_debit(*q(1.40), width_points=25.0)[1] == 1.50  # 1.40 + 0.06 → 1.50 on the tick
    assert close_debit(*q(1.45), width_points=25.0)[1] == 1.55
    day = dt.date(2026, 11, 18)
    path = [(et(day, 10, 5), q(1.80)), (et(day, 10, 10), q(1.45)), (et(day, 10, 15), q(1.40)), (et(day, 10, 20), q(0.5))]
    assert walk(path, credit=2.0, rules=rules) == (et(day, 10, 15), "take_profit", 1.50)
    # With the default rules (0.5 / 1.0) the same path holds until the debit reaches 1.00.
    assert walk(path, credit=2.0, rules=ExitRules()) == (et(day, 10, 20), "take_profit", 0.60)
    up = [(et(day, 11, 0), q(4.10)), (et(day, 11, 5), q(5.85)), (et(day, 11, 10), q(5.90)), (et(day, 11, 15), q(9.0))]
    # 5.85 + 0.06 → 5.95 holds (the default stop, 4.00, would have closed at 11:00); 5.90 + 0.06 → 6.00 stops.
    assert walk(up, credit=2.0, rules=rules) == (et(day, 11, 10), "stop_loss", 6.00)
    assert walk(up, credit=2.0, rules=ExitRules()) == (et(day, 11, 0), "stop_loss", 4.20)


def test_thresholds_are_inclusive_and_exact_in_decimal() -> None:
    rules = ExitRules(take_profit_fraction=0.25, stop_loss_multiple=2.0)
    assert exit_due(entry_credit=1.15, debit_to_close=0.90, exit_rules=rules) is None  # 0.75 x 1.15 = 0.8625
    tp = exit_due(entry_credit=1.15, debit_to_close=0.85, exit_rules=rules)
    assert tp is not None and tp.threshold_debit == 0.8625 and tp.reason == "take_profit"
    assert exit_due(entry_credit=1.15, debit_to_close=0.85, exit_rules=ExitRules(take_profit_fraction=0.3)) is None
    tp = exit_due(entry_credit=1.15, debit_to_close=0.80, exit_rules=ExitRules(take_profit_fraction=0.3))
    assert tp is not None and tp.threshold_debit == 0.805  # 0.7 x 1.15, exactly
    sl = exit_due(entry_credit=1.15, debit_to_close=3.45, exit_rules=rules)
    assert sl is not None and sl.reason == "stop_loss" and sl.threshold_debit == 3.45  # 3 x 1.15 = 3.45 exactly
    assert exit_due(entry_credit=1.15, debit_to_close=3.40, exit_rules=rules) is None
    # A take-profit fraction of 1 never takes profit (the debit is at least one tick); a stop at 0.5
    # closes once half the credit is lost.
    assert exit_due(entry_credit=1.0, debit_to_close=0.05, exit_rules=ExitRules(take_profit_fraction=1.0)) is None
    half = exit_due(entry_credit=1.0, debit_to_close=1.5, exit_rules=ExitRules(stop_loss_multiple=0.5))
    assert half is not None and half.reason == "stop_loss"


# ---- time exits ----------------------------------------------------------------------------------

def test_exit_at_a_clock_time_on_the_expiration_day() -> None:
    rules = ExitRules(exit_at_time=dt.time(15, 30))
    settles = settlement_instant_utc(FRIDAY, "SPXW")
    te = time_exit_for(rules, expiration=FRIDAY, settles_at=settles)
    assert te == TimeExit(et(FRIDAY, 15, 30), settles, "time exit 15:30 ET on the expiration day")
    thursday = FRIDAY - dt.timedelta(days=1)
    path = [(et(thursday, 15, 30), q(1.0)), (et(thursday, 15, 45), q(1.0)),  # the day before: not yet
            (et(FRIDAY, 15, 25), q(1.0)), (et(FRIDAY, 15, 30), q(1.1)), (et(FRIDAY, 15, 35), q(0.9))]
    assert walk(path, credit=1.50, rules=rules) == (et(FRIDAY, 15, 30), "time_exit", 1.20)
    # A stamp that cannot be marked at 15:30 moves the exit to the next one that can.
    unusable = (1.0, float("nan"), 0.45, 0.55)
    path[3] = (et(FRIDAY, 15, 30), unusable)
    assert walk(path, credit=1.50, rules=rules) == (et(FRIDAY, 15, 35), "time_exit", 1.00)


def test_exit_minutes_before_settlement_follow_the_calendar() -> None:
    rules = ExitRules(exit_minutes_before_settlement=47)
    regular = time_exit_for(rules, expiration=FRIDAY, settles_at=settlement_instant_utc(FRIDAY, "SPXW"))
    assert regular is not None and regular.at == et(FRIDAY, 15, 13)
    early = settlement_instant_utc(EARLY_FRIDAY, "SPXW", early_close=True)
    te = time_exit_for(rules, expiration=EARLY_FRIDAY, settles_at=early)
    assert te is not None and te.at == et(EARLY_FRIDAY, 12, 13) and te.rule.endswith("before the 13:00 ET settlement")
    # Marked every 5 minutes: the first mark at or after 12:13 is 12:15.
    path = [(et(EARLY_FRIDAY, 12, 10), q(1.0)), (et(EARLY_FRIDAY, 12, 15), q(1.0)), (et(EARLY_FRIDAY, 12, 20), q(1.0))]
    assert walk(path, credit=1.5, rules=rules, expiration=EARLY_FRIDAY, settles_at=early) == (
        et(EARLY_FRIDAY, 12, 15), "time_exit", 1.10)
    # AM monthly: 47 minutes before the 09:30 settlement is before the session, so no mark reaches it.
    am = time_exit_for(rules, expiration=MONTHLY, settles_at=settlement_instant_utc(MONTHLY, "SPX"))
    assert am is not None and not am.due(et(MONTHLY, 9, 30)) and not am.due(et(MONTHLY - dt.timedelta(days=1), 15, 55))


def test_a_time_exit_never_fires_at_or_after_settlement() -> None:
    # 15:30 on an early-close expiration day is after its 13:00 settlement: no time exit, it settles.
    early = settlement_instant_utc(EARLY_FRIDAY, "SPXW", early_close=True)
    assert time_exit_for(ExitRules(exit_at_time=dt.time(15, 30)), expiration=EARLY_FRIDAY, settles_at=early) is None
    # The mark at the settlement instant itself (16:00) is not a time exit (the series has expired).
    rules = ExitRules(exit_at_time=dt.time(15, 50))
    path = [(et(FRIDAY, 16, 0), q(1.0))]
    assert walk(path, credit=1.5, rules=rules) is None
    assert time_exit_for(ExitRules(), expiration=FRIDAY, settles_at=et(FRIDAY, 16, 0)) is None


def test_take_profit_or_stop_wins_over_the_time_exit_at_the_same_stamp() -> None:
    rules = ExitRules(take_profit_fraction=0.5, stop_loss_multiple=1.0, exit_at_time=dt.time(15, 0))
    assert walk([(et(FRIDAY, 15, 0), q(0.40))], credit=1.0, rules=rules) == (et(FRIDAY, 15, 0), "take_profit", 0.50)
    assert walk([(et(FRIDAY, 15, 0), q(2.0))], credit=1.0, rules=rules) == (et(FRIDAY, 15, 0), "stop_loss", 2.10)
    assert walk([(et(FRIDAY, 15, 0), q(0.9))], credit=1.0, rules=rules) == (et(FRIDAY, 15, 0), "time_exit", 1.00)
    with pytest.raises(ValueError, match="stamp"):
        exit_due(entry_credit=1.0, debit_to_close=0.9, exit_rules=rules,
                 time_exit=time_exit_for(rules, expiration=FRIDAY, settles_at=et(FRIDAY, 16, 0)))


def test_time_exit_labels_follow_the_take_profit_debit() -> None:
    # Like a settlement: 1 when it kept at least the take profit's share of the credit.
    assert outcome_label("time_exit", 0.50, entry_credit=1.0) == 1
    assert outcome_label("time_exit", 0.55, entry_credit=1.0) == 0      # a small gain, short of the take profit
    assert outcome_label("time_exit", 1.40, entry_credit=1.0) == 0      # a loss short of the stop
    assert outcome_label("time_exit", 0.75, entry_credit=1.0, take_profit_fraction=0.25) == 1
    assert outcome_label("settlement", 0.75, entry_credit=1.0, take_profit_fraction=0.25) == 1


def test_exit_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="at most one"):
        ExitRules(exit_at_time=dt.time(15, 0), exit_minutes_before_settlement=30)
    for bad in ({"exit_at_time": dt.time(15, 0, 30)}, {"exit_minutes_before_settlement": 0},
                {"exit_minutes_before_settlement": 391}, {"exit_minutes_before_settlement": 1.5},
                {"take_profit_fraction": 0.0}, {"take_profit_fraction": 1.5}, {"stop_loss_multiple": 0.0}):
        with pytest.raises(ValueError):
            ExitRules(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        time_exit_for(ExitRules(exit_at_time=dt.time(15, 0)), expiration=FRIDAY, settles_at=dt.datetime(2026, 11, 20, 16))
