"""Frozen dataclasses at the ORM ↔ quant boundary of the strategy rules, and their reason codes.

Services build ``ChainQuotes``/``SpreadRules``/``RiskLimits`` from snapshots and strategy configs;
``strategy.quant.rules`` returns ``SpreadCandidate``/``NoCandidate``/``RiskVerdict``/``ExitSignal``,
which services store on decisions and trades. Nothing here imports Django or reads a clock.

Units: strikes, prices, credits, debits, spreads and breakevens are index points per share;
fields ending in ``_usd`` are dollars (points × ``black76.SPX_MULTIPLIER`` = 100 per contract).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategy.quant.black76 import SPX_MULTIPLIER
from strategy.quant.fills import as_decimal
from strategy.quant.osi import parse_symbol

Side = Literal["put_credit", "call_credit"]
LegSide = Literal["sell", "buy"]
ExitReason = Literal["take_profit", "stop_loss", "time_exit", "settlement"]

SIDES: Final = ("put_credit", "call_credit")


def as_side(value: str) -> Side:
    """``value`` as a ``Side`` (``ValueError`` for anything but the two credit-spread sides)."""
    if value == "put_credit":
        return "put_credit"
    if value == "call_credit":
        return "call_credit"
    raise ValueError(f"side must be one of {SIDES}, got {value!r}")

# Why ``select_spread`` found no tradable spread. The first three mean "no spread could be built";
# the last three are filters on a built spread, checked in this order (``NoCandidate.reason`` is the
# first that failed, ``SpreadCandidate.failed_filters`` lists all of them).
NO_QUOTES: Final = "no_quotes"
NO_SHORT_LEG: Final = "no_short_leg"
NO_LONG_LEG: Final = "no_long_leg"
NO_CREDIT: Final = "no_credit"
CREDIT_BELOW_MIN: Final = "credit_below_min"
COMBO_SPREAD_TOO_WIDE: Final = "combo_spread_too_wide"
SELECTION_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        NO_QUOTES: "no option in the chain has a two-sided quote (bid > 0, ask >= bid)",
        NO_SHORT_LEG: "no out-of-the-money option of the side's type has a two-sided quote and finite iv/delta",
        NO_LONG_LEG: "no two-sided strike at the requested width or beyond it within the width limit",
        NO_CREDIT: "the modelled entry credit is zero or negative",
        CREDIT_BELOW_MIN: "the modelled entry credit is below the configured minimum",
        COMBO_SPREAD_TOO_WIDE: "the combo bid-ask spread exceeds the absolute or credit-relative limit",
    }
)
FILTER_ORDER: Final = (NO_CREDIT, CREDIT_BELOW_MIN, COMBO_SPREAD_TOO_WIDE)

# Informational flags on a built spread; they never block a trade.
WIDTH_ADJUSTED: Final = "width_adjusted"
LONG_LEG_NO_GREEKS: Final = "long_leg_no_greeks"
QUALITY_FLAGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        WIDTH_ADJUSTED: "the strike at the requested width was missing or one-sided; the long leg is further out",
        LONG_LEG_NO_GREEKS: "the long leg has no finite iv or delta (not needed to trade it)",
    }
)

RISK_OK: Final = "ok"
MAX_OPEN_TRADES: Final = "max_open_trades"
MAX_NEW_TRADES_PER_DAY: Final = "max_new_trades_per_day"
STOPPED_OUT_TODAY: Final = "stopped_out_today"
RISK_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        RISK_OK: "all risk limits allow a new trade",
        MAX_OPEN_TRADES: "the number of open trades has reached the limit",
        MAX_NEW_TRADES_PER_DAY: "the number of trades opened today has reached the limit",
        STOPPED_OUT_TODAY: "a trade was stopped out today and no new trades follow a stop",
    }
)

TAKE_PROFIT: Final = "take_profit"
STOP_LOSS: Final = "stop_loss"
TIME_EXIT: Final = "time_exit"
SETTLEMENT: Final = "settlement"
EXIT_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        TAKE_PROFIT: "the debit to close fell to the take-profit threshold",
        STOP_LOSS: "the debit to close rose to the stop-loss threshold",
        TIME_EXIT: "the config's time exit came (a clock time or minutes before settlement on the expiration day)",
        SETTLEMENT: "the spread expired and is cash-settled at its intrinsic value",
    }
)

REASONS: Final[Mapping[str, str]] = MappingProxyType({**SELECTION_REASONS, **RISK_REASONS, **EXIT_REASONS})


def _frozen_array(values: ArrayLike, dtype: type, name: str) -> NDArray[Any]:
    arr: NDArray[Any] = np.array(values, dtype=dtype, copy=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    arr.setflags(write=False)  # the dataclass is frozen; its arrays must be too
    return arr


def _none_to_nan(value: Any) -> float:
    # Tradier sends null bid/ask before the open and for some far strikes.
    return math.nan if value is None else float(value)


@dataclass(frozen=True, eq=False)
class ChainQuotes:
    """Quotes of one expiration and one root (e.g. SPXW 2026-06-18), one row per listed option.

    Arrays (same length, any order): ``strikes`` (points), ``is_call`` (bool), ``bid``/``ask``
    (points per share; NaN where missing), ``iv`` (annualised, 0.20 = 20 %) and ``delta``
    (per share, puts negative) computed here with Black-76 — NaN where unknown — and ``symbols``
    (OSI strings). Scalars: ``forward`` (points) and ``t_years`` to settlement for this expiration.
    A (strike, call/put) pair may appear only once. Arrays are copied and made read-only.
    """

    strikes: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    iv: NDArray[np.float64]
    delta: NDArray[np.float64]
    symbols: NDArray[np.object_]
    root: str
    expiration: dt.date
    forward: float
    t_years: float

    def __post_init__(self) -> None:
        flags = np.asarray(self.is_call)
        if flags.dtype != np.bool_:
            # np.asarray(["put"], dtype=bool) would read as True; insist on real booleans.
            raise ValueError(f"is_call must be a boolean array, got dtype {flags.dtype}")
        for name, dtype in (
            ("strikes", np.float64),
            ("is_call", np.bool_),
            ("bid", np.float64),
            ("ask", np.float64),
            ("iv", np.float64),
            ("delta", np.float64),
            ("symbols", object),
        ):
            object.__setattr__(self, name, _frozen_array(getattr(self, name), dtype, name))
        n = len(self.strikes)
        for name in ("is_call", "bid", "ask", "iv", "delta", "symbols"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, strikes has {n}")
        if not np.all(np.isfinite(self.strikes) & (self.strikes > 0)):
            raise ValueError("strikes must be finite and positive")
        if not all(isinstance(s, str) for s in self.symbols):
            raise ValueError("symbols must be strings")
        pairs = set(zip(self.strikes.tolist(), self.is_call.tolist()))
        if len(pairs) != n:
            raise ValueError("a (strike, is_call) pair appears more than once")
        if not self.root:
            raise ValueError("root must be non-empty")
        if not (math.isfinite(self.forward) and self.forward > 0):
            raise ValueError(f"forward must be finite and positive, got {self.forward!r}")
        if not (math.isfinite(self.t_years) and self.t_years >= 0):
            raise ValueError(f"t_years must be finite and non-negative, got {self.t_years!r}")

    def __len__(self) -> int:
        return len(self.strikes)

    @classmethod
    def from_tradier(
        cls,
        options: Sequence[Mapping[str, Any]],
        *,
        iv: ArrayLike,
        delta: ArrayLike,
        forward: float,
        t_years: float,
    ) -> ChainQuotes:
        """Build from Tradier ``options.option`` dicts (``GET /v1/markets/options/chains``).

        Root, expiration, call/put and strike come from each OSI ``symbol`` and must agree with
        ``option_type`` and ``strike``; null ``bid``/``ask`` become NaN. ``iv`` and ``delta`` are
        aligned with ``options`` (our own Black-76 numbers in production). ``ValueError`` for an
        empty list, mixed roots or expirations, or a symbol that disagrees with its fields.
        """
        if not options:
            raise ValueError("no options: root and expiration are unknown")
        parsed = [parse_symbol(str(o["symbol"])) for o in options]
        roots = {p.root for p in parsed}
        expirations = {p.expiration for p in parsed}
        if len(roots) != 1 or len(expirations) != 1:
            raise ValueError(f"one root and one expiration expected, got {sorted(roots)} / {sorted(expirations)}")
        for o, p in zip(options, parsed):
            if (o["option_type"] == "call") != p.is_call or float(o["strike"]) != float(p.strike):
                raise ValueError(f"{o['symbol']}: option_type/strike disagree with the symbol")
        return cls(
            strikes=np.array([float(p.strike) for p in parsed]),
            is_call=np.array([p.is_call for p in parsed], dtype=bool),
            bid=np.array([_none_to_nan(o.get("bid")) for o in options]),
            ask=np.array([_none_to_nan(o.get("ask")) for o in options]),
            iv=np.asarray(iv, dtype=np.float64),
            delta=np.asarray(delta, dtype=np.float64),
            symbols=np.array([str(o["symbol"]) for o in options], dtype=object),
            root=roots.pop(),
            expiration=expirations.pop(),
            forward=float(forward),
            t_years=float(t_years),
        )


@dataclass(frozen=True)
class SpreadRules:
    """What spread a strategy config asks for (one side, one delta target, one width).

    ``short_delta_target``: |delta| of the short leg (0.10 = "10 delta"). ``width_points``:
    requested distance between the strikes. ``quantity``: contracts per leg. ``min_credit``:
    smallest acceptable modelled entry credit (points per share). ``max_combo_spread``: largest
    acceptable combo bid–ask spread in points; ``max_combo_spread_frac``: the same as a fraction of
    the mid credit (0.5 = the combo spread may be half the mid credit); ``None`` = no limit.
    ``fill_fraction``: share of the combo spread the fill model gives up (design: 0.30).
    ``max_width_mult``: the long leg may move out to ``max_width_mult × width_points`` when the
    strike at the requested width is missing or one-sided (1.5 × 25 = 37.5 points).
    """

    side: Side
    short_delta_target: float
    width_points: float = 25.0
    quantity: int = 1
    min_credit: float = 0.0
    max_combo_spread: float | None = None
    max_combo_spread_frac: float | None = None
    fill_fraction: float = 0.30
    max_width_mult: float = 1.5

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")
        if not 0 < self.short_delta_target < 1:
            raise ValueError(f"short_delta_target must lie in (0, 1), got {self.short_delta_target!r}")
        if not (math.isfinite(self.width_points) and self.width_points > 0):
            raise ValueError(f"width_points must be positive, got {self.width_points!r}")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 1:
            raise ValueError(f"quantity must be a positive int, got {self.quantity!r}")
        if not (math.isfinite(self.min_credit) and self.min_credit >= 0):
            raise ValueError(f"min_credit must be non-negative, got {self.min_credit!r}")
        for name in ("max_combo_spread", "max_combo_spread_frac"):
            limit = getattr(self, name)
            if limit is not None and not (math.isfinite(limit) and limit > 0):
                raise ValueError(f"{name} must be positive or None, got {limit!r}")
        if not 0 <= self.fill_fraction <= 1:
            raise ValueError(f"fill_fraction must lie in [0, 1], got {self.fill_fraction!r}")
        if not (math.isfinite(self.max_width_mult) and self.max_width_mult >= 1):
            raise ValueError(f"max_width_mult must be >= 1, got {self.max_width_mult!r}")

    @property
    def is_call(self) -> bool:
        """True for a call credit spread (both legs calls), False for a put credit spread."""
        return self.side == "call_credit"


# A regular session is 390 minutes of SPXW trading before its 16:00 settlement.
MAX_MINUTES_BEFORE_SETTLEMENT: Final = 390


@dataclass(frozen=True)
class ExitRules:
    """How a strategy config closes an open credit spread (frozen on each decision with its config).

    ``take_profit_fraction`` f: take profit once the debit to close is ≤ (1 − f) × entry credit,
    i.e. f of the max profit is kept (0.5: +50 %). ``stop_loss_multiple`` m: stop once the loss
    reaches m × the entry credit, i.e. the debit to close is ≥ (1 + m) × credit (1.0: −100 % of
    max profit, debit ≥ 2 × credit). Optional time exit, at most one of: ``exit_at_time`` (a New
    York clock time, applied on the expiration day) or ``exit_minutes_before_settlement`` (N
    minutes before the series' settlement instant). ``rules.time_exit_for`` turns either into an
    instant; ``rules.exit_due`` applies all of them.
    """

    take_profit_fraction: float = 0.5
    stop_loss_multiple: float = 1.0
    exit_at_time: dt.time | None = None
    exit_minutes_before_settlement: int | None = None

    def __post_init__(self) -> None:
        tp, sl = self.take_profit_fraction, self.stop_loss_multiple
        if not (isinstance(tp, (int, float)) and math.isfinite(tp) and 0 < tp <= 1):
            raise ValueError(f"take_profit_fraction must lie in (0, 1], got {tp!r}")
        if not (isinstance(sl, (int, float)) and math.isfinite(sl) and sl > 0):
            raise ValueError(f"stop_loss_multiple must be positive, got {sl!r}")
        if self.exit_at_time is not None and self.exit_minutes_before_settlement is not None:
            raise ValueError("set at most one time exit: exit_at_time or exit_minutes_before_settlement")
        t = self.exit_at_time
        if t is not None and (not isinstance(t, dt.time) or t.tzinfo is not None or t.second or t.microsecond):
            raise ValueError(f"exit_at_time must be a naive whole-minute clock time (New York), got {t!r}")
        n = self.exit_minutes_before_settlement
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= MAX_MINUTES_BEFORE_SETTLEMENT):
            raise ValueError(f"exit_minutes_before_settlement must be an int in 1..{MAX_MINUTES_BEFORE_SETTLEMENT}, got {n!r}")


# ISO weekdays (1 = Monday … 5 = Friday): the days SPX options trade on.
TRADING_WEEKDAYS: Final = (1, 2, 3, 4, 5)
WEEKDAY_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {1: "Monday", 2: "Tuesday", 3: "Wednesday", 4: "Thursday", 5: "Friday", 6: "Saturday", 7: "Sunday"})
MAX_TARGET_DTE: Final = 7  # DTE targets 0 (expires the entry day) to 7 calendar days

# The entry filters, checked in this order (``rules.entry_filter_check``; the first that refuses is
# named in the SKIP's message): each reads one decision-time feature (``strategy.quant.features``).
WEEKDAYS_FILTER: Final = "entry_weekdays"
EVENT_DAY_FILTER: Final = "skip_event_days"
VIX_MIN: Final = "vix_min"
VIX_MAX: Final = "vix_max"
TERM_RATIO_MIN: Final = "term_ratio_min"
TERM_RATIO_MAX: Final = "term_ratio_max"
MIN_CREDIT_TO_WIDTH: Final = "min_credit_to_width"
ENTRY_FILTERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        WEEKDAYS_FILTER: "the entry day's ISO weekday (feature weekday + 1) is not among the allowed ones",
        EVENT_DAY_FILTER: "the entry day is an FOMC statement day of the event table (feature fomc_day)",
        VIX_MIN: "our 30-day VIX-style index (feature vix30) is below the minimum, or missing",
        VIX_MAX: "our 30-day VIX-style index (feature vix30) is above the maximum, or missing",
        TERM_RATIO_MIN: "the 9d/30d term ratio (feature vix_ratio_9d_30d) is below the minimum, or missing",
        TERM_RATIO_MAX: "the 9d/30d term ratio (feature vix_ratio_9d_30d) is above the maximum, or missing",
        MIN_CREDIT_TO_WIDTH: "the fill-model credit / width (feature credit_to_width) is below the minimum, or missing",
    }
)


def weekdays_of(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """ISO weekdays from a config's ``entry_weekdays`` ("1,3,5"; spaces allowed; blank = ()), sorted
    and distinct. ``ValueError`` (naming the bad item) for anything but the trading weekdays 1..5."""
    if text is None:
        return ()
    items = [str(x).strip() for x in (text.split(",") if isinstance(text, str) else text)]
    out = set()
    for item in (i for i in items if i):
        if not item.isdigit() or int(item) not in TRADING_WEEKDAYS:
            raise ValueError(f"{item!r} is not a trading weekday: use ISO weekdays 1 (Monday) to 5 (Friday)")
        out.add(int(item))
    return tuple(sorted(out))


def _bound(value: float | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0 or None, got {value!r}")


@dataclass(frozen=True)
class EntryFilters:
    """A strategy config's entry filters on decision-time features (frozen on each decision with its
    config); ``None`` / empty / False = no such filter, so ``EntryFilters()`` lets everything pass.

    Ranges are inclusive: ``vix_min <= vix30 <= vix_max``, ``term_ratio_min <= vix_ratio_9d_30d <=
    term_ratio_max``, ``credit_to_width >= min_credit_to_width`` (exactly, as the fraction of the
    decimal credit and width). ``weekdays``: the ISO weekdays (1 = Monday … 5 = Friday) entries are
    allowed on; () = all. ``skip_event_days``: no entry on an FOMC statement day. A set filter
    whose feature is missing (NaN) refuses the entry. ``rules.entry_filter_check`` applies them.
    """

    vix_min: float | None = None
    vix_max: float | None = None
    term_ratio_min: float | None = None
    term_ratio_max: float | None = None
    weekdays: tuple[int, ...] = ()
    skip_event_days: bool = False
    min_credit_to_width: float | None = None

    def __post_init__(self) -> None:
        for name in (VIX_MIN, VIX_MAX, TERM_RATIO_MIN, TERM_RATIO_MAX, MIN_CREDIT_TO_WIDTH):
            _bound(getattr(self, name), name)
        for low, high in ((VIX_MIN, VIX_MAX), (TERM_RATIO_MIN, TERM_RATIO_MAX)):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} {lo!r} is above {high} {hi!r}")
        days = self.weekdays
        if (not isinstance(days, tuple) or any(isinstance(d, bool) or d not in TRADING_WEEKDAYS for d in days)
                or list(days) != sorted(set(days))):
            raise ValueError(f"weekdays must be a sorted tuple of distinct ISO weekdays 1..5, got {days!r}")
        if not isinstance(self.skip_event_days, bool):
            raise ValueError(f"skip_event_days must be a bool, got {self.skip_event_days!r}")

    @property
    def active(self) -> bool:
        """True when at least one filter is set."""
        return self != EntryFilters()


@dataclass(frozen=True)
class FilterRefusal:
    """Which entry filter refused a candidate (``ENTRY_FILTERS``) and why, with the feature's value."""

    filter: str
    message: str

    def __post_init__(self) -> None:
        if self.filter not in ENTRY_FILTERS:
            raise ValueError(f"unknown entry filter {self.filter!r}")


