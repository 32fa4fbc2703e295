"""Reads about keeping our own data: how long a closed case is kept, which cases are due to
be reduced to anonymous statistics, and which purges a legal hold stops."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from casework import deadlines
from casework.models import OPEN_STATES, Case
from casework.selectors.fulfilment import restrictions_in_force
from dsar.models import RetentionRule


def case_files_months() -> int:
    """How long a closed case, its letters and notes are kept (the register's rule for our own
    case files, which the DPO edits; 36 months by default)."""
    return RetentionRule.case_files_months()


def purge_cutoff(*, now: dt.datetime | None = None, months: int | None = None) -> dt.datetime:
    """The moment `months` (the register's period) before `now`, on the controller's calendar:
    a case closed at or before it has been kept its whole period."""
    now = now or timezone.now()
    months = case_files_months() if months is None else months
    local = timezone.localtime(now, deadlines.controller_tz())
    day = deadlines.add_months(local.date(), -months)
    return dt.datetime.combine(day, local.timetz()).astimezone(dt.UTC)


def not_on_hold(queryset: QuerySet, *, via: str = "") -> QuerySet:
    """The rows of `queryset` (cases, or rows of a case reached through `via`, e.g. "case")
    whose case is not on legal hold: every purge reads its rows through this."""
    field = f"{via}__legal_hold_at" if via else "legal_hold_at"
    return queryset.filter(**{f"{field}__isnull": True})


def cases_due_for_purge(*, now: dt.datetime | None = None) -> QuerySet[Case]:
    """Closed cases kept their whole accountability period, not purged yet, not on legal hold.
    A restriction still in force is left alone: its plan's records are what lifting it needs,
    however long after."""
    cutoff = purge_cutoff(now=now)
    closed = Case.objects.exclude(state__in=OPEN_STATES).filter(
        closed_at__isnull=False, closed_at__lte=cutoff, purged_at__isnull=True
    )
    return (
        not_on_hold(closed)
        .exclude(pk__in=restrictions_in_force().values("pk"))
        .order_by("closed_at", "pk")
    )
