from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "execution"
    verbose_name = "Orders, fills, trades and PnL"

    def ready(self) -> None:
        # Every capture also stores the chains of open trades' expirations (marks value them from
        # stored chains); the snapshots app must not import this one, so it is told here.
        from execution.selectors import open_trade_expirations
        from snapshots.services import register_position_expirations

        register_position_expirations(open_trade_expirations)
