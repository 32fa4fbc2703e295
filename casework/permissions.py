"""Who may do what to a case: the transitions' guards and permissions, the permission checks of
the other operations, and who may be assigned a case. Services enforce these; the admin, the
command line and the API ask the same functions before they offer an operation."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_fsm import TransitionNotAllowed

from casework import deadlines, roles
from casework.actors import Actor
from casework.audit import current_origin
from casework.models import (
    BUNDLE_TYPES,
    CHANGING_TYPES,
    RESPONSE_STATES,
    AuditEvent,
    Case,
    ConnectorRun,
    DrpRequest,
    FulfilmentPlan,
    State,
    is_marketing_objection,
    is_objection_lifting,
    latest_request_plan,
    needs_four_eyes,
    stops_disclosure,
)
from casework.selectors.fulfilment import (
    latest_plan,
    lifting_under_way,
    plan_fingerprint,
    plan_may_run,
    plan_needs_retry,
    restriction_in_force,
    undecided_keeps,
)
from casework.selectors.gathering import current_runs
from casework.selectors.identity import undecided_links
from casework.selectors.release import released_bundles
from casework.selectors.review import review_can_reopen, review_is_open

# The roles that work cases: the only people a case can be assigned to.
ASSIGNABLE_ROLES = (roles.PRIVACY_TEAM, roles.DPO)
# The audit action of a prepared plan (readers of stored events accept every name it had).
PLAN_PREPARED_ACTIONS = ("plan.submitted", "case.plan_prepared")
REVIEW_COMPLETED_ACTIONS = ("review.completed",)


def transition_meta(case: Case, name: str):
    """The django-fsm Transition for `name` from the case's current state, or None."""
    method = getattr(case, name, None)
    meta = getattr(method, "_django_fsm", None)
    if meta is None:
        raise ValueError(f"{name!r} is not a case transition")
    return meta.get_transition(case.state)


def check_transition(case: Case, name: str, actor: Actor) -> None:
    """Raise unless `actor` may run transition `name` on `case` now."""
    t = transition_meta(case, name)
    if t is None:
        raise TransitionNotAllowed(
            _("“%(action)s” is not possible while the case is %(state)s.")
            % {"action": name, "state": case.get_state_display()}
        )
    if actor.kind == Actor.SUBJECT:
        if not t.custom.get("subject"):
            raise PermissionDenied(_("The subject cannot do this."))
    elif not actor.may_run(t, case):
        if t.custom.get("denied") and actor.has_perm(t.custom["perm"]):
            raise PermissionDenied(t.custom["denied"])
        raise PermissionDenied(_("You are not allowed to do this: %(action)s.") % {"action": name})
    failed = [c for c in t.conditions if not c(case)]
    if failed:
        reasons = "; ".join(str(getattr(c, "explanation", c.__name__)) for c in failed)
        raise TransitionNotAllowed(
            _("“%(action)s” is not possible yet: %(reasons)s.")
            % {"action": name, "reasons": reasons}
        )


def check_approver_is_not_the_planner(case: Case) -> None:
    """Four eyes across the command line: `--staff` names anyone, so an approval given from
    the operating-system account that recorded the plan (or, where releases need four eyes,
    completed the review) is that person's own, and refused."""
    os_user = current_origin().get("os_user")
    if not os_user or not needs_four_eyes(case):
        return
    actions = (
        PLAN_PREPARED_ACTIONS if case.request_type in CHANGING_TYPES else REVIEW_COMPLETED_ACTIONS
    )
    recorded = (
        AuditEvent.objects.filter(case=case, action__in=actions)
        .order_by("-chain_id", "-seq")
        .values_list("details", flat=True)
        .first()
    )
    if recorded and recorded.get("os_user") == os_user:
        raise PermissionDenied(
            _(
                "The plan was recorded from this operating-system account (%(user)s): another "
                "person approves it (four eyes)."
            )
            % {"user": os_user}
        )


def require_perm(actor: Actor, perm: str) -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(_("You are not allowed to do this."))


def assignable_staff(*, active_only: bool = True) -> QuerySet:
    """Active staff a case can be assigned to (and who are reminded of unassigned cases); with
    `active_only=False` also those since deactivated, whose cases a filter still finds."""
    staff = get_user_model().objects.filter(groups__name__in=ASSIGNABLE_ROLES)
    if active_only:
        staff = staff.filter(is_active=True)
    return staff.distinct().order_by("username")


