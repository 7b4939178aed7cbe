"""Cboe VIX methodology on any two expirations: the 30-day index and the 9-day variant.

Source: Cboe, "VIX White Paper" (2014/2019) and "Cboe Volatility Index Mathematics Methodology",
steps 1–3. Per term, with T = minutes to settlement / 525,600 and R the risk-free rate for T:

1. Forward: at the strike K* where |C − P| of the mid quotes is smallest,
   F = K* + e^{RT}·(C − P).
2. K0 = the listed strike equal to F or otherwise immediately below it.
3. Strip: out-of-the-money puts below K0, walking down from the strike under K0, and calls above
   K0, walking up; an option with a zero bid is excluded, and after two consecutive strikes with
   zero bids the walk stops (nothing further out is considered). At K0 both the put and the call
   are used: Q(K0) is the average of their mid quotes. Q(K) elsewhere is the mid quote.
4. ΔK_i = (K_{i+1} − K_{i−1}) / 2 over the strikes *in the strip* (so a skipped strike widens its
   neighbours' intervals — Cboe's worked example has ΔK = 7.5 at the near-term 1400 put because
   the 1405 put is skipped); at either end, the distance to the single neighbour.
5. σ² = (2/T)·Σ ΔK_i/K_i² · e^{RT} · Q(K_i) − (1/T)·(F/K0 − 1)².
6. Constant maturity, weights in minutes (N_T1 < N_target <= N_T2):
   index = 100·√{[T1σ1²·(N_T2 − N_t)/(N_T2 − N_T1) + T2σ2²·(N_t − N_T1)/(N_T2 − N_T1)]·N_365/N_t}
   with N_t = 43,200 for the 30-day VIX and 12,960 for the 9-day VIX9D; N_365 = 525,600.

Where the white paper is silent, our rules (tested, and reported in the result):

* Quote hygiene (reliability.md rows 33–36): a leg is *usable* when bid and ask are finite,
  bid > 0 and bid <= ask. Any other leg has no usable bid, so the strip walk treats it like a zero
  bid (excluded; counts toward the two-in-a-row stop). Every unusable leg is counted by reason in
  ``quote_issues`` ("nonfinite_quote", "negative_quote", "crossed_quote", "zero_bid"; rows with a
  non-finite or non-positive strike as "invalid_strike").
* K* must have both legs usable; ties in |C − P| go to the lowest strike. K0 is chosen among all
  listed strikes, and if its put or call is not usable the term is "not calculable"
  (``missing_k0_leg``) rather than silently moving K0.
* Duplicate strikes (e.g. SPX AM and SPXW PM rows of one date mixed together) make the term not
  calculable; unsorted strikes are sorted. A strip needs at least one put and one call beyond K0.
* A wing that runs out of listed strikes before two consecutive zero bids is flagged incomplete:
  the chain may have been cut by a strike window, so σ² is a lower bound (reliability.md row 44).
* The target maturity must lie within [N_T1, N_T2] unless ``allow_extrapolation=True``.

Pass one root per term (SPX or SPXW, never both) and the minutes from
``timemodel.calendar_minutes_to_settlement`` to match Cboe's minute count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

MINUTES_PER_YEAR: Final = 525_600.0
MINUTES_PER_DAY: Final = 1_440.0
VIX_TARGET_DAYS: Final = 30
VIX9D_TARGET_DAYS: Final = 9

# Reasons a term or index is not calculable.
VIX_OK: Final = "ok"
VIX_MISMATCHED_LENGTHS: Final = "mismatched_lengths"
VIX_NONPOSITIVE_TIME: Final = "nonpositive_time"
VIX_NONFINITE_RATE: Final = "nonfinite_rate"
VIX_EMPTY_CHAIN: Final = "empty_chain"
VIX_DUPLICATE_STRIKES: Final = "duplicate_strikes"
VIX_NO_TWO_SIDED_STRIKE: Final = "no_two_sided_strike"
VIX_NO_STRIKE_AT_OR_BELOW_FORWARD: Final = "no_strike_at_or_below_forward"
VIX_MISSING_K0_LEG: Final = "missing_k0_leg"
VIX_NO_OTM_PUTS: Final = "no_otm_puts"
VIX_NO_OTM_CALLS: Final = "no_otm_calls"
VIX_NONPOSITIVE_VARIANCE: Final = "nonpositive_variance"
VIX_SAME_SETTLEMENT: Final = "same_settlement"
VIX_TARGET_NOT_BRACKETED: Final = "target_not_bracketed"

# Per-leg quote problems counted in ``VixTerm.quote_issues``.
QUOTE_NONFINITE: Final = "nonfinite_quote"
QUOTE_NEGATIVE: Final = "negative_quote"
QUOTE_CROSSED: Final = "crossed_quote"
QUOTE_ZERO_BID: Final = "zero_bid"
QUOTE_INVALID_STRIKE: Final = "invalid_strike"


@dataclass(frozen=True)
class TermQuotes:
    """One expiration of one root: a strike table with call and put bid/ask (prices per share).

    strikes, call_bid, call_ask, put_bid, put_ask: 1-D, one row per strike (NaN = no quote)
    minutes_to_settlement: minutes from now to this expiration's settlement instant
    rate: continuously compounded annual risk-free rate for this term (0.045 = 4.5 %)
    """

    strikes: ArrayLike
    call_bid: ArrayLike
    call_ask: ArrayLike
    put_bid: ArrayLike
    put_ask: ArrayLike
    minutes_to_settlement: float
    rate: float


def _empty() -> NDArray[np.float64]:
    return np.empty(0)


@dataclass(frozen=True)
class VixTerm:
    """One term of the VIX calculation and its intermediates.

    forward (F) and k0 in index points; forward_strike is K*; sigma2 is the term's annualised
    variance (0.04 = 20 % vol); t_years = minutes_to_settlement / 525,600. strikes, q_mid, delta_k,
    contributions (ΔK/K²·e^{RT}·Q) describe the strip, ascending; n_puts/n_calls count the OTM
    options in it (K0 excluded). put_wing_complete/call_wing_complete are False when a wing ran
    out of listed strikes before two consecutive zero bids (then sigma2 is a lower bound).
    quote_issues counts unusable legs in the whole input by reason.
    """

    calculable: bool
    reason: str
    minutes_to_settlement: float
    t_years: float
    rate: float
    forward: float = math.nan
    forward_strike: float = math.nan
    k0: float = math.nan
    sigma2: float = math.nan
    strikes: NDArray[np.float64] = field(default_factory=_empty, repr=False)
    q_mid: NDArray[np.float64] = field(default_factory=_empty, repr=False)
    delta_k: NDArray[np.float64] = field(default_factory=_empty, repr=False)
    contributions: NDArray[np.float64] = field(default_factory=_empty, repr=False)
    n_puts: int = 0
    n_calls: int = 0
    put_wing_complete: bool = False
    call_wing_complete: bool = False
    quote_issues: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when both wings ended by the two-zero-bids rule (no sign of a truncated chain)."""
        return self.put_wing_complete and self.call_wing_complete


