"""Services: every write (HackSoft style), by topic. Import them from here; each module holds one
topic: the case's transitions and fields (`case`), intake (`intake`), gathering, review, bundles
and form submissions."""

from casework.services.bundles import case_mark_bundle_ready, export_to_medium, request_bundle
from casework.services.case import (
    NOTE_MAX_LENGTH,
    case_add_note,
    case_answered,
    case_approve,
    case_ask_subject,
    case_assign,
    case_confirm_receipt,
    case_expire,
    case_extend,
    case_flag_duplicate,
    case_fulfil,
    case_mark_gathered,
    case_merge,
    case_needs_identifier,
    case_proceed_without_source,
    case_record_response,
    case_reject,
    case_start_gathering,
    case_verify,
    case_withdraw,
)
from casework.services.fulfilment import (
    action_confirm,
    case_draft_plan,
    case_submit_plan,
    plan_decide_keeps,
    plan_request,
    plan_submit,
)
from casework.services.gathering import (
    advance,
    case_add_identifier,
    complete_manual_run,
    confirm_identifier,
    retry_failed,
    start_gathering,
)
from casework.services.identity import (
    case_clear_lookalike,
    decide_record_link,
    send_link_code,
)
from casework.services.intake import Intake, case_create, submit_request
from casework.services.notices import letter_mark_posted, queue_letter
from casework.services.release import breach_assess, release_revoke
from casework.services.review import complete_review, exclude_record, redact_value, reopen_review
from casework.services.submissions import (
    delete_submissions,
    receive_submission,
    retry_submission,
    wake_opener,
)

__all__ = [
    "NOTE_MAX_LENGTH",
    "Intake",
    "action_confirm",
    "advance",
    "breach_assess",
    "case_add_identifier",
    "case_add_note",
    "case_answered",
    "case_approve",
    "case_ask_subject",
    "case_assign",
    "case_clear_lookalike",
    "case_confirm_receipt",
    "case_create",
    "case_draft_plan",
    "case_expire",
    "case_extend",
    "case_flag_duplicate",
    "case_fulfil",
    "case_mark_bundle_ready",
    "case_mark_gathered",
    "case_merge",
    "case_needs_identifier",
    "case_proceed_without_source",
    "case_record_response",
    "case_reject",
    "case_start_gathering",
    "case_submit_plan",
    "case_verify",
    "case_withdraw",
    "complete_manual_run",
    "complete_review",
    "confirm_identifier",
    "decide_record_link",
    "delete_submissions",
    "exclude_record",
    "export_to_medium",
    "letter_mark_posted",
    "plan_decide_keeps",
    "plan_request",
    "plan_submit",
    "queue_letter",
    "receive_submission",
    "redact_value",
    "release_revoke",
    "reopen_review",
    "request_bundle",
    "retry_failed",
    "retry_submission",
    "send_link_code",
    "start_gathering",
    "submit_request",
    "wake_opener",
]
