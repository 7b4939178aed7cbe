"""Start-up check of a Redis broker: it must never evict keys (queued messages are keys).

Run by the web process (``wsgi``/``asgi``) and by every worker and beat (``worker_init`` and
``beat_init``, ``spx_site.celery``). A policy other than ``noeviction`` refuses to start; a server
that hides ``CONFIG`` (managed Redis often renames it) is logged as a warning and allowed, as is one
that cannot be reached yet (the worker keeps reconnecting; the check cannot read anything).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

REQUIRED_POLICY = "noeviction"


class BrokerMayEvict(ImproperlyConfigured):
    pass


def broker_eviction_check(url: str | None = None) -> str | None:
    """The Redis broker's ``maxmemory-policy`` (None when not Redis or not readable); raises
    ``BrokerMayEvict`` unless it is ``noeviction``."""
    url = url if url is not None else settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "redis+socket://")):
        return None
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.exceptions.ResponseError as exc:  # CONFIG disabled or renamed
        logger.warning("cannot read the broker's maxmemory-policy (CONFIG GET refused: %s); make sure it is %s",
                       exc, REQUIRED_POLICY)
        return None
    except redis.exceptions.ConnectionError as exc:
        logger.warning("cannot reach the broker to check its maxmemory-policy: %s", exc)
        return None
    finally:
        client.close()
    if policy != REQUIRED_POLICY:
        raise BrokerMayEvict(
            f"the Redis broker's maxmemory-policy is {policy!r}: it may evict queued tasks. Set "
            f"`maxmemory-policy {REQUIRED_POLICY}` (redis.conf or --maxmemory-policy) and start again."
        )
    return str(policy)
