"""Keeping our own data: legal holds, and closed cases reduced to anonymous statistics.

A closed case, its letters and notes are kept for the accountability period of the register
(its rule for our own case files, 36 months by default), then purged IN PLACE: the row stays,
since its audit events point at it and are append-only (they hold no raw personal data), with
what the dashboard counts (type, regime, channel, dates, state, assignee, the refusal and
extension flags); every field about the subject is blanked, and the notes, letters, files,
identifiers, gathered records, review decisions, plans and tokens of the case are deleted.
The purge is an event of the case's trail, with counts only.

A legal hold, set by the DPO with a reason, stops every purge of the case (gathered records,
expired bundles, our copies after an erasure, this one) until the DPO lifts it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from casework import results
from casework.actors import Actor
from casework.audit import record_event
from casework.models import (
    BreachRecord,
    Bundle,
    Case,
    CaseIdentifier,
    CaseNote,
    ConnectorRun,
    FulfilmentPlan,
    LinkCode,
    ObjectionDecision,
    PortalToken,
    PostalLetter,
    RecordDecision,
    RecordLink,
)
from casework.permissions import check_lift_legal_hold, check_set_legal_hold
from casework.selectors.retention import case_files_months, cases_due_for_purge
from casework.services.case import _lock, _note, _optional_note, _require_text

logger = logging.getLogger(__name__)

HOLD_SET = "case.legal_hold_set"
HOLD_LIFTED = "case.legal_hold_lifted"
PURGED = "case.purged"

# The subject's fields, blanked by the purge. Free text staff wrote about the case (the
# reasons of a refusal, an extension or a skipped source) goes too: it is told to, or written
# about, one person and may name them or their circumstances; the flags the dashboard counts
# (rejected_as_unfounded, original_due_at and extension_announced_at) stay.
BLANKED_FIELDS = (
    "email",
    "postal_address",
    "name",
    "phone",
    "customer_number",
    "company",
    "representative_name",
    "representative_relationship",
    "email_skeleton",
    "rejection_reason",
    "extension_reason",
    "sources_skipped_reason",
    "legal_hold_reason",
)


# --- legal hold --------------------------------------------------------------------------------


def case_set_legal_hold(*, case: Case, actor: Actor, reason: str) -> Case:
    """The DPO puts the case on legal hold (litigation, a regulator's inquiry). The reason is
    kept as a note; the trail references it by id and hash."""
    reason = _require_text(reason)
    with transaction.atomic():
        locked = _lock(case)
        check_set_legal_hold(locked, actor)
        locked.legal_hold_at = timezone.now()
        locked.legal_hold_reason = reason
        locked.legal_hold_by = actor.user
        locked.save(update_fields=["legal_hold_at", "legal_hold_reason", "legal_hold_by"])
        record_event(
            locked,
            HOLD_SET,
            actor=actor,
            details=_note(locked, actor, CaseNote.Kind.REASON, reason),
        )
    return locked


def case_lift_legal_hold(*, case: Case, actor: Actor, note: str = "") -> Case:
    """The DPO lifts the legal hold: the purges take the case again when its time comes."""
    with transaction.atomic():
        locked = _lock(case)
        check_lift_legal_hold(locked, actor)
        held_since = locked.legal_hold_at
        locked.legal_hold_at = None
        locked.legal_hold_reason = ""
        locked.legal_hold_by = None
        locked.save(update_fields=["legal_hold_at", "legal_hold_reason", "legal_hold_by"])
        details: dict[str, Any] = {"held_since": held_since.isoformat()}
        kept = _optional_note(CaseNote.Kind.INTERNAL, note)
        if kept:
            details.update(_note(locked, actor, kept[0], kept[1]))
        record_event(locked, HOLD_LIFTED, actor=actor, details=details)
    return locked


# --- the accountability purge ------------------------------------------------------------------


def _delete_files(case: Case) -> int:
    """Delete the case's stored files: the representative's authority, the bundles and the
    gathered records. Returns how many went."""
    deleted = 0
    if case.representative_authority and default_storage.exists(case.representative_authority.name):
        default_storage.delete(case.representative_authority.name)
        deleted += 1
    for name in Bundle.objects.filter(case=case).exclude(file="").values_list("file", flat=True):
        if default_storage.exists(name):
            default_storage.delete(name)
            deleted += 1
    for name in (
        ConnectorRun.objects.filter(case=case)
        .exclude(result_file="")
        .values_list("result_file", flat=True)
    ):
        deleted += results.delete(name)
    return deleted


def purge_closed_case(case: Case, *, now: dt.datetime | None = None) -> dict[str, int] | None:
    """Reduce a closed case kept its whole period to an anonymous statistics row, in place.
    Returns the counts of what went (also the purge event's details), or None when the case
    is not (or no longer) due: open, on legal hold, purged already, or closed too recently."""
    now = now or timezone.now()
    with transaction.atomic():
        if not cases_due_for_purge(now=now).filter(pk=case.pk).exists():
            return None
        locked = _lock(case)
        if locked.is_open or locked.purged_at or locked.legal_hold_at:
            return None  # changed since the check (a hold set meanwhile waits for the lock)
        counts = {"files": _delete_files(locked)}

        counts["notes"] = CaseNote.objects.filter(case=locked).delete()[0]
        counts["letters"] = PostalLetter.objects.filter(case=locked).delete()[0]
        counts["identifiers"] = CaseIdentifier.objects.filter(case=locked).delete()[0]
        counts["record_links"] = RecordLink.objects.filter(case=locked).delete()[0]
        LinkCode.objects.filter(case=locked).delete()
        PortalToken.objects.filter(case=locked).delete()
        counts["review_decisions"] = RecordDecision.objects.filter(case=locked).delete()[0]
        # Plans hold record keys, approved values and the subject's words (with their
        # actions, kept records, processor instructions and recipient notices).
        plans = FulfilmentPlan.objects.filter(case=locked)
        counts["plans"] = plans.count()
        plans.delete()
        # A bundle a possible breach record points at stays as a row (the breach register
        # keeps its own account, in numbers); its file and manifest go like the others'.
        breached = BreachRecord.objects.filter(case=locked, bundle__isnull=False).values("bundle")
        bundles = Bundle.objects.filter(case=locked)
        counts["bundles"] = bundles.count()
        bundles.exclude(pk__in=breached).delete()
        bundles.update(state=Bundle.State.DELETED, file="", manifest={}, error="")
        # The searches stay, for the connectors' figures: state, timing and counts by category;
        # what identified the subject in them goes.
        ConnectorRun.objects.filter(case=locked).update(
            identifiers=[],
            skip_subject_keys=[],
            subject_keys=[],
            matches=[],
            learnt=[],
            ambiguous=[],
            error="",
            result_file="",
        )
        # The DPO's decision on an objection stays (its outcome counts); its reason goes.
        ObjectionDecision.objects.filter(case=locked).update(reason="")

        for name in BLANKED_FIELDS:
            setattr(locked, name, "")
        locked.representative_authority = ""
        # What kind of objection it was is kept (a marketing objection is counted apart);
        # everything else the subject wrote goes.
        marketing = (locked.details or {}).get("direct_marketing")
        locked.details = {"direct_marketing": bool(marketing)} if marketing is not None else {}
        locked.mailbox_lost = False
        locked.possible_duplicate_of = None
        locked.legal_hold_by = None
        locked.purged_at = now
        locked.save()
        months = case_files_months()
        record_event(
            locked,
            PURGED,
            actor=Actor.system(),
            details={**counts, "kept_months": months},
        )
    logger.info("case %s reduced to anonymous statistics", locked.reference)
    return counts


def purge_expired_cases(now: dt.datetime | None = None) -> int:
    """Purge every closed case whose accountability period ran out (the daily task). Returns
    how many were purged."""
    now = now or timezone.now()
    purged = 0
    for case_id in list(cases_due_for_purge(now=now).values_list("pk", flat=True)):
        if purge_closed_case(Case(pk=case_id), now=now) is not None:
            purged += 1
    if purged:
        logger.info("%d closed case(s) reduced to anonymous statistics", purged)
    return purged