def check_assignee(user) -> None:
    """Raise unless a case may be assigned to `user` (None: unassigned, always allowed)."""
    if user is not None and not user.groups.filter(name__in=ASSIGNABLE_ROLES).exists():
        raise ValidationError(
            {"assignee": _("Cases can be assigned to the privacy team or the DPO only.")}
        )


def staff_user(username: str):
    """The active staff member called `username`, for commands that act on someone's behalf."""
    User = get_user_model()
    try:
        return User.objects.get(username=username, is_active=True, is_staff=True)
    except User.DoesNotExist:
        raise ValidationError(_("No active staff member “%(u)s”.") % {"u": username}) from None


# --- the operations that are not transitions -------------------------------------------------------
# Each raises PermissionDenied or TransitionNotAllowed unless `actor` may do it to `case` now;
# the service calls it on the locked case, and `casework.operations` asks it before offering.


def check_extend(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.extend_deadline")
    if not case.is_open:
        raise TransitionNotAllowed(_("A closed case cannot be extended."))
    if (
        case.regime == "ccpa"
        and case.request_type == "objection"
        and stops_disclosure(case.details)
    ):
        raise ValidationError(
            {
                "new_due": _(
                    "CCPA/CPRA allows no extension of an opt-out of sale or sharing: it is "
                    "complied with within 15 business days."
                )
            }
        )
    original = case.original_due_at or case.due_at
    if timezone.now() > original:
        raise ValidationError(
            {
                "new_due": _("An extension must be announced before the original deadline (%(d)s).")
                % {"d": deadlines.local_date(original)}
            }
        )


def check_record_response(case: Case, actor: Actor) -> None:
    if actor.kind == Actor.STAFF:
        require_perm(actor, "casework.record_response")
    if case.state not in RESPONSE_STATES:
        raise TransitionNotAllowed(
            _("The response is recorded once the case is in review or being fulfilled.")
        )


def check_draft_plan(case: Case, actor: Actor) -> None:
    """A plan of changes is drafted once the review of what was found is complete."""
    require_perm(actor, "casework.prepare_plan")
    if case.request_type not in CHANGING_TYPES:
        raise ValidationError(
            _(
                "Only erasure, rectification, restriction and objection cases have a plan of "
                "changes."
            )
        )
    if is_objection_lifting(case):
        raise ValidationError(
            _(
                "Lifting an objection changes no source system: it is carried out by the "
                "lift_objection operation."
            )
        )
    if case.state != State.IN_REVIEW:
        raise TransitionNotAllowed(_("A plan can be drafted only while the case is in review."))
    if case.request_type == "objection" and not is_marketing_objection(case):
        decided = getattr(case, "objection_decision", None)
        if decided is None or decided.outcome != "stop":
            raise ValidationError(
                _(
                    "An objection to processing based on legitimate interests is decided by "
                    "the DPO first (decide_objection): a plan is drafted once they decide to "
                    "stop the processing."
                )
            )
    if case.review_completed_at is None:
        raise ValidationError(
            _("A plan is drafted once the review of the gathered data is complete.")
        )


def check_submit_plan(
    case: Case,
    actor: Actor,
    plan: FulfilmentPlan | None = None,
    *,
    decisions_pending_ok: bool = False,
) -> None:
    """The case's newest plan is drafted, and every record left to a person is decided (or,
    with `decisions_pending_ok`, may still be)."""
    require_perm(actor, "casework.prepare_plan")
    if case.state != State.IN_REVIEW:
        raise TransitionNotAllowed(_("A plan can be submitted only while the case is in review."))
    plan = plan or latest_plan(case)
    if plan is None or plan.state != FulfilmentPlan.State.DRAFT:
        raise ValidationError(_("There is no drafted plan to submit."))
    undecided = [] if decisions_pending_ok else undecided_keeps(plan)
    if undecided:
        raise ValidationError(
            ngettext(
                "%(n)d record waits for a decision (kept while needed to defend a legal claim, "
                "or erased): decide it first.",
                "%(n)d records wait for a decision (kept while needed to defend a legal claim, "
                "or erased): decide each first.",
                len(undecided),
            )
            % {"n": len(undecided)}
        )


def check_decide_records(case: Case, actor: Actor) -> None:
    """The drafted plan has records the rules leave to a person, not yet decided."""
    require_perm(actor, "casework.prepare_plan")
    if case.state != State.IN_REVIEW:
        raise TransitionNotAllowed(_("Records are decided while the case is in review."))
    plan = latest_plan(case)
    if plan is None or plan.state != FulfilmentPlan.State.DRAFT or not undecided_keeps(plan):
        raise ValidationError(_("No record of the plan waits for a decision."))


def check_confirm_manual_action(case: Case, actor: Actor) -> None:
    """The plan being carried out has a manual action waiting for its confirmation."""
    require_perm(actor, "casework.complete_manual_run")
    plan = latest_plan(case, FulfilmentPlan.State.APPROVED)
    if plan is None or not plan_may_run(plan):
        raise TransitionNotAllowed(_("Manual changes are confirmed while the case is fulfilled."))
    if not plan.actions.filter(manual=True, state="waiting").exists():
        raise ValidationError(_("No manual change waits for a confirmation."))


def check_record_recipient_notice(case: Case, actor: Actor) -> None:
    """A recipient the subject's data was disclosed to waits to be told of the change."""
    require_perm(actor, "casework.record_response")
    if case.state != State.FULFILLING:
        raise TransitionNotAllowed(_("Recipients are told while the case is being fulfilled."))
    if not case.recipient_notices.filter(
        outcome="pending", plan__state=FulfilmentPlan.State.APPROVED
    ).exists():
        raise ValidationError(_("No recipient waits to be told of this case."))


def check_retry_actions(case: Case, actor: Actor) -> None:
    """The approved plan has failed actions, or a scan that could not reach a system."""
    require_perm(actor, "casework.prepare_plan")
    plan = latest_plan(case, FulfilmentPlan.State.APPROVED)
    if plan is None or not plan_may_run(plan):
        raise TransitionNotAllowed(_("Actions are retried while the case is being fulfilled."))
    if not plan_needs_retry(plan):
        raise ValidationError(_("Nothing failed: there is nothing to retry."))


def check_decide_objection(case: Case, actor: Actor) -> None:
    """An objection to processing based on legitimate interests, in review, not yet decided:
    the DPO decides it (Art. 21(1))."""
    require_perm(actor, "casework.decide_objection")
    if (
        case.request_type != "objection"
        or is_marketing_objection(case)
        or is_objection_lifting(case)
    ):
        raise ValidationError(
            _("Only an objection to processing based on legitimate interests is decided so.")
        )
    if case.state != State.IN_REVIEW:
        raise TransitionNotAllowed(_("An objection is decided while the case is in review."))
    if getattr(case, "objection_decision", None) is not None:
        raise ValidationError(_("This objection has been decided already."))


def check_search_again(case: Case, actor: Actor) -> FulfilmentPlan:
    """The request's newest plan was carried out and its verification scan flagged records it
    does not keep (`gather_again`). Returns that plan."""
    check_transition(case, "gather_again", actor)
    return latest_request_plan(case)


def check_lift_restriction(case: Case, actor: Actor) -> FulfilmentPlan:
    """A completed restriction whose restriction is in force and not being lifted already.
    Returns the plan whose restriction is lifted."""
    require_perm(actor, "casework.lift_restriction")
    if case.request_type != "restriction" or case.state != State.COMPLETED:
        raise TransitionNotAllowed(_("Only a restriction carried out can be lifted."))
    restricted = restriction_in_force(case)
    if restricted is None:
        raise ValidationError(_("No restriction of this case is in force."))
    if lifting_under_way(case) is not None:
        raise ValidationError(_("The restriction is being lifted already."))
    return restricted


def check_lift_objection(case: Case, actor: Actor) -> None:
    """An opt-in case (an objection marked as a lifting), in review: one member of the
    privacy team or the DPO lifts the subject's opt-outs and completes it."""
    require_perm(actor, "casework.lift_objection")
    if not is_objection_lifting(case):
        raise ValidationError(
            _("Only an objection case marked as a lifting (an opt-in) lifts opt-outs.")
        )
    if case.state != State.IN_REVIEW:
        raise TransitionNotAllowed(
            _("An objection is lifted while the case is in review (its identity verified).")
        )


def check_plan_approvable(case: Case, actor: Actor) -> FulfilmentPlan:
    """The submitted plan, still as submitted, and an approver who did not submit it."""
    plan = latest_plan(case)
    if plan is None or plan.state != FulfilmentPlan.State.SUBMITTED:
        raise ValidationError(_("No plan of changes has been submitted for approval."))
    if needs_four_eyes(case) and actor.user is not None and plan.submitted_by_id == actor.user.pk:
        raise ValidationError(_("The person who submitted the plan cannot approve it."))
    if plan_fingerprint(plan) != plan.fingerprint:
        raise ValidationError(
            _("The plan changed after it was submitted: it must be reviewed and submitted again.")
        )
    return plan


def check_add_note(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.add_casenote")


def check_make_confidential(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.manage_confidential")
    if case.confidential:
        raise TransitionNotAllowed(_("The case is confidential already."))


def check_end_confidential(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.manage_confidential")
    if not case.confidential:
        raise TransitionNotAllowed(_("The case is not confidential."))


def check_name_confidential_staff(case: Case, actor: Actor) -> None:
    check_end_confidential(case, actor)


def confidential_readers() -> QuerySet:
    """Active staff who read cases: those a confidential case can be shown to."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            is_staff=True,
            groups__name__in=(roles.PRIVACY_TEAM, roles.DPO, roles.AUDITOR),
        )
        .distinct()
        .order_by("username")
    )


def check_assign(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.assign_case")


def check_retry_sources(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.retry_run")
    if case.state != State.GATHERING:
        raise TransitionNotAllowed(_("Sources can be retried only while the case is gathering."))
    if not current_runs(case).filter(state=ConnectorRun.State.FAILED).exists():
        raise TransitionNotAllowed(_("No source has failed."))


def check_complete_review(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.review_records")
    if case.state != State.IN_REVIEW:
        raise TransitionNotAllowed(_("Records are reviewed while the case is in review."))
    if not review_is_open(case):
        raise ValidationError(_("The review is complete; reopen it to change decisions."))


def check_review_can_complete(case: Case, actor: Actor) -> None:
    """The review may be completed: it is open, and no record waits for staff to say whose it
    is (a look-alike address not cleared, records the verified channel does not reach)."""
    check_complete_review(case, actor)
    if case.lookalike_held:
        raise ValidationError(
            _(
                "The request's e-mail address looks like another address we hold. Clear the "
                "look-alike flag first, saying how you know the address is the subject's own."
            )
        )
    waiting = len(undecided_links(case))
    if waiting:
        raise ValidationError(
            ngettext(
                "%(n)d subject record was found only through what the requester typed, or "
                "holds another e-mail address: confirm it with evidence or leave it out first.",
                "%(n)d subject records were found only through what the requester typed, or "
                "hold another e-mail address: confirm them with evidence or leave them out first.",
                waiting,
            )
            % {"n": waiting}
        )


def check_decide_record_link(case: Case, actor: Actor) -> None:
    """Held records are confirmed or left out while the review is open."""
    check_complete_review(case, actor)


def check_clear_lookalike(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.verify_case")
    if not case.lookalike_held:
        raise ValidationError(_("The request's address is not flagged as a look-alike."))
    if not case.is_open:
        raise TransitionNotAllowed(_("The case is closed."))


def check_reopen_review(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.review_records")
    if not review_can_reopen(case):
        raise TransitionNotAllowed(
            _("Only a completed review of a case in review can be reopened.")
        )


def check_revoke_release(case: Case, actor: Actor) -> None:
    """Only the DPO revokes a release, and only of a bundle the subject can still be given."""
    require_perm(actor, "casework.revoke_release")
    if case.request_type not in BUNDLE_TYPES:
        raise TransitionNotAllowed(_("Only access and portability cases release a bundle."))
    if not released_bundles(case).exists():
        raise TransitionNotAllowed(_("No bundle of this case is released."))


def check_assess_breach(actor: Actor) -> None:
    require_perm(actor, roles.BREACH_ASSESS)


def check_set_legal_hold(case: Case, actor: Actor) -> None:
    """The DPO puts a case on legal hold (litigation, a regulator's inquiry): no purge of any
    kind touches it until lifted. A case already purged has nothing left to hold."""
    require_perm(actor, "casework.hold_case")
    if case.purged_at is not None:
        raise TransitionNotAllowed(_("The case was reduced to anonymous statistics already."))
    if case.legal_hold_at is not None:
        raise ValidationError(_("The case is on legal hold already."))


def check_lift_legal_hold(case: Case, actor: Actor) -> None:
    require_perm(actor, "casework.hold_case")
    if case.legal_hold_at is None:
        raise ValidationError(_("The case is not on legal hold."))


def check_drp_denial_reason(case: Case, actor: Actor) -> None:
    """The DPO words a refusal for the authorised agent that filed the request (DRP)."""
    require_perm(actor, "casework.reject_case")
    if case.state != State.REJECTED:
        raise TransitionNotAllowed(_("Only a refused request has a reason to tell the agent."))
    if not DrpRequest.objects.filter(case=case).exists():
        raise TransitionNotAllowed(_("No authorised agent filed this request."))
