"""Make a model version its strategy group's active meta-labeler."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlmodels import services
from mlmodels.models import ModelVersion


class Command(BaseCommand):
    help = ("Activate a model version (it then gates its group's entries live). Refused while its out-of-sample "
            "expectancy gain interval does not lie above zero, unless --force with --reason.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", type=int, help="model version id")
        parser.add_argument("--force", action="store_true")
        parser.add_argument("--reason", default="", help="why (required with --force; stored)")

    def handle(self, *args: Any, **opts: Any) -> None:
        mv = ModelVersion.objects.filter(pk=opts["model"]).first()
        if mv is None:
            raise CommandError(f"model {opts['model']} does not exist")
        try:
            mv = services.activate(mv, force=opts["force"], reason=opts["reason"])
        except services.ModelError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"model {mv.pk} is the active model of {mv.group}" + (" (forced)" if mv.forced else ""))
