import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


class SnapshotsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "snapshots"
    verbose_name = "Market data: chain snapshots, expirations, trading calendar"

    def ready(self) -> None:
        from snapshots import services
        from snapshots.providers import registry

        registry.register("tradier", services.tradier_provider, settlement=services.tradier_settlement)
        registry.register("simulated", services.simulated_provider, settlement=services.simulated_settlement)

        if not settings.ADMIN_API_KEY:
            logger.warning("ADMIN_API_KEY is unset: /api/admin/* (run a snapshot, list expirations) is open to anyone "
                           "who can reach this server; set it (make run generates one in var/admin_api_key)")
