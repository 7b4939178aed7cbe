"""Celery entry points for backtests: one task per chunk of days (thin; the work is in services)."""

from __future__ import annotations

from celery import shared_task

MAX_RETRIES = 3


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def chunk_run(self, chunk_id: int) -> None:
    """Replay one chunk of a run; the run's last chunk assembles the results.

    Late acknowledgement: a worker killed mid-chunk leaves the message to be redelivered, and the
    re-run overwrites the chunk's own result (rows are written only at assembly, in one
    transaction). An I/O error is retried with backoff; anything else, or the last retry, fails the
    run with the reason.
    """
    from backtests import services

    try:
        services.chunk_execute(chunk_id)
    except OSError as exc:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        services.run_fail(chunk_id, exc)
        raise
    except Exception as exc:
        services.run_fail(chunk_id, exc)
        raise
