"""Strategy rules for credit vertical spreads: selection, risk, ranking, exits and settlement.

Pure functions (stdlib and numpy only; no Django, no clock, no I/O) called unchanged by the live
entry-window and mark jobs and by the backtester, so a replayed day makes the live day's decisions
(``shared/design.md``, principle 1 and "Strategy rules").

Put credit spread: sell put K_s, buy put K_s − W. Call credit spread: sell call K_s, buy call K_s + W.
Prices are index points per share; ``_usd`` values are dollars (× ``SPX_MULTIPLIER`` = 100).

Reason codes live in ``strategy.quant.types`` (``SELECTION_REASONS``, ``RISK_REASONS``,
``EXIT_REASONS``, merged in ``REASONS``) and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Final, TypeAlias

import numpy as np
from numpy.typing import NDArray

from strategy.quant.black76 import SPX_MULTIPLIER
from strategy.quant.fills import COMPLEX_ORDER_TICK, as_decimal, combo_spread_of, entry_credit, exit_debit, mid_price
from strategy.quant.types import (
    COMBO_SPREAD_TOO_WIDE,
    CREDIT_BELOW_MIN,
    ENTRY_FILTERS,
    EVENT_DAY_FILTER,
    EXIT_REASONS,
    LONG_LEG_NO_GREEKS,
    MAX_NEW_TRADES_PER_DAY,
    MAX_OPEN_TRADES,
    MIN_CREDIT_TO_WIDTH,
    NO_CREDIT,
    NO_LONG_LEG,
    NO_QUOTES,
    NO_SHORT_LEG,
    QUALITY_FLAGS,
    REASONS,
    RISK_OK,
    RISK_REASONS,
    SELECTION_REASONS,
    SETTLEMENT,
    SIDES,
    STOP_LOSS,
    STOPPED_OUT_TODAY,
    TAKE_PROFIT,
    TERM_RATIO_MAX,
    TERM_RATIO_MIN,
    TIME_EXIT,
    VIX_MAX,
    VIX_MIN,
    WEEKDAY_NAMES,
    WEEKDAYS_FILTER,
    WIDTH_ADJUSTED,
    ChainQuotes,
    EntryFilters,
    ExitRules,
    ExitSignal,
    FilterRefusal,
    Leg,
    LegSide,
    NoCandidate,
    RiskLimits,
    RiskVerdict,
    Side,
    SpreadCandidate,
    SpreadRules,
    TimeExit,
)
from strategy.quant.timemodel import NEW_YORK

__all__ = [
    "ENTRY_FILTERS",
    "EXIT_REASONS",
    "QUALITY_FLAGS",
    "REASONS",
    "RISK_REASONS",
    "SELECTION_REASONS",
    "RankItem",
    "close_debit",
    "entry_filter_check",
    "exit_due",
    "fees_usd",
    "mark_quotes_usable",
    "mark_step",
    "outcome_label",
    "pnl_usd",
    "rank_candidates",
    "risk_check",
    "select_spread",
    "settlement_exit",
    "settlement_value",
    "time_exit_for",
]

DEFAULT_EXIT_RULES: Final = ExitRules()  # take profit at +50 %, stop at −100 % of max profit, no time exit

# Two |delta| distances closer than this count as a tie; without it, float noise decides
# (|0.08 − 0.10| = 0.020000000000000004 but |0.12 − 0.10| = 0.01999999999999999).
DELTA_TIE_TOLERANCE: Final = 1e-9
# Strikes are listed on a grid of at least 0.01 points; this absorbs float noise in K ± W.
_STRIKE_EPS: Final = 1e-6

RankItem: TypeAlias = tuple[int, SpreadCandidate, str]


def select_spread(chain: ChainQuotes, rules: SpreadRules) -> SpreadCandidate | NoCandidate:
    """Pick the credit spread a strategy config asks for from one expiration's quotes.

    1. Usable quotes: an option is used only with a two-sided quote, bid > 0 and ask ≥ bid (both
       finite). Crossed, one-sided or missing quotes are never used.
    2. Short leg: among out-of-the-money options of the side's type (puts with K < forward for
       ``put_credit``, calls with K > forward for ``call_credit``) with a usable quote and finite
       iv and delta, the one whose |delta| is nearest ``short_delta_target``. Tie (distances within
       ``DELTA_TIE_TOLERANCE``): the further-OTM strike — the lower put / higher call strike, the
       smaller-|delta|, safer choice.
    3. Long leg: the strike exactly ``width_points`` further out if its quote is usable, else the
       nearest usable strike beyond it (so the actual width ≥ the requested one, flag
       ``width_adjusted``), at most ``max_width_mult × width_points`` from the short strike. There
       is no fallback to another short strike: none found → ``NoCandidate("no_long_leg")``.
    4. Prices: ``credit_mid`` = short mid − long mid, ``combo_spread`` = sum of the two bid–ask
       widths, ``credit_fill`` = ``fills.entry_credit`` (mid − fraction × spread, floored to 0.05).
    5. Filters, in order: ``no_credit`` (credit_fill ≤ 0), ``credit_below_min`` (credit_fill <
       min_credit), ``combo_spread_too_wide`` (spread > max_combo_spread or spread >
       max_combo_spread_frac × credit_mid). A spread failing any is returned inside a
       ``NoCandidate`` whose reason is the first failure, so a SKIP can still record its numbers.

    Returns a tradable ``SpreadCandidate`` or a ``NoCandidate`` with a code from ``SELECTION_REASONS``.
    Source: ``shared/design.md``, "Strategy rules"; issue #4 §2.
    """
    quoted = _two_sided(chain.bid, chain.ask)
    if not quoted.any():
        return NoCandidate(NO_QUOTES, f"{_chain_name(chain)}: none of {len(chain)} options has a two-sided quote")

    short_i = _short_leg_index(chain, rules, quoted)
    if short_i is None:
        kind = "call" if rules.is_call else "put"
        return NoCandidate(
            NO_SHORT_LEG,
            f"{_chain_name(chain)}: no OTM {kind} with a two-sided quote and finite iv/delta (forward {chain.forward:g})",
        )

    long_i = _long_leg_index(chain, rules, quoted, short_i)
    if long_i is None:
        return NoCandidate(
            NO_LONG_LEG,
            f"{_chain_name(chain)}: short {chain.strikes[short_i]:g}, no two-sided strike {rules.width_points:g} to "
            f"{rules.max_width_mult * rules.width_points:g} points further out",
        )

    candidate = _build_candidate(chain, rules, short_i, long_i)
    if candidate.failed_filters:
        first = candidate.failed_filters[0]
        return NoCandidate(first, _filter_message(first, candidate, rules), candidate)
    return candidate


def _chain_name(chain: ChainQuotes) -> str:
    return f"{chain.root} {chain.expiration.isoformat()}"


def _two_sided(bid: NDArray[np.float64], ask: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows whose quote can be traded on both sides: finite, bid > 0, ask ≥ bid."""
    return np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask >= bid)


