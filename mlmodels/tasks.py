"""Celery entry point for training (thin; the work is in ``mlmodels.services``)."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded


@shared_task(bind=True, acks_late=True)
def train_run(self, request_id: int) -> int | None:
    """Train one ``TrainingRequest`` (by id: no data in the message); returns the model's id.

    Idempotent: a request already done is left alone, and training the same dataset and parameters
    again returns the same model (content-addressed file, unique row). A request not committed yet
    is retried with backoff; one that runs past the soft time limit fails with that reason.
    """
    from mlmodels import services
    from mlmodels.models import TrainingRequest

    try:
        req = services.training_run(request_id)
    except TrainingRequest.DoesNotExist as exc:
        raise self.retry_later(exc) from exc
    except SoftTimeLimitExceeded:
        services.training_fail(request_id, f"stopped at the soft time limit of {self.soft_time_limit} s (ML_TASK_SOFT_TIME_LIMIT_S)")
        return None
    return req.model_id


@shared_task
def monitoring_check() -> int:
    """Log the active models' drift flags (beat, after the close); returns how many were flagged."""
    from mlmodels.monitoring import monitoring_check as check

    return len(check())
