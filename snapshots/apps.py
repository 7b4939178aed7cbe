from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "snapshots"
    verbose_name = "Market data: chain snapshots, expirations, trading calendar"

    def ready(self) -> None:
        from snapshots import services
        from snapshots.providers import registry

        registry.register("tradier", services.tradier_provider, settlement=services.tradier_settlement)
        registry.register("simulated", services.simulated_provider, settlement=services.simulated_settlement)
