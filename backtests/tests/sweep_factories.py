"""A finished sweep built without a replay: the run's parameters from ``sweeps.sweep_params``, one
``SweepVariant`` per grid position with ``metrics["summary"]`` from ``engine.metrics.summarise``
(as the sweep assembly computes it), and the result files written by ``sweep_files.trades_write``
/ ``daily_write`` from hand-made trades — so ``selectors.sweep_results`` and the pages read them
exactly as they read a real sweep's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from backtests import services
from backtests.engine import metrics as metrics_mod
from backtests.models import BacktestRun, SweepVariant
from backtests.services import sweep_files, sweeps
from backtests.tests.factories import BacktestRunFactory
from strategy.models import StrategyConfig

# (trading day, realized PnL USD) of one closed variant-trade (entered and closed that day)
HandTrade = tuple[dt.date, float]


def _trade_row(variant: int, day: dt.date, pnl: float) -> dict[str, Any]:
    opened = dt.datetime.combine(day, dt.time(15, 0), tzinfo=dt.UTC)  # 10:00 ET in March (EDT after the 8th)
    return {
        "variant": variant, "trading_day": day, "entry_window": "10:00", "decided_at": opened,
        "expiration": day + dt.timedelta(days=3), "root": "SPXW", "side": "put_credit",
        "short_symbol": "SPXW  260320P05000000", "long_symbol": "SPXW  260320P04975000",
        "short_strike": 5000.0, "long_strike": 4975.0, "width_points": 25.0, "quantity": 1,
        "entry_credit": Decimal("1.20"), "max_profit_usd": Decimal("120.00"), "max_loss_usd": Decimal("2380.00"),
        "status": "closed", "exit_at": opened + dt.timedelta(hours=2),
        "exit_reason": "take_profit" if pnl > 0 else "stop_loss",
        "exit_debit": Decimal("0.60") if pnl > 0 else Decimal("2.40"), "settlement_price": None,
        "fees_usd": Decimal("2.60"), "realized_pnl_usd": Decimal(f"{pnl:.2f}"), "last_mark_pnl_usd": None,
    }


def sweep_build(*, dims: Mapping[str, Sequence[Any]], trades: Callable[[int, dict[str, Any]], Sequence[HandTrade]],
                start: dt.date, end: dt.date, windows: Sequence[str] = ("10:00",),
                config: StrategyConfig | None = None, name: str = "hand-made sweep") -> BacktestRun:
    """A done sweep of ``config`` (default the seeded "3DTE put 10d") × ``dims`` whose variant ``i``
    (dims ``d``) closed ``trades(i, d)``."""
    base = config or StrategyConfig.objects.get(name="3DTE put 10d")
    params = sweeps.sweep_params(config=base, dims=dims, start=start, end=end, windows=windows)
    days = services.trading_days(start, end)
    n = params["sweep"]["variants"]
    run = BacktestRunFactory(done=True, name=name, start_date=start, end_date=end, params=params,
                             metrics={"variants": n})
    rows: list[dict[str, Any]] = []
    daily: dict[str, list[Any]] = {k: [] for k in sweep_files.DAILY_SCHEMA.names}
    variants = []
    for i in range(n):
        vd = sweeps.variant_dims(params, i)
        mine = sorted(trades(i, vd))
        closed = [metrics_mod.ClosedTrade(entry_day=d, exit_day=d, pnl_usd=round(p, 2), entry_credit=1.2,
                                          max_profit_usd=120.0, max_loss_usd=2380.0,
                                          exit_reason="take_profit" if p > 0 else "stop_loss", bucket=(0, 0.0, "", ""))
                  for d, p in mine]
        rows += [_trade_row(i, d, p) for d, p in mine]
        per_day: dict[dt.date, list[float]] = {}
        for d, p in mine:
            per_day.setdefault(d, []).append(round(p, 2))
        for d in sorted(per_day):
            daily["variant"].append(i)
            daily["day"].append(d)
            daily["pnl_usd"].append(float(np.sum(per_day[d])))
            daily["trades"].append(len(per_day[d]))
            daily["wins"].append(sum(p > 0 for p in per_day[d]))
        summary = metrics_mod.summarise(closed, days).as_dict()
        variants.append(SweepVariant(
            run=run, index=i, key=f"v{i}", name=sweeps.variant_name(base.name, vd), dims=vd,
            metrics={"summary": summary, "decisions": len(days), "trade_decisions": len(closed),
                     "trades_total": len(closed), "open_trades": 0, "open_at_end_mtm_usd": 0.0}))
    SweepVariant.objects.bulk_create(variants)
    trades_path = sweep_files.trades_write(run.pk, {k: [r[k] for r in rows] for k in sweep_files.TRADE_SCHEMA.names})
    daily_path = sweep_files.daily_write(run.pk, daily)
    run.metrics = {"variants": n, "variant_trades": len(rows), "trades_file_sha256": sweep_files.file_sha256(trades_path),
                   "daily_file_sha256": sweep_files.file_sha256(daily_path)}
    run.save(update_fields=["metrics"])
    return run


def pnl_matrix(run: BacktestRun, trades: Callable[[int, dict[str, Any]], Sequence[HandTrade]]) -> np.ndarray:
    """The days × variants daily PnL of the hand-made trades, built here independently of the files."""
    days = services.trading_days(run.start_date, run.end_date)
    n = run.params["sweep"]["variants"]
    out = np.zeros((len(days), n))
    row = {d: i for i, d in enumerate(days)}
    for j in range(n):
        for d, p in trades(j, sweeps.variant_dims(run.params, j)):
            out[row[d], j] += round(p, 2)
    return out
