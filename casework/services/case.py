"""Services of the case: every write to a case's fields goes through casework.services.

Each service checks the actor's permission (django-fsm does not check it on call), runs the
transition, saves, writes the audit event and enqueues follow-up work after commit, in one
transaction. An illegal or unpermitted change raises and writes nothing. The admin, the API,
the portal, management commands and tasks all call these functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from casework import deadlines, queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import (
    BUNDLE_TYPES,
    CHANGING_TYPES,
    AskPurpose,
    Case,
    CaseNote,
    Notice,
    ObjectionDecision,
    State,
    VerificationMethod,
)
from casework.permissions import (
    check_add_note,
    check_approver_is_not_the_planner,
    check_assign,
    check_assignee,
    check_decide_objection,
    check_extend,
    check_plan_approvable,
    check_record_response,
    check_transition,
    transition_meta,
)
from casework.selectors.bundles import ready_told_at
from casework.selectors.release import release_check, release_fingerprint
from casework.services.bundles import request_bundle
from casework.services.fulfilment import plan_approved
from casework.services.optouts import optouts_record

NOTE_MAX_LENGTH = 5000


def _require_text(value: str | None, field: str = "reason") -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationError({field: _("A %(field)s is required.") % {"field": field}})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {field: _("Keep it under %(n)d characters.") % {"n": NOTE_MAX_LENGTH}}
        )
    return text


def _note(
    case: Case, actor: Actor, kind: str, text: str, *, visible: bool = False
) -> dict[str, Any]:
    """Store free text as a CaseNote; return the audit details that reference it."""
    note = CaseNote.objects.create(
        case=case,
        kind=kind,
        text=text,
        author=actor.user if actor.kind == Actor.STAFF else None,
        visible_to_subject=visible,
    )
    return {"note": note.pk, "note_sha256": hashlib.sha256(text.encode()).hexdigest()}


def _optional_note(
    kind: str, text: str | None, *, visible: bool = False
) -> tuple[str, str, bool] | None:
    """The `note` argument of `_run` for free text that may be left empty: kept only with text."""
    text = (text or "").strip()
    return (kind, text, visible) if text else None


def _lock(case: Case) -> Case:
    """The case fresh from its row, locked until the transaction ends (call it in one)."""
    return Case.objects.select_for_update().get(pk=case.pk)


def _run(
    case: Case,
    name: str,
    actor: Actor,
    *,
    kwargs: dict[str, Any] | None = None,
    note: tuple[str, str, bool] | None = None,
    details: dict[str, Any] | None = None,
    already_locked: bool = False,
) -> Case:
    """Lock the case, check, transition, save, audit; all or nothing. Returns the fresh case.

    With `already_locked`, `case` is the instance the caller took with `_lock` in the
    transaction it is still in, and is used as it is: the row is locked once.
    """
    if already_locked and not transaction.get_connection().in_atomic_block:
        raise RuntimeError("already_locked needs the transaction that holds the lock")
    with transaction.atomic():
        locked = case if already_locked else _lock(case)
        check_transition(locked, name, actor)
        from_state = locked.state
        event = transition_meta(locked, name).custom["event"]
        getattr(locked, name)(**(kwargs or {}))
        locked.save()
        audit_details = dict(details or {})
        if note:
            audit_details.update(_note(locked, actor, note[0], note[1], visible=note[2]))
        record_event(
            locked,
            event,
            actor=actor,
            from_state=from_state,
            to_state=locked.state,
            details=audit_details,
        )
    return locked


def case_verify(
    *,
    case: Case,
    actor: Actor,
    method: str | None = None,
    note: str = "",
    already_locked: bool = False,
) -> Case:
    """Identity checked: by the subject's e-mail link, or by staff through a channel on record.
    `already_locked`: `case` is the instance the caller locked in its still-open transaction."""
    if actor.kind == Actor.SUBJECT:
        # The subject's own act: the e-mail link, or (DRP) the attestation of the authorised
        # agent acting for them, where the agent's trust policy says it suffices.
        if method != VerificationMethod.AGENT_ATTESTATION:
            method = VerificationMethod.EMAIL_LINK
    else:
        method = method or VerificationMethod.STAFF_CHECK
        note = _require_text(note, "note")
    verifier = actor.user if actor.kind == Actor.STAFF else None
    case = _run(
        case,
        "verify",
        actor,
        kwargs={"how": method, "by": verifier},
        note=_optional_note(CaseNote.Kind.VERIFICATION, note),
        details={"method": method},
        already_locked=already_locked,
    )
    queue.enqueue_on_commit("start_gathering", case.pk)
    if actor.kind == Actor.STAFF:
        # Checked through a channel on record: the request is acknowledged now (once; by post
        # where the subject may not be e-mailed). The e-mail link acknowledges its own.
        queue.enqueue_on_commit("notify_subject", case.pk, Notice.ACKNOWLEDGED)
    return case


def case_ask_subject(*, case: Case, actor: Actor, purpose: str, message: str) -> Case:
    """Ask the subject for proof, authority, a call-back or a clarification; the case waits.

    The clock pauses where the regime allows it for this kind of question.
    """
    if purpose not in AskPurpose.values:
        raise ValidationError({"purpose": _("Unknown purpose “%(value)s”.") % {"value": purpose}})
    message = _require_text(message, "message")
    now = timezone.now()
    with transaction.atomic():
        case = _run(
            case,
            "ask_subject",
            actor,
            kwargs={"purpose": purpose, "at": now},
            note=(CaseNote.Kind.QUESTION, message, True),
            details={"purpose": purpose},
        )
        if purpose in deadlines.get_regime(case.regime).clock_pauses_for:
            case.paused_at = now  # still locked by _run, in this transaction
            case.save(update_fields=["paused_at", "updated_at"])
        queue.enqueue_on_commit("notify_subject", case.pk, Notice.QUESTION)
    return case


def case_answered(*, case: Case, actor: Actor, note: str = "") -> Case:
    """The subject answered (through the portal, or staff record an answer by phone or letter).

    The case returns to the state it was in; a paused clock resumes and the due date moves by
    the whole days it stood still.
    """
    with transaction.atomic():
        locked = _lock(case)
        paused_at = locked.paused_at  # read under the lock, before the transition
        case = _run(
            locked,
            "answered",
            actor,
            note=_optional_note(CaseNote.Kind.ANSWER, note, visible=True),
            already_locked=True,
        )
        if paused_at is not None:
            _resume_clock(case, deadlines.pause_days(paused_at, timezone.now()))
    return case


def _resume_clock(locked: Case, days: int) -> None:
    """Unpause a locked case: the due dates move by the whole days the clock stood still."""
    tz = deadlines.controller_tz()
    locked.paused_at = None
    locked.paused_days += days
    fields = ["paused_at", "paused_days", "updated_at"]
    if days:
        locked.due_at = deadlines.end_of_day(
            deadlines.local_date(locked.due_at) + dt.timedelta(days=days), tz
        )
        fields.append("due_at")
        if locked.original_due_at:
            locked.original_due_at = deadlines.end_of_day(
                deadlines.local_date(locked.original_due_at) + dt.timedelta(days=days), tz
            )
            fields.append("original_due_at")
    locked.save(update_fields=fields)


def case_expire(*, case: Case, actor: Actor) -> Case:
    return _run(case, "expire", actor)


def case_start_gathering(*, case: Case, actor: Actor) -> Case:
    return _run(case, "start_gathering", actor)


def case_mark_gathered(*, case: Case, actor: Actor, already_locked: bool = False) -> Case:
    """Gathering is over: the case goes to review. `already_locked`: `case` is the instance
    the caller locked in its still-open transaction (gathering), so it is not locked again."""
    return _run(case, "gathered", actor, already_locked=already_locked)


def case_needs_identifier(*, case: Case, actor: Actor, already_locked: bool = False) -> Case:
    """Nothing the case holds reaches a system: it waits for staff to add an identifier."""
    return _run(case, "needs_identifier", actor, already_locked=already_locked)


def case_proceed_without_source(*, case: Case, actor: Actor, reason: str) -> Case:
    reason = _require_text(reason)
    return _run(
        case,
        "proceed_without_source",
        actor,
        kwargs={"reason": reason},
        note=(CaseNote.Kind.REASON, reason, False),
    )


def case_approve(
    *,
    case: Case,
    actor: Actor,
    note: str = "",
    acknowledged: bool = False,
    release_seen: str = "",
) -> Case:
    """Approve release of the bundle or the planned changes. Four eyes: for erasure and
    rectification the approver is never the person who prepared the plan (see Case.approve).

    An access or portability bundle goes to whoever holds the verified channel: where it
    carries contact details or identifiers other than that channel (`release_check`), the
    approver must acknowledge having checked they are the subject's. The audit event keeps the
    acknowledgement and how many were listed, never the values."""
    check_approver_is_not_the_planner(case)
    with transaction.atomic():
        locked = _lock(case)
        details: dict[str, Any] = {}
        if locked.request_type in BUNDLE_TYPES:
            # Who may approve is answered before the records are read for the check.
            check_transition(locked, "approve", actor)
            items = release_check(locked)
            listed = len(items)
            if listed and acknowledged and release_seen not in ("", release_fingerprint(items)):
                raise ValidationError(
                    {
                        "acknowledged": _(
                            "What the bundle carries changed since the page was opened (the "
                            "review was completed again): check the list anew."
                        )
                    }
                )
            if listed and not acknowledged:
                raise ValidationError(
                    {
                        "acknowledged": ngettext(
                            "The bundle carries %(n)d contact detail or identifier that is not "
                            "the verified channel: confirm that you checked it belongs to the "
                            "subject.",
                            "The bundle carries %(n)d contact details or identifiers that are "
                            "not the verified channel: confirm that you checked they belong to "
                            "the subject.",
                            listed,
                        )
                        % {"n": listed}
                    }
                )
            # Nothing listed, nothing to acknowledge; something listed was acknowledged, or
            # refused above.
            details["release_check"] = {"listed": listed, "acknowledged": listed > 0}
        plan = None
        if locked.request_type in CHANGING_TYPES:
            # The plan as submitted, and an approver who did not submit it: said before the
            # transition's own checks, which would only say that no plan was prepared.
            plan = check_plan_approvable(locked, actor)
        case = _run(
            locked,
            "approve",
            actor,
            kwargs={"by": actor.user},
            note=_optional_note(CaseNote.Kind.INTERNAL, note),
            details=details,
            already_locked=True,
        )
        if case.request_type in BUNDLE_TYPES:
            request_bundle(case=case, actor=actor)
        elif case.request_type in CHANGING_TYPES:
            plan_approved(case=case, actor=actor, plan=plan)
    return case


def case_record_response(*, case: Case, actor: Actor, channel_note: str = "") -> Case:
    """Record that the response to the subject was sent (needed before completing)."""
    with transaction.atomic():
        locked = _lock(case)
        check_record_response(locked, actor)
        locked.response_sent_at = timezone.now()
        locked.save(update_fields=["response_sent_at", "updated_at"])
        details = {}
        if channel_note.strip():
            details = _note(locked, actor, CaseNote.Kind.INTERNAL, channel_note.strip())
        record_event(locked, "case.response_sent", actor=actor, details=details)
    return locked


def case_confirm_receipt(*, case: Case, actor: Actor, how: str) -> Case:
    """Record that the subject was told we received the request (once; CCPA/CPRA asks for it
    within 10 business days, see Case.receipt_confirmation_due_at)."""
    with transaction.atomic():
        updated = Case.objects.filter(pk=case.pk, receipt_confirmed_at__isnull=True).update(
            receipt_confirmed_at=timezone.now()
        )
        if updated:
            record_event(case, "case.receipt_confirmed", actor=actor, details={"how": how})
    case.refresh_from_db()
    return case


def case_fulfil(*, case: Case, actor: Actor) -> Case:
    """Staff close a change (erasure, rectification, restriction, objection) once it is made
    and the response sent. Access and portability complete by themselves
    (`case_complete_when_told`)."""
    with transaction.atomic():
        case = _run(case, "fulfilled", actor)
        # An objection to marketing or disclosure carried out: our own proof of the opt-out,
        # in the transaction that completes the case.
        optouts_record(case=case, actor=actor)
    queue.enqueue_on_commit("notify_subject", case.pk, Notice.COMPLETED)
    if case.request_type == "erasure":
        # Erased from the source systems, and from our own copies (gathered records, bundles).
        queue.enqueue_on_commit("purge_after_erasure", case.pk)
    return case


def case_complete_when_told(*, case: Case, already_locked: bool = False) -> Case:
    """An access or portability case is answered by its bundle: once the bundle is ready and
    the subject was told so (the READY e-mail sent, or its letter posted: `ready_told_at`),
    the system completes it, closed at the moment the subject was told. That notice was the
    response, and said it all: no second notice follows. Called where the telling is
    recorded, and by the bundles' sweeper; a case not (or no longer) waiting for it is left
    as it is, so a second call changes nothing. `already_locked`: `case` is the instance the
    caller locked in its still-open transaction."""
    if already_locked and not transaction.get_connection().in_atomic_block:
        raise RuntimeError("already_locked needs the transaction that holds the lock")
    with transaction.atomic():
        locked = case if already_locked else _lock(case)
        if (
            locked.request_type not in BUNDLE_TYPES
            or locked.state != State.FULFILLING
            or locked.bundle_ready_at is None
        ):
            return locked
        told_at = ready_told_at(locked)
        if told_at is None:
            return locked
        if locked.response_sent_at is None:
            locked.response_sent_at = told_at  # saved with the transition
        return _run(
            locked,
            "completed_when_told",
            Actor.system(),
            kwargs={"at": told_at},
            details={"told_at": told_at.isoformat()},
            already_locked=True,
        )


def case_decide_objection(*, case: Case, actor: Actor, outcome: str, reason: str) -> Case:
    """The DPO decides an objection to processing based on legitimate interests (Art. 21(1)):
    the processing stops (a plan of changes carries it out, drafted, submitted and approved
    like any other), or compelling legitimate grounds override the subject's interests (the
    request is refused, the subject told the decision, its reasons and their right to
    complain). The reason is told to the subject either way."""
    reason = _require_text(reason)
    if outcome not in ObjectionDecision.Outcome.values:
        raise ValidationError({"outcome": _("Choose: stop the processing, or compelling grounds.")})
    with transaction.atomic():
        locked = _lock(case)
        check_decide_objection(locked, actor)
        ObjectionDecision.objects.create(
            case=locked,
            outcome=outcome,
            reason=reason,
            decided_by=actor.user,
            decided_at=timezone.now(),
        )
        record_event(locked, "objection.decided", actor=actor, details={"outcome": outcome})
        if outcome == ObjectionDecision.Outcome.COMPELLING:
            return case_reject(case=locked, actor=actor, reason=reason)
    return Case.objects.get(pk=locked.pk)


def case_reject(*, case: Case, actor: Actor, reason: str, unfounded: bool = False) -> Case:
    """Refuse the request (e.g. manifestly unfounded or excessive, Art. 12(5)); the subject is
    told the reason."""
    reason = _require_text(reason)
    case = _run(
        case,
        "reject",
        actor,
        kwargs={"reason": reason, "unfounded": unfounded},
        note=(CaseNote.Kind.REASON, reason, True),
        details={"unfounded": unfounded},
    )
    queue.enqueue_on_commit("notify_subject", case.pk, Notice.REJECTED)
    return case


def case_withdraw(*, case: Case, actor: Actor, note: str = "") -> Case:
    return _run(
        case,
        "withdraw",
        actor,
        note=_optional_note(CaseNote.Kind.INTERNAL, note),
    )


def case_merge(*, case: Case, actor: Actor, into: Case) -> Case:
    """Fold a duplicate into another open case of the same subject."""
    if into.pk == case.pk:
        raise ValidationError({"into": _("A case cannot be merged into itself.")})
    with transaction.atomic():
        # Both rows at once, in one order: two opposite merges cannot deadlock.
        locked = Case.objects.select_for_update().filter(pk__in=[case.pk, into.pk]).order_by("pk")
        both = {row.pk: row for row in locked}
        target = both[into.pk]
        if not target.is_open:
            raise ValidationError({"into": _("%(ref)s is closed.") % {"ref": target.reference}})
        merged = _run(
            both[case.pk],
            "merge",
            actor,
            kwargs={"into": target},
            details={"into": target.reference},
            already_locked=True,
        )
        record_event(target, "case.merged_in", actor=actor, details={"from": merged.reference})
    return merged


def case_extend(*, case: Case, actor: Actor, new_due: dt.date, reason: str) -> Case:
    """Extend the deadline within the regime's limit, announced before the original deadline."""
    reason = _require_text(reason)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(case)
        check_extend(locked, actor)
        rules = deadlines.get_regime(locked.regime)
        original = locked.original_due_at or locked.due_at
        current = deadlines.local_date(locked.due_at)
        limit = deadlines.latest_extended_due_date(
            rules, deadlines.local_date(locked.received_at), locked.paused_days
        )
        if new_due <= current:
            raise ValidationError(
                {"new_due": _("The new due date must be after %(d)s.") % {"d": current}}
            )
        if new_due > limit:
            raise ValidationError(
                {
                    "new_due": _("%(regime)s allows extending to %(d)s at the latest.")
                    % {"regime": rules.label, "d": limit}
                }
            )
        locked.original_due_at = original
        locked.due_at = deadlines.end_of_day(new_due)
        locked.extension_reason = reason
        locked.extension_announced_at = now
        locked.save(
            update_fields=[
                "original_due_at",
                "due_at",
                "extension_reason",
                "extension_announced_at",
                "updated_at",
            ]
        )
        record_event(
            locked,
            "case.deadline_extended",
            actor=actor,
            details={
                "from": str(current),
                "to": str(new_due),
                **_note(locked, actor, CaseNote.Kind.REASON, reason, visible=True),
            },
        )
        queue.enqueue_on_commit("notify_subject", locked.pk, Notice.EXTENDED)
    return locked


