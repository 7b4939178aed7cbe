"""Run a backtest in the foreground (or queue it on the workers) and print its results."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests import selectors, services
from backtests.models import BacktestRun
from strategy.models import StrategyConfig


class Command(BaseCommand):
    help = "Backtest strategy configs on the imported OPRA data, minute by minute, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", type=dt.date.fromisoformat,
                            help="first day, YYYY-MM-DD (default: the first day of the latest imported range)")
        parser.add_argument("--end", type=dt.date.fromisoformat,
                            help="last day, inclusive (default: --start, or the latest imported range's end)")
        parser.add_argument("--config", action="append", default=[],
                            help="strategy config name or id (repeatable; default: every config)")
        parser.add_argument("--windows", default="10:00,11:00,12:00", help="entry windows, comma separated")
        parser.add_argument("--risk-scope", choices=services.RISK_SCOPES, default="per_strategy",
                            help="per_strategy: each config × window alone (research grid); shared: one budget, as live")
        parser.add_argument("--exit-check-minutes", type=int, default=1,
                            help="minutes between TP/SL checks (1 = every minute; 5 = the live marking slots)")
        parser.add_argument("--chunk-days", type=int, default=services.DEFAULT_CHUNK_DAYS)
        parser.add_argument("--name", default="")
        parser.add_argument("--ml-model", default=None,
                            help="gate the entries with this meta-labeler version (id); default: ungated")
        parser.add_argument("--queue", action="store_true", help="queue the chunks on the Celery workers and return")

    def handle(self, *args, **opts) -> None:
        configs = list(StrategyConfig.objects.all())
        if opts["config"]:
            wanted = set(opts["config"])
            configs = [c for c in configs if c.name in wanted or str(c.pk) in wanted]
            unknown = wanted - {c.name for c in configs} - {str(c.pk) for c in configs}
            if unknown:
                raise CommandError(f"unknown strategy config(s): {', '.join(sorted(unknown))}")
        start, end = opts["start"], opts["end"] or opts["start"]
        if start is None:
            ranges = selectors.data_ranges()
            if not ranges:
                raise CommandError("no imported market data: import DBN files (manage.py databento_import) or "
                                   "generate some (manage.py dbn_generate --start … --end … --import)")
            start, end = ranges[-1]["start"], opts["end"] or ranges[-1]["end"]
        try:
            params = services.params_build(
                start=start, end=end, configs=configs,
                windows=[w.strip() for w in opts["windows"].split(",") if w.strip()], risk_scope=opts["risk_scope"],
                exit_check_minutes=opts["exit_check_minutes"], chunk_days=opts["chunk_days"],
                ml_model=opts["ml_model"],
            )
            run, _ = services.run_create(params, name=opts["name"])
        except services.BacktestError as exc:
            raise CommandError(str(exc)) from None
        n = len(params["strategies"])
        self.stdout.write(f"backtest #{run.pk}: {run.days_total} trading days × {n} strategies in {run.chunks_total} chunk(s)")
        if opts["queue"]:
            services.run_launch(run)
            self.stdout.write(f"queued; follow it at /backtests/{run.pk}/ or GET /api/backtests/{run.pk}")
            return
        done = [0]

        def tick(days: int) -> None:
            done[0] += days
            width = 40
            filled = int(width * done[0] / run.days_total)
            self.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done[0]}/{run.days_total} days", ending="")
            self.stderr.flush()

        run = services.run_execute_inline(run, progress=tick)
        self.stderr.write("")
        if run.status != BacktestRun.Status.DONE:
            raise CommandError(f"backtest #{run.pk} ended {run.status}: {run.error}")
        self.stdout.write(f"done in {run.timings.get('wall_s', 0):.1f} s — {run.start_date} → {run.end_date}")
        rows = selectors.summary_rows(run.metrics["summary"])
        width = max(len(r["label"]) for r in rows)
        for r in rows:  # the figures of the run's page, formatted the same way
            self.stdout.write(f"  {r['label']:<{width}}  {r['text']:>12}")
        self.stdout.write(f"data sha256 {run.data_sha256[:16]}…, code {run.code_version}")
        self.stdout.write(f"the run's page: /backtests/{run.pk}/ (GET /api/backtests/{run.pk} for scripts)")
