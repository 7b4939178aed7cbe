from __future__ import annotations

import factory

from mlmodels.models import ModelVersion, TrainingRequest


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A model version row only (no artefact on disk): enough for the reads, not for scoring."""

    class Meta:
        model = ModelVersion

    model_file = factory.Sequence(lambda n: f"model-{n}.ubj")
    model_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    sidecar_file = factory.Sequence(lambda n: f"model-{n}.json")
    dataset_sha256 = "0" * 64
    dataset_rows = 100
    feature_schema = 1
    params_sha256 = "0" * 64
    threshold = 0.5


class TrainingRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRequest

    idempotency_key = factory.Sequence(lambda n: f"train-{n}")
