"""The operations staff can run on a case: one list for the admin, the command line
(`manage.py case`) and the staff API.

Each operation names its service, the fields it takes (a reason, a note, a date, the case to
merge into, ...; the command line's options), and the check that decides whether it is
offered: the same check the service makes on the locked case, so that a button is shown
exactly when pressing it can succeed (input aside). The fields are parsed by one form
(`OperationForm`), whichever door the values come through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from casework import permissions, selectors, services
from casework.actors import Actor
from casework.models import (
    BUNDLE_TYPES,
    CHANGING_TYPES,
    AskPurpose,
    Case,
    DrpDenialReason,
    ObjectionDecision,
    VerificationMethod,
)
from casework.models.processors import RecipientNotice
from casework.selectors.access import may_see_case
from casework.services.drp import case_set_drp_denial_reason
from casework.services.processors import case_record_recipient_notice
from dsar.identifiers import IDENTIFIER_LABELS

# What a refusal raises: the service's checks, a stale copy of the case, or bad input.
REFUSALS = (PermissionDenied, TransitionNotAllowed, ConcurrentTransition, ValidationError)


@dataclass(frozen=True)
class Field:
    """A value an operation takes: `name` is its name on every door (`--reason`, `--note`,
    `--date`, `--into`, else `--field NAME=VALUE`), `argument` the service's keyword."""

    name: str
    label: str
    kind: str = "text"  # text, line, date, case, choice, flag, staff, reader, hidden
    required: bool = False
    argument: str = ""
    help_text: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    # Whether the field is asked for on this case (None: always).
    applies: Callable[[Case], bool] | None = None
    # The value the page starts with, from the case (a hidden field's, say).
    initial: Callable[[Case], Any] | None = None

    def applies_to(self, case: Case) -> bool:
        return self.applies is None or self.applies(case)

    @property
    def service_argument(self) -> str:
        return self.argument or self.name


@dataclass(frozen=True)
class Operation:
    name: str
    label: str
    # What it does, for its confirmation page; a callable words it for the case at hand.
    explanation: str | Callable[[Case], str]
    service: Callable[..., Any]
    check: Callable[[Case, Actor], None]
    # The permission it needs (`check` checks it, with everything else the service checks).
    permission: str = ""
    fields: tuple[Field, ...] = ()
    # Service arguments that do not come from a field.
    fixed: dict[str, Any] = field(default_factory=dict)
    # The django-fsm transition it runs (for the outcome shown before it is run).
    transition: str = ""
    danger: bool = False
    # What to say when done, from what the service returned; "" says the case's new state.
    done: Callable[[Any], str] | None = None
    # Offered as a button on the admin's case page (assigning is the page's own field).
    button: bool = True

    def explain(self, case: Case) -> str:
        return str(self.explanation(case) if callable(self.explanation) else self.explanation)

    def refusal(self, case: Case, actor: Actor) -> str:
        """Why `actor` cannot run this on `case` now, or "" when it is offered."""
        try:
            self.check(case, actor)
        except REFUSALS as exc:
            return refusal_text(exc)
        return ""

    def offered(self, case: Case, actor: Actor) -> bool:
        return not self.refusal(case, actor)

    def arguments(self, values: dict[str, Any]) -> dict[str, Any]:
        """The service's keyword arguments from cleaned field values."""
        arguments = dict(self.fixed)
        for f in self.fields:
            if f.name in values:
                arguments[f.service_argument] = values[f.name]
        return arguments

    def run(self, *, case: Case, actor: Actor, values: dict[str, Any]) -> Any:
        """Run the service as `actor`; raises one of REFUSALS when it refuses. Staff act only
        on cases they may see (a door that shows a case has checked it; this is the backstop)."""
        if actor.kind == Actor.STAFF and not may_see_case(actor.user, case):
            raise PermissionDenied(_("You are not allowed to do this."))
        return self.service(case=case, actor=actor, **self.arguments(values))

    def field_for_argument(self, argument: str) -> str | None:
        """The field that carries a service argument (to put the service's errors on it)."""
        for f in self.fields:
            if f.service_argument == argument:
                return f.name
        return None


