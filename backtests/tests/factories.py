"""factory_boy factories for backtest runs and chunks, on top of the strategy and execution factories.

They build rows directly (no data, no replay): a run's parameters come from ``services.params_build``
over seeded configs, and a done run's metrics from the engine's own metric functions over a few
hand-made closed trades, so they have exactly the shape ``services.run_metrics`` writes. Tests that
need a real replay import the tiny generated days and run the chunks (see ``test_pages``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone

from backtests import services
from snapshots.payloads import sha256_of
from backtests.engine import metrics as metrics_mod
from backtests.models import BacktestChunk, BacktestRun
from execution.models import Source, Trade
from execution.tests.factories import TradeFactory
from strategy.models import StrategyConfig, TradeDecision

START = dt.date(2026, 3, 16)  # a Monday
END = dt.date(2026, 3, 20)
CONFIGS = ("3DTE put 10d", "5DTE call 10d")
NEW_YORK = ZoneInfo("America/New_York")

# (entry day, exit day, PnL USD, entry credit, exit reason, bucket): a week of a two-config grid.
SAMPLE_TRADES: tuple[tuple[dt.date, dt.date, float, float, str, metrics_mod.Bucket], ...] = (
    (dt.date(2026, 3, 16), dt.date(2026, 3, 16), 62.40, 1.30, "take_profit", (3, 0.10, "10:00", "put_credit")),
    (dt.date(2026, 3, 16), dt.date(2026, 3, 18), -132.60, 1.35, "stop_loss", (5, 0.10, "11:00", "call_credit")),
    (dt.date(2026, 3, 17), dt.date(2026, 3, 17), 57.40, 1.20, "take_profit", (3, 0.10, "10:00", "put_credit")),
    (dt.date(2026, 3, 18), dt.date(2026, 3, 20), 117.40, 1.20, "settlement", (3, 0.10, "10:00", "put_credit")),
    (dt.date(2026, 3, 19), dt.date(2026, 3, 19), 72.40, 1.50, "take_profit", (5, 0.10, "11:00", "call_credit")),
)


def metrics_for(trades: Any = SAMPLE_TRADES, *, start: dt.date = START, end: dt.date = END,
                decisions: int = 30, open_trades: int = 0) -> dict[str, Any]:
    """``run.metrics`` as ``services.run_metrics`` writes it, for hand-made (entry, exit, pnl, credit, reason, bucket) trades."""
    days = services.trading_days(start, end)
    closed = [
        metrics_mod.ClosedTrade(entry_day=entry, exit_day=exit_, pnl_usd=pnl, entry_credit=credit,
                                max_profit_usd=credit * 100, max_loss_usd=(25 - credit) * 100, exit_reason=reason,
                                bucket=bucket)
        for entry, exit_, pnl, credit, reason, bucket in trades
    ]
    curve = metrics_mod.equity_curve(closed, days)
    return {
        "summary": metrics_mod.summarise(closed, days).as_dict(),
        "decisions": decisions,
        "trade_decisions": len(closed) + open_trades,
        "open_trades": open_trades,
        "equity": [{"day": p.day.isoformat(), "pnl_usd": round(p.pnl_usd, 2), "equity_usd": round(p.equity_usd, 2),
                    "drawdown_usd": round(p.drawdown_usd, 2)} for p in curve],
        "buckets": [{"bucket": metrics_mod.bucket_label(k), "dte": k[0], "delta": k[1], "window": k[2], "side": k[3],
                     **m.as_dict()} for k, m in metrics_mod.by_bucket(closed, days).items()],
    }


def _params(o: Any) -> dict[str, Any]:
    return services.params_build(start=o.start_date, end=o.end_date, windows=("10:00", "11:00"),
                                 configs=StrategyConfig.objects.filter(name__in=CONFIGS))


class BacktestRunFactory(factory.django.DjangoModelFactory):
    """A pending run of two seeded configs × two windows over a week; ``done=True`` gives it results."""

    class Meta:
        model = BacktestRun
        skip_postgeneration_save = True

    class Params:
        running = factory.Trait(
            status=BacktestRun.Status.RUNNING,
            started_at=factory.LazyFunction(lambda: dt.datetime(2026, 3, 21, 14, 0, tzinfo=dt.UTC)),
        )
        done = factory.Trait(
            status=BacktestRun.Status.DONE,
            days_done=factory.SelfAttribute("days_total"),
            started_at=dt.datetime(2026, 3, 21, 14, 0, tzinfo=dt.UTC),
            finished_at=dt.datetime(2026, 3, 21, 14, 1, 30, tzinfo=dt.UTC),
            data_days=factory.LazyAttribute(lambda o: [
                {"date": d.isoformat(), "cbbo_sha256": "c" * 64, "definition_sha256": "d" * 64}
                for d in services.trading_days(o.start_date, o.end_date)]),
            data_sha256=factory.LazyAttribute(lambda o: sha256_of(o.data_days)),
            timings={"read_s": 4.2, "compute_s": 61.7, "assemble_s": 1.3, "wall_s": 90.0},
            metrics=factory.LazyAttribute(lambda o: metrics_for(start=o.start_date, end=o.end_date)),
        )

    name = factory.Sequence(lambda n: f"grid week {n}")
    start_date = START
    end_date = END
    params = factory.LazyAttribute(_params)
    params_sha256 = factory.LazyAttribute(lambda o: sha256_of(o.params))
    status = BacktestRun.Status.PENDING
    days_total = factory.LazyAttribute(lambda o: len(services.trading_days(o.start_date, o.end_date)))
    chunks_total = 2
    code_version = "0123456789ab"

    @factory.post_generation
    def chunks(obj: BacktestRun, create: bool, extracted: Any, **kwargs: Any) -> None:  # type: ignore[misc]
        """The run's chunks, split as ``run_create`` does; done with the run, else ``chunk_days_done`` each."""
        if not create or extracted is False:
            return
        days = services.trading_days(obj.start_date, obj.end_date)
        size = -(-len(days) // max(obj.chunks_total, 1))
        done = kwargs.get("days_done")
        for i, piece in enumerate(days[j:j + size] for j in range(0, len(days), size)):
            finished = obj.status == BacktestRun.Status.DONE
            n = len(piece) if finished else min(len(piece), done[i] if done else 0)
            BacktestChunkFactory(run=obj, index=i, first_day=piece[0], last_day=piece[-1], days_total=len(piece),
                                 days_done=n, status=BacktestChunk.Status.DONE if finished or n == len(piece)
                                 else BacktestChunk.Status.RUNNING if n else BacktestChunk.Status.PENDING)


class BacktestChunkFactory(factory.django.DjangoModelFactory):
    """A pending chunk; ``running=True``: claimed once, at ``started_at`` (now unless given), its last heartbeat then."""

    class Meta:
        model = BacktestChunk

    class Params:
        running = factory.Trait(
            status=BacktestChunk.Status.RUNNING,
            attempts=1,
            started_at=factory.LazyFunction(timezone.now),
            heartbeat_at=factory.SelfAttribute("started_at"),
        )

    run = factory.SubFactory(BacktestRunFactory, chunks=False)
    index = factory.Sequence(lambda n: n)
    first_day = START
    last_day = END
    days_total = 5
    days_done = 0
    status = BacktestChunk.Status.PENDING


def backtest_trade(run: BacktestRun, *, day: dt.date, window: dt.time = dt.time(10, 0), **kwargs: Any) -> Trade:
    """A closed take-profit trade (with its TRADE decision) that ``run`` wrote, entered on ``day`` at ``window`` ET."""
    opened = dt.datetime.combine(day, window, tzinfo=NEW_YORK)
    return cast(Trade, TradeFactory(
        closed=True, backtest_run=run, source=Source.BACKTEST, opened_at=opened,
        decision__source=TradeDecision.Source.BACKTEST, decision__backtest_run=run, decision__trading_day=day,
        decision__entry_window=window, decision__decided_at=opened, **kwargs,
    ))
