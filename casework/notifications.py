"""E-mails to subjects and staff. Subjects are written to in their language, only through the
channel the request was verified with; nothing here logs an address."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation

from casework import deadlines, letters, selectors
from casework.models import Case, ConnectorRun
from casework.permissions import assignable_staff

logger = logging.getLogger(__name__)

SUBJECT_TEMPLATES = {
    "rejected": "casework/email/rejected",
    "extended": "casework/email/extended",
}


def send_email(
    *, to: list[str], template: str, context: dict, language: str, attachment=None
) -> None:
    with translation.override(language):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to)
    message.attach_alternative(html, "text/html")
    if attachment is not None:
        message.attach(attachment[0], attachment[1], "application/pdf")
    message.send()


def notify_subject(case: Case, kind: str) -> bool:
    """Tell the subject about a decision (rejection, extension). Returns False when the case
    has no e-mail (a postal request: staff send a letter)."""
    if not case.email:
        logger.info("case %s: no e-mail on record, %s notice goes by post", case.reference, kind)
        return False
    send_email(
        to=[case.email],
        template=SUBJECT_TEMPLATES[kind],
        context={
            "case": case,
            "reason": selectors.reason_told(case, letters.LETTER_FOR_NOTICE[kind]),
            "due_on": deadlines.local_date(case.due_at),
        },
        language=case.language,
        attachment=letters.letter_pdf(case, kind),
    )
    logger.info("case %s: %s notice sent", case.reference, kind)
    return True


def send_deadline_reminders(*, days: int) -> int:
    """One digest per staff member: their cases (or unassigned ones) due soon or overdue."""
    now = timezone.now()
    due = list(selectors.cases_due_within(days=days, now=now).select_related("assignee"))
    overdue = list(selectors.overdue_cases(now=now).select_related("assignee"))
    if not due and not overdue:
        return 0
    team = list(assignable_staff().exclude(email=""))
    sent = 0
    for member in team:
        mine = [c for c in due if c.assignee_id in (None, member.pk)]
        late = [c for c in overdue if c.assignee_id in (None, member.pk)]
        if not mine and not late:
            continue
        send_email(
            to=[member.email],
            template="casework/email/deadline_reminder",
            context={"due": mine, "overdue": late, "days": days, "site_url": settings.SITE_URL},
            language=settings.LANGUAGE_CODE,
        )
        sent += 1
    return sent


def notify_manual_search(run_id: int) -> bool:
    """Ask the owner of a manual system to search it and answer in the admin. The e-mail names
    the case reference and the link, never the subject's identifiers."""
    run = ConnectorRun.objects.select_related("system", "case").get(pk=run_id)
    owner = run.system.owner_email
    if not owner:
        logger.warning("run %s: manual system %s has no owner e-mail", run.pk, run.system.slug)
        return False
    send_email(
        to=[owner],
        template="casework/email/manual_search",
        context={"run": run, "site_url": settings.SITE_URL},
        language=settings.LANGUAGE_CODE,
    )
    return True
