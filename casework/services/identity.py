"""Staff's decisions on who the records are of: clearing a look-alike address, and confirming
(with evidence) or leaving out a record the verified channel does not reach. What is trusted
without them is judged in `casework.selectors.identity`."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework.actors import Actor
from casework.audit import record_event
from casework.mail import send_email
from casework.models import Case, CaseNote, LinkCode, RecordLink
from casework.permissions import check_clear_lookalike, check_decide_record_link
from casework.selectors.identity import SubjectLink, subject_links
from casework.services.case import _note, _require_text


def case_clear_lookalike(*, case: Case, actor: Actor, note: str = "") -> Case:
    """Staff found that the request's address, which looks like another address we hold, is
    the subject's own (how they know it is the note): what is found through it may be
    released again."""
    note = _require_text(note, "note")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_clear_lookalike(locked, actor)
        locked.lookalike_cleared_at = timezone.now()
        locked.lookalike_cleared_by = actor.user
        locked.save(update_fields=["lookalike_cleared_at", "lookalike_cleared_by", "updated_at"])
        _note(locked, actor, CaseNote.Kind.VERIFICATION, note)
        record_event(locked, "identity.lookalike_cleared", actor=actor, details={})
    return locked


def _code_hash(case_id: int, system_id: int, subject_key: str, code: str) -> str:
    message = f"link:{case_id}:{system_id}:{subject_key}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _held_link(case: Case, system_id: int, subject_key: str) -> SubjectLink:
    link = next(
        (link for link in subject_links(case) if link.key == (int(system_id), str(subject_key))),
        None,
    )
    if link is None or (link.trusted and link.decision is None):
        raise ValidationError(_("That record is not held for a decision."))
    if link.decision is not None:
        raise ValidationError(_("That record was decided already."))
    return link


def send_link_code(*, case: Case, actor: Actor, system_id: int, subject_key: str) -> int:
    """E-mail a one-time code to the addresses a held record holds (never the requester's,
    unless it is the record's own): whoever reads that mailbox can give it back to staff, as
    evidence the link is real. Earlier codes for the record stop working. Returns how many
    addresses it went to."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_decide_record_link(locked, actor)
        link = _held_link(locked, system_id, subject_key)
        addresses = [i.value for i in link.contacts if i.kind == "email"]
        if not addresses:
            raise ValidationError(_("This record holds no e-mail address to send a code to."))
        code = f"{secrets.randbelow(10**6):06d}"
        now = timezone.now()
        LinkCode.objects.filter(
            case=locked, system_id=link.system_id, subject_key=link.subject_key, used_at=None
        ).update(expires_at=now)
        LinkCode.objects.create(
            case=locked,
            system_id=link.system_id,
            subject_key=link.subject_key,
            code_hash=_code_hash(locked.pk, link.system_id, link.subject_key, code),
            expires_at=now + dt.timedelta(hours=settings.DSAR_LINK_CODE_HOURS),
            sent_by=actor.user,
        )
        record_event(
            locked,
            "identity.link_code_sent",
            actor=actor,
            details={"system": link.system_id, "addresses": len(addresses)},
        )
        context = {
            "reference": locked.reference,
            "code": code,
            "hours": settings.DSAR_LINK_CODE_HOURS,
        }
        transaction.on_commit(
            lambda: send_email(
                to=addresses,
                template="casework/email/link_code",
                context=context,
                language=locked.language,
                cases=[locked],
            )
        )
    return len(addresses)


def _use_link_code(case: Case, link: SubjectLink, code: str) -> None:
    """Check a code given back for a held record: the newest live one, a few tries, used once.
    A wrong code counts a try even though this raises (its own transaction commits)."""
    code = "".join((code or "").split())
    now = timezone.now()
    with transaction.atomic():
        latest = (
            LinkCode.objects.select_for_update()
            .filter(
                case=case,
                system_id=link.system_id,
                subject_key=link.subject_key,
                used_at=None,
                expires_at__gt=now,
            )
            .first()
        )
        if latest is not None and latest.attempts < settings.DSAR_CODE_MAX_TRIES:
            right = hmac.compare_digest(
                latest.code_hash, _code_hash(case.pk, link.system_id, link.subject_key, code)
            )
            if right:
                latest.used_at = now
                latest.save(update_fields=["used_at"])
                return
            latest.attempts += 1
            latest.save(update_fields=["attempts"])
    raise ValidationError(
        {"code": _("That code is wrong, used or expired: send a new one to the record's e-mail.")}
    )


def decide_record_link(
    *,
    case: Case,
    actor: Actor,
    system_id: int,
    subject_key: str,
    decision: str,
    evidence: str = "",
    note: str = "",
    code: str = "",
) -> RecordLink:
    """Confirm a held record as the subject's, with the evidence gathered through the record's
    own contact details, or leave it out. The decision stands for the case; a record confirmed
    by mistake can still be left out, record by record, while the review is open."""
    if decision not in RecordLink.Decision.values:
        raise ValidationError({"decision": _("Choose whether to confirm or leave out.")})
    if decision == RecordLink.Decision.CONFIRMED and evidence not in RecordLink.Evidence.values:
        raise ValidationError({"evidence": _("Say what evidence ties the record to the subject.")})
    note = _require_text(note, "note")
    code_given = (
        decision == RecordLink.Decision.CONFIRMED
        and evidence == RecordLink.Evidence.CODE_TO_RECORD_EMAIL
    )
    if code_given:
        # Checked, not taken on trust: the code this system sent to the record's address.
        check_decide_record_link(case, actor)
        _use_link_code(case, _held_link(case, system_id, subject_key), code)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_decide_record_link(locked, actor)
        link = _held_link(locked, system_id, subject_key)
        try:
            with transaction.atomic():
                made = RecordLink.objects.create(
                    case=locked,
                    system_id=link.system_id,
                    subject_key=link.subject_key,
                    decision=decision,
                    evidence=evidence if decision == RecordLink.Decision.CONFIRMED else "",
                    note=note,
                    decided_by=actor.user,
                )
        except IntegrityError:
            raise ValidationError(_("That record was decided already.")) from None
        record_event(
            locked,
            "identity.record_confirmed"
            if decision == RecordLink.Decision.CONFIRMED
            else "identity.record_left_out",
            actor=actor,
            details={
                "link": made.pk,
                "system": link.system_id,
                "held_because": link.held_because,
                "evidence": made.evidence,
                "records": link.records,
            },
        )
    return made
