"""``celery`` for the worker tests (``spx_site.tests.celery_workers``), with test-only behaviour
switched on by environment variables, since a worker process cannot be monkeypatched from the test:
``SPX_TEST_SLOW_DAY_S`` sleeps before each replayed backtest day; ``SPX_TEST_POISON_DAY=1`` kills
the process on its first day (as a segfault or the OOM killer would); ``SPX_TEST_STUCK_DAY=1`` hangs
in the first day and ignores the soft time limit (as a long native call does), until the hard limit
kills the process."""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def switch_on() -> None:
    """Switched on by the test's environment: each replayed backtest day sleeps
    ``SPX_TEST_SLOW_DAY_S`` first; ``SPX_TEST_POISON_DAY=1`` kills the process on the first day;
    ``SPX_TEST_STUCK_DAY=1`` never returns from the first day."""
    slow_s = float(os.environ.get("SPX_TEST_SLOW_DAY_S") or 0)
    poison = os.environ.get("SPX_TEST_POISON_DAY") == "1"
    stuck = os.environ.get("SPX_TEST_STUCK_DAY") == "1"
    if not (slow_s or poison or stuck):
        return
    import django

    django.setup()
    from celery.exceptions import SoftTimeLimitExceeded

    from backtests.engine import replay

    real = replay.DayReplayer.run_day

    def run_day(self: Any, day: Any, *, entries: bool) -> bool:
        if poison:
            os._exit(1)  # the process dies mid-task, as a segfault or the OOM killer would
        while stuck:  # only the hard time limit ends this
            try:
                time.sleep(3600)
            except SoftTimeLimitExceeded:
                pass  # raised between bytecodes; a native call holding on would not see it either
        time.sleep(slow_s)
        return real(self, day, entries=entries)

    replay.DayReplayer.run_day = run_day  # type: ignore[method-assign]


if __name__ == "__main__":
    switch_on()
    from celery.__main__ import main

    sys.argv[0] = "celery"
    sys.exit(main())
