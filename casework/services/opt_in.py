"""An opt-in ("sale:opt-in"): an objection case marked as a lifting, carried out by the
`lift_objection` operation. The subject's opt-outs are marked lifted, with the time and the
case, and kept: our record keeps proving when each applied."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from casework import queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, CaseNote, Notice, OptOut
from casework.permissions import check_lift_objection
from casework.selectors.identity import verified_channel
from casework.selectors.optouts import OPT_OUT_KINDS, opt_outs_in_force
from casework.services.case import _lock, _note, _require_text, _run


def case_lift_objection(*, case: Case, actor: Actor, note: str) -> Case:
    """The `lift_objection` operation: an opt-in case ("sale:opt-in", an objection marked as a
    lifting), in review, is carried out by one person. The opt-outs in force under the
    identifiers the subject proved they hold (the verified channel: never what was only
    claimed, since a lifting lets marketing and disclosure resume) are marked lifted by this
    case, with the time, and kept. The case completes in the same transaction, and the
    subject is told by the completion notice, which says that the source systems' own
    suppression lists are not changed. `note`: internal, why and how it was checked."""
    note = _require_text(note, "note")
    with transaction.atomic():
        locked = _lock(case)
        check_lift_objection(locked, actor)
        identifiers = {i for i in verified_channel(locked) if i.kind in OPT_OUT_KINDS}
        now = timezone.now()
        rows = opt_outs_in_force(identifiers).select_for_update()
        lifted = list(rows.values_list("pk", "kind", "case__reference"))
        OptOut.objects.filter(pk__in=[pk for pk, _kind, _ref in lifted]).update(
            lifted_at=now, lifted_by_case=locked
        )
        details: dict[str, Any] = {
            "rows": len(lifted),
            "kinds": sorted({str(kind) for _pk, kind, _ref in lifted}),
            # The cases whose opt-outs are lifted, by reference (no personal data).
            "opt_out_cases": sorted({ref for _pk, _kind, ref in lifted}),
            **_note(locked, actor, CaseNote.Kind.INTERNAL, note),
        }
        record_event(locked, "optout.lifted", actor=actor, details=details)
        # One person: the lifting needs no plan and no second approver (Case.approve's
        # conditions say so for a lifting); the completion notice is the response.
        locked = _run(locked, "approve", actor, kwargs={"by": actor.user}, already_locked=True)
        locked.response_sent_at = now
        locked.save(update_fields=["response_sent_at", "updated_at"])
        record_event(locked, "case.response_sent", actor=actor, details={"by": "completion notice"})
        locked = _run(locked, "fulfilled", actor, already_locked=True)
        queue.enqueue_on_commit("notify_subject", locked.pk, Notice.COMPLETED)
    return locked
