"""What the decision-time features add to a live entry window (12 configs), on the simulated market.

Run from the repository root:

    .venv/bin/python bench/bench_features.py

Uses a throwaway SQLite database under var/bench-features. Captures the 12 slots before an 11:00 ET
window and the window's own (snapshots + market context, as beat would have), then times, for that
window: the whole entry window (all 12 decisions written), and the feature work inside it — the
window's context (``window_context``: the slot's and the previous session's context rows, the
event table), the forward history of each expiration read (``forward_history``: 14 context rows;
configs of one expiration share it, as the window does) and each config's feature row
(``candidate_features``). Prints medians over repeated runs; asserts nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")
DAY = dt.date(2026, 11, 18)


def main() -> None:
    work = ROOT / "var" / "bench-features"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.update(DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}", SPX_VAR_DIR=str(work), CELERY_BROKER_URL="memory://",
                      MARKET_DATA_PROVIDER="simulated", EXECUTION_BROKER="simulated", ALLOW_SNAPSHOT_OUTSIDE_RTH="true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import transaction

    from execution.services import entry_window_trade
    from snapshots.analytics import snapshot_analytics
    from snapshots.models import ChainSnapshot
    from snapshots.services import snapshot_capture
    from strategy import selectors
    from strategy.models import StrategyConfig, TradeDecision
    from strategy.quant.features import candidate_features
    from strategy.services import forward_history, strategy_spec, window_context

    at = dt.datetime.combine(DAY, dt.time(11, 0), tzinfo=NY).astimezone(dt.UTC)
    prev_close = dt.datetime.combine(DAY - dt.timedelta(days=1), dt.time(16, 0), tzinfo=NY).astimezone(dt.UTC)
    t0 = time.perf_counter()
    for slot in [prev_close, *(at - dt.timedelta(minutes=5 * k) for k in range(12, -1, -1))]:
        snapshot_capture(now=slot, force=True)
    print(f"captured 14 slots with market context in {time.perf_counter() - t0:.1f} s")

    whole, feature_work = [], []
    configs = list(StrategyConfig.objects.filter(enabled=True))
    for _ in range(7):
        with transaction.atomic():
            t0 = time.perf_counter()
            entry_window_trade(at=at, capture=False, hand_over=lambda pk: None)
            whole.append(time.perf_counter() - t0)
            transaction.set_rollback(True)
        t0 = time.perf_counter()
        ctx = window_context(at=at, underlying="SPX", context=selectors.context_at(underlying="SPX", ts=at))
        histories: dict = {}  # as the window shares them: one history per expiration read
        for c in configs:
            snap = selectors.latest_snapshot(underlying="SPX", target_dte=c.target_dte, at=at)
            assert snap is not None
            if (snap.expiration, snap.root) not in histories:
                histories[(snap.expiration, snap.root)] = forward_history(at=at, underlying="SPX",
                                                                          expiration=snap.expiration, root=snap.root)
            history = histories[(snap.expiration, snap.root)]
            spec = strategy_spec(c)
            candidate_features(target_dte=spec.target_dte, delta_target=spec.rules.short_delta_target,
                               side_is_call=spec.rules.is_call, chain=None, dte_calendar=snap.actual_dte_days,
                               candidate=None, history=history, window=ctx)
        feature_work.append(time.perf_counter() - t0)
    a = snapshot_analytics(ChainSnapshot.objects.filter(ts=at, purpose="target").first())
    t0 = time.perf_counter()
    for _ in range(100):
        candidate_features(target_dte=3, delta_target=0.1, side_is_call=False, chain=a, dte_calendar=3, candidate=None,
                           history=forward_history(at=at, underlying="SPX", expiration=a.expiration, root=a.root),
                           window=ctx)
    per_row = (time.perf_counter() - t0) / 100
    ms = lambda xs: f"{statistics.median(xs) * 1000:.1f} ms"  # noqa: E731
    print(f"entry window at 11:00 ET, 12 configs, from stored snapshots (decisions rolled back): median {ms(whole)}")
    print(f"  of which the features' reads and rows (window context + one forward history per expiration + 12 rows): "
          f"median {ms(feature_work)}; one history + row with the chain: {per_row * 1000:.2f} ms")
    assert not TradeDecision.objects.exists()  # every timed window was rolled back


if __name__ == "__main__":
    main()
