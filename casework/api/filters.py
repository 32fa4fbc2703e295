"""Filters of the case list (django-filter). A parameter the list does not know is refused
(400), so that a typo never returns every case as if it had filtered."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions

from casework import deadlines, selectors
from casework.deadlines import REGIME_CHOICES
from casework.models import Case, Channel, RequestType, State

PAGING = {"cursor", "page_size"}


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        known = set(PAGING)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise exceptions.ValidationError(
                {name: [_("Unknown parameter.")] for name in unknown}, code="unknown_parameter"
            )
        return super().filter_queryset(request, queryset, view)


class CaseFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=State.choices)
    request_type = django_filters.ChoiceFilter(choices=RequestType.choices)
    regime = django_filters.ChoiceFilter(choices=REGIME_CHOICES)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    assignee = django_filters.CharFilter(
        method="filter_assignee",
        label=_("Assignee's username; “none” for unassigned cases"),
        max_length=150,
    )
    overdue = django_filters.ChoiceFilter(
        choices=(("true", "true"), ("false", "false")), method="filter_overdue", label=_("Overdue")
    )
    received_after = django_filters.DateFilter(
        method="filter_received_after", label=_("Received on or after (YYYY-MM-DD)")
    )
    received_before = django_filters.DateFilter(
        method="filter_received_before", label=_("Received on or before (YYYY-MM-DD)")
    )

    class Meta:
        model = Case
        fields = ["state", "request_type", "regime", "channel"]

    def filter_assignee(self, queryset, name, value):
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        User = get_user_model()
        return queryset.filter(**{f"assignee__{User.USERNAME_FIELD}": value})

    def filter_overdue(self, queryset, name, value):
        overdue = selectors.overdue_cases().values("pk")
        if value == "true":
            return queryset.filter(pk__in=overdue)
        return queryset.exclude(pk__in=overdue)

    def filter_received_after(self, queryset, name, value):
        # From the day's first instant in the controller's time zone (as due dates are kept).
        start = dt.datetime.combine(value, dt.time.min, tzinfo=deadlines.controller_tz())
        try:
            start = start.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01: every case
            return queryset
        return queryset.filter(received_at__gte=start)

    def filter_received_before(self, queryset, name, value):
        try:
            end = deadlines.end_of_day(value).astimezone(dt.UTC)
        except OverflowError:  # 9999-12-31: every case
            return queryset
        return queryset.filter(received_at__lte=end)
