"""Notices to subjects, and e-mails to staff. Subjects are written to in their language, only
through the channel the request was verified with, or by post; nothing here logs an address."""

from __future__ import annotations

import logging

from django.conf import settings

from casework import deadlines, letters, selectors
from casework.mail import send_email
from casework.models import Case, ConnectorRun, Notice
from casework.portal import emails
from casework.services import notices

logger = logging.getLogger(__name__)

DECISION_TEMPLATES = {
    Notice.REJECTED: "casework/email/rejected",
    Notice.EXTENDED: "casework/email/extended",
    Notice.LIFTING: "casework/email/lifting",
}


def _email_decision(case: Case, notice: str) -> None:
    """A decision that states its reason (refusal, extension, lifting a restriction), with its
    letter as PDF."""
    send_email(
        to=[case.email],
        template=DECISION_TEMPLATES[notice],
        context={
            "case": case,
            "reason": selectors.reason_told(case, letters.LETTER_FOR_NOTICE[notice]),
            "due_on": deadlines.local_date(case.due_at),
            # A refusal tells the subject where to complain (Art. 12(4) GDPR): by name.
            "authority": selectors.supervisory_authority(case.language),
        },
        language=case.language,
        attachment=letters.letter_pdf(case, notice) if notice in letters.LETTER_ATTACHED else None,
        cases=[case],
    )


EMAILS = {
    Notice.ACKNOWLEDGED: emails.send_acknowledgement,
    Notice.RECEIVED: emails.send_receipt_confirmation,
    Notice.QUESTION: emails.send_question,
    Notice.REJECTED: lambda case: _email_decision(case, Notice.REJECTED),
    Notice.EXTENDED: lambda case: _email_decision(case, Notice.EXTENDED),
    Notice.READY: emails.send_bundle_ready,
    Notice.COMPLETED: emails.send_completed,
    Notice.LIFTING: lambda case: _email_decision(case, Notice.LIFTING),
}


def notify_subject(case: Case, notice: str) -> str:
    """Tell the subject of `notice` (casework.models.Notice), the one way every notice goes:
    by e-mail where the subject may be e-mailed (`selectors.may_email`), else by post, as a
    letter for staff to print and post, which the status page lists too. The subject is
    acknowledged once, and told we received the request only while no message said so.
    Returns the channel ("email" or "post"; "" when nothing was due)."""
    if notice == Notice.ACKNOWLEDGED and selectors.notice_given(case, notice):
        return ""
    if notice == Notice.RECEIVED and (
        case.receipt_confirmed_at is not None or selectors.notice_given(case, notice)
    ):
        return ""
    if selectors.may_email(case):
        EMAILS[notice](case)
        notices.record_notice(case=case, notice=notice, channel="email")
        channel = "email"
    else:
        notices.queue_letter(case=case, notice=notice)
        channel = "post"
    logger.info("case %s: %s notice by %s", case.reference, notice, channel)
    return channel


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
        cases=[run.case],
    )
    return True


def notify_processor(instruction_id: int) -> bool:
    """E-mail a processor its instruction: the case reference, the system, the due date and
    a link to the page where it sees what to do and confirms; never personal data."""
    from casework.portal.services import absolute_url
    from casework.services import processors

    issued = processors.instruction_issue_link(instruction_id)
    if issued is None:
        return False
    instruction, token = issued
    if not instruction.email:
        logger.warning("instruction %s: processor has no e-mail", instruction.pk)
        return False
    send_email(
        to=[instruction.email],
        template="casework/email/processor_instruction",
        context={
            "instruction": instruction,
            "reference": instruction.case.reference,
            "system": instruction.system.name,
            "due_on": deadlines.local_date(instruction.due_at),
            "url": absolute_url("processor", settings.LANGUAGE_CODE, token=token),
        },
        language=settings.LANGUAGE_CODE,
        cases=[instruction.case],
    )
    processors.instruction_sent(instruction=instruction)
    return True
