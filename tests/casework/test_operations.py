"""casework.operations: each operation is offered exactly when its service accepts it, in every
state a case can be in; the admin shows exactly the operations offered; and `manage.py case`
runs each of them through the same checks, refusals included."""

from __future__ import annotations

import datetime as dt
import getpass

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from casework import deadlines, notifications, operations, roles, services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import AuditEvent, Bundle, Case, ConnectorRun, Notice, State
from dsar.models import SourceSystem
from tests.casework.helpers import bring_to, plan_submitted, rectifiable_system, reviewed
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"

# Every state a case's operations depend on, as (label, request type).
SITUATIONS = [
    ("received", "access"),
    ("verified", "access"),
    ("awaiting_subject", "access"),
    ("gathering", "access"),
    ("gathering_blocked", "access"),
    ("needs_identifier", "access"),
    ("lookalike", "access"),
    ("in_review", "access"),
    ("reviewed", "access"),
    ("in_review", "erasure"),
    ("reviewed", "erasure"),
    ("drafted", "erasure"),
    ("planned", "erasure"),
    ("drafted", "rectification"),
    ("fulfilling", "erasure"),
    ("fulfilling", "access"),
    ("responded", "access"),
    ("responded", "erasure"),
    ("flagged", "erasure"),
    ("released", "access"),
    ("completed", "access"),
    ("revoked", "access"),
    ("rejected", "access"),
    ("withdrawn", "access"),
    ("in_review", "opt_in"),
]


class Rollback(Exception):
    pass


def situation(label: str, request_type: str, make_case, alice, bob) -> Case:
    """A case in the situation `label`, made through the real services."""
    if request_type == "opt_in":  # an objection marked as a lifting ("sale:opt-in")
        opt_in = {"direct_marketing": True, "disclosure": True, "lifting": True}
        return bring_to(label, make_case(request_type="objection", details=opt_in), alice)
    case = make_case(request_type=request_type)
    team = Actor.staff(alice)
    if label in ("received", "verified", "awaiting_subject", "gathering", "in_review"):
        return bring_to(label, case, alice)
    if label == "needs_identifier":
        # A letter with only a name and an address: nothing reaches the CRM, searchable by
        # customer number (its folder needs not exist to plan a search).
        SourceSystem.objects.create(
            name="CRM",
            slug="crm-files",
            connector="files",
            config={"folder": "/nonexistent", "identifiers": {"customer_number": "No"}},
        )
        letter = make_case(email="", postal_address="Rruga e Durrësit 12", name="Arta")
        services.case_verify(case=letter, actor=team, note="Signed letter on file")
        services.start_gathering(letter.pk)
        return Case.objects.get(pk=letter.pk)
    if label == "lookalike":
        # Lina's address is held (her case); a request from a look-alike of it (a Cyrillic е
        # in the domain) is flagged. Not Arta's: every later case of hers would look like it.
        make_case(email="lina@demo.example")
        lookalike = make_case(email="lina@d\u0435mo.example")
        return bring_to(State.IN_REVIEW, lookalike, alice)
    if label == "gathering_blocked":
        case = bring_to(State.GATHERING, case, alice)
        system = SourceSystem.objects.create(name="CRM", slug="crm", connector="manual")
        ConnectorRun.objects.create(case=case, system=system, state=ConnectorRun.State.FAILED)
        Case.objects.filter(pk=case.pk).update(gathering_blocked_at=timezone.now())
        return Case.objects.get(pk=case.pk)
    if label == "reviewed":
        return reviewed(bring_to(State.IN_REVIEW, case, alice), alice)
    if label == "drafted":
        case = reviewed(bring_to(State.IN_REVIEW, case, alice), alice)
        corrections = ""
        if request_type == "rectification":
            rectifiable_system()
            corrections = "job_title: Head of printing"
        plan = services.case_draft_plan(case=case, actor=team, corrections=corrections)
        assert fulfilment.draft(plan.pk) == "drafted"
        return Case.objects.get(pk=case.pk)
    if label == "planned":
        case = reviewed(bring_to(State.IN_REVIEW, case, alice), alice)
        plan_submitted(case, alice)
        return Case.objects.get(pk=case.pk)
    if label == "fulfilling":
        return bring_to(State.FULFILLING, case, alice, approver=bob)
    if label == "responded":
        case = bring_to(State.FULFILLING, case, alice, approver=bob)
        return services.case_record_response(case=case, actor=team)
    if label == "flagged":
        # Carried out, and the verification scan found a record the plan does not keep.
        case = bring_to(State.FULFILLING, case, alice, approver=bob)
        now = timezone.now()
        case.plans.filter(state="approved").update(
            executed_at=now,
            verified_at=now,
            verification={
                "crm": {"found": 1, "kept": 0, "unexpected": ["x"], "unexpected_count": 1}
            },
            verification_clean=False,
        )
        return Case.objects.get(pk=case.pk)
    if label == "completed":
        # The bundle built, and the subject told by e-mail: the case completed by itself.
        case = bring_to(State.FULFILLING, case, alice, approver=bob)
        bundle = Bundle.objects.get(case=case)
        Bundle.objects.filter(pk=bundle.pk).update(
            state=Bundle.State.READY, file="bundles/test.zip.enc", finished_at=timezone.now()
        )
        services.case_mark_bundle_ready(case_id=case.pk, at=timezone.now())
        notifications.notify_subject(Case.objects.get(pk=case.pk), Notice.READY)
        case = Case.objects.get(pk=case.pk)
        assert case.state == State.COMPLETED
        return case
    if label in ("released", "revoked"):
        # The bundle built and stored (its file is not read by any operation here).
        case = bring_to(State.FULFILLING, case, alice, approver=bob)
        bundle = Bundle.objects.get(case=case)
        Bundle.objects.filter(pk=bundle.pk).update(
            state=Bundle.State.READY, file="bundles/test.zip.enc", finished_at=timezone.now()
        )
        if label == "revoked":
            dpo = make_staff("drita", roles.DPO)
            services.release_revoke(case=case, actor=Actor.staff(dpo), reason="Wrong Arta")
        return Case.objects.get(pk=case.pk)
    if label == "rejected":
        dpo = make_staff("dina", roles.DPO)
        return services.case_reject(case=case, actor=Actor.staff(dpo), reason="Repeated")
    if label == "withdrawn":
        return services.case_withdraw(case=case, actor=team)
    raise ValueError(label)


