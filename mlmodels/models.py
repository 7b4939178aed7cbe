"""Meta-labeler model versions and the training requests that make them.

A ``ModelVersion`` is everything needed to reproduce and to explain one trained gate: the model
file (XGBoost UBJ, on disk under ``ML_MODEL_DIR``, its SHA-256 here and checked on every load), a
JSON sidecar beside it, the dataset's SHA-256 and where it came from, the feature schema and order,
the learning parameters, library and code versions, the calibrator, the threshold, the
walk-forward report and the importances. Its status (candidate → active → retired) changes only
by an operator action, recorded with who, when and why.

Strategy groups: each ``StrategyConfig`` names its group (``ml_group``, default
``spx-verticals``: the whole seeded grid — the features carry DTE, delta, side and window, so one
model covers it). A model is trained for one group; at most one model per group is active (a
partial unique constraint), and it gates the entries of that group's configs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from strategy.quant.decision import DEFAULT_ML_GROUP


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", "candidate"
        ACTIVE = "active", "active"
        RETIRED = "retired", "retired"

    group = models.CharField(max_length=40, default=DEFAULT_ML_GROUP, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)
    # the artefact
    model_file = models.CharField(max_length=200, help_text="path under ML_MODEL_DIR of the UBJ model")
    model_sha256 = models.CharField(max_length=64)
    sidecar_file = models.CharField(max_length=200)
    # what it was trained on, and how
    dataset_sha256 = models.CharField(max_length=64, db_index=True)
    dataset_spec = models.JSONField(default=dict, help_text="source, run, start, end of the dataset")
    dataset_rows = models.PositiveIntegerField()
    feature_schema = models.PositiveSmallIntegerField()
    feature_names = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    params_sha256 = models.CharField(max_length=64)
    library_versions = models.JSONField(default=dict)
    code_version = models.CharField(max_length=60, blank=True)
    calibrator = models.JSONField(default=dict)
    threshold = models.FloatField()
    report = models.JSONField(default=dict, help_text="the walk-forward report (training.train)")
    importances = models.JSONField(default=list)
    # the out-of-sample gain the activation rule reads
    gain_expectancy_usd = models.FloatField(null=True, blank=True)
    gain_low_usd = models.FloatField(null=True, blank=True)
    gain_high_usd = models.FloatField(null=True, blank=True)
    # who changed the status, when, why
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    status_reason = models.TextField(blank=True, help_text="why (a forced activation stores its reason here)")
    forced = models.BooleanField(default=False, help_text="activated although its gain interval includes zero")

    class Meta:
        ordering = ["-id"]
        # Training is the default ``add_trainingrequest``; these change which model gates live entries.
        permissions = [
            ("activate_model", "Can activate a model version (it gates its group's entries)"),
            ("retire_model", "Can retire a model version"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["group"], condition=Q(status="active"), name="one_active_model_per_group"),
            models.UniqueConstraint(fields=["dataset_sha256", "params_sha256", "group"], name="one_model_per_dataset_params"),
        ]

    def __str__(self) -> str:
        return f"model {self.pk} ({self.group}, {self.status})"

    @property
    def version(self) -> str:
        """What decisions store as ``model_version``."""
        return str(self.pk)

    @property
    def gain_excludes_zero(self) -> bool:
        lo, hi = self.gain_low_usd, self.gain_high_usd
        return lo is not None and hi is not None and (lo > 0 or hi < 0)


class TrainingRequest(models.Model):
    """One ask to train (page, API or command), run by a Celery task; the key makes a retry harmless."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    idempotency_key = models.CharField(max_length=80, unique=True)
    group = models.CharField(max_length=40, default=DEFAULT_ML_GROUP)
    dataset_spec = models.JSONField(default=dict)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=80, blank=True)
    error = models.TextField(blank=True)
    model = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"training {self.pk} ({self.status})"
