from django.apps import AppConfig


class BacktestsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backtests"
    verbose_name = "Databento import and minute replay backtests"

    def ready(self) -> None:
        from pathlib import Path

        from django.conf import settings

        from backtests.data import store

        store.set_default_root(lambda: Path(getattr(settings, "MARKET_DATA_DIR", settings.VAR_DIR / "market-data")))
        # The imported OPRA data served to the live pipeline as if it were Tradier (parity runs);
        # registered here so the snapshots app never imports the backtests app.
        from backtests.providers import opra_replay
        from snapshots.providers import registry

        registry.register("opra-replay", opra_replay.provider, settlement=opra_replay.settlement)