def good_values(name: str, case: Case, make_case, alice) -> dict:
    """Values the operation's form accepts: a refusal then is the service's, never the input's."""
    if name == "merge":
        target = make_case(email="other@demo.example")
        return {"into": target}
    return {
        "verify": {"note": "Called back the number on record"},
        "ask_subject": {"purpose": "clarification", "note": "Which account do you mean?"},
        "proceed_without_source": {"reason": "The CRM was retired"},
        "draft_plan": {"corrections": "job_title: Head of printing"},
        "decide_records": {"decision": "keep", "records": "all"},
        "confirm_manual_action": {"action": "1", "note": "Shredded the paper list"},
        "record_recipient_notice": {"recipient": "group_companies", "outcome": "sent"},
        "extend": {
            "date": deadlines.local_date(case.due_at) + dt.timedelta(days=5),
            "reason": "Many systems",
        },
        "reject": {"reason": "Manifestly unfounded", "unfounded": False},
        "set_legal_hold": {"reason": "Inquiry of the authority, ref. IDP-17"},
        "assign": {"assignee": alice},
        "add_note": {"note": "Called twice"},
        "make_confidential": {"reason": "A complaint about a member of staff"},
        "drp_denial_reason": {"reason": "claim_not_covered"},
        "end_confidential": {"reason": "The complaint is closed"},
        "name_confidential_staff": {"staff": alice},
        "remove_confidential_staff": {"staff": alice},
        "clear_lookalike": {"note": "Called the phone on the customer record"},
        "approve": {"acknowledge": True},
        "revoke_release": {"reason": "The bundle holds another Arta's orders"},
        "lift_restriction": {"reason": "The accuracy she contested is verified"},
        "lift_objection": {"note": "Her opt-in, confirmed by her e-mail link"},
        "decide_objection": {"outcome": "stop", "reason": "Her interests outweigh ours"},
        "search_again": {"note": "A sign-up of hers arrived after the plan was drafted"},
        "add_identifier": {
            "kind": "customer_number",
            "value": "C-100042",
            "note": "Printed on the signed letter",
        },
    }.get(name, {})


