"""An access or portability case completes when its bundle is ready and the subject has been
told (issue 14, point 9): the e-mail with the status link sent, or the letter posted by staff;
not by a manual step. The system completes it, closed at the moment of telling; a release
revoked afterwards opens it again."""

from __future__ import annotations

import pytest
from django.utils import timezone

from casework import operations, services
from casework.actors import Actor
from casework.audit import record_event
from casework.engine import bundles
from casework.models import AuditEvent, Bundle, Case, Notice, PostalLetter, State
from tests.casework.helpers import bring_to, fulfilling, reviewed

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"


def built(case: Case, capture) -> Case:
    """The worker stored the case's bundle: the case is marked ready, and the READY notice
    queued after commit runs (`capture`: django_capture_on_commit_callbacks)."""
    now = timezone.now()
    Bundle.objects.filter(case=case, revoked_at=None).update(
        state=Bundle.State.READY, file="bundles/test.zip.enc", finished_at=now
    )
    with capture(execute=True):
        services.case_mark_bundle_ready(case_id=case.pk, at=now)
    return Case.objects.get(pk=case.pk)


def events(case: Case, action: str):
    return AuditEvent.objects.filter(case=case, action=action).order_by("seq")


@pytest.mark.parametrize("request_type", ["access", "portability"])
def test_the_case_completes_when_the_ready_email_is_sent(
    request_type, make_case, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    case = fulfilling(make_case(request_type=request_type, email=ARTA), alice, approver=bob)
    mailoutbox.clear()
    case = built(case, django_capture_on_commit_callbacks)

    assert case.state == State.COMPLETED
    told = events(case, "case.notice_sent").get(details__notice="ready")
    completed = events(case, "case.completed").get()
    assert completed.actor_kind == Actor.SYSTEM
    assert (completed.from_state, completed.to_state) == (State.FULFILLING, State.COMPLETED)
    # The deadline is met when the subject was told.
    assert case.closed_at == case.response_sent_at == told.created_at
    assert completed.seq > told.seq


def test_the_subject_gets_one_email_that_says_it_all(
    make_case, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    case = fulfilling(make_case(email=ARTA), alice, approver=bob)
    mailoutbox.clear()
    case = built(case, django_capture_on_commit_callbacks)

    (message,) = mailoutbox
    assert "is completed" in message.subject and "your data is ready" in message.subject
    assert "We have completed your request: a copy of your data is ready" in message.body
    assert "/en/status/" in message.body
    assert "right to complain to the supervisory" in message.body
    notices = {e.details["notice"] for e in events(case, "case.notice_sent")}
    assert Notice.COMPLETED not in notices


def test_a_queued_letter_tells_no_one_and_posting_it_completes_the_case(
    make_case, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    lost = make_case(email=ARTA, name="Arta Krasniqi", mailbox_lost=True)
    case = built(fulfilling(lost, alice, approver=bob), django_capture_on_commit_callbacks)
    letter = PostalLetter.objects.get(case=case, notice=Notice.READY)
    assert case.state == State.FULFILLING and case.closed_at is None
    assert bundles.complete_told_cases() == 0  # the sweeper does not take queued for told

    letter = services.letter_mark_posted(letter=letter, actor=Actor.staff(alice))

    case = Case.objects.get(pk=case.pk)
    assert case.state == State.COMPLETED
    assert case.closed_at == case.response_sent_at == letter.posted_at
    assert events(case, "case.completed").get().actor_kind == Actor.SYSTEM
    assert mailoutbox == []
    assert not PostalLetter.objects.filter(case=case, notice=Notice.COMPLETED).exists()


def test_posting_another_letter_completes_nothing(make_case, alice, bob):
    lost = make_case(email=ARTA, name="Arta Krasniqi", mailbox_lost=True)
    case = fulfilling(lost, alice, approver=bob)
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=timezone.now())
    letter = services.queue_letter(case=case, notice=Notice.ACKNOWLEDGED)
    services.letter_mark_posted(letter=letter, actor=Actor.staff(alice))
    assert Case.objects.get(pk=case.pk).state == State.FULFILLING


def test_completing_twice_changes_nothing(
    make_case, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    case = built(fulfilling(make_case(), alice, approver=bob), django_capture_on_commit_callbacks)
    closed_at = case.closed_at
    again = services.case_complete_when_told(case=case)
    assert again.state == State.COMPLETED and again.closed_at == closed_at
    assert bundles.complete_told_cases() == 0
    assert events(case, "case.completed").count() == 1


def test_a_change_request_is_not_completed_by_telling(make_case, alice, bob):
    erasure = fulfilling(make_case(request_type="erasure"), alice, approver=bob)
    services.case_record_response(case=erasure, actor=Actor.staff(alice))
    assert services.case_complete_when_told(case=erasure).state == State.FULFILLING


def test_the_sweeper_completes_a_case_whose_subject_was_told_but_not_completed(
    make_case, alice, bob
):
    # A worker killed after the e-mail was recorded: only the notice is on the trail.
    case = fulfilling(make_case(), alice, approver=bob)
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=timezone.now())
    told = record_event(
        case,
        "case.notice_sent",
        actor=Actor.system(),
        details={"notice": "ready", "sent_by": "email"},
    )
    assert Case.objects.get(pk=case.pk).state == State.FULFILLING

    bundles.sweep()

    case = Case.objects.get(pk=case.pk)
    assert case.state == State.COMPLETED and case.closed_at == told.created_at


def test_a_lost_notice_that_the_data_is_ready_is_sent_again_and_the_case_completes(
    make_case, alice, bob, mailoutbox, settings
):
    import datetime as dt

    case = fulfilling(make_case(), alice, approver=bob)
    # The bundle is ready; the message that would have told her was lost (a flushed broker).
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=timezone.now())
    bundles.sweep()
    assert mailoutbox == []  # within the grace the message may still be on its way
    ready_at = timezone.now() - dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS + 1)
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=ready_at)

    bundles.sweep()

    (message,) = mailoutbox
    assert message.to == [case.email]
    assert Case.objects.get(pk=case.pk).state == State.COMPLETED
    bundles.sweep()
    assert len(mailoutbox) == 1  # told once


