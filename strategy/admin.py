from typing import Any

from django.contrib import admin, messages
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from strategy.configs import config_save
from strategy.models import StrategyConfig, StrategyConfigChange, TradeDecision


def _diff_html(change: StrategyConfigChange) -> str:
    return format_html_join("", "<div><code>{}</code>: {} → <b>{}</b></div>",
                            ((k, old, new) for k, (old, new) in (change.diff or {}).items())) or "—"


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "side", "target_dte", "short_delta_target", "width_points", "quantity",
                    "min_credit", "take_profit_fraction", "stop_loss_multiple", "exit_at_time",
                    "exit_minutes_before_settlement", "entry_filters", "max_snapshot_age_minutes", "max_open_trades",
                    "max_new_trades_per_day", "priority")
    list_editable = ("enabled", "priority")
    list_filter = ("enabled", "side", "target_dte", "skip_event_days")
    search_fields = ("name",)
    # The history as a read-only field, not an inline: an inline would add a formset that every POST
    # to this form (scripts, the tests) would have to carry.
    readonly_fields = ("history",)
    HISTORY_ROWS = 50

    fieldsets = (
        (None, {"fields": ("name", "enabled", "priority", "ml_group")}),
        ("Spread", {"fields": ("side", "target_dte", "short_delta_target", "width_points", "max_width_mult", "quantity",
                               "min_credit", "max_combo_spread", "max_combo_spread_frac", "max_snapshot_age_minutes")}),
        ("Entry filters (blank = no filter)", {
            "description": "Checked on the decision-time features once the spread passed selection, before the risk "
                           "limits: a refusal is SKIP entry_filter. Ranges are inclusive; a set filter whose feature "
                           "is missing refuses.",
            "fields": (("vix_min", "vix_max"), ("term_ratio_min", "term_ratio_max"), "entry_weekdays",
                       "skip_event_days", "min_credit_to_width")}),
        ("Risk limits", {"fields": ("max_open_trades", "max_new_trades_per_day", "no_new_after_stop")}),
        ("Exits", {"fields": ("take_profit_fraction", "stop_loss_multiple", "exit_at_time",
                              "exit_minutes_before_settlement")}),
        ("History", {"fields": ("history",)}),
    )

    @admin.display(description="entry filters")
    def entry_filters(self, obj: StrategyConfig) -> str:
        parts = []
        if obj.vix_min is not None or obj.vix_max is not None:
            parts.append(f"vix30 {obj.vix_min if obj.vix_min is not None else ''}..{obj.vix_max or ''}")
        if obj.term_ratio_min is not None or obj.term_ratio_max is not None:
            parts.append(f"9d/30d {obj.term_ratio_min if obj.term_ratio_min is not None else ''}.."
                         f"{obj.term_ratio_max or ''}")
        if obj.entry_weekdays:
            parts.append(f"weekdays {obj.entry_weekdays}")
        if obj.skip_event_days:
            parts.append("no FOMC days")
        if obj.min_credit_to_width is not None:
            parts.append(f"credit/width >= {obj.min_credit_to_width}")
        return "; ".join(parts) or "-"

    @admin.display(description="history (newest first)")
    def history(self, obj: StrategyConfig) -> str:
        if obj.pk is None:
            return "—"
        changes = list(StrategyConfigChange.objects.filter(config=obj).order_by("-changed_at", "-pk")[:self.HISTORY_ROWS + 1])
        if not changes:
            return "no recorded changes"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (f"{timezone.localtime(c.changed_at):%Y-%m-%d %H:%M:%S %Z}", c.changed_by_name or "—", c.action, c.get_via_display(), _diff_html(c))
            for c in changes[:self.HISTORY_ROWS]))
        url = reverse("admin:strategy_strategyconfigchange_changelist") + f"?config__id__exact={obj.pk}"
        more = format_html('<p><a href="{}">all {} changes →</a></p>', url, obj.changes.count()) \
            if len(changes) > self.HISTORY_ROWS else ""
        return format_html('<table id="config-history"><thead><tr><th>when</th><th>who</th><th>what</th><th>where</th>'
                           "<th>changes: field old → new</th></tr></thead><tbody>{}</tbody></table>{}", rows, more)

    def save_model(self, request: HttpRequest, obj: StrategyConfig, form: ModelForm, change: bool) -> None:
        # The change form and the list's editable columns alike: saved and recorded in the history.
        config_save(obj, user=request.user, via=StrategyConfigChange.Via.ADMIN)
        for warning in obj.warnings():
            self.message_user(request, f"{obj.name}: {warning}", level=messages.WARNING)


@admin.register(StrategyConfigChange)
class StrategyConfigChangeAdmin(admin.ModelAdmin):
    """Every recorded config change, read-only."""

    list_display = ("changed_at", "config", "action", "via", "changed_by_name", "changed_fields")
    list_filter = ("action", "via", "config", "changed_at")
    list_select_related = ("config",)
    search_fields = ("config__name", "changed_by_name")
    date_hierarchy = "changed_at"
    fields = ("config", "changed_at", "changed_by", "changed_by_name", "action", "via", "copied_from", "changes",
              "before", "after")
    readonly_fields = fields

    @admin.display(description="fields changed")
    def changed_fields(self, obj: StrategyConfigChange) -> str:
        return ", ".join(obj.diff or {})

    @admin.display(description="changes: field old → new")
    def changes(self, obj: StrategyConfigChange) -> str:
        return _diff_html(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by strategy.configs.config_save alone

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TradeDecision)
class TradeDecisionAdmin(admin.ModelAdmin):
    list_display = ("trading_day", "entry_window", "strategy_config", "source", "action", "reason_code",
                    "credit_fill", "max_profit_usd", "max_loss_usd", "snapshot_checksum_short")
    list_filter = ("action", "source", "reason_code", "trading_day")
    list_select_related = ("strategy_config",)
    raw_id_fields = ("strategy_config", "snapshot", "context")
    date_hierarchy = "trading_day"
    readonly_fields = [f.name for f in TradeDecision._meta.fields]

    @admin.display(description="snapshot checksum")
    def snapshot_checksum_short(self, obj: TradeDecision) -> str:
        return obj.snapshot_checksum[:12]

    def has_add_permission(self, request) -> bool:
        return False  # decisions are made by the entry windows, never typed in
