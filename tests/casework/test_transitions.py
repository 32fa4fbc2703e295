"""The case state machine: every transition, allowed and refused, by role."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from casework import services
from casework.actors import Actor
from casework.models import AuditEvent, Case, CaseNote, State
from casework.services import notices
from tests.casework.helpers import (
    bring_to,
    carried_out,
    mark_bundle_ready,
    plan_submitted,
    reviewed,
)
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

ROLES = ["privacy_team", "dpo", "auditor", "administrator", "system", "subject"]

# transition -> (source state, roles allowed, how to call it)
MATRIX = {
    "verify": (State.RECEIVED, {"privacy_team", "dpo", "subject"}),
    "ask_subject": (State.VERIFIED, {"privacy_team", "dpo"}),
    "answered": (State.AWAITING_SUBJECT, {"privacy_team", "dpo", "subject"}),
    "start_gathering": (State.VERIFIED, {"system"}),
    "gathered": (State.GATHERING, {"system"}),
    "proceed_without_source": (State.GATHERING, {"privacy_team", "dpo"}),
    "approve": (State.IN_REVIEW, {"privacy_team", "dpo"}),
    "fulfilled": (State.FULFILLING, {"privacy_team", "dpo", "system"}),
    "reject": (State.IN_REVIEW, {"dpo"}),
    "withdraw": (State.VERIFIED, {"privacy_team", "dpo", "subject"}),
    "merge": (State.VERIFIED, {"privacy_team", "dpo"}),
    "expire": (State.RECEIVED, {"system"}),
}


def call(name: str, case: Case, actor: Actor, other: Case | None = None) -> Case:
    if name == "verify":
        return services.case_verify(case=case, actor=actor, note="Checked against the CRM phone")
    if name == "ask_subject":
        return services.case_ask_subject(
            case=case, actor=actor, purpose="identity", message="Proof?"
        )
    if name == "answered":
        return services.case_answered(case=case, actor=actor, note="Here it is")
    if name == "start_gathering":
        return services.case_start_gathering(case=case, actor=actor)
    if name == "gathered":
        return services.case_mark_gathered(case=case, actor=actor)
    if name == "proceed_without_source":
        return services.case_proceed_without_source(
            case=case, actor=actor, reason="Archive offline"
        )
    if name == "approve":
        return services.case_approve(case=case, actor=actor)
    if name == "fulfilled":
        return services.case_fulfil(case=case, actor=actor)
    if name == "reject":
        return services.case_reject(
            case=case, actor=actor, reason="Manifestly excessive", unfounded=True
        )
    if name == "withdraw":
        return services.case_withdraw(case=case, actor=actor)
    if name == "merge":
        return services.case_merge(case=case, actor=actor, into=other)
    if name == "expire":
        return services.case_expire(case=case, actor=actor)
    raise AssertionError(name)


@pytest.fixture
def personas(alice, dora, audrey, adam):
    return {
        "privacy_team": Actor.staff(alice),
        "dpo": Actor.staff(dora),
        "auditor": Actor.staff(audrey),
        "administrator": Actor.staff(adam),
        "system": Actor.system(),
        "subject": Actor.subject(),
    }


# The audit event each transition writes (names in the past tense).
EVENTS = {
    "verify": "case.verified",
    "ask_subject": "case.subject_asked",
    "answered": "case.answered",
    "expire": "case.expired",
    "start_gathering": "case.gathering_started",
    "gathered": "case.gathered",
    "proceed_without_source": "case.sources_skipped",
    "approve": "case.approved",
    "fulfilled": "case.fulfilled",
    "reject": "case.rejected",
    "withdraw": "case.withdrawn",
    "merge": "case.merged",
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(MATRIX))
def test_transition_matrix(name, role, personas, make_case, alice, bob):
    source, allowed = MATRIX[name]
    received_at = timezone.now() - dt.timedelta(days=15) if name == "expire" else None
    # Staff mark a change fulfilled (an access case completes when the subject is told).
    changes = {"request_type": "erasure"} if name == "fulfilled" else {}
    case = bring_to(source, make_case(received_at=received_at, **changes), alice, approver=bob)
    if name == "approve":
        case = reviewed(case, alice)
    if name == "fulfilled":
        case = services.case_record_response(case=case, actor=personas["privacy_team"])
    other = make_case(email="other@demo.example") if name == "merge" else None
    events_before = AuditEvent.objects.filter(case=case).count()

    if role in allowed:
        result = call(name, case, personas[role], other)
        assert result.state != source
        event = AuditEvent.objects.filter(case=case, action=EVENTS[name]).latest("seq")
        assert (event.from_state, event.to_state) == (source, result.state)
        assert event.actor_kind == personas[role].kind
    else:
        with pytest.raises(PermissionDenied):
            call(name, case, personas[role], other)
        case.refresh_from_db()
        assert case.state == source
        assert AuditEvent.objects.filter(case=case).count() == events_before


ILLEGAL = [
    ("verify", State.VERIFIED),
    ("start_gathering", State.RECEIVED),
    ("gathered", State.VERIFIED),
    ("approve", State.GATHERING),
    ("fulfilled", State.IN_REVIEW),
    ("answered", State.VERIFIED),
    ("ask_subject", State.GATHERING),
    ("proceed_without_source", State.IN_REVIEW),
]


@pytest.mark.parametrize(("name", "state"), ILLEGAL)
def test_it_refuses_a_transition_not_allowed_from_the_current_state(
    name, state, personas, make_case, alice
):
    case = bring_to(state, make_case(), alice)
    actor = personas["system"] if name in ("start_gathering", "gathered") else personas["dpo"]
    events_before = AuditEvent.objects.count()
    with pytest.raises(TransitionNotAllowed):
        call(name, case, actor)
    case.refresh_from_db()
    assert case.state == state
    assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize("name", ["reject", "withdraw", "merge"])
def test_it_refuses_to_close_a_closed_case_again(name, personas, make_case, alice):
    case = services.case_withdraw(case=make_case(), actor=personas["subject"])
    other = make_case(email="other@demo.example")
    with pytest.raises(TransitionNotAllowed):
        call(name, case, personas["dpo"], other)


def test_any_open_state_can_be_rejected_by_the_dpo(make_case, alice, dora, bob):
    for state in [
        State.RECEIVED,
        State.VERIFIED,
        State.AWAITING_SUBJECT,
        State.GATHERING,
        State.IN_REVIEW,
        State.FULFILLING,
    ]:
        case = bring_to(state, make_case(email=f"{state}@demo.example"), alice, approver=bob)
        case = services.case_reject(
            case=case, actor=Actor.staff(dora), reason="Duplicate of a closed request"
        )
        assert case.state == State.REJECTED
        assert case.closed_at is not None


def test_rejection_needs_a_reason_that_the_subject_is_told(make_case, dora):
    case = make_case()
    with pytest.raises(ValidationError) as exc:
        services.case_reject(case=case, actor=Actor.staff(dora), reason="   ")
    assert "reason" in exc.value.message_dict
    case.refresh_from_db()
    assert case.state == State.RECEIVED

    case = services.case_reject(
        case=case, actor=Actor.staff(dora), reason="Manifestly unfounded", unfounded=True
    )
    note = CaseNote.objects.get(case=case, kind=CaseNote.Kind.REASON)
    assert note.visible_to_subject and note.text == "Manifestly unfounded"
    assert case.rejected_as_unfounded


def test_rejection_reason_stays_out_of_the_audit_trail(make_case, dora):
    case = services.case_reject(
        case=make_case(), actor=Actor.staff(dora), reason="Arta asked 40 times"
    )
    event = AuditEvent.objects.filter(case=case).latest("seq")
    assert "Arta" not in str(event.details)
    assert set(event.details) >= {"note", "note_sha256"}


def test_rejection_sends_the_subject_the_reason_in_their_language(
    make_case, dora, mailoutbox, django_capture_on_commit_callbacks
):
    case = make_case(language="sq")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_reject(case=case, actor=Actor.staff(dora), reason="Kërkesë e përsëritur")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["arta.krasniqi@demo.example"]
    assert "Kërkesë e përsëritur" in mailoutbox[0].body
    # The refusal letter goes with it, as PDF, stating the reason and the right to complain.
    import io

    from pypdf import PdfReader

    name, content, mimetype = mailoutbox[0].attachments[0]
    assert mimetype == "application/pdf" and name.endswith("-refusal.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert "Kërkesë e përsëritur" in text
    assert case.reference in text


def test_staff_verification_needs_a_note_saying_how(make_case, alice):
    case = make_case()
    with pytest.raises(ValidationError):
        services.case_verify(case=case, actor=Actor.staff(alice), note="")
    case = services.case_verify(
        case=case, actor=Actor.staff(alice), note="Call-back to 069 on record"
    )
    assert case.verification_method == "staff_check"
    assert case.verified_by == alice


def test_subject_verification_through_the_link_records_the_method(make_case):
    case = services.case_verify(case=make_case(), actor=Actor.subject())
    assert case.state == State.VERIFIED
    assert case.verification_method == "email_link"
    assert case.verified_by is None


def test_verification_enqueues_gathering_after_commit(
    make_case, django_capture_on_commit_callbacks
):
    case = make_case()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        case = services.case_verify(case=case, actor=Actor.subject())
    assert callbacks, "gathering must be enqueued after commit"
    case.refresh_from_db()
    # With no source systems configured, nothing can be searched: the case waits for an
    # identifier (never in review as if the subject had no data).
    assert case.state == State.NEEDS_IDENTIFIER
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions[-3:] == [
        "case.gathering_started",
        "gathering.nothing_to_search",
        "case.identifier_needed",
    ]


def test_answered_returns_to_the_state_the_case_came_from(make_case, alice):
    for state in [State.RECEIVED, State.VERIFIED, State.IN_REVIEW]:
        case = bring_to(state, make_case(email=f"{state}@demo.example"), alice)
        case = services.case_ask_subject(
            case=case, actor=Actor.staff(alice), purpose="clarification", message="Which?"
        )
        assert case.state == State.AWAITING_SUBJECT
        case = services.case_answered(case=case, actor=Actor.subject(), note="This one")
        assert case.state == state
        assert case.awaiting_from == ""


def test_asking_for_identity_pauses_the_gdpr_clock(make_case, alice):
    received = timezone.now() - dt.timedelta(days=3)
    case = make_case(received_at=received, regime="gdpr")
    due_before = case.due_at
    case = services.case_ask_subject(
        case=case, actor=Actor.staff(alice), purpose="identity", message="Proof?"
    )
    assert case.paused_at is not None
    Case.objects.filter(pk=case.pk).update(paused_at=timezone.now() - dt.timedelta(days=5))
    case = services.case_answered(case=case, actor=Actor.subject())
    assert case.paused_days == 5
    assert (case.due_at - due_before).days == 5
    assert case.paused_at is None


def test_a_clarification_does_not_pause_the_gdpr_clock(make_case, alice):
    case = bring_to(State.VERIFIED, make_case(regime="gdpr"), alice)
    case = services.case_ask_subject(
        case=case, actor=Actor.staff(alice), purpose="clarification", message="?"
    )
    assert case.paused_at is None


def test_the_ccpa_clock_never_pauses(make_case, alice):
    case = make_case(regime="ccpa")
    case = services.case_ask_subject(
        case=case, actor=Actor.staff(alice), purpose="identity", message="Proof?"
    )
    assert case.paused_at is None


def test_an_unknown_ask_purpose_is_refused(make_case, alice):
    with pytest.raises(ValidationError):
        services.case_ask_subject(
            case=make_case(), actor=Actor.staff(alice), purpose="dna", message="?"
        )


def test_expiry_needs_fourteen_days_without_verification(make_case, system):
    case = make_case(received_at=timezone.now() - dt.timedelta(days=13))
    with pytest.raises(TransitionNotAllowed):
        services.case_expire(case=case, actor=system)
    Case.objects.filter(pk=case.pk).update(
        received_at=timezone.now() - dt.timedelta(days=14, minutes=1)
    )
    case = services.case_expire(case=case, actor=system)
    assert case.state == State.EXPIRED


def test_the_expiry_sweep_closes_only_old_unverified_cases(make_case, alice):
    from casework.tasks import expire_unverified_cases

    old = make_case(email="old@demo.example", received_at=timezone.now() - dt.timedelta(days=20))
    fresh = make_case(email="fresh@demo.example")
    old_verified = bring_to(
        State.VERIFIED,
        make_case(email="v@demo.example", received_at=timezone.now() - dt.timedelta(days=20)),
        alice,
    )
    assert expire_unverified_cases() == 1
    states = {c.pk: c.state for c in Case.objects.all()}
    assert states[old.pk] == State.EXPIRED
    assert states[fresh.pk] == State.RECEIVED
    assert states[old_verified.pk] == State.VERIFIED


@pytest.mark.parametrize("request_type", ["access", "portability"])
def test_staff_cannot_mark_an_access_or_portability_case_fulfilled(request_type, make_case, alice):
    case = bring_to(State.FULFILLING, make_case(request_type=request_type), alice)
    case = mark_bundle_ready(services.case_record_response(case=case, actor=Actor.staff(alice)))
    with pytest.raises(TransitionNotAllowed, match="completes by itself once the subject is told"):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert Case.objects.get(pk=case.pk).state == State.FULFILLING


def test_access_cannot_complete_without_its_bundle_even_when_told(make_case, alice):
    case = bring_to(State.FULFILLING, make_case(request_type="access"), alice)
    notices.record_notice(case=case, notice="ready", channel="email")
    case = services.case_complete_when_told(case=case)
    assert case.state == State.FULFILLING and case.closed_at is None
    assert not AuditEvent.objects.filter(case=case, action="case.completed").exists()


def test_a_marketing_objection_is_carried_out_after_one_persons_review(make_case, alice):
    objection = make_case(request_type="objection", details={"direct_marketing": True})
    case = bring_to(State.FULFILLING, objection, alice)
    assert case.plans.get().submitted_by == case.plans.get().approved_by == alice
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    assert services.case_fulfil(case=case, actor=Actor.staff(alice)).state == State.COMPLETED


def test_erasure_plan_cannot_be_approved_by_the_person_who_submitted_it(make_case, alice, bob):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(request_type="erasure"), alice), alice)
    with pytest.raises(ValidationError, match="No plan"):
        services.case_approve(case=case, actor=Actor.staff(alice))
    plan_submitted(case, alice)
    with pytest.raises(ValidationError, match="submitted the plan cannot approve"):
        services.case_approve(case=case, actor=Actor.staff(alice))
    case = services.case_approve(case=case, actor=Actor.staff(bob))
    assert case.state == State.FULFILLING
    assert case.approved_by == bob
    assert case.plans.get().approved_by == bob


def test_rectification_follows_four_eyes_too(make_case, alice, dora):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(request_type="rectification"), alice), dora)
    plan_submitted(case, dora, corrections="business_phone: +355691111111")
    with pytest.raises(ValidationError):
        services.case_approve(case=case, actor=Actor.staff(dora))
    assert services.case_approve(case=case, actor=Actor.staff(alice)).state == State.FULFILLING


def test_a_plan_is_only_for_changing_requests(make_case, alice):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(request_type="access"), alice), alice)
    with pytest.raises(ValidationError):
        services.case_draft_plan(case=case, actor=Actor.staff(alice))


def test_a_plan_is_drafted_only_after_the_review(make_case, alice):
    case = bring_to(State.IN_REVIEW, make_case(request_type="erasure"), alice)
    with pytest.raises(ValidationError, match="review"):
        services.case_draft_plan(case=case, actor=Actor.staff(alice))


def test_an_erasure_completes_only_once_its_plan_is_carried_out(make_case, alice, bob):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(request_type="erasure"), alice), alice)
    plan_submitted(case, alice)
    case = services.case_approve(case=case, actor=Actor.staff(bob))
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    with pytest.raises(TransitionNotAllowed, match="changes have not all been made"):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    case = carried_out(case)
    assert services.case_fulfil(case=case, actor=Actor.staff(alice)).state == State.COMPLETED


def test_proceeding_without_a_source_needs_a_reason(make_case, alice):
    case = bring_to(State.GATHERING, make_case(), alice)
    with pytest.raises(ValidationError):
        services.case_proceed_without_source(case=case, actor=Actor.staff(alice), reason="")
    case = services.case_proceed_without_source(
        case=case, actor=Actor.staff(alice), reason="HR archive is offline"
    )
    assert case.state == State.IN_REVIEW
    assert case.sources_skipped_reason == "HR archive is offline"


def test_merge_folds_a_duplicate_into_an_open_case(make_case, alice):
    first = make_case()
    second = make_case()
    merged = services.case_merge(case=second, actor=Actor.staff(alice), into=first)
    assert merged.state == State.MERGED
    assert merged.merged_into == first
    assert AuditEvent.objects.filter(case=first, action="case.merged_in").exists()


def test_merge_refuses_itself_and_closed_targets(make_case, alice):
    case = make_case()
    with pytest.raises(ValidationError):
        services.case_merge(case=case, actor=Actor.staff(alice), into=case)
    closed = services.case_withdraw(case=make_case(), actor=Actor.subject())
    with pytest.raises(ValidationError):
        services.case_merge(case=case, actor=Actor.staff(alice), into=closed)


def test_inactive_staff_can_do_nothing(make_case):
    gone = make_staff("gone", "privacy_team", is_active=False)
    with pytest.raises(PermissionDenied):
        services.case_verify(case=make_case(), actor=Actor.staff(gone), note="x")


def test_two_stale_copies_of_a_case_cannot_both_transition(make_case, alice):
    case = make_case()
    first = Case.objects.get(pk=case.pk)
    second = Case.objects.get(pk=case.pk)
    first.verify(how="staff_check", by=alice)
    first.save()
    second.withdraw()
    with pytest.raises(ConcurrentTransition):
        second.save()


def test_the_state_field_cannot_be_set_directly(make_case):
    case = make_case()
    with pytest.raises(AttributeError):
        case.state = State.COMPLETED


def test_assignment_only_to_case_workers_and_audited(make_case, alice, bob, audrey):
    case = make_case()
    case = services.case_assign(case=case, actor=Actor.staff(alice), assignee=bob)
    assert case.assignee == bob
    assert AuditEvent.objects.filter(case=case, action="case.assigned").exists()
    with pytest.raises(ValidationError):
        services.case_assign(case=case, actor=Actor.staff(alice), assignee=audrey)
    with pytest.raises(PermissionDenied):
        services.case_assign(case=case, actor=Actor.staff(audrey), assignee=bob)


def test_access_is_approved_only_after_the_review_is_complete(make_case, alice):
    case = bring_to(State.IN_REVIEW, make_case(request_type="access"), alice)
    with pytest.raises(TransitionNotAllowed, match="review"):
        services.case_approve(case=case, actor=Actor.staff(alice))
    case = reviewed(case, alice)
    case = services.case_approve(case=case, actor=Actor.staff(alice))
    assert case.state == State.FULFILLING
    assert case.bundles.get().state == "pending"  # its build is queued after commit
