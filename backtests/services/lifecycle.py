"""A run's life: created with its chunks, launched on the workers, cancelled, reopened, failed."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from backtests.models import BacktestChunk, BacktestRun
from backtests.services.params import (
    DEFAULT_CHUNK_DAYS,
    BacktestError,
    code_version,
    imported_days,
    params_sha256,
    run_limits_check,
    trading_days,
)

logger = logging.getLogger(__name__)


def run_create(params: dict[str, Any], *, name: str = "", idempotency_key: str | None = None) -> tuple[BacktestRun, bool]:
    """(run, created). Refuses a range with missing data; the same idempotency key returns its run."""
    if idempotency_key:
        existing = BacktestRun.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.params_sha256 != params_sha256(params):
                raise BacktestError(f"idempotency key {idempotency_key!r} was used for a different configuration")
            return existing, False
    start, end = dt.date.fromisoformat(params["start"]), dt.date.fromisoformat(params["end"])
    # Again here (params may come from elsewhere than params_build): before the calendar or the store is read.
    run_limits_check(start=start, end=end, strategies=len(params.get("strategies") or ()))
    days = trading_days(start, end)
    if not days:
        raise BacktestError(f"no trading days between {start} and {end}")
    have = imported_days(days)
    missing = [d for d in days if d not in have]
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise BacktestError(
            f"{len(missing)} of {len(days)} trading days have no imported OPRA data: {shown}. Import them first "
            "(manage.py databento_import, or manage.py dbn_generate --import for simulated data)."
        )
    size = int(params.get("chunk_days") or DEFAULT_CHUNK_DAYS)
    pieces = [days[i:i + size] for i in range(0, len(days), size)]
    try:
        with transaction.atomic():
            run = BacktestRun.objects.create(
                name=name[:120], idempotency_key=idempotency_key or None, params=params,
                params_sha256=params_sha256(params), start_date=start, end_date=end, days_total=len(days),
                chunks_total=len(pieces), code_version=code_version(),
            )
            BacktestChunk.objects.bulk_create([
                BacktestChunk(run=run, index=i, first_day=p[0], last_day=p[-1], days_total=len(p))
                for i, p in enumerate(pieces)
            ])
    except IntegrityError:  # the same key launched concurrently: that run stands
        if not idempotency_key:
            raise
        existing = BacktestRun.objects.get(idempotency_key=idempotency_key)
        if existing.params_sha256 != params_sha256(params):  # as above: the key names one configuration
            raise BacktestError(f"idempotency key {idempotency_key!r} was used for a different configuration") from None
        return existing, False
    return run, True


def run_launch(run: BacktestRun) -> None:
    """Queue the run's unfinished chunks on the Celery workers (after commit)."""
    from backtests.tasks import chunk_run  # the task module imports the services

    for chunk_id in run.chunks.exclude(status=BacktestChunk.Status.DONE).values_list("pk", flat=True):
        chunk_run.delay_on_commit(chunk_id)


def run_cancel(run: BacktestRun) -> BacktestRun:
    """Stop a run: chunks check between days and stop; nothing is assembled."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run.pk)
        if not run.finished:
            run.status = BacktestRun.Status.CANCELLED
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "finished_at"])
    return run


def run_reopen(run: BacktestRun) -> BacktestRun:
    """A failed run goes back to running, its failed chunks to pending (then ``run_launch``)."""
    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().get(pk=run.pk)
        if run.status == BacktestRun.Status.FAILED:
            # A fresh attempt budget (BACKTEST_CHUNK_MAX_ATTEMPTS) for the chunks run again.
            run.chunks.filter(status=BacktestChunk.Status.FAILED).update(status=BacktestChunk.Status.PENDING, attempts=0)
            run.status, run.error, run.finished_at = BacktestRun.Status.RUNNING, "", None
            run.save(update_fields=["status", "error", "finished_at"])
    return run


def run_fail(chunk_id: int, exc: BaseException) -> None:
    """A chunk failed for good: the run fails with the reason (its rows were never written)."""
    message = f"chunk {chunk_id}: {type(exc).__name__}: {exc}"[:2000]
    BacktestChunk.objects.filter(pk=chunk_id).update(status=BacktestChunk.Status.FAILED, error=message)
    run_id = BacktestChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
    if run_id is None:
        logger.error("backtest chunk %s failed and no longer exists: %s", chunk_id, message)
        return
    BacktestRun.objects.filter(pk=run_id).exclude(status__in=[BacktestRun.Status.DONE, BacktestRun.Status.CANCELLED]).update(
        status=BacktestRun.Status.FAILED, error=message, finished_at=timezone.now())
    logger.error("backtest run %s failed: %s", run_id, message)
