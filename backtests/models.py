"""Backtest data models. For now only the import manifest of the Parquet market-data store."""

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
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["-date", "schema"]
        constraints = [
            models.UniqueConstraint(fields=["date", "dataset", "schema"], name="backtests_importedday_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} {self.schema} {self.date} ({self.record_count:,} records)"