def refusal_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, ConcurrentTransition):
        return str(_("The case was changed meanwhile; look at it again."))
    return str(exc) or str(_("You are not allowed to do this."))


def _transition(name: str) -> Callable[[Case, Actor], None]:
    def check(case: Case, actor: Actor) -> None:
        permissions.check_transition(case, name, actor)

    return check


def _approval_check(case: Case, actor: Actor) -> None:
    if case.request_type in CHANGING_TYPES:
        permissions.check_plan_approvable(case, actor)
    permissions.check_transition(case, "approve", actor)
    permissions.check_approver_is_not_the_planner(case)


NOTE = Field("note", _("Note (internal)"))


def _release_to_check(case: Case) -> bool:
    """The bundle will carry contact details or identifiers other than the verified channel."""
    return case.request_type in BUNDLE_TYPES and bool(selectors.release_check_for_page(case))


# Asked on the approval of a bundle that carries what `selectors.release_check` lists.
ACKNOWLEDGE = Field(
    "acknowledge",
    _("I have checked that these belong to the subject"),
    kind="flag",
    argument="acknowledged",
    help_text=_(
        "The bundle goes to whoever holds the verified channel. Leave out or redact in the "
        "review what belongs to someone else."
    ),
    applies=_release_to_check,
)
# What the approver saw: approving refuses an acknowledgement of a list that has changed since
# (a review reopened and completed again meanwhile). The command line acknowledges the list as
# it is, which `manage.py case REF` prints.
RELEASE_SEEN = Field(
    "release_seen",
    "",
    kind="hidden",
    argument="release_seen",
    applies=_release_to_check,
    initial=lambda case: selectors.release_fingerprint(selectors.release_check_for_page(case)),
)


