"""A backtest run's trades sized by a capital per strategy and a risk fraction (``engine.capital``,
whose docstring states every formula and convention): the run's sizing, its closed trades as sizing
inputs, the report of the whole run or of one of its books, and the display rows of the run page.

A view over the stored trades, never a rerun: the rows keep their quantity (1 contract unless a
config says otherwise) and ``run.metrics`` is untouched; a trade's PnL per contract is its realized
PnL ÷ its quantity, and sizing multiplies it by the contracts the rule gives.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from backtests.engine import capital as engine
from backtests.models import BacktestRun
from execution.models import Trade
from snapshots.charts import MONTHS, bars_chart, heat_color
from snapshots.formatting import usd_text

SHARED_BOOK = "shared"


@dataclass(frozen=True)
class Book:
    key: str  # the risk book of the run's params ("<config id>@HHMM", or "shared")
    name: str


@dataclass(frozen=True)
class BookReport:
    book: Book
    report: engine.CapitalReport


@dataclass(frozen=True)
class RunCapital:
    """The whole run's account (``book`` None: every book, N × capital) or one book's, with every
    book's own report for the per-strategy table, and the closed trades left out (none: only the
    trades open at the end of the data, which have no realized PnL)."""

    rule: engine.SizingRule
    book: Book | None
    report: engine.CapitalReport
    books: list[BookReport]
    open_trades: int
    # Max loss per contract over the sized trades (USD): the contracts rule's input, for the explanation.
    max_loss_min_usd: float | None
    max_loss_median_usd: float | None
    max_loss_max_usd: float | None

    def contracts_at(self, max_loss_usd: float | None) -> int | None:
        return None if max_loss_usd is None else engine.contracts_for(max_loss_usd, self.rule)


def sizing_default(run: BacktestRun) -> tuple[float, float]:
    """(capital per strategy USD, risk fraction) the run was launched with (``params["sizing"]``), or
    the settings' ``BACKTEST_CAPITAL_USD`` / ``BACKTEST_RISK_FRACTION`` for a run stored without them."""
    stored = (run.params or {}).get("sizing") or {}
    try:
        pair = (float(stored.get("capital_usd", settings.BACKTEST_CAPITAL_USD)),
                float(stored.get("risk_fraction", settings.BACKTEST_RISK_FRACTION)))
    except (TypeError, ValueError):
        pair = (math.nan, math.nan)
    if engine.sizing_errors(*pair):  # a hand-edited row: the settings rather than a page that cannot render
        return float(settings.BACKTEST_CAPITAL_USD), float(settings.BACKTEST_RISK_FRACTION)
    return pair