def case_assign(*, case: Case, actor: Actor, assignee) -> Case:
    check_assignee(assignee)
    with transaction.atomic():
        locked = _lock(case)
        check_assign(locked, actor)
        previous = locked.assignee_id
        locked.assignee = assignee
        locked.save(update_fields=["assignee", "updated_at"])
        record_event(
            locked,
            "case.assigned",
            actor=actor,
            details={"from": previous, "to": assignee.pk if assignee else None},
        )
    return locked


def case_flag_duplicate(*, case: Case, duplicate_of: Case, actor: Actor) -> Case:
    """Link a new request to an open case of the same subject and type, for staff to decide."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.possible_duplicate_of_id == duplicate_of.pk:
            return locked
        locked.possible_duplicate_of = duplicate_of
        locked.save(update_fields=["possible_duplicate_of", "updated_at"])
        record_event(
            locked, "case.duplicate_flagged", actor=actor, details={"of": duplicate_of.reference}
        )
    return locked


def case_add_note(*, case: Case, actor: Actor, text: str) -> CaseNote:
    check_add_note(case, actor)
    text = _require_text(text, "text")
    with transaction.atomic():
        details = _note(case, actor, CaseNote.Kind.INTERNAL, text)
        record_event(case, "case.note_added", actor=actor, details=details)
    return CaseNote.objects.get(pk=details["note"])
