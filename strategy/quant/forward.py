"""Implied forward and discount factor of one expiration from put–call parity.

For European options on one expiration (SPX/SPXW are European and cash-settled):

    C(K) − P(K) = D·(F − K) = D·F − D·K

so C − P is linear in the strike with slope −D and intercept D·F. One weighted least-squares line
through near-the-money two-sided quotes gives both. OPRA carries no index prints, so this is how
the backtester knows where SPX is (``shared/design.md`` "Option math").

Use one series per call: an expiration date *and* a root. SPX (AM-settled, 09:30 ET) and SPXW
(PM-settled, 16:00 ET) series on the same date settle on different index values and must never be
mixed (reliability.md row 39); a chain holding both shows up here as duplicate strikes, which is
refused rather than averaged.

Selection and weights (our choices, stated so results are reproducible):

1. A strike is usable when both mids are finite and > 0, and — if spreads are given — both
   spreads are finite and >= 0. Anything else (missing, one-sided, crossed upstream) is skipped
   and counted in ``n_excluded``.
2. The first guess of F is Cboe's: the strike with the smallest |C − P| plus that difference
   (ties: the lowest such strike). The ``max_strikes`` usable strikes nearest that guess are kept.
3. Weights are 1 / (var_C + var_P) with var = (max(spread, min_spread) / 2)², i.e. each mid is
   treated as uncertain by half its quoted width (inverse-variance weighting); equal weights when
   no spreads are given.
4. After a first fit, points whose standardised residual exceeds ``outlier_z`` robust standard
   deviations (1.4826 × MAD) are dropped once and the line refitted, if at least ``min_strikes``
   remain.

Source: Hull, *Options, Futures and Other Derivatives*, put–call parity (ch. 11 / 17); the first
guess follows the Cboe VIX methodology (forward from the strike with min |C − P|).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

SPX_TICK = 0.05  # minimum SPX price increment below 3.00; the floor on a quoted width

FORWARD_OK = "ok"
FORWARD_MISMATCHED_LENGTHS = "mismatched_lengths"
FORWARD_DUPLICATE_STRIKES = "duplicate_strikes"
FORWARD_TOO_FEW_STRIKES = "too_few_two_sided_strikes"
FORWARD_DEGENERATE = "degenerate_strikes"  # all kept strikes equal: no slope
FORWARD_NONPOSITIVE_DISCOUNT = "nonpositive_discount"
FORWARD_NONPOSITIVE_FORWARD = "nonpositive_forward"


@dataclass(frozen=True)
class ForwardFit:
    """Implied forward and discount of one expiration and root, with fit quality.

    forward: F in index points (NaN unless ``ok``)
    discount: D = e^{−rT}, dimensionless (NaN unless ``ok``); fixed to the input when given
    r_squared: weighted R² of C − P on K over the strikes used (NaN when D was fixed or with
        fewer than 3 strikes)
    residual_rms: weighted root-mean-square residual of C − P, in index points (price per share)
    forward_se, discount_se: standard errors from the residual scatter (delta method for F;
        NaN when the residuals leave no degrees of freedom); discount_se is 0 when D was fixed
    n_used: strikes in the final fit; n_two_sided: usable two-sided strikes in the input;
    n_excluded: input rows skipped (missing, one-sided, invalid); n_outliers: rows dropped by the
        robust refit
    strikes_used: the strikes in the final fit, ascending
    ok / reason: ``reason`` is one of the ``FORWARD_*`` codes ("ok" when fitted)
    """

    forward: float
    discount: float
    r_squared: float
    residual_rms: float
    forward_se: float
    discount_se: float
    n_used: int
    n_two_sided: int
    n_excluded: int
    n_outliers: int
    strikes_used: NDArray[np.float64] = field(repr=False)
    ok: bool
    reason: str

    def rate(self, t_years: float) -> float:
        """Continuously compounded rate implied by D over ``t_years``: −ln(D)/T (NaN if undefined)."""
        if not (self.ok and t_years > 0 and self.discount > 0):
            return math.nan
        return -math.log(self.discount) / t_years


def _failed(reason: str, n_two_sided: int = 0, n_excluded: int = 0) -> ForwardFit:
    return ForwardFit(
        forward=math.nan,
        discount=math.nan,
        r_squared=math.nan,
        residual_rms=math.nan,
        forward_se=math.nan,
        discount_se=math.nan,
        n_used=0,
        n_two_sided=n_two_sided,
        n_excluded=n_excluded,
        n_outliers=0,
        strikes_used=np.empty(0),
        ok=False,
        reason=reason,
    )


def _median(x: NDArray[np.float64]) -> float:
    """``np.median`` of a short finite vector, bit for bit (the middle value, or the mean of the two
    middle values as (a + b) / 2), without its general-purpose overhead (it runs three times a fit)."""
    s = np.sort(x)
    n = s.size
    if n == 0 or math.isnan(s[-1]):  # NaN sorts last; np.median gives NaN then
        return math.nan
    half = n // 2
    return float(s[half]) if n % 2 else float((s[half - 1] + s[half]) / 2.0)


def _wls_line(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[float, float, NDArray[np.float64]]:
    """Weighted least squares y ≈ a + b·x; returns (a, b, residuals). x is centred by the caller."""
    sw = w.sum()
    xm = float((w * x).sum() / sw)
    ym = float((w * y).sum() / sw)
    sxx = float((w * (x - xm) ** 2).sum())
    if sxx <= 0.0:
        return math.nan, math.nan, np.full(x.shape, np.nan)
    b = float((w * (x - xm) * (y - ym)).sum() / sxx)
    a = ym - b * xm
    return a, b, y - (a + b * x)


def implied_forward(
    strikes: ArrayLike,
    call_mid: ArrayLike,
    put_mid: ArrayLike,
    *,
    call_spread: ArrayLike | None = None,
    put_spread: ArrayLike | None = None,
    discount: float | None = None,
    max_strikes: int = 40,
    min_strikes: int = 3,
    min_spread: float = SPX_TICK,
    outlier_z: float = 5.0,
) -> ForwardFit:
    """Fit C − P = D·(F − K) over near-the-money two-sided quotes of one expiration and root.

    Args (1-D arrays of one length, prices per share, NaN = no quote):
        strikes: index points; call_mid, put_mid: mid prices; call_spread, put_spread: ask − bid,
        used for weights (module docstring). ``discount``: if given, D is fixed and only F is
        estimated (weighted mean of K + (C − P)/D). ``max_strikes``: how many usable strikes
        nearest the first forward guess to keep; ``min_strikes``: fewest acceptable.

    Never raises on bad data: an unusable chain returns ``ok=False`` with a ``reason``.
    """
    k = np.asarray(strikes, dtype=np.float64).ravel()
    c = np.asarray(call_mid, dtype=np.float64).ravel()
    p = np.asarray(put_mid, dtype=np.float64).ravel()
    spreads_given = call_spread is not None and put_spread is not None
    cs = np.asarray(call_spread, dtype=np.float64).ravel() if call_spread is not None else np.zeros_like(k)
    ps = np.asarray(put_spread, dtype=np.float64).ravel() if put_spread is not None else np.zeros_like(k)
    if not (k.size == c.size == p.size == cs.size == ps.size):
        return _failed(FORWARD_MISMATCHED_LENGTHS)

    with np.errstate(invalid="ignore"):
        usable = np.isfinite(k) & (k > 0) & np.isfinite(c) & (c > 0) & np.isfinite(p) & (p > 0)
        usable &= np.isfinite(cs) & (cs >= 0) & np.isfinite(ps) & (ps >= 0)
    n_two_sided = int(usable.sum())
    n_excluded = int(k.size - n_two_sided)
    k, c, p, cs, ps = k[usable], c[usable], p[usable], cs[usable], ps[usable]
    if np.unique(k).size != k.size:
        return _failed(FORWARD_DUPLICATE_STRIKES, n_two_sided, n_excluded)
    needed = 1 if discount is not None else max(min_strikes, 2)
    if k.size < needed:
        return _failed(FORWARD_TOO_FEW_STRIKES, n_two_sided, n_excluded)
    if discount is not None and not (math.isfinite(discount) and discount > 0):
        return _failed(FORWARD_NONPOSITIVE_DISCOUNT, n_two_sided, n_excluded)

    diff = c - p
    order = np.lexsort((k, np.abs(diff)))  # smallest |C − P| first, ties to the lowest strike
    k_star = k[order[0]]
    f_guess = k_star + diff[order[0]] / (discount if discount is not None else 1.0)
    keep = np.argsort(np.abs(k - f_guess), kind="stable")[: max(max_strikes, needed)]
    keep.sort()
    k, diff, cs, ps = k[keep], diff[keep], cs[keep], ps[keep]

    if spreads_given:
        half_c = np.maximum(cs, min_spread) / 2.0
        half_p = np.maximum(ps, min_spread) / 2.0
        w = 1.0 / (half_c**2 + half_p**2)
    else:
        w = np.ones_like(k)

    def fit(mask: NDArray[np.bool_]) -> tuple[float, float, NDArray[np.float64]]:
        """(D, F, residuals of C − P) over ``mask``; the strike axis is centred on f_guess."""
        x = k[mask] - f_guess
        if discount is not None:
            d_fixed = float(discount)
            f_hat = f_guess + float((w[mask] * (x + diff[mask] / d_fixed)).sum() / w[mask].sum())
            return d_fixed, f_hat, diff[mask] - d_fixed * (f_hat - k[mask])
        a, b, resid = _wls_line(x, diff[mask], w[mask])
        d_hat = -b
        return d_hat, (f_guess + a / d_hat) if d_hat != 0 else math.nan, resid

    mask = np.ones(k.size, dtype=bool)
    d_hat, f_hat, resid = fit(mask)
    if discount is None and not math.isfinite(d_hat):
        return _failed(FORWARD_DEGENERATE, n_two_sided, n_excluded)

    # One robust pass: standardised residuals against a MAD scale, so a stale or fat-fingered
    # quote cannot drag the line; skipped when the fit is already exact (scale 0).
    z = resid * np.sqrt(w[mask])
    dev = np.abs(z - _median(z))
    scale = 1.4826 * _median(dev)
    n_outliers = 0
    if scale > 0.0:
        outlier = dev > outlier_z * scale
        if outlier.any() and (~outlier).sum() >= needed:
            n_outliers = int(outlier.sum())
            mask = ~outlier
            d_hat, f_hat, resid = fit(mask)

    if not (math.isfinite(d_hat) and d_hat > 0):
        return _failed(FORWARD_NONPOSITIVE_DISCOUNT, n_two_sided, n_excluded)
    if not (math.isfinite(f_hat) and f_hat > 0):
        return _failed(FORWARD_NONPOSITIVE_FORWARD, n_two_sided, n_excluded)

    wm = w[mask]
    n_used = int(mask.sum())
    sum_w = float(wm.sum())
    ss_res = float((wm * resid**2).sum())
    residual_rms = math.sqrt(ss_res / sum_w)
    r_squared = forward_se = discount_se = math.nan
    if discount is None:
        if n_used >= 3:
            y = diff[mask]
            ss_tot = float((wm * (y - (wm * y).sum() / sum_w) ** 2).sum())
            r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
            # Centred at the weighted mean strike the intercept α and slope β are uncorrelated;
            # F = mean strike − α/β, so var F ≈ var α/β² + α²·var β/β⁴.
            s2 = ss_res / (n_used - 2)
            km = float((wm * k[mask]).sum() / sum_w)
            sxx = float((wm * (k[mask] - km) ** 2).sum())
            alpha = d_hat * (f_hat - km)
            var_beta = s2 / sxx
            forward_se = math.sqrt(s2 / sum_w / d_hat**2 + alpha**2 * var_beta / d_hat**4)
            discount_se = math.sqrt(var_beta)
    else:
        discount_se = 0.0
        if n_used >= 2:
            forward_se = math.sqrt(ss_res / (n_used - 1) / sum_w) / d_hat

    return ForwardFit(
        forward=float(f_hat),
        discount=float(d_hat),
        r_squared=r_squared,
        residual_rms=residual_rms,
        forward_se=forward_se,
        discount_se=discount_se,
        n_used=n_used,
        n_two_sided=n_two_sided,
        n_excluded=n_excluded,
        n_outliers=n_outliers,
        strikes_used=k[mask].copy(),
        ok=True,
        reason=FORWARD_OK,
    )


def mid_and_spread(bid: ArrayLike, ask: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mid and width of two-sided quotes; NaN where the quote is not two-sided and sane.

    A quote counts when bid > 0, ask > 0, bid <= ask and both are finite (a zero bid is one-sided:
    its mid would be half the ask, not a price). Prices per share.
    """
    b = np.asarray(bid, dtype=np.float64)
    a = np.asarray(ask, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(b) & np.isfinite(a) & (b > 0) & (a > 0) & (b <= a)
        mid = np.where(good, 0.5 * (b + a), np.nan)
        spread = np.where(good, a - b, np.nan)
    return mid, spread
