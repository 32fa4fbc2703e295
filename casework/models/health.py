"""Worker heartbeats, read by /healthz."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """Written by every Celery worker every few seconds; /healthz reads it."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname


class BeatHeartbeat(models.Model):
    """Written by Celery beat's scheduler (casework.beat) every few seconds while its loop
    runs; /healthz and the beat container's health check read it."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname
