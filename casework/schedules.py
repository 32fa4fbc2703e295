"""Beat's schedules, kept in the database (django-celery-beat's PeriodicTask rows).

The rows are created once, by a data migration (and again after a test flush, by the
post-migrate hook), and never overwritten: the administrator changes a schedule's interval and
whether it runs in the admin (casework/admin/schedules.py), and a restart keeps that. Nothing
in settings holds a schedule any more.

What the settings did before is carried over at creation: DSAR_SWEEP_INTERVAL seeds the
sweeps' interval; a sweep expires after one interval (while no worker runs, beat must not pile
up sweeps that would each re-queue the same work once a worker is back) and goes to the sweep
queue, consumed by a worker of its own, so that it never waits behind the backlog it clears.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

TASKS = "casework.tasks."
# The reminder job (casework.services.reminders); it also sends the unassigned cases' digest.
REMINDERS = "send-reminders"


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every: int
    period: str  # seconds, minutes, hours, days (django-celery-beat's IntervalSchedule)
    expire_seconds: int | None = None
    queue: str | None = None
    description: str = ""


def default_schedules() -> list[Schedule]:
    """The schedules a new installation starts with, from the settings of the moment."""
    sweep = settings.DSAR_SWEEP_INTERVAL
    sweeps_queue = settings.DSAR_SWEEP_QUEUE
    anchor = settings.DSAR_AUDIT_ANCHOR_SECONDS

    def a_sweep(name: str, task: str, description: str) -> Schedule:
        return Schedule(
            name, TASKS + task, sweep, "seconds", sweep, sweeps_queue, description=description
        )

    return [
        Schedule(
            "expire-unverified-cases",
            TASKS + "expire_unverified_cases",
            1,
            "hours",
            description="Close requests never verified within the expiry period.",
        ),
        a_sweep("sweep-gathering", "sweep_gathering", "Re-queue lost gathering work."),
        a_sweep("sweep-submissions", "sweep_submissions", "Re-queue lost form submissions."),
        a_sweep("sweep-fulfilment", "sweep_fulfilment", "Re-queue lost fulfilment work."),
        a_sweep("sweep-bundles", "sweep_bundles", "Re-queue lost bundle builds."),
        a_sweep("sweep-drp-callbacks", "sweep_drp_callbacks", "Re-queue lost DRP callbacks."),
        Schedule(
            "purge-drp-seen-messages",
            TASKS + "purge_drp_seen_messages",
            1,
            "hours",
            description="Forget signed DRP messages past their expiry (replay protection).",
        ),
        Schedule(
            "export-audit-anchor",
            TASKS + "export_audit_anchor",
            anchor,
            "seconds",
            anchor,
            sweeps_queue,
            description="Copy the audit trail's anchor outside the database.",
        ),
        Schedule(
            "purge-expired-bundles",
            TASKS + "purge_expired_bundles",
            6,
            "hours",
            description="Delete bundles past their retention.",
        ),
        Schedule(
            "purge-gathered-records",
            TASKS + "purge_gathered_records",
            24,
            "hours",
            description="Delete gathered records whose case's retention has ended.",
        ),
        Schedule(
            "purge-closed-cases",
            TASKS + "purge_closed_cases",
            24,
            "hours",
            description=(
                "Reduce closed cases past their accountability period to anonymous statistics "
                "(cases on legal hold are left alone)."
            ),
        ),
        Schedule(
            "purge-failed-submissions",
            TASKS + "purge_failed_submissions",
            24,
            "hours",
            description="Delete failed form submissions nobody acted on.",
        ),
        Schedule(
            REMINDERS,
            TASKS + "send_reminders",
            6,
            "hours",
            description=(
                "Deadline reminders (7, 3 and 1 days), escalations of overdue cases, "
                "extensions to announce, CCPA receipt confirmations, and the daily digest "
                "of unassigned cases."
            ),
        ),
    ]


def install_schedules(apps=None, using: str = "default") -> int:
    """Create the rows of the schedules that have none (by name). Idempotent; a row that
    exists is left as it is, so the administrator's changes survive. Returns how many were
    created."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    existing = set(PeriodicTask.objects.using(using).values_list("name", flat=True))
    created = 0
    for schedule in default_schedules():
        if schedule.name in existing:
            continue
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=schedule.every, period=schedule.period
        )
        PeriodicTask.objects.using(using).create(
            name=schedule.name,
            task=schedule.task,
            interval=interval,
            expire_seconds=schedule.expire_seconds,
            queue=schedule.queue,
            description=schedule.description,
            enabled=True,
        )
        created += 1
    if created:
        # Tell a running beat to read its schedule again (django-celery-beat's change marker;
        # a data migration's historical models send no signal to do it).
        PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
        PeriodicTasks.objects.using(using).update_or_create(
            ident=1, defaults={"last_update": timezone.now()}
        )
    return created


def remove_schedules(apps, using: str = "default") -> None:
    """Undo install_schedules (the migration's reverse)."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    names = [s.name for s in default_schedules()]
    PeriodicTask.objects.using(using).filter(name__in=names).delete()
