"""What the reminder job (casework.services.reminders) finds to send: reads only.

Days are local days in the controller's time zone (casework.deadlines): a case due on the 10th
is "7 days before" on the 3rd, whatever the hour. A case whose clock is paused (the regime
allows it while we wait for the subject) is neither reminded nor escalated: its due date moves
when the clock runs again, and the new date arms its reminders again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from casework import deadlines, roles
from casework.models import (
    AuditEvent,
    Case,
    Channel,
    DigestSent,
    Notice,
    PostalLetter,
    Reminder,
    State,
)
from casework.permissions import assignable_staff
from casework.selectors.case import open_cases

# Before the assignee's deadline, in local days (each sent once per due date).
REMINDER_DAYS = (1, 3, 7)
DUE_KINDS = {1: Reminder.Kind.DUE_1, 3: Reminder.Kind.DUE_3, 7: Reminder.Kind.DUE_7}
# What happens at once after a change (the subject's notice of an extension, the e-mail that
# confirms a request) is left this long to happen before a reminder says it did not.
GRACE = dt.timedelta(hours=1)


def reminder_kind(days_left: int) -> str | None:
    """The reminder due `days_left` local days before the deadline: the nearest of 7, 3 and
    1 days not yet passed, so that a run that missed a day catches up with one reminder."""
    for days in REMINDER_DAYS:
        if 0 <= days_left <= days:
            return DUE_KINDS[days]
    return None


def _running(cases: QuerySet[Case]) -> QuerySet[Case]:
    return cases.filter(paused_at__isnull=True)


def due_reminders(*, now: dt.datetime) -> Iterator[tuple[Case, str]]:
    """(case, kind) of the assigned open cases due within 7 local days, not yet overdue."""
    horizon = deadlines.end_of_day(
        deadlines.local_date(now) + dt.timedelta(days=max(REMINDER_DAYS))
    )
    cases = _running(open_cases()).filter(
        assignee__isnull=False, due_at__gte=now, due_at__lte=horizon
    )
    for case in cases.select_related("assignee").order_by("due_at", "pk"):
        kind = reminder_kind(deadlines.days_left(case.due_at, now))
        if kind is not None:
            yield case, kind


def cases_to_escalate(*, now: dt.datetime) -> QuerySet[Case]:
    """Open cases past their deadline: the DPO is told, once per due date."""
    return _running(open_cases()).filter(due_at__lt=now).select_related("assignee")


def extensions_to_announce(*, now: dt.datetime) -> QuerySet[Case]:
    """Extended cases whose subject has not been told yet, with the original deadline (by
    which the extension must be announced) still ahead: the e-mail did not go, or the letter
    is still to be posted."""
    emailed = AuditEvent.objects.filter(
        case=OuterRef("pk"),
        action="case.notice_sent",
        details__notice=Notice.EXTENDED,
        details__sent_by="email",
        created_at__gte=OuterRef("extension_announced_at"),
    )
    posted = PostalLetter.objects.filter(
        case=OuterRef("pk"),
        notice=Notice.EXTENDED,
        state=PostalLetter.State.POSTED,
        created_at__gte=OuterRef("extension_announced_at"),
    )
    return (
        open_cases()
        .filter(original_due_at__isnull=False, original_due_at__gt=now)
        .filter(
            Q(extension_announced_at__isnull=True)
            | (Q(extension_announced_at__lte=now - GRACE) & ~Exists(emailed) & ~Exists(posted))
        )
        .select_related("assignee")
    )


def receipts_to_confirm(*, now: dt.datetime) -> QuerySet[Case]:
    """Open cases whose regime asks to confirm receipt (CCPA/CPRA: within 10 business days)
    and whose subject has not been told yet, received a while ago (the e-mail that asks to
    confirm a request from the form tells them at once)."""
    return open_cases().filter(
        receipt_confirmation_due_at__isnull=False,
        receipt_confirmed_at__isnull=True,
        received_at__lte=now - GRACE,
    )


def receipts_due_soon(*, now: dt.datetime) -> QuerySet[Case]:
    """Open cases whose receipt confirmation is due by the end of tomorrow (local days) and
    not yet given: staff are reminded (a letter to post, an e-mail that failed)."""
    tomorrow = deadlines.end_of_day(deadlines.local_date(now) + dt.timedelta(days=1))
    return (
        open_cases()
        .filter(
            receipt_confirmation_due_at__isnull=False,
            receipt_confirmation_due_at__lte=tomorrow,
            receipt_confirmed_at__isnull=True,
        )
        .select_related("assignee")
    )


def unassigned_cases() -> QuerySet[Case]:
    """Open cases nobody is assigned, for the digest. Requests from the form still waiting
    for the subject to confirm their e-mail are left out: there is nothing for staff to do."""
    return (
        open_cases()
        .filter(assignee__isnull=True)
        .exclude(state=State.RECEIVED, channel=Channel.WEB)
        .order_by("due_at", "pk")
    )


def dpos() -> QuerySet:
    """Active DPOs with an e-mail address: overdue cases are escalated to them."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name=roles.DPO)
        .exclude(email="")
        .distinct()
        .order_by("username")
    )


def digest_recipients() -> QuerySet:
    """The privacy team and the DPO (active, with an e-mail address)."""
    return assignable_staff().exclude(email="")


def digests_sent(day: dt.date) -> set[int]:
    """The staff members sent the digest of unassigned cases on `day`."""
    return set(DigestSent.objects.filter(for_date=day).values_list("recipient_id", flat=True))


def reminders_sent(cases: Iterable[Case]) -> set[tuple]:
    """(case id, kind, due date, recipient id, role) of the reminders already sent."""
    return set(
        Reminder.objects.filter(case__in=[c.pk for c in cases]).values_list(
            "case_id", "kind", "for_due_at", "recipient_id", "recipient_role"
        )
    )
