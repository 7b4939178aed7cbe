from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from snapshots.models import ApiToken, CaptureFailure, ChainSnapshot, MarketEvent, OptionInstrument, SettlementValue
from snapshots.providers.base import ProviderError
from snapshots.services import snapshot_capture


@admin.register(ChainSnapshot)
class ChainSnapshotAdmin(admin.ModelAdmin):
    list_display = ("ts", "underlying", "root", "target_dte", "expiration", "actual_dte_days", "provider",
                    "option_count", "payload_size_bytes", "short_checksum")
    list_filter = ("target_dte", "provider", "root")
    date_hierarchy = "ts"
    search_fields = ("checksum",)
    exclude = ("payload_zstd",)  # binary; the detail page shows the chain
    readonly_fields = [f.name for f in ChainSnapshot._meta.fields if f.name != "payload_zstd"]
    actions = ["force_snapshot", "verify_checksums"]

    @admin.display(description="checksum")
    def short_checksum(self, obj: ChainSnapshot) -> str:
        return obj.checksum[:12]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChainSnapshot]:
        return super().get_queryset(request).defer("payload_zstd")

    # Each action needs its own permission (Meta.permissions): a view-only staff user sees neither.
    def has_force_capture_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("snapshots.force_capture")

    def has_verify_checksums_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("snapshots.verify_checksums")

    @admin.action(description="Force a snapshot capture now", permissions=["force_capture"])
    def force_snapshot(self, request: HttpRequest, queryset: QuerySet[ChainSnapshot]) -> None:
        try:
            result = snapshot_capture(now=timezone.now(), force=True)
        except ProviderError as exc:
            self.message_user(request, f"provider failed: {exc}", messages.ERROR)
            return
        self.message_user(request, f"inserted {len(result.inserted)}, existing {len(result.existing)}, "
                                   f"failures {len(result.failures)}")

    @admin.action(description="Verify checksums of the selected snapshots", permissions=["verify_checksums"])
    def verify_checksums(self, request: HttpRequest, queryset: QuerySet[ChainSnapshot]) -> None:
        bad = [s.pk for s in queryset.defer(None) if not s.verify_checksum()]
        level = messages.ERROR if bad else messages.SUCCESS
        self.message_user(request, f"{queryset.count() - len(bad)} ok, mismatched: {bad or 'none'}", level)


@admin.register(OptionInstrument)
class OptionInstrumentAdmin(admin.ModelAdmin):
    list_display = ("symbol", "root", "expiration", "strike", "option_type", "settlement", "first_seen_at")
    list_filter = ("root", "option_type", "settlement")
    search_fields = ("symbol",)
    date_hierarchy = "expiration"


@admin.register(CaptureFailure)
class CaptureFailureAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "ts", "stage", "target_dte", "expiration", "provider", "error_type", "message")
    list_filter = ("stage", "provider", "error_type")
    readonly_fields = [f.name for f in CaptureFailure._meta.fields]


@admin.register(SettlementValue)
class SettlementValueAdmin(admin.ModelAdmin):
    """Official settlement values (``manage.py settlement_import``); editable: they override every estimate."""

    list_display = ("expiration", "root", "style", "value", "source", "loaded_at")
    list_filter = ("root", "style", "source")
    date_hierarchy = "expiration"
    search_fields = ("source",)


@admin.register(MarketEvent)
class MarketEventAdmin(admin.ModelAdmin):
    """Scheduled events the decision features read (FOMC seeded; CPI/NFP via ``manage.py events_import``)."""

    list_display = ("day", "kind", "time_et", "description", "source")
    list_filter = ("kind",)
    date_hierarchy = "day"
    search_fields = ("description", "source")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made on /api-tokens/ or by ``manage.py api_token`` (the key is shown once there); here only revoked."""

    list_display = ("prefix", "user", "name", "scope", "created_at", "last_used_at", "revoked_at")
    list_filter = ("scope",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    exclude = ("key_sha256",)
    readonly_fields = ("prefix", "user", "scope", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
