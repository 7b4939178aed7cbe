"""Celery entry points for backtests: one task per chunk of days (thin; the work is in services)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=5, max_retries=3)
def chunk_run(chunk_id: int) -> None:
    """Replay one chunk of a run; the run's last chunk assembles the results.

    Late acknowledgement: a worker killed mid-chunk leaves the message to be redelivered, and the
    re-run overwrites the chunk's own result (rows are written only at assembly, in one transaction).
    """
    from backtests import services

    services.chunk_execute(chunk_id)
