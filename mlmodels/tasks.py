"""Celery entry point for training (thin; the work is in ``mlmodels.services``)."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def train_run(request_id: int) -> int | None:
    """Train one ``TrainingRequest`` (by id: no data in the message); returns the model's id.

    Idempotent: a request already done is left alone, and training the same dataset and parameters
    again returns the same model (content-addressed file, unique row).
    """
    from mlmodels import services

    req = services.training_run(request_id)
    return req.model_id


@shared_task
def monitoring_check() -> int:
    """Log the active models' drift flags (beat, after the close); returns how many were flagged."""
    from mlmodels.monitoring import monitoring_check as check

    return len(check())
