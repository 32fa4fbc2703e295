"""The foundation against the real PostgreSQL, Redis and a real Celery worker process."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from casework import services
from casework.actors import Actor
from casework.models import AuditEvent, Case, State
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_roles_survive_the_flush_between_transactional_tests(alice, dora):
    from django.contrib.auth.models import Group, User

    assert set(Group.objects.values_list("name", flat=True)) >= {"privacy_team", "dpo", "system"}
    system_user = User.objects.get(username="system")
    assert system_user.has_perm("casework.start_gathering")  # the group mirrors the system role
    assert Actor.system().has_perm("casework.start_gathering")
    assert not Actor.system().has_perm("casework.reject_case")


def test_verification_hands_gathering_to_the_worker(real_worker, make_case):
    case = make_case()
    services.case_verify(case=case, actor=Actor.subject())

    def moved():  # no source systems here: nothing to search, the case waits for an identifier
        return Case.objects.get(pk=case.pk).state == State.NEEDS_IDENTIFIER

    wait_for(moved)
    event = AuditEvent.objects.get(case=case, action="case.gathering_started")
    assert event.actor_kind == "system"


def test_the_worker_completes_an_access_case_once_the_subject_is_told(
    real_worker, make_case, alice
):
    case = make_case()
    services.case_verify(case=case, actor=Actor.subject())
    wait_for(lambda: Case.objects.get(pk=case.pk).state == State.NEEDS_IDENTIFIER)
    team = Actor.staff(alice)
    case = services.case_proceed_without_source(case=case, actor=team, reason="No system yet")
    case = services.complete_review(case=case, actor=team)
    services.case_approve(case=case, actor=team)

    # The worker builds the bundle, e-mails the subject, and the case completes by itself.
    wait_for(lambda: Case.objects.get(pk=case.pk).state == State.COMPLETED, timeout=60)
    case = Case.objects.get(pk=case.pk)
    told = AuditEvent.objects.get(case=case, action="case.notice_sent", details__notice="ready")
    assert told.details["sent_by"] == "email"
    assert case.closed_at == told.created_at
    assert AuditEvent.objects.get(case=case, action="case.completed").actor_kind == "system"
    assert not AuditEvent.objects.filter(
        case=case, action="case.notice_sent", details__notice="completed"
    ).exists()


def test_the_worker_flags_a_duplicate_request(real_worker, make_case):
    first = make_case()
    second = make_case()
    wait_for(lambda: Case.objects.get(pk=second.pk).possible_duplicate_of_id == first.pk)


def test_healthz_reports_the_worker_up_then_down(real_worker, client, settings):
    import time

    from casework.health import record_beat_heartbeat

    settings.DSAR_BEAT_HEARTBEAT_SECONDS = 3600  # beat is not what this test is about
    record_beat_heartbeat("beat")

    wait_for(lambda: client.get("/healthz").status_code == 200)
    body = client.get("/healthz").json()
    assert body["database"]["ok"] and body["broker"]["ok"] and body["worker"]["ok"]
    real_worker.kill()
    time.sleep(3.5)  # three missed 1-second heartbeats
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["ok"] is False
    real_worker.start()


def test_two_concurrent_transitions_of_one_case_cannot_both_win(
    make_case, alice, dora, require_postgres
):
    case = make_case()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def act(actor, fn):
        try:
            barrier.wait()
            fn(case=Case.objects.get(pk=case.pk), actor=actor)
            outcomes.append("won")
        except Exception as exc:
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(
            target=act,
            args=(Actor.staff(alice), lambda **kw: services.case_verify(note="call-back", **kw)),
        ),
        threading.Thread(target=act, args=(Actor.subject(), services.case_verify)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("won") == 1
    assert "TransitionNotAllowed" in outcomes
    assert AuditEvent.objects.filter(case=case, action="case.verified").count() == 1


def test_concurrent_events_never_fork_the_chain(make_case, alice, require_postgres):
    from casework.audit import verify_trail

    case = make_case()
    barrier = threading.Barrier(4)

    def note(i):
        try:
            barrier.wait()
            services.case_add_note(case=case, actor=Actor.staff(alice), text=f"note {i}")
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=note, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = list(AuditEvent.objects.filter(case=case).order_by("seq").values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4, 5]
    assert verify_trail() == []
