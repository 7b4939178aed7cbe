"""Spread selection: synthetic chains, the recorded Tradier PLTR chain, edge cases and invariants."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategy.quant import black76
from strategy.quant.fills import COMPLEX_ORDER_TICK, entry_credit, is_on_tick, round_to_tick
from strategy.quant.osi import format_symbol
from strategy.quant.rules import DELTA_TIE_TOLERANCE, close_debit, select_spread
from strategy.quant.types import (
    FILTER_ORDER,
    QUALITY_FLAGS,
    REASONS,
    SELECTION_REASONS,
    ChainQuotes,
    NoCandidate,
    SpreadCandidate,
    SpreadRules,
)

REPO = Path(__file__).resolve().parents[3]
EXPIRY = dt.date(2026, 6, 18)

# (strike, "P" or "C", bid, ask, delta); iv is 0.20 wherever delta is finite, NaN otherwise.
Row = tuple[float, str, float, float, float]


def make_chain(rows: Sequence[Row], *, forward: float = 5000.0, root: str = "SPXW") -> ChainQuotes:
    """A ChainQuotes from hand-written rows (SPXW 2026-06-18 unless told otherwise)."""
    return ChainQuotes(
        strikes=np.array([r[0] for r in rows], dtype=float),
        is_call=np.array([r[1] == "C" for r in rows], dtype=bool),
        bid=np.array([r[2] for r in rows], dtype=float),
        ask=np.array([r[3] for r in rows], dtype=float),
        iv=np.array([0.20 if math.isfinite(r[4]) else math.nan for r in rows]),
        delta=np.array([r[4] for r in rows], dtype=float),
        symbols=np.array([format_symbol(root, EXPIRY, r[1] == "C", r[0]) for r in rows], dtype=object),
        root=root,
        expiration=EXPIRY,
        forward=forward,
        t_years=5 / 365,
    )


def mirror(rows: Sequence[Row], forward: float = 5000.0) -> list[Row]:
    """The call-side image of put rows: strike reflected through the forward, delta sign flipped."""
    return [(2 * forward - k, "C" if cp == "P" else "P", bid, ask, -delta) for k, cp, bid, ask, delta in rows]


def put_rules(**overrides: Any) -> SpreadRules:
    base: dict[str, Any] = {"side": "put_credit", "short_delta_target": 0.10, "width_points": 25.0}
    return SpreadRules(**(base | overrides))


def call_rules(**overrides: Any) -> SpreadRules:
    return put_rules(side="call_credit", **overrides)


def reason(result: SpreadCandidate | NoCandidate) -> str:
    """The NoCandidate reason, or "tradable" for a SpreadCandidate."""
    return result.reason if isinstance(result, NoCandidate) else "tradable"


def picked(result: SpreadCandidate | NoCandidate) -> tuple[float, float]:
    assert isinstance(result, SpreadCandidate), result
    return result.short_leg.strike, result.long_leg.strike


# A clean 5-point put wing below a 5000 forward: |delta| falls as the strike falls.
PUTS: list[Row] = [
    (4850.0, "P", 0.60, 0.70, -0.040),
    (4855.0, "P", 0.70, 0.80, -0.045),
    (4860.0, "P", 0.80, 0.90, -0.050),
    (4865.0, "P", 0.95, 1.05, -0.058),
    (4870.0, "P", 1.10, 1.20, -0.065),
    (4875.0, "P", 1.25, 1.35, -0.072),
    (4880.0, "P", 1.45, 1.55, -0.080),
    (4885.0, "P", 1.65, 1.75, -0.090),
    (4890.0, "P", 1.85, 1.95, -0.098),
    (4895.0, "P", 2.10, 2.20, -0.108),
    (4900.0, "P", 2.40, 2.50, -0.120),
    (4950.0, "P", 7.00, 7.20, -0.250),
    (5050.0, "P", 52.0, 53.0, -0.750),  # in the money: never a short leg
]


# ---- the basic selection ----------------------------------------------------------------------


def test_put_spread_nearest_delta_and_exact_width() -> None:
    result = select_spread(make_chain(PUTS), put_rules())
    assert isinstance(result, SpreadCandidate)
    assert picked(result) == (4890.0, 4865.0)  # |−0.098 − 0.10| = 0.002 is the nearest
    assert result.side == "put_credit" and result.quantity == 1
    assert result.short_leg.side == "sell" and result.long_leg.side == "buy"
    assert not result.short_leg.is_call and not result.long_leg.is_call
    assert result.short_leg.symbol == "SPXW260618P04890000"
    assert result.short_leg.mid == 1.90 and result.long_leg.mid == 1.00
    assert result.width_points == result.requested_width_points == 25.0
    assert result.credit_mid == 0.90
    assert result.combo_spread == 0.20
    assert result.credit_fill == 0.80  # 0.90 − 0.30 × 0.20 = 0.84 → 0.80
    assert result.max_profit_per_contract_usd == 80.0
    assert result.max_loss_per_contract_usd == 2420.0  # (25 − 0.80) × 100
    assert result.breakeven == 4889.20
    assert result.quality_flags == () and result.failed_filters == () and result.passed


def test_call_side_mirrors_the_put_side() -> None:
    result = select_spread(make_chain(mirror(PUTS)), call_rules())
    assert picked(result) == (5110.0, 5135.0)  # 2·5000 − 4890 and 5110 + 25
    assert isinstance(result, SpreadCandidate)
    assert result.short_leg.is_call and result.long_leg.is_call
    assert result.credit_fill == 0.80
    assert result.breakeven == 5110.80  # short + credit for calls
    assert result.max_loss_per_contract_usd == 2420.0


def test_quantity_scales_the_position_totals_only() -> None:
    result = select_spread(make_chain(PUTS), put_rules(quantity=3))
    assert isinstance(result, SpreadCandidate)
    assert result.max_profit_per_contract_usd == 80.0 and result.max_profit_usd == 240.0
    assert result.max_loss_per_contract_usd == 2420.0 and result.max_loss_usd == 7260.0


def test_row_order_does_not_matter() -> None:
    expected = select_spread(make_chain(PUTS), put_rules())
    for seed in range(5):
        rows = [PUTS[i] for i in np.random.default_rng(seed).permutation(len(PUTS))]
        assert select_spread(make_chain(rows), put_rules()) == expected


def test_only_otm_options_can_be_the_short_leg() -> None:
    # A target of 0.75 matches the ITM 5050 put exactly, but only puts below the forward count.
    result = select_spread(make_chain(PUTS), put_rules(short_delta_target=0.75, width_points=50.0))
    assert picked(result)[0] == 4950.0
    # A strike exactly at the forward is not out of the money either.
    atm = [(4975.0, "P", 20.0, 20.5, -0.45), (5000.0, "P", 30.0, 30.5, -0.50)]
    result = select_spread(make_chain(atm + PUTS), put_rules(short_delta_target=0.50))
    assert picked(result) == (4975.0, 4950.0)


# ---- quotes that must not be used -------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "delta"),
    [
        (0.0, 2.00, -0.098),  # one-sided: no bid
        (1.85, math.nan, -0.098),  # one-sided: no ask
        (math.nan, math.nan, -0.098),  # no quote at all
        (1.95, 1.85, -0.098),  # crossed
        (-0.05, 1.95, -0.098),  # negative bid
        (1.85, math.inf, -0.098),  # infinite ask
        (1.85, 1.95, math.nan),  # no delta of our own
    ],
)
def test_unusable_best_short_strike_is_skipped(bid: float, ask: float, delta: float) -> None:
    rows = [r if r[0] != 4890.0 else (4890.0, "P", bid, ask, delta) for r in PUTS]
    # Next nearest to 0.10: 4895 (|−0.108 − 0.10| = 0.008) beats 4885 (0.010).
    assert picked(select_spread(make_chain(rows), put_rules())) == (4895.0, 4870.0)


def test_locked_quote_is_usable() -> None:
    rows = [r if r[0] != 4890.0 else (4890.0, "P", 1.90, 1.90, -0.098) for r in PUTS]
    result = select_spread(make_chain(rows), put_rules())
    assert picked(result) == (4890.0, 4865.0)
    assert isinstance(result, SpreadCandidate) and result.combo_spread == 0.10


def test_short_leg_needs_finite_iv_too() -> None:
    chain = make_chain(PUTS)
    iv = chain.iv.copy()
    iv[chain.strikes == 4890.0] = math.nan
    chain = ChainQuotes(**{**_fields(chain), "iv": iv})
    assert picked(select_spread(chain, put_rules()))[0] == 4895.0


def _fields(chain: ChainQuotes) -> dict[str, Any]:
    return {name: getattr(chain, name) for name in chain.__dataclass_fields__}


# ---- tie rule -----------------------------------------------------------------------------------


def test_exact_tie_takes_the_further_otm_put() -> None:
    # |0.08 − 0.10| and |0.12 − 0.10| are equal in decimal but not in float64.
    assert abs(0.08 - 0.10) != abs(0.12 - 0.10)
    rows: list[Row] = [
        (4850.0, "P", 0.50, 0.60, -0.040),
        (4855.0, "P", 0.60, 0.70, -0.050),
        (4860.0, "P", 1.00, 1.10, -0.080),
        (4865.0, "P", 1.40, 1.50, -0.120),
        (4835.0, "P", 0.30, 0.40, -0.030),
    ]
    assert picked(select_spread(make_chain(rows), put_rules())) == (4860.0, 4835.0)
    # Input order does not break the tie differently.
    assert picked(select_spread(make_chain(rows[::-1]), put_rules())) == (4860.0, 4835.0)


def test_exact_tie_takes_the_further_otm_call() -> None:
    rows: list[Row] = [
        (5140.0, "C", 1.40, 1.50, 0.120),
        (5145.0, "C", 1.00, 1.10, 0.080),
        (5170.0, "C", 0.30, 0.40, 0.030),
    ]
    assert picked(select_spread(make_chain(rows), call_rules())) == (5145.0, 5170.0)


def test_a_real_difference_is_not_a_tie() -> None:
    rows: list[Row] = [
        (4860.0, "P", 1.00, 1.10, -0.080),
        (4865.0, "P", 1.40, 1.50, -0.12 + 10 * DELTA_TIE_TOLERANCE),  # a hair nearer 0.10
        (4840.0, "P", 0.30, 0.40, -0.030),
    ]
    assert picked(select_spread(make_chain(rows), put_rules())) == (4865.0, 4840.0)


# ---- the long leg -------------------------------------------------------------------------------


def test_missing_long_strike_moves_to_the_far_side() -> None:
    rows = [r for r in PUTS if r[0] != 4865.0]
    result = select_spread(make_chain(rows), put_rules())
    assert picked(result) == (4890.0, 4860.0)  # 4865 missing: 4860, never the nearer 4870
    assert isinstance(result, SpreadCandidate)
    assert result.width_points == 30.0 and result.requested_width_points == 25.0
    assert result.quality_flags == ("width_adjusted",)
    assert result.max_profit_per_contract_usd + result.max_loss_per_contract_usd == 3000.0


def test_one_sided_long_strike_moves_to_the_far_side() -> None:
    rows = [r if r[0] != 4865.0 else (4865.0, "P", 0.0, 1.05, -0.058) for r in PUTS]
    assert picked(select_spread(make_chain(rows), put_rules())) == (4890.0, 4860.0)


def test_far_side_for_calls() -> None:
    rows = [r for r in mirror(PUTS) if r[0] != 5135.0]
    assert picked(select_spread(make_chain(rows), call_rules())) == (5110.0, 5140.0)


def test_long_leg_limit_is_inclusive() -> None:
    # width 25 × 1.5 = 37.5 points: 4855 (35 out) is allowed once 4865 and 4860 are gone.
    rows = [r for r in PUTS if r[0] not in (4865.0, 4860.0)]
    assert picked(select_spread(make_chain(rows), put_rules())) == (4890.0, 4855.0)
    # With max_width_mult=1.4 the limit is exactly 35.0 points: still allowed.
    assert picked(select_spread(make_chain(rows), put_rules(max_width_mult=1.4))) == (4890.0, 4855.0)


def test_no_strike_far_enough_gives_no_long_leg() -> None:
    # Nothing between 25 and 37.5 points below 4890 (4865..4852.5): only 4850 (40 out) and nearer strikes.
    rows = [r for r in PUTS if r[0] not in (4865.0, 4860.0, 4855.0)]
    result = select_spread(make_chain(rows), put_rules())
    assert isinstance(result, NoCandidate)
    assert result.reason == "no_long_leg" and result.candidate is None
    assert "4890" in result.message
    # The strike exactly at the width must be two-sided, not just listed: one-sided everywhere → none.
    rows = [(k, cp, 0.0 if k <= 4865.0 else bid, ask, d) for k, cp, bid, ask, d in PUTS]
    assert select_spread(make_chain(rows), put_rules()) == NoCandidate(
        "no_long_leg", "SPXW 2026-06-18: short 4890, no two-sided strike 25 to 37.5 points further out"
    )


def test_no_long_leg_is_not_rescued_by_another_short_strike() -> None:
    # The wing ends at 4870: the 0.10-delta short (4890) has no long leg, and the rule does not
    # wander to a nearer-the-money short to make one fit.
    rows = [r for r in PUTS if r[0] >= 4870.0]
    assert reason(select_spread(make_chain(rows), put_rules())) == "no_long_leg"


# ---- nothing to select --------------------------------------------------------------------------


def test_no_quotes() -> None:
    rows = [(k, cp, 0.0, ask, d) for k, cp, _, ask, d in PUTS]
    result = select_spread(make_chain(rows), put_rules())
    assert isinstance(result, NoCandidate) and result.reason == "no_quotes"
    empty = make_chain([])
    assert len(empty) == 0
    assert reason(select_spread(empty, put_rules())) == "no_quotes"


def test_no_short_leg() -> None:
    # Only calls are quoted: a put spread has no short leg.
    result = select_spread(make_chain(mirror(PUTS)), put_rules())
    assert isinstance(result, NoCandidate) and result.reason == "no_short_leg"
    # Puts quoted but none has a delta of ours.
    rows = [(k, cp, bid, ask, math.nan) for k, cp, bid, ask, _ in PUTS]
    assert reason(select_spread(make_chain(rows), put_rules())) == "no_short_leg"


# ---- filters ------------------------------------------------------------------------------------


def test_credit_below_min_keeps_the_candidate() -> None:
    result = select_spread(make_chain(PUTS), put_rules(min_credit=0.85))
    assert isinstance(result, NoCandidate) and result.reason == "credit_below_min"
    assert result.candidate is not None and result.candidate.failed_filters == ("credit_below_min",)
    assert result.candidate.credit_fill == 0.80 and not result.candidate.passed
    # The minimum itself passes.
    assert isinstance(select_spread(make_chain(PUTS), put_rules(min_credit=0.80)), SpreadCandidate)


def test_combo_spread_limits() -> None:
    chain = make_chain(PUTS)  # combo spread 0.20, mid credit 0.90
    assert isinstance(select_spread(chain, put_rules(max_combo_spread=0.20)), SpreadCandidate)
    too_wide = select_spread(chain, put_rules(max_combo_spread=0.15))
    assert isinstance(too_wide, NoCandidate) and too_wide.reason == "combo_spread_too_wide"
    # Relative limit: 0.20 ≤ 0.25 × 0.90 = 0.225 passes, 0.20 > 0.2 × 0.90 = 0.18 fails.
    assert isinstance(select_spread(chain, put_rules(max_combo_spread_frac=0.25)), SpreadCandidate)
    assert reason(select_spread(chain, put_rules(max_combo_spread_frac=0.2))) == "combo_spread_too_wide"


def test_no_credit_and_all_failures_listed_in_order() -> None:
    # Long leg priced above the short: negative mid credit.
    rows = [r if r[0] != 4865.0 else (4865.0, "P", 2.50, 2.90, -0.058) for r in PUTS]
    result = select_spread(make_chain(rows), put_rules(min_credit=0.10, max_combo_spread=0.25))
    assert isinstance(result, NoCandidate) and result.reason == "no_credit"
    assert result.candidate is not None
    assert result.candidate.failed_filters == ("no_credit", "credit_below_min", "combo_spread_too_wide")
    assert result.candidate.credit_mid == -0.80 and result.candidate.credit_fill == -0.95


def test_zero_credit_is_no_credit() -> None:
    rows = [r if r[0] != 4865.0 else (4865.0, "P", 1.80, 1.90, -0.058) for r in PUTS]
    # mid 1.90 − 1.85 = 0.05, spread 0.20: 0.05 − 0.06 = −0.01 → −0.05; with fraction 0.25: 0.00.
    result = select_spread(make_chain(rows), put_rules(fill_fraction=0.25))
    assert isinstance(result, NoCandidate) and result.reason == "no_credit"
    assert result.candidate is not None and result.candidate.credit_fill == 0.0


def test_reason_and_flag_sets_are_documented() -> None:
    assert set(SELECTION_REASONS) == {
        "no_quotes", "no_short_leg", "no_long_leg", "no_credit", "credit_below_min", "combo_spread_too_wide"
    }
    assert set(FILTER_ORDER) <= set(SELECTION_REASONS)
    assert set(QUALITY_FLAGS) == {"width_adjusted", "long_leg_no_greeks"}
    assert all(code.isidentifier() and code == code.lower() for code in REASONS)
    with pytest.raises(ValueError):
        NoCandidate("made_up", "")


def test_long_leg_without_greeks_is_flagged_not_refused() -> None:
    rows = [r if r[0] != 4865.0 else (4865.0, "P", 0.95, 1.05, math.nan) for r in PUTS]
    result = select_spread(make_chain(rows), put_rules())
    assert isinstance(result, SpreadCandidate) and result.quality_flags == ("long_leg_no_greeks",)


# ---- a realistic SPX chain (Black-76 prices and deltas) -------------------------------------------


def spx_chain(*, forward: float = 5000.0, days: float = 5.0, step: float = 5.0) -> ChainQuotes:
    """A 5-point SPXW chain with a put skew; quotes on the single-leg tick around the model price."""
    t = days / 365
    k = np.arange(forward - 600, forward + 400 + step / 2, step)
    moneyness = (forward - k) / forward
    sigma = 0.14 + np.where(moneyness > 0, 1.0, 0.05) * moneyness  # steep put skew, mild call side
    rows: list[Row] = []
    for is_call in (False, True):
        mid = np.asarray(black76.price(is_call, forward, k, t, 1.0, sigma))
        delta = np.asarray(black76.greeks(is_call, forward, k, t, 1.0, sigma).delta)
        for strike, m, d in zip(k, mid, delta):
            tick = 0.05 if m < 3 else 0.10
            bid = round_to_tick(m - max(0.05, 0.02 * m), "down", tick)
            ask = round_to_tick(m + max(0.05, 0.02 * m), "up", tick)
            rows.append((float(strike), "C" if is_call else "P", bid, ask, float(d)))
    return make_chain(rows, forward=forward)


@pytest.mark.parametrize("target", [0.10, 0.20])
@pytest.mark.parametrize("side", ["put_credit", "call_credit"])
def test_realistic_chain_matches_a_brute_force_search(side: str, target: float) -> None:
    chain = spx_chain()
    result = select_spread(chain, SpreadRules(side=side, short_delta_target=target, width_points=25.0))  # type: ignore[arg-type]
    assert isinstance(result, SpreadCandidate), result
    want_call = side == "call_credit"
    best = min(
        (i for i in range(len(chain)) if chain.is_call[i] == want_call and chain.bid[i] > 0
         and (chain.strikes[i] > chain.forward if want_call else chain.strikes[i] < chain.forward)),
        key=lambda i: abs(abs(chain.delta[i]) - target),
    )
    assert result.short_leg.strike == chain.strikes[best]
    assert result.width_points == 25.0
    assert 0 < result.credit_fill <= result.credit_mid
    assert abs(result.short_leg.delta) == pytest.approx(target, abs=0.02)


# ---- the recorded Tradier chain (PLTR, sandbox, strikes 13–37 with 2- and 3-point gaps) -----------


@pytest.fixture(scope="module")
def pltr(tradier_fixtures: Path) -> ChainQuotes:
    """The recorded chain with Tradier's own greeks.delta / greeks.mid_iv as the delta/iv arrays.

    Forward: PLTR's last trade in the quote recorded in the same session (25.50); the sandbox's
    option quotes are too inconsistent for a put–call-parity forward, and the forward only
    decides which side of the money each strike is on.
    """
    options = json.loads((tradier_fixtures / "chain_pltr_2026-06-18_greeks_sandbox.json").read_text())["options"]["option"]
    quote = json.loads((tradier_fixtures / "quote_single_object_pltr_sandbox.json").read_text())["quotes"]["quote"]
    recorded = dt.datetime(2024, 6, 28, 16, 6, 2, tzinfo=dt.timezone.utc)
    settles = dt.datetime(2026, 6, 18, 20, 0, tzinfo=dt.timezone.utc)  # 16:00 ET (EDT)
    return ChainQuotes.from_tradier(
        options,
        iv=[o["greeks"]["mid_iv"] for o in options],
        delta=[o["greeks"]["delta"] for o in options],
        forward=float(quote["last"]),
        t_years=(settles - recorded).total_seconds() / 60 / 525_600,
    )


def test_pltr_chain_is_read(pltr: ChainQuotes) -> None:
    assert len(pltr) == 22 and pltr.root == "PLTR" and pltr.expiration == dt.date(2026, 6, 18)
    assert pltr.forward == 25.5 and 1.9 < pltr.t_years < 2.0
    assert sorted(set(pltr.strikes.tolist())) == [13, 15, 18, 20, 22, 25, 27, 30, 32, 35, 37]
    assert int(pltr.is_call.sum()) == 11
    assert not pltr.strikes.flags.writeable


def test_pltr_put_spread(pltr: ChainQuotes) -> None:
    result = select_spread(pltr, SpreadRules(side="put_credit", short_delta_target=0.20, width_points=2.0))
    assert isinstance(result, SpreadCandidate)
    assert result.short_leg.symbol == "PLTR260618P00020000" and result.long_leg.symbol == "PLTR260618P00018000"
    assert result.short_leg.delta == pytest.approx(-0.2008967630017283)
    assert result.credit_mid == 2.195  # 4.25 − 2.055
    assert result.combo_spread == 3.19  # 1.20 + 1.99
    assert result.credit_fill == 1.20  # 2.195 − 0.957 = 1.238 → 1.20
    assert (result.max_profit_per_contract_usd, result.max_loss_per_contract_usd) == (120.0, 80.0)
    assert result.breakeven == 18.80


def test_pltr_one_sided_best_short_strike_is_skipped(pltr: ChainQuotes) -> None:
    # The 13 put has the delta nearest 0.10 (−0.096) but bid 0: the 15 put (−0.120) is next.
    # 2 points below 15 is the one-sided 13, and nothing is listed further down → no long leg.
    result = select_spread(pltr, SpreadRules(side="put_credit", short_delta_target=0.10, width_points=2.0))
    assert isinstance(result, NoCandidate) and result.reason == "no_long_leg"
    assert "short 15" in result.message


def test_pltr_strike_gap_puts_the_long_leg_on_the_far_side(pltr: ChainQuotes) -> None:
    # Short 18 (delta −0.168); 16 is not listed, so the long leg is 15 (3 points ≤ 1.5 × 2).
    result = select_spread(pltr, SpreadRules(side="put_credit", short_delta_target=0.17, width_points=2.0))
    assert isinstance(result, NoCandidate) and result.reason == "no_credit"  # sandbox 18 put is 1.06 / 3.05
    assert result.candidate is not None
    assert (result.candidate.short_leg.strike, result.candidate.long_leg.strike) == (18.0, 15.0)
    assert result.candidate.width_points == 3.0 and result.candidate.quality_flags == ("width_adjusted",)
    # Width 5 from 18 is 13, whose put is one-sided, and nothing is listed below: no long leg.
    assert reason(select_spread(pltr, SpreadRules(side="put_credit", short_delta_target=0.17, width_points=5.0))) == "no_long_leg"


def test_pltr_call_spread(pltr: ChainQuotes) -> None:
    result = select_spread(pltr, SpreadRules(side="call_credit", short_delta_target=0.62, width_points=5.0))
    assert isinstance(result, SpreadCandidate)
    assert picked(result) == (30.0, 35.0)
    assert result.credit_mid == 1.05 and result.combo_spread == 1.10
    assert result.credit_fill == 0.70  # 1.05 − 0.33 = 0.72 → 0.70
    assert result.breakeven == 30.70
    # The highest call (37) has no strike 2 points above it.
    top = select_spread(pltr, SpreadRules(side="call_credit", short_delta_target=0.48, width_points=2.0))
    assert isinstance(top, NoCandidate) and top.reason == "no_long_leg"


def test_pltr_with_filters(pltr: ChainQuotes) -> None:
    rules = SpreadRules(side="put_credit", short_delta_target=0.20, width_points=5.0, max_combo_spread=1.50)
    result = select_spread(pltr, rules)  # 20/15: combo spread 1.20 + 0.63 = 1.83
    assert isinstance(result, NoCandidate) and result.reason == "combo_spread_too_wide"
    assert result.candidate is not None and result.candidate.credit_fill == 2.05


def test_from_tradier_validates(tradier_fixtures: Path) -> None:
    options = json.loads((tradier_fixtures / "chain_pltr_2026-06-18_greeks_sandbox.json").read_text())["options"]["option"]
    first = options[:2]
    with_null = [dict(first[0], bid=None, ask=None), first[1]]
    chain = ChainQuotes.from_tradier(with_null, iv=[0.5, 0.5], delta=[-0.1, 0.9], forward=25.5, t_years=1.0)
    assert math.isnan(chain.bid[0]) and math.isnan(chain.ask[0])
    other_root = dict(first[1], symbol="PLTR1260618C00013000")
    with pytest.raises(ValueError, match="one root"):
        ChainQuotes.from_tradier([first[0], other_root], iv=[0, 0], delta=[0, 0], forward=25.5, t_years=1.0)
    wrong_type = dict(first[0], option_type="call")
    with pytest.raises(ValueError, match="disagree"):
        ChainQuotes.from_tradier([wrong_type], iv=[0], delta=[0], forward=25.5, t_years=1.0)
    with pytest.raises(ValueError, match="no options"):
        ChainQuotes.from_tradier([], iv=[], delta=[], forward=25.5, t_years=1.0)
    with pytest.raises(ValueError, match="rows"):
        ChainQuotes.from_tradier(first, iv=[0.5], delta=[0.1, 0.2], forward=25.5, t_years=1.0)


# ---- input validation ---------------------------------------------------------------------------


def test_chain_quotes_validation() -> None:
    good = _fields(make_chain(PUTS[:2]))
    with pytest.raises(ValueError, match="boolean"):
        ChainQuotes(**{**good, "is_call": np.array(["put", "put"])})
    with pytest.raises(ValueError, match="more than once"):
        ChainQuotes(**{**good, "strikes": np.array([4850.0, 4850.0])})
    with pytest.raises(ValueError, match="strikes"):
        ChainQuotes(**{**good, "strikes": np.array([4850.0, -1.0])})
    with pytest.raises(ValueError, match="forward"):
        ChainQuotes(**{**good, "forward": math.nan})
    with pytest.raises(ValueError, match="t_years"):
        ChainQuotes(**{**good, "t_years": -1.0})
    with pytest.raises(ValueError, match="one-dimensional"):
        ChainQuotes(**{**good, "bid": np.ones((2, 1))})
    source = np.array([1.0, 2.0])
    chain = ChainQuotes(**{**good, "bid": source})
    source[0] = 99.0  # the chain holds its own read-only copy
    assert chain.bid[0] == 1.0
    with pytest.raises(ValueError):
        chain.bid[0] = 5.0


@pytest.mark.parametrize(
    "bad",
    [
        {"side": "iron_condor"},
        {"short_delta_target": 0.0},
        {"short_delta_target": 1.0},
        {"width_points": 0.0},
        {"quantity": 0},
        {"quantity": 1.5},
        {"quantity": True},
        {"min_credit": -0.05},
        {"max_combo_spread": 0.0},
        {"max_combo_spread_frac": math.nan},
        {"fill_fraction": 1.1},
        {"max_width_mult": 0.9},
    ],
)
def test_spread_rules_validation(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        put_rules(**bad)


# ---- invariants on random chains ----------------------------------------------------------------


@st.composite
def random_chains(draw: st.DrawFn) -> tuple[ChainQuotes, SpreadRules]:
    """Random puts and calls on a 5-point grid around 5000, with random holes and bad quotes."""
    strikes = draw(st.lists(st.integers(900, 1100), min_size=2, max_size=40, unique=True))
    rows: list[Row] = []
    for s in strikes:
        for cp in ("P", "C"):
            if draw(st.booleans()) and draw(st.booleans()):
                continue  # a hole in the listing
            bid_cents = draw(st.integers(0, 2000))
            ask_cents = bid_cents + draw(st.integers(-20, 300))  # sometimes crossed
            delta = draw(st.floats(0.001, 0.999)) * (1 if cp == "C" else -1)
            rows.append((5.0 * s, cp, bid_cents / 100, ask_cents / 100, delta))
    rules = SpreadRules(
        side=draw(st.sampled_from(["put_credit", "call_credit"])),
        short_delta_target=draw(st.sampled_from([0.05, 0.10, 0.16, 0.20, 0.30])),
        width_points=draw(st.sampled_from([5.0, 10.0, 25.0, 50.0])),
        quantity=draw(st.integers(1, 5)),
        fill_fraction=draw(st.sampled_from([0.0, 0.3, 0.5])),
    )
    return make_chain(rows), rules


@settings(max_examples=300, deadline=None)
@given(random_chains())
def test_selection_invariants(case: tuple[ChainQuotes, SpreadRules]) -> None:
    chain, rules = case
    result = select_spread(chain, rules)
    assert result.reason in SELECTION_REASONS if isinstance(result, NoCandidate) else result.passed
    candidate = result.candidate if isinstance(result, NoCandidate) else result
    if candidate is None:
        return
    short, long = candidate.short_leg, candidate.long_leg
    for leg in (short, long):
        assert leg.bid > 0 and leg.ask >= leg.bid  # never a crossed or one-sided quote
        assert leg.is_call == rules.is_call
    assert (short.strike > chain.forward) if rules.is_call else (short.strike < chain.forward)
    assert (long.strike > short.strike) if rules.is_call else (long.strike < short.strike)
    assert rules.width_points <= candidate.width_points <= rules.max_width_mult * rules.width_points
    assert candidate.credit_fill <= candidate.credit_mid
    assert is_on_tick(candidate.credit_fill, COMPLEX_ORDER_TICK)
    assert candidate.credit_fill == entry_credit(candidate.credit_mid, candidate.combo_spread, rules.fill_fraction)
    assert candidate.max_profit_per_contract_usd + candidate.max_loss_per_contract_usd == candidate.width_points * 100
    assert candidate.max_profit_usd + candidate.max_loss_usd == candidate.width_points * 100 * rules.quantity
    if isinstance(result, NoCandidate):
        assert result.reason == candidate.failed_filters[0]
    # No usable same-type OTM option is strictly nearer the delta target than the short leg.
    usable = (chain.is_call == rules.is_call) & (chain.bid > 0) & (chain.ask >= chain.bid)
    otm = chain.strikes > chain.forward if rules.is_call else chain.strikes < chain.forward
    gaps = np.abs(np.abs(chain.delta[usable & otm]) - rules.short_delta_target)
    assert abs(abs(short.delta) - rules.short_delta_target) <= gaps.min() + DELTA_TIE_TOLERANCE


# ---- purity -------------------------------------------------------------------------------------

_PROBE = """
import json, sys
import numpy, scipy.special, scipy.stats, scipy.optimize  # their own optional deps (numpy.f2py may load charset_normalizer) are theirs, not ours
from importlib.metadata import packages_distributions
before = set(sys.modules)
from strategy.quant import fills, rules, types
new = {name.split(".")[0] for name in set(sys.modules) - before}
# Count only top-level names that belong to installed distributions: scipy's compiled helpers
# (cython_runtime, _cyutility, ...) are not packages of their own.
print(json.dumps(sorted(new & set(packages_distributions()))))
"""


def test_rules_import_only_numpy_and_scipy() -> None:
    # A fresh interpreter: this process may already hold Django from other apps' tests.
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) <= {"numpy", "scipy"}


def test_outcome_labels_and_the_mark_step() -> None:
    from strategy.quant.rules import mark_step, outcome_label

    assert outcome_label("take_profit", 0.5, entry_credit=1.0) == 1
    assert outcome_label("stop_loss", 2.0, entry_credit=1.0) == 0
    # A settlement counts only when it kept at least the take-profit share of the credit.
    assert outcome_label("settlement", 0.0, entry_credit=1.0) == 1
    assert outcome_label("settlement", 0.50, entry_credit=1.0) == 1
    assert outcome_label("settlement", 0.55, entry_credit=1.0) == 0
    assert mark_step(1.0, float("nan"), 0.1, 0.2, entry_credit=1.0, width_points=25.0) is None
    mid, fill, signal = mark_step(0.30, 0.40, 0.05, 0.10, entry_credit=1.0, width_points=25.0)  # type: ignore[misc]
    assert (mid, fill) == close_debit(0.30, 0.40, 0.05, 0.10, width_points=25.0)
    assert signal is not None and signal.reason == "take_profit"