def accepted(op: operations.Operation, case: Case, actor: Actor, values: dict) -> bool:
    """Whether the service does it (then undone), or refuses it."""
    try:
        with transaction.atomic():
            op.run(case=Case.objects.get(pk=case.pk), actor=actor, values=values)
            raise Rollback
    except Rollback:
        return True
    except operations.REFUSALS:
        return False


@pytest.mark.parametrize("name", [op.name for op in operations.OPERATIONS])
@pytest.mark.parametrize(("label", "request_type"), SITUATIONS)
def test_an_operation_is_offered_exactly_when_its_service_accepts_it(
    name, label, request_type, make_case, alice, bob, dora
):
    case = situation(label, request_type, make_case, alice, bob)
    op = operations.get(name)
    # Alice prepared every plan, so the DPO approves with four eyes; Alice may not.
    for user in (dora, alice):
        actor = Actor.staff(user)
        values = good_values(name, case, make_case, alice)
        offered = op.offered(case, actor)
        assert offered == accepted(op, case, actor, values), (
            user.username,
            op.refusal(case, actor),
        )


@pytest.mark.parametrize(("label", "request_type"), SITUATIONS)
def test_the_admin_shows_exactly_the_operations_offered(
    label, request_type, make_case, alice, bob, dora, client
):
    import re

    case = situation(label, request_type, make_case, alice, bob)
    client.force_login(dora)
    page = client.get(reverse("admin:casework_case_change", args=[case.pk])).content.decode()
    prefix = re.escape(reverse("admin:casework_case_operation", args=[case.pk, "x"])[:-2])
    shown = set(re.findall(prefix + r"(\w+)/", page))
    expected = {op.name for op in operations.offered(case, Actor.staff(dora)) if op.button}
    assert shown == expected


def test_every_operation_of_the_issue_is_in_the_list():
    assert [op.name for op in operations.OPERATIONS] == [
        "verify",
        "ask_subject",
        "answered",
        "proceed_without_source",
        "add_identifier",
        "clear_lookalike",
        "retry_sources",
        "complete_review",
        "reopen_review",
        "decide_objection",
        "draft_plan",
        "decide_records",
        "submit_plan",
        "approve",
        "confirm_manual_action",
        "record_recipient_notice",
        "retry_actions",
        "search_again",
        "record_response",
        "fulfil",
        "revoke_release",
        "lift_restriction",
        "lift_objection",
        "extend",
        "reject",
        "withdraw",
        "merge",
        "assign",
        "drp_denial_reason",
        "make_confidential",
        "name_confidential_staff",
        "remove_confidential_staff",
        "end_confidential",
        "set_legal_hold",
        "lift_legal_hold",
        "add_note",
    ]


# --- manage.py case ------------------------------------------------------------------------------


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("case", *args, stdout=out)
    return out.getvalue()


def test_the_command_runs_an_operation_as_the_staff_member_and_prints_the_new_state(
    make_case, alice
):
    case = make_case()
    out = run(case.reference, "verify", "--staff", "alice", "--note", "Called back the CRM number")
    assert f"{case.reference}: Verified (verified)" in out
    event = AuditEvent.objects.get(case=case, action="case.verified")
    assert event.actor == alice
    assert event.details["entered_via"] == "command_line"
    assert event.details["os_user"] == getpass.getuser()


