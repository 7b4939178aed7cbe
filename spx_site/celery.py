"""The Celery app. Configuration comes from Django settings (the ``CELERY_`` prefix)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")

app = Celery("spx_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
