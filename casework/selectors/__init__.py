"""Selectors: reads (HackSoft style), by topic. Import the functions from here; each module holds
one topic and imports no services."""

from casework.selectors.bundles import associated_id, bundle_facts, open_bundle
from casework.selectors.case import (
    cases_due_within,
    cases_to_expire,
    may_email,
    notice_given,
    open_cases,
    overdue_cases,
    possible_duplicate_of,
    question_told,
    reason_told,
)
from casework.selectors.gathering import (
    MANUAL_UPLOAD_EXTENSIONS,
    ManualSettings,
    confirmable,
    manual_settings,
    request_identifiers,
    why_not_confirmable,
)
from casework.selectors.identity import (
    held_keys,
    held_links,
    looks_like_held_address,
    subject_links,
    undecided_links,
    verified_channel,
)
from casework.selectors.release import ReleaseItem, release_check, verified_email
from casework.selectors.review import (
    REDACTED,
    ReviewSummary,
    review_can_reopen,
    review_category_counts,
    review_decision_counts,
    review_is_open,
    review_rows,
    review_summary,
    reviewed_records,
    stored_runs,
)

__all__ = [
    "MANUAL_UPLOAD_EXTENSIONS",
    "REDACTED",
    "ManualSettings",
    "ReleaseItem",
    "ReviewSummary",
    "associated_id",
    "bundle_facts",
    "cases_due_within",
    "cases_to_expire",
    "confirmable",
    "held_keys",
    "held_links",
    "looks_like_held_address",
    "manual_settings",
    "may_email",
    "notice_given",
    "open_bundle",
    "open_cases",
    "overdue_cases",
    "possible_duplicate_of",
    "question_told",
    "reason_told",
    "release_check",
    "request_identifiers",
    "review_can_reopen",
    "review_category_counts",
    "review_decision_counts",
    "review_is_open",
    "review_rows",
    "review_summary",
    "reviewed_records",
    "stored_runs",
    "subject_links",
    "undecided_links",
    "verified_channel",
    "verified_email",
    "why_not_confirmable",
]
