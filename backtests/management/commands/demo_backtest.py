"""Simulated OPRA data for the last few trading days and a backtest of the 36-config grid on it."""

from __future__ import annotations


from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from backtests import services
from backtests.data import dbn_generate, dbn_import, store
from backtests.models import BacktestRun
from snapshots import market_calendar
from strategy.models import StrategyConfig


class Command(BaseCommand):
    help = ("Generate simulated OPRA CBBO-1m days (real DBN, ~13,000 instruments a day), import them, "
            "and backtest every strategy config at every entry window on them.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=5, help="trading days ending yesterday (default 5)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when a backtest run exists")
        parser.add_argument("--queue", action="store_true", help="queue the run on the Celery workers")

    def handle(self, *args, days: int, if_empty: bool, queue: bool, **options) -> None:
        if if_empty and BacktestRun.objects.exists():
            self.stdout.write("a backtest run exists; nothing to do")
            return
        end = market_calendar.previous_trading_day(timezone.localdate())
        wanted = [end]
        while len(wanted) < days:
            wanted.insert(0, market_calendar.previous_trading_day(wanted[0]))
        missing = [d for d in wanted if d not in services.imported_days(wanted)]
        if missing:
            out = store.data_dir() / "generated" / "demo"
            made = [dbn_generate.generate_day(d, out) for d in missing]
            dbn_import.import_files([p for g in made for p in g.paths])
            for g in made:
                for path in g.paths:
                    path.unlink(missing_ok=True)
            self.stdout.write(f"generated and imported {len(made)} simulated OPRA day(s)")
        params = services.params_build(start=wanted[0], end=wanted[-1], configs=StrategyConfig.objects.all(),
                                       chunk_days=max(1, (len(wanted) + 1) // 2))
        run, _ = services.run_create(params, name="demo: 36-config grid")
        if queue:
            services.run_launch(run)
            self.stdout.write(f"backtest #{run.pk} queued: /backtests/{run.pk}/")
            return
        run = services.run_execute_inline(run)
        s = run.metrics["summary"]
        self.stdout.write(f"backtest #{run.pk} {run.status}: {s['trades']} trades, PnL ${s['total_pnl_usd']:,.2f}")
