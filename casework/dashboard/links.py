"""Where each figure leads: the admin's case list, narrowed by the filters it understands
(its list filters, `casework.admin.figures`, and lookups on the case's own fields)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.urls import reverse

from casework import deadlines
from casework.models import OPEN_STATES
from casework.selectors.dashboard import ANSWERED_STATES, Filters, start_of_day


def _moment(value: dt.datetime) -> str:
    return value.astimezone(deadlines.controller_tz()).isoformat()


def window(field_name: str, since: dt.datetime, until: dt.datetime) -> dict[str, str]:
    return {f"{field_name}__gte": _moment(since), f"{field_name}__lt": _moment(until)}


def month_window(field_name: str, month: dt.date, filters: Filters) -> dict[str, str]:
    """The month, cut to the period (its first and last months may be partial)."""
    since = max(start_of_day(month), filters.since)
    until = min(start_of_day(deadlines.add_months(month, 1)), filters.until)
    return window(field_name, since, until)


def period(field_name: str, filters: Filters) -> dict[str, str]:
    return window(field_name, filters.since, filters.until)


OPEN = {"state__in": ",".join(OPEN_STATES)}
ANSWERED = {"state__in": ",".join(ANSWERED_STATES)}


def cases(filters: Filters, **params: str) -> str:
    """The case list of the cases the filters choose, narrowed further by `params` (which
    may name another request type)."""
    query: dict[str, str] = {}
    if filters.regime:
        query["regime__exact"] = filters.regime
    if filters.request_type:
        query["request_type__exact"] = filters.request_type
    if filters.assignee:
        query["assignee__id__exact"] = str(filters.assignee)
    query.update({k: v for k, v in params.items() if v})
    return f"{reverse('admin:casework_case_changelist')}?{urlencode(query)}"
