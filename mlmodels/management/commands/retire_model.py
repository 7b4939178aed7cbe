"""Retire a model version (it gates nothing afterwards)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mlmodels import services
from mlmodels.models import ModelVersion


class Command(BaseCommand):
    help = "Retire a model version; if it was active, its group's entries are ungated until another is activated."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", type=int, help="model version id")
        parser.add_argument("--reason", default="", help="why (stored)")

    def handle(self, *args: Any, **opts: Any) -> None:
        mv = ModelVersion.objects.filter(pk=opts["model"]).first()
        if mv is None:
            raise CommandError(f"model {opts['model']} does not exist")
        mv = services.retire(mv, reason=opts["reason"])
        self.stdout.write(f"model {mv.pk} retired")
