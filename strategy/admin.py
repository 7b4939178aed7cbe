from django.contrib import admin

from strategy.models import StrategyConfig, TradeDecision


@admin.register(StrategyConfig)
class StrategyConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "side", "target_dte", "short_delta_target", "width_points", "quantity",
                    "min_credit", "take_profit_fraction", "stop_loss_multiple", "exit_at_time",
                    "exit_minutes_before_settlement", "max_snapshot_age_minutes", "max_open_trades",
                    "max_new_trades_per_day", "priority")
    list_editable = ("enabled", "priority")
    list_filter = ("enabled", "side", "target_dte")
    search_fields = ("name",)


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
