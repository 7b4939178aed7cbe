from django.core.management.base import BaseCommand

from spx_site.schedules import periodic_tasks_setup


class Command(BaseCommand):
    help = "Register the beat schedules defined in code (keeps an operator's enable/disable)."

    def handle(self, *args, **options):
        for name, what in periodic_tasks_setup():
            self.stdout.write(f"{what}: {name}")
