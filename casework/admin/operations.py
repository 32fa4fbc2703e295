"""What staff can do to a case from the admin: each operation's service, form and explanation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from casework import selectors, services
from casework.admin.forms import (
    AddNoteForm,
    AnsweredForm,
    ApproveForm,
    AskSubjectForm,
    CaseOperationForm,
    CompleteReviewForm,
    ExtendForm,
    FulfilForm,
    MergeForm,
    PreparePlanForm,
    ProceedWithoutSourceForm,
    RecordResponseForm,
    RejectForm,
    ReopenReviewForm,
    RetryFailedForm,
    VerifyForm,
    WithdrawForm,
)

# --- what staff can do to a case -----------------------------------------------------------------
from casework.models import (
    CHANGING_TYPES,
    RESPONSE_STATES,
    Case,
    ConnectorRun,
    State,
)


@dataclass(frozen=True)
class Operation:
    """One thing staff do to a case: the service that does it and the form that asks for its
    arguments. `perm` and `when` only decide whether a button is shown; the service decides."""

    service: Callable[..., Any]
    form: type[CaseOperationForm]
    explanation: str
    label: str = ""  # transitions take theirs from the model
    perm: str = ""
    when: Callable[[Case], bool] | None = None
    danger: bool = False
    # The success message from what the service returned; by default the case's new state.
    done: Callable[[Any], str] | None = None
    # What the confirmation page shows the operation acts on: (label, value) pairs.
    details: Callable[[Case], list[tuple[str, Any]]] | None = None

    def offered(self, case: Case, user) -> bool:
        if self.perm and not user.has_perm(self.perm):
            return False
        return self.when is None or self.when(case)


def review_summary_details(case: Case) -> list[tuple[str, Any]]:
    """What a review decides, in numbers, for the confirmation pages of complete and reopen."""
    summary = selectors.review_summary(case)
    return [
        (_("Records gathered"), summary.records),
        (_("Records left out (not the subject's)"), summary.excluded),
        (_("Values redacted"), summary.redacted),
    ]


TRANSITIONS: dict[str, Operation] = {
    "verify": Operation(
        services.case_verify,
        VerifyForm,
        _(
            "Records that you checked the subject's identity through a channel already on "
            "record. Gathering data from the source systems starts automatically."
        ),
    ),
    "ask_subject": Operation(
        services.case_ask_subject,
        AskSubjectForm,
        _(
            "Sends your message to the subject and puts the case on hold until they answer. "
            "Where the regime allows it for this question, the deadline clock pauses."
        ),
    ),
    "answered": Operation(
        services.case_answered,
        AnsweredForm,
        _(
            "Records the subject's answer. The case returns to the state it was in, and a "
            "paused clock resumes."
        ),
    ),
    "proceed_without_source": Operation(
        services.case_proceed_without_source,
        ProceedWithoutSourceForm,
        _(
            "Moves the case to review without the sources that failed. The reason is kept on the case."
        ),
    ),
    "approve": Operation(
        services.case_approve,
        ApproveForm,
        _(
            "Approves the release of the data or the planned changes to source systems. For "
            "erasure and rectification the approver must not be the person who prepared the plan."
        ),
    ),
    "fulfilled": Operation(
        services.case_fulfil,
        FulfilForm,
        _("Closes the case as completed. The response must have been sent to the subject."),
    ),
    "reject": Operation(
        services.case_reject,
        RejectForm,
        _("Closes the case as rejected. The subject is told the reason by e-mail."),
        danger=True,
    ),
    "withdraw": Operation(
        services.case_withdraw,
        WithdrawForm,
        _("Closes the case because the subject withdrew the request."),
    ),
    "merge": Operation(
        services.case_merge,
        MergeForm,
        _(
            "Closes this case as a duplicate and folds it into another open case of the same subject."
        ),
    ),
}


ACTIONS: dict[str, Operation] = {
    "extend": Operation(
        services.case_extend,
        ExtendForm,
        _(
            "Moves the deadline, within the regime's limit. The subject is told the new date and "
            "the reason; this must happen before the original deadline."
        ),
        label=_("Extend deadline"),
        perm="casework.extend_deadline",
        when=lambda case: case.is_open,
    ),
    "record_response": Operation(
        services.case_record_response,
        RecordResponseForm,
        _("Records that the response to the subject was sent; a case cannot complete without it."),
        label=_("Record response sent"),
        perm="casework.record_response",
        when=lambda case: case.state in RESPONSE_STATES,
    ),
    "prepare_plan": Operation(
        services.case_prepare_plan,
        PreparePlanForm,
        _(
            "Records the plan of changes to source systems, prepared by you. A colleague must "
            "approve it (four eyes)."
        ),
        label=_("Prepare plan"),
        perm="casework.prepare_plan",
        when=lambda case: case.state == State.IN_REVIEW and case.request_type in CHANGING_TYPES,
    ),
    "add_note": Operation(
        services.case_add_note,
        AddNoteForm,
        _("Adds an internal note to the case. The subject does not see it."),
        label=_("Add internal note"),
        perm="casework.add_casenote",
    ),
    "retry_failed": Operation(
        services.retry_failed,
        RetryFailedForm,
        _(
            "Searches the sources that failed again, each from a clean slate with its full "
            "number of attempts. Fix the cause first (a folder, a password, a system that was "
            "down). When every source has answered, the case moves to review."
        ),
        label=_("Retry failed sources"),
        perm="casework.retry_run",
        when=lambda case: (
            case.state == State.GATHERING
            and ConnectorRun.objects.filter(case=case, state=ConnectorRun.State.FAILED).exists()
        ),
        done=lambda n: (
            ngettext("%(n)d source queued again.", "%(n)d sources queued again.", n) % {"n": n}
        ),
    ),
    "complete_review": Operation(
        services.complete_review,
        CompleteReviewForm,
        _(
            "Marks the review of the gathered data complete: the bundle will be built from this "
            "reviewed view after approval. Records left out stay out of every file, and redacted "
            "values are replaced by “[redacted]”. Decisions cannot change until the review is "
            "reopened."
        ),
        label=_("Complete review"),
        perm="casework.review_records",
        when=selectors.review_is_open,
        done=lambda _case: _("The review is complete; approval builds the bundle from it."),
        details=lambda case: review_summary_details(case),
    ),
    "reopen_review": Operation(
        services.reopen_review,
        ReopenReviewForm,
        _(
            "Reopens the review so that records can be left out or values redacted again. The "
            "case cannot be approved until the review is completed once more; the decisions "
            "taken so far stay."
        ),
        label=_("Reopen review"),
        perm="casework.review_records",
        when=selectors.review_can_reopen,
        done=lambda _case: _("The review is open again."),
        details=lambda case: review_summary_details(case),
    ),
}


def transition_label(name: str) -> str:
    """The label a transition carries in the model, whatever state the case is in."""
    for t in getattr(Case, name)._django_fsm.transitions.values():
        return t.custom.get("label", name)
    return name
