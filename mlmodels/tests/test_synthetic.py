"""The synthetic candidates close by the exit rules they are given, checked as the platform checks
a mark (``rules.exit_due``): the seed's take profit / stop by default, any other pair or a time
exit on request."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from mlmodels import synthetic
from strategy.quant import rules
from strategy.quant.types import ExitRules

START, END = dt.date(2024, 3, 1), dt.date(2024, 3, 28)
TEN = dt.time(10)


def _key(row: dict) -> tuple:
    return row["entry_at"], row["strategy"]


@pytest.fixture(scope="module")
def default_rows() -> list[dict]:
    return synthetic.candidates(3, START, END)


def _by_key(rows: list[dict]) -> dict[tuple, dict]:
    return {_key(r): r for r in rows}


@pytest.mark.parametrize("exit_rules", [rules.DEFAULT_EXIT_RULES, ExitRules(0.25, 2.0)], ids=["seed", "tp25-sl200"])
def test_every_exit_meets_its_rules_threshold_and_label(exit_rules: ExitRules, default_rows: list[dict]) -> None:
    rows = default_rows if exit_rules == rules.DEFAULT_EXIT_RULES else synthetic.candidates(3, START, END,
                                                                                           exit_rules=exit_rules)
    assert {r["exit_reason"] for r in rows} >= {"take_profit", "stop_loss"}
    f, m = Decimal(str(exit_rules.take_profit_fraction)), Decimal(str(exit_rules.stop_loss_multiple))
    for r in rows:
        credit, debit = Decimal(str(r["credit_fill"])), Decimal(str(r["pnl_usd"])) / -100 + Decimal(str(r["credit_fill"]))
        if r["exit_reason"] == "take_profit":
            assert debit <= credit * (1 - f)
        elif r["exit_reason"] == "stop_loss":
            assert debit >= credit * (1 + m)
        assert r["label"] == rules.outcome_label(r["exit_reason"], float(debit), entry_credit=float(credit),
                                                 take_profit_fraction=exit_rules.take_profit_fraction)


def test_a_nearer_take_profit_never_exits_later(default_rows: list[dict]) -> None:
    near = _by_key(synthetic.candidates(3, START, END, exit_rules=ExitRules(0.25, 1.0)))
    assert near.keys() == _by_key(default_rows).keys()
    earlier = 0
    for r in default_rows:
        other = near[_key(r)]
        assert other["exit_at"] <= r["exit_at"]
        earlier += other["exit_at"] < r["exit_at"]
    assert earlier > len(default_rows) // 10  # the rule is used, not ignored


def test_a_time_exit_closes_at_its_clock_time_on_the_expiration_day() -> None:
    """A far take profit and stop keep many spreads open into their expiration day; with a 10:00 time
    exit those close at the 10:00 mark, the others exactly as without it."""
    held = ExitRules(0.9, 5.0)
    base = synthetic.candidates(3, START, END, exit_rules=held)
    timed = _by_key(synthetic.candidates(3, START, END, exit_rules=ExitRules(0.9, 5.0, exit_at_time=TEN)))
    closed_at_ten = 0
    for r in base:
        t = timed[_key(r)]
        expiration = r["trading_day"] + dt.timedelta(days=int(r["dte_calendar"]))
        ten = dt.datetime.combine(expiration, TEN, tzinfo=synthetic.mc.ET)
        if r["exit_at"] < ten or (r["exit_at"] == ten and r["exit_reason"] != "settlement"):
            # closed before the time exit was due (or by a threshold at its stamp, which wins): the same exit
            assert (t["exit_reason"], t["exit_at"], t["pnl_usd"]) == (r["exit_reason"], r["exit_at"], r["pnl_usd"])
        else:
            assert t["exit_reason"] == "time_exit" and t["exit_at"] == ten
            closed_at_ten += 1
    assert closed_at_ten > len(base) // 10
    assert "settlement" not in {t["exit_reason"] for t in timed.values()}