def input_text(value: float) -> str:
    """A number as one types it into the form or a query: 100000, 0.05 (no exponent, no trailing zeros)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def sizing_params(*, capital_usd: float | None = None, risk_fraction: float | None = None) -> dict[str, float]:
    """``params["sizing"]`` of a launch (the settings' defaults for what is not given); ValueError
    naming the bad input otherwise. It changes no row of the run: it is the default of its sizing view."""
    capital = float(settings.BACKTEST_CAPITAL_USD if capital_usd is None else capital_usd)
    fraction = float(settings.BACKTEST_RISK_FRACTION if risk_fraction is None else risk_fraction)
    engine.SizingRule(capital_usd=capital, risk_fraction=fraction)  # the ranges
    return {"capital_usd": capital, "risk_fraction": fraction}


def run_books(run: BacktestRun) -> list[Book]:
    """The run's risk books in the order of its parameters: every config × window (``per_strategy``)
    or one shared book."""
    seen: dict[str, Book] = {}
    for s in (run.params or {}).get("strategies", []):
        key = str(s.get("book") or s.get("key"))
        if key not in seen:
            seen[key] = Book(key, "one shared book (every config)" if key == SHARED_BOOK else str(s.get("name", key)))
    return list(seen.values()) or [Book(SHARED_BOOK, "one shared book (every config)")]


def _book_of(run: BacktestRun) -> dict[tuple[int, str], str]:
    """(config id, window "HH:MM") → book key, from the run's strategies."""
    out: dict[tuple[int, str], str] = {}
    for s in (run.params or {}).get("strategies", []):
        for w in s.get("windows", []):
            out[(int(s["config_id"]), str(w))] = str(s.get("book") or s.get("key"))
    return out


def run_outcomes(run: BacktestRun) -> tuple[list[engine.TradeOutcome], int]:
    """The run's closed trades as sizing inputs (book, entry and exit instants, PnL and max loss per
    contract), and how many of its trades are left out (open at the end of the data)."""
    book_of = _book_of(run)
    shared = (run.params or {}).get("risk_scope") == "shared"
    rows = (Trade.objects.filter(backtest_run=run, status=Trade.Status.CLOSED).exclude(realized_pnl_usd=None)
            .exclude(entry_credit=None).exclude(closed_at=None).exclude(opened_at=None)
            .order_by("opened_at", "pk")
            .values_list("strategy_config_id", "decision__entry_window", "opened_at", "closed_at", "realized_pnl_usd",
                         "quantity", "width_points", "entry_credit"))
    outcomes = []
    for config_id, window, opened, closed, pnl, quantity, width, credit in rows:
        assert opened is not None and closed is not None and pnl is not None and credit is not None  # filtered above
        hhmm = window.strftime("%H:%M")
        book = SHARED_BOOK if shared else book_of.get((config_id, hhmm), f"{config_id}@{window:%H%M}")
        outcomes.append(engine.TradeOutcome(
            book=book, entry_at=opened, exit_at=closed, pnl_per_contract_usd=float(pnl) / max(int(quantity), 1),
            max_loss_per_contract_usd=engine.max_loss_per_contract_usd(float(width), float(credit))))
    # Every trade that was entered but has no realized PnL to size (open at the end of the data).
    entered = Trade.objects.filter(backtest_run=run).exclude(status=Trade.Status.NOT_FILLED).count()
    return outcomes, entered - len(outcomes)


CAPITAL_CACHE_SECONDS = 3600


def run_capital(run: BacktestRun, *, capital_usd: float, risk_fraction: float, book: str | None = None) -> RunCapital:
    """The run's trades sized by ``capital_usd`` per book and ``risk_fraction`` (ValueError outside
    their ranges, or for a book the run does not have): the account of every book together (N ×
    capital) or of ``book`` alone, and each book's own report.

    A finished run's trades no longer change (a reassembly or a reopen gives it another
    ``finished_at``), so its report is cached per inputs: sizing a year × 36 run's trades takes
    most of a second, and the run page shows it on every view."""
    if run.status != BacktestRun.Status.DONE or run.finished_at is None:
        return _run_capital(run, capital_usd=capital_usd, risk_fraction=risk_fraction, book=book)
    key = (f"run-capital:{run.pk}:{run.finished_at.isoformat()}:{run.code_version}:"
           f"{capital_usd!r}:{risk_fraction!r}:{book or ''}")
    cached = cache.get(key)
    if isinstance(cached, RunCapital):
        return cached
    result = _run_capital(run, capital_usd=capital_usd, risk_fraction=risk_fraction, book=book)
    cache.set(key, result, CAPITAL_CACHE_SECONDS)
    return result


def _run_capital(run: BacktestRun, *, capital_usd: float, risk_fraction: float, book: str | None) -> RunCapital:
    rule = engine.SizingRule(capital_usd=capital_usd, risk_fraction=risk_fraction)
    books = run_books(run)
    chosen = None
    if book:
        chosen = next((b for b in books if b.key == book), None)
        if chosen is None:
            raise ValueError(f"run {run.pk} has no strategy {book!r}")
    outcomes, left_out = run_outcomes(run)
    known = {b.key for b in books}
    for key in dict.fromkeys(o.book for o in outcomes if o.book not in known):
        books.append(Book(key, key))  # a trade outside the run's listed books (a hand-made row) still counts
    sized = engine.size_trades(outcomes, rule)
    first, last = run.start_date, run.end_date
    by_book: dict[str, list[engine.SizedTrade]] = {b.key: [] for b in books}
    for s in sized:
        by_book[s.outcome.book].append(s)
    per_book = [BookReport(b, engine.capital_report(by_book[b.key], rule=rule, books=1, first_day=first, last_day=last))
                for b in books]
    if chosen is None:
        report = engine.capital_report(sized, rule=rule, books=len(books), first_day=first, last_day=last)
    else:
        report = next(r.report for r in per_book if r.book.key == chosen.key)
    losses = [o.max_loss_per_contract_usd for o in outcomes if chosen is None or o.book == chosen.key]
    return RunCapital(rule=rule, book=chosen, report=report, books=per_book, open_trades=left_out,
                      max_loss_min_usd=min(losses, default=None), max_loss_max_usd=max(losses, default=None),
                      max_loss_median_usd=statistics.median(losses) if losses else None)


# ------------------------------------------------------------------------------------ display

def monthly_rows(report: engine.CapitalReport) -> list[dict[str, Any]]:
    """Year × month cells of the monthly returns (% of the start-of-month equity; blank outside the
    period, "—" where undefined) with the year's return, coloured on one diverging scale."""
    values = [m.return_pct for m in report.monthly if m.return_pct is not None]
    scale = max((abs(v) for v in values), default=0.0)
    by_year: dict[int, list[dict[str, Any]]] = {}
    for m in report.monthly:
        cells = by_year.setdefault(m.year, [{"text": "", "bg": "", "title": ""} for _ in MONTHS])
        text = "—" if m.return_pct is None else f"{m.return_pct * 100:.2f}%"
        cells[m.month - 1] = {"text": text, "bg": heat_color(m.return_pct, scale),
                              "title": f"{MONTHS[m.month - 1]} {m.year}: {m.pnl_usd:+,.2f} USD on "
                                       f"{m.start_equity_usd:,.2f} USD at the start of the month"}
    rows = []
    for year, cells in sorted(by_year.items()):
        total = report.yearly.get(year)
        rows.append({"year": year, "cells": cells, "total": "—" if total is None else f"{total * 100:.2f}%",
                     "total_tone": "" if not total else "good" if total > 0 else "bad"})
    return rows


def histogram_chart(report: engine.CapitalReport) -> dict[str, Any] | None:
    """The sized-PnL histogram's bars (the engine's edges, drawn by ``includes/chart.html``)."""
    h = report.histogram
    if not h.counts or h.bin_usd is None:
        return None
    return bars_chart(list(h.edges_usd), list(h.counts), bin_usd=h.bin_usd, x_title="sized PnL per trade (USD)")


def period_text(report: engine.CapitalReport) -> str:
    return (f"{report.first_day:%Y-%m-%d} → {report.last_day:%Y-%m-%d}: {report.calendar_days:,} calendar days "
            f"= {report.years:.4f} years of {engine.DAYS_PER_YEAR}")


# The figures two runs are compared on, at one sizing: (attribute of CapitalReport, label, kind).
COMPARE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("capital_usd", "Starting capital (books × capital)", "usd"),
    ("taken", "Trades taken", "int"),
    ("over_budget", "Not taken: over budget", "int"),
    ("not_covered", "Not taken: not covered", "int"),
    ("contracts_total", "Contracts in all", "int"),
    ("total_pnl_usd", "Total PnL", "usd"),
    ("return_on_capital", "Return on capital", "pct"),
    ("cagr", "CAGR", "pct"),
    ("max_drawdown_usd", "Max drawdown (USD)", "usd"),
    ("max_drawdown_pct", "Max drawdown (% of peak equity)", "pct"),
    ("mar", "MAR (CAGR ÷ max drawdown %)", "ratio"),
)