@pytest.mark.parametrize(
    ("label", "request_type", "args", "state"),
    [
        (
            "received",
            "access",
            ["ask_subject", "--field", "purpose=identity", "--note", "?"],
            "awaiting_subject",
        ),
        ("awaiting_subject", "access", ["answered", "--note", "By phone"], "verified"),
        (
            "gathering_blocked",
            "access",
            ["proceed_without_source", "--reason", "Retired"],
            "in_review",
        ),
        ("gathering_blocked", "access", ["retry_sources"], "gathering"),
        ("in_review", "access", ["complete_review"], "in_review"),
        ("reviewed", "access", ["reopen_review"], "in_review"),
        ("reviewed", "erasure", ["draft_plan"], "in_review"),
        ("drafted", "erasure", ["submit_plan"], "in_review"),
        ("reviewed", "access", ["approve", "--note", "Looks right"], "fulfilling"),
        ("fulfilling", "access", ["record_response", "--note", "By post"], "fulfilling"),
        (
            "received",
            "access",
            ["reject", "--reason", "Repeated", "--field", "unfounded=yes"],
            "rejected",
        ),
        ("received", "access", ["withdraw"], "withdrawn"),
        ("received", "access", ["assign", "--field", "assignee=alice"], "received"),
        ("received", "access", ["add_note", "--note", "Called twice"], "received"),
        ("released", "access", ["revoke_release", "--reason", "Another Arta's data"], "in_review"),
    ],
)
def test_the_command_runs_each_operation(
    label, request_type, args, state, make_case, alice, bob, dora
):
    case = situation(label, request_type, make_case, alice, bob)
    out = run(case.reference, *args[:1], "--staff", "dora", *args[1:])
    assert out.strip().endswith(f"({state})")
    case.refresh_from_db()
    assert case.state == state
    latest = AuditEvent.objects.filter(case=case).order_by("-seq").first()
    assert latest.details["entered_via"] == "command_line"


def test_the_command_extends_merges_and_fulfils(make_case, alice, bob, dora):
    case = make_case()
    new_due = deadlines.local_date(case.due_at) + dt.timedelta(days=10)
    run(
        case.reference,
        "extend",
        "--staff",
        "dora",
        "--date",
        new_due.isoformat(),
        "--reason",
        "Many systems",
    )
    case.refresh_from_db()
    assert deadlines.local_date(case.due_at) == new_due
    duplicate = make_case()
    assert "(merged)" in run(
        duplicate.reference, "merge", "--staff", "alice", "--into", case.reference
    )
    responded = situation("responded", "erasure", make_case, alice, bob)
    assert "(completed)" in run(responded.reference, "fulfil", "--staff", "alice")


def test_the_command_does_not_fulfil_an_access_case_by_hand(make_case, alice, bob):
    responded = situation("responded", "access", make_case, alice, bob)
    from tests.casework.helpers import mark_bundle_ready

    mark_bundle_ready(responded)
    with pytest.raises(CommandError, match="completes by itself once the subject is told"):
        run(responded.reference, "fulfil", "--staff", "alice")
    assert Case.objects.get(pk=responded.pk).state == State.FULFILLING


def test_a_refusal_prints_the_services_reason_and_exits_1(make_case, alice):
    case = make_case()
    with pytest.raises(CommandError, match="not possible while the case is") as exc:
        run(case.reference, "fulfil", "--staff", "alice")
    assert exc.value.returncode == 1
    with pytest.raises(CommandError, match="not allowed"):
        run(case.reference, "reject", "--staff", "alice", "--reason", "No")  # the DPO's
    assert Case.objects.get(pk=case.pk).state == State.RECEIVED


def test_bad_input_is_refused_naming_the_option(make_case, alice):
    case = make_case()
    with pytest.raises(CommandError, match="--note: This field is required"):
        run(case.reference, "verify", "--staff", "alice")
    with pytest.raises(CommandError, match="verify does not take --date; it takes --note"):
        run(case.reference, "verify", "--staff", "alice", "--note", "x", "--date", "2027-01-01")
    with pytest.raises(CommandError, match="no operation 'teleport'"):
        run(case.reference, "teleport", "--staff", "alice")
    with pytest.raises(CommandError, match="No active staff member"):
        run(case.reference, "verify", "--staff", "nobody", "--note", "x")
    with pytest.raises(CommandError, match="--staff"):
        run(case.reference, "verify", "--note", "x")
    with pytest.raises(CommandError, match="No case has the reference"):
        run("DSAR-1999-000001")
    with pytest.raises(CommandError, match="--field unfounded= takes yes or no"):
        run(
            case.reference,
            "reject",
            "--staff",
            "alice",
            "--reason",
            "x",
            "--field",
            "unfounded=maybe",
        )


