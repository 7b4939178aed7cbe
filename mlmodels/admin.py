"""Model versions and training requests in admin: read-only records, status changed by the actions
(which call the same services as the models page, the API and the commands)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from mlmodels import services
from mlmodels.models import ModelVersion, TrainingRequest


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(_ReadOnly):
    list_display = ("id", "group", "status", "forced", "dataset_rows", "auc", "gain", "threshold", "created_at", "page")
    list_filter = ("status", "group")
    exclude = ("report",)  # large; the model page shows it
    actions = ("activate_models", "retire_models")

    @admin.display(description="OOS AUC")
    def auc(self, obj: ModelVersion) -> str:
        v = (obj.report or {}).get("oos", {}).get("auc")
        return f"{v:.3f}" if v is not None else "—"

    @admin.display(description="gain per trade (USD, 95 %)")
    def gain(self, obj: ModelVersion) -> str:
        if obj.gain_expectancy_usd is None:
            return "—"
        return f"{obj.gain_expectancy_usd:+.2f} [{obj.gain_low_usd or 0:+.2f}, {obj.gain_high_usd or 0:+.2f}]"

    @admin.display(description="page")
    def page(self, obj: ModelVersion) -> str:
        return format_html('<a href="/models/{}/">model page</a>', obj.pk)

    # Each action needs its own permission (Meta.permissions): a view-only staff user sees neither.
    def has_activate_model_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("mlmodels.activate_model")

    def has_retire_model_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("mlmodels.retire_model")

    @admin.action(description="Activate (refused if the gain interval does not lie above zero)",
                  permissions=["activate_model"])
    def activate_models(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for mv in queryset:
            try:
                services.activate(mv, user=request.user)
                self.message_user(request, f"model {mv.pk} is the active model of {mv.group}")
            except services.ModelError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)

    @admin.action(description="Retire", permissions=["retire_model"])
    def retire_models(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for mv in queryset:
            services.retire(mv, user=request.user, reason="retired in admin")
        self.message_user(request, f"{queryset.count()} model(s) retired")


@admin.register(TrainingRequest)
class TrainingRequestAdmin(_ReadOnly):
    list_display = ("id", "status", "stage", "progress", "group", "model", "created_at", "finished_at")
    list_filter = ("status",)
