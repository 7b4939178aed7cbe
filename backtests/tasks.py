"""Celery entry points for backtests: one task per chunk of days, and beat's stuck-chunk sweep (thin;
the work is in services)."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

MAX_RETRIES = 3


# reject_on_worker_lost: a chunk whose process died (OOM killer, segfault) goes back on the queue;
# the attempt cap on the chunk row stops a poison chunk from looping.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def chunk_run(self, chunk_id: int) -> None:
    """Replay one chunk of a run; the run's last chunk assembles the results.

    Late acknowledgement: a worker killed mid-chunk leaves the message to be redelivered, and the
    re-run overwrites the chunk's own result (rows are written only at assembly, in one
    transaction); each delivery counts an attempt and past ``BACKTEST_CHUNK_MAX_ATTEMPTS`` the run
    fails with the reason. An I/O error is retried with backoff; a chunk not committed yet, or
    SQLite busy, is retried by the task class; the soft time limit, anything else, or the last
    retry fails the run with the reason.
    """
    from django.db import OperationalError

    from backtests import services
    from backtests.models import BacktestChunk
    from backtests.services import BacktestError

    try:
        services.chunk_execute(chunk_id)
    except BacktestChunk.DoesNotExist as exc:
        raise self.retry_later(exc) from exc
    except OSError as exc:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc
        services.run_fail(chunk_id, exc)
        raise
    except OperationalError as exc:
        if "database is locked" in str(exc):
            raise  # transient: the task class retries it with backoff
        services.run_fail(chunk_id, exc)
        raise
    except SoftTimeLimitExceeded as exc:  # past the replay (assembling): fail with the limit named
        services.run_fail(chunk_id, BacktestError(
            f"stopped at the soft time limit of {self.soft_time_limit} s (BACKTEST_CHUNK_SOFT_TIME_LIMIT_S)"))
        raise exc
    except Exception as exc:
        services.run_fail(chunk_id, exc)
        raise


@shared_task(acks_late=True)
def stuck_chunks_sweep() -> None:
    """Beat, every few minutes: requeue chunks a hard time limit or a lost worker left running, or
    fail their run once their attempts are used up (``services.stuck_chunks_sweep``). Idempotent."""
    from django.utils import timezone

    from backtests import services

    services.stuck_chunks_sweep(now=timezone.now())
