import gc
import logging
import os

from celery import Celery, bootsteps
from celery.signals import worker_init, worker_process_init, worker_ready

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


@worker_init.connect
def _collect_and_freeze(**kwargs):
    """The worker's start-up objects (Django, the apps, Celery) moved out of the collector's
    reach: a full collection walked all of them, 40-55 ms that landed in the middle of a task
    (a gathering round of 100 ms). Garbage is collected first, so that none is kept for ever;
    prefork children inherit the frozen objects."""
    gc.collect()
    gc.freeze()


@worker_process_init.connect
@worker_ready.connect
def _freeze(**kwargs):
    """What a pool process (or a solo worker) set up after the fork or the start, frozen too."""
    gc.freeze()