def _reason(help_text: str = "") -> Field:
    return Field("reason", _("Reason"), required=True, help_text=help_text)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "verify",
        _("Verify identity"),
        _(
            "Records that you checked the subject's identity through a channel already on "
            "record. Gathering data from the source systems starts automatically."
        ),
        services.case_verify,
        _transition("verify"),
        permission="casework.verify_case",
        fields=(
            Field(
                "note",
                _("How identity was checked"),
                required=True,
                help_text=_(
                    "Which channel already on record you used (e.g. a call-back to the phone "
                    "number in the customer file) and what was confirmed."
                ),
            ),
        ),
        fixed={"method": VerificationMethod.STAFF_CHECK},
        transition="verify",
    ),
    Operation(
        "ask_subject",
        _("Ask the subject"),
        _(
            "Sends your message to the subject and puts the case on hold until they answer. "
            "Where the regime allows it for this question, the deadline clock pauses."
        ),
        services.case_ask_subject,
        _transition("ask_subject"),
        permission="casework.ask_subject",
        fields=(
            Field(
                "purpose",
                _("What we need"),
                kind="choice",
                required=True,
                choices=tuple(AskPurpose.choices),
            ),
            Field(
                "note",
                _("Message to the subject"),
                required=True,
                argument="message",
                help_text=_("The subject reads this. Ask only for what the case needs."),
            ),
        ),
        transition="ask_subject",
    ),
    Operation(
        "answered",
        _("Record the subject's answer"),
        _(
            "Records the subject's answer. The case returns to the state it was in, and a "
            "paused clock resumes."
        ),
        services.case_answered,
        _transition("answered"),
        permission="casework.record_answer",
        fields=(
            Field(
                "note",
                _("What the subject answered"),
                help_text=_("For answers that came by phone or letter."),
            ),
        ),
        transition="answered",
    ),
    Operation(
        "proceed_without_source",
        _("Proceed without the failed sources"),
        _(
            "Moves the case to review without the sources that failed. The reason is kept on "
            "the case."
        ),
        services.case_proceed_without_source,
        _transition("proceed_without_source"),
        permission="casework.proceed_without_source",
        fields=(_reason(),),
        transition="proceed_without_source",
    ),
    Operation(
        "add_identifier",
        _("Add an identifier"),
        _(
            "Nothing the request gave can be searched by in any of our systems. Add what the "
            "letter, the call or a record on file gives (a customer number, a phone, an "
            "e-mail) and say how you know it is the subject's: the case is searched by it."
        ),
        services.case_add_identifier,
        _transition("identifier_added"),
        permission="casework.add_identifier",
        fields=(
            Field(
                "kind",
                _("Kind of identifier"),
                kind="choice",
                required=True,
                choices=tuple(IDENTIFIER_LABELS.items()),
            ),
            Field("value", _("Identifier"), kind="line", required=True),
            Field(
                "note",
                _("How you know it is the subject's"),
                required=True,
                help_text=_("E.g. the customer number printed on the subject's signed letter."),
            ),
        ),
        transition="identifier_added",
    ),
    Operation(
        "clear_lookalike",
        _("Clear the look-alike flag"),
        _(
            "The request's e-mail address looks like another address we hold (letters from "
            "other scripts, or that read alike), so nothing found for it is released. Clear "
            "the flag only once you know the address is the subject's own, and say how."
        ),
        services.case_clear_lookalike,
        permissions.check_clear_lookalike,
        permission="casework.verify_case",
        fields=(
            Field(
                "note",
                _("How you know the address is the subject's own"),
                required=True,
                help_text=_("E.g. a call to the phone on the customer record."),
            ),
        ),
    ),
    Operation(
        "retry_sources",
        _("Retry failed sources"),
        _(
            "Searches the sources that failed again, each from a clean slate with its full "
            "number of attempts. Fix the cause first (a folder, a password, a system that was "
            "down). When every source has answered, the case moves to review."
        ),
        services.retry_failed,
        permissions.check_retry_sources,
        permission="casework.retry_run",
        done=lambda n: (
            ngettext("%(n)d source queued again.", "%(n)d sources queued again.", n) % {"n": n}
        ),
    ),
    Operation(
        "complete_review",
        _("Complete review"),
        lambda case: (
            _(
                "Marks the review of the gathered data complete: the bundle will be built from "
                "this reviewed view after approval. Records left out stay out of every file, "
                "and redacted values are replaced by “[redacted]”. Decisions cannot change "
                "until the review is reopened."
            )
            if case.request_type in BUNDLE_TYPES
            else _(
                "Marks the review of the gathered data complete: records left out are not the "
                "subject's, and stay out of what follows. Decisions cannot change until the "
                "review is reopened."
            )
        ),
        services.complete_review,
        permissions.check_review_can_complete,
        permission="casework.review_records",
        done=lambda case: str(
            _("The review is complete; approval builds the bundle from it.")
            if case.request_type in BUNDLE_TYPES
            else _("The review is complete.")
        ),
    ),
    Operation(
        "reopen_review",
        _("Reopen review"),
        _(
            "Reopens the review so that records can be left out or values redacted again. The "
            "case cannot be approved until the review is completed once more; the decisions "
            "taken so far stay."
        ),
        services.reopen_review,
        permissions.check_reopen_review,
        permission="casework.review_records",
        done=lambda _case: str(_("The review is open again.")),
    ),
    Operation(
        "decide_objection",
        _("Decide the objection"),
        _(
            "The DPO decides an objection to processing based on legitimate interests (Art. "
            "21(1) GDPR): stop the processing (a plan of changes then carries it out), or "
            "compelling legitimate grounds override the subject's interests (the request is "
            "refused). The subject is told the decision, the reason and how to complain."
        ),
        services.case_decide_objection,
        permissions.check_decide_objection,
        permission="casework.decide_objection",
        fields=(
            Field(
                "outcome",
                _("Decision"),
                kind="choice",
                required=True,
                choices=tuple(ObjectionDecision.Outcome.choices),
            ),
            _reason(_("The subject is told this reason with the decision.")),
        ),
    ),
    Operation(
        "draft_plan",
        _("Draft plan"),
        _(
            "A worker drafts the plan of changes from the records the review left in: what "
            "each system would erase, mask or correct, and what the retention rules keep and "
            "why. Nothing is changed yet: you review the plan, submit it, and a colleague "
            "approves it (four eyes). An earlier plan not yet approved is replaced."
        ),
        services.case_draft_plan,
        permissions.check_draft_plan,
        permission="casework.prepare_plan",
        fields=(
            Field(
                "corrections",
                _("Corrections"),
                kind="text",
                help_text=_(
                    "Your decision on each correction asked for, one per line: “field: "
                    "accept” makes it as the subject asked; “field: new value” makes it with "
                    "another value (e.g. job_title: Head of printing); “field: refuse: "
                    "reason” refuses it, and the subject is told the reason. A field is the "
                    "register's field key, or the subject's own words where they named no "
                    "field (refuse those, or correct the field they mean). Filled in from "
                    "what the subject asked for; check each against the records."
                ),
                applies=lambda case: case.request_type == "rectification",
                initial=lambda case: "\n".join(
                    f"{asked.key}: accept" if asked.key else f"{asked.field}: refuse:"
                    for asked in selectors.asked_corrections(case)
                ),
            ),
        ),
        done=lambda plan: str(_("Plan %(n)d is being drafted.") % {"n": plan.number}),
    ),
    Operation(
        "decide_records",
        _("Decide kept records"),
        _(
            "Records the retention rules leave to a person (correspondence, kept while needed "
            "to defend a legal claim) are kept, or erased: an erasure drafts the plan again."
        ),
        services.case_decide_records,
        permissions.check_decide_records,
        permission="casework.prepare_plan",
        fields=(
            Field(
                "decision",
                _("Decision"),
                kind="choice",
                required=True,
                choices=(("keep", _("Keep")), ("erase", _("Erase"))),
            ),
            Field(
                "records",
                _("Records"),
                kind="line",
                help_text=_("all, or record keys separated by commas (as the plan lists them)."),
                initial=lambda _case: "all",
            ),
        ),
        done=lambda plan: str(_("Decided: plan %(n)d.") % {"n": plan.number}),
        button=False,  # on the plan page, beside the records
    ),
    Operation(
        "submit_plan",
        _("Submit plan"),
        _(
            "Submits the drafted plan, as it is now, for approval. A colleague must approve "
            "it (four eyes): you cannot."
        ),
        services.case_submit_plan,
        permissions.check_submit_plan,
        permission="casework.prepare_plan",
        done=lambda plan: str(_("Plan %(n)d is submitted for approval.") % {"n": plan.number}),
    ),
    Operation(
        "approve",
        _("Approve"),
        _(
            "Approves the release of the data or the planned changes to source systems. For "
            "erasure and rectification the approver must not be the person who prepared the "
            "plan."
        ),
        services.case_approve,
        _approval_check,
        permission="casework.approve_case",
        fields=(ACKNOWLEDGE, RELEASE_SEEN, NOTE),
        transition="approve",
    ),
    Operation(
        "confirm_manual_action",
        _("Confirm a manual change"),
        _(
            "A change the plan gives to a person (a system without an automatic change) was "
            "made by hand: say what was changed, and where."
        ),
        services.case_confirm_manual_action,
        permissions.check_confirm_manual_action,
        permission="casework.complete_manual_run",
        fields=(
            Field("action", _("Action number"), kind="line", required=True),
            Field("note", _("What was changed, and where"), required=True),
        ),
        done=lambda _action: str(_("The change is confirmed.")),
        button=False,  # on the plan page, beside the action
    ),
    Operation(
        "record_recipient_notice",
        _("Record a recipient told"),
        _(
            "A recipient the subject's data was disclosed to was told of the rectification, "
            "erasure or restriction (Art. 19 GDPR), or could not be: telling it proved "
            "impossible, or would involve disproportionate effort. The subject's letter says "
            "so, with the reason. The case completes when no recipient waits."
        ),
        case_record_recipient_notice,
        permissions.check_record_recipient_notice,
        permission="casework.record_response",
        fields=(
            Field(
                "recipient",
                _("Recipient (its code)"),
                kind="line",
                required=True,
                help_text=_("As listed on the case page, e.g. marketing_lead_survey_providers."),
            ),
            Field(
                "outcome",
                _("Outcome"),
                kind="choice",
                required=True,
                choices=tuple(
                    (value, label)
                    for value, label in RecipientNotice.Outcome.choices
                    if value != RecipientNotice.Outcome.PENDING
                ),
            ),
            Field(
                "reason",
                _("Reason"),
                help_text=_(
                    "Why it was impossible, or disproportionate. The subject is told this."
                ),
            ),
        ),
        done=lambda notice: str(_("Recorded for %(recipient)s.") % {"recipient": notice.recipient}),
    ),
    Operation(
        "retry_actions",
        _("Retry failed changes"),
        _(
            "Runs the plan's failed actions again, once the cause is fixed: each continues "
            "with the records not done yet, so nothing is changed twice. A verification scan "
            "that could not search a system is run again."
        ),
        services.plan_retry,
        permissions.check_retry_actions,
        permission="casework.prepare_plan",
        done=lambda _plan: str(_("The failed changes are queued again.")),
    ),
    Operation(
        "search_again",
        _("Search again"),
        _(
            "The verification scan after the changes found records of the subject that the "
            "plan does not keep. Every system is searched again; the case goes back to "
            "review, and a new plan for what the systems hold now is drafted, submitted and "
            "approved by a second person. The carried-out plan stays as it is."
        ),
        services.case_search_again,
        permissions.check_search_again,
        permission="casework.prepare_plan",
        fields=(NOTE,),
        transition="gather_again",
    ),
    Operation(
        "record_response",
        _("Record response sent"),
        _("Records that the response to the subject was sent; a case cannot complete without it."),
        services.case_record_response,
        permissions.check_record_response,
        permission="casework.record_response",
        fields=(
            Field(
                "note",
                _("How and where it was sent"),
                argument="channel_note",
                help_text=_("Internal note."),
            ),
        ),
    ),
    Operation(
        "fulfil",
        _("Mark fulfilled"),
        _(
            "Closes the case as completed once the changes are made. The response must have "
            "been sent to the subject. An access or portability case completes by itself once "
            "the subject is told the data is ready."
        ),
        services.case_fulfil,
        _transition("fulfilled"),
        permission="casework.fulfil_case",
        transition="fulfilled",
    ),
    Operation(
        "revoke_release",
        _("Revoke release"),
        _(
            "For a release approved by mistake. Downloads stop at once, including a code "
            "already sent and a download page already open, and a possible breach is recorded "
            "with what was released and when, for your assessment: the supervisory authority "
            "is notified within 72 hours unless the breach is unlikely to result in a risk "
            "(Art. 33)."
        ),
        services.release_revoke,
        permissions.check_revoke_release,
        permission="casework.revoke_release",
        fields=(_reason(_("What was wrong with the release. Kept on the breach record.")),),
        danger=True,
        done=lambda _breach: str(
            _("The release is revoked; the possible breach waits for your assessment.")
        ),
    ),
    Operation(
        "lift_restriction",
        _("Lift the restriction"),
        _(
            "Tells the subject, with the reason, that the restriction of their data is lifted "
            "(Art. 18(3) GDPR). Once they are told (the e-mail sent, or the letter posted), the "
            "restriction is lifted in every system that marked it."
        ),
        services.case_lift_restriction,
        permissions.check_lift_restriction,
        permission="casework.lift_restriction",
        fields=(_reason(_("The subject is told this reason before the restriction is lifted.")),),
        danger=True,
        done=lambda _plan: str(
            _("The subject is being told; the restriction is lifted once they have been.")
        ),
    ),
    Operation(
        "lift_objection",
        _("Lift the objection (opt-in)"),
        _(
            "The subject asked to lift their objection to direct marketing and to the "
            "disclosure of their data to third parties (an opt-in). Their opt-outs recorded "
            "under the contact details they proved they hold are marked lifted, with today's "
            "date, and kept; the case completes and the subject is told. The suppression lists "
            "of the source systems are not changed."
        ),
        services.case_lift_objection,
        permissions.check_lift_objection,
        permission="casework.lift_objection",
        fields=(
            Field(
                "note",
                _("Note (internal)"),
                required=True,
                help_text=_("Why the objection is lifted, and how the request was checked."),
            ),
        ),
        done=lambda _case: str(_("The objection is lifted; the subject is being told.")),
    ),
    Operation(
        "extend",
        _("Extend deadline"),
        _(
            "Moves the deadline, within the regime's limit. The subject is told the new date "
            "and the reason; this must happen before the original deadline."
        ),
        services.case_extend,
        permissions.check_extend,
        permission="casework.extend_deadline",
        fields=(
            Field("date", _("New due date"), kind="date", required=True, argument="new_due"),
            _reason(_("The subject is told this reason.")),
        ),
    ),
    Operation(
        "reject",
        _("Reject"),
        _("Closes the case as rejected. The subject is told the reason."),
        services.case_reject,
        _transition("reject"),
        permission="casework.reject_case",
        fields=(
            _reason(_("The subject is told this reason.")),
            Field("unfounded", _("Manifestly unfounded or excessive (Art. 12(5))"), kind="flag"),
        ),
        transition="reject",
        danger=True,
    ),
    Operation(
        "withdraw",
        _("Record withdrawal"),
        _("Closes the case because the subject withdrew the request."),
        services.case_withdraw,
        _transition("withdraw"),
        permission="casework.withdraw_case",
        fields=(NOTE,),
        transition="withdraw",
    ),
    Operation(
        "merge",
        _("Merge into another case"),
        _(
            "Closes this case as a duplicate and folds it into another open case of the same "
            "subject."
        ),
        services.case_merge,
        _transition("merge"),
        permission="casework.merge_case",
        fields=(
            Field(
                "into",
                _("Reference of the case to merge into"),
                kind="case",
                required=True,
                help_text=_("An open case of the same subject, e.g. DSAR-2026-000042."),
            ),
        ),
        transition="merge",
    ),
    Operation(
        "assign",
        _("Assign"),
        _("Gives the case to a member of the privacy team or the DPO (or to nobody)."),
        services.case_assign,
        permissions.check_assign,
        permission="casework.assign_case",
        fields=(
            Field(
                "assignee",
                _("Assignee"),
                kind="staff",
                help_text=_("Leave empty to unassign."),
            ),
        ),
        button=False,
    ),
    Operation(
        "drp_denial_reason",
        _("Reason told to the agent"),
        _(
            "The request came from an authorised agent (Data Rights Protocol): choose the "
            "protocol's reason for the refusal that the agent is told. Without one, a refusal "
            "as unfounded or excessive reads “too many requests”, any other “other”; “no "
            "match” is never told before the person verified with us."
        ),
        case_set_drp_denial_reason,
        permissions.check_drp_denial_reason,
        permission="casework.reject_case",
        fields=(
            Field(
                "reason",
                _("Reason"),
                kind="choice",
                required=True,
                choices=tuple(DrpDenialReason.choices),
            ),
        ),
        done=lambda _request: str(_("The agent is told the reason.")),
    ),
    Operation(
        "make_confidential",
        _("Make confidential"),
        _(
            "Only the DPO, the case's assignee and the staff you name will see the case (a "
            "complaint about a member of staff, say). It still counts in the dashboard's totals."
        ),
        services.case_make_confidential,
        permissions.check_make_confidential,
        permission="casework.manage_confidential",
        fields=(_reason(_("Why the case is confidential. Staff only; the subject is not told.")),),
    ),
    Operation(
        "name_confidential_staff",
        _("Show to a member of staff"),
        _("Names a member of staff who may see this confidential case."),
        services.case_name_confidential_staff,
        permissions.check_name_confidential_staff,
        permission="casework.manage_confidential",
        fields=(Field("staff", _("Member of staff"), kind="reader", required=True),),
    ),
    Operation(
        "remove_confidential_staff",
        _("Stop showing to a member of staff"),
        _(
            "The member of staff no longer sees this confidential case (unless it is assigned to them)."
        ),
        services.case_name_confidential_staff,
        permissions.check_name_confidential_staff,
        permission="casework.manage_confidential",
        fields=(Field("staff", _("Member of staff"), kind="reader", required=True),),
        fixed={"named": False},
    ),
    Operation(
        "end_confidential",
        _("End confidentiality"),
        _("Every member of staff who reads cases will see the case again."),
        services.case_end_confidential,
        permissions.check_end_confidential,
        permission="casework.manage_confidential",
        fields=(_reason(),),
    ),
    Operation(
        "set_legal_hold",
        _("Set a legal hold"),
        _(
            "For litigation or a regulator's inquiry: while the case is on legal hold, nothing "
            "of it is purged (gathered records, bundles, our copies after an erasure, the "
            "case file after its accountability period) until you lift the hold."
        ),
        services.case_set_legal_hold,
        permissions.check_set_legal_hold,
        permission="casework.hold_case",
        fields=(_reason(_("Why the case is held, e.g. the inquiry's or the claim's reference.")),),
        done=lambda _case: str(_("The case is on legal hold.")),
    ),
    Operation(
        "lift_legal_hold",
        _("Lift the legal hold"),
        _(
            "The case is purged again when its time comes: its gathered records and bundles "
            "at once if their time has passed, the case file after its accountability period."
        ),
        services.case_lift_legal_hold,
        permissions.check_lift_legal_hold,
        permission="casework.hold_case",
        fields=(NOTE,),
        danger=True,
        done=lambda _case: str(_("The legal hold is lifted.")),
    ),
    Operation(
        "add_note",
        _("Add internal note"),
        _("Adds an internal note to the case. The subject does not see it."),
        services.case_add_note,
        permissions.check_add_note,
        permission="casework.add_casenote",
        fields=(Field("note", _("Internal note"), required=True, argument="text"),),
    ),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}


