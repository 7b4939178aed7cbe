from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from strategy.models import StrategyConfig, TradeDecision


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "side", "target_dte", "short_delta_target", "width_points", "quantity",
                    "min_credit", "take_profit_fraction", "stop_loss_multiple", "exit_at_time",
                    "exit_minutes_before_settlement", "entry_filters", "max_snapshot_age_minutes", "max_open_trades",
                    "max_new_trades_per_day", "priority")
    list_editable = ("enabled", "priority")
    list_filter = ("enabled", "side", "target_dte", "skip_event_days")
    search_fields = ("name",)
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

    def save_model(self, request: HttpRequest, obj: StrategyConfig, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for warning in obj.warnings():
            self.message_user(request, f"{obj.name}: {warning}", level=messages.WARNING)


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