@dataclass(frozen=True)
class VixResult:
    """A constant-maturity VIX-style index and everything it was built from.

    index: 100 × annualised volatility (NaN unless calculable); target_days: 30 for VIX, 9 for
    VIX9D; near/next: the two terms (near has fewer minutes); near_weight/next_weight: the
    minute-based interpolation weights; complete: False when either term's strip may be truncated
    (the index is then a lower bound); extrapolated: the target lay outside the two terms.
    """

    index: float
    calculable: bool
    reason: str
    target_days: float
    near: VixTerm
    next: VixTerm
    near_weight: float = math.nan
    next_weight: float = math.nan
    complete: bool = False
    extrapolated: bool = False


def _leg_issue(bid: NDArray[np.float64], ask: NDArray[np.float64]) -> NDArray[np.str_]:
    """Per-leg reason code: "" when usable (finite, bid > 0, bid <= ask), else the first problem."""
    issue = np.full(bid.shape, "", dtype="<U16")
    with np.errstate(invalid="ignore"):
        nonfinite = ~(np.isfinite(bid) & np.isfinite(ask))
        negative = ~nonfinite & ((bid < 0) | (ask < 0))
        crossed = ~nonfinite & ~negative & (bid > ask)
        zero_bid = ~nonfinite & ~negative & ~crossed & (bid == 0)
    issue[zero_bid] = QUOTE_ZERO_BID
    issue[crossed] = QUOTE_CROSSED
    issue[negative] = QUOTE_NEGATIVE
    issue[nonfinite] = QUOTE_NONFINITE
    return issue


def _walk(usable: NDArray[np.bool_], order: range) -> tuple[list[int], bool]:
    """Cboe strip walk over ``order`` (indices moving away from K0).

    Returns (included indices, stopped_by_rule): skip a leg without a usable bid; stop after two
    consecutive such strikes.
    """
    included: list[int] = []
    zero_run = 0
    for i in order:
        if usable[i]:
            included.append(i)
            zero_run = 0
        else:
            zero_run += 1
            if zero_run == 2:
                return included, True
    return included, False


