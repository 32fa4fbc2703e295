"""A service that changes a case locks the case's row once: the services that need the lock
before the transition (answering, gathering) hand their locked case to the transition instead
of having it locked again."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casework import services
from casework.actors import Actor
from casework.deadlines import add_months
from casework.models import Case, State
from tests.casework.helpers import bring_to

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Europe/Tirane")


ROW_LOCK = re.compile(r"\bFOR (NO KEY )?UPDATE\b")


def case_row_locks(queries) -> int:
    """SELECT ... FOR UPDATE of a case row among the captured queries."""
    return sum(
        1 for q in queries if 'FROM "casework_case"' in q["sql"] and ROW_LOCK.search(q["sql"])
    )


def paused_for(case: Case, days: int, by) -> Case:
    """Ask the subject for proof of identity (the GDPR clock pauses), `days` days ago."""
    case = services.case_ask_subject(
        case=case, actor=Actor.staff(by), purpose="identity", message="Proof?"
    )
    assert case.paused_at is not None
    Case.objects.filter(pk=case.pk).update(paused_at=timezone.now() - dt.timedelta(days=days))
    return Case.objects.get(pk=case.pk)


def test_answering_locks_the_case_once_and_the_paused_clock_resumes(
    require_postgres, make_case, alice
):
    case = make_case(received_at=timezone.now() - dt.timedelta(days=3), regime="gdpr")
    due_before = case.due_at
    case = paused_for(case, 5, alice)
    with CaptureQueriesContext(connection) as queries:
        case = services.case_answered(case=case, actor=Actor.subject(), note="Attached")
    assert case_row_locks(queries.captured_queries) == 1
    assert case.state == State.RECEIVED
    stored = Case.objects.get(pk=case.pk)
    assert (stored.paused_at, stored.paused_days) == (None, 5)
    assert (stored.due_at - due_before).days == 5


def test_answering_after_an_extension_moves_both_due_dates_by_the_paused_days(
    make_case, alice, dora
):
    received = timezone.now() - dt.timedelta(days=2)
    case = make_case(received_at=received, regime="gdpr")
    new_due = add_months(received.astimezone(TZ).date(), 2)
    case = services.case_extend(
        case=case, actor=Actor.staff(dora), new_due=new_due, reason="Many systems"
    )
    original_before, due_before = case.original_due_at, case.due_at
    case = paused_for(case, 4, alice)
    case = services.case_answered(case=case, actor=Actor.subject())
    stored = Case.objects.get(pk=case.pk)
    assert stored.paused_days == 4 and stored.paused_at is None
    assert stored.due_at.astimezone(TZ).date() == due_before.astimezone(TZ).date() + dt.timedelta(
        days=4
    )
    assert stored.original_due_at.astimezone(TZ).date() == original_before.astimezone(
        TZ
    ).date() + dt.timedelta(days=4)


def test_an_answer_without_a_paused_clock_leaves_the_deadline_alone(make_case, alice):
    case = bring_to(State.VERIFIED, make_case(regime="gdpr"), alice)
    due_before = case.due_at
    case = services.case_ask_subject(
        case=case, actor=Actor.staff(alice), purpose="clarification", message="Which account?"
    )
    case = services.case_answered(case=case, actor=Actor.subject(), note="The old one")
    stored = Case.objects.get(pk=case.pk)
    assert stored.state == State.VERIFIED
    assert (stored.due_at, stored.paused_days) == (due_before, 0)


def test_gathering_with_nothing_to_search_locks_the_case_once(require_postgres, make_case, alice):
    case = bring_to(State.VERIFIED, make_case(), alice)  # no source systems configured
    with CaptureQueriesContext(connection) as queries:
        services.start_gathering(case.pk)
    assert case_row_locks(queries.captured_queries) == 1
    assert Case.objects.get(pk=case.pk).state == State.NEEDS_IDENTIFIER


def test_advancing_a_case_whose_sources_all_answered_locks_it_once(
    require_postgres, make_case, alice
):
    case = bring_to(State.GATHERING, make_case(), alice)
    with CaptureQueriesContext(connection) as queries:
        assert services.advance(case.pk) == "gathered"
    assert case_row_locks(queries.captured_queries) == 1
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW


def test_a_merge_locks_both_cases_at_once_in_one_order(require_postgres, make_case, alice):
    """Two opposite merges (A into B, B into A) take the locks in the same order, so they
    cannot deadlock; one waits, then finds its target closed."""
    first, second = make_case(email="a@demo.example"), make_case(email="a@demo.example")
    with CaptureQueriesContext(connection) as queries:
        services.case_merge(case=second, actor=Actor.staff(alice), into=first)
    locks = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "casework_case"' in q["sql"] and ROW_LOCK.search(q["sql"])
    ]
    assert len(locks) == 1
    assert 'ORDER BY "casework_case"."id" ASC' in locks[0]
    assert Case.objects.get(pk=second.pk).state == State.MERGED


@pytest.mark.django_db(transaction=True)
def test_two_threads_refreshing_cases_at_once_do_not_trip_over_the_protected_state(
    require_postgres, make_case
):
    """django-fsm-2 lifts the state's protection class-wide while it refreshes a case: a
    refresh that began inside another's must not find it put back before it sets the state."""
    import threading

    first, second = make_case(), make_case()
    inner_reading, outer_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def inner_waits_for_the_outer(execute, sql, params, many, context):
        inner_reading.set()
        outer_done.wait(timeout=5)
        return execute(sql, params, many, context)

    def refresh_inside() -> None:
        try:
            other = Case.objects.get(pk=second.pk)
            with connection.execute_wrapper(inner_waits_for_the_outer):
                other.refresh_from_db()
        except BaseException as exc:  # reported below: a thread's error would vanish
            failures.append(exc)
        finally:
            connection.close()

    inner = threading.Thread(target=refresh_inside)

    def outer_lets_the_inner_begin(execute, sql, params, many, context):
        if not inner.is_alive():
            inner.start()
            inner_reading.wait(timeout=1)  # a refresh that must wait for this one never does
        return execute(sql, params, many, context)

    case = Case.objects.get(pk=first.pk)
    try:
        with connection.execute_wrapper(outer_lets_the_inner_begin):
            case.refresh_from_db()
    finally:
        outer_done.set()
        inner.join(timeout=30)
    assert not failures
    assert case.state == State.RECEIVED
