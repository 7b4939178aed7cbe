"""Backtest models: the import manifest of the Parquet market-data store, runs and their chunks."""

from __future__ import annotations

from django.db import models


class ImportedDay(models.Model):
    """One imported (UTC day, dataset, schema) of the Parquet store and where it came from.

    Written by ``backtests.data.dbn_import.import_files`` in the same transaction that renames the
    Parquet file into place; a re-import of the day updates the row. The backtest run records the
    ``file_sha256`` of its inputs from here.
    """

    date = models.DateField(help_text="UTC date of the records (the ET session date for regular hours)")
    dataset = models.CharField(max_length=32, default="OPRA.PILLAR")
    schema = models.CharField(max_length=32, help_text="DBN schema, e.g. cbbo-1m or definition")
    source_file = models.CharField(max_length=1024, help_text="DBN file the day was imported from")
    file_sha256 = models.CharField(max_length=64, help_text="SHA-256 of the source file's bytes as stored")
    record_count = models.PositiveBigIntegerField(help_text="DBN records of this day in the source file")
    instrument_count = models.PositiveIntegerField(help_text="cbbo-1m: instruments quoted; definition: instruments defined")
    parquet_path = models.CharField(max_length=1024)
    parquet_bytes = models.PositiveBigIntegerField(default=0)
    outside_session = models.PositiveBigIntegerField(
        default=0, help_text="cbbo-1m: records stamped outside the session, kept in the store, never read by the engine")
    empty_minutes = models.PositiveIntegerField(
        default=0, help_text="cbbo-1m: session minutes with no record of any instrument (gaps)")
    gaps = models.JSONField(default=list, blank=True,
                            help_text='cbbo-1m: the runs of empty session minutes, [["HH:MM", "HH:MM"], …] ET, both included')
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["-date", "schema"]
        constraints = [
            models.UniqueConstraint(fields=["date", "dataset", "schema"], name="backtests_importedday_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} {self.schema} {self.date} ({self.record_count:,} records)"


class BacktestRun(models.Model):
    """One backtest: its full configuration, the data it read, its progress, timings and metrics.

    ``params`` is the whole run configuration (date range, strategies with their frozen config
    parameters and entry windows, risk scope, fill model, exit rules, fees); ``params_sha256`` is
    the SHA-256 of its canonical JSON. ``data_sha256`` hashes the manifest rows (file SHA-256s)
    of the imported days it read, and ``code_version`` the source it ran, so a rerun can be checked
    for identical inputs; ``output_sha256`` hashes what it produced (``services.assembly.output_sha256``),
    so a rerun can be checked for an identical output. Its decisions and trades are the ordinary ``TradeDecision``/``Trade`` rows
    with ``source = backtest`` and ``backtest_run`` pointing here.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    name = models.CharField(max_length=120, blank=True)
    idempotency_key = models.CharField(
        max_length=80, null=True, blank=True, unique=True,
        help_text="client-chosen key: a second launch with the same key returns this run",
    )
    params = models.JSONField()
    params_sha256 = models.CharField(max_length=64, db_index=True)
    start_date = models.DateField()
    end_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    days_total = models.PositiveIntegerField(default=0)
    days_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    data_sha256 = models.CharField(max_length=64, blank=True)
    data_days = models.JSONField(default=list, help_text="trading days read, with their cbbo-1m file SHA-256")
    code_version = models.CharField(max_length=80, blank=True)
    timings = models.JSONField(default=dict, help_text="seconds: wall, read, compute, write")
    metrics = models.JSONField(default=dict)
    output_sha256 = models.CharField(
        max_length=64, blank=True,
        help_text="SHA-256 of the run's canonical output (decisions and trades, fixed fields and order): same input, same hash")
    data_gaps = models.JSONField(
        default=dict, blank=True,
        help_text="gaps of the days read (session minutes without records) and the decisions/exits made inside one")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # Launching is the default ``add_backtestrun``; these act on a run that exists.
        permissions = [
            ("cancel_run", "Can cancel a backtest run"),
            ("relaunch_run", "Can relaunch a backtest run's unfinished chunks (reopens a failed run)"),
        ]

    def __str__(self) -> str:
        return f"backtest #{self.pk} {self.name or ''} {self.start_date}..{self.end_date} [{self.status}]".replace("  ", " ")

    @property
    def progress_pct(self) -> float:
        return 100.0 * self.days_done / self.days_total if self.days_total else 0.0

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)


class BacktestChunk(models.Model):
    """A slice of a run's trading days replayed by one Celery task (all strategies at once).

    ``result`` holds the chunk's candidate entries and their minute-by-minute exit paths (zstd
    JSON), until the run's last chunk assembles them. A retried chunk overwrites its own row.
    ``heartbeat_at`` is the running chunk's last sign of life (its claim, then its progress writes):
    the stuck-chunk sweep (``services.stuck_chunks_sweep``) requeues or gives up a chunk whose
    worker was killed at the hard time limit or lost, which would otherwise stay running forever.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_day = models.DateField()
    last_day = models.DateField()
    days_total = models.PositiveIntegerField()
    days_done = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.BinaryField(null=True, blank=True)
    timings = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="last progress write of the running attempt (set at its claim)")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="backtest_chunk_uniq")]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.index} {self.first_day}..{self.last_day} [{self.status}]"


class SweepVariant(models.Model):
    """One variant of a parameter sweep (a ``BacktestRun`` whose ``params["kind"]`` is ``"sweep"``):
    the base config with the values of the swept dimensions ``dims``, its own strategy and risk
    budget (``per_strategy``), and its metrics.

    A sweep writes no ``TradeDecision``/``Trade`` row per variant-trade: its variants' trades are
    kept in the run's result files (``services.sweeps``: ``sweep_trades.parquet``,
    ``sweep_daily.parquet`` in ``BACKTEST_RESULTS_DIR/run-<id>/``), and any variant can be
    materialised on demand into an ordinary run of its own (``materialized_run``).
    """

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="sweep_variants")
    index = models.PositiveIntegerField(help_text="position in the sweep's Cartesian product (row-major, dims in spec order)")
    key = models.CharField(max_length=40, help_text="the variant's strategy key in the run (v<index>)")
    name = models.CharField(max_length=200, blank=True)
    dims = models.JSONField(help_text="the swept dimensions' values of this variant, e.g. {\"short_delta_target\": \"0.100\"}")
    metrics = models.JSONField(default=dict, help_text="summary figures (engine.metrics.Metrics.as_dict) + open at the end")
    materialized_run = models.ForeignKey(
        BacktestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="materialized_from",
        help_text="the ordinary run holding this variant's decisions and trades, once materialised")

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="sweep_variant_uniq")]

    def __str__(self) -> str:
        return f"run {self.run_id} variant {self.index} {self.name}"
