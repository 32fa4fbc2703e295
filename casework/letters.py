"""Letters to the subject as PDF (exporters.letters renders them from plain facts): the
decisions that state reasons, a refusal and an extension, go with the e-mail that announces
them, in the subject's language, and so does the letter of a completed rectification, erasure,
restriction or objection: what was done in which systems, what was kept and why."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone, translation

from casework import deadlines, selectors
from casework.models import CHANGING_TYPES, Case, is_objection_lifting
from casework.selectors.optouts import opt_out_told
from casework.selectors.processors import backups_told, processors_told
from casework.selectors.recipients import recipients_told
from dsar.models import ControllerInfo
from exporters.context import DONE_KINDS, LetterFacts
from exporters.letters import render_letter

# The letter of each notice (casework.models.Notice): the PDF that goes with the e-mail of a
# decision, and the letter itself where the subject may not be e-mailed.
LETTER_FOR_NOTICE = {
    "acknowledged": "acknowledgement",
    "received": "acknowledgement",  # "we have received your request, we answer by ..."
    "question": "question",
    "rejected": "refusal",
    "extended": "extension",
    "ready": "ready",
    "completed": "completion",
    "lifting": "lifting",
}
# The decisions whose e-mail carries its letter.
LETTER_ATTACHED = ("rejected", "extended", "lifting")


def letter_kind(case: Case, notice: str) -> str | None:
    """The letter of a notice: a completed rectification, erasure, restriction or objection
    is answered with the letter of what was done (and kept, and why)."""
    if notice == "completed" and case.request_type in CHANGING_TYPES:
        return case.request_type
    return LETTER_FOR_NOTICE.get(notice)


def letter_facts(case: Case, kind: str) -> LetterFacts:
    controller = ControllerInfo.load()
    language = case.language
    done, kept, refused = [], [], []
    processors, backups, recipients, opt_out = [], [], [], []
    if kind in DONE_KINDS:
        with translation.override(language):
            done, kept = selectors.plan_outcome(case)
            refused = selectors.corrections_refused(case)
            processors, backups = processors_told(case), backups_told(case)
            recipients = recipients_told(case)
            opt_out = opt_out_told(case)
    return LetterFacts(
        kind=kind,
        reference=case.reference,
        language=language,
        subject_name=case.name,
        request_type=case.request_type,
        received_on=deadlines.local_date(case.received_at),
        generated_at=timezone.now(),
        controller_name=controller.text("name", language) if controller else "",
        controller_contact=controller.text("contact", language) if controller else "",
        dpo_email=controller.dpo_email if controller else "",
        complaint_text=controller.text("complaint", language) if controller else "",
        # The same reason the e-mail that announces the decision gives (notifications).
        reason=selectors.reason_told(case, kind),
        done=done,
        kept=kept,
        refused=refused,
        processors=processors,
        backups=backups,
        recipients=recipients,
        message=selectors.question_told(case) if kind == "question" else "",
        due_on=deadlines.local_date(
            case.due_at if kind == "acknowledgement" else case.original_due_at or case.due_at
        ),
        new_due_on=deadlines.local_date(case.due_at) if kind == "extension" else None,
        time_zone=settings.DSAR_TIME_ZONE,
        authority=selectors.supervisory_authority(language),
        objection_decided=selectors.objection_outcome(case),
        opt_out=opt_out,
        lifting=is_objection_lifting(case),
    )


def letter_pdf(case: Case, notice: str) -> tuple[str, bytes] | None:
    """(file name, PDF) of the letter that goes with a notice, or None when it has none."""
    kind = letter_kind(case, notice)
    if kind is None:
        return None
    return f"{case.reference}-{kind}.pdf", render_letter(letter_facts(case, kind))
