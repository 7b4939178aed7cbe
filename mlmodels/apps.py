from django.apps import AppConfig


class MlmodelsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mlmodels"
    verbose_name = "Meta-labeler training and gating"

    def ready(self) -> None:
        # The entry windows and backtests get their gate through strategy.gating, which must not
        # import this app: register it here instead.
        from mlmodels.gate import gate_factory, model_known
        from strategy import gating

        gating.register(gate_factory, known=model_known)