def _short_leg_index(chain: ChainQuotes, rules: SpreadRules, quoted: NDArray[np.bool_]) -> int | None:
    otm = chain.strikes > chain.forward if rules.is_call else chain.strikes < chain.forward
    pool = np.flatnonzero(
        (chain.is_call == rules.is_call) & otm & quoted & np.isfinite(chain.iv) & np.isfinite(chain.delta)
    )
    if pool.size == 0:
        return None
    distance = np.abs(np.abs(chain.delta[pool]) - rules.short_delta_target)
    nearest = pool[distance <= distance.min() + DELTA_TIE_TOLERANCE]
    # Tie rule: the further-OTM strike, i.e. the one with less |delta| and less risk.
    strikes = chain.strikes[nearest]
    return int(nearest[np.argmax(strikes)] if rules.is_call else nearest[np.argmin(strikes)])


def _long_leg_index(
    chain: ChainQuotes, rules: SpreadRules, quoted: NDArray[np.bool_], short_i: int
) -> int | None:
    short_k = float(chain.strikes[short_i])
    # Signed distance from the short strike, positive in the "further out" direction.
    out = (chain.strikes - short_k) if rules.is_call else (short_k - chain.strikes)
    reach = (out >= rules.width_points - _STRIKE_EPS) & (out <= rules.max_width_mult * rules.width_points + _STRIKE_EPS)
    pool = np.flatnonzero((chain.is_call == rules.is_call) & quoted & reach)
    if pool.size == 0:
        return None
    # Nearest to the requested width; strikes are unique per type, so there is no tie.
    return int(pool[np.argmin(out[pool])])


