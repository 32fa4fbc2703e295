"""Queueing background work by task name, so that services and the engine never import the
tasks module (which imports them): tasks may import services, never the other way round.

The task is looked up in the Celery app's registry (`casework.apps` imports the tasks when
Django starts), so that an eager app runs it in-process as `.delay` would.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction


def task(name: str):
    """The registered task `casework.tasks.<name>`."""
    return current_app.tasks[f"casework.tasks.{name}"]


def enqueue(name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue `name(*args)` now (outside a transaction, or when the row is committed already)."""
    task(name).apply_async(args, countdown=countdown)


def enqueue_on_commit(name: str, *args: Any, countdown: float | None = None) -> None:
    """Queue `name(*args)` once the current transaction commits (at once outside one): the
    task then finds the rows this transaction wrote."""
    transaction.on_commit(lambda: enqueue(name, *args, countdown=countdown))
