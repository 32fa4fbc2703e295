"""Queueing background work by task name, so that services and the engine never import the
tasks module (which imports them): tasks may import services, never the other way round.

The task is looked up in the Celery app's registry (`casework.apps` imports the tasks when
Django starts), so that an eager app runs it in-process as `.delay` would.
"""

from __future__ import annotations

import time
from typing import Any

from celery import current_app
from django.db import transaction


def task(name: str):
    """The registered task `casework.tasks.<name>`."""
    return current_app.tasks[f"casework.tasks.{name}"]


# An eager app (tests, DSAR_CELERY_EAGER) runs a task at once, whatever its countdown; a retry
# must not come before its row is due (casework.work.claim), so a short countdown is waited out
# here. A longer one finds its row not due, and the sweeper queues it again later.
EAGER_COUNTDOWN_MAX = 1.0


def enqueue(name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue `name(*args)` now (outside a transaction, or when the row is committed already)."""
    found = task(name)
    if countdown and found.app.conf.task_always_eager:
        time.sleep(min(countdown, EAGER_COUNTDOWN_MAX))
    found.apply_async(args, countdown=countdown)


def enqueue_on_commit(name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue `name(*args)` once the current transaction commits (at once outside one): the
    task then finds the rows this transaction wrote."""
    transaction.on_commit(lambda: enqueue(name, *args, countdown=countdown))