def test_a_service_refusal_of_a_value_names_the_option(make_case, dora):
    case = make_case()
    too_late = deadlines.local_date(case.received_at) + dt.timedelta(days=400)
    with pytest.raises(CommandError, match=r"--date: .*allows extending to"):
        run(
            case.reference,
            "extend",
            "--staff",
            "dora",
            "--date",
            too_late.isoformat(),
            "--reason",
            "x",
        )


def test_four_eyes_hold_on_the_command_line_whatever_staff_it_names(make_case, alice, bob):
    case = situation("drafted", "erasure", make_case, alice, bob)
    run(case.reference, "submit_plan", "--staff", "alice")
    with pytest.raises(CommandError, match="operating-system account"):
        run(case.reference, "approve", "--staff", "bob")
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW
    # Bob, signed in as himself (the admin), approves.
    services.case_approve(case=case, actor=Actor.staff(bob))
    assert Case.objects.get(pk=case.pk).state == State.FULFILLING


def test_showing_a_case_prints_its_state_due_date_and_the_operations_offered(make_case, alice):
    case = make_case()
    out = run(case.reference)
    assert case.reference in out
    assert "Received, not yet verified (received)" in out
    assert str(deadlines.local_date(case.due_at)) in out
    assert "verify" in out and "fulfil" not in out.split("offered")[1]
    mine = run(case.reference, "--staff", "alice")
    assert "reject" not in mine.split("offered")[1]  # the DPO's, not the privacy team's


@pytest.mark.parametrize("name", [op.name for op in operations.OPERATIONS])
def test_each_operation_names_the_permission_it_needs(name, make_case, alice, bob, dora):
    """The named permission is the one the check asks: a staff member who has every other
    permission but that one is never offered the operation."""
    from django.contrib.auth.models import Permission

    op = operations.get(name)
    assert op.permission.startswith("casework.")
    transition = getattr(Case, op.transition, None) if op.transition else None
    if transition is not None:
        (meta,) = {t.permission for t in transition._django_fsm.transitions.values()} - {None}
        assert op.permission in (meta, "casework.approve_case")
    codename = op.permission.split(".", 1)[1]
    without = make_staff("otto", roles.DPO)
    without.user_permissions.set(
        Permission.objects.filter(content_type__app_label="casework").exclude(codename=codename)
    )
    without.groups.clear()
    without = type(without).objects.get(pk=without.pk)  # a fresh permission cache
    for label, request_type in SITUATIONS:
        case = situation(label, request_type, make_case, alice, bob)
        assert not op.offered(case, Actor.staff(without)), label


# --- four eyes on releases, where a deployment asks for them ----------------------------------------


def test_by_default_the_reviewer_may_approve_a_release(make_case, alice):
    case = situation("reviewed", "access", make_case, alice, None)
    assert operations.get("approve").offered(case, Actor.staff(alice))


def test_with_four_eyes_on_releases_the_reviewer_may_not_approve_it(
    make_case, alice, bob, settings
):
    settings.DSAR_FOUR_EYES = ["access", "portability"]
    case = situation("reviewed", "access", make_case, alice, bob)  # Alice completed the review
    approve = operations.get("approve")
    assert "four eyes" in approve.refusal(case, Actor.staff(alice))
    with pytest.raises(PermissionDenied):
        services.case_approve(case=case, actor=Actor.staff(alice))
    assert approve.offered(case, Actor.staff(bob))
    assert services.case_approve(case=case, actor=Actor.staff(bob)).state == State.FULFILLING


def test_four_eyes_on_releases_hold_on_the_command_line_too(make_case, alice, bob, settings):
    settings.DSAR_FOUR_EYES = ["access"]
    case = situation("in_review", "access", make_case, alice, bob)
    run(case.reference, "complete_review", "--staff", "alice")
    with pytest.raises(CommandError, match="operating-system account"):
        run(case.reference, "approve", "--staff", "bob")


def test_four_eyes_cannot_be_set_for_a_type_that_does_not_exist():
    import subprocess
    import sys

    from django.conf import settings as django_settings

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **__import__("os").environ,
            "DSAR_FOUR_EYES": "access,teleport",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        },
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
    )
    assert result.returncode != 0 and "DSAR_FOUR_EYES" in result.stderr
