"""Reads about cases (HackSoft style): lists for the admin and the schedules, and what a case
tells the subject."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from casework import deadlines
from casework.models import OPEN_STATES, AuditEvent, Case, CaseNote, ObjectionDecision, State


def expected_by(case: Case) -> dt.date:
    """The day the case is due, in the controller's time zone: its `due_at` (an extension
    moves it, a paused clock pushes it back; an opt-out of disclosure is due within 15
    business days). What the Data Rights Protocol's status object calls `expected_by`."""
    return deadlines.local_date(case.due_at)


def open_cases() -> QuerySet[Case]:
    return Case.objects.filter(state__in=OPEN_STATES)


def overdue_cases(*, now: dt.datetime | None = None) -> QuerySet[Case]:
    return open_cases().filter(due_at__lt=now or timezone.now())


def cases_due_within(*, days: int, now: dt.datetime | None = None) -> QuerySet[Case]:
    """Open cases due from now to the end of the day `days` days ahead (not yet overdue)."""
    now = now or timezone.now()
    horizon = deadlines.end_of_day(deadlines.local_date(now) + dt.timedelta(days=days))
    return open_cases().filter(due_at__gte=now, due_at__lte=horizon)


def cases_to_expire(*, now: dt.datetime | None = None) -> QuerySet[Case]:
    """Requests never verified within DSAR_UNVERIFIED_EXPIRY_DAYS."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.DSAR_UNVERIFIED_EXPIRY_DAYS)
    return Case.objects.filter(
        Q(state=State.RECEIVED, received_at__lte=cutoff)
        | Q(state=State.AWAITING_SUBJECT, awaiting_from=State.RECEIVED, awaiting_since__lte=cutoff)
    )


def possible_duplicate_of(case: Case) -> Case | None:
    """The oldest other open case of the same type from the same e-mail or customer number."""
    same_subject = Q()
    if case.email:
        same_subject |= Q(email=case.email)  # stored in the one form (email_key)
    if case.customer_number:
        same_subject |= Q(customer_number=case.customer_number)
    if not same_subject:
        return None
    return (
        open_cases()
        .filter(same_subject, request_type=case.request_type, received_at__lte=case.received_at)
        .exclude(pk=case.pk)
        .order_by("received_at", "pk")
        .first()
    )


def reason_told(case: Case, decision: str) -> str:
    """The reason the subject is told with a decision ("refusal", "extension" or "lifting" a
    restriction; "" for any other), as the service that took it stored it (on the case, or
    on the lifting plan). The e-mail and the letter that announce a decision read it here,
    so they cannot give two different reasons; and by the decision, not the case's state,
    so that a notice sent after a later decision still gives its own."""
    if decision == "refusal":
        return case.rejection_reason
    if decision == "extension":
        return case.extension_reason
    if decision == "objection":
        decided = ObjectionDecision.objects.filter(case=case, outcome="stop").first()
        return decided.reason if decided else ""
    if decision == "lifting":
        plan = case.plans.filter(intent="lift_restriction").order_by("-number").first()
        return plan.reason if plan else ""
    return ""


def objection_outcome(case: Case) -> str:
    """What the DPO decided on the case's objection to processing on legitimate interests
    ("stop", "compelling"), or "" when nothing was decided (or it is no such objection)."""
    decided = ObjectionDecision.objects.filter(case=case).values_list("outcome", flat=True)
    return decided.first() or ""


def restriction_offered(case: Case) -> bool:
    """Whether the subject is offered a restriction while we decide their objection to
    processing on legitimate interests (Art. 18(1)(d)): the case is open, not yet decided."""
    from casework.models import is_marketing_objection

    return (
        case.is_open
        and case.request_type == "objection"
        and not is_marketing_objection(case)
        and not objection_outcome(case)
    )


def may_email(case: Case) -> bool:
    """Whether the subject may be e-mailed at the case's address: there is one, and the
    subject did not say they lost the mailbox. Every notice asks this (notifications)."""
    return bool(case.email) and not case.mailbox_lost


def notice_given(case: Case, notice: str) -> bool:
    """Whether the subject was told `notice` already (by any channel)."""
    return AuditEvent.objects.filter(
        case=case, action="case.notice_sent", details__notice=notice
    ).exists()


def question_told(case: Case) -> str:
    """The text of the newest question staff asked the subject ("" when none)."""
    note = (
        CaseNote.objects.filter(case=case, kind=CaseNote.Kind.QUESTION, visible_to_subject=True)
        .order_by("-created_at", "-pk")
        .first()
    )
    return note.text if note else ""