@dataclass(frozen=True)
class TimeExit:
    """A trade's time exit as instants: due at an exit stamp ``at <= stamp < settles_at``."""

    at: dt.datetime
    settles_at: dt.datetime
    rule: str

    def due(self, stamp: dt.datetime) -> bool:
        return self.at <= stamp < self.settles_at


@dataclass(frozen=True)
class Leg:
    """One option of a spread as quoted at selection time (points per share; ``side`` is our action)."""

    symbol: str
    strike: float
    is_call: bool
    bid: float
    ask: float
    mid: float
    iv: float
    delta: float
    side: LegSide


@dataclass(frozen=True)
class SpreadCandidate:
    """A built credit spread with its modelled entry and risk numbers.

    ``width_points`` is the actual strike distance (≥ ``requested_width_points``).
    ``credit_mid`` = short mid − long mid; ``combo_spread`` = sum of both legs' bid–ask widths;
    ``credit_fill`` = ``fills.entry_credit`` (points per share, on the 0.05 tick).
    Per contract (× 100): ``max_profit_per_contract_usd`` = credit_fill × 100,
    ``max_loss_per_contract_usd`` = (width − credit_fill) × 100; the ``max_profit_usd`` and
    ``max_loss_usd`` properties multiply by ``quantity`` (design: C·100·qty, (W − C)·100·qty).
    ``breakeven`` = short strike − credit_fill (puts) or + credit_fill (calls), in points.
    ``failed_filters``: codes from ``FILTER_ORDER`` this spread failed (empty = tradable);
    ``quality_flags``: codes from ``QUALITY_FLAGS`` (informational).
    """

    side: Side
    short_leg: Leg
    long_leg: Leg
    quantity: int
    requested_width_points: float
    width_points: float
    credit_mid: float
    combo_spread: float
    credit_fill: float
    max_profit_per_contract_usd: float
    max_loss_per_contract_usd: float
    breakeven: float
    quality_flags: tuple[str, ...] = ()
    failed_filters: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when no filter failed."""
        return not self.failed_filters

    @property
    def max_profit_usd(self) -> float:
        """Max profit of the whole position in dollars: credit_fill × 100 × quantity."""
        return self.max_profit_per_contract_usd * self.quantity

    @property
    def max_loss_usd(self) -> float:
        """Max loss of the whole position in dollars: (width − credit_fill) × 100 × quantity."""
        return self.max_loss_per_contract_usd * self.quantity

    @property
    def credit_to_width(self) -> float:
        """credit_fill / width_points: the share of the width collected (ranking key)."""
        return self.credit_fill / self.width_points


@dataclass(frozen=True)
class NoCandidate:
    """Why there is no tradable spread. ``candidate`` is the rejected spread when one was built.

    Keeping the rejected spread lets a SKIP decision store its credit and bid/ask features.
    """

    reason: str
    message: str
    candidate: SpreadCandidate | None = None

    def __post_init__(self) -> None:
        if self.reason not in SELECTION_REASONS:
            raise ValueError(f"unknown selection reason {self.reason!r}")


@dataclass(frozen=True)
class RiskLimits:
    """Per-strategy-config risk limits (design defaults: 1 open trade, 1 new trade a day, none after a stop)."""

    max_open_trades: int = 1
    max_new_trades_per_day: int = 1
    no_new_after_stop: bool = True

    def __post_init__(self) -> None:
        for name in ("max_open_trades", "max_new_trades_per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")


@dataclass(frozen=True)
class RiskVerdict:
    """Whether a new trade is allowed; ``reason`` is ``"ok"`` or the first limit hit (``RISK_REASONS``)."""

    allowed: bool
    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in RISK_REASONS:
            raise ValueError(f"unknown risk reason {self.reason!r}")
        if self.allowed != (self.reason == RISK_OK):
            raise ValueError("allowed must be True exactly when reason is 'ok'")


@dataclass(frozen=True)
class ExitSignal:
    """Close (or settle) an open credit spread.

    ``debit_to_close``: the debit that triggered the exit, or the settlement value (points per
    share). ``threshold_debit``: the take-profit / stop-loss level that was reached (for a
    settlement, the settlement value itself). ``entry_credit``: credit received at entry.
    """

    reason: ExitReason
    debit_to_close: float
    threshold_debit: float
    entry_credit: float
    message: str = ""

    def __post_init__(self) -> None:
        if self.reason not in EXIT_REASONS:
            raise ValueError(f"unknown exit reason {self.reason!r}")

    @property
    def pnl_per_share(self) -> float:
        """entry_credit − debit_to_close in points per share (× 100 × quantity for dollars)."""
        return float(as_decimal(self.entry_credit) - as_decimal(self.debit_to_close))

    @property
    def pnl_per_contract_usd(self) -> float:
        """PnL of one contract in dollars, before commissions."""
        return float((as_decimal(self.entry_credit) - as_decimal(self.debit_to_close)) * as_decimal(SPX_MULTIPLIER))
