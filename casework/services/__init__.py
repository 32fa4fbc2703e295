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
    case_complete_when_told,
    case_confirm_receipt,
    case_decide_objection,
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
from casework.services.confidential import (
    case_end_confidential,
    case_make_confidential,
    case_name_confidential_staff,
)
from casework.services.dossier import build_dossier, check_export_dossier, export_dossier
from casework.services.drp import purge_seen_messages as purge_drp_seen_messages
from casework.services.fulfilment import (
    CorrectionDecision,
    action_confirm,
    case_confirm_manual_action,
    case_decide_records,
    case_draft_plan,
    case_lift_restriction,
    case_submit_plan,
    plan_decide_corrections,
    plan_decide_keeps,
    plan_request,
    plan_retry,
    plan_submit,
)
from casework.services.gathering import (
    advance,
    case_add_identifier,
    case_search_again,
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
from casework.services.opt_in import case_lift_objection
from casework.services.optouts import optouts_record
from casework.services.release import breach_assess, release_revoke
from casework.services.reminders import send_reminders
from casework.services.retention import (
    case_lift_legal_hold,
    case_set_legal_hold,
    purge_closed_case,
    purge_expired_cases,
)
from casework.services.review import complete_review, exclude_record, redact_value, reopen_review
from casework.services.schedules import schedule_change
from casework.services.submissions import (
    delete_submissions,
    receive_submission,
    retry_submission,
    wake_opener,
)

__all__ = [
    "NOTE_MAX_LENGTH",
    "CorrectionDecision",
    "Intake",
    "action_confirm",
    "advance",
    "breach_assess",
    "build_dossier",
    "case_add_identifier",
    "case_add_note",
    "case_answered",
    "case_approve",
    "case_ask_subject",
    "case_assign",
    "case_clear_lookalike",
    "case_complete_when_told",
    "case_confirm_manual_action",
    "case_confirm_receipt",
    "case_create",
    "case_decide_objection",
    "case_decide_records",
    "case_draft_plan",
    "case_end_confidential",
    "case_expire",
    "case_extend",
    "case_flag_duplicate",
    "case_fulfil",
    "case_lift_legal_hold",
    "case_lift_objection",
    "case_lift_restriction",
    "case_make_confidential",
    "case_mark_bundle_ready",
    "case_mark_gathered",
    "case_merge",
    "case_name_confidential_staff",
    "case_needs_identifier",
    "case_proceed_without_source",
    "case_record_response",
    "case_reject",
    "case_search_again",
    "case_set_legal_hold",
    "case_start_gathering",
    "case_submit_plan",
    "case_verify",
    "case_withdraw",
    "check_export_dossier",
    "complete_manual_run",
    "complete_review",
    "confirm_identifier",
    "decide_record_link",
    "delete_submissions",
    "exclude_record",
    "export_dossier",
    "export_to_medium",
    "letter_mark_posted",
    "optouts_record",
    "plan_decide_corrections",
    "plan_decide_keeps",
    "plan_request",
    "plan_retry",
    "plan_submit",
    "purge_closed_case",
    "purge_drp_seen_messages",
    "purge_expired_cases",
    "queue_letter",
    "receive_submission",
    "redact_value",
    "release_revoke",
    "reopen_review",
    "request_bundle",
    "retry_failed",
    "retry_submission",
    "schedule_change",
    "send_link_code",
    "send_reminders",
    "start_gathering",
    "submit_request",
    "wake_opener",
]
