"""Beat's schedules in the admin (casework/schedules.py), for the administrator: each
schedule's interval and whether it runs, nothing else. No schedule is added or deleted here,
and no task, arguments, queue or expiry edited: a schedule is code's to define, its rhythm the
administrator's. django-celery-beat's own admin (which edits everything, and its crontab,
solar, clocked and interval tables) is taken off the site."""

from __future__ import annotations

import django_celery_beat.admin  # noqa: F401  (registers its admin first, to be replaced)
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from casework import services
from casework.actors import Actor
from casework.services.schedules import check_interval

for _model in (PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)

PERIODS = [
    (IntervalSchedule.SECONDS, _("seconds")),
    (IntervalSchedule.MINUTES, _("minutes")),
    (IntervalSchedule.HOURS, _("hours")),
    (IntervalSchedule.DAYS, _("days")),
]


class ScheduleForm(forms.ModelForm):
    every = forms.IntegerField(label=_("every"), min_value=1)
    period = forms.ChoiceField(label=_("period"), choices=PERIODS)

    class Meta:
        model = PeriodicTask
        fields = ["enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        interval = self.instance.interval if self.instance.pk else None
        if interval is not None:
            self.initial.setdefault("every", interval.every)
            self.initial.setdefault("period", interval.period)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("every") and cleaned.get("period"):
            check_interval(every=cleaned["every"], period=cleaned["period"])
        return cleaned


@admin.register(PeriodicTask)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "interval_shown", "enabled", "last_run_at")
    list_filter = ("enabled",)
    list_select_related = ("interval",)
    ordering = ("name",)
    actions = None
    fields = (
        "name",
        "description",
        "every",
        "period",
        "enabled",
        "task",
        "queue",
        "expire_seconds",
        "last_run_at",
        "total_run_count",
    )
    readonly_fields = (
        "name",
        "description",
        "task",
        "queue",
        "expire_seconds",
        "last_run_at",
        "total_run_count",
    )

    @admin.display(description=_("interval"), ordering="interval__every")
    def interval_shown(self, obj: PeriodicTask) -> str:
        return str(obj.interval) if obj.interval else "-"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.interval is None:
            return (*self.readonly_fields, "enabled")  # not an interval: shown, not changed
        return self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is not None and obj.interval is None:
            return [f for f in self.fields if f not in ("every", "period")]
        return self.fields

    def save_model(self, request, obj, form, change) -> None:
        if obj.interval is None:
            return
        data = form.cleaned_data
        try:
            services.schedule_change(
                task=obj,
                actor=Actor.staff(request.user),
                every=data["every"],
                period=data["period"],
                enabled=data["enabled"],
            )
        except ValidationError as exc:  # checked by the form already; a race at most
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
