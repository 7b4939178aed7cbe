"""Entry filters on the decision-time features (issue 16 §1): each filter's bounds (inclusive), a
missing feature, the order of the checks, and where the decision core applies them — after the
selection reasons, before the risk limits and the ML gate."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import pytest

from strategy.quant import decision
from strategy.quant.decision import BookState, ChainRead, GateScore, StrategySpec
from strategy.quant.features import FEATURE_NAMES, ForwardHistory
from strategy.quant.rules import entry_filter_check
from strategy.quant.types import ENTRY_FILTERS, EntryFilters, FilterRefusal, RiskLimits, SpreadRules, weekdays_of
from strategy.tests.quant.test_features import _analytics, _window

# A Wednesday (weekday 2 → ISO 3), not an FOMC day, vix30 16, 9d/30d 0.875, 0.35 credit on 25 points.
BASE = {**dict.fromkeys(FEATURE_NAMES, math.nan), "weekday": 2.0, "fomc_day": 0.0, "vix30": 16.0,
        "vix_ratio_9d_30d": 0.875, "credit_fill": 0.35, "width_points": 25.0, "credit_to_width": 0.35 / 25}


def check(filters: EntryFilters, missing: Mapping[str, str] | None = None, **values: float) -> FilterRefusal | None:
    return entry_filter_check(filters, {**BASE, **values}, missing)


def test_no_filter_reads_nothing_and_passes_everything() -> None:
    assert not EntryFilters().active
    assert check(EntryFilters()) is None
    assert entry_filter_check(EntryFilters(), {}) is None  # not even a missing feature matters


@pytest.mark.parametrize(("filters", "feature", "inside", "outside", "message"), [
    (EntryFilters(vix_min=16.0), "vix30", 16.0, 15.99, "vix_min: vix30 15.9900 below min 16"),
    (EntryFilters(vix_max=16.0), "vix30", 16.0, 16.01, "vix_max: vix30 16.0100 above max 16"),
    (EntryFilters(term_ratio_min=0.875), "vix_ratio_9d_30d", 0.875, 0.8749, "term_ratio_min: vix_ratio_9d_30d 0.8749 "
                                                                           "below min 0.875"),
    (EntryFilters(term_ratio_max=1.0), "vix_ratio_9d_30d", 1.0, 1.0001, "term_ratio_max: vix_ratio_9d_30d 1.0001 "
                                                                       "above max 1"),
])
def test_ranges_include_their_bounds(filters: EntryFilters, feature: str, inside: float, outside: float,
                                     message: str) -> None:
    assert check(filters, **{feature: inside}) is None
    refusal = check(filters, **{feature: outside})
    assert refusal is not None and f"{refusal.filter}: {refusal.message}" == message


def test_a_range_with_both_bounds() -> None:
    f = EntryFilters(vix_min=12.0, vix_max=20.0)
    assert [getattr(check(f, vix30=x), "filter", None) for x in (11.9, 12.0, 16.0, 20.0, 20.1)] == [
        "vix_min", None, None, None, "vix_max"]
    assert check(EntryFilters(vix_min=16.0, vix_max=16.0), vix30=16.0) is None  # a one-point range is allowed


def test_weekdays_are_iso_weekdays_of_the_entry_day() -> None:
    assert check(EntryFilters(weekdays=(1, 3))) is None  # Wednesday = ISO 3 = feature weekday 2
    refusal = check(EntryFilters(weekdays=(1, 2, 5)))
    assert refusal == FilterRefusal("entry_weekdays", "Wednesday (3) is not an allowed weekday: Mon (1), Tue (2), "
                                                      "Fri (5)")
    assert check(EntryFilters(weekdays=(5,)), weekday=4.0) is None  # Friday
    assert check(EntryFilters(weekdays=(1,)), weekday=0.0) is None  # Monday


def test_event_days_are_fomc_statement_days() -> None:
    f = EntryFilters(skip_event_days=True)
    assert check(f) is None
    refusal = check(f, fomc_day=1.0)
    assert refusal is not None and refusal.filter == "skip_event_days" and "FOMC" in refusal.message
    assert check(EntryFilters(), fomc_day=1.0) is None  # not set: FOMC days trade


def test_credit_to_width_is_compared_exactly() -> None:
    # 0.35 / 25 = 0.014 exactly, but 0.35 / 25 in floats is 0.013999999999999999: a float rule would refuse.
    assert 0.35 / 25 < 0.014
    assert check(EntryFilters(min_credit_to_width=0.014)) is None
    refusal = check(EntryFilters(min_credit_to_width=0.015))
    assert refusal == FilterRefusal("min_credit_to_width", "credit_to_width 0.0140 (credit 0.35 / width 25) below "
                                                           "min 0.015")
    assert check(EntryFilters(min_credit_to_width=0.02), credit_fill=0.50) is None  # 0.50 / 25 = 0.02: inclusive


@pytest.mark.parametrize(("filters", "feature"), [
    (EntryFilters(vix_min=10.0), "vix30"), (EntryFilters(vix_max=30.0), "vix30"),
    (EntryFilters(term_ratio_min=0.5), "vix_ratio_9d_30d"), (EntryFilters(term_ratio_max=1.2), "vix_ratio_9d_30d"),
    (EntryFilters(min_credit_to_width=0.01), "credit_fill"), (EntryFilters(weekdays=(3,)), "weekday"),
    (EntryFilters(skip_event_days=True), "fomc_day"),
])
def test_a_set_filter_refuses_when_its_feature_is_missing(filters: EntryFilters, feature: str) -> None:
    refusal = check(filters, {"vix30": "term chains missing", "vix_ratio_9d_30d": "vix9d or vix30 missing",
                              "credit_fill": "no spread was built"}, **{feature: math.nan})
    assert refusal is not None and "missing" in refusal.message and f"{refusal.filter} is set" in refusal.message
    if feature == "vix30":
        assert refusal.message == f"vix30 missing (term chains missing), and {refusal.filter} is set"
    # The same NaN with no filter on it passes.
    assert check(EntryFilters(), **{feature: math.nan}) is None


def test_the_first_failing_filter_in_the_documented_order_is_named() -> None:
    everything = EntryFilters(weekdays=(1,), skip_event_days=True, vix_min=20.0, term_ratio_max=0.5,
                              min_credit_to_width=0.5)
    names = []
    values = dict(fomc_day=1.0, vix30=10.0, vix_ratio_9d_30d=0.9, credit_fill=0.35)
    for allowed in ("weekday", "fomc_day", "vix30", "vix_ratio_9d_30d", "credit_fill"):
        refusal = check(everything, **values)
        assert refusal is not None
        names.append(refusal.filter)
        values[allowed] = {"weekday": 0.0, "fomc_day": 0.0, "vix30": 25.0, "vix_ratio_9d_30d": 0.4,
                           "credit_fill": 20.0}[allowed]
    assert names == list(ENTRY_FILTERS)[:2] + ["vix_min", "term_ratio_max", "min_credit_to_width"]
    assert check(everything, **values) is None


@pytest.mark.parametrize("kwargs", [
    {"vix_min": 20.0, "vix_max": 10.0}, {"term_ratio_min": 1.1, "term_ratio_max": 1.0}, {"vix_min": -1.0},
    {"min_credit_to_width": math.nan}, {"weekdays": (6,)}, {"weekdays": (3, 1)}, {"weekdays": (1, 1)},
    {"weekdays": [1]}, {"skip_event_days": 1},
])
def test_filters_out_of_range_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EntryFilters(**kwargs)  # type: ignore[arg-type]


def test_weekdays_from_text() -> None:
    assert weekdays_of(" 5, 1,1 ") == (1, 5) and weekdays_of("") == () and weekdays_of(None) == ()
    assert weekdays_of([3, 2]) == (2, 3)
    for bad in ("6", "0", "1,x", "1;2", "-1"):
        with pytest.raises(ValueError, match="trading weekday"):
            weekdays_of(bad)


# ------------------------------------------------------------------------------------ the decision core

def _spec(key: str = "a", priority: int = 100, filters: EntryFilters | None = None, **rules: object) -> StrategySpec:
    return StrategySpec(key=key, priority=priority, book="live", target_dte=2,
                        rules=SpreadRules(**{"side": "put_credit", "short_delta_target": 0.10, **rules}),  # type: ignore[arg-type]
                        limits=RiskLimits(max_open_trades=1), filters=filters or EntryFilters())


def _evaluate(spec: StrategySpec, **window: object) -> decision.Evaluation:
    return decision.evaluate(spec, ChainRead(_analytics(), 2), window=_window(**window),
                             history=ForwardHistory())


def test_evaluate_applies_the_filters_to_a_spread_that_passed_selection() -> None:
    free = _evaluate(_spec())
    assert free.wants_to_trade and free.reason_code == ""
    ev = _evaluate(_spec(filters=EntryFilters(vix_max=15.0)))  # the window's vix30 is 16
    assert not ev.wants_to_trade and ev.reason_code == decision.ENTRY_FILTER == "entry_filter"
    assert ev.reason_message == "vix_max: vix30 16.0000 above max 15"
    assert ev.candidate is not None and ev.candidate == free.candidate  # the refused spread is kept, as for a SKIP
    assert ev.features.values["vix30"] == 16.0
    assert decision.ENTRY_FILTER in decision.DECISION_REASONS
    # The 18th is a Wednesday and an FOMC day in the test window.
    assert _evaluate(_spec(filters=EntryFilters(skip_event_days=True))).reason_code == "entry_filter"
    assert _evaluate(_spec(filters=EntryFilters(weekdays=(3,)))).wants_to_trade
    missing = _evaluate(_spec(filters=EntryFilters(vix_min=10.0)), vix30=math.nan, reasons={"vix30": "term chains missing"})
    assert missing.reason_code == "entry_filter"
    assert missing.reason_message == "vix_min: vix30 missing (term chains missing), and vix_min is set"


def test_data_and_selection_reasons_come_before_the_filters() -> None:
    refused = EntryFilters(vix_max=1.0)
    assert _evaluate(_spec(filters=refused, min_credit=50.0)).reason_code == "credit_below_min"
    assert _evaluate(_spec(filters=refused, width_points=5000.0)).reason_code == "no_long_leg"
    gone = decision.missing(_spec(filters=refused), window=_window(), reason_code=decision.NO_SNAPSHOT,
                            reason_message="none")
    assert gone.reason_code == "no_snapshot"


def test_a_filtered_candidate_takes_no_risk_budget_and_is_never_scored() -> None:
    """Filters come before the risk limits and the gate: with one open trade allowed, the refused
    first-ranked config leaves the slot to the next one; the gate sees only that one."""
    scored: list[str] = []

    def gate(group: str, features: Mapping[str, float]) -> GateScore:
        scored.append(group)
        return GateScore(allowed=True, reason="test", model_version="t-1", score=0.9)

    first = dataclasses.replace(_spec("first", priority=1, filters=EntryFilters(weekdays=(1, 2))), ml_group="first")
    second = dataclasses.replace(_spec("second", priority=2), ml_group="second")
    evaluations = [_evaluate(first), _evaluate(second)]
    verdicts = decision.decide_window(evaluations, {"live": BookState()}, gate=gate)
    assert [(v.action, v.reason_code) for v in verdicts] == [("SKIP", "entry_filter"), ("TRADE", "ok")]
    assert verdicts[0].reason_message.startswith("entry_weekdays: Wednesday (3)")
    assert verdicts[0].model_score is None and scored == ["second"]
    # Without the filter the first takes the one slot and the second is risk-limited.
    verdicts = decision.decide_window([_evaluate(_spec("first", priority=1)), _evaluate(second)], {"live": BookState()})
    assert [(v.action, v.reason_code) for v in verdicts] == [("TRADE", "ok"), ("SKIP", "risk_limit")]
