"""Capital and sizing over a backtest's trades: contracts sized by max loss as a fraction of a
capital per strategy, and the figures of the resulting account — return on capital, CAGR, max
drawdown in USD and %, MAR, monthly returns, a PnL histogram.

Pure: numpy and the stdlib only, no Django, no I/O, no clock. Money is float64 dollars (``_usd``);
fractions are plain ratios (0.02 = 2 %).

A backtest records its trades at its configs' quantity (1 contract by default); sizing is a *view*
over those trades, never a rerun: a trade's PnL is linear in its contracts (the credit, the exit
debit and the per-contract fees all scale with the quantity), so ``contracts × PnL per contract``
is exactly what the trade would have booked at that size, and the stored rows stay as they are.

Conventions, stated once:

- **Book.** Capital is per risk book ("strategy"): with the ``per_strategy`` risk scope every
  config × entry window is its own book, with ``shared`` the run is one book. A run of N books
  starts with N × capital, also when a book never trades.
- **Contracts.** ``max loss per contract = (width − credit) × 100`` USD (points per share × the SPX
  multiplier; fees are not in it), ``budget = capital × risk fraction`` and ``contracts =
  floor(budget ÷ max loss per contract)`` — fixed on the *starting* capital (no compounding: a book
  that doubles does not trade bigger). When even one contract's max loss exceeds the budget the
  trade gets **0 contracts and is not taken** (status ``over_budget``, counted): a minimum of 1 would
  risk more than the fraction says.
- **Cover.** A trade is taken only when its book can pay its max loss at entry: the book's equity
  (capital + PnL of its trades exited so far) minus the max loss held by its trades still open is
  ≥ contracts × max loss per contract; else it is not taken (``not_covered``, counted). So a book
  that has lost its capital stops trading, and equity falls below 0 only by fees.
- **Time.** Equity moves when a trade exits (its closing fill or its settlement instant), by the
  trade's whole PnL; nothing is marked to market in between. At one instant exits are booked before
  entries (an exit at 10:00 frees its max loss for a 10:00 entry); exits at one instant form one
  equity point. Months are New York calendar months of the exit instant.
- **Period.** From the run's first day through its last day or the last exit, whichever is later
  (trades entered on the last days settle after them), both inclusive: ``calendar_days`` and
  ``years = calendar_days / 365.25``.
- **Figures.** ``return_on_capital = total PnL ÷ starting capital``; ``cagr = (final equity ÷
  starting capital)^(1/years) − 1`` (−1, i.e. −100 %, when the final equity is ≤ 0; None when it
  overflows, e.g. a large gain over a few days); drawdown at an equity point = peak − equity, in %
  (peak − equity) ÷ peak, the peak starting at the starting capital; ``max_drawdown_usd`` and
  ``max_drawdown_pct`` are the maxima of each (not necessarily at the same point); ``mar = cagr ÷
  max_drawdown_pct`` (None without a drawdown). A month's return is its PnL ÷ the equity at its start
  (None when that equity is ≤ 0); a year's is its end equity ÷ its start equity − 1, which is
  compounded over its months, Π(1 + r) − 1, when each month is defined.
- **Histogram** of the taken trades' sized PnL: bins of a fixed width in USD, a "nice" step (1, 2,
  2.5 or 5 × 10ᵏ) of about (max − min) ÷ ``bins``, edges on whole multiples of the step (so 0 is an
  edge and no bin mixes wins and losses), each bin [lo, hi): a trade of exactly 0 counts in [0, step).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from strategy.quant.timemodel import NEW_YORK

SPX_MULTIPLIER: Final = 100.0
DAYS_PER_YEAR: Final = 365.25

# The inputs' ranges (the page, the API and the settings check them with these messages).
MIN_CAPITAL_USD: Final = 1_000.0
MAX_CAPITAL_USD: Final = 1_000_000_000.0
MIN_RISK_FRACTION: Final = 0.0001
MAX_RISK_FRACTION: Final = 1.0

TAKEN: Final = "taken"
OVER_BUDGET: Final = "over_budget"
NOT_COVERED: Final = "not_covered"
_EXP_LIMIT: Final = 700.0  # exp(709) is the float64 ceiling


def _in_range(value: object, lo: float, hi: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi


def capital_error(capital_usd: float) -> str | None:
    """Why a capital per strategy (USD) is refused, or None."""
    if _in_range(capital_usd, MIN_CAPITAL_USD, MAX_CAPITAL_USD):
        return None
    return f"capital per strategy must be a number from ${MIN_CAPITAL_USD:,.0f} to ${MAX_CAPITAL_USD:,.0f} (USD)"


def risk_fraction_error(risk_fraction: float) -> str | None:
    """Why a risk fraction is refused, or None."""
    if _in_range(risk_fraction, MIN_RISK_FRACTION, MAX_RISK_FRACTION):
        return None
    return (f"risk fraction must be a number from {MIN_RISK_FRACTION:g} to {MAX_RISK_FRACTION:g} "
            f"(0.02 = 2 % of the capital at risk per trade)")


def sizing_errors(capital_usd: float, risk_fraction: float) -> dict[str, list[str]]:
    """What is wrong with a capital per strategy (USD) and a risk fraction, by input name; {} when both are fine."""
    errors = {"capital_usd": capital_error(capital_usd), "risk_fraction": risk_fraction_error(risk_fraction)}
    return {name: [message] for name, message in errors.items() if message}


@dataclass(frozen=True)
class SizingRule:
    """Capital per book (USD) and the fraction of it one trade may lose at most; ValueError outside the ranges."""

    capital_usd: float
    risk_fraction: float

    def __post_init__(self) -> None:
        if errors := sizing_errors(self.capital_usd, self.risk_fraction):
            raise ValueError("; ".join(m for ms in errors.values() for m in ms))

    @property
    def budget_usd(self) -> float:
        """The most one trade may lose: capital × risk fraction, USD."""
        return self.capital_usd * self.risk_fraction


def max_loss_per_contract_usd(width_points: float, credit_points: float) -> float:
    """(width − credit) × 100: what one contract of a credit spread loses at most, USD, before fees
    (rounded to the cent: (25 − 23.70) × 100 is 130.00000000000006 in float64)."""
    return round((float(width_points) - float(credit_points)) * SPX_MULTIPLIER, 2)


def contracts_for(max_loss_usd: float, rule: SizingRule) -> int:
    """floor(capital × fraction ÷ max loss per contract); 0 when one contract is over the budget.
    ValueError when the max loss is not a positive number (a credit at or above the width)."""
    if not (math.isfinite(max_loss_usd) and max_loss_usd > 0):
        raise ValueError(f"max loss per contract must be a positive number of USD, got {max_loss_usd!r}")
    # A hair of tolerance: 2,000 ÷ 1,000 is 2 contracts even when the quotient rounds to 1.9999999999999998.
    return int(math.floor(rule.budget_usd / max_loss_usd * (1 + 1e-12)))


@dataclass(frozen=True)
class TradeOutcome:
    """One closed trade as sizing needs it: its book, when it entered and exited (aware datetimes),
    its PnL per contract net of fees and its max loss per contract (both USD)."""

    book: str
    entry_at: dt.datetime
    exit_at: dt.datetime
    pnl_per_contract_usd: float
    max_loss_per_contract_usd: float


@dataclass(frozen=True)
class SizedTrade:
    outcome: TradeOutcome
    contracts: int  # 0 when not taken
    pnl_usd: float  # contracts × PnL per contract (0.0 when not taken)
    status: str  # TAKEN | OVER_BUDGET | NOT_COVERED


def size_trades(trades: Sequence[TradeOutcome], rule: SizingRule) -> list[SizedTrade]:
    """Each trade sized by ``rule`` and taken or not (module docstring: contracts, cover, time), in
    the order given. Books are independent; within a book the trades are walked by instant, exits
    before entries at one instant. ValueError on an exit before its entry, a naive datetime or a max
    loss that is not positive."""
    for t in trades:
        if t.entry_at.tzinfo is None or t.exit_at.tzinfo is None:
            raise ValueError("entry_at and exit_at must be timezone-aware")
        if t.exit_at < t.entry_at:
            raise ValueError(f"a trade exits ({t.exit_at}) before it enters ({t.entry_at})")
    wanted = [contracts_for(t.max_loss_per_contract_usd, rule) for t in trades]
    # Events per book: (instant, 0 = exit / 1 = entry, index); sorted, exits come first at one instant.
    # POSIX seconds: the same order as the aware datetimes, and much cheaper to sort.
    events: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    for i, t in enumerate(trades):
        events[t.book].append((t.entry_at.timestamp(), 1, i))
        events[t.book].append((t.exit_at.timestamp(), 0, i))
    status = [OVER_BUDGET if n == 0 else NOT_COVERED for n in wanted]
    for book_events in events.values():
        equity = rule.capital_usd
        held = 0.0  # max loss of the book's open trades
        for _, kind, i in sorted(book_events):
            t, n = trades[i], wanted[i]
            if kind == 1:
                risk = n * t.max_loss_per_contract_usd
                if n > 0 and equity - held >= risk * (1 - 1e-12):
                    status[i] = TAKEN
                    held += risk
            elif status[i] == TAKEN:
                held -= n * t.max_loss_per_contract_usd
                equity += n * t.pnl_per_contract_usd
    return [SizedTrade(outcome=t, contracts=wanted[i] if status[i] == TAKEN else 0,
                       pnl_usd=wanted[i] * t.pnl_per_contract_usd if status[i] == TAKEN else 0.0, status=status[i])
            for i, t in enumerate(trades)]


@dataclass(frozen=True)
class EquityPoint:
    at: dt.datetime  # an exit instant
    equity_usd: float  # after every exit at that instant
    drawdown_usd: float  # peak − equity, >= 0
    drawdown_pct: float  # (peak − equity) ÷ peak


@dataclass(frozen=True)
class MonthReturn:
    year: int
    month: int
    start_equity_usd: float
    pnl_usd: float  # booked by exits in the month (New York time)
    return_pct: float | None  # pnl ÷ start equity; None when the start equity is <= 0


@dataclass(frozen=True)
class Histogram:
    edges_usd: tuple[float, ...]  # len(counts) + 1, ascending; () without trades
    counts: tuple[int, ...]
    bin_usd: float | None


@dataclass(frozen=True)
class CapitalReport:
    """The account of ``books`` books of ``rule.capital_usd`` each trading ``size_trades``' result
    (formulas in the module docstring)."""

    rule: SizingRule
    books: int
    capital_usd: float  # starting capital: books × capital per book
    first_day: dt.date
    last_day: dt.date
    calendar_days: int
    years: float
    trades: int  # given (closed trades)
    taken: int
    over_budget: int
    not_covered: int
    contracts_min: int | None  # over the taken trades
    contracts_max: int | None
    contracts_total: int
    total_pnl_usd: float
    final_equity_usd: float
    return_on_capital: float
    cagr: float | None
    max_drawdown_usd: float
    max_drawdown_pct: float
    mar: float | None
    equity: tuple[EquityPoint, ...]
    monthly: tuple[MonthReturn, ...]
    histogram: Histogram
    # year → equity at the end of its last month ÷ at the start of its first (in the period) − 1, which is
    # Π(1 + month return) − 1 when every month is defined; None when the year starts at equity <= 0.
    yearly: dict[int, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: USD rounded to 2 dp, ratios to 6, instants and days ISO; the equity points left out."""
        return {
            "capital_usd": round(self.capital_usd, 2), "capital_per_book_usd": round(self.rule.capital_usd, 2),
            "risk_fraction": self.rule.risk_fraction, "budget_per_trade_usd": round(self.rule.budget_usd, 2),
            "books": self.books, "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
            "calendar_days": self.calendar_days, "years": round(self.years, 6),
            "trades": self.trades, "taken": self.taken, "over_budget": self.over_budget,
            "not_covered": self.not_covered,
            "contracts_min": self.contracts_min, "contracts_max": self.contracts_max,
            "contracts_total": self.contracts_total,
            "total_pnl_usd": round(self.total_pnl_usd, 2), "final_equity_usd": round(self.final_equity_usd, 2),
            "return_on_capital": _r(self.return_on_capital), "cagr": _r(self.cagr),
            "max_drawdown_usd": round(self.max_drawdown_usd, 2), "max_drawdown_pct": _r(self.max_drawdown_pct),
            "mar": _r(self.mar),
            "monthly": [{"year": m.year, "month": m.month, "start_equity_usd": round(m.start_equity_usd, 2),
                         "pnl_usd": round(m.pnl_usd, 2), "return_pct": _r(m.return_pct)} for m in self.monthly],
            "yearly": {str(y): _r(v) for y, v in self.yearly.items()},
            "histogram": {"edges_usd": list(self.histogram.edges_usd), "counts": list(self.histogram.counts),
                          "bin_usd": self.histogram.bin_usd},
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _months(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    out, (y, m) = [], (first.year, first.month)
    while (y, m) <= (last.year, last.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _cagr(final_usd: float, capital_usd: float, years: float) -> float | None:
    if final_usd <= 0:
        return -1.0
    exponent = math.log(final_usd / capital_usd) / years
    return math.expm1(exponent) if exponent < _EXP_LIMIT else None


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ᵏ that is ≥ ``raw`` (> 0)."""
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-12))


def pnl_histogram(pnl_usd: Iterable[float], *, bins: int = 20) -> Histogram:
    """Fixed-width bins of ``pnl_usd`` (module docstring): the step is ``nice_step((max − min) ÷ bins)``
    (of max(|value|, 1) ÷ bins when every value is equal), edges run from floor(min ÷ step) to
    floor(max ÷ step) + 1 steps, so max < the last edge. Empty input: no edges."""
    values = np.asarray(list(pnl_usd), dtype=np.float64)
    if values.size == 0:
        return Histogram(edges_usd=(), counts=(), bin_usd=None)
    if not np.isfinite(values).all():
        raise ValueError("PnL values must be finite")
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else max(abs(lo), 1.0)
    step = nice_step(span / max(int(bins), 1))
    # Whole steps, with a hair of tolerance so 0.3 ÷ 0.1 = 2.9999999999999996 lands in the bin of 0.3.
    index = np.floor(values / step + 1e-9).astype(np.int64)
    k0, k1 = int(index.min()), int(index.max()) + 1
    counts = np.bincount(index - k0, minlength=k1 - k0)
    decimals = max(0, 1 - math.floor(math.log10(step)))  # 2.5 × 10ᵏ needs one digit more than 10ᵏ
    edges = tuple(round(k * step, decimals) + 0.0 for k in range(k0, k1 + 1))
    return Histogram(edges_usd=edges, counts=tuple(int(c) for c in counts), bin_usd=step)


def capital_report(sized: Sequence[SizedTrade], *, rule: SizingRule, books: int, first_day: dt.date,
                   last_day: dt.date, bins: int = 20) -> CapitalReport:
    """The account of ``books`` (>= 1) books of ``rule.capital_usd`` each over the run's days
    ``first_day``..``last_day`` (inclusive; extended to the last exit's New York date), from
    ``size_trades``' result (all books' trades, or one book's with ``books=1``)."""
    if books < 1:
        raise ValueError("a report needs at least one book")
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    capital = books * rule.capital_usd
    taken = [s for s in sized if s.status == TAKEN]
    exits = sorted(taken, key=lambda s: s.outcome.exit_at)
    last_exit = max((s.outcome.exit_at.astimezone(NEW_YORK).date() for s in exits), default=last_day)
    end = max(last_day, last_exit)
    calendar_days = (end - first_day).days + 1
    years = calendar_days / DAYS_PER_YEAR

    by_instant: dict[dt.datetime, float] = defaultdict(float)
    for s in exits:
        by_instant[s.outcome.exit_at] += s.pnl_usd  # one point per instant: the state after all of its exits
    points: list[EquityPoint] = []
    equity, peak = capital, capital
    for at in sorted(by_instant):
        equity += by_instant[at]
        peak = max(peak, equity)
        points.append(EquityPoint(at=at, equity_usd=equity, drawdown_usd=peak - equity,
                                  drawdown_pct=(peak - equity) / peak))
    total = float(sum(s.pnl_usd for s in taken))
    final = capital + total
    max_dd_usd = max((p.drawdown_usd for p in points), default=0.0)
    max_dd_pct = max((p.drawdown_pct for p in points), default=0.0)
    cagr = _cagr(final, capital, years)

    by_month: dict[tuple[int, int], float] = defaultdict(float)
    for s in exits:
        local = s.outcome.exit_at.astimezone(NEW_YORK)
        by_month[(local.year, local.month)] += s.pnl_usd
    monthly, start_equity = [], capital
    year_start: dict[int, float] = {}
    year_end: dict[int, float] = {}
    for y, m in _months(first_day, end):
        pnl = by_month.get((y, m), 0.0)
        monthly.append(MonthReturn(year=y, month=m, start_equity_usd=start_equity, pnl_usd=pnl,
                                   return_pct=pnl / start_equity if start_equity > 0 else None))
        year_start.setdefault(y, start_equity)
        start_equity += pnl
        year_end[y] = start_equity
    yearly = {y: year_end[y] / year_start[y] - 1 if year_start[y] > 0 else None for y in year_start}

    contracts = [s.contracts for s in taken]
    return CapitalReport(
        rule=rule, books=books, capital_usd=capital, first_day=first_day, last_day=end, calendar_days=calendar_days,
        years=years, trades=len(sized), taken=len(taken),
        over_budget=sum(1 for s in sized if s.status == OVER_BUDGET),
        not_covered=sum(1 for s in sized if s.status == NOT_COVERED),
        contracts_min=min(contracts, default=None), contracts_max=max(contracts, default=None),
        contracts_total=sum(contracts), total_pnl_usd=total, final_equity_usd=final,
        return_on_capital=total / capital, cagr=cagr, max_drawdown_usd=max_dd_usd, max_drawdown_pct=max_dd_pct,
        mar=cagr / max_dd_pct if cagr is not None and max_dd_pct > 0 else None,
        equity=tuple(points), monthly=tuple(monthly), histogram=pnl_histogram([s.pnl_usd for s in taken], bins=bins),
        yearly=yearly,
    )
