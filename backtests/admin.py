"""Admin for the backtest models. Imported days and runs are written by the services only, so every
field is read-only here; the operator acts through the actions, which call the same services as
the page, the API and the ``backtest`` command."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from backtests import selectors, services
from backtests.models import BacktestChunk, BacktestRun, ImportedDay


@admin.register(ImportedDay)
class ImportedDayAdmin(admin.ModelAdmin):
    list_display = ("date", "dataset", "schema", "record_count", "instrument_count", "parquet_bytes", "imported_at", "file_sha256")
    list_filter = ("dataset", "schema")
    date_hierarchy = "date"
    search_fields = ("source_file", "file_sha256")
    readonly_fields = [field.name for field in ImportedDay._meta.fields]
    ordering = ("-date", "schema")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewing and actions only: a hand-edited run would no longer match its parameters hash."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class BacktestChunkInline(admin.TabularInline):
    model = BacktestChunk
    fields = ("index", "first_day", "last_day", "days_total", "days_done", "status", "attempts", "started_at",
              "heartbeat_at", "finished_at", "timings", "error")
    readonly_fields = fields  # ``result`` (the compressed candidates blob) stays out
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "status", "date_range", "progress", "trades", "pnl_usd", "created_at")
    list_display_links = ("id", "name")
    list_filter = ("status",)
    list_select_related = False  # no foreign keys; progress reads the chunks' days (annotated below)
    search_fields = ("name", "idempotency_key", "params_sha256", "data_sha256")
    date_hierarchy = "created_at"
    readonly_fields = ("page_link", *(f.name for f in BacktestRun._meta.fields))
    inlines = (BacktestChunkInline,)
    actions = ("cancel_runs", "relaunch_unfinished_chunks")

    def get_queryset(self, request: HttpRequest) -> QuerySet[BacktestRun]:
        return selectors.run_queryset()

    @admin.display(description="range")
    def date_range(self, obj: BacktestRun) -> str:
        return f"{obj.start_date:%Y-%m-%d} → {obj.end_date:%Y-%m-%d}"

    @admin.display(description="progress")
    def progress(self, obj: BacktestRun) -> str:
        p = selectors.run_progress(obj)
        return f"{p['pct']:.0f}% ({p['days_done']}/{p['days_total']} days)"

    @admin.display(description="trades")
    def trades(self, obj: BacktestRun) -> int | None:
        return ((obj.metrics or {}).get("summary") or {}).get("trades")

    @admin.display(description="PnL (USD)")
    def pnl_usd(self, obj: BacktestRun) -> str:
        value = ((obj.metrics or {}).get("summary") or {}).get("total_pnl_usd")
        return selectors.metric_text(value, "usd") if value is not None else "—"

    @admin.display(description="page")
    def page_link(self, obj: BacktestRun) -> str:
        url = reverse("backtests:run-detail", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, url)

    # Each action needs its own permission (Meta.permissions): a view-only staff user sees neither.
    def has_cancel_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backtests.cancel_run")

    def has_relaunch_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("backtests.relaunch_run")

    @admin.action(description="Cancel the selected runs", permissions=["cancel_run"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[BacktestRun]) -> None:
        for run in queryset:
            if run.finished:
                self.message_user(request, f"run {run.pk} already ended: {run.status}", messages.WARNING)
                continue
            run = services.run_cancel(run)
            self.message_user(request, f"run {run.pk} is {run.status}", messages.SUCCESS)

    @admin.action(description="Relaunch the unfinished chunks of the selected runs (failed runs are reopened)",
                  permissions=["relaunch_run"])
    def relaunch_unfinished_chunks(self, request: HttpRequest, queryset: QuerySet[BacktestRun]) -> None:
        for run in queryset:
            if run.status == BacktestRun.Status.FAILED:
                run = services.run_reopen(run)
            if run.finished:
                self.message_user(request, f"run {run.pk} already ended ({run.status}): nothing to relaunch",
                                  messages.WARNING)
                continue
            pending = run.chunks.exclude(status=BacktestChunk.Status.DONE).count()
            services.run_launch(run)
            self.message_user(request, f"run {run.pk}: {pending} unfinished chunk(s) queued", messages.SUCCESS)


@admin.register(BacktestChunk)
class BacktestChunkAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "index", "first_day", "last_day", "days_done", "days_total", "status", "attempts",
                    "run_pnl_usd", "finished_at")
    list_filter = ("status",)
    list_select_related = ("run",)
    raw_id_fields = ("run",)
    exclude = ("result",)  # the compressed candidates blob
    readonly_fields = ("run", "index", "first_day", "last_day", "days_total", "days_done", "status", "attempts",
                       "timings", "error", "started_at", "heartbeat_at", "finished_at")

    @admin.display(description="run PnL (USD)")
    def run_pnl_usd(self, obj: BacktestChunk) -> str:
        value = ((obj.run.metrics or {}).get("summary") or {}).get("total_pnl_usd")
        return selectors.metric_text(value, "usd") if value is not None else "—"
