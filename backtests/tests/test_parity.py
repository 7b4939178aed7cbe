"""Live/backtest parity: the same simulated days, run live-style through the snapshot → decision →
order → mark → settlement services every 5 minutes, and backtested from the same OPRA data, make
the same decisions and the same exits, field by field."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from backtests import parity, services
from backtests.data.dbn_import import import_files
from backtests.tests.conftest import COMPACT_DAYS
from execution.models import Trade
from execution.replay import day_replay
from strategy.models import StrategyConfig, TradeDecision

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def replay_market(tmp_path: Path, settings, compact_files: list[Path], seeded_grid: list) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "market-data"
    settings.MARKET_DATA_DIR = root
    settings.MARKET_DATA_PROVIDER = "opra-replay"
    settings.EXECUTION_BROKER = "simulated"
    import_files(compact_files, root_dir=root, workers=1)
    return root


def test_live_style_days_and_their_backtest_agree_field_by_field(replay_market: Path) -> None:
    assert StrategyConfig.objects.filter(enabled=True).count() == 12, list(StrategyConfig.objects.values_list("name", "enabled"))
    for day in COMPACT_DAYS:
        day_replay(day, every_minutes=5)
    live = TradeDecision.objects.filter(backtest_run__isnull=True)
    assert live.count() == 12 * 3 * len(COMPACT_DAYS)  # 12 configs × 3 windows × 3 days
    live_trades = Trade.objects.filter(backtest_run__isnull=True)
    assert live_trades.exclude(opened_at=None).count() >= 2  # the days trade, so exits are compared too
    assert live_trades.filter(status=Trade.Status.CLOSED).exists()

    params = services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1],
                                   configs=StrategyConfig.objects.filter(enabled=True),
                                   risk_scope="shared", exit_check_minutes=5)
    run, _ = services.run_create(params, name="parity")
    run = services.run_execute_inline(run)
    assert run.status == "done"

    report = parity.compare(run)
    assert report.decisions_compared == live.count()
    assert report.trades_compared == live_trades.count()
    assert report.differences == []

    # The command says the same for any of those days (reusing the run).
    out = StringIO()
    call_command("backtest_parity", "--day", COMPACT_DAYS[0].isoformat(), "--end", COMPACT_DAYS[-1].isoformat(),
                 "--run", str(run.pk), stdout=out)
    assert "identical" in out.getvalue()

    # A difference is named by its key and field.
    decision = TradeDecision.objects.filter(backtest_run=run, action="TRADE").first()
    decision.credit_fill += 1
    decision.save()
    report = parity.compare(run)
    assert [(d.key, d.field, d.backtest - d.live) for d in report.differences] == [
        (f"{decision.trading_day} {decision.entry_window:%H:%M} {decision.strategy_config.name}", "credit_fill", 1)]
