"""Train a meta-labeler on a dataset and store it as a candidate model version."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlmodels import services
from strategy.models import Source
from strategy.quant.decision import DEFAULT_ML_GROUP


class Command(BaseCommand):
    help = ("Walk-forward train the XGBoost meta-labeler on a dataset (as ml_dataset builds it) and store the "
            "model version; prints its out-of-sample report. The same dataset and parameters return the same model.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=Source.values, default=Source.BACKTEST)
        parser.add_argument("--run", type=int, help="backtest run id (source backtest)")
        parser.add_argument("--start", help="first trading day, YYYY-MM-DD")
        parser.add_argument("--end", help="last trading day, YYYY-MM-DD")
        parser.add_argument("--group", default=DEFAULT_ML_GROUP, help="strategy group (StrategyConfig.ml_group)")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="a training parameter (mlmodels.learner.LearnParams), repeatable")
        parser.add_argument("--queue", action="store_true", help="queue it on the Celery workers and return")

    def handle(self, *args: Any, **opts: Any) -> None:
        overrides = {}
        for item in opts["param"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--param {item!r}: expected NAME=VALUE")
            overrides[name.strip()] = None if value.strip().lower() == "none" else value.strip()
        spec = {"source": opts["source"], "run": opts["run"], "start": opts["start"], "end": opts["end"]}
        try:
            req, _ = services.request_training(dataset_spec=spec, group=opts["group"], params=overrides)
        except services.ModelError as exc:
            raise CommandError(str(exc)) from None
        if opts["queue"]:
            services.training_launch(req)
            self.stdout.write(f"training request {req.pk} queued; follow it at /models/ or GET /api/ml/trainings/{req.pk}")
            return

        def tick(stage: str, fraction: float) -> None:
            self.stderr.write(f"\r[{'#' * int(30 * fraction):.<30}] {stage:<40}", ending="")
            self.stderr.flush()

        req = services.training_run(req.pk, progress=tick)
        self.stderr.write("")
        if req.model is None:
            raise CommandError(req.error or f"training request {req.pk} ended {req.status}")
        self.stdout.write(report_text(req.model))


def report_text(mv: Any) -> str:
    r = mv.report
    oos, res = r["oos"], r["result"]

    def iv(d: dict[str, Any], fmt: str = "{:+.2f}") -> str:
        if d["value"] is None:
            return "n/a"
        band = f" [{fmt.format(d['low'])}, {fmt.format(d['high'])}]" if d["low"] is not None else ""
        return fmt.format(d["value"]) + band

    lines = [
        f"model {mv.pk} ({mv.group}, {mv.status}): {mv.dataset_rows:,} rows, dataset {mv.dataset_sha256[:12]}, "
        f"file {mv.model_file} (SHA-256 {mv.model_sha256[:12]})",
        f"out of sample ({r['tested_rows']:,} candidates, {len(r['folds'])} folds): AUC {oos['auc']:.3f}"
        f" (logistic {r['oos_logistic']['auc']:.3f}), log loss {oos['log_loss']:.4f}, Brier {oos['brier']:.4f}",
        f"threshold {mv.threshold:.4f} ({mv.calibrator.get('method')} calibration)",
        f"gated: {res['gated']['trades']['value']:.0f} trades, win rate {iv(res['gated']['win_rate'], '{:.3f}')}, "
        f"expectancy {iv(res['gated']['expectancy_usd'])} USD",
        f"ungated: {res['ungated']['trades']['value']:.0f} trades, win rate {iv(res['ungated']['win_rate'], '{:.3f}')}, "
        f"expectancy {iv(res['ungated']['expectancy_usd'])} USD",
        f"gain per trade: {iv(res['gain']['expectancy_usd'])} USD — "
        + ("above zero: can be activated" if mv.gain_low_usd is not None and mv.gain_low_usd > 0
           else "its interval does not lie above zero: activation needs --force and a reason"),
        json.dumps({"importances_top5": [i["feature"] for i in mv.importances[:5]]}),
    ]
    return "\n".join(lines)
