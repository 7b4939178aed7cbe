"""Run beat's stuck-chunk sweep now, in the foreground: the exact code the periodic task runs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from backtests import services


class Command(BaseCommand):
    help = ("Requeue backtest chunks left running by a worker killed at the hard time limit or lost (claimed more "
            "than BACKTEST_CHUNK_TIME_LIMIT_S + BACKTEST_CHUNK_STUCK_MARGIN_S ago, silent for the margin); a chunk "
            "whose attempts are used up (BACKTEST_CHUNK_MAX_ATTEMPTS) fails its run with the reason.")

    def handle(self, *args: Any, **options: Any) -> None:
        outcome = services.stuck_chunks_sweep(now=timezone.now())
        self.stdout.write(f"requeued: {len(outcome.requeued)} chunk(s) {list(outcome.requeued)}; "
                          f"runs failed: {len(outcome.failed)} chunk(s) {list(outcome.failed)} "
                          f"(stuck after {services.stuck_after_s():g} s)")
