"""Risk limits, ranking of competing configs, take-profit/stop-loss exits, settlement and PnL."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategy.quant.osi import format_symbol
from strategy.quant.rules import exit_due, pnl_usd, rank_candidates, risk_check, settlement_exit, settlement_value
from strategy.quant.types import (
    EXIT_REASONS,
    RISK_REASONS,
    ExitRules,
    ExitSignal,
    Leg,
    LegSide,
    RiskLimits,
    RiskVerdict,
    SpreadCandidate,
)

# ---- risk_check ---------------------------------------------------------------------------------

DEFAULT = RiskLimits()
LOOSE = RiskLimits(max_open_trades=2, max_new_trades_per_day=3, no_new_after_stop=False)
CLOSED = RiskLimits(max_open_trades=0, max_new_trades_per_day=0)


@pytest.mark.parametrize(
    ("open_trades", "entries_today", "stops_today", "limits", "reason"),
    [
        # design defaults: 1 open, 1 new a day, none after a stop
        (0, 0, 0, DEFAULT, "ok"),
        (1, 0, 0, DEFAULT, "max_open_trades"),
        (0, 1, 0, DEFAULT, "max_new_trades_per_day"),
        (0, 0, 1, DEFAULT, "stopped_out_today"),
        (1, 1, 0, DEFAULT, "max_open_trades"),  # first limit in the documented order wins
        (1, 1, 1, DEFAULT, "max_open_trades"),
        (0, 1, 1, DEFAULT, "max_new_trades_per_day"),
        (2, 0, 0, DEFAULT, "max_open_trades"),  # above the limit, not just at it
        # configurable
        (1, 2, 1, LOOSE, "ok"),  # a stop does not block when no_new_after_stop is off
        (2, 0, 0, LOOSE, "max_open_trades"),
        (1, 3, 0, LOOSE, "max_new_trades_per_day"),
        (0, 0, 0, CLOSED, "max_open_trades"),  # a limit of 0 blocks everything
        (0, 0, 0, RiskLimits(max_new_trades_per_day=0), "max_new_trades_per_day"),
        (0, 0, 3, RiskLimits(max_new_trades_per_day=5), "stopped_out_today"),
    ],
)
def test_risk_table(open_trades: int, entries_today: int, stops_today: int, limits: RiskLimits, reason: str) -> None:
    verdict = risk_check(open_trades=open_trades, entries_today=entries_today, stops_today=stops_today, limits=limits)
    assert verdict.reason == reason
    assert verdict.allowed is (reason == "ok")
    assert verdict.message


@given(
    open_trades=st.integers(0, 4),
    entries_today=st.integers(0, 4),
    stops_today=st.integers(0, 3),
    max_open=st.integers(0, 3),
    max_new=st.integers(0, 3),
    no_new_after_stop=st.booleans(),
)
def test_risk_allows_exactly_when_every_limit_allows(
    open_trades: int, entries_today: int, stops_today: int, max_open: int, max_new: int, no_new_after_stop: bool
) -> None:
    limits = RiskLimits(max_open, max_new, no_new_after_stop)
    verdict = risk_check(open_trades=open_trades, entries_today=entries_today, stops_today=stops_today, limits=limits)
    expected = open_trades < max_open and entries_today < max_new and not (no_new_after_stop and stops_today > 0)
    assert verdict.allowed is expected
    assert verdict.reason in RISK_REASONS


def test_risk_inputs_are_validated() -> None:
    with pytest.raises(ValueError):
        risk_check(open_trades=-1, entries_today=0, stops_today=0, limits=DEFAULT)
    with pytest.raises(ValueError):
        risk_check(open_trades=0, entries_today=0.5, stops_today=0, limits=DEFAULT)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RiskLimits(max_open_trades=-1)
    with pytest.raises(ValueError):
        RiskVerdict(True, "max_open_trades", "allowed and blocked at once")
    with pytest.raises(ValueError):
        RiskVerdict(False, "made_up", "")


# ---- rank_candidates ----------------------------------------------------------------------------


def spread(credit_fill: float, width: float, short: float = 4900.0) -> SpreadCandidate:
    """A put credit spread with the given modelled credit and width (other numbers consistent)."""

    def leg(strike: float, side: LegSide) -> Leg:
        symbol = format_symbol("SPXW", dt.date(2026, 6, 18), False, strike)
        return Leg(symbol, strike, False, 1.0, 1.1, 1.05, 0.2, -0.1, side)

    return SpreadCandidate(
        side="put_credit",
        short_leg=leg(short, "sell"),
        long_leg=leg(short - width, "buy"),
        quantity=1,
        requested_width_points=width,
        width_points=width,
        credit_mid=credit_fill + 0.05,
        combo_spread=0.10,
        credit_fill=credit_fill,
        max_profit_per_contract_usd=credit_fill * 100,
        max_loss_per_contract_usd=(width - credit_fill) * 100,
        breakeven=short - credit_fill,
    )


def keys(ranked: list[tuple[int, SpreadCandidate, str]]) -> list[str]:
    return [key for _, _, key in ranked]


def test_priority_comes_first() -> None:
    items = [(2, spread(3.00, 25), "rich"), (1, spread(0.50, 25), "poor")]
    assert keys(rank_candidates(items)) == ["poor", "rich"]


def test_then_credit_per_point_of_width() -> None:
    items = [
        (1, spread(1.00, 25), "5dte-10d"),  # 0.04 per point
        (1, spread(0.60, 10), "3dte-20d"),  # 0.06 per point
        (1, spread(1.20, 25), "7dte-10d"),  # 0.048 per point
    ]
    assert keys(rank_candidates(items)) == ["3dte-20d", "7dte-10d", "5dte-10d"]


def test_then_key_breaks_an_exact_tie() -> None:
    # 0.15 / 5 and 0.30 / 10 are both 0.03 exactly (compared as fractions, not floats).
    items = [(1, spread(0.30, 10), "b"), (1, spread(0.15, 5), "a"), (1, spread(0.45, 15), "c")]
    for perm in itertools.permutations(items):
        assert keys(rank_candidates(list(perm))) == ["a", "b", "c"]


def test_ranking_is_independent_of_input_order() -> None:
    items = [
        (2, spread(1.00, 25), "x"),
        (1, spread(0.80, 25), "y"),
        (1, spread(0.80, 20), "z"),
        (3, spread(2.00, 25), "w"),
    ]
    orders = {tuple(keys(rank_candidates(list(p)))) for p in itertools.permutations(items)}
    assert orders == {("z", "y", "x", "w")}


def test_ranking_rejects_repeated_keys_and_accepts_nothing() -> None:
    with pytest.raises(ValueError, match="distinct"):
        rank_candidates([(1, spread(1.0, 25), "a"), (2, spread(1.0, 25), "a")])
    assert rank_candidates([]) == []


# ---- exit_due -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credit", "debit", "reason"),
    [
        (1.20, 0.60, "take_profit"),  # exactly 0.5·C
        (1.20, 0.65, None),
        (1.20, 0.55, "take_profit"),
        (1.30, 0.65, "take_profit"),  # 0.5 × 1.30 = 0.65 exactly
        (1.30, 0.70, None),
        (1.20, 2.40, "stop_loss"),  # exactly 2·C: −100 % of max profit
        (1.20, 2.35, None),
        (1.20, 2.45, "stop_loss"),
        (0.15, 0.30, "stop_loss"),  # the smallest credits: thresholds 0.075 and 0.30
        (0.15, 0.10, None),  # 0.5 × 0.15 = 0.075: a 0.10 debit has not reached it
        (0.15, 0.05, "take_profit"),
        (1.20, 1.20, None),  # flat
        (1.20, 0.0, "take_profit"),
    ],
)
def test_exit_thresholds(credit: float, debit: float, reason: str | None) -> None:
    signal = exit_due(entry_credit=credit, debit_to_close=debit)
    if reason is None:
        assert signal is None
        return
    assert signal is not None and signal.reason == reason
    assert signal.debit_to_close == debit and signal.entry_credit == credit
    multiple = Decimal("0.5") if reason == "take_profit" else Decimal(2)
    assert signal.threshold_debit == float(Decimal(str(credit)) * multiple)


def test_stop_at_twice_the_credit_is_minus_100_percent_of_max_profit() -> None:
    signal = exit_due(entry_credit=1.20, debit_to_close=2.40)
    assert signal is not None and signal.reason == "stop_loss"
    assert signal.pnl_per_share == -1.20  # −C: the whole max profit, lost once more
    assert signal.pnl_per_contract_usd == -120.0
    take = exit_due(entry_credit=1.20, debit_to_close=0.60)
    assert take is not None and take.pnl_per_contract_usd == 60.0  # +50 % of max profit


def test_custom_thresholds_are_exact_in_decimal() -> None:
    # take_profit_fraction 0.6 → close at ≤ 0.4·C; 0.4 × 1.15 = 0.46 exactly (float gives 0.45999999999999996).
    assert 0.4 * 1.15 != 0.46
    signal = exit_due(entry_credit=1.15, debit_to_close=0.46, exit_rules=ExitRules(take_profit_fraction=0.6))
    assert signal is not None and signal.reason == "take_profit" and signal.threshold_debit == 0.46
    assert exit_due(entry_credit=1.15, debit_to_close=0.47, exit_rules=ExitRules(take_profit_fraction=0.6)) is None
    # stop_loss_multiple 2 (the loss reaches 2·C) → stop at a debit ≥ 3·C.
    assert exit_due(entry_credit=1.10, debit_to_close=3.25, exit_rules=ExitRules(stop_loss_multiple=2.0)) is None
    stop = exit_due(entry_credit=1.10, debit_to_close=3.30, exit_rules=ExitRules(stop_loss_multiple=2.0))
    assert stop is not None and stop.reason == "stop_loss"


def test_exit_inputs_are_validated() -> None:
    for kwargs in (
        {"entry_credit": 0.0, "debit_to_close": 0.5},
        {"entry_credit": -1.0, "debit_to_close": 0.5},
        {"entry_credit": 1.0, "debit_to_close": float("nan")},
    ):
        with pytest.raises(ValueError):
            exit_due(**kwargs)
    for rules_kwargs in ({"take_profit_fraction": 0.0}, {"take_profit_fraction": 1.01}, {"stop_loss_multiple": 0.0},
                         {"stop_loss_multiple": -1.0}, {"stop_loss_multiple": float("inf")}):
        with pytest.raises(ValueError):
            ExitRules(**rules_kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ExitSignal("rolled", 1.0, 1.0, 1.0)  # type: ignore[arg-type]
    assert set(EXIT_REASONS) == {"take_profit", "stop_loss", "time_exit", "settlement"}


@given(credit_nickels=st.integers(1, 200), debit_nickels=st.integers(0, 1000))
def test_exit_regions_partition_the_debits(credit_nickels: int, debit_nickels: int) -> None:
    credit, debit = credit_nickels * 0.05, debit_nickels * 0.05
    signal = exit_due(entry_credit=credit, debit_to_close=debit)
    exact_c, exact_d = Decimal(credit_nickels) * Decimal("0.05"), Decimal(debit_nickels) * Decimal("0.05")
    expected = "take_profit" if exact_d * 2 <= exact_c else "stop_loss" if exact_d >= 2 * exact_c else None
    assert (signal.reason if signal else None) == expected


# ---- settlement and PnL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "short", "long", "settle", "value"),
    [
        ("put_credit", 4900.0, 4875.0, 5000.0, 0.0),  # expires worthless
        ("put_credit", 4900.0, 4875.0, 4900.0, 0.0),  # exactly at the short strike
        ("put_credit", 4900.0, 4875.0, 4890.3, 9.7),  # between the strikes (exact, not 9.699999…)
        ("put_credit", 4900.0, 4875.0, 4875.0, 25.0),  # at the long strike: full width
        ("put_credit", 4900.0, 4875.0, 4500.0, 25.0),  # far below: clipped to the width
        ("call_credit", 5100.0, 5125.0, 5000.0, 0.0),
        ("call_credit", 5100.0, 5125.0, 5100.0, 0.0),
        ("call_credit", 5100.0, 5125.0, 5112.55, 12.55),
        ("call_credit", 5100.0, 5125.0, 5125.0, 25.0),
        ("call_credit", 5100.0, 5125.0, 6000.0, 25.0),
    ],
)
def test_settlement_value(side: str, short: float, long: float, settle: float, value: float) -> None:
    assert settlement_value(side, short, long, settle) == value  # type: ignore[arg-type]


def test_settlement_geometry_is_checked() -> None:
    with pytest.raises(ValueError):
        settlement_value("put_credit", 4875.0, 4900.0, 4800.0)  # long above short
    with pytest.raises(ValueError):
        settlement_value("call_credit", 5125.0, 5100.0, 5200.0)
    with pytest.raises(ValueError):
        settlement_value("iron_fly", 5100.0, 5125.0, 5200.0)  # type: ignore[arg-type]


def test_settlement_exit() -> None:
    signal = settlement_exit(side="put_credit", short_strike=4900.0, long_strike=4875.0, settlement_price=4890.3, entry_credit=1.20)
    assert signal.reason == "settlement"
    assert signal.debit_to_close == signal.threshold_debit == 9.7
    assert signal.pnl_per_contract_usd == -850.0  # (1.20 − 9.70) × 100


def test_pnl_usd() -> None:
    assert pnl_usd(1.20, 0.60, 1) == 60.0
    assert pnl_usd(1.20, 0.60, 3) == 180.0
    assert pnl_usd(1.20, 2.40, 2) == -240.0
    assert pnl_usd(0.30, 0.1 + 0.05, 1) == 15.0  # 0.15000000000000002 is 0.15
    assert pnl_usd(1.20, 25.0, 1) == -2380.0  # full loss = −max loss
    with pytest.raises(ValueError):
        pnl_usd(1.0, 0.5, 0)


@given(
    credit_nickels=st.integers(1, 100),
    width=st.sampled_from([5.0, 10.0, 25.0, 50.0]),
    settle_offset_cents=st.integers(-10_000, 10_000),
    side=st.sampled_from(["put_credit", "call_credit"]),
    quantity=st.integers(1, 10),
)
def test_settled_pnl_lies_between_max_loss_and_max_profit(
    credit_nickels: int, width: float, settle_offset_cents: int, side: str, quantity: int
) -> None:
    credit = credit_nickels * 0.05
    short = 5000.0
    long = short - width if side == "put_credit" else short + width
    value = settlement_value(side, short, long, short + settle_offset_cents / 100)  # type: ignore[arg-type]
    assert 0.0 <= value <= width
    pnl = pnl_usd(credit, value, quantity)
    max_profit, max_loss = credit * 100 * quantity, (width - credit) * 100 * quantity
    assert -max_loss - 1e-9 <= pnl <= max_profit + 1e-9
