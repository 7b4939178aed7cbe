"""Backtest runs: create, split into chunks, replay chunks (Celery or in line), assemble, measure.

Flow: ``run_create`` checks the data and stores the run with its chunks (days split evenly);
``run_launch`` queues one ``chunk_run`` task per chunk after commit. A chunk claims its row,
replays its days with every strategy (phase 1, ``engine.replay``), stores its candidates and
exits, and the chunk that finishes last assembles the run in one transaction: risk books in
time order (phase 2, ``engine.books``), then ``TradeDecision`` / ``Trade`` / ``TradeLeg`` /
``PositionMark`` rows with ``source = backtest``, then the metrics. Every step is idempotent: a
retried chunk overwrites its own result, the assembly deletes the run's rows before writing them,
and the decision business key (day × window × config × run) is a unique constraint.

By topic: ``params`` (parameters, strategies, the data manifest), ``lifecycle`` (create, launch,
cancel, reopen, fail), ``chunks`` (phase 1 per chunk), ``assembly`` (phase 2 and the rows),
``metrics``, ``sweep`` (chunks left running by a killed or lost worker: requeued, or the run failed).
"""

from backtests.services.assembly import run_assemble
from backtests.services.chunks import chunk_execute, run_execute_inline
from backtests.services.lifecycle import run_cancel, run_create, run_fail, run_launch, run_reopen
from backtests.services.metrics import run_metrics
from backtests.services.params import (
    DEFAULT_CHUNK_DAYS,
    EXTENSION_CALENDAR_DAYS,
    RISK_SCOPES,
    BacktestError,
    code_version,
    engine_params,
    imported_days,
    params_build,
    params_sha256,
    run_limits_check,
    run_limits_errors,
    strategies_of,
    strategy_count,
    trading_days,
)
from backtests.services.sweep import SweepOutcome, stuck_after_s, stuck_chunks, stuck_chunks_sweep

__all__ = [
    "DEFAULT_CHUNK_DAYS", "EXTENSION_CALENDAR_DAYS", "RISK_SCOPES", "BacktestError", "chunk_execute", "code_version",
    "engine_params", "imported_days", "params_build", "params_sha256", "run_assemble", "run_cancel", "run_create",
    "run_execute_inline", "run_fail", "run_launch", "run_limits_check", "run_limits_errors", "run_metrics", "run_reopen",
    "strategies_of", "strategy_count", "trading_days", "SweepOutcome", "stuck_after_s", "stuck_chunks",
    "stuck_chunks_sweep",
]
