"""For days traded live, backtest the same days the way live trades and print the differences."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max, Min

from backtests import parity, services
from backtests.models import BacktestRun
from strategy.models import StrategyConfig, TradeDecision


class Command(BaseCommand):
    help = ("Compare live decisions and trades of a day (or range) with a backtest of the same days "
            "(shared risk budget, exits checked at the live marking interval), field by field.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", type=dt.date.fromisoformat,
                            help="first day traded live (default: the first day with live decisions)")
        parser.add_argument("--end", type=dt.date.fromisoformat,
                            help="last day (default: --day, or the last day with live decisions)")
        parser.add_argument("--run", type=int, help="compare with this existing backtest run instead of a new one")
        parser.add_argument("--exit-check-minutes", type=int, default=5, help="the live marking interval")

    def handle(self, *args, **opts) -> None:
        start, end = opts["day"], opts["end"] or opts["day"]
        if start is None:
            days = TradeDecision.objects.filter(backtest_run__isnull=True).aggregate(first=Min("trading_day"),
                                                                                     last=Max("trading_day"))
            if days["first"] is None:
                raise CommandError("no live decisions yet (run the entry windows, or manage.py demo_days)")
            start, end = days["first"], opts["end"] or days["last"]
        live = TradeDecision.objects.filter(backtest_run__isnull=True, trading_day__range=(start, end))
        if not live.exists():
            raise CommandError(f"no live decisions between {start} and {end}")
        if opts["run"]:
            run = BacktestRun.objects.filter(pk=opts["run"]).first()
            if run is None:
                raise CommandError(f"no backtest run {opts['run']}")
        else:
            configs = StrategyConfig.objects.filter(pk__in=live.values("strategy_config_id"))
            windows = sorted({d.entry_window.strftime("%H:%M") for d in live})
            try:
                params = services.params_build(start=start, end=end, configs=configs, windows=windows,
                                               risk_scope="shared", exit_check_minutes=opts["exit_check_minutes"])
                # Keyed by its parameters: asking again for the same days reuses the finished run.
                run, _ = services.run_create(params, name=f"parity {start}..{end}",
                                             idempotency_key=f"parity-{services.params_sha256(params)[:40]}")
            except services.BacktestError as exc:
                raise CommandError(str(exc)) from None
            if run.status != BacktestRun.Status.DONE:
                run = services.run_execute_inline(run)
        report = parity.compare(run, days=sorted(set(live.values_list("trading_day", flat=True))))
        self.stdout.write(f"backtest #{run.pk}: {report.decisions_compared} decisions and {report.trades_compared} "
                          f"trades compared over {len(report.days)} day(s)")
        for diff in report.differences:
            self.stdout.write(f"  {diff}")
        self.stdout.write("identical" if report.identical else f"{len(report.differences)} difference(s)")
        self.stdout.write(f"the report's page: /backtests/{run.pk}/parity/")
