"""Parameter sweeps: a base strategy config × value lists, run as one backtest run.

(Not to be confused with ``services.sweep``, the stuck-chunk sweep of the workers.)

A sweep's variants are the Cartesian product of the swept dimensions' values (``DIMENSIONS``,
always in that order, the last fastest; the variant's index is its position), each its own
strategy with its own risk budget (``per_strategy``): the base config's frozen parameters with the
variant's values. The run's parameters hold the base and the value lists, not the variants one by
one (``params["kind"] == "sweep"``, ``params["sweep"]``); ``sweep_strategies`` rebuilds them.

Every door (``manage.py sweep``, ``POST /api/backtests/sweeps``, the page's form) creates a sweep
with ``sweep_create``, which refuses a bad spec before any work (``sweep_spec_errors``: arithmetic
only, like ``run_limits_check``), at most ``SWEEP_MAX_VARIANTS`` variants.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from backtests.engine.types import Strategy
from backtests.models import BacktestRun
from backtests.services.lifecycle import run_create, run_launch
from backtests.services.params import (
    DEFAULT_CHUNK_DAYS,
    BacktestError,
    params_build,
    run_limits_errors,
    strategies_of,
)
from strategy.models import LAST_EXIT_TIME_ET, SESSION_OPEN_ET, StrategyConfig
from strategy.quant.types import MAX_MINUTES_BEFORE_SETTLEMENT

# The swept dimensions, in grid order: selection first (what the entries depend on), exits last.
DIMENSIONS: tuple[str, ...] = (
    "target_dte", "side", "window", "short_delta_target", "width_points",
    "take_profit_fraction", "stop_loss_multiple", "exit_at_time", "exit_minutes_before_settlement",
)
SIDES = ("put_credit", "call_credit")
MAX_DTE = 7
FIRST_WINDOW, LAST_WINDOW = dt.time(9, 35), dt.time(15, 30)  # 5-minute slots of the session
NONE_WORDS = {"", "none", "null", "-"}
_DECIMAL_PLACES = {"short_delta_target": 3, "width_points": 2, "take_profit_fraction": 3, "stop_loss_multiple": 3}
LABELS = {"target_dte": "DTE", "side": "", "window": "@", "short_delta_target": "Δ", "width_points": "W",
          "take_profit_fraction": "TP", "stop_loss_multiple": "SL", "exit_at_time": "exit ",
          "exit_minutes_before_settlement": "exit −"}


def _decimal(name: str, raw: Any) -> str:
    places = _DECIMAL_PLACES[name]
    try:
        d = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{raw!r} is not a number")
    q = d.quantize(Decimal(1).scaleb(-places))
    if q != d:
        raise ValueError(f"{raw} has more than {places} decimals")
    if name == "short_delta_target" and not Decimal(0) < q < 1:
        raise ValueError(f"|delta| {raw} must lie in (0, 1)")
    if name == "width_points" and not Decimal("0.05") <= q <= Decimal("500"):
        raise ValueError(f"width {raw} must lie in [0.05, 500] points")
    if name == "take_profit_fraction" and not Decimal(0) < q <= 1:
        raise ValueError(f"take-profit fraction {raw} must lie in (0, 1]")
    if name == "stop_loss_multiple" and not Decimal(0) < q < 1000:
        raise ValueError(f"stop-loss multiple {raw} must lie in (0, 1000)")
    return f"{q:.{places}f}"


def _clock(raw: Any) -> dt.time:
    text = raw.strftime("%H:%M") if isinstance(raw, dt.time) else str(raw).strip()
    try:
        t = dt.time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{raw!r} is not HH:MM") from None
    if t.second or t.microsecond:
        raise ValueError(f"{raw} is not a whole minute")
    return t


def value_normalise(name: str, raw: Any) -> Any:
    """One value of dimension ``name`` as stored (see the module doc); ``ValueError`` says why not."""
    if name in _DECIMAL_PLACES:
        return _decimal(name, raw)
    if name == "target_dte":
        try:
            n = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number of days") from None
        if not 0 <= n <= MAX_DTE:
            raise ValueError(f"DTE {n} must lie in 0–{MAX_DTE}")
        return n
    if name == "side":
        text = str(raw).strip().lower()
        text = {"put": "put_credit", "call": "call_credit"}.get(text, text)
        if text not in SIDES:
            raise ValueError(f"side {raw!r} must be put or call ({', '.join(SIDES)})")
        return text
    if name == "window":
        t = _clock(raw)
        if t.minute % 5 or not FIRST_WINDOW <= t <= LAST_WINDOW:
            raise ValueError(f"entry window {raw} must be a 5-minute slot from {FIRST_WINDOW:%H:%M} to {LAST_WINDOW:%H:%M}")
        return t.strftime("%H:%M")
    if name == "exit_at_time":
        if raw is None or str(raw).strip().lower() in NONE_WORDS:
            return None
        t = _clock(raw)
        if not SESSION_OPEN_ET <= t <= LAST_EXIT_TIME_ET:
            raise ValueError(f"time exit {raw} must lie in {SESSION_OPEN_ET:%H:%M}–{LAST_EXIT_TIME_ET:%H:%M} New York time")
        return t.strftime("%H:%M")
    if name == "exit_minutes_before_settlement":
        if raw is None or str(raw).strip().lower() in NONE_WORDS:
            return None
        try:
            n = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number of minutes") from None
        if not 1 <= n <= MAX_MINUTES_BEFORE_SETTLEMENT:
            raise ValueError(f"{n} minutes before settlement must lie in 1–{MAX_MINUTES_BEFORE_SETTLEMENT}")
        return n
    raise ValueError(f"unknown dimension {name!r}")


def values_parse(text: str) -> list[str]:
    """A value list as typed on a command line or in a form: ``a,b,c`` and ranges ``start:stop:step``
    (inclusive, decimal arithmetic: ``0.05:0.30:0.05`` is six values). Not validated here."""
    out: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part.count(":") == 2 and not any(c.isalpha() for c in part):
            a, b, step = (Decimal(x) for x in part.split(":"))
            if step <= 0 or b < a:
                raise ValueError(f"range {part!r} needs start <= stop and a positive step")
            n = int((b - a) / step)
            if n > 100_000:
                raise ValueError(f"range {part!r} has too many values")
            out.extend(str(a + i * step) for i in range(n + 1))
        elif part:
            out.append(part)
    return out


def dims_normalise(dims: Mapping[str, Sequence[Any]], *, windows: Sequence[str] | None = None
                   ) -> tuple[list[tuple[str, list[Any]]], dict[str, list[str]]]:
    """(the dimensions in grid order with their stored values, errors by dimension). ``window`` is
    always a dimension: the given ``windows`` (default 10:00, 11:00, 12:00) unless swept."""
    errors: dict[str, list[str]] = {}
    given = dict(dims)
    if "window" not in given:
        given["window"] = list(windows) if windows else ["10:00", "11:00", "12:00"]
    for name in given:
        if name not in DIMENSIONS:
            errors.setdefault(name, []).append(f"{name!r} cannot be swept; one of {', '.join(DIMENSIONS)}")
    out = []
    for name in DIMENSIONS:
        if name not in given:
            continue
        raw = given[name]
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
            errors.setdefault(name, []).append("a list of values")
            continue
        if not raw:
            errors.setdefault(name, []).append("at least one value")
            continue
        values = []
        for r in raw:
            try:
                values.append(value_normalise(name, r))
            except ValueError as exc:
                errors.setdefault(name, []).append(str(exc))
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            errors.setdefault(name, []).append(f"repeated value(s): {', '.join(repeated)}")
        out.append((name, values))
    swept = {n: v for n, v in out}
    if any(v is not None for v in swept.get("exit_at_time", [])) and any(
            v is not None for v in swept.get("exit_minutes_before_settlement", [])):
        errors.setdefault("exit_at_time", []).append(
            "sweep a clock-time exit or minutes before settlement, not both (a variant has at most one time exit)")
    return out, errors


def variant_count(dims: Sequence[tuple[str, Sequence[Any]]]) -> int:
    return math.prod(len(v) for _, v in dims)


def sweep_spec_errors(*, config: StrategyConfig | None, dims: Mapping[str, Sequence[Any]], start: dt.date,
                      end: dt.date, windows: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Everything wrong with a sweep spec, by field: the dates (``run_limits_errors``), each
    dimension's values, and the number of variants (≤ ``SWEEP_MAX_VARIANTS``). Arithmetic only —
    no calendar, no store, no variant built — so it runs before any work."""
    errors: dict[str, list[str]] = {}
    if config is None:
        errors["config"] = ["choose the base strategy config"]
    if end < start:
        errors.setdefault("end", []).append(f"end {end} is before start {start}")
    for k, v in run_limits_errors(start=start, end=end).items():
        errors.setdefault(k, []).extend(v)
    normal, dim_errors = dims_normalise(dims, windows=windows)
    for k, v in dim_errors.items():
        errors.setdefault(k, []).extend(v)
    if not dim_errors:
        n, most = variant_count(normal), int(settings.SWEEP_MAX_VARIANTS)
        if n > most:
            sizes = " × ".join(f"{len(v)} {name}" for name, v in normal)
            errors.setdefault("dims", []).append(
                f"{n:,} variants ({sizes}); a sweep may have at most {most:,} (SWEEP_MAX_VARIANTS)")
    return errors


# ------------------------------------------------------------------------------------ the variants

def sweep_dims(params: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    return [(name, list(values)) for name, values in params["sweep"]["dims"]]


def variant_dims(params: Mapping[str, Any], index: int) -> dict[str, Any]:
    """The swept values of variant ``index`` (row-major over the dimensions, the last fastest)."""
    dims = sweep_dims(params)
    out: dict[str, Any] = {}
    for name, values in reversed(dims):
        index, i = divmod(index, len(values))
        out[name] = values[i]
    return {name: out[name] for name, _ in dims}


def variant_name(config_name: str, dims: Mapping[str, Any]) -> str:
    parts = []
    for name, value in dims.items():
        if name == "side":
            parts.append(str(value).removesuffix("_credit"))
        elif name == "target_dte":
            parts.append(f"{value}DTE")
        elif value is None:
            parts.append("no time exit")
        elif name == "exit_minutes_before_settlement":
            parts.append(f"exit −{value}m")
        else:
            parts.append(f"{LABELS[name]}{value}")
    return f"{config_name} · {' '.join(parts)}"[:200]


def variant_frozen(params: Mapping[str, Any], dims: Mapping[str, Any]) -> dict[str, Any]:
    """The variant's frozen config parameters: the base's with the swept values (sweeping one kind
    of time exit clears the other, so a variant has at most one)."""
    frozen = dict(params["sweep"]["base"])
    for name, value in dims.items():
        if name != "window":
            frozen[name] = value
    if "exit_at_time" in dims and "exit_minutes_before_settlement" not in dims:
        frozen["exit_minutes_before_settlement"] = None
    if "exit_minutes_before_settlement" in dims and "exit_at_time" not in dims:
        frozen["exit_at_time"] = None
    return frozen


def variant_strategy(params: Mapping[str, Any], index: int, *, key: str | None = None) -> dict[str, Any]:
    """Variant ``index`` as ``params_build`` writes a ``per_strategy`` strategy (one config × one window)."""
    dims = variant_dims(params, index)
    sweep = params["sweep"]
    key = key or f"v{index}"
    return {"key": key, "config_id": sweep["config_id"], "name": variant_name(sweep["config_name"], dims),
            "params": variant_frozen(params, dims), "windows": [dims["window"]], "book": key}


def sweep_strategies(params: Mapping[str, Any]) -> list[Strategy]:
    """Every variant's strategy, in index order, built as any run's are (``strategies_of``)."""
    n = int(params["sweep"]["variants"])
    return strategies_of({**params, "strategies": [variant_strategy(params, i) for i in range(n)]})


def is_sweep(params: Mapping[str, Any] | None) -> bool:
    return bool(params) and params.get("kind") == "sweep"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------ launch

def sweep_params(*, config: StrategyConfig, dims: Mapping[str, Sequence[Any]], start: dt.date, end: dt.date,
                 windows: Sequence[str] | None = None, exit_check_minutes: int = 1,
                 chunk_days: int = DEFAULT_CHUNK_DAYS) -> dict[str, Any]:
    """The sweep run's canonical parameters (stored and hashed): a ``params_build`` run of the
    base config with its strategies replaced by the sweep's base and value lists. Refuses a bad
    spec first (``BacktestError`` with ``fields``)."""
    errors = sweep_spec_errors(config=config, dims=dims, start=start, end=end, windows=windows)
    if errors:
        raise BacktestError("; ".join(m for ms in errors.values() for m in ms), fields=errors)
    normal, _ = dims_normalise(dims, windows=windows)
    params = params_build(start=start, end=end, configs=[config], windows=("10:00",), risk_scope="per_strategy",
                          exit_check_minutes=exit_check_minutes, chunk_days=chunk_days)
    params["strategies"] = []
    params["kind"] = "sweep"
    params["sweep"] = {"config_id": config.pk, "config_name": config.name, "base": config.frozen(),
                       "dims": [[name, values] for name, values in normal], "variants": variant_count(normal)}
    return params


def sweep_create(*, config: StrategyConfig, dims: Mapping[str, Sequence[Any]], start: dt.date, end: dt.date,
                 windows: Sequence[str] | None = None, exit_check_minutes: int = 1,
                 chunk_days: int = DEFAULT_CHUNK_DAYS, name: str = "",
                 idempotency_key: str | None = None) -> tuple[BacktestRun, bool]:
    """(run, created): a sweep of ``config`` × ``dims`` over ``start``–``end`` with its chunks, not
    launched yet (``sweep_launch``, or ``run_execute_inline``). Values may be typed loosely
    ("0.1", 25, "put", "none"); they are stored normalised. The same ``idempotency_key`` returns
    its run (and refuses another spec). ``BacktestError`` (``fields`` by input) before any work."""
    params = sweep_params(config=config, dims=dims, start=start, end=end, windows=windows,
                          exit_check_minutes=exit_check_minutes, chunk_days=chunk_days)
    return run_create(params, name=name, idempotency_key=idempotency_key)


def sweep_launch(run: BacktestRun) -> None:
    """Queue the sweep's chunks on the workers (after commit), as any run's."""
    run_launch(run)


def grid_product(dims: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """Every variant's dims in index order (small sweeps and tests; ``variant_dims`` for one)."""
    names = [n for n, _ in dims]
    return [dict(zip(names, combo)) for combo in itertools.product(*(v for _, v in dims))]