def test_the_fulfil_operation_is_not_offered_for_access_but_still_for_changes(
    make_case, alice, bob
):
    access = fulfilling(make_case(), alice, approver=bob)
    access = services.case_record_response(case=access, actor=Actor.staff(alice))
    Case.objects.filter(pk=access.pk).update(bundle_ready_at=timezone.now())
    access = Case.objects.get(pk=access.pk)
    fulfil = operations.get("fulfil")
    assert "completes by itself" in fulfil.refusal(access, Actor.staff(alice))
    erasure = fulfilling(make_case(request_type="erasure"), alice, approver=bob)
    erasure = services.case_record_response(case=erasure, actor=Actor.staff(alice))
    assert fulfil.offered(erasure, Actor.staff(alice))


def test_a_completed_access_case_cannot_be_withdrawn(
    make_case, alice, bob, django_capture_on_commit_callbacks
):
    case = built(fulfilling(make_case(), alice, approver=bob), django_capture_on_commit_callbacks)
    assert not operations.get("withdraw").offered(case, Actor.staff(alice))
    from django_fsm import TransitionNotAllowed

    with pytest.raises(TransitionNotAllowed):
        services.case_withdraw(case=case, actor=Actor.subject())


# --- a release revoked after the case completed ------------------------------------------------------


def test_the_dpo_revokes_the_release_of_a_completed_case_and_it_opens_again(
    make_case, alice, bob, dora, django_capture_on_commit_callbacks
):
    case = built(fulfilling(make_case(), alice, approver=bob), django_capture_on_commit_callbacks)
    assert case.state == State.COMPLETED
    assert operations.get("revoke_release").offered(case, Actor.staff(dora))

    services.release_revoke(case=case, actor=Actor.staff(dora), reason="Another Arta's orders")

    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW and case.is_open
    assert (case.closed_at, case.response_sent_at, case.bundle_ready_at) == (None, None, None)
    assert not Bundle.objects.filter(case=case, revoked_at=None, state="ready").exists()
    withdrawn = events(case, "case.release_withdrawn").get()
    assert (withdrawn.from_state, withdrawn.to_state) == (State.COMPLETED, State.IN_REVIEW)


def test_a_notice_of_the_revoked_release_does_not_complete_the_new_one(
    make_case, alice, bob, dora, django_capture_on_commit_callbacks
):
    case = built(fulfilling(make_case(), alice, approver=bob), django_capture_on_commit_callbacks)
    services.release_revoke(case=case, actor=Actor.staff(dora), reason="Another Arta's orders")
    case = reviewed(Case.objects.get(pk=case.pk), alice)
    case = services.case_approve(case=case, actor=Actor.staff(bob), acknowledged=True)
    # The new bundle is ready, its notice not yet sent: the old notice does not count.
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=timezone.now())
    assert bundles.complete_told_cases() == 0
    assert Case.objects.get(pk=case.pk).state == State.FULFILLING

    case = built(Case.objects.get(pk=case.pk), django_capture_on_commit_callbacks)
    assert case.state == State.COMPLETED
    assert events(case, "case.completed").count() == 2


def test_a_revoked_release_of_a_case_being_fulfilled_still_goes_back_to_review(
    make_case, alice, bob, dora
):
    case = bring_to(State.FULFILLING, make_case(), alice, approver=bob)
    Bundle.objects.filter(case=case).update(
        state=Bundle.State.READY, file="bundles/test.zip.enc", finished_at=timezone.now()
    )
    services.release_revoke(case=case, actor=Actor.staff(dora), reason="Another Arta's orders")
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW
