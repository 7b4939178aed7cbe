from django.apps import AppConfig


class SpxSiteConfig(AppConfig):
    """The project wiring as an app, so project-wide commands (``setup_periodic_tasks``,
    ``ensure_operator``) live here rather than in one of the apps."""

    name = "spx_site"
    verbose_name = "SPX Tools site"
