import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")
application = get_wsgi_application()

from spx_site.broker_check import broker_eviction_check  # noqa: E402  (after setup: reads settings)

broker_eviction_check()  # refuse to serve on a Redis broker that may evict queued tasks
