"""The dashboard's rollups: kept by the database's triggers through every way a case changes
(services, bulk updates, deletes), equal to a rebuild from the cases, read for whole months
and agreeing with the live count of part months, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casework import deadlines, rollups, services
from casework.actors import Actor
from casework.models import Case, CaseCloseDays, CaseGrounds, CaseMonthFigures, State
from casework.selectors import dashboard
from tests.casework.helpers import a_case, local

pytestmark = pytest.mark.django_db


def rows() -> tuple[list[tuple], ...]:
    """Every rollup row, as sorted tuples of its key and counts."""
    return tuple(
        sorted(model.objects.values_list(*model.KEY, *model.CARRIED, *model.COUNTS))
        for model in rollups.ROLLUPS
    )


def assert_same_as_a_rebuild() -> None:
    kept = rows()
    rollups.rebuild(connection)
    assert rows() == kept


def counts(month: dt.date, **key) -> dict[str, int]:
    """The counts of `month`'s rollup rows matching `key`, added up (zero when none)."""
    total: dict[str, int] = defaultdict(int)
    for row in CaseMonthFigures.objects.filter(month=month, **key).values():
        for name in CaseMonthFigures.COUNTS:
            total[name] += row[name]
    return total


def this_month() -> dt.date:
    return deadlines.local_date(timezone.now()).replace(day=1)


def test_the_rollups_follow_a_case_through_its_life(make_case, dora, alice):
    month = this_month()
    case = make_case()
    assert counts(month)["received"] == 1
    assert counts(month)["received_open"] == 1
    assert counts(month)["answered"] == 0

    case = services.case_assign(case=case, actor=Actor.staff(dora), assignee=alice)
    assert counts(month, assignee_id=alice.pk)["received"] == 1
    assert counts(month, assignee_id=0)["received"] == 0
    assert_same_as_a_rebuild()

    new_due = deadlines.local_date(case.due_at) + dt.timedelta(days=20)
    case = services.case_extend(
        case=case, actor=Actor.staff(dora), new_due=new_due, reason="Complex request"
    )
    assert counts(month)["extended"] == 1
    assert counts(month)["received_extended"] == 1
    assert_same_as_a_rebuild()

    case = services.case_reject(
        case=case, actor=Actor.staff(dora), reason="Excessive", unfounded=True
    )
    figures = counts(month)
    assert (figures["answered"], figures["answered_in_time"]) == (1, 1)
    assert (figures["refused"], figures["refused_unfounded"]) == (1, 1)
    assert (figures["received_open"], figures["received_refused"]) == (0, 1)
    assert list(CaseCloseDays.objects.values_list("days", "answered")) == [(0, 1)]
    assert_same_as_a_rebuild()

    # Reopened by a bulk update (no service): the answer is taken back.
    Case.objects.filter(pk=case.pk).update(state=State.IN_REVIEW, closed_at=None)
    figures = counts(month)
    assert (figures["answered"], figures["refused"], figures["received_open"]) == (0, 0, 1)
    assert not CaseCloseDays.objects.exists()
    assert_same_as_a_rebuild()


def test_a_case_closed_in_another_month_moves_its_answer_there():
    case = a_case(received_at=local(2026, 1, 30, 9))
    Case.objects.filter(pk=case.pk).update(
        state=State.COMPLETED, closed_at=local(2026, 3, 1, 0, 30), due_at=local(2026, 2, 28)
    )

    assert counts(dt.date(2026, 1, 1))["received"] == 1
    assert counts(dt.date(2026, 1, 1))["received_answered"] == 1
    assert counts(dt.date(2026, 3, 1))["answered"] == 1  # local March (UTC: 28 February)
    assert counts(dt.date(2026, 3, 1))["answered_in_time"] == 0
    # 30 January to 1 March: 30 local days.
    assert list(CaseCloseDays.objects.values_list("month", "days")) == [(dt.date(2026, 3, 1), 30)]
    assert_same_as_a_rebuild()


def test_a_reassigned_case_moves_to_its_new_assignee(alice, dora):
    case = a_case(assignee=alice, state=State.COMPLETED, closed_at=local(2026, 3, 10, 12))

    Case.objects.filter(pk=case.pk).update(assignee=dora)

    march = dt.date(2026, 3, 1)
    assert counts(march, assignee_id=alice.pk) == {}
    assert counts(march, assignee_id=dora.pk)["answered"] == 1
    assert CaseCloseDays.objects.get().assignee_id == dora.pk
    assert_same_as_a_rebuild()


def test_deleted_cases_leave_no_rows():
    a_case(state=State.REJECTED, closed_at=local(2026, 3, 10), rejection_reason="x")
    a_case(original_due_at=local(2026, 4, 1), extension_announced_at=local(2026, 3, 20))
    assert rows() != ([], [], [])

    Case.objects.all().delete()

    assert rows() == ([], [], [])