def _text(value: float | int | None, kind: str, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    if kind == "int":
        return f"{int(value):+,}" if signed else f"{int(value):,}"
    if kind == "usd":
        text = usd_text(value)
        return f"+{text}" if signed and value > 0 else text
    if kind == "pct":
        return f"{value * 100:+.2f} pp" if signed else f"{value * 100:.2f}%"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def compare_rows(a: engine.CapitalReport, b: engine.CapitalReport) -> list[dict[str, str]]:
    """Two runs' accounts at one sizing side by side, with B − A (percentage points for the % figures)."""
    rows = []
    for key, label, kind in COMPARE_FIELDS:
        va, vb = getattr(a, key), getattr(b, key)
        diff = "" if va is None or vb is None else "0" if abs(vb - va) < 1e-12 else _text(vb - va, kind, signed=True)
        tone = "" if key not in ("total_pnl_usd", "return_on_capital", "cagr") or not diff or vb == va else (
            "good" if vb > va else "bad")
        rows.append({"key": key, "label": label, "a": _text(va, kind), "b": _text(vb, kind), "diff": diff,
                     "tone": tone})
    return rows


def as_api(rc: RunCapital) -> dict[str, Any]:
    """The API's ``capital`` block: the rule, the account (``CapitalReport.as_dict``) and each book's headline."""
    return {
        "rule": {"capital_per_book_usd": rc.rule.capital_usd, "risk_fraction": rc.rule.risk_fraction,
                 "budget_per_trade_usd": round(rc.rule.budget_usd, 2),
                 "contracts": "floor(capital_per_book_usd × risk_fraction ÷ ((width − credit) × 100)); "
                              "0 = not taken"},
        "book": rc.book.key if rc.book else None,
        "open_trades_left_out": rc.open_trades,
        **rc.report.as_dict(),
        "books": [{"book": b.book.key, "name": b.book.name, **{k: v for k, v in b.report.as_dict().items()
                                                             if k not in ("monthly", "histogram", "yearly")}}
                  for b in rc.books],
    }