def _leg(chain: ChainQuotes, i: int, side: LegSide) -> Leg:
    bid, ask = float(chain.bid[i]), float(chain.ask[i])
    return Leg(
        symbol=str(chain.symbols[i]),
        strike=float(chain.strikes[i]),
        is_call=bool(chain.is_call[i]),
        bid=bid,
        ask=ask,
        mid=mid_price(bid, ask),
        iv=float(chain.iv[i]),
        delta=float(chain.delta[i]),
        side=side,
    )


def _build_candidate(chain: ChainQuotes, rules: SpreadRules, short_i: int, long_i: int) -> SpreadCandidate:
    short, long = _leg(chain, short_i, "sell"), _leg(chain, long_i, "buy")
    # Decimal keeps tick-aligned prices exact: max profit + max loss is exactly width × 100.
    width = abs(as_decimal(short.strike) - as_decimal(long.strike))
    credit_mid = as_decimal(short.mid) - as_decimal(long.mid)
    spread = as_decimal(combo_spread_of([short.bid, long.bid], [short.ask, long.ask]))
    credit_fill = as_decimal(entry_credit(float(credit_mid), float(spread), rules.fill_fraction))
    multiplier = as_decimal(SPX_MULTIPLIER)
    breakeven = as_decimal(short.strike) + (credit_fill if rules.is_call else -credit_fill)

    flags: list[str] = []
    if width > as_decimal(rules.width_points):
        flags.append(WIDTH_ADJUSTED)
    if not (math.isfinite(long.iv) and math.isfinite(long.delta)):
        flags.append(LONG_LEG_NO_GREEKS)

    failed: list[str] = []
    if credit_fill <= 0:
        failed.append(NO_CREDIT)
    if credit_fill < as_decimal(rules.min_credit):
        failed.append(CREDIT_BELOW_MIN)
    too_wide_abs = rules.max_combo_spread is not None and spread > as_decimal(rules.max_combo_spread)
    too_wide_rel = rules.max_combo_spread_frac is not None and spread > as_decimal(rules.max_combo_spread_frac) * credit_mid
    if too_wide_abs or too_wide_rel:
        failed.append(COMBO_SPREAD_TOO_WIDE)

    return SpreadCandidate(
        side=rules.side,
        short_leg=short,
        long_leg=long,
        quantity=rules.quantity,
        requested_width_points=float(rules.width_points),
        width_points=float(width),
        credit_mid=float(credit_mid),
        combo_spread=float(spread),
        credit_fill=float(credit_fill),
        max_profit_per_contract_usd=float(credit_fill * multiplier),
        max_loss_per_contract_usd=float((width - credit_fill) * multiplier),
        breakeven=float(breakeven),
        quality_flags=tuple(flags),
        failed_filters=tuple(failed),
    )


def _filter_message(code: str, c: SpreadCandidate, rules: SpreadRules) -> str:
    legs = f"{c.short_leg.strike:g}/{c.long_leg.strike:g}"
    if code == NO_CREDIT:
        return f"{legs}: modelled credit {c.credit_fill:.2f} (mid {c.credit_mid:.3f}, combo spread {c.combo_spread:.2f})"
    if code == CREDIT_BELOW_MIN:
        return f"{legs}: modelled credit {c.credit_fill:.2f} < minimum {rules.min_credit:.2f}"
    limits = []
    if rules.max_combo_spread is not None:
        limits.append(f"{rules.max_combo_spread:g} points")
    if rules.max_combo_spread_frac is not None:
        limits.append(f"{rules.max_combo_spread_frac:g} x mid credit {c.credit_mid:g}")
    return f"{legs}: combo spread {c.combo_spread:g} exceeds {' or '.join(limits)}"


