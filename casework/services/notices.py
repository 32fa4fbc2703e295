"""Notices to the subject, from the case's side: each is recorded on the audit trail with the
channel it went by; one that cannot be e-mailed becomes a letter for staff to post."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, Notice, PostalLetter
from casework.permissions import require_perm
from casework.services.case import _lock, case_complete_when_told, case_confirm_receipt
from casework.services.fulfilment import lift_if_told

NOTICE_SENT = "case.notice_sent"
# Notices that tell the subject we received the request (CCPA/CPRA asks for it within 10
# business days): sent by e-mail, or a letter once posted, they confirm receipt.
RECEIPT_NOTICES = (Notice.ACKNOWLEDGED, Notice.RECEIVED)
LETTER_POSTED = "case.letter_posted"


def record_notice(*, case: Case, notice: str, channel: str) -> None:
    """The subject was told `notice` by `channel` ("email", or "post": a letter queued). An
    e-mail saying their data is ready answers an access or portability case: it completes; one
    saying a restriction is lifted lets the lifting start."""
    told = notice == Notice.READY and channel == "email"
    with transaction.atomic():
        if told:
            case = _lock(case)  # the case before the trail, in the order every change takes
        record_event(
            case,
            NOTICE_SENT,
            actor=Actor.system(),
            details={"notice": notice, "sent_by": channel},
        )
        if told:
            case_complete_when_told(case=case, already_locked=True)
    if notice in RECEIPT_NOTICES and channel == "email":
        case_confirm_receipt(case=case, actor=Actor.system(), how=f"{notice} e-mail")
    if notice == Notice.LIFTING and channel == "email":
        lift_if_told(case)  # told: the restriction may now be lifted


def queue_letter(*, case: Case, notice: str) -> PostalLetter:
    """A letter for staff to print and post, for a subject who may not be e-mailed."""
    if notice not in Notice.values:
        raise ValueError(f"unknown notice {notice!r}")
    with transaction.atomic():
        letter = PostalLetter.objects.create(case=case, notice=notice)
        record_notice(case=case, notice=notice, channel="post")
    return letter


def letter_mark_posted(*, letter: PostalLetter, actor: Actor) -> PostalLetter:
    """Staff printed the letter and posted it. The letter saying the data is ready answers an
    access or portability case: posted, it completes the case (queued, it told no one); the
    letter saying a restriction is lifted lets the lifting start."""
    require_perm(actor, "casework.change_postalletter")
    with transaction.atomic():
        locked = PostalLetter.objects.select_for_update().select_related("case").get(pk=letter.pk)
        if locked.notice == Notice.READY:
            locked.case = _lock(locked.case)  # the case before the trail, as every change
        if locked.state == PostalLetter.State.POSTED:
            raise ValidationError("This letter was marked posted already.")
        locked.state = PostalLetter.State.POSTED
        locked.posted_at = timezone.now()
        locked.posted_by = actor.user
        locked.save(update_fields=["state", "posted_at", "posted_by"])
        record_event(
            locked.case,
            LETTER_POSTED,
            actor=actor,
            details={"letter": locked.pk, "notice": locked.notice},
        )
        if locked.notice == Notice.READY:
            case_complete_when_told(case=locked.case, already_locked=True)
    if locked.notice in RECEIPT_NOTICES:
        case_confirm_receipt(case=locked.case, actor=actor, how=f"{locked.notice} letter posted")
    if locked.notice == Notice.LIFTING:
        lift_if_told(locked.case)  # told: the restriction may now be lifted
    return locked