def test_cases_deleted_after_their_rollups_leave_no_negative_rows():
    # Django's test flush on SQLite empties the tables in any order.
    a_case(state=State.COMPLETED, closed_at=local(2026, 3, 10), rejection_reason="x")
    for model in rollups.ROLLUPS:
        model.objects.all().delete()

    Case.objects.all().delete()

    assert rows() == ([], [], [])


def test_bulk_writes_and_anonymisation_are_followed(alice):
    Case.objects.bulk_create(
        [
            Case(
                reference=f"DSAR-B-{n:04d}",
                request_type=["access", "erasure"][n % 2],
                regime="gdpr",
                channel=["web", "letter"][n % 2],
                email=f"s{n}@demo.example",
                state=State.COMPLETED,
                received_at=local(2026, 2, 1 + n),
                due_at=local(2026, 3, 1 + n),
                closed_at=local(2026, 2, 10 + n),
            )
            for n in range(10)
        ]
    )
    assert counts(dt.date(2026, 2, 1))["received"] == 10
    kept = rows()

    # The retention purge's shape: personal fields emptied, figures' fields kept.
    Case.objects.update(email="purged@invalid.example", name="", phone="", details={})
    assert rows() == kept
    Case.objects.filter(request_type="erasure").update(assignee=alice)
    assert counts(dt.date(2026, 2, 1), assignee_id=alice.pk)["answered"] == 5
    assert_same_as_a_rebuild()


def test_a_rebuild_gives_the_rows_the_triggers_keep(alice):
    for n in range(40):
        received = local(2025, 10, 1) + dt.timedelta(days=4 * n, hours=n)
        closed = received + dt.timedelta(days=n % 35, hours=5) if n % 5 else None
        a_case(
            received_at=received,
            request_type=["access", "erasure", "objection"][n % 3],
            regime=["gdpr", "ccpa"][n % 2],
            channel=["web", "email", "letter"][n % 3],
            state=(
                State.IN_REVIEW
                if closed is None
                else [State.COMPLETED, State.REJECTED, State.WITHDRAWN][n % 3]
            ),
            closed_at=closed,
            due_at=received + dt.timedelta(days=30),
            rejected_as_unfounded=n % 2 == 0,
            original_due_at=received + dt.timedelta(days=30) if n % 4 == 0 else None,
            extension_announced_at=received + dt.timedelta(days=20) if n % 4 == 0 else None,
            assignee=alice if n % 3 == 0 else None,
            rejection_reason=["Excessive", "Unfounded", "Legal claims"][n % 3],
            extension_reason="Complex" if n % 4 == 0 else "",
            confidential=n % 7 == 0,
        )
    kept = rows()
    assert all(kept)

    CaseMonthFigures.objects.all().delete()
    CaseGrounds.objects.all().delete()
    call_command("rebuild_dashboard_rollups", stdout=io.StringIO())

    assert rows() == kept


def test_whole_months_from_the_rollups_agree_with_the_live_count():
    """March read from the rollups (the whole month) and live (from the 2nd: no case on the
    1st) give the same figures."""
    for n in range(12):
        received = local(2026, 2, 10 + n, 8 + n)
        closed = local(2026, 3, 2 + 2 * n, 23, 30)  # late evenings, across the change to DST
        a_case(
            received_at=received,
            request_type=["access", "erasure"][n % 2],
            regime=["gdpr", "ccpa", "uk_gdpr"][n % 3],
            state=State.REJECTED if n % 4 == 0 else State.COMPLETED,
            rejection_reason="Excessive" if n % 4 == 0 else "",
            rejected_as_unfounded=n % 8 == 0,
            closed_at=closed,
            due_at=local(2026, 3, 12, 23, 59),
            original_due_at=local(2026, 3, 1) if n % 3 == 0 else None,
            extension_announced_at=local(2026, 3, 3 + n) if n % 3 == 0 else None,
        )
        a_case(received_at=local(2026, 3, 2 + n, 12), channel=["web", "phone"][n % 2])
    whole = dashboard.Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
    part = dashboard.Filters(start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 31))
    assert (whole.whole_months, whole.part_months) != ([], [])
    assert part.whole_months == []

    def figures(filters):
        now = local(2026, 4, 15, 12)
        refused = dashboard.refusals(filters, now)
        return (
            dashboard.sla_compliance(filters, now),
            dashboard.time_to_close(filters, now),
            dashboard.volumes(filters, now),
            dashboard.extensions(filters, now).by_type,
            (refused.by_type, refused.unfounded),
        )

    from_rollups = figures(whole)
    assert from_rollups == figures(part)
    assert from_rollups[0].answered == 12
    assert from_rollups[2].total == 12


