"""The live-then-backtest steps the parity tests share: a replay market from generated DBN files,
the days run live-style through the services, then backtested set up like live and compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backtests import parity, services
from backtests.data.dbn_import import import_files
from backtests.models import BacktestRun
from execution.replay import day_replay
from strategy.models import StrategyConfig


def replay_market_in(root: Path, settings: Any, files: list[Path]) -> Path:
    """Import ``files`` under ``root`` and point the live side (market data, broker) at it."""
    settings.MARKET_DATA_DIR = root
    settings.MARKET_DATA_PROVIDER = "opra-replay"
    settings.EXECUTION_BROKER = "simulated"
    import_files(files, root_dir=root, workers=1)
    return root


def live_then_backtest(days: tuple, *, context: bool = False, every_minutes: int = 5,
                       **params: Any) -> tuple[BacktestRun, parity.ParityReport]:
    """Replay ``days`` live every ``every_minutes`` (capture, decide, orders, marks), then backtest
    the enabled configs over them with exits checked at the same step, and compare."""
    for day in days:
        day_replay(day, every_minutes=every_minutes, context=context)
    run, _ = services.run_create(services.params_build(
        start=days[0], end=days[-1], configs=StrategyConfig.objects.filter(enabled=True), risk_scope="shared",
        exit_check_minutes=every_minutes, **params), name="parity")
    run = services.run_execute_inline(run)
    assert run.status == "done"
    return run, parity.compare(run)
