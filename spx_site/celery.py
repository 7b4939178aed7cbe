"""The Celery app. Configuration comes from Django settings (the ``CELERY_`` prefix).

Every task is a :class:`Task` (the app's ``task_cls``): Django's ``delay_on_commit``, a guard that
refuses a countdown/ETA beyond the broker's visibility timeout, and a bounded retry with backoff
when SQLite reports "database is locked" or the database connection is lost or refused. Workers and
beat refuse to start on a Redis broker that may evict keys (``spx_site.broker_check``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")

logger = logging.getLogger(__name__)


class CountdownTooLong(ValueError):
    """A message would wait longer than the broker's visibility timeout (Redis would redeliver it)."""


def delay_seconds(countdown: float | None, eta: dt.datetime | str | None) -> float | None:
    """Seconds a message waits before it may run, from ``countdown`` or ``eta`` (None: at once)."""
    if countdown is not None:
        return float(countdown)
    if eta is None:
        return None
    if isinstance(eta, str):
        eta = dt.datetime.fromisoformat(eta)
    now = dt.datetime.now(eta.tzinfo) if eta.tzinfo else dt.datetime.now()
    return (eta - now).total_seconds()


def database_locked(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


# PostgreSQL's SQLSTATEs for a lost or refused session: class 08 (connection exception) and the
# operator's 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def database_unreachable(exc: BaseException) -> bool:
    """The database connection was lost or never made (server restarted or down, session reset):
    the database, not the job's data, so the same job can succeed later. Told apart from a bad
    query or a constraint by the server's SQLSTATE, or, when there is none (refused, closed
    unexpectedly), by the connection itself: it is gone or no longer answers."""
    if isinstance(exc, InterfaceError):  # "connection already closed"
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith(_CONNECTION_SQLSTATES)
    from django.db import connections

    return any(c.connection is None or not c.is_usable() for c in connections.all(initialized_only=True))


def retry_backoff_s(retries: int) -> int:
    """1, 2, 4, ... seconds, clipped to ``TASK_RETRY_BACKOFF_MAX_S`` (below the visibility timeout)."""
    from django.conf import settings

    return int(min(2 ** retries, settings.TASK_RETRY_BACKOFF_MAX_S))


class Task(DjangoTask):
    def apply_async(self, args: Any = None, kwargs: Any = None, task_id: str | None = None, producer: Any = None,
                    link: Any = None, link_error: Any = None, shadow: str | None = None, **options: Any) -> Any:
        from django.conf import settings

        wait_s = delay_seconds(options.get("countdown"), options.get("eta"))
        limit_s = settings.BROKER_VISIBILITY_TIMEOUT_S
        if wait_s is not None and wait_s > limit_s:
            # A worker holds an ETA message unacknowledged while it waits; past the visibility
            # timeout Redis hands it to another worker too, and the task runs twice.
            raise CountdownTooLong(f"{self.name}: countdown/ETA of {wait_s:.0f} s exceeds the broker visibility "
                                   f"timeout of {limit_s} s (BROKER_VISIBILITY_TIMEOUT_S)")
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            # SQLite's writer lock held past the busy timeout, or a PostgreSQL connection reset or
            # refused: transient, so retried (bounded, with backoff) rather than lost. The job is
            # idempotent on its business key, and what it wrote in an unfinished transaction is gone.
            if database_locked(exc):
                raise self.retry_later(exc) from exc
            if not database_unreachable(exc):
                raise
            from django.db import connections

            for conn in connections.all(initialized_only=True):
                conn.close_if_unusable_or_obsolete()  # the retry opens a fresh connection
            raise self.retry_later(exc) from exc

    def retry_later(self, exc: BaseException) -> BaseException:
        """Retry this job with backoff (1, 2, 4, ... s), at most ``TASK_RETRY_MAX`` times, then fail
        with ``exc``: for what is transient, e.g. a row whose transaction has not committed yet.
        Returns the ``Retry`` to raise (Celery's convention: ``raise self.retry_later(exc)``)."""
        from django.conf import settings

        retries = self.request.retries
        if retries >= settings.TASK_RETRY_MAX:
            return exc
        countdown = retry_backoff_s(retries)
        logger.warning("%s: %s: %s; retry %d/%d in %d s", self.name, type(exc).__name__, exc, retries + 1,
                       settings.TASK_RETRY_MAX, countdown)
        return self.retry(exc=exc, countdown=countdown, max_retries=settings.TASK_RETRY_MAX, throw=False)


app = Celery("spx_site", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _broker_check(**_: Any) -> None:
    from spx_site.broker_check import BrokerMayEvict, broker_eviction_check

    try:
        broker_eviction_check()
    except BrokerMayEvict as exc:
        # Celery logs and swallows a signal handler's exception; SystemExit stops the process.
        logger.critical("refusing to start: %s", exc)
        raise SystemExit(f"refusing to start: {exc}") from exc