def test_grounds_follow_their_reason_and_confidentiality():
    case = a_case(state=State.REJECTED, closed_at=local(2026, 3, 10), rejection_reason="Excessive")
    march = dashboard.Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
    now = local(2026, 4, 1)
    assert dashboard.refusals(march, now).grounds == [("Excessive", 1)]

    Case.objects.filter(pk=case.pk).update(rejection_reason="Repeated requests")
    assert dashboard.refusals(march, now).grounds == [("Repeated requests", 1)]

    Case.objects.filter(pk=case.pk).update(confidential=True)
    refused = dashboard.refusals(march, now)
    assert (refused.grounds, refused.total) == ([], 1)  # still counted, its text not shown
    assert not CaseGrounds.objects.exists()
    assert_same_as_a_rebuild()


def test_a_long_ground_is_kept_whole():
    reason = "Ground " * 2000  # longer than an index entry may be
    a_case(state=State.REJECTED, closed_at=local(2026, 3, 10), rejection_reason=reason)
    a_case(state=State.REJECTED, closed_at=local(2026, 3, 11), rejection_reason=reason)
    march = dashboard.Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
    assert dashboard.refusals(march, local(2026, 4, 1)).grounds == [(reason, 2)]


def test_the_days_to_close_are_whole_local_days():
    # Received at 23:30 and answered at 00:30 the next day: one day, though one hour.
    a_case(
        received_at=local(2026, 3, 9, 23, 30),
        state=State.COMPLETED,
        closed_at=local(2026, 3, 10, 0, 30),
    )
    # The same day: none.
    a_case(
        received_at=local(2026, 3, 11, 8),
        state=State.COMPLETED,
        closed_at=local(2026, 3, 11, 17),
    )
    march = dashboard.Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))

    spread = dashboard.time_to_close(march, local(2026, 4, 1)).overall

    assert (spread.answered, spread.median_days) == (2, 0.5)
    assert dict(CaseCloseDays.objects.values_list("days", "answered")) == {0: 1, 1: 1}


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ({5: 1}, 0.5, 5),
        ({1: 1, 2: 1, 3: 1, 4: 1}, 0.5, 2.5),
        ({1: 2, 10: 2}, 0.9, 10),
        ({0: 9, 100: 1}, 0.9, 10),
        ({3: 4, 7: 1}, 0.5, 3),
        ({}, 0.5, None),
    ],
)
def test_the_percentile_of_a_histogram_is_percentile_cont(values, fraction, expected):
    assert dashboard.percentile(values, fraction) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("start", "end", "queries"),
    [
        (dt.date(2025, 5, 1), dt.date(2026, 4, 30), 1),  # whole months: the rollups only
        (dt.date(2025, 5, 1), dt.date(2026, 4, 15), 2),  # and the part month, live
        (dt.date(2026, 4, 3), dt.date(2026, 4, 15), 1),  # a part month only
    ],
)
def test_each_past_figure_reads_a_fixed_number_of_queries(
    start, end, queries, django_assert_num_queries
):
    for n in range(5):
        a_case(
            state=State.COMPLETED, closed_at=local(2026, 3, 5 + n), received_at=local(2026, 3, 1)
        )
    filters = dashboard.Filters(start=start, end=end)
    now = local(2026, 4, 30)
    for figure in (dashboard.sla_compliance, dashboard.time_to_close, dashboard.volumes):
        with django_assert_num_queries(queries):
            figure(filters, now)
    for figure in (dashboard.extensions, dashboard.refusals):  # and their grounds
        with django_assert_num_queries(queries * 2):
            figure(filters, now)


def test_the_yearly_report_reads_one_query_of_the_rollups():
    a_case(received_at=local(2025, 6, 1))
    with CaptureQueriesContext(connection) as queries:
        report = dashboard.yearly_report(2025)
    assert report.total.received == 1
    assert len(queries) == 1
    assert CaseMonthFigures._meta.db_table in queries[0]["sql"]
    assert f'"{Case._meta.db_table}"' not in queries[0]["sql"]


def test_another_database_is_a_system_check_error_not_a_crash_later(monkeypatch):
    from django.core import checks
    from django.core.exceptions import ImproperlyConfigured

    assert not [m for m in checks.run_checks() if m.id == "casework.E004"]
    monkeypatch.setattr(connection, "vendor", "mysql")
    (error,) = [m for m in checks.run_checks() if m.id == "casework.E004"]
    assert "mysql" in error.msg and "PostgreSQL" in error.hint
    with pytest.raises(ImproperlyConfigured):
        rollups.local_days_sql("mysql", "received_at", "closed_at")
