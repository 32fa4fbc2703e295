"""Reads for the Data Rights Protocol: the status object an agent is shown, from the case.

The mapping from the case's state to a DRP status is total: every `State` has an entry, and a
state added later without one fails `drp_status` loudly in the tests (test_drp_status), never
the endpoint in production (it falls back to in_progress). No status tells whether we hold
data about a person before that person verified with us: `no_match` only after verification,
and only where a person chose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from casework.models import AskPurpose, Case, DrpAgent, DrpDenialReason, DrpRequest, State
from casework.selectors.bundles import download_ended_on

# DRP 1.0 statuses and reasons.
OPEN = "open"
IN_PROGRESS = "in_progress"
FULFILLED = "fulfilled"
REVOKED = "revoked"
EXPIRED = "expired"
DENIED = "denied"
NEED_USER_VERIFICATION = "need_user_verification"
DENIAL_REASONS = tuple(DrpDenialReason.values)

# Every state, once. Closed states that need the case's facts are decided in `drp_status`.
STATE_STATUS: dict[str, str] = {
    State.RECEIVED: IN_PROGRESS,  # waiting for the subject's verification
    State.VERIFIED: IN_PROGRESS,
    State.AWAITING_SUBJECT: IN_PROGRESS,
    State.GATHERING: IN_PROGRESS,
    State.NEEDS_IDENTIFIER: IN_PROGRESS,
    State.IN_REVIEW: IN_PROGRESS,
    State.FULFILLING: IN_PROGRESS,
    State.COMPLETED: FULFILLED,
    State.REJECTED: DENIED,
    State.WITHDRAWN: REVOKED,
    State.MERGED: IN_PROGRESS,  # followed to the case it was merged into
    State.EXPIRED: EXPIRED,
}
# Questions of identity: the agent is told the person must verify with us.
IDENTITY_PURPOSES = (AskPurpose.IDENTITY, AskPurpose.AUTHORITY, AskPurpose.CALLBACK)


@dataclass(frozen=True)
class DrpStatus:
    status: str
    reason: str = ""


def _denial_reason(case: Case, chosen: str) -> str:
    if chosen == "no_match" and case.verified_at is None:
        return "insuf_verification"  # never tell "no data" about an unverified person
    if chosen in DENIAL_REASONS:
        return chosen
    if case.rejected_as_unfounded:
        # Manifestly unfounded or excessive (Art. 12(5)): a refusal the DPO decided.
        return "too_many_requests"
    return "other"


def drp_status(case: Case, *, denial_reason: str = "", _depth: int = 0) -> DrpStatus:
    """The DRP status and reason of `case`."""
    if case.state == State.MERGED and case.merged_into_id and _depth < 5:
        return drp_status(case.merged_into, denial_reason=denial_reason, _depth=_depth + 1)
    status = STATE_STATUS.get(case.state, IN_PROGRESS)
    if case.state == State.RECEIVED:
        return DrpStatus(IN_PROGRESS, NEED_USER_VERIFICATION)
    if case.state == State.AWAITING_SUBJECT and (
        case.awaiting_purpose in IDENTITY_PURPOSES or case.awaiting_from == State.RECEIVED
    ):
        return DrpStatus(IN_PROGRESS, NEED_USER_VERIFICATION)
    if status == DENIED:
        return DrpStatus(DENIED, _denial_reason(case, denial_reason))
    return DrpStatus(status)


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def verification_url(drp_request: DrpRequest) -> str:
    """Our page where the person verifies (the agent appends request_id and redirect_to)."""
    return _site(reverse("drp:verify", kwargs={"request_id": drp_request.request_id}))


def results_url(case: Case) -> str:
    """The portal's page where the person asks for a link to their request; the download
    still asks them for a one-time code."""
    with translation.override(case.language):
        return _site(reverse("portal:status_request"))


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def processing_details(case: Case) -> str:
    if case.original_due_at and case.extension_reason:
        return f"The deadline was extended: {case.extension_reason}"
    return ""


def status_object(drp_request: DrpRequest) -> dict[str, Any]:
    """The status object of DRP 1.0 for one request."""
    case = drp_request.case
    current = drp_status(case, denial_reason=drp_request.denial_reason)
    agent: DrpAgent = drp_request.agent
    results = (
        results_url(case)
        if current.status == FULFILLED
        and case.request_type in ("access", "portability")
        and agent.results_allowed(drp_request.exercise)
        else None
    )
    return {
        "request_id": str(drp_request.request_id),
        "received_at": _iso(case.received_at),
        "expected_by": _iso(case.due_at),
        "agent_request_id": drp_request.agent_request_id or None,
        "processing_details": processing_details(case) or None,
        "status": current.status,
        "reason": current.reason or None,
        "user_verification_url": verification_url(drp_request)
        if current.reason == NEED_USER_VERIFICATION
        else None,
        # The results' download window: when results_url stops leading to them.
        "expires_at": _iso(download_ended_on(case)) if results else None,
        "results_url": results,
    }


def status_key(drp_request: DrpRequest) -> tuple[str, str, Any]:
    """What a status callback is sent for: status, reason and the date it is expected by."""
    current = drp_status(drp_request.case, denial_reason=drp_request.denial_reason)
    return current.status, current.reason, drp_request.case.due_at