def delta_k(strikes: ArrayLike) -> NDArray[np.float64]:
    """Cboe ΔK for an ascending strip: half the gap between neighbours; ends use one neighbour."""
    k = np.asarray(strikes, dtype=np.float64)
    if k.size < 2:
        return np.full(k.shape, np.nan)
    dk = np.empty_like(k)
    dk[1:-1] = 0.5 * (k[2:] - k[:-2])
    dk[0] = k[1] - k[0]
    dk[-1] = k[-1] - k[-2]
    return dk


def vix_term(quotes: TermQuotes) -> VixTerm:
    """σ² of one term by Cboe's steps 1–2 (module docstring), with every intermediate.

    Never raises on bad data: an unusable chain gives ``calculable=False`` and a ``reason``.
    """
    minutes = float(quotes.minutes_to_settlement)
    rate = float(quotes.rate)
    t = minutes / MINUTES_PER_YEAR if math.isfinite(minutes) else math.nan

    def refuse(
        reason: str,
        issues: dict[str, int] | None = None,
        forward: float = math.nan,
        forward_strike: float = math.nan,
        k0: float = math.nan,
    ) -> VixTerm:
        return VixTerm(
            calculable=False,
            reason=reason,
            minutes_to_settlement=minutes,
            t_years=t,
            rate=rate,
            forward=forward,
            forward_strike=forward_strike,
            k0=k0,
            quote_issues=issues or {},
        )

    cols = [
        np.asarray(a, dtype=np.float64).ravel()
        for a in (quotes.strikes, quotes.call_bid, quotes.call_ask, quotes.put_bid, quotes.put_ask)
    ]
    if len({c.size for c in cols}) != 1:
        return refuse(VIX_MISMATCHED_LENGTHS)
    if not (math.isfinite(minutes) and minutes > 0):
        return refuse(VIX_NONPOSITIVE_TIME)
    if not math.isfinite(rate):
        return refuse(VIX_NONFINITE_RATE)
    k, cb, ca, pb, pa = cols
    if k.size == 0:
        return refuse(VIX_EMPTY_CHAIN)

    issues: dict[str, int] = {}
    with np.errstate(invalid="ignore"):
        good_strike = np.isfinite(k) & (k > 0)
    if (~good_strike).any():
        issues[QUOTE_INVALID_STRIKE] = int((~good_strike).sum())
    k, cb, ca, pb, pa = (c[good_strike] for c in (k, cb, ca, pb, pa))
    if k.size == 0:
        return refuse(VIX_EMPTY_CHAIN, issues)
    if np.unique(k).size != k.size:
        return refuse(VIX_DUPLICATE_STRIKES, issues)
    order = np.argsort(k, kind="stable")
    k, cb, ca, pb, pa = (c[order] for c in (k, cb, ca, pb, pa))

    call_issue, put_issue = _leg_issue(cb, ca), _leg_issue(pb, pa)
    for code in (QUOTE_NONFINITE, QUOTE_NEGATIVE, QUOTE_CROSSED, QUOTE_ZERO_BID):
        n = int((call_issue == code).sum() + (put_issue == code).sum())
        if n:
            issues[code] = n
    call_ok, put_ok = call_issue == "", put_issue == ""
    with np.errstate(invalid="ignore"):
        call_mid = np.where(call_ok, 0.5 * (cb + ca), np.nan)
        put_mid = np.where(put_ok, 0.5 * (pb + pa), np.nan)

    # Step 1: forward from the strike with the smallest |C − P| (both legs usable).
    both = np.flatnonzero(call_ok & put_ok)
    if both.size == 0:
        return refuse(VIX_NO_TWO_SIDED_STRIKE, issues)
    diff = call_mid[both] - put_mid[both]
    i_star = both[np.lexsort((k[both], np.abs(diff)))[0]]
    growth = math.exp(rate * t)  # e^{RT}
    forward = float(k[i_star] + growth * (call_mid[i_star] - put_mid[i_star]))

    # K0: the listed strike at or immediately below F.
    at_or_below = np.flatnonzero(k <= forward)
    if at_or_below.size == 0:
        return refuse(VIX_NO_STRIKE_AT_OR_BELOW_FORWARD, issues, forward, float(k[i_star]))
    i0 = int(at_or_below[-1])
    k0 = float(k[i0])
    k_star = float(k[i_star])
    if not (call_ok[i0] and put_ok[i0]):
        return refuse(VIX_MISSING_K0_LEG, issues, forward, k_star, k0)

    # Step 1 (cont.): the out-of-the-money strip, walking away from K0.
    puts, put_done = _walk(put_ok, range(i0 - 1, -1, -1))
    calls, call_done = _walk(call_ok, range(i0 + 1, k.size))
    if not puts:
        return refuse(VIX_NO_OTM_PUTS, issues, forward, k_star, k0)
    if not calls:
        return refuse(VIX_NO_OTM_CALLS, issues, forward, k_star, k0)
    idx = np.array([*puts[::-1], i0, *calls])
    strip_k = k[idx]
    q = np.concatenate([put_mid[puts[::-1]], [0.5 * (put_mid[i0] + call_mid[i0])], call_mid[calls]])

    # Step 2: the term's variance.
    dk = delta_k(strip_k)
    contributions = dk / strip_k**2 * growth * q
    sigma2 = float(2.0 / t * contributions.sum() - (forward / k0 - 1.0) ** 2 / t)
    ok = math.isfinite(sigma2) and sigma2 > 0
    return VixTerm(
        calculable=ok,
        reason=VIX_OK if ok else VIX_NONPOSITIVE_VARIANCE,
        minutes_to_settlement=minutes,
        t_years=t,
        rate=rate,
        forward=forward,
        forward_strike=k_star,
        k0=k0,
        sigma2=sigma2,
        strikes=strip_k,
        q_mid=q,
        delta_k=dk,
        contributions=contributions,
        n_puts=len(puts),
        n_calls=len(calls),
        put_wing_complete=put_done,
        call_wing_complete=call_done,
        quote_issues=issues,
    )


