"""factory_boy factories for the mlmodels models: rows only (no artefact on disk; training makes those)."""

from __future__ import annotations

import factory

from mlmodels.models import ModelVersion
from strategy.quant.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A candidate whose out-of-sample gain interval lies above zero (activation would not need force)."""

    class Meta:
        model = ModelVersion

    model_file = factory.Sequence(lambda n: f"missing/model-{n}.ubj")
    model_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    sidecar_file = factory.Sequence(lambda n: f"missing/model-{n}.json")
    dataset_sha256 = factory.Sequence(lambda n: f"{n + 1:064x}")
    dataset_rows = 400
    feature_schema = FEATURE_SCHEMA_VERSION
    feature_names = factory.LazyFunction(lambda: list(FEATURE_NAMES))
    params_sha256 = "e" * 64
    threshold = 0.55
    gain_expectancy_usd = 12.5
    gain_low_usd = 3.0
    gain_high_usd = 22.0
