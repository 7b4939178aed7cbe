from django.apps import AppConfig


class StrategyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "strategy"
    verbose_name = "Strategy configs, option math and decisions"

    def ready(self) -> None:
        # The shadow outcomes walk stored chains of candidates that did not trade: the capture keeps
        # storing those expirations (snapshots must not import this app, so it is told here).
        from snapshots.services import register_position_expirations
        from strategy.outcomes import pending_expirations

        register_position_expirations(pending_expirations)
