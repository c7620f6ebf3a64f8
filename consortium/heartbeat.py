"""A long task's sign of life: while it runs, its record's `heartbeat_at` is set every
HEARTBEAT_EVERY from a thread of its own (with its own database connection, outside the
task's transaction). A worker killed mid-task (SIGKILL, out of memory, the machine lost)
stops beating; a beat task then finds the record 'running' with a heartbeat older than
HEARTBEAT_STALE and starts it again, minutes later instead of after the broker's visibility
timeout. A task that hangs but lives is ended by CELERY_TASK_TIME_LIMIT, which also stops
the beat."""

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=settings.NBTC_HEARTBEAT_SECONDS)
# Eight missed beats (2 minutes by default): a loaded machine's pauses are not taken for a
# lost worker. With the requeue beat tasks running every minute, a lost run is started
# again within about 3 minutes.
HEARTBEAT_STALE = 8 * HEARTBEAT_EVERY


def _beat(queryset) -> None:
    # SKIP LOCKED: while the task's own transaction holds the row (writing its results),
    # the beat is skipped rather than waiting on it. NO KEY UPDATE leaves the foreign-key
    # checks of the task's inserts (KEY SHARE) alone.
    with transaction.atomic():
        ids = list(
            queryset.select_for_update(no_key=True, skip_locked=True).values_list("pk", flat=True)
        )
        if ids:
            queryset.model.objects.filter(pk__in=ids).update(heartbeat_at=timezone.now())


@contextmanager
def heartbeat(queryset, *, every: timedelta = HEARTBEAT_EVERY):
    """Beat on the rows of `queryset` (the task's claim: its id, status and start) while the
    block runs."""
    stop = threading.Event()

    def run():
        try:
            while not stop.wait(every.total_seconds()):
                try:
                    _beat(queryset)
                except Exception:  # noqa: BLE001 - a missed beat is logged; the task goes on
                    logger.warning("heartbeat of %s failed", queryset.model.__name__, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
