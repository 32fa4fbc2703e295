"""Writes of fulfilment: asking for a plan, storing the drafted plan, submitting it for the
second person's approval (DESIGN.md, "The case": four eyes), and the outcome of its actions.

The drafting and the changes themselves happen on a worker (`casework.engine.fulfilment`);
these functions change rows and write the audit trail, one transaction each.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from casework import queue, work
from casework.actors import Actor
from casework.audit import record_event, take_case
from casework.models import (
    Case,
    FulfilmentAction,
    FulfilmentPlan,
    Notice,
    PlanKeep,
    is_marketing_objection,
)
from casework.permissions import (
    check_draft_plan,
    check_lift_restriction,
    check_retry_actions,
    check_submit_plan,
    require_perm,
)
from casework.selectors.fulfilment import (
    AskedCorrection,
    asked_corrections,
    find_asked,
    held_fields,
    latest_plan,
    lifting_told,
    lifting_under_way,
    plan_fingerprint,
    plan_may_run,
    plan_verification_failed,
)
from casework.services.processors import instruct_and_notify
from dsar.connectors.changes import Change, Intent

# What each request type asks of the systems.
INTENT_FOR = {
    "erasure": Intent.ERASE,
    "rectification": Intent.RECTIFY,
    "restriction": Intent.RESTRICT,
    "objection": Intent.STOP_MARKETING,
}


def intent_for(case: Case) -> Intent:
    """What the request asks of the systems; an objection to processing on legitimate
    interests that the DPO decided to stop stops that processing, not marketing."""
    if case.request_type == "objection" and not is_marketing_objection(case):
        return Intent.OBJECT
    return INTENT_FOR[case.request_type]


OPEN_PLAN_STATES = (
    FulfilmentPlan.State.PENDING,
    FulfilmentPlan.State.DRAFTING,
    FulfilmentPlan.State.DRAFT,
    FulfilmentPlan.State.SUBMITTED,
)


@dataclass
class DraftedPlan:
    """What a worker drafted: the changes per system in order, and the records kept."""

    actions: list[tuple[int, Change]] = field(default_factory=list)  # (system id, change)
    kept: list[dict] = field(default_factory=list)  # PlanKeep fields
    # A restriction: the records it marks (FulfilmentPlan.records), to lift them by later.
    records: list[dict] = field(default_factory=list)


def _lock(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def plan_request(
    *,
    case: Case,
    actor: Actor,
    corrections: dict[str, str] | None = None,
    refused: dict[str, str] | None = None,
) -> FulfilmentPlan:
    """Ask a worker to draft the case's plan of changes from the records review left in. An
    earlier plan not yet approved is superseded: the new one is drafted from what is there
    now. A rectification's plan carries staff's decision on every correction asked for: the
    `corrections` to make (field key -> new value) and those `refused` (-> the reason the
    subject is told); see `check_corrections`."""
    corrections, refused = dict(corrections or {}), dict(refused or {})
    with transaction.atomic():
        locked = _lock(case)
        check_draft_plan(locked, actor)
        intent = intent_for(locked)
        if intent == Intent.RECTIFY:
            check_corrections(corrections, refused, asked=asked_corrections(locked))
        else:
            corrections, refused = {}, {}
        superseded = FulfilmentPlan.objects.filter(case=locked, state__in=OPEN_PLAN_STATES).update(
            state=FulfilmentPlan.State.SUPERSEDED, updated_at=timezone.now()
        )
        number = (
            FulfilmentPlan.objects.filter(case=locked).aggregate(n=Max("number"))["n"] or 0
        ) + 1
        plan = FulfilmentPlan.objects.create(
            case=locked,
            number=number,
            intent=intent,
            salt=secrets.token_hex(32),
            corrections=corrections,
            refused_corrections=refused,
        )
        if locked.plan_prepared_by_id is not None:
            # The earlier plan's submission no longer stands.
            locked.plan_prepared_by = None
            locked.plan_prepared_at = None
            locked.save(update_fields=["plan_prepared_by", "plan_prepared_at", "updated_at"])
        record_event(
            locked,
            "plan.requested",
            actor=actor,
            details={
                "plan": number,
                "intent": str(intent),
                "superseded": superseded,
                # Which fields, never their new values (nor the subject's words).
                "fields": sorted(plan.corrections),
                **(_decisions_told(locked, plan) if intent == Intent.RECTIFY else {}),
            },
        )
        queue.enqueue_on_commit("draft_plan", plan.pk)
    return plan


def plan_drafted(plan: FulfilmentPlan, drafted: DraftedPlan) -> bool:
    """Store what the worker drafted, if its attempt still holds the plan. False otherwise."""
    with transaction.atomic():
        take_case(plan.case_id)
        if not work.complete(
            plan,
            state=FulfilmentPlan.State.DRAFT,
            drafted_at=timezone.now(),
            records=drafted.records,
        ):
            return False
        FulfilmentAction.objects.bulk_create(
            FulfilmentAction(
                plan=plan,
                position=position,
                system_id=system_id,
                target=change.target,
                strategy=str(change.strategy),
                manual=change.manual,
                change=change.to_dict(),
                records=len(change.keys),
            )
            for position, (system_id, change) in enumerate(drafted.actions, start=1)
        )
        PlanKeep.objects.bulk_create(PlanKeep(plan=plan, **kept) for kept in drafted.kept)
        record_event(
            plan.case,
            "plan.drafted",
            actor=Actor.system(),
            details={
                "plan": plan.number,
                "actions": len(drafted.actions),
                "records_changed": sum(len(change.keys) for _s, change in drafted.actions),
                "manual": sum(1 for _s, change in drafted.actions if change.manual),
                "records_kept": len(drafted.kept),
            },
        )
    return True


def plan_failed(plan: FulfilmentPlan, message: str, exc: BaseException | None = None) -> None:
    with transaction.atomic():
        take_case(plan.case_id)
        if work.fail(plan, exc=exc, error=message[:500]):
            record_event(
                plan.case,
                "plan.drafting_failed",
                actor=Actor.system(),
                details={"plan": plan.number, "error_class": type(exc).__name__ if exc else ""},
            )


def check_corrections(
    corrections: dict[str, str],
    refused: dict[str, str] | None = None,
    *,
    asked: Sequence[AskedCorrection] = (),
) -> None:
    """A rectification decides every correction the subject asked for on the form (`asked`):
    made (`corrections`, of fields some system holds) or refused (`refused`, with the reason
    the subject is told). Staff correct no field the subject did not ask about, but for one
    their words named no register field: it is refused, or made under the field it means
    (one such field per such correction). Refusing everything changes nothing: that is a
    rejection. A request that listed no corrections (by letter, say) names them here."""
    refused = refused or {}
    if any(not str(reason).strip() for reason in refused.values()):
        unexplained = sorted(name for name, reason in refused.items() if not str(reason).strip())
        raise ValidationError(
            {
                "corrections": _("Say why %(fields)s is refused: the subject is told the reason.")
                % {"fields": ", ".join(unexplained)}
            }
        )
    both = sorted(set(corrections) & set(refused))
    if both:
        raise ValidationError(
            {
                "corrections": _("%(fields)s is both corrected and refused: decide once.")
                % {"fields": ", ".join(both)}
            }
        )
    if asked:
        named = {item.key for item in asked if item.key}
        unnamed = [item.field for item in asked if not item.key]
        undecided = [
            item.name for item in asked if item.key and item.key not in {*corrections, *refused}
        ]
        if undecided:
            raise ValidationError(
                {
                    "corrections": _(
                        "Decide every correction asked for: %(fields)s is not decided "
                        "(accept it, correct it to another value, or refuse it with a reason)."
                    )
                    % {"fields": ", ".join(dict.fromkeys(undecided))}
                }
            )
        not_asked = sorted(set(refused) - named - set(unnamed))
        if not_asked:
            raise ValidationError(
                {
                    "corrections": _("The subject did not ask to correct %(fields)s.")
                    % {"fields": ", ".join(not_asked)}
                }
            )
        added = sorted(set(corrections) - named)
        open_unnamed = [words for words in unnamed if words not in refused]
        if len(added) > len(open_unnamed):
            raise ValidationError(
                {
                    "corrections": _(
                        "The subject did not ask to correct %(fields)s: correct only what "
                        "they asked for."
                    )
                    % {"fields": ", ".join(added)}
                }
            )
        if len(added) < len(open_unnamed):
            raise ValidationError(
                {
                    "corrections": _(
                        "“%(words)s” names no field of the register: refuse it with a reason, "
                        "or correct the field it means."
                    )
                    % {"words": "”, “".join(open_unnamed)}
                }
            )
    if refused and not corrections:
        raise ValidationError(
            {
                "corrections": _(
                    "Every correction is refused, so nothing would change. Reject the request "
                    "instead (the reject operation): the subject is told the reason."
                )
            }
        )
    if not corrections:
        raise ValidationError({"corrections": _("Name the corrections to make.")})
    held = held_fields()
    unknown = sorted(set(corrections) - set(held))
    if unknown and not held:
        raise ValidationError(
            {"corrections": _("No active system exports a field that could be corrected.")}
        )
    if unknown:
        raise ValidationError(
            {
                "corrections": _(
                    "No system holds a field %(fields)s. Use the register's field keys: %(known)s."
                )
                % {"fields": ", ".join(unknown), "known": ", ".join(held)}
            }
        )


def _decisions_told(case: Case, plan: FulfilmentPlan) -> dict[str, object]:
    """The decisions for the audit trail: field keys, never values; a refusal of words that
    named no field is counted, not quoted."""
    asked = {item.key: item.correct for item in asked_corrections(case) if item.key}
    return {
        "edited": sorted(
            key for key, value in plan.corrections.items() if key in asked and value != asked[key]
        ),
        "refused": sorted(name for name in plan.refused_corrections if name in asked),
        "refused_unnamed": sum(1 for name in plan.refused_corrections if name not in asked),
    }


def case_draft_plan(*, case: Case, actor: Actor, corrections: str = "") -> FulfilmentPlan:
    """The `draft_plan` operation: a rectification's decisions as lines (see
    `parse_correction_decisions`)."""
    if case.request_type != "rectification":
        return plan_request(case=case, actor=actor)
    return plan_decide_corrections(
        case=case, actor=actor, decisions=parse_correction_decisions(corrections)
    )


def parse_corrections(text: str) -> dict[str, str]:
    """`field: new value` per line -> {field: new value}; a line without a colon is refused."""
    corrections: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValidationError(
                {"corrections": _("Line %(n)d: write it as field: new value.") % {"n": number}}
            )
        corrections[name.strip()] = value.strip()
    return corrections


@dataclass(frozen=True)
class CorrectionDecision:
    """Staff's decision on one correction asked for, named by its register field key (or by
    the subject's words, where they named none): accept (the value asked), edit (`value`; of
    `field` when that is another field than the name, as for words that named none) or
    refuse (`reason`, told to the subject)."""

    name: str
    decision: str  # accept | edit | refuse
    value: str = ""
    field: str = ""
    reason: str = ""


DECISIONS = ("accept", "edit", "refuse")


def parse_correction_decisions(text: str) -> list[CorrectionDecision]:
    """One decision per line: `field: accept` (the value the subject asked for), `field: new
    value` (that value), `field: refuse: reason` (the reason is told to the subject). `field`
    is the register's field key, or the subject's words where they named no field."""
    decisions = []
    for name, value in parse_corrections(text).items():
        verdict, colon, reason = value.partition(":")
        if value.strip().casefold() == "accept":
            decisions.append(CorrectionDecision(name, "accept"))
        elif verdict.strip().casefold() == "refuse" and (colon or not reason):
            decisions.append(CorrectionDecision(name, "refuse", reason=reason.strip()))
        else:
            decisions.append(CorrectionDecision(name, "edit", value=value))
    return decisions


def plan_decide_corrections(
    *, case: Case, actor: Actor, decisions: Sequence[CorrectionDecision]
) -> FulfilmentPlan:
    """A rectification's plan from staff's decisions on the corrections asked for (the plan
    page's form and the command line alike): the corrections made and those refused, checked
    by `plan_request` (`check_corrections`)."""
    asked = asked_corrections(case)
    corrections: dict[str, str] = {}
    refused: dict[str, str] = {}
    for decision in decisions:
        if decision.decision not in DECISIONS:
            raise ValidationError({"corrections": _("Accept, correct or refuse each correction.")})
        item = find_asked(asked, decision.name)
        name = item.name if item is not None else decision.name.strip()
        if decision.decision == "refuse":
            refused[name] = decision.reason.strip()
        elif decision.decision == "accept":
            if item is None or not item.key:
                raise ValidationError(
                    {
                        "corrections": _(
                            "“%(name)s” is not a correction asked for that names a field: "
                            "write the field and its new value instead."
                        )
                        % {"name": decision.name}
                    }
                )
            corrections[item.key] = item.correct
        else:
            value = decision.value.strip()
            if not value:
                raise ValidationError(
                    {"corrections": _("Give the new value of %(name)s.") % {"name": name}}
                )
            corrections[(decision.field or name).strip()] = value
    return plan_request(case=case, actor=actor, corrections=corrections, refused=refused)


def case_submit_plan(*, case: Case, actor: Actor) -> FulfilmentPlan:
    """The `submit_plan` operation: the case's drafted plan, submitted."""
    plan = latest_plan(case)
    if plan is None:
        raise ValidationError(_("No plan has been drafted."))
    return plan_submit(plan=plan, actor=actor)


def plan_submit(*, plan: FulfilmentPlan, actor: Actor) -> FulfilmentPlan:
    """The privacy team member who reviewed the dry run submits it; another approves it. The
    submission holds for the plan as it is now (its fingerprint)."""
    with transaction.atomic():
        case = _lock(plan.case)
        plan = FulfilmentPlan.objects.select_for_update().get(pk=plan.pk)
        check_submit_plan(case, actor, plan)
        now = timezone.now()
        plan.state = FulfilmentPlan.State.SUBMITTED
        plan.submitted_by = actor.user
        plan.submitted_at = now
        plan.fingerprint = plan_fingerprint(plan)
        plan.save(
            update_fields=["state", "submitted_by", "submitted_at", "fingerprint", "updated_at"]
        )
        # The case's four-eyes rule reads who prepared the plan: the submitter never approves.
        case.plan_prepared_by = actor.user
        case.plan_prepared_at = now
        case.approved_by = None
        case.save(
            update_fields=["plan_prepared_by", "plan_prepared_at", "approved_by", "updated_at"]
        )
        record_event(
            case,
            "plan.submitted",
            actor=actor,
            details={"plan": plan.number, "fingerprint": plan.fingerprint[:16]},
        )
    return plan


def plan_approved(*, case: Case, actor: Actor, plan: FulfilmentPlan) -> FulfilmentPlan:
    """Inside the approval's transaction (the case locked), `plan` checked by
    `check_plan_approvable` in it: the plan is approved and its actions are queued; manual
    ones wait for a person from now on. Processors are instructed and recipients are to be
    told (`casework.services.processors`)."""
    _approve(plan, approver=actor.user)
    record_event(case, "plan.approved", actor=actor, details={"plan": plan.number})
    instruct_and_notify(case=case, plan=plan, actor=actor)
    return plan


def _approve(plan: FulfilmentPlan, *, approver) -> None:
    """Mark the (locked) plan approved and queue its execution, in the caller's transaction."""
    now = timezone.now()
    plan.state = FulfilmentPlan.State.APPROVED
    plan.approved_by = approver
    plan.approved_at = now
    plan.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    # Manual actions wait for their person from now on; automatic ones run one by one, in
    # plan order (`casework.engine.fulfilment.execute`).
    plan.actions.filter(manual=True).update(state=FulfilmentAction.State.WAITING, updated_at=now)
    queue.enqueue_on_commit("execute_plan", plan.pk)


def action_confirm(*, action: FulfilmentAction, actor: Actor, note: str) -> FulfilmentAction:
    """A person confirms a manual action done in the system they look after: what they changed
    (the note), who, when. The plan then goes on (and is carried out, if that was the last)."""
    require_perm(actor, "casework.complete_manual_run")
    note = note.strip()
    if not note:
        raise ValidationError({"note": _("Say what was changed, and where.")})
    with transaction.atomic():
        case = _lock(action.plan.case)
        action = (
            FulfilmentAction.objects.select_for_update().select_related("plan").get(pk=action.pk)
        )
        if action.plan.state != FulfilmentPlan.State.APPROVED or not plan_may_run(action.plan):
            raise ValidationError(_("The plan is not being carried out."))
        if not action.manual or action.state != FulfilmentAction.State.WAITING:
            raise ValidationError(_("This action does not wait for a confirmation."))
        now = timezone.now()
        action.state = FulfilmentAction.State.DONE
        action.results = dict.fromkeys(action.change.get("keys", []), "done")
        action.confirmed_by = actor.user
        action.confirmed_at = now
        action.confirmation_note = note
        action.finished_at = now
        action.save(
            update_fields=[
                "state",
                "results",
                "confirmed_by",
                "confirmed_at",
                "confirmation_note",
                "finished_at",
                "updated_at",
            ]
        )
        record_event(
            case,
            "plan.action_confirmed",
            actor=actor,
            details={
                "plan": action.plan.number,
                "position": action.position,
                "system": action.system.slug,
                "records": action.records,
            },
        )
        queue.enqueue_on_commit("execute_plan", action.plan_id)
    return action


def plan_decide_keeps(
    *, plan: FulfilmentPlan, actor: Actor, keep_ids: Sequence[int], decision: str
) -> FulfilmentPlan:
    """Decide records the rules leave to a person (correspondence kept while needed to defend
    a legal claim): keep them, or erase them. An erasure changes what the plan does, so the
    plan is drafted again, honouring every decision taken (`casework.engine.fulfilment`);
    keeping changes nothing else. Returns the plan to look at next."""
    if decision not in PlanKeep.Decision.values:
        raise ValidationError({"decision": _("Choose keep or erase.")})
    with transaction.atomic():
        case = _lock(plan.case)
        plan = FulfilmentPlan.objects.select_for_update().get(pk=plan.pk)
        check_submit_plan(case, actor, plan, decisions_pending_ok=True)
        chosen = plan.kept.filter(pk__in=keep_ids, verdict=PlanKeep.Verdict.REVIEW)
        count = chosen.update(decision=decision, decided_by=actor.user, decided_at=timezone.now())
        if not count:
            raise ValidationError(_("Choose at least one record that waits for a decision."))
        record_event(
            case,
            "plan.records_decided",
            actor=actor,
            details={"plan": plan.number, "decision": decision, "records": count},
        )
    if decision == PlanKeep.Decision.ERASE:
        return plan_request(
            case=case,
            actor=actor,
            corrections=plan.corrections,
            refused=plan.refused_corrections,
        )
    return plan


def plan_retry(*, case: Case, actor: Actor) -> FulfilmentPlan:
    """The `retry_actions` operation: actions that failed are queued again (they continue
    with the records not done yet: nothing is done twice), and a verification scan that
    could not reach a system is run again."""
    with transaction.atomic():
        locked = _lock(case)
        check_retry_actions(locked, actor)
        plan = latest_plan(locked, FulfilmentPlan.State.APPROVED)
        now = timezone.now()
        failed = plan.actions.filter(state=FulfilmentAction.State.FAILED).update(
            state=FulfilmentAction.State.PLANNED,
            attempts=0,
            next_attempt_at=None,
            error="",
            finished_at=None,
            updated_at=now,
        )
        rescan = bool(plan.verified_at and plan_verification_failed(plan))
        if rescan:
            FulfilmentPlan.objects.filter(pk=plan.pk).update(
                verified_at=None, verification={}, verification_clean=None, updated_at=now
            )
        record_event(
            locked,
            "plan.retried",
            actor=actor,
            details={"plan": plan.number, "actions": failed, "verification": rescan},
        )
        queue.enqueue_on_commit("execute_plan" if failed else "verify_plan", plan.pk)
    return plan


def case_decide_records(
    *, case: Case, actor: Actor, decision: str, records: str = "all"
) -> FulfilmentPlan:
    """The `decide_records` operation: the records of the drafted plan that the rules leave to
    a person (all of them, the default, or those whose record keys are listed, separated by
    commas), kept or erased; see `plan_decide_keeps`."""
    plan = latest_plan(case)
    if plan is None:
        raise ValidationError(_("No plan has been drafted."))
    waiting = plan.kept.filter(verdict=PlanKeep.Verdict.REVIEW, decision="")
    if records.strip().lower() not in ("", "all"):
        keys = {key.strip() for key in records.split(",") if key.strip()}
        waiting = waiting.filter(record_key__in=keys)
    ids = list(waiting.values_list("pk", flat=True))
    return plan_decide_keeps(plan=plan, actor=actor, keep_ids=ids, decision=decision)


def case_confirm_manual_action(*, case: Case, actor: Actor, action: str, note: str):
    """The `confirm_manual_action` operation: the manual action numbered `action` in the
    plan being carried out is done; see `action_confirm`."""
    plan = latest_plan(case, FulfilmentPlan.State.APPROVED)
    found = (
        plan.actions.filter(position=int(action)).first()
        if plan is not None and action.strip().isdigit()
        else None
    )
    if found is None:
        raise ValidationError({"action": _("No action of the plan has that number.")})
    return action_confirm(action=found, actor=actor, note=note)


# --- lifting a restriction (Art. 18(3)) ------------------------------------------------------


def case_lift_restriction(*, case: Case, actor: Actor, reason: str) -> FulfilmentPlan:
    """The `lift_restriction` operation: the subject is told first, with the reason (e-mail,
    else a letter to post); meanwhile a worker drafts the lifting from the records the
    restriction marked. The restriction is lifted once both are done (`lift_if_told`): never
    before the subject has been told."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason the subject is told.")})
    with transaction.atomic():
        locked = _lock(case)
        restricted = check_lift_restriction(locked, actor)
        now = timezone.now()
        number = (
            FulfilmentPlan.objects.filter(case=locked).aggregate(n=Max("number"))["n"] or 0
        ) + 1
        plan = FulfilmentPlan.objects.create(
            case=locked,
            number=number,
            intent=FulfilmentPlan.Intent.LIFT_RESTRICTION,
            salt=secrets.token_hex(32),
            records=restricted.records,
            reason=reason,
            # Who decided the lifting; the notice to the subject stands in for a second
            # person's approval (Art. 18(3) asks that the subject be told, then it is lifted).
            submitted_by=actor.user,
            submitted_at=now,
        )
        record_event(
            locked,
            "restriction.lifting_decided",
            actor=actor,
            details={"plan": number, "restriction_plan": restricted.number},
        )
        queue.enqueue_on_commit("notify_subject", locked.pk, Notice.LIFTING)
        queue.enqueue_on_commit("draft_plan", plan.pk)
    return plan


def lift_if_told(case: Case) -> FulfilmentPlan | None:
    """Carry out the lifting of the case's restriction once it is drafted and the subject has
    been told (called when either happens, and by the sweeper). Returns the plan started."""
    with transaction.atomic():
        locked = _lock(case)
        plan = lifting_under_way(locked)
        if plan is None or plan.state != FulfilmentPlan.State.DRAFT or not lifting_told(plan):
            return None
        plan = FulfilmentPlan.objects.select_for_update().get(pk=plan.pk)
        _approve(plan, approver=plan.submitted_by)
        record_event(
            locked,
            "restriction.lifting_started",
            actor=Actor.system(),
            details={"plan": plan.number, "actions": plan.actions.count()},
        )
    return plan
