"""Run a parameter sweep (a base config × value lists) in the foreground, or queue it; or
materialise one variant of a done sweep into ordinary decision and trade rows."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtests import selectors, services
from backtests.models import BacktestRun
from backtests.services import sweeps
from backtests.services.sweep_materialise import variant_materialise

# option → swept dimension; each takes a value list: "a,b,c" and ranges "start:stop:step" (inclusive)
OPTIONS = {"dte": "target_dte", "side": "side", "windows": "window", "delta": "short_delta_target",
           "width": "width_points", "tp": "take_profit_fraction", "sl": "stop_loss_multiple",
           "exit_at": "exit_at_time", "exit_before": "exit_minutes_before_settlement"}


class Command(BaseCommand):
    help = ("Sweep a strategy config over value lists (one backtest run, each variant its own budget), e.g. "
            "--delta 0.05:0.30:0.05 --width 10,25 --tp 0.25,0.5,0.75 --sl 1,2 --windows 10:00,11:00 --side put,call")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--config", help="the base strategy config (name or id)")
        parser.add_argument("--start", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive (default: --start)")
        parser.add_argument("--dte", help="target DTE values (0–7), e.g. 0,3,5")
        parser.add_argument("--side", help="put,call")
        parser.add_argument("--windows", help="entry windows HH:MM (5-minute slots 09:35–15:30); default 10:00,11:00,12:00")
        parser.add_argument("--delta", help="short |delta| targets, e.g. 0.05:0.30:0.025")
        parser.add_argument("--width", help="widths in points, e.g. 10,15,20,25,50")
        parser.add_argument("--tp", help="take-profit fractions, e.g. 0.25:0.75:0.25")
        parser.add_argument("--sl", help="stop-loss multiples, e.g. 1:3:0.5")
        parser.add_argument("--exit-at", dest="exit_at", help="time exits HH:MM on the expiration day ('none' = without)")
        parser.add_argument("--exit-before", dest="exit_before", help="time exits N minutes before settlement ('none' = without)")
        parser.add_argument("--exit-check-minutes", type=int, default=1)
        parser.add_argument("--chunk-days", type=int, default=services.DEFAULT_CHUNK_DAYS)
        parser.add_argument("--name", default="")
        parser.add_argument("--idempotency-key", default=None)
        parser.add_argument("--queue", action="store_true", help="queue the chunks on the Celery workers and return")
        parser.add_argument("--top", type=int, default=5, help="variants to print, best total PnL first")
        parser.add_argument("--materialise", type=int, metavar="RUN", help="materialise a variant of sweep RUN instead")
        parser.add_argument("--variant", type=int, help="with --materialise: the variant index")

    def handle(self, *args, **opts) -> None:
        if opts["materialise"] is not None:
            self._materialise(opts["materialise"], opts["variant"])
            return
        if not opts["config"] or not opts["start"]:
            raise CommandError("--config and --start are required (or --materialise RUN --variant N)")
        configs, unknown = selectors.configs_resolve([opts["config"]])
        if unknown or not configs:
            raise CommandError(f"unknown strategy config: {opts['config']}")
        try:
            dims = {dim: sweeps.values_parse(opts[opt]) for opt, dim in OPTIONS.items() if opts[opt]}
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            run, _ = sweeps.sweep_create(config=configs[0], dims=dims, start=opts["start"], end=opts["end"] or opts["start"],
                                         exit_check_minutes=opts["exit_check_minutes"], chunk_days=opts["chunk_days"],
                                         name=opts["name"], idempotency_key=opts["idempotency_key"])
        except services.BacktestError as exc:
            raise CommandError(str(exc)) from None
        grid = " × ".join(f"{len(v)} {name}" for name, v in sweeps.sweep_dims(run.params))
        n = run.params["sweep"]["variants"]
        self.stdout.write(f"sweep #{run.pk}: {n:,} variants ({grid}) × {run.days_total} trading days "
                          f"in {run.chunks_total} chunk(s)")
        if opts["queue"]:
            sweeps.sweep_launch(run)
            self.stdout.write(f"queued; follow it at /backtests/{run.pk}/ or GET /api/backtests/{run.pk}")
            return
        done = [0]

        def tick(days: int) -> None:
            done[0] += days
            filled = int(40 * done[0] / max(run.days_total, 1))
            self.stderr.write(f"\r[{'#' * filled}{'.' * (40 - filled)}] {done[0]}/{run.days_total} days", ending="")
            self.stderr.flush()

        run = services.run_execute_inline(run, progress=tick)
        self.stderr.write("")
        if run.status != BacktestRun.Status.DONE:
            raise CommandError(f"sweep #{run.pk} ended {run.status}: {run.error}")
        t = run.timings
        self.stdout.write(f"done in {t.get('wall_s', 0):.1f} s (read {t.get('read_s', 0):.1f} s, compute "
                          f"{t.get('compute_s', 0):.1f} s, assemble {t.get('assemble_s', 0):.1f} s): "
                          f"{run.metrics['variant_trades']:,} variant-trades")
        res = selectors.sweep_results(run, with_daily=False)
        ranked = sorted(res.variants, key=lambda v: (-v.metrics["summary"]["total_pnl_usd"], v.index))
        self.stdout.write(f"best {min(opts['top'], len(ranked))} by total PnL:")
        for v in ranked[:opts["top"]]:
            s = v.metrics["summary"]
            rate = f"{s['win_rate']:.1%}" if s["win_rate"] is not None else "—"
            self.stdout.write(f"  #{v.index:<5} {v.name:<70} {s['trades']:>4} trades  win {rate:>6}  "
                              f"PnL {s['total_pnl_usd']:>12,.2f}")
        self.stdout.write(f"results: /backtests/{run.pk}/ ; materialise one: manage.py sweep --materialise {run.pk} --variant N")

    def _materialise(self, run_id: int, index: int | None) -> None:
        if index is None:
            raise CommandError("--variant N is required with --materialise")
        run = BacktestRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"no run {run_id}")
        try:
            child = variant_materialise(run, index)
        except services.BacktestError as exc:
            raise CommandError(str(exc)) from None
        s = (child.metrics or {}).get("summary") or {}
        self.stdout.write(f"variant {index} of sweep #{run.pk}: run #{child.pk} with {s.get('trades', 0)} closed trades "
                          f"(PnL {s.get('total_pnl_usd', 0):,.2f}); /backtests/{child.pk}/, /trades/?run={child.pk}")
