"""Bring cases into a given state through the real services."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from django.utils import timezone

from casework import services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import (
    CHANGING_TYPES,
    Case,
    FulfilmentPlan,
    ProcessorInstruction,
    RecipientNotice,
    State,
)
from casework.services import processors
from dsar.models import SourceSystem

TIRANE = ZoneInfo("Europe/Tirane")
_numbers = itertools.count(1)


def local(*args) -> dt.datetime:
    """A time in Tirana (the controller's zone in the demo and the tests)."""
    return dt.datetime(*args, tzinfo=TIRANE)


def a_case(**fields) -> Case:
    """A case row as the dashboard's figures read it (dates and state set directly)."""
    received = fields.pop("received_at", local(2026, 3, 2, 10))
    values = {
        "reference": f"DSAR-T-{next(_numbers):06d}",
        "request_type": "access",
        "regime": "gdpr",
        "channel": "web",
        "email": "subject@demo.example",
        "state": State.VERIFIED,
        "received_at": received,
        "due_at": received + dt.timedelta(days=30),
        **fields,
    }
    return Case.objects.create(**values)


def verified(case: Case, by) -> Case:
    return services.case_verify(
        case=case, actor=Actor.staff(by), note="Call-back to the phone on record"
    )


def in_review(case: Case, by) -> Case:
    case = verified(case, by)
    case = services.case_start_gathering(case=case, actor=Actor.system())
    return services.case_mark_gathered(case=case, actor=Actor.system())


def reviewed(case: Case, by) -> Case:

    return services.complete_review(case=case, actor=Actor.staff(by))


def rectifiable_system() -> SourceSystem:
    """A system that exports the job title and business phone, so that a rectification may
    name them (its database is never opened: no records of it are gathered)."""
    system, _created = SourceSystem.objects.get_or_create(
        slug="crm-fields",
        defaults={
            "name": "CRM (fields)",
            "connector": "sql",
            "config": {
                "url": "sqlite:////nonexistent/crm.sqlite3",
                "subject": {"table": "accounts", "key": "id", "identifiers": {"email": "email"}},
                "tables": {
                    "accounts": {
                        "category": "online_account",
                        "key": "id",
                        "subject_column": "id",
                        "columns": {
                            "position": {"field": "job_title"},
                            "phone": {"field": "business_phone"},
                        },
                    }
                },
            },
        },
    )
    return system


def plan_submitted(case: Case, by, corrections: str = "") -> FulfilmentPlan:
    """Draft the case's plan (the worker's drafting run here, in-process) and submit it."""
    if case.request_type == "rectification":
        rectifiable_system()
        corrections = corrections or "job_title: Head of printing"
    plan = services.case_draft_plan(case=case, actor=Actor.staff(by), corrections=corrections)
    assert fulfilment.draft(plan.pk) == "drafted"
    return services.case_submit_plan(case=case, actor=Actor.staff(by))


def carried_out(case: Case, *, others_told: bool = True) -> Case:
    """Run the newest approved plan's actions to the end, in-process, as the worker would;
    and (`others_told`) the processors instructed confirm, and every recipient is told."""
    plan = case.plans.filter(state=FulfilmentPlan.State.APPROVED).order_by("-number").first()
    while fulfilment.execute(plan.pk) not in ("nothing to run", "failed"):
        pass
    fulfilment.verify(plan.pk)  # queued on commit by the last action, which tests do not run
    if others_told:
        tell_others(case, plan.approved_by)
    case.refresh_from_db()
    return case


def tell_others(case: Case, by) -> None:
    """Every processor instructed for the case confirms (as staff record it), and every
    recipient to tell is told."""
    for instruction in ProcessorInstruction.objects.filter(case=case).exclude(state="confirmed"):
        processors.instruction_confirm(
            instruction=instruction, actor=Actor.staff(by), note="Confirmed on the phone"
        )
    for notice in RecipientNotice.objects.filter(case=case, outcome="pending"):
        processors.case_record_recipient_notice(
            case=case, actor=Actor.staff(by), recipient=notice.recipient.code, outcome="sent"
        )


def fulfilling(case: Case, by, approver=None) -> Case:
    case = in_review(case, by)
    if case.request_type in ("access", "portability"):
        case = reviewed(case, by)
    if case.request_type in CHANGING_TYPES:
        case = reviewed(case, by)
        plan_submitted(case, by)
        by = approver or by  # a marketing objection needs no second person
    case = services.case_approve(case=case, actor=Actor.staff(by))
    if case.request_type in CHANGING_TYPES:
        case = carried_out(case)
    return case


def mark_bundle_ready(case: Case) -> Case:
    # The bundle build (a later issue) sets this; here the condition itself is under test.
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=timezone.now())
    case.refresh_from_db()
    return case


def bring_to(state: str, case: Case, by, approver=None) -> Case:
    if state == State.RECEIVED:
        return case
    if state == State.VERIFIED:
        return verified(case, by)
    if state == State.GATHERING:
        return services.case_start_gathering(case=verified(case, by), actor=Actor.system())
    if state == State.IN_REVIEW:
        return in_review(case, by)
    if state == State.AWAITING_SUBJECT:
        return services.case_ask_subject(
            case=verified(case, by),
            actor=Actor.staff(by),
            purpose="clarification",
            message="Which account?",
        )
    if state == State.FULFILLING:
        return fulfilling(case, by, approver)
    raise ValueError(state)
