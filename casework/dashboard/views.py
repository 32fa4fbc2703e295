"""The dashboard's pages: thin views over `casework.selectors.dashboard`.

Each page is inside the admin site (`admin.site.admin_view`: its sign-in and second factor) and
open to those with `casework.view_dashboard` (the DPO, the privacy team, the auditor); anyone
else signed in is refused (403) before the admin's checks, so that an intake client is not
sent to a sign-in page it has no use for.
"""

from __future__ import annotations

import csv
import datetime as dt
from functools import wraps
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from casework import roles
from casework.dashboard import links
from casework.dashboard.charts import bar_chart
from casework.dashboard.figures import COLUMNS, every_figure
from casework.dashboard.forms import FIRST_YEAR, LAST_YEAR, FiltersForm
from casework.deadlines import REGIME_CHOICES
from casework.models import OPEN_STATES, Channel, RequestType, State
from casework.selectors import dashboard
from exporters.formats import neutralise

STATES = dict(State.choices)
TYPES = dict(RequestType.choices)
CHANNELS = dict(Channel.choices)
REGIMES = dict(REGIME_CHOICES)


def dashboard_view(view):
    """The admin's sign-in and second factor, then the dashboard's permission."""

    @wraps(view)
    def allowed(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(roles.DASHBOARD):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    in_admin = admin.site.admin_view(allowed)

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and not request.user.has_perm(roles.DASHBOARD):
            raise PermissionDenied
        return in_admin(request, *args, **kwargs)

    return guarded


# --- formatting -------------------------------------------------------------------------------


def month_label(month: dt.date) -> str:
    return date_format(month, "M Y")


def percent(share: float | None) -> str:
    return "—" if share is None else f"{number_format(share * 100, 0)} %"


def days(value: float | None) -> str:
    return "—" if value is None else number_format(value, 1)


def seconds(ms: float | None) -> str:
    return "—" if ms is None else number_format(ms / 1000, 2)


# --- the page ----------------------------------------------------------------------------------


def _workload(filters: dashboard.Filters, now: dt.datetime) -> dict[str, Any]:
    figures = dashboard.workload(filters, now)
    types = [t for t in TYPES if not filters.request_type or t == filters.request_type]
    rows = []
    for state in OPEN_STATES:
        cells = [
            {
                "value": figures.cells.get((state, t), 0),
                "href": links.cases(filters, state__exact=state, request_type__exact=t),
            }
            for t in types
        ]
        rows.append(
            {
                "label": STATES[state],
                "cells": cells,
                "total": figures.by_state.get(state, 0),
                "href": links.cases(filters, state__exact=state),
            }
        )
    return {
        "figures": figures,
        "types": [{"code": t, "label": TYPES[t]} for t in types],
        "rows": rows,
        "type_totals": [
            {
                "value": figures.by_type.get(t, 0),
                "href": links.cases(filters, request_type__exact=t, **links.OPEN),
            }
            for t in types
        ],
        "cards": [
            {
                "id": "open",
                "label": _("Open cases"),
                "value": figures.total,
                "href": links.cases(filters, **links.OPEN),
            },
            {
                "id": "overdue",
                "label": _("Overdue"),
                "value": figures.overdue,
                "href": links.cases(filters, overdue="yes"),
                "alert": bool(figures.overdue),
            },
            {
                "id": "due-soon",
                "label": ngettext(
                    "Due within %(n)d day", "Due within %(n)d days", figures.due_soon_days
                )
                % {"n": figures.due_soon_days},
                "value": figures.due_soon,
                "href": links.cases(filters, due_soon="yes"),
            },
        ],
    }


def _waiting(filters: dashboard.Filters, now: dt.datetime) -> list[dict[str, Any]]:
    figures = dashboard.waiting(filters, now)
    return [
        {
            "id": "plans",
            "label": _("Plans of changes waiting for approval"),
            "value": figures.plans,
            "href": links.cases(filters, waiting="plan"),
        },
        {
            "id": "releases",
            "label": _("Releases of data waiting for approval"),
            "value": figures.releases,
            "href": links.cases(filters, waiting="release"),
        },
        {
            "id": "records",
            "label": _("Records waiting for staff to confirm or leave out"),
            "value": figures.records,
            "note": ngettext("in %(n)d case", "in %(n)d cases", figures.record_cases)
            % {"n": figures.record_cases},
            "href": links.cases(filters, waiting="records"),
        },
    ]


def _sla(filters: dashboard.Filters, now: dt.datetime) -> dict[str, Any]:
    figures = dashboard.sla_compliance(filters, now)
    rows = []
    for index, month in enumerate(figures.months):
        window = links.month_window("closed_at", month.month, filters)
        rows.append(
            {
                "label": month_label(month.month),
                "answered": month.answered,
                "answered_href": links.cases(filters, **links.ANSWERED, **window),
                "in_time": month.in_time,
                "in_time_href": links.cases(filters, deadline="met", **window),
                "late": month.answered - month.in_time,
                "late_href": links.cases(filters, deadline="missed", **window),
                "share": percent(month.share),
                "regimes": [
                    {
                        "answered": months[index].answered,
                        "in_time": months[index].in_time,
                        "share": percent(months[index].share),
                        "href": links.cases(
                            filters, regime__exact=code, **links.ANSWERED, **window
                        ),
                    }
                    for code, months in figures.by_regime.items()
                ],
            }
        )
    chart = bar_chart(
        "sla-chart",
        _("Answered in time, per month"),
        _(
            "The share of the requests answered (completed or refused) in each month that "
            "were answered by their deadline. The table below gives the numbers."
        ),
        [
            (
                month_label(m.month),
                None if m.share is None else m.share * 100,
                percent(m.share),
                _("%(month)s: %(share)s answered in time (%(in_time)d of %(answered)d)")
                % {
                    "month": month_label(m.month),
                    "share": percent(m.share),
                    "in_time": m.in_time,
                    "answered": m.answered,
                },
                row["answered_href"],
            )
            for m, row in zip(figures.months, rows, strict=True)
        ],
        top=100,
        tick_format=lambda v: f"{v:.0f} %",
    )
    return {
        "chart": chart,
        "rows": rows,
        "regimes": [REGIMES.get(code, code) for code in figures.by_regime],
        "answered": figures.answered,
        "in_time": figures.in_time,
        "share": percent(figures.share),
        "answered_href": links.cases(
            filters, **links.ANSWERED, **links.period("closed_at", filters)
        ),
    }


def _time_to_close(filters: dashboard.Filters, now: dt.datetime) -> list[dict[str, Any]]:
    figures = dashboard.time_to_close(filters, now)
    closed = links.period("closed_at", filters)
    rows = [
        {
            "label": _("All types"),
            "spread": figures.overall,
            "href": links.cases(filters, **links.ANSWERED, **closed),
        }
    ]
    rows += [
        {
            "label": TYPES.get(code, code),
            "spread": spread,
            "href": links.cases(filters, request_type__exact=code, **links.ANSWERED, **closed),
        }
        for code, spread in figures.by_type.items()
    ]
    for row in rows:
        row["median"] = days(row["spread"].median_days)
        row["p90"] = days(row["spread"].p90_days)
    return rows


def _volumes(filters: dashboard.Filters, now: dt.datetime) -> dict[str, Any]:
    figures = dashboard.volumes(filters, now)
    totals = figures.totals

    def table(groups: dict, labels: dict, param: str) -> dict[str, Any]:
        return {
            "columns": [labels.get(code, code) for code in groups],
            "rows": [
                {
                    "label": month_label(month),
                    "cells": [
                        {
                            "value": counts.get(month, 0),
                            "href": links.cases(
                                filters,
                                **{param: code},
                                **links.month_window("received_at", month, filters),
                            ),
                        }
                        for code, counts in groups.items()
                    ],
                    "total": totals[month],
                }
                for month in figures.months
            ],
        }

    chart = bar_chart(
        "volumes-chart",
        _("Requests received, per month"),
        _(
            "The number of requests received in each month. The tables below give them by "
            "type and by channel."
        ),
        [
            (
                month_label(month),
                totals[month],
                str(totals[month]),
                ngettext(
                    "%(month)s: %(n)d request received",
                    "%(month)s: %(n)d requests received",
                    totals[month],
                )
                % {"month": month_label(month), "n": totals[month]},
                links.cases(filters, **links.month_window("received_at", month, filters)),
            )
            for month in figures.months
        ],
        tick_format=lambda v: f"{v:.0f}",
    )
    return {
        "chart": chart,
        "total": figures.total,
        "href": links.cases(filters, **links.period("received_at", filters)),
        "by_type": table(figures.by_type, TYPES, "request_type__exact"),
        "by_channel": table(figures.by_channel, CHANNELS, "channel__exact"),
    }


def _decisions(filters: dashboard.Filters, now: dt.datetime) -> dict[str, Any]:
    extended = dashboard.extensions(filters, now)
    refused = dashboard.refusals(filters, now)
    extended_window = {
        "original_due_at__isnull": "False",
        **links.period("extension_announced_at", filters),
    }
    refused_window = {"state__exact": State.REJECTED, **links.period("closed_at", filters)}
    codes = sorted(set(extended.by_type) | set(refused.by_type))
    return {
        "rows": [
            {
                "label": TYPES.get(code, code),
                "extended": extended.by_type.get(code, 0),
                "extended_href": links.cases(filters, request_type__exact=code, **extended_window),
                "refused": refused.by_type.get(code, 0),
                "refused_href": links.cases(filters, request_type__exact=code, **refused_window),
            }
            for code in codes
        ],
        "extended": extended.total,
        "extended_href": links.cases(filters, **extended_window),
        "extension_grounds": extended.grounds,
        "refused": refused.total,
        "refused_href": links.cases(filters, **refused_window),
        "unfounded": refused.unfounded,
        "unfounded_href": links.cases(filters, rejected_as_unfounded__exact="1", **refused_window),
        "refusal_grounds": refused.grounds,
    }


def _health(filters: dashboard.Filters, now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "name": system.name,
            "searches": system.searches,
            "failed": system.failed,
            "failed_share": percent(system.failure_share),
            "mean": seconds(system.mean_ms),
            "href": links.cases(filters, failed_source=str(system.system_id)),
        }
        for system in dashboard.connector_health(filters, now)
    ]


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def _query(request: HttpRequest) -> str:
    return request.GET.urlencode()


