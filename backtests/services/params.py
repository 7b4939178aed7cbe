"""A run's parameters (canonical, stored and hashed), its strategies, and the data it may read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from backtests.data import store
from backtests.data.dbn_io import SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS
from backtests.engine.types import EngineParams, Strategy
from backtests.models import ImportedDay
from snapshots import market_calendar, settlement_values
from snapshots.events import event_days
from snapshots.models import MarketEvent
from snapshots.payloads import sha256_of
from strategy import gating
from strategy.models import StrategyConfig
from strategy.quant.decision import StrategySpec
from strategy.quant.fills import DEFAULT_FILL_FRACTION
from strategy.services import ENTRY_WINDOWS, FOMC_LOOKAHEAD_DAYS, exit_rules_of, strategy_spec

RISK_SCOPES = ("per_strategy", "shared")
DEFAULT_CHUNK_DAYS = 21
EXTENSION_CALENDAR_DAYS = 16  # days read past a chunk to finish its open trades (7 DTE + tolerance + holidays)


class BacktestError(ValueError):
    """A run that cannot be created or run as asked; the message says why. ``fields`` names the
    inputs at fault (``{"end": [message]}``) when the refusal is about one, for form and API errors."""

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def strategy_count(*, configs: int, windows: int, risk_scope: str) -> int:
    """How many strategies a run has: one per config × window (``per_strategy``), one per config (``shared``)."""
    return configs if risk_scope == "shared" else configs * windows


def run_limits_errors(*, start: dt.date, end: dt.date, strategies: int | None = None) -> dict[str, list[str]]:
    """What is too much in a launch, by field: dates outside the trading calendar's years, a span
    past ``BACKTEST_MAX_SPAN_DAYS`` calendar days (start to end inclusive) or more strategies than
    ``BACKTEST_MAX_STRATEGIES``. Arithmetic only — no calendar, no store — so it runs before any work."""
    errors: dict[str, list[str]] = {}
    years = f"{market_calendar.FIRST_SUPPORTED_YEAR}–{market_calendar.LAST_SUPPORTED_YEAR}"
    for name, day in (("start", start), ("end", end)):
        if not market_calendar.is_supported(day):
            errors.setdefault(name, []).append(f"{day} is outside the trading calendar's years ({years})")
    span_days = (end - start).days + 1
    limit = int(settings.BACKTEST_MAX_SPAN_DAYS)
    if span_days > limit:
        errors.setdefault("end", []).append(
            f"the range covers {span_days:,} calendar days; a run may cover at most {limit:,} "
            f"(BACKTEST_MAX_SPAN_DAYS): split it into several runs")
    most = int(settings.BACKTEST_MAX_STRATEGIES)
    if strategies is not None and strategies > most:
        errors.setdefault("configs", []).append(
            f"{strategies} strategies (configs × windows) asked; a run may have at most {most} (BACKTEST_MAX_STRATEGIES)")
    return errors


def run_limits_check(*, start: dt.date, end: dt.date, strategies: int | None = None) -> None:
    """``run_limits_errors`` as a ``BacktestError`` (every refusal in its message and in ``fields``)."""
    if errors := run_limits_errors(start=start, end=end, strategies=strategies):
        raise BacktestError("; ".join(m for ms in errors.values() for m in ms), fields=errors)


def _window(text: str) -> dt.time:
    try:
        w = dt.time.fromisoformat(text)
    except ValueError:
        raise BacktestError(f"entry window {text!r} is not HH:MM") from None
    if w not in ENTRY_WINDOWS:
        raise BacktestError(f"entry window {text} is not one of {', '.join(x.strftime('%H:%M') for x in ENTRY_WINDOWS)}")
    return w


def params_build(
    *, start: dt.date, end: dt.date, configs: Iterable[StrategyConfig], windows: Sequence[str] = ("10:00", "11:00", "12:00"),
    risk_scope: str = "per_strategy", exit_check_minutes: int = 1, chunk_days: int = DEFAULT_CHUNK_DAYS,
    fees_per_contract_usd: float | None = None, dte_tolerance_days: int | None = None,
    ml_model: str | None = None,
) -> dict[str, Any]:
    """The full, canonical configuration of a run (stored on it and hashed).

    ``per_strategy``: every (config, window) pair is its own strategy with its own risk budget — the
    research grid (12 seeded configs × 3 windows = 36). ``shared``: the configs decide at each of
    the windows and share one budget, ranked as live does — the mode that reproduces live trading.
    ``ml_model``: gate the entries with that meta-labeler version (None: ungated, the rules alone —
    never "whatever is active", so a rerun decides alike). Exit rules (take profit, stop, time exit)
    are each config's own, frozen in its ``params`` as on a live decision.

    Refuses at once, before reading anything (``run_limits_check``), a range or a grid past the
    configured caps: every door (page, API, command) builds its parameters here.
    """
    if end < start:
        raise BacktestError(f"end {end} is before start {start}", fields={"end": [f"end {end} is before start {start}"]})
    run_limits_check(start=start, end=end)
    if ml_model is not None and not gating.known(str(ml_model)):
        raise BacktestError(f"model {ml_model} does not exist")
    if risk_scope not in RISK_SCOPES:
        raise BacktestError(f"risk scope must be one of {RISK_SCOPES}, got {risk_scope!r}")
    if not 1 <= exit_check_minutes <= 60:
        raise BacktestError("exit check interval must be 1 to 60 minutes")
    if chunk_days < 1:
        raise BacktestError("chunk size must be at least one day")
    window_list = sorted({_window(w) for w in windows})
    if not window_list:
        raise BacktestError("choose at least one entry window")
    configs = sorted(configs, key=lambda c: (c.priority, c.name))
    if not configs:
        raise BacktestError("choose at least one strategy config")
    run_limits_check(start=start, end=end,
                     strategies=strategy_count(configs=len(configs), windows=len(window_list), risk_scope=risk_scope))
    strategies = []
    for c in configs:
        frozen = c.frozen()
        if risk_scope == "shared":
            # Keyed by the config's name, as live keys it: the rank's last tie-break (equal priority
            # and equal credit per point of width) is the key, so live and backtest must agree on it.
            strategies.append({"key": c.name, "config_id": c.pk, "name": c.name, "params": frozen,
                               "windows": [w.strftime("%H:%M") for w in window_list], "book": "shared"})
        else:
            for w in window_list:
                key = f"{c.pk}@{w:%H%M}"
                strategies.append({"key": key, "config_id": c.pk, "name": f"{c.name} @ {w:%H:%M}", "params": frozen,
                                   "windows": [w.strftime("%H:%M")], "book": key})
    return {
        "start": start.isoformat(), "end": end.isoformat(), "risk_scope": risk_scope, "strategies": strategies,
        "fill_fraction": DEFAULT_FILL_FRACTION, "exit_check_minutes": int(exit_check_minutes),
        "dte_tolerance_days": int(settings.SNAPSHOT_DTE_TOLERANCE_DAYS if dte_tolerance_days is None else dte_tolerance_days),
        "fees_per_contract_usd": float(settings.FEES_PER_CONTRACT_USD if fees_per_contract_usd is None else fees_per_contract_usd),
        "chunk_days": int(chunk_days),
        # Official settlement values loaded by the operator override the estimates (stored, so a
        # rerun of these params settles alike whatever the table holds later).
        "official_settlements": settlement_values.as_rows(settlement_values.official_settlements(
            start, end + dt.timedelta(days=EXTENSION_CALENDAR_DAYS))),
        # What the features read besides the quotes, frozen with the run: the live capture's DTE
        # targets (the chains its market context covers) and the FOMC statement days.
        "context_dte_targets": sorted(int(t) for t in settings.SNAPSHOT_DTE_TARGETS),
        "fomc_days": [d.isoformat() for d in event_days(MarketEvent.Kind.FOMC, start, end + dt.timedelta(days=FOMC_LOOKAHEAD_DAYS))],
        "ml_model": str(ml_model) if ml_model is not None else None,
    }


def params_sha256(params: dict[str, Any]) -> str:
    return sha256_of(params)


def _legacy_exit_params(params: dict[str, Any], frozen: dict[str, Any]) -> dict[str, Any]:
    """A run stored before exit rules were per config had one take profit and one stop for all its
    strategies (``take_profit_fraction``, and ``stop_loss_multiple`` as the stop's debit ÷ credit):
    its strategies get those, in today's terms (loss ÷ credit = debit multiple − 1)."""
    if "take_profit_fraction" in frozen or "take_profit_fraction" not in params:
        return frozen
    return {**frozen, "take_profit_fraction": f"{float(params['take_profit_fraction']):.3f}",
            "stop_loss_multiple": f"{float(params['stop_loss_multiple']) - 1:.3f}",
            "exit_at_time": None, "exit_minutes_before_settlement": None}


# A config's entry filters when none is set (``StrategyConfig``'s defaults when the filters came in).
NO_ENTRY_FILTERS: dict[str, Any] = {"vix_min": None, "vix_max": None, "term_ratio_min": None, "term_ratio_max": None,
                                    "entry_weekdays": "", "skip_event_days": False, "min_credit_to_width": None}


def _legacy_filter_params(frozen: dict[str, Any]) -> dict[str, Any]:
    """A run stored before the entry filters existed decided without any: its strategies get none,
    spelled out, whatever the model's defaults say later (so the run reruns identically)."""
    return {**NO_ENTRY_FILTERS, **frozen}


# The frozen parameters ``strategy_spec`` reads only through ``exit_rules_of``.
_EXIT_PARAMS = frozenset({"take_profit_fraction", "stop_loss_multiple", "exit_at_time", "exit_minutes_before_settlement"})


def strategies_of(params: dict[str, Any]) -> list[Strategy]:
    """The run's strategies, their rules (selection, entry filters, risk and exits) built from the
    frozen config parameters as live builds them.

    Strategies whose parameters differ only in their exits (a sweep's thousands of variants) build
    one spec through ``strategy_spec`` and the others from it with their own key, book and
    ``exit_rules_of`` their parameters — what ``strategy_spec`` gives them (frozen parameters
    freeze to themselves; a test compares both ways over a sweep's variants)."""
    out = []
    specs: dict[str, StrategySpec] = {}
    for s in params["strategies"]:
        frozen = _legacy_filter_params(_legacy_exit_params(params, s["params"]))
        selection = repr(sorted((k, v) for k, v in frozen.items() if k not in _EXIT_PARAMS))
        first = specs.get(selection)
        if first is None:
            config = StrategyConfig(**frozen)  # unsaved: only read to build the decision core's spec
            spec = specs[selection] = strategy_spec(config, key=s["key"], book=s["book"],
                                                    fill_fraction=float(params["fill_fraction"]))
        else:
            spec = dataclasses.replace(first, key=s["key"], book=s["book"], exits=exit_rules_of(frozen))
        out.append(Strategy(
            spec=spec, config_id=int(s["config_id"]), name=s["name"], params=frozen,
            windows=tuple(dt.time.fromisoformat(w) for w in s["windows"]),
        ))
    return out


def engine_params(params: dict[str, Any]) -> EngineParams:
    return EngineParams(fill_fraction=params["fill_fraction"],
                        exit_check_minutes=params["exit_check_minutes"], dte_tolerance_days=params["dte_tolerance_days"],
                        fee_per_contract_usd=params["fees_per_contract_usd"],
                        context_dte_targets=tuple(params.get("context_dte_targets", (3, 5, 7))))


def imported_days(days: Iterable[dt.date]) -> dict[dt.date, dict[str, str]]:
    """{day: {schema: file_sha256}} for days with quotes and definitions in the manifest and on disk
    (and open interest, ``statistics``, when it was imported too: the GEX feature reads it)."""
    wanted = set(days)
    found: dict[dt.date, dict[str, str]] = {}
    for row in ImportedDay.objects.filter(date__in=wanted,
                                          schema__in=[SCHEMA_CBBO_1M, SCHEMA_DEFINITION, SCHEMA_STATISTICS]):
        if store.parquet_path(row.schema, row.date).is_file():
            found.setdefault(row.date, {})[row.schema] = row.file_sha256
    return {d: v for d, v in found.items() if SCHEMA_CBBO_1M in v and SCHEMA_DEFINITION in v}


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return list(market_calendar.trading_days(start, end))


@lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 (12 hex) of the source that decides: the engine, the quant core, the analytics and
    the backtest services."""
    base = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for path in sorted([*base.glob("backtests/engine/*.py"), *base.glob("strategy/quant/*.py"),
                        *base.glob("backtests/services/*.py"), base / "snapshots" / "analytics.py"]):
        h.update(path.relative_to(base).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]
