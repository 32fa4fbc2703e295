"""Staff's decisions on who the records are of: clearing a look-alike address, and confirming
(with evidence) or leaving out a record the verified channel does not reach. What is trusted
without them is judged in `casework.selectors.identity`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, CaseNote, RecordLink
from casework.permissions import check_clear_lookalike, check_decide_record_link
from casework.selectors.identity import subject_links
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


def decide_record_link(
    *,
    case: Case,
    actor: Actor,
    system_id: int,
    subject_key: str,
    decision: str,
    evidence: str = "",
    note: str = "",
) -> RecordLink:
    """Confirm a held record as the subject's, with the evidence gathered through the record's
    own contact details, or leave it out. The decision stands for the case; a record confirmed
    by mistake can still be left out, record by record, while the review is open."""
    if decision not in RecordLink.Decision.values:
        raise ValidationError({"decision": _("Choose whether to confirm or leave out.")})
    if decision == RecordLink.Decision.CONFIRMED and evidence not in RecordLink.Evidence.values:
        raise ValidationError({"evidence": _("Say what evidence ties the record to the subject.")})
    note = _require_text(note, "note")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_decide_record_link(locked, actor)
        link = next(
            (
                link
                for link in subject_links(locked)
                if link.key == (int(system_id), str(subject_key))
            ),
            None,
        )
        if link is None or (link.trusted and link.decision is None):
            raise ValidationError(_("That record is not held for a decision."))
        if link.decision is not None:
            raise ValidationError(_("That record was decided already."))
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
