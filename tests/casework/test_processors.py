"""Processors and recipients: a system a processor runs for us gets an instruction whose
confirmation the case waits for (the e-mail carries the reference and a link, never personal
data; the link confirms once); the recipients the subject's data was disclosed to are each
told of the change, or the reason they are not is recorded (Art. 19); the case completes only
when nothing of either is open."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_fsm import TransitionNotAllowed

from casework import services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import AuditEvent, Case, ProcessorInstruction, RecipientNotice, State
from casework.services import processors
from dsar.models import Recipient, SourceSystem
from tests.casework.helpers import carried_out
from tests.casework.test_fulfilment import ARTA, drafted, ledger, reviewed_erasure  # noqa: F401

pytestmark = pytest.mark.django_db


def run_processor(**values) -> SourceSystem:
    system = SourceSystem.objects.get(slug="ledger")
    for name, value in values.items():
        setattr(system, name, value)
    system.save()
    return system


def approved(case, alice, bob, capture) -> Case:
    plan = drafted(case, alice)
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    with capture(execute=True):  # the e-mails to processors, and the execution
        return services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))


def changes_made(case, bob) -> Case:
    """The plan carried out, its paper list confirmed by hand; nobody else told yet."""
    case = carried_out(case, others_told=False)
    plan = case.plans.get(state="approved")
    for action in plan.actions.filter(state="waiting"):
        services.action_confirm(action=action, actor=Actor.staff(bob), note="Shredded")
    assert fulfilment.execute(plan.pk) == "nothing to run"
    fulfilment.verify(plan.pk)
    return Case.objects.get(pk=case.pk)


def link_in(body: str) -> str:
    (path,) = re.findall(r"https?://[^/\s]+(/\w\w/processor/[\w-]+/)", body)
    return path


def test_the_processors_email_carries_no_personal_data_and_its_link_confirms_once(
    reviewed_erasure,  # noqa: F811
    alice,
    bob,
    client,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    run_processor(processor="Ledger Hosting Sh.p.k.", processor_email="dpa@ledger.example")
    mailoutbox.clear()
    case = approved(reviewed_erasure, alice, bob, django_capture_on_commit_callbacks)
    instruction = ProcessorInstruction.objects.get(case=case)
    assert instruction.state == ProcessorInstruction.State.SENT
    (message,) = [m for m in mailoutbox if m.to == ["dpa@ledger.example"]]
    text = message.subject + message.body + message.alternatives[0][0]
    assert case.reference in text
    for personal in (ARTA, "arta", "Arta", "vegetarian", "paper"):
        assert personal not in text
    path = link_in(message.body)
    token = path.rstrip("/").rsplit("/", 1)[-1]
    assert token not in str(ProcessorInstruction.objects.values_list().get(pk=instruction.pk))

    page = client.get(path)
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    shown = page.content.decode()
    assert "account:1" in shown and "rows" in shown  # what to change, by record key
    assert ARTA not in shown and "vegetarian" not in shown
    assert ProcessorInstruction.objects.get(pk=instruction.pk).state == "sent"  # GET spends nothing

    assert client.post(path, {"name": "Besa Hoxha", "note": ""}).status_code == 400
    done = client.post(path, {"name": "Besa Hoxha", "note": "Deleted, and from the replica"})
    assert done.status_code == 200 and "Thank you" in done.content.decode()
    instruction.refresh_from_db()
    assert instruction.state == ProcessorInstruction.State.CONFIRMED
    assert instruction.confirmed_name == "Besa Hoxha" and instruction.confirmed_by is None
    event = AuditEvent.objects.get(case=case, action="processor.confirmed")
    assert event.details == {"plan": 1, "system": "ledger", "through": "link"}

    again = client.post(path, {"name": "Mallory", "note": "Again"})
    assert again.status_code == 410
    assert client.get(path).status_code == 410
    assert ProcessorInstruction.objects.get(pk=instruction.pk).confirmed_name == "Besa Hoxha"
    assert client.get(path.replace(token, token[:-2] + "xx")).status_code == 404


def test_an_expired_link_confirms_nothing(
    reviewed_erasure,  # noqa: F811
    alice,
    bob,
    client,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    run_processor(processor="Ledger Hosting Sh.p.k.", processor_email="dpa@ledger.example")
    mailoutbox.clear()
    case = approved(reviewed_erasure, alice, bob, django_capture_on_commit_callbacks)
    path = link_in(mailoutbox[-1].body)
    ProcessorInstruction.objects.filter(case=case).update(token_expires_at="2020-01-01T00:00Z")
    assert client.post(path, {"name": "Besa", "note": "Done"}).status_code == 410
    assert ProcessorInstruction.objects.get(case=case).state == "sent"


def test_the_case_completes_only_once_every_processor_confirmed_and_every_recipient_is_told(
    reviewed_erasure,  # noqa: F811
    alice,
    bob,
    django_capture_on_commit_callbacks,
):
    run_processor(processor="Ledger Hosting Sh.p.k.")  # no e-mail: instructed by phone
    SourceSystem.objects.get(slug="ledger").disclosed_to.set(
        Recipient.objects.filter(code__in=["group_companies", "marketing_lead_survey_providers"])
    )
    case = approved(reviewed_erasure, alice, bob, django_capture_on_commit_callbacks)
    assert [n.recipient.code for n in RecipientNotice.objects.filter(case=case)] == [
        "group_companies",
        "marketing_lead_survey_providers",
    ]
    case = changes_made(case, bob)
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    with pytest.raises(TransitionNotAllowed) as refused:
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert "a processor has not yet confirmed" in str(refused.value)
    assert "a recipient has not yet been told" in str(refused.value)

    instruction = ProcessorInstruction.objects.get(case=case)
    with pytest.raises(ValidationError):
        processors.instruction_confirm(instruction=instruction, actor=Actor.staff(bob), note=" ")
    processors.instruction_confirm(
        instruction=instruction, actor=Actor.staff(bob), note="Their DPO confirmed by phone"
    )
    with pytest.raises(TransitionNotAllowed) as refused:
        services.case_fulfil(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    assert "processor" not in str(refused.value) and "recipient" in str(refused.value)

    processors.case_record_recipient_notice(
        case=case, actor=Actor.staff(alice), recipient="group_companies", outcome="sent"
    )
    with pytest.raises(ValidationError, match="Give the reason"):
        processors.case_record_recipient_notice(
            case=case,
            actor=Actor.staff(alice),
            recipient="marketing_lead_survey_providers",
            outcome="disproportionate",
        )
    processors.case_record_recipient_notice(
        case=case,
        actor=Actor.staff(alice),
        recipient="marketing_lead_survey_providers",
        outcome="disproportionate",
        reason="The campaign provider's contract ended in 2024; it holds no list of ours.",
    )
    case = services.case_fulfil(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    assert case.state == State.COMPLETED


def case_command(*args: str) -> str:
    out = StringIO()
    call_command("case", *args, stdout=out)
    return out.getvalue()


def test_a_recipient_told_is_recorded_from_the_command_line(
    reviewed_erasure,  # noqa: F811
    alice,
    bob,
    django_capture_on_commit_callbacks,
):
    SourceSystem.objects.get(slug="ledger").disclosed_to.set(
        Recipient.objects.filter(code__in=["group_companies", "vendors_subcontractors"])
    )
    case = approved(reviewed_erasure, alice, bob, django_capture_on_commit_callbacks)
    shown = case_command(case.reference, "--staff", "alice")
    assert "group_companies: To be told" in shown
    assert "record_recipient_notice" in shown  # offered
    with pytest.raises(CommandError, match="reason"):
        case_command(
            case.reference,
            "record_recipient_notice",
            "--staff",
            "alice",
            "--field",
            "recipient=vendors_subcontractors",
            "--field",
            "outcome=impossible",
        )
    with pytest.raises(CommandError, match="No recipient with that code"):
        case_command(
            case.reference,
            "record_recipient_notice",
            "--staff",
            "alice",
            "--field",
            "recipient=police_regulators",
            "--field",
            "outcome=sent",
        )
    case_command(
        case.reference,
        "record_recipient_notice",
        "--staff",
        "alice",
        "--field",
        "recipient=group_companies",
        "--field",
        "outcome=sent",
    )
    case_command(
        case.reference,
        "record_recipient_notice",
        "--staff",
        "alice",
        "--field",
        "recipient=vendors_subcontractors",
        "--field",
        "outcome=impossible",
        "--reason",
        "The service partner has closed; nobody answers for it.",
    )
    notices = {
        n.recipient.code: (n.outcome, n.reason, n.recorded_by)
        for n in RecipientNotice.objects.filter(case=case)
    }
    assert notices == {
        "group_companies": ("sent", "", alice),
        "vendors_subcontractors": (
            "impossible",
            "The service partner has closed; nobody answers for it.",
            alice,
        ),
    }
    event = AuditEvent.objects.filter(case=case, action="recipient.notice_recorded").last()
    assert event.details["recipient"] == "vendors_subcontractors"
    assert event.details["outcome"] == "impossible" and "reason" not in event.details
    with pytest.raises(CommandError, match="No recipient waits"):
        case_command(
            case.reference,
            "record_recipient_notice",
            "--staff",
            "alice",
            "--field",
            "recipient=group_companies",
            "--field",
            "outcome=sent",
        )


def test_the_case_page_lists_the_recipients_and_the_plan_page_the_processors(
    reviewed_erasure,  # noqa: F811
    alice,
    bob,
    client,
    django_capture_on_commit_callbacks,
):
    run_processor(processor="Ledger Hosting Sh.p.k.")
    SourceSystem.objects.get(slug="ledger").disclosed_to.set(
        Recipient.objects.filter(code="group_companies")
    )
    case = approved(reviewed_erasure, alice, bob, django_capture_on_commit_callbacks)
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_change", args=[case.pk])).content.decode()
    assert "group_companies" in page and "To be told" in page
    assert (
        reverse("admin:casework_case_operation", args=[case.pk, "record_recipient_notice"]) in page
    )
    plan_page = client.get(reverse("admin:casework_case_plan", args=[case.pk, "latest"]))
    assert "Ledger Hosting Sh.p.k." in plan_page.content.decode()
    instruction = ProcessorInstruction.objects.get(case=case)
    client.post(
        reverse("admin:casework_case_processor_confirm", args=[case.pk, instruction.pk]),
        {"note": "Their DPO wrote to us"},
    )
    instruction.refresh_from_db()
    assert instruction.state == "confirmed" and instruction.confirmed_by == alice


def test_the_access_report_names_the_recipients_of_the_systems_that_hold_her_data(
    ledger,  # noqa: F811
    make_case,
    django_capture_on_commit_callbacks,
):
    from casework import selectors

    SourceSystem.objects.get(slug="ledger").disclosed_to.set(
        Recipient.objects.filter(code="vendors_subcontractors")
    )
    SourceSystem.objects.create(name="Empty", slug="empty", connector="manual", active=False)
    SourceSystem.objects.get(slug="empty").disclosed_to.set(
        Recipient.objects.filter(code="police_regulators")
    )
    case = make_case(email=ARTA, request_type="access")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    facts = selectors.bundle_facts(Case.objects.get(pk=case.pk), "access")
    assert facts.disclosed_to == ["Vendors and subcontractors"]
