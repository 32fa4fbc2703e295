"""Writes of what a change asks of others: the processors that run a system of the plan are
instructed and confirm (Art. 28(3)(g): they erase or change on our instruction); the
recipients the subject's data was disclosed to are told of a rectification, erasure or
restriction, or the reason they are not (Art. 19).

`instruct_and_notify` runs inside the approval of a plan; the e-mail to a processor goes from
a worker (`casework.notifications.notify_processor`) and carries the case reference and a
link, never personal data. The link's token is the key to the processor's page: stored only
as its hash, single-use, expiring.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework import queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, FulfilmentPlan, ProcessorInstruction, RecipientNotice
from casework.permissions import check_record_recipient_notice, require_perm
from casework.selectors.recipients import recipients_disclosed_to
from casework.tokens import TokenExpired, TokenUnknown, TokenUsed, hash_token, new_token
from dsar.models import SourceSystem

# The changes the recipients are told of (Art. 19: rectification, erasure, restriction).
TOLD_TO_RECIPIENTS = (
    FulfilmentPlan.Intent.RECTIFY,
    FulfilmentPlan.Intent.ERASE,
    FulfilmentPlan.Intent.RESTRICT,
)
NAME_MAX_LENGTH = 200


def instruct_and_notify(*, case: Case, plan: FulfilmentPlan, actor: Actor) -> None:
    """Inside the approval's transaction: an instruction to the processor of each system the
    plan changes that a processor runs for us (due DSAR_PROCESSOR_DUE_DAYS after now), its
    e-mail queued; and, for a rectification, erasure or restriction, a notice to track per
    recipient the subject's data was disclosed to."""
    now = timezone.now()
    systems = SourceSystem.objects.filter(
        pk__in=plan.actions.values("system_id"), processor__gt=""
    ).order_by("name")
    instructed = []
    for system in systems:
        instruction = ProcessorInstruction.objects.create(
            case=case,
            plan=plan,
            system=system,
            processor=system.processor,
            email=system.processor_email,
            due_at=now + dt.timedelta(days=settings.DSAR_PROCESSOR_DUE_DAYS),
        )
        instructed.append(system.slug)
        if instruction.email:
            queue.enqueue_on_commit("notify_processor", instruction.pk)
    recipients = []
    if plan.intent in TOLD_TO_RECIPIENTS:
        for recipient in recipients_disclosed_to(case):
            RecipientNotice.objects.create(case=case, plan=plan, recipient=recipient)
            recipients.append(recipient.code)
    if instructed or recipients:
        record_event(
            case,
            "plan.others_to_tell",
            actor=actor,
            details={"plan": plan.number, "processors": instructed, "recipients": recipients},
        )


def instruction_issue_link(instruction_id: int) -> tuple[ProcessorInstruction, str] | None:
    """A new link for the instruction's e-mail (an earlier one stops working). Returns the
    instruction and the token, which exists from here on only in the e-mail; None when the
    instruction is confirmed already."""
    with transaction.atomic():
        instruction = (
            ProcessorInstruction.objects.select_for_update()
            .select_related("case", "system")
            .get(pk=instruction_id)
        )
        if instruction.state == ProcessorInstruction.State.CONFIRMED:
            return None
        raw = new_token()
        instruction.token_hash = hash_token(raw)
        instruction.token_expires_at = timezone.now() + dt.timedelta(
            days=settings.DSAR_PROCESSOR_LINK_DAYS
        )
        instruction.save(update_fields=["token_hash", "token_expires_at", "updated_at"])
    return instruction, raw


def instruction_sent(*, instruction: ProcessorInstruction) -> None:
    """The e-mail with the link went out."""
    with transaction.atomic():
        updated = ProcessorInstruction.objects.filter(
            pk=instruction.pk, state__in=(ProcessorInstruction.State.PENDING,)
        ).update(state=ProcessorInstruction.State.SENT, sent_at=timezone.now())
        record_event(
            instruction.case,
            "processor.instructed",
            actor=Actor.system(),
            details={
                "plan": instruction.plan.number,
                "system": instruction.system.slug,
                "again": not updated,
            },
        )


def instruction_resend(*, instruction: ProcessorInstruction, actor: Actor) -> None:
    """Staff send the processor a new link (the earlier one lost, or expired)."""
    require_perm(actor, "casework.complete_manual_run")
    if instruction.state == ProcessorInstruction.State.CONFIRMED:
        raise ValidationError(_("The processor has confirmed already."))
    if not instruction.email:
        raise ValidationError(_("The register names no e-mail address for this processor."))
    queue.enqueue_on_commit("notify_processor", instruction.pk)


def _clean_confirmation(name: str, note: str) -> tuple[str, str]:
    name, note = name.strip(), note.strip()
    errors = {}
    if not name:
        errors["name"] = _("Give your name.")
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = _("The name is too long.")
    if not note:
        errors["note"] = _("Say what was done, and where.")
    if errors:
        raise ValidationError(errors)
    return name, note


