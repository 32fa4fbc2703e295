"""A "sale:opt-in": an objection case marked as a lifting. Identity confirmed, it is carried
out by one person with the `lift_objection` operation: the subject's opt-outs are marked
lifted (when, by which case) and kept; no source system is searched or changed, and the
subject is told so."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django_fsm import TransitionNotAllowed

from casework import operations, selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, ConnectorRun, Notice, OptOut, State
from casework.notifications import notify_subject
from tests.casework.helpers import bring_to
from tests.casework.test_opt_out import ARTA, OPT_OUT, _pdf_text

pytestmark = pytest.mark.django_db
OPT_IN = {"direct_marketing": True, "disclosure": True, "lifting": True}


@pytest.fixture(autouse=True)
def register(db):
    call_command("load_data_map", verbosity=0)


@pytest.fixture
def opt_out(make_case, alice) -> Case:
    """Her earlier opt-out of marketing and disclosure, carried out (no system holds her)."""
    case = bring_to(State.FULFILLING, make_case(request_type="objection", details=OPT_OUT), alice)
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    case = services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert selectors.disclosure_stopped(email=ARTA) and selectors.marketing_stopped(email=ARTA)
    return case


def opt_in(make_case, capture, **intake) -> Case:
    """Her opt-in, confirmed by her own e-mail link (in-process)."""
    case = make_case(request_type="objection", details=OPT_IN, **intake)
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    return Case.objects.get(pk=case.pk)


def test_an_opt_in_lifts_her_opt_outs_and_keeps_them(
    opt_out, make_case, bob, mailoutbox, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    case = opt_in(make_case, capture)
    # Nothing in the systems is needed to lift our own record: no search, and the case says so.
    assert case.state == State.IN_REVIEW
    assert not ConnectorRun.objects.filter(case=case).exists()
    event = AuditEvent.objects.get(case=case, action="gathering.not_needed")
    assert event.details == {"why": "objection_lifting"}

    lift = operations.get("lift_objection")
    assert lift.offered(case, Actor.staff(bob))
    with capture(execute=True):
        case = lift.run(
            case=case,
            actor=Actor.staff(bob),
            values={"note": "Opt-in received through the agent; e-mail confirmed by link"},
        )
    assert case.state == State.COMPLETED
    assert case.approved_by == bob  # one person: no plan, no second approver
    assert not case.plans.exists()

    rows = OptOut.objects.filter(case=opt_out)
    assert rows.count() == 2  # kept, never deleted
    assert all(row.lifted_at is not None and row.lifted_by_case == case for row in rows)
    assert not selectors.disclosure_stopped(email=ARTA)
    assert not selectors.marketing_stopped(email=ARTA)

    lifted = AuditEvent.objects.get(case=case, action="optout.lifted")
    assert lifted.actor == bob and lifted.actor_kind == "staff"
    assert lifted.details["rows"] == 2
    assert lifted.details["kinds"] == ["disclosure", "marketing"]
    assert lifted.details["opt_out_cases"] == [opt_out.reference]
    assert ARTA not in str(lifted.details)
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    start = actions.index("optout.lifted")
    assert actions[start : start + 4] == [
        "optout.lifted",
        "case.approved",
        "case.response_sent",
        "case.fulfilled",
    ]

    # Told by the completion notice: lifted, kept, and the systems' lists unchanged.
    (message,) = [m for m in mailoutbox if m.to == [ARTA] and "completed" in m.subject]
    assert "is lifted as of" in message.body
    assert "does not by itself change the suppression lists" in message.body
    letter = _pdf_text(message.attachments[0][1])
    assert "asked us to lift your objection to direct marketing" in letter
    assert "is lifted as of" in letter and "suppression lists" in letter


def test_a_later_opt_out_is_in_force_again_and_the_history_stays(
    opt_out, make_case, bob, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        services.case_lift_objection(
            case=opt_in(make_case, capture), actor=Actor.staff(bob), note="Checked"
        )
    again = bring_to(State.FULFILLING, make_case(request_type="objection", details=OPT_OUT), alice)
    again = services.case_record_response(case=again, actor=Actor.staff(alice))
    services.case_fulfil(case=again, actor=Actor.staff(alice))
    assert selectors.disclosure_stopped(email=ARTA)
    history = list(OptOut.objects.filter(kind="disclosure").order_by("created_at", "pk"))
    assert [(row.case, row.lifted_at is not None) for row in history] == [
        (opt_out, True),
        (again, False),
    ]


def test_only_what_she_proved_she_holds_is_lifted(
    opt_out, make_case, bob, django_capture_on_commit_callbacks
):
    """An opt-in lets marketing and disclosure resume: a staff check by call-back proves the
    person, not the address typed in the request, so nothing is lifted by it."""
    case = make_case(request_type="objection", details=OPT_IN)
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_verify(
            case=case, actor=Actor.staff(bob), note="Call-back to the phone on record"
        )
    case = Case.objects.get(pk=case.pk)
    case = services.case_lift_objection(case=case, actor=Actor.staff(bob), note="Asked by phone")
    assert case.state == State.COMPLETED
    assert selectors.disclosure_stopped(email=ARTA)
    assert AuditEvent.objects.get(case=case, action="optout.lifted").details["rows"] == 0
    lines = selectors.opt_out_told(case)
    assert "nothing to lift" in lines[0]


def test_lifting_is_refused_where_it_does_not_apply(
    opt_out, make_case, alice, dora, audrey, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    lift = operations.get("lift_objection")
    # Not an opt-in: an opt-out in review.
    objection = bring_to(
        State.IN_REVIEW, make_case(request_type="objection", details=OPT_OUT), alice
    )
    assert "marked as a lifting" in lift.refusal(objection, Actor.staff(alice))
    with pytest.raises(ValidationError, match="marked as a lifting"):
        services.case_lift_objection(case=objection, actor=Actor.staff(alice), note="No")
    # Not yet verified.
    received = make_case(request_type="objection", details=OPT_IN)
    with pytest.raises(TransitionNotAllowed, match="in review"):
        services.case_lift_objection(case=received, actor=Actor.staff(alice), note="Too soon")
    # The auditor reads, never lifts; the privacy team and the DPO may.
    case = opt_in(make_case, capture)
    assert not lift.offered(case, Actor.staff(audrey))
    with pytest.raises(PermissionDenied):
        services.case_lift_objection(case=case, actor=Actor.staff(audrey), note="Mine")
    assert lift.offered(case, Actor.staff(dora)) and lift.offered(case, Actor.staff(alice))
    # A note is required.
    with pytest.raises(ValidationError):
        services.case_lift_objection(case=case, actor=Actor.staff(alice), note=" ")
    # A lifting is no plan of changes, and no objection for the DPO to decide.
    for name in ("draft_plan", "decide_objection", "approve"):
        assert not operations.get(name).offered(case, Actor.staff(dora)), name
    assert selectors.disclosure_stopped(email=ARTA)  # nothing refused changed anything
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW
    # Done once: the completed case is no longer offered it.
    case = services.case_lift_objection(case=case, actor=Actor.staff(alice), note="Checked")
    assert not lift.offered(case, Actor.staff(alice))


def test_the_completion_notice_of_an_opt_in_is_in_albanian_too(
    opt_out, make_case, bob, mailoutbox, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    case = opt_in(make_case, capture, language="sq")
    case = services.case_lift_objection(case=case, actor=Actor.staff(bob), note="Checked")
    mailoutbox.clear()
    assert notify_subject(case, Notice.COMPLETED) == "email"
    (message,) = mailoutbox
    assert "është hequr" in message.body
    assert "listat e përjashtimit" in message.body
    letter = _pdf_text(message.attachments[0][1])
    assert "është hequr" in letter