def risk_check(*, open_trades: int, entries_today: int, stops_today: int, limits: RiskLimits) -> RiskVerdict:
    """May the strategy config open a new trade now? Counts are that config's, for today's trading day.

    Checked in this order, the first hit is the reason: ``max_open_trades`` (open_trades ≥ limit),
    ``max_new_trades_per_day`` (entries_today ≥ limit), ``stopped_out_today`` (stops_today > 0 and
    ``no_new_after_stop``). A limit of 0 blocks every new trade. Source: ``shared/design.md``, "Risk".
    """
    for name, value in (("open_trades", open_trades), ("entries_today", entries_today), ("stops_today", stops_today)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if open_trades >= limits.max_open_trades:
        return RiskVerdict(False, MAX_OPEN_TRADES, f"{open_trades} open trade(s), limit {limits.max_open_trades}")
    if entries_today >= limits.max_new_trades_per_day:
        return RiskVerdict(
            False, MAX_NEW_TRADES_PER_DAY, f"{entries_today} trade(s) opened today, limit {limits.max_new_trades_per_day}"
        )
    if limits.no_new_after_stop and stops_today > 0:
        return RiskVerdict(False, STOPPED_OUT_TODAY, f"{stops_today} stop-loss exit(s) today")
    return RiskVerdict(True, RISK_OK, RISK_REASONS[RISK_OK])


def entry_filter_check(filters: EntryFilters, values: Mapping[str, float],
                       missing: Mapping[str, str] | None = None) -> FilterRefusal | None:
    """The first entry filter that refuses a candidate, or None: it may go on to the risk limits.

    Reads the candidate's decision-time features only (``values``, NaN = missing; ``missing`` says
    why), so live and backtest, which compute the same features, filter alike. In this order
    (``ENTRY_FILTERS``): ``entry_weekdays`` — the ISO weekday ``weekday + 1`` (the feature counts
    0 = Monday) must be one of ``filters.weekdays``; ``skip_event_days`` — ``fomc_day`` must be 0;
    ``vix_min`` / ``vix_max`` — ``vix_min <= vix30 <= vix_max``; ``term_ratio_min`` /
    ``term_ratio_max`` — the same on ``vix_ratio_9d_30d``; ``min_credit_to_width`` — ``credit_fill
    / width_points >= min_credit_to_width``, compared exactly as fractions of the decimal prices
    (0.50 / 25 passes a minimum of 0.02). Bounds are inclusive: a value equal to a bound passes. A
    filter that is set and whose feature is missing refuses (never a silent pass); a filter not set
    reads nothing.
    """
    if not filters.active:
        return None
    why = missing or {}

    def value(name: str) -> float | None:
        x = values.get(name)
        return float(x) if x is not None and math.isfinite(x) else None

    def absent(name: str, feature: str) -> FilterRefusal:
        return FilterRefusal(name, f"{feature} missing ({why.get(feature, 'not computed')}), and {name} is set")

    if filters.weekdays:
        weekday = value("weekday")
        if weekday is None:
            return absent(WEEKDAYS_FILTER, "weekday")
        iso = int(weekday) + 1
        if iso not in filters.weekdays:
            allowed = ", ".join(f"{WEEKDAY_NAMES[d][:3]} ({d})" for d in filters.weekdays)
            return FilterRefusal(WEEKDAYS_FILTER, f"{WEEKDAY_NAMES.get(iso, '?')} ({iso}) is not an allowed "
                                                  f"weekday: {allowed}")
    if filters.skip_event_days:
        fomc = value("fomc_day")
        if fomc is None:
            return absent(EVENT_DAY_FILTER, "fomc_day")
        if fomc:
            return FilterRefusal(EVENT_DAY_FILTER, "the entry day is an FOMC statement day (fomc_day 1)")
    ranges = ((VIX_MIN, "vix30", filters.vix_min, "min"), (VIX_MAX, "vix30", filters.vix_max, "max"),
              (TERM_RATIO_MIN, "vix_ratio_9d_30d", filters.term_ratio_min, "min"),
              (TERM_RATIO_MAX, "vix_ratio_9d_30d", filters.term_ratio_max, "max"))
    for name, feature, bound, kind in ranges:
        if bound is None:
            continue
        x = value(feature)
        if x is None:
            return absent(name, feature)
        if kind == "min" and x < bound:
            return FilterRefusal(name, f"{feature} {x:.4f} below min {bound:g}")
        if kind == "max" and x > bound:
            return FilterRefusal(name, f"{feature} {x:.4f} above max {bound:g}")
    if filters.min_credit_to_width is not None:
        credit, width = value("credit_fill"), value("width_points")
        if credit is None or width is None or width <= 0:
            return absent(MIN_CREDIT_TO_WIDTH, "credit_to_width")
        ratio = Fraction(as_decimal(credit)) / Fraction(as_decimal(width))
        if ratio < Fraction(as_decimal(filters.min_credit_to_width)):
            return FilterRefusal(MIN_CREDIT_TO_WIDTH, f"credit_to_width {float(ratio):.4f} (credit {credit:.2f} / "
                                                      f"width {width:g}) below min {filters.min_credit_to_width:g}")
    return None


def rank_candidates(items: Sequence[RankItem]) -> list[RankItem]:
    """Order (priority, candidate, key) triples, best first, for configs that compete for one slot.

    Sort keys: ``priority`` ascending (1 before 2), then ``credit_fill / width_points`` descending
    (more credit per point of risk), then ``key`` ascending (e.g. the config's slug) as the final,
    always-decisive tie-break. The ratio is compared exactly (as fractions of the decimal prices),
    so 0.15/5 and 0.30/10 tie. ``ValueError`` on a repeated key: the order must not depend on the
    input order.
    """
    keys = [key for _, _, key in items]
    if len(set(keys)) != len(keys):
        raise ValueError("rank_candidates needs distinct keys")

    def sort_key(item: RankItem) -> tuple[int, Fraction, str]:
        priority, candidate, key = item
        ratio = Fraction(as_decimal(candidate.credit_fill)) / Fraction(as_decimal(candidate.width_points))
        return priority, -ratio, key

    return sorted(items, key=sort_key)


def exit_due(
    *, entry_credit: float, debit_to_close: float, exit_rules: ExitRules = DEFAULT_EXIT_RULES,
    at: dt.datetime | None = None, time_exit: TimeExit | None = None,
) -> ExitSignal | None:
    """Take-profit / stop-loss / time-exit check for an open credit spread (no rolling); ``None`` = hold.

    ``entry_credit`` C and ``debit_to_close`` are points per share; pass the modelled closing price
    (``fills.exit_debit`` of the current quotes) so live marks and backtests trigger alike.
    Take profit when debit ≤ (1 − f)·C with f = ``exit_rules.take_profit_fraction`` — with 0.5,
    debit ≤ 0.5·C, i.e. +50 % of max profit. Stop when debit ≥ (1 + m)·C with m =
    ``exit_rules.stop_loss_multiple`` — with 1.0, debit ≥ 2·C, a PnL of −C, i.e. −100 % of max
    profit. Both comparisons include equality and are exact in decimal (C = 1.30 takes profit at
    a debit of exactly 0.65). Else, when ``time_exit`` (``time_exit_for``) is due at the mark's
    stamp ``at`` — at or after its instant, before the settlement instant — ``time_exit`` at this
    debit. A stamp that meets a threshold and the time exit closes as take profit / stop (same
    debit). Source: ``shared/design.md``, "Exits"; issue 16 §1 for the per-config rules.
    """
    credit = as_decimal(entry_credit)
    debit = as_decimal(debit_to_close)
    if credit <= 0:
        raise ValueError(f"entry_credit must be positive, got {entry_credit!r}")
    fraction = as_decimal(exit_rules.take_profit_fraction)
    multiple = as_decimal(exit_rules.stop_loss_multiple)
    take_at = credit * (1 - fraction)
    stop_at = credit * (1 + multiple)
    # take_at < C < stop_at, so at most one of the two can fire.
    if debit <= take_at:
        return ExitSignal(
            TAKE_PROFIT, float(debit), float(take_at), float(credit),
            f"debit {float(debit):g} <= {float(take_at):g} = {float(1 - fraction):g} x credit",
        )
    if debit >= stop_at:
        return ExitSignal(
            STOP_LOSS, float(debit), float(stop_at), float(credit),
            f"debit {float(debit):g} >= {float(stop_at):g} = {float(1 + multiple):g} x credit",
        )
    if time_exit is not None:
        if at is None:
            raise ValueError("a time exit needs the mark's stamp (at)")
        if time_exit.due(at):
            return ExitSignal(TIME_EXIT, float(debit), float(debit), float(credit),
                              f"{time_exit.rule}: closed at debit {float(debit):g}")
    return None


def time_exit_for(exit_rules: ExitRules, *, expiration: dt.date, settles_at: dt.datetime) -> TimeExit | None:
    """The time exit of a trade in series ``expiration`` settling at ``settles_at`` (aware), or None.

    ``exit_at_time`` HH:MM: at HH:MM New York time on the expiration day. ``exit_minutes_before_
    settlement`` N: at ``settles_at`` − N minutes (SPXW 16:00 ET, 13:00 on an early close, from the
    calendar; so N follows an early close). The trade closes at the first exit stamp at or after
    that instant and before ``settles_at`` at which it can be marked. An instant at or after the
    settlement instant (15:30 on an early-close expiration day) never comes: None, and the trade is
    held to settlement as without a time exit. An AM monthly settles at the 09:30 open of its
    expiration day (and trades no later than the day before): a clock time from 09:30 is None, and
    N minutes before 09:30 falls outside the session, so no mark reaches it either.
    """
    if settles_at.tzinfo is None:
        raise ValueError("settles_at must be timezone-aware")
    if exit_rules.exit_at_time is not None:
        at = dt.datetime.combine(expiration, exit_rules.exit_at_time, tzinfo=NEW_YORK).astimezone(dt.UTC)
        rule = f"time exit {exit_rules.exit_at_time:%H:%M} ET on the expiration day"
    elif exit_rules.exit_minutes_before_settlement is not None:
        n = exit_rules.exit_minutes_before_settlement
        at = settles_at.astimezone(dt.UTC) - dt.timedelta(minutes=n)
        rule = f"time exit {n} min before the {settles_at.astimezone(NEW_YORK):%H:%M} ET settlement"
    else:
        return None
    return TimeExit(at, settles_at.astimezone(dt.UTC), rule) if at < settles_at else None


def _check_geometry(side: Side, short_strike: float, long_strike: float) -> tuple[Decimal, Decimal]:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    short_k, long_k = as_decimal(short_strike), as_decimal(long_strike)
    if (side == "put_credit" and not long_k < short_k) or (side == "call_credit" and not long_k > short_k):
        raise ValueError(f"{side}: long strike {long_strike} is not beyond short strike {short_strike}")
    return short_k, long_k


def settlement_value(side: Side, short_strike: float, long_strike: float, settlement_price: float) -> float:
    """Debit to close the spread at expiry: its intrinsic value per share, in [0, width] points.

    Put credit: clip(K_short − S, 0, K_short − K_long); call credit: clip(S − K_short, 0,
    K_long − K_short), where S is the exercise-settlement value (SET/SOQ for AM SPX, the official
    close for PM SPXW; ``shared/reference/calendar.md`` §1). European, cash-settled: no assignment
    before expiry, so this is the whole story.
    """
    short_k, long_k = _check_geometry(side, short_strike, long_strike)
    s = as_decimal(settlement_price)
    width = abs(short_k - long_k)
    intrinsic = short_k - s if side == "put_credit" else s - short_k
    return float(min(max(intrinsic, Decimal(0)), width))


def settlement_exit(
    *, side: Side, short_strike: float, long_strike: float, settlement_price: float, entry_credit: float
) -> ExitSignal:
    """The exit of a spread held to expiry: cash settlement at ``settlement_value`` (points per share)."""
    value = settlement_value(side, short_strike, long_strike, settlement_price)
    return ExitSignal(SETTLEMENT, value, value, float(entry_credit), f"settled at {settlement_price:g}: {value:g} per share")


def pnl_usd(entry_credit: float, exit_debit: float, quantity: int) -> float:
    """Realised PnL in dollars: (credit − debit) × 100 × quantity, before commissions and fees.

    ``entry_credit`` and ``exit_debit`` (a closing debit or a settlement value) in points per share.
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a positive int, got {quantity!r}")
    return float((as_decimal(entry_credit) - as_decimal(exit_debit)) * as_decimal(SPX_MULTIPLIER) * quantity)


def mark_quotes_usable(short_bid: float, short_ask: float, long_bid: float, long_ask: float) -> bool:
    """Can an open spread be valued from these leg quotes? Both asks positive, bids ≥ 0 (0 = no
    bid), nothing crossed, everything finite. Otherwise there is no mark rather than a made-up one."""
    values = (short_bid, short_ask, long_bid, long_ask)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return False
    return short_ask > 0 and long_ask > 0 and short_bid >= 0 and long_bid >= 0 and short_ask >= short_bid and long_ask >= long_bid


def close_debit(
    short_bid: float, short_ask: float, long_bid: float, long_ask: float, *, width_points: float,
    fraction: float = 0.30,
) -> tuple[float, float]:
    """(debit_mid, debit_fill) to close a credit spread now, points per share.

    debit_mid = short mid − long mid. debit_fill = the fill model's exit debit
    (``fills.exit_debit``: mid + fraction × combo spread, ceiled to 0.05) on max(debit_mid, 0),
    at least one tick (a closing order is never free) and at most the width (a vertical is never
    worth more). Live marks and the backtester value positions with this one function, and pass
    ``debit_fill`` to ``exit_due``. Check ``mark_quotes_usable`` first.
    """
    debit_mid = (short_bid + short_ask) / 2 - (long_bid + long_ask) / 2
    spread = combo_spread_of([short_bid, long_bid], [short_ask, long_ask])
    debit_fill = max(exit_debit(max(debit_mid, 0.0), spread, fraction), COMPLEX_ORDER_TICK)
    return debit_mid, min(debit_fill, float(width_points))


def mark_step(
    short_bid: float, short_ask: float, long_bid: float, long_ask: float, *, entry_credit: float, width_points: float,
    exit_rules: ExitRules = DEFAULT_EXIT_RULES, at: dt.datetime | None = None, time_exit: TimeExit | None = None,
    fraction: float = 0.30,
) -> tuple[float, float, ExitSignal | None] | None:
    """One mark of an open credit spread at stamp ``at``: (debit_mid, debit_fill, exit signal or
    None), or None when the quotes cannot value it (``mark_quotes_usable``; a time exit then waits
    for the next stamp that can). Live marks, the live shadow outcomes and the backtester's exact
    check all take this one step, with the decision's frozen ``exit_rules`` and its ``time_exit``."""
    if not mark_quotes_usable(short_bid, short_ask, long_bid, long_ask):
        return None
    debit_mid, debit_fill = close_debit(short_bid, short_ask, long_bid, long_ask, width_points=width_points,
                                        fraction=fraction)
    signal = exit_due(entry_credit=entry_credit, debit_to_close=debit_fill, exit_rules=exit_rules, at=at,
                      time_exit=time_exit)
    return debit_mid, debit_fill, signal


def outcome_label(reason: str, exit_debit: float, *, entry_credit: float, take_profit_fraction: float = 0.5) -> int:
    """The meta-label of an outcome: 1 if the spread reached its take-profit level before the stop —
    a take-profit exit, or a cash settlement or time exit at or below the take-profit debit (it
    ended keeping at least the take profit's share of the credit); 0 for a stop, and for a
    settlement or time exit that kept less than that (a small gain, or a loss short of the stop)."""
    if reason == TAKE_PROFIT:
        return 1
    if reason in (SETTLEMENT, TIME_EXIT):
        take_at = as_decimal(entry_credit) * (1 - as_decimal(take_profit_fraction))
        return int(as_decimal(exit_debit) <= take_at)
    return 0


def fees_usd(fee_per_contract_usd: float, quantity: int, *, settled: bool) -> Decimal:
    """Commissions of a two-leg trade in dollars: per contract per leg, on the entry and, unless it
    was cash-settled, on the exit."""
    return as_decimal(fee_per_contract_usd) * 2 * quantity * (1 if settled else 2)
