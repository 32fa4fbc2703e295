"""Health of the parts the product needs: database, broker, workers and beat."""

from __future__ import annotations

import datetime as dt
import socket

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from casework.models import BeatHeartbeat, WorkerHeartbeat


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor}


def broker_status() -> dict:
    app = current_app
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "transport": app.conf.broker_url.split(":", 1)[0]}


def worker_status(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    limit = now - dt.timedelta(seconds=3 * settings.DSAR_WORKER_HEARTBEAT_SECONDS)
    try:
        alive = WorkerHeartbeat.objects.filter(seen_at__gte=limit).count()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": alive > 0, "workers": alive}


def record_heartbeat(hostname: str | None = None) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname or socket.gethostname(), defaults={"seen_at": timezone.now()}
    )


def beat_status(now: dt.datetime | None = None) -> dict:
    """Beat is alive when its scheduler wrote its heartbeat within three of its periods
    (casework.beat: written by the scheduler's loop itself, not by a task it sends)."""
    now = now or timezone.now()
    limit = now - dt.timedelta(seconds=3 * settings.DSAR_BEAT_HEARTBEAT_SECONDS)
    try:
        alive = BeatHeartbeat.objects.filter(seen_at__gte=limit).exists()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": alive}


def record_beat_heartbeat(hostname: str | None = None) -> None:
    BeatHeartbeat.objects.update_or_create(
        hostname=hostname or socket.gethostname(), defaults={"seen_at": timezone.now()}
    )


def health() -> tuple[bool, dict]:
    parts = {"database": database_status(), "broker": broker_status()}
    parts["worker"] = worker_status() if parts["database"]["ok"] else {"ok": False}
    parts["beat"] = beat_status() if parts["database"]["ok"] else {"ok": False}
    return all(p["ok"] for p in parts.values()), parts
