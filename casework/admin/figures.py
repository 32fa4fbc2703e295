"""The case list's filters behind the dashboard's figures (casework.dashboard): each figure
links to the case list narrowed to its cases, by these and the list's usual filters."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.selectors import dashboard
from dsar.models import SourceSystem


class DeadlineFilter(admin.SimpleListFilter):
    """Answered (completed or refused) by the end of the due day, or after it."""

    title = _("answered")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("met", _("In time")), ("missed", _("Late"))]

    def queryset(self, request, queryset):
        if self.value() in ("met", "missed"):
            cases = dashboard.answered_in_time(self.value() == "met")
            return queryset.filter(pk__in=cases.values("pk"))
        return queryset


class WaitingFilter(admin.SimpleListFilter):
    title = _("waiting for")
    parameter_name = "waiting"

    def lookups(self, request, model_admin):
        return [
            ("plan", _("Approval of a plan")),
            ("release", _("Approval of a release")),
            ("records", _("Records to confirm")),
        ]

    def queryset(self, request, queryset):
        if self.value() in ("plan", "release", "records"):
            cases = dashboard.cases_waiting(self.value(), timezone.now())
            return queryset.filter(pk__in=cases.values("pk"))
        return queryset


class FailedSourceFilter(admin.SimpleListFilter):
    """A search of the system failed in the last 7 days (the dashboard's connector health)."""

    title = _("search failed (7 days)")
    parameter_name = "failed_source"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in SourceSystem.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            system_id = int(self.value())
        except ValueError:
            return queryset.none()
        cases = dashboard.cases_with_failed_search(system_id, timezone.now())
        return queryset.filter(pk__in=cases.values("pk"))
