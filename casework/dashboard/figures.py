"""Every figure of the dashboard as rows of codes and numbers: the dashboard's CSV and the
staff API's figures endpoint give the same rows, read from the dashboard's selectors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from casework.selectors import dashboard

COLUMNS = ("figure", "month", "regime", "request_type", "state", "channel", "detail", "value")


def _row(figure: str, value: Any, **columns: Any) -> dict[str, Any]:
    cells = {"figure": figure, "value": value, **columns}
    out = {}
    for name in COLUMNS:
        cell = cells.get(name, "")
        if isinstance(cell, dt.date):
            cell = cell.strftime("%Y-%m")
        elif isinstance(cell, float):
            cell = round(cell, 3)
        out[name] = cell
    return out


def every_figure(filters: dashboard.Filters, now: dt.datetime) -> list[dict[str, Any]]:
    """Every figure of the dashboard, one number a row (codes, not labels); `value` is None
    where there is nothing to measure (no case closed, say)."""
    rows = []
    work = dashboard.workload(filters, now)
    for (state, request_type), n in sorted(work.cells.items()):
        rows.append(_row("open", n, state=state, request_type=request_type))
    for request_type, n in sorted(work.overdue_by_type.items()):
        rows.append(_row("overdue", n, request_type=request_type))
    for request_type, n in sorted(work.due_soon_by_type.items()):
        rows.append(_row("due_soon", n, request_type=request_type, detail=work.due_soon_days))
    sla = dashboard.sla_compliance(filters, now)
    for month in sla.months:
        rows.append(_row("sla_answered", month.answered, month=month.month))
        rows.append(_row("sla_answered_in_time", month.in_time, month=month.month))
        rows.append(_row("sla_share_in_time", month.share, month=month.month))
    for regime, months in sla.by_regime.items():
        for month in months:
            rows.append(_row("sla_answered", month.answered, month=month.month, regime=regime))
            rows.append(
                _row("sla_answered_in_time", month.in_time, month=month.month, regime=regime)
            )
    spread = dashboard.time_to_close(filters, now)
    for request_type, figures in [("", spread.overall), *spread.by_type.items()]:
        rows.append(_row("days_to_close_median", figures.median_days, request_type=request_type))
        rows.append(_row("days_to_close_p90", figures.p90_days, request_type=request_type))
    received = dashboard.volumes(filters, now)
    for request_type, counts in received.by_type.items():
        for month in received.months:
            n = counts.get(month, 0)
            rows.append(_row("received", n, month=month, request_type=request_type))
    for channel, counts in received.by_channel.items():
        for month in received.months:
            rows.append(_row("received", counts.get(month, 0), month=month, channel=channel))
    extended = dashboard.extensions(filters, now)
    for request_type, n in sorted(extended.by_type.items()):
        rows.append(_row("extended", n, request_type=request_type))
    for ground, n in extended.grounds:
        rows.append(_row("extension_ground", n, detail=ground))
    refused = dashboard.refusals(filters, now)
    for request_type, n in sorted(refused.by_type.items()):
        rows.append(_row("refused", n, request_type=request_type))
    rows.append(_row("refused_as_unfounded", refused.unfounded))
    for ground, n in refused.grounds:
        rows.append(_row("refusal_ground", n, detail=ground))
    for system in dashboard.connector_health(filters, now):
        rows.append(_row("searches_7_days", system.searches, detail=system.name))
        rows.append(_row("searches_failed_7_days", system.failed, detail=system.name))
        rows.append(_row("search_mean_ms_7_days", system.mean_ms, detail=system.name))
    waiting = dashboard.waiting(filters, now)
    rows.append(_row("plans_waiting_for_approval", waiting.plans))
    rows.append(_row("releases_waiting_for_approval", waiting.releases))
    rows.append(_row("records_waiting_for_staff", waiting.records))
    rows.append(_row("cases_with_records_waiting", waiting.record_cases))
    return rows
