"""The reminder job (beat's `send-reminders` schedule, every 6 hours by default):

- the assignee of a case is reminded 7, 3 and 1 local days before its deadline;
- the DPOs are told of every case past its deadline (escalation);
- an extended case whose subject was not told yet (the letter still to post, the e-mail not
  sent) reminds its assignee, or the DPOs when it has none, to announce it before the original
  deadline;
- CCPA/CPRA: a subject not yet told that we received the request (within 10 business days) is
  sent the receipt confirmation (by e-mail, or a letter for staff to post), and staff are
  reminded when it is due by tomorrow and still not given;
- the privacy team and the DPOs get a digest of the open cases nobody is assigned.

Each reminder is sent once per case, kind, due date and recipient: a `Reminder` row, claimed in
the transaction that sends it (a concurrent run finds the row taken; a failed send rolls it
back, and the next run tries again). The due date is part of the key, so a new deadline (an
extension, a clock that ran again) arms the reminders again. Staff e-mails name cases by
reference, type and dates only: no subject's name or address.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from casework import deadlines, queue
from casework.mail import send_email
from casework.models import Case, DigestSent, Notice, Reminder
from casework.selectors import reminders as found
from casework.selectors.access import may_see_case, visible_cases

logger = logging.getLogger(__name__)

SECTIONS = {
    Reminder.Kind.DUE_7: "due",
    Reminder.Kind.DUE_3: "due",
    Reminder.Kind.DUE_1: "due",
    Reminder.Kind.OVERDUE: "overdue",
    Reminder.Kind.ANNOUNCE_EXTENSION: "announce",
    Reminder.Kind.RECEIPT_DUE: "receipt",
}


@dataclass(frozen=True)
class Item:
    kind: str
    case: Case
    for_due_at: dt.datetime


def send_reminders(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Everything the job sends; returns how many e-mails (or notices) of each went."""
    now = now or timezone.now()
    pending: dict = defaultdict(list)
    dpos = list(found.dpos())
    for case, kind in found.due_reminders(now=now):
        pending[case.assignee].append(Item(kind, case, case.due_at))
    for case in found.cases_to_escalate(now=now):
        for dpo in dpos:
            pending[dpo].append(Item(Reminder.Kind.OVERDUE, case, case.due_at))
    for case in found.extensions_to_announce(now=now):
        for user in [case.assignee] if case.assignee else dpos:
            pending[user].append(Item(Reminder.Kind.ANNOUNCE_EXTENSION, case, case.due_at))
    for case in found.receipts_due_soon(now=now):
        for user in [case.assignee] if case.assignee else dpos:
            pending[user].append(
                Item(Reminder.Kind.RECEIPT_DUE, case, case.receipt_confirmation_due_at)
            )
    sent = {"staff": 0, "receipts": 0, "digests": 0}
    already = found.reminders_sent({item.case for items in pending.values() for item in items})
    for user, items in pending.items():
        fresh = [i for i in items if _key(i, user) not in already]
        if fresh and remind(user=user, items=fresh, now=now):
            sent["staff"] += 1
    sent["receipts"] = confirm_receipts(now=now)
    sent["digests"] = send_unassigned_digest(now=now)
    if any(sent.values()):
        logger.info("reminders sent: %s", sent)
    return sent


def _key(item: Item, user) -> tuple:
    return (item.case.pk, item.kind, item.for_due_at, user.pk, "")


def _claim(item: Item, *, user=None, role: str = "") -> bool:
    """Take the reminder's row; False when it was sent already (by this or another run)."""
    try:
        with transaction.atomic():
            Reminder.objects.create(
                case=item.case,
                kind=item.kind,
                for_due_at=item.for_due_at,
                recipient=user,
                recipient_role=role,
            )
    except IntegrityError:
        return False
    return True


def remind(*, user, items: list[Item], now: dt.datetime) -> bool:
    """One e-mail to `user` with the reminders of `items` not yet sent; False when none was
    left to send (sent meanwhile, a case the user may not see, no address)."""
    if not user.is_active or not user.email:
        return False
    items = [i for i in items if may_see_case(user, i.case)]
    with transaction.atomic():
        claimed = [i for i in items if _claim(i, user=user)]
        if not claimed:
            return False
        sections: dict[str, list[dict]] = defaultdict(list)
        for item in claimed:
            sections[SECTIONS[item.kind]].append(_line(item.case, now))
        send_email(
            to=[user.email],
            template="casework/email/reminders",
            context={
                "sections": dict(sections),
                "count": len(claimed),
                "site_url": settings.SITE_URL,
            },
            language=settings.LANGUAGE_CODE,
            cases=sorted({i.case for i in claimed}, key=lambda c: c.reference),
        )
    return True


def _line(case: Case, now: dt.datetime) -> dict:
    """What a staff e-mail says of a case: no personal data, only its reference, type, dates
    and state."""
    return {
        "reference": case.reference,
        "type": case.get_request_type_display(),
        "state": case.get_state_display(),
        "due_on": deadlines.local_date(case.due_at),
        "original_due_on": deadlines.local_date(case.original_due_at)
        if case.original_due_at
        else None,
        "confirm_by": deadlines.local_date(case.receipt_confirmation_due_at)
        if case.receipt_confirmation_due_at
        else None,
        "days_left": deadlines.days_left(case.due_at, now),
        "days_late": -deadlines.days_left(case.due_at, now),
        "assigned": case.assignee.get_username() if case.assignee_id else "",
        "path": f"/admin/casework/case/{case.pk}/change/",
    }


def confirm_receipts(*, now: dt.datetime) -> int:
    """CCPA/CPRA: tell each subject not yet told that we received their request, once per
    confirmation date (the notice goes by e-mail, or as a letter for staff to post; the e-mail
    records the confirmation, the letter once posted)."""
    told = 0
    for case in found.receipts_to_confirm(now=now):
        item = Item(Reminder.Kind.RECEIPT, case, case.receipt_confirmation_due_at)
        with transaction.atomic():
            if _claim(item, role=Reminder.Role.SUBJECT):
                queue.enqueue_on_commit("notify_subject", case.pk, Notice.RECEIVED)
                told += 1
    return told


def send_unassigned_digest(*, now: dt.datetime) -> int:
    """One e-mail a day to each member of the privacy team and each DPO listing the open cases
    nobody is assigned that they may see (reference, type, state, due date). A recipient's day
    is claimed with the sending: a run of the job later that day, or a retry of one that
    failed midway, sends nobody a second digest."""
    cases = found.unassigned_cases()
    if not cases.exists():
        return 0
    today = deadlines.local_date(now)
    already = found.digests_sent(today)
    sent = 0
    for user in found.digest_recipients().exclude(pk__in=already):
        mine = list(visible_cases(user, cases))
        if not mine:
            continue
        lines = [_line(case, now) for case in mine]
        with transaction.atomic():
            try:
                with transaction.atomic():
                    DigestSent.objects.create(
                        recipient=user, for_date=today, cases=len(mine), sent_at=now
                    )
            except IntegrityError:
                continue  # another run sent it meanwhile
            send_email(
                to=[user.email],
                template="casework/email/unassigned_digest",
                context={"cases": lines, "count": len(lines), "site_url": settings.SITE_URL},
                language=settings.LANGUAGE_CODE,
                cases=mine,
            )
        sent += 1
    return sent
