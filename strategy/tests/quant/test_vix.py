"""Cboe VIX methodology: Cboe's worked example, a flat-volatility chain, and every rule on its own."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from strategy.quant import vix
from strategy.quant.vix import TermQuotes, VixTerm, delta_k, vix9d_index, vix_from_terms, vix_index, vix_term
from strategy.tests.quant.chains import flat_vol_chain, white_paper_term

# ---- Cboe's worked example ----------------------------------------------------------------------
# Quotes: the white paper's appendix (strategy/tests/quant/data). Time 9:46 a.m. CT; near term
# AM-settled in 854 + 510 + 34,560 minutes, next term PM-settled in 854 + 900 + 44,640 minutes.
# Published: F1 = 1962.89996, F2 = 1962.40006, K0 = 1960 for both, σ1² = 0.01846292,
# σ2² = 0.01882101, VIX = 13.685821 (2014 white paper); the current methodology document reruns
# the same quotes with 34,484 / 44,954 minutes and rates 0.031664 % / 0.028797 %:
# σ1² = 0.019233906, σ2² = 0.019423884, VIX = 13.927842.


def _wp_2014() -> tuple[VixTerm, VixTerm]:
    return (
        vix_term(white_paper_term("near", 854 + 510 + 34_560, 0.000305)),
        vix_term(white_paper_term("next", 854 + 900 + 44_640, 0.000286)),
    )


def test_reproduces_the_white_paper_example() -> None:
    near, nxt = _wp_2014()
    assert near.calculable and nxt.calculable and near.complete and nxt.complete
    assert near.forward_strike == 1965.0 and nxt.forward_strike == 1960.0
    assert near.forward == pytest.approx(1962.89996, abs=5e-6)
    assert nxt.forward == pytest.approx(1962.40006, abs=5e-6)
    assert near.k0 == 1960.0 and nxt.k0 == 1960.0
    assert near.sigma2 == pytest.approx(0.01846292, abs=5e-9)
    assert nxt.sigma2 == pytest.approx(0.01882101, abs=5e-9)
    # The strips end where two consecutive zero bids stop the walk.
    assert (near.strikes[0], near.strikes[-1]) == (1370.0, 2125.0)
    assert (nxt.strikes[0], nxt.strikes[-1]) == (1275.0, 2200.0)
    result = vix_from_terms(near, nxt)
    assert result.calculable and result.complete and not result.extrapolated
    assert result.index == pytest.approx(13.685821, abs=5e-7)


def test_reproduces_the_methodology_document_rerun() -> None:
    near = vix_term(white_paper_term("near", 34_484, 0.00031664))
    nxt = vix_term(white_paper_term("next", 44_954, 0.00028797))
    assert near.sigma2 == pytest.approx(0.019233906, abs=5e-10)
    assert nxt.sigma2 == pytest.approx(0.019423884, abs=5e-10)
    assert vix_from_terms(near, nxt).index == pytest.approx(13.927842, abs=5e-7)


def test_delta_k_spans_a_skipped_strike_in_the_example() -> None:
    # Near term: the 1405 and 1415 puts have zero bids (not consecutive) and are skipped, so the
    # 1400 put spans (1410 − 1395)/2 and the 1410 put spans (1420 − 1400)/2.
    near, _ = _wp_2014()
    dk = dict(zip(near.strikes.tolist(), near.delta_k.tolist(), strict=True))
    assert 1405.0 not in dk and 1415.0 not in dk
    assert dk[1400.0] == 7.5 and dk[1410.0] == 10.0
    assert dk[1370.0] == 5.0  # lowest strike: distance to its one neighbour
    assert dk[2125.0] == 25.0  # highest: 2125 − 2100, the 2120 call having no bid


# ---- a chain whose every strike has one volatility ---------------------------------------------


@pytest.mark.parametrize("sigma", [0.10, 0.20, 0.50])
def test_flat_volatility_chain_gives_100_sigma(sigma: float) -> None:
    near = flat_vol_chain(sigma=sigma, days=25).term()
    nxt = flat_vol_chain(sigma=sigma, days=32).term()
    result = vix_index(near, nxt)
    assert result.calculable and result.reason == "ok"
    assert result.index == pytest.approx(100 * sigma, rel=2e-3)
    assert result.near.sigma2 == pytest.approx(sigma**2, rel=4e-3)
    assert result.near_weight + result.next_weight == pytest.approx(1.0)
    assert result.near.forward == pytest.approx(5000.0, abs=1e-6)


def test_nine_day_variant_on_a_flat_chain() -> None:
    result = vix9d_index(flat_vol_chain(sigma=0.2, days=7).term(), flat_vol_chain(sigma=0.2, days=14).term())
    assert result.calculable and result.target_days == 9
    assert result.index == pytest.approx(20.0, rel=2e-3)
    # Weights in minutes: (N2 − N9)/(N2 − N1) = (14 − 9)/(14 − 7).
    assert result.near_weight == pytest.approx(5 / 7) and result.next_weight == pytest.approx(2 / 7)


def test_terms_passed_in_either_order() -> None:
    a, b = flat_vol_chain(days=25).term(), flat_vol_chain(days=32).term()
    assert vix_index(b, a).index == vix_index(a, b).index


# ---- each rule on its own ----------------------------------------------------------------------


def _near() -> TermQuotes:
    return flat_vol_chain(sigma=0.2, days=25).term()


def _with(term: TermQuotes, **cols: Any) -> TermQuotes:
    return dataclasses.replace(term, **cols)


def _rows(term: TermQuotes, index: Any) -> TermQuotes:
    """The same term with its strike rows selected, reordered or repeated by ``index``."""
    k, cb, ca, pb, pa = (
        np.asarray(a)[index] for a in (term.strikes, term.call_bid, term.call_ask, term.put_bid, term.put_ask)
    )
    return TermQuotes(k, cb, ca, pb, pa, term.minutes_to_settlement, term.rate)


def _put_strip(term: VixTerm) -> np.ndarray:
    return term.strikes[term.strikes < term.k0]


def _call_strip(term: VixTerm) -> np.ndarray:
    return term.strikes[term.strikes > term.k0]


def test_forward_comes_from_the_strike_with_the_smallest_call_put_difference() -> None:
    q = _near()
    t = vix_term(q)
    k, cb, ca, pb, pa = (np.asarray(a) for a in (q.strikes, q.call_bid, q.call_ask, q.put_bid, q.put_ask))
    diff = (cb + ca) / 2 - (pb + pa) / 2
    i = int(np.argmin(np.abs(diff)))
    assert t.forward_strike == k[i]
    assert t.forward == pytest.approx(k[i] + math.exp(q.rate * t.t_years) * diff[i], abs=1e-12)
    assert t.k0 == k[k <= t.forward].max()


def test_two_consecutive_zero_bids_stop_the_walk() -> None:
    q = _near()
    k, pb, cb = np.asarray(q.strikes), np.asarray(q.put_bid).copy(), np.asarray(q.call_bid).copy()
    pb[(k == 4500) | (k == 4495)] = 0.0  # two in a row below K0; bids continue further down
    cb[(k == 5500) | (k == 5505)] = 0.0
    t = vix_term(_with(q, put_bid=pb, call_bid=cb))
    assert t.calculable and t.put_wing_complete and t.call_wing_complete
    assert _put_strip(t).min() == 4505.0  # nothing below the pair, though 4490 and below have bids
    assert _call_strip(t).max() == 5495.0
    full = vix_term(q)
    assert t.sigma2 < full.sigma2  # the cut tails only ever remove variance


def test_a_lone_zero_bid_is_skipped_and_the_walk_goes_on() -> None:
    q = _near()
    k, pb = np.asarray(q.strikes), np.asarray(q.put_bid).copy()
    pb[k == 4800] = 0.0
    t = vix_term(_with(q, put_bid=pb))
    full = vix_term(q)
    puts = _put_strip(t)
    assert 4800.0 not in puts and 4795.0 in puts
    assert puts.min() == _put_strip(full).min()  # the walk did not stop
    assert t.quote_issues["zero_bid"] == full.quote_issues["zero_bid"] + 1


def test_delta_k_across_skipped_strikes() -> None:
    q = _near()
    k, pb = np.asarray(q.strikes), np.asarray(q.put_bid).copy()
    pb[k == 4800] = 0.0
    t = vix_term(_with(q, put_bid=pb))
    dk = dict(zip(t.strikes.tolist(), t.delta_k.tolist(), strict=True))
    assert dk[4805.0] == 7.5 and dk[4795.0] == 7.5 and dk[4790.0] == 5.0
    np.testing.assert_allclose(
        t.contributions, t.delta_k / t.strikes**2 * math.exp(q.rate * t.t_years) * t.q_mid, rtol=1e-15
    )
    expected = 2 / t.t_years * t.contributions.sum() - (t.forward / t.k0 - 1) ** 2 / t.t_years
    assert t.sigma2 == pytest.approx(expected, rel=1e-14)


def test_delta_k_function() -> None:
    np.testing.assert_allclose(delta_k([100.0, 105.0, 115.0, 140.0]), [5.0, 7.5, 17.5, 25.0])
    np.testing.assert_allclose(delta_k([100.0, 110.0]), [10.0, 10.0])
    assert np.isnan(delta_k([100.0])).all()


def test_k0_equal_to_forward_has_no_correction_term() -> None:
    # Zero rate and an exact chain: at K = F = 5000 the call and put mids are equal, so F is a
    # listed strike and K0 = F.
    q = flat_vol_chain(sigma=0.2, days=25, rate=0.0).term()
    t = vix_term(q)
    assert t.forward == 5000.0 and t.k0 == 5000.0
    assert t.sigma2 == pytest.approx(2 / t.t_years * t.contributions.sum(), rel=1e-15)
    i0 = int(np.flatnonzero(t.strikes == 5000.0)[0])
    k = np.asarray(q.strikes) == 5000.0
    call_mid = float((np.asarray(q.call_bid)[k] + np.asarray(q.call_ask)[k])[0] / 2)
    put_mid = float((np.asarray(q.put_bid)[k] + np.asarray(q.put_ask)[k])[0] / 2)
    assert t.q_mid[i0] == pytest.approx((call_mid + put_mid) / 2)  # K0 uses the put/call average


@pytest.mark.parametrize(
    "leg, bad",
    [
        ("call_bid", 0.0),
        ("put_bid", 0.0),
        ("call_bid", math.nan),
        ("put_bid", math.nan),
        ("call_ask", math.nan),
        ("put_ask", math.nan),
    ],
)
def test_missing_k0_leg_is_not_calculable(leg: str, bad: float) -> None:
    q = _near()
    k0 = vix_term(q).k0
    col = np.asarray(getattr(q, leg)).copy()
    col[np.asarray(q.strikes) == k0] = bad
    broken = _with(q, **{leg: col})
    t = vix_term(broken)
    assert not t.calculable and t.reason == "missing_k0_leg" and t.k0 == k0
    result = vix_index(broken, flat_vol_chain(days=32).term())
    assert not result.calculable and result.reason == "near:missing_k0_leg" and math.isnan(result.index)


def test_crossed_negative_nonfinite_and_zero_quotes_are_excluded_and_counted() -> None:
    q = _near()
    k = np.asarray(q.strikes)
    pb, pa = np.asarray(q.put_bid).copy(), np.asarray(q.put_ask).copy()
    cb, ca = np.asarray(q.call_bid).copy(), np.asarray(q.call_ask).copy()
    pb[k == 4700], pa[k == 4700] = 3.0, 2.0  # crossed
    pb[k == 4600], pa[k == 4600] = 0.0, 0.0  # bid = ask = 0
    pb[k == 4650] = -0.1  # negative
    cb[k == 5300] = math.inf  # non-finite
    t = vix_term(_with(q, put_bid=pb, put_ask=pa, call_bid=cb, call_ask=ca))
    full = vix_term(q)
    assert t.calculable and math.isfinite(t.sigma2) and t.sigma2 > 0
    for strike in (4700.0, 4600.0, 4650.0, 5300.0):
        assert strike not in t.strikes
    assert t.quote_issues["crossed_quote"] == 1
    assert t.quote_issues["negative_quote"] == 1
    assert t.quote_issues["nonfinite_quote"] == 1
    assert t.quote_issues["zero_bid"] == full.quote_issues["zero_bid"] + 1
    assert np.all(t.q_mid > 0)


def test_duplicate_strikes_are_not_calculable() -> None:
    q = _near()
    n = np.asarray(q.strikes).size
    doubled = _rows(q, np.concatenate([np.arange(n), np.arange(n)]))
    t = vix_term(doubled)
    assert not t.calculable and t.reason == "duplicate_strikes"


def test_unsorted_strikes_are_sorted() -> None:
    q = _near()
    perm = np.random.default_rng(0).permutation(np.asarray(q.strikes).size)
    shuffled = _rows(q, perm)
    assert vix_term(shuffled).sigma2 == vix_term(q).sigma2


@pytest.mark.parametrize(
    "strikes, cb, ca, pb, pa, minutes, reason",
    [
        ([], [], [], [], [], 30 * 1440, "empty_chain"),
        ([5000.0], [50.0], [51.0], [49.0], [50.0], 30 * 1440, "no_otm_puts"),
        ([math.nan], [1.0], [1.1], [1.0], [1.1], 30 * 1440, "empty_chain"),
        ([4990.0, 5000.0], [60.0, 50.0], [61.0, 51.0], [45.0, 49.0], [46.0, 50.0], 30 * 1440, "no_otm_calls"),
        ([5000.0, 5010.0], [50.0, 45.0], [51.0, 46.0], [49.0], [50.0], 30 * 1440, "mismatched_lengths"),
        ([5000.0, 5010.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0], 30 * 1440, "no_two_sided_strike"),
        ([5000.0, 5010.0], [50.0, 45.0], [51.0, 46.0], [49.0, 53.0], [50.0, 54.0], 0.0, "nonpositive_time"),
        (
            [5000.0, 5010.0],
            [50.0, 45.0],
            [51.0, 46.0],
            [70.0, 72.0],
            [71.0, 73.0],
            30 * 1440,
            "no_strike_at_or_below_forward",
        ),
    ],
)
def test_unusable_chains_say_why(
    strikes: list[float],
    cb: list[float],
    ca: list[float],
    pb: list[float],
    pa: list[float],
    minutes: float,
    reason: str,
) -> None:
    t = vix_term(TermQuotes(strikes, cb, ca, pb, pa, minutes, 0.04))
    assert not t.calculable and t.reason == reason and math.isnan(t.sigma2)


def test_chain_truncated_by_a_strike_window_is_flagged_as_a_lower_bound() -> None:
    q = _near()
    k = np.asarray(q.strikes)
    window = (k >= 4700) & (k <= 5300)
    cut = _rows(q, window)
    t, full = vix_term(cut), vix_term(q)
    assert t.calculable and not t.put_wing_complete and not t.call_wing_complete and not t.complete
    assert full.complete and t.sigma2 < full.sigma2
    result = vix_index(cut, flat_vol_chain(days=32).term())
    assert result.calculable and not result.complete
    assert result.index < vix_index(q, flat_vol_chain(days=32).term()).index


def test_target_outside_the_two_terms_is_refused_unless_extrapolation_is_allowed() -> None:
    a, b = flat_vol_chain(days=31).term(), flat_vol_chain(days=38).term()
    refused = vix_index(a, b)
    assert not refused.calculable and refused.reason == "target_not_bracketed"
    allowed = vix_index(a, b, allow_extrapolation=True)
    assert allowed.calculable and allowed.extrapolated
    assert allowed.index == pytest.approx(20.0, rel=3e-3)


def test_same_settlement_is_refused() -> None:
    a = flat_vol_chain(days=30).term()
    result = vix_index(a, a)
    assert not result.calculable and result.reason == "same_settlement"


def test_reason_codes_are_exported() -> None:
    assert vix.VIX_MISSING_K0_LEG == "missing_k0_leg" and vix.QUOTE_ZERO_BID == "zero_bid"
