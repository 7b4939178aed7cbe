from django.contrib import admin

from backtests.models import ImportedDay


@admin.register(ImportedDay)
class ImportedDayAdmin(admin.ModelAdmin):
    list_display = ("date", "dataset", "schema", "record_count", "instrument_count", "parquet_bytes", "imported_at", "file_sha256")
    list_filter = ("dataset", "schema")
    date_hierarchy = "date"
    search_fields = ("source_file", "file_sha256")
    readonly_fields = [field.name for field in ImportedDay._meta.fields]
    ordering = ("-date", "schema")