def get(name: str) -> Operation:
    """The operation called `name`; KeyError names the ones there are."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no operation {name!r}; there are: {', '.join(sorted(BY_NAME))}") from None


def offered(case: Case, actor: Actor) -> list[Operation]:
    """The operations `actor` may run on `case` now, in the order of a case's life."""
    return [op for op in OPERATIONS if op.offered(case, actor)]


# --- parsing the fields: one form for every door ---------------------------------------------------


class CaseReferenceField(forms.CharField):
    def clean(self, value: Any) -> Case | None:
        reference = (super().clean(value) or "").strip()
        if not reference:
            return None
        found = Case.objects.filter(reference__iexact=reference).first()
        if found is None:
            raise ValidationError(
                _("No case has the reference “%(ref)s”."), params={"ref": reference}
            )
        return found


def _form_field(f: Field) -> forms.Field:
    common = {"label": f.label, "required": f.required, "help_text": f.help_text}
    if f.kind == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if f.kind == "case":
        return CaseReferenceField(max_length=32, **common)
    if f.kind == "line":
        return forms.CharField(max_length=400, **common)
    if f.kind == "choice":
        return forms.ChoiceField(choices=f.choices, **common)
    if f.kind == "flag":
        return forms.BooleanField(**{**common, "required": False})
    if f.kind == "hidden":
        return forms.CharField(widget=forms.HiddenInput, max_length=200, **common)
    if f.kind == "staff":
        return forms.ModelChoiceField(
            queryset=permissions.assignable_staff(), to_field_name="username", **common
        )
    if f.kind == "reader":
        return forms.ModelChoiceField(
            queryset=permissions.confidential_readers(), to_field_name="username", **common
        )
    return forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=services.NOTE_MAX_LENGTH,
        **common,
    )


class OperationForm(forms.Form):
    """The fields of one operation, parsed alike from the admin's page and the command line.
    `add_service_errors` puts a service's refusal of a value on the field that carried it."""

    required_css_class = "required"

    def __init__(self, *args: Any, operation: Operation, case: Case, **kwargs: Any) -> None:
        self.operation = operation
        self.case = case
        super().__init__(*args, **kwargs)
        for f in operation.fields:
            if f.applies_to(case):
                self.fields[f.name] = _form_field(f)
                if f.initial is not None and not self.is_bound:
                    self.fields[f.name].initial = f.initial(case)

    def add_service_errors(self, exc: ValidationError) -> None:
        if hasattr(exc, "error_dict"):
            for argument, errors in exc.error_dict.items():
                name = self.operation.field_for_argument(argument)
                if name not in self.fields:
                    name = None  # a field not asked on this case: the error is the form's
                for error in errors:
                    self.add_error(name, error)
        else:
            self.add_error(None, exc)