@dashboard_view
def index(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = FiltersForm.from_query(request.GET, now=now)
    context = _context(request, _("Dashboard"), form=form, query=_query(request))
    if form.is_bound and not form.is_valid():
        return TemplateResponse(request, "dashboard/index.html", context, status=400)
    filters = form.filters()
    context.update(
        filters=filters,
        period=_("%(start)s to %(end)s")
        % {"start": date_format(filters.start), "end": date_format(filters.end)},
        workload=_workload(filters, now),
        waiting=_waiting(filters, now),
        sla=_sla(filters, now),
        time_to_close=_time_to_close(filters, now),
        volumes=_volumes(filters, now),
        decisions=_decisions(filters, now),
        health=_health(filters, now),
        health_days=dashboard.HEALTH_DAYS,
        report_years=sorted({filters.end.year, filters.end.year - 1}, reverse=True),
    )
    return TemplateResponse(request, "dashboard/index.html", context)


# --- CSV ---------------------------------------------------------------------------------------


def csv_cell(value: Any) -> Any:
    """A spreadsheet cannot take a cell for a formula (exporters.formats.neutralise)."""
    if value is None:
        return ""
    return neutralise(value) if isinstance(value, str) else value


def _csv(rows: list[list[Any]], filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    writer.writerows(rows)
    return response


@dashboard_view
def figures_csv(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = FiltersForm.from_query(request.GET, now=now)
    if form.is_bound and not form.is_valid():
        context = _context(request, _("Dashboard"), form=form, query=_query(request))
        return TemplateResponse(request, "dashboard/index.html", context, status=400)
    filters = form.filters()
    name = f"dsar-figures-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    rows = [[csv_cell(f[name]) for name in COLUMNS] for f in every_figure(filters, now)]
    return _csv([list(COLUMNS), *rows], name)


# --- the yearly report ---------------------------------------------------------------------------

REPORT_COLUMNS = (
    "received",
    "answered",
    "answered_in_time",
    "extended",
    "refused",
    "still_open",
)


def _report(request: HttpRequest, year: int):
    """The report's figures, or the page saying what is wrong with the request (400)."""
    now = timezone.now()
    form = FiltersForm.from_query(request.GET, now=now)
    title = _("Yearly report %(year)d") % {"year": year}
    if not FIRST_YEAR <= year <= LAST_YEAR:
        form.is_valid()
        context = _context(
            request,
            title,
            form=form,
            year=year,
            year_error=_("Give a year from %(first)d to %(last)d.")
            % {"first": FIRST_YEAR, "last": LAST_YEAR},
        )
        return None, TemplateResponse(request, "dashboard/report.html", context, status=400)
    if form.is_bound and not form.is_valid():
        context = _context(request, title, form=form, year=year)
        return None, TemplateResponse(request, "dashboard/report.html", context, status=400)
    return dashboard.yearly_report(year, form.filters()), form


@dashboard_view
def report(request: HttpRequest, year: int) -> HttpResponse:
    figures, form = _report(request, year)
    if figures is None:
        return form
    filters = dashboard.year_filters(year, form.filters())
    received = links.period("received_at", filters)
    rows = [
        {
            "label": TYPES.get(row.request_type, row.request_type),
            "values": [getattr(row, name) for name in REPORT_COLUMNS],
            "href": links.cases(filters, request_type__exact=row.request_type, **received),
        }
        for row in figures.rows
    ]
    total = figures.total
    context = _context(
        request,
        _("Yearly report %(year)d") % {"year": year},
        form=form,
        year=year,
        rows=rows,
        total=[getattr(total, name) for name in REPORT_COLUMNS],
        total_href=links.cases(filters, **received),
        csv_url=reverse("dashboard:report_csv", args=[year]) + "?" + _query(request),
        query=_query(request),
    )
    return TemplateResponse(request, "dashboard/report.html", context)


@dashboard_view
def report_csv(request: HttpRequest, year: int) -> HttpResponse:
    figures, form = _report(request, year)
    if figures is None:
        return form
    rows = [["year", "request_type", *REPORT_COLUMNS]]
    for row in [*figures.rows, figures.total]:
        rows.append(
            [year, row.request_type or "all", *(getattr(row, name) for name in REPORT_COLUMNS)]
        )
    return _csv(rows, f"dsar-report-{year}.csv")