def vix_from_terms(
    near: VixTerm, next_: VixTerm, *, target_days: float = VIX_TARGET_DAYS, allow_extrapolation: bool = False
) -> VixResult:
    """Cboe step 3: interpolate two computed terms to ``target_days`` (weights in minutes).

    The term with fewer minutes is taken as the near term whichever order they are passed in.
    """
    if near.minutes_to_settlement > next_.minutes_to_settlement:
        near, next_ = next_, near
    target_minutes = float(target_days) * MINUTES_PER_DAY

    def refuse(reason: str) -> VixResult:
        return VixResult(math.nan, False, reason, float(target_days), near, next_)

    if not near.calculable:
        return refuse(f"near:{near.reason}")
    if not next_.calculable:
        return refuse(f"next:{next_.reason}")
    n1, n2 = near.minutes_to_settlement, next_.minutes_to_settlement
    if n1 == n2:
        return refuse(VIX_SAME_SETTLEMENT)
    extrapolated = not (n1 <= target_minutes <= n2)
    if extrapolated and not allow_extrapolation:
        return refuse(VIX_TARGET_NOT_BRACKETED)
    w1 = (n2 - target_minutes) / (n2 - n1)
    w2 = (target_minutes - n1) / (n2 - n1)
    variance = (near.t_years * near.sigma2 * w1 + next_.t_years * next_.sigma2 * w2) * MINUTES_PER_YEAR / target_minutes
    if not (math.isfinite(variance) and variance > 0):
        return refuse(VIX_NONPOSITIVE_VARIANCE)
    return VixResult(
        index=100.0 * math.sqrt(variance),
        calculable=True,
        reason=VIX_OK,
        target_days=float(target_days),
        near=near,
        next=next_,
        near_weight=w1,
        next_weight=w2,
        complete=near.complete and next_.complete,
        extrapolated=extrapolated,
    )


def vix_index(
    near: TermQuotes, next_: TermQuotes, *, target_days: float = VIX_TARGET_DAYS, allow_extrapolation: bool = False
) -> VixResult:
    """VIX-style constant-maturity index (100 × vol) from two expirations' quote tables.

    ``target_days`` = 30 gives the VIX methodology, 9 the VIX9D variant (``vix9d_index``). Returns
    the index with F, K0 and σ² per term; ``calculable=False`` with ``reason`` (prefixed "near:" or
    "next:" for a term's own failure) when the chains cannot support it. Source: Cboe VIX white
    paper / VIX Mathematics Methodology.
    """
    return vix_from_terms(
        vix_term(near), vix_term(next_), target_days=target_days, allow_extrapolation=allow_extrapolation
    )


def vix9d_index(near: TermQuotes, next_: TermQuotes, *, allow_extrapolation: bool = False) -> VixResult:
    """The 9-day variant (Cboe VIX9D): ``vix_index`` with a 12,960-minute target."""
    return vix_index(near, next_, target_days=VIX9D_TARGET_DAYS, allow_extrapolation=allow_extrapolation)