def _confirm(
    instruction: ProcessorInstruction, *, name: str, note: str, user, actor: Actor
) -> ProcessorInstruction:
    """Record the (locked) instruction confirmed, and spend its link."""
    if instruction.state == ProcessorInstruction.State.CONFIRMED:
        raise ValidationError(_("The processor has confirmed already."))
    if instruction.plan.state != FulfilmentPlan.State.APPROVED:
        raise ValidationError(_("The plan of this instruction is no longer carried out."))
    now = timezone.now()
    instruction.state = ProcessorInstruction.State.CONFIRMED
    instruction.confirmed_at = now
    instruction.confirmed_name = name
    instruction.confirmed_by = user
    instruction.confirmation_note = note
    # The link is spent: its hash stays, so that a second use is told it was used.
    instruction.save()
    record_event(
        instruction.case,
        "processor.confirmed",
        actor=actor,
        # Never the note nor the name typed: free text may carry what it should not.
        details={
            "plan": instruction.plan.number,
            "system": instruction.system.slug,
            "through": "staff" if user is not None else "link",
        },
    )
    return instruction


def _locked(**lookup) -> ProcessorInstruction | None:
    return (
        ProcessorInstruction.objects.select_for_update(of=("self",))
        .select_related("case", "plan", "system")
        .filter(**lookup)
        .first()
    )


def instruction_for_link(raw: str) -> ProcessorInstruction:
    """The instruction a link opens (a GET: nothing spent). Raises TokenError."""
    if not raw or len(raw) > 100:
        raise TokenUnknown
    instruction = (
        ProcessorInstruction.objects.select_related("case", "plan", "system")
        .filter(token_hash=hash_token(raw))
        .first()
    )
    return _usable(instruction)


def _usable(instruction: ProcessorInstruction | None) -> ProcessorInstruction:
    if instruction is None:
        raise TokenUnknown
    if instruction.state == ProcessorInstruction.State.CONFIRMED:
        raise TokenUsed
    if instruction.token_expires_at is None or instruction.token_expires_at <= timezone.now():
        raise TokenExpired
    return instruction


def instruction_confirm_by_link(*, raw: str, name: str, note: str) -> ProcessorInstruction:
    """The processor confirms through the link's page: what was done, and who. The link is
    spent: a second use is refused (TokenUsed)."""
    name, note = _clean_confirmation(name, note)
    if not raw or len(raw) > 100:
        raise TokenUnknown
    with transaction.atomic():
        instruction = _usable(_locked(token_hash=hash_token(raw)))
        return _confirm(instruction, name=name, note=note, user=None, actor=Actor.system())


def instruction_confirm(
    *, instruction: ProcessorInstruction, actor: Actor, note: str
) -> ProcessorInstruction:
    """Staff confirm the processor did it (told by phone, say); the link stops working."""
    require_perm(actor, "casework.complete_manual_run")
    name, note = _clean_confirmation(actor.label, note)
    with transaction.atomic():
        instruction = _locked(pk=instruction.pk)
        return _confirm(instruction, name=name, note=note, user=actor.user, actor=actor)


def case_record_recipient_notice(
    *, case: Case, actor: Actor, recipient: str, outcome: str, reason: str = ""
) -> RecipientNotice:
    """The `record_recipient_notice` operation: a recipient the subject's data was disclosed
    to was told of the change (sent), or could not be (impossible), or telling it would
    involve disproportionate effort; the last two with the reason, which the subject reads."""
    reason = reason.strip()
    if outcome not in (
        RecipientNotice.Outcome.SENT,
        RecipientNotice.Outcome.IMPOSSIBLE,
        RecipientNotice.Outcome.DISPROPORTIONATE,
    ):
        raise ValidationError({"outcome": _("Choose sent, impossible or disproportionate.")})
    if outcome != RecipientNotice.Outcome.SENT and not reason:
        raise ValidationError({"reason": _("Give the reason: the subject is told it.")})
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_record_recipient_notice(locked, actor)
        notice = (
            RecipientNotice.objects.select_for_update(of=("self",))
            .select_related("recipient", "plan")
            .filter(
                case=locked,
                plan__state=FulfilmentPlan.State.APPROVED,
                outcome=RecipientNotice.Outcome.PENDING,
                recipient__code=recipient.strip(),
            )
            .first()
        )
        if notice is None:
            raise ValidationError(
                {"recipient": _("No recipient with that code waits to be told of this case.")}
            )
        notice.outcome = outcome
        notice.reason = reason if outcome != RecipientNotice.Outcome.SENT else ""
        notice.recorded_by = actor.user
        notice.recorded_at = timezone.now()
        notice.save(update_fields=["outcome", "reason", "recorded_by", "recorded_at"])
        record_event(
            locked,
            "recipient.notice_recorded",
            actor=actor,
            details={
                "plan": notice.plan.number,
                "recipient": notice.recipient.code,
                "outcome": outcome,
            },
        )
    return notice
