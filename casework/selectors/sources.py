"""The source systems' health: searches run, failed and their mean time per system over a
recent period. Counts only: no case, no subject."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Avg, Count, Q
from django.utils import timezone

from casework.models import ConnectorRun


@dataclass(frozen=True)
class SystemHealth:
    runs: int
    failed: int
    active: int
    mean_ms: int | None


def system_health(*, days: int = 7, now: dt.datetime | None = None) -> dict[int, SystemHealth]:
    """By system id, the searches started in the last `days` days."""
    since = (now or timezone.now()) - dt.timedelta(days=days)
    rows = (
        ConnectorRun.objects.filter(created_at__gte=since)
        .values("system_id")
        .annotate(
            runs=Count("pk"),
            failed=Count("pk", filter=Q(state=ConnectorRun.State.FAILED)),
            active=Count("pk", filter=Q(state__in=ConnectorRun.ACTIVE)),
            mean_ms=Avg("duration_ms", filter=Q(state=ConnectorRun.State.SUCCEEDED)),
        )
        .order_by()
    )
    return {
        row["system_id"]: SystemHealth(
            runs=row["runs"],
            failed=row["failed"],
            active=row["active"],
            mean_ms=round(row["mean_ms"]) if row["mean_ms"] is not None else None,
        )
        for row in rows
    }
