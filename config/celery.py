import logging
import os

from celery import Celery, bootsteps

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dsar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Every worker writes a heartbeat row; /healthz calls workers down when the beats stop.
    A row, not a broadcast ping, so that it works on every transport, the filesystem one too."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        from django.conf import settings

        self.beat(worker)
        self.tref = worker.timer.call_repeatedly(
            settings.DSAR_WORKER_HEARTBEAT_SECONDS, self.beat, (worker,), priority=10
        )

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()

    def beat(self, worker):
        from django.db import close_old_connections

        from casework.health import record_heartbeat

        try:
            record_heartbeat(worker.hostname)
        except Exception:  # a database blip must not kill the worker; /healthz will show it
            logger.warning("could not record the worker heartbeat", exc_info=True)
        finally:
            close_old_connections()


app.steps["worker"].add(WorkerHeartbeat)
