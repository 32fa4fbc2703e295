"""Beat's schedules (casework/schedules.py): the administrator changes a schedule's interval
and whether it runs, nothing else (not its task, arguments, queue or expiry). Each change is a
global audit event."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from casework.actors import Actor
from casework.audit import record_global_event
from casework.permissions import require_perm

CHANGE_SCHEDULE = "django_celery_beat.change_periodictask"
PERIOD_SECONDS = {
    IntervalSchedule.SECONDS: 1,
    IntervalSchedule.MINUTES: 60,
    IntervalSchedule.HOURS: 3600,
    IntervalSchedule.DAYS: 86400,
}
SHORTEST_SECONDS = 10  # below this, beat would spend its time sending
LONGEST_SECONDS = 31 * 86400


def schedule_change(
    *, task: PeriodicTask, actor: Actor, every: int, period: str, enabled: bool
) -> PeriodicTask:
    """Run `task` every `every` `period` (seconds, minutes, hours, days), or pause it."""
    require_perm(actor, CHANGE_SCHEDULE)
    check_interval(every=every, period=period)
    with transaction.atomic():
        locked = (
            PeriodicTask.objects.select_for_update(of=("self",))
            .select_related("interval")
            .get(pk=task.pk)
        )
        before = _described(locked)
        # Intervals are shared between schedules: point this one at the wanted interval, never
        # change a shared row under another schedule's feet.
        interval, _created = IntervalSchedule.objects.get_or_create(every=every, period=period)
        locked.interval = interval
        locked.enabled = enabled
        # save() also marks the schedule changed for a running beat (django-celery-beat).
        locked.save()
        after = _described(locked)
        if before != after:
            record_global_event(
                "schedule.changed",
                actor=actor,
                details={"schedule": locked.name, "from": before, "to": after},
            )
    return locked


def check_interval(*, every: int, period: str) -> None:
    """Raise unless `every` `period` is an interval a schedule may have."""
    if period not in PERIOD_SECONDS:
        raise ValidationError({"period": _("Choose seconds, minutes, hours or days.")})
    seconds = every * PERIOD_SECONDS[period]
    if not SHORTEST_SECONDS <= seconds <= LONGEST_SECONDS:
        raise ValidationError(
            {
                "every": _("An interval runs from %(low)d seconds to %(high)d days.")
                % {"low": SHORTEST_SECONDS, "high": LONGEST_SECONDS // 86400}
            }
        )


def _described(task: PeriodicTask) -> dict:
    interval = task.interval
    return {
        "every": interval.every if interval else None,
        "period": interval.period if interval else None,
        "enabled": task.enabled,
    }
