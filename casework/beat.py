"""Celery beat's scheduler: django-celery-beat's, reading the schedules from the database
(casework/schedules.py), which also writes beat's heartbeat row.

Why a heartbeat written by the scheduler: beat's loop calls `tick()` at least every few seconds
(django-celery-beat's DatabaseScheduler wakes every 5 s to look for changed schedules), so a
fresh row says the scheduler loop itself is running, whatever the schedules' intervals and
whether a worker consumes what it sends. The schedule file it relied on before is gone, and
a task's `last_run_at` would only be written every few minutes, and never while its schedule
is disabled. /healthz and the beat container's health check read the row
(`casework.health.beat_status`)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


class HeartbeatScheduler(DatabaseScheduler):
    _last_heartbeat: float | None = None

    def tick(self, *args, **kwargs):
        self.heartbeat()
        return super().tick(*args, **kwargs)

    def heartbeat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        every = settings.DSAR_BEAT_HEARTBEAT_SECONDS
        if not force and self._last_heartbeat is not None and now - self._last_heartbeat < every:
            return
        from casework.health import record_beat_heartbeat

        try:
            record_beat_heartbeat()
            self._last_heartbeat = now
        except Exception:  # a database blip must not stop beat; /healthz will show it
            logger.warning("could not record beat's heartbeat", exc_info=True)
            close_old_connections()
