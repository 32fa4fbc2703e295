"""Review before release: staff leave out records that are not the subject's, and redact values
about other people or covered by an exemption (Art. 15(4)), each with a reason and audited; then
they mark the review complete (or reopen it). The bundle is built only from the reviewed view
(`casework.selectors.review.reviewed_records`), and only after the review is complete."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from casework import results
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, ConnectorRun, RecordDecision
from casework.permissions import (
    check_complete_review,
    check_reopen_review,
    check_review_can_complete,
)
from casework.selectors.review import review_summary


def _key_digest(key: str) -> str:
    # Record keys can be e-mails (CSV offsets, API ids are fine, but a key is the source's):
    # the audit trail gets a digest.
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _check_record_exists(run: ConnectorRun, category: str, key: str, field: str) -> None:
    """A decision names a record the run really stored (and, to redact, a field it has)."""
    if run.state != ConnectorRun.State.SUCCEEDED or not run.result_file:
        raise ValidationError("That search stored no records.")
    for record in results.read_records(run.pk, run.result_file):
        if record["category"] == category and record["key"] == key:
            if field and field not in (record.get("data") or {}):
                raise ValidationError({"field": "That record has no such value."})
            return
    raise ValidationError("No such record in that search.")


def _open_review(case: Case, actor: Actor) -> Case:
    """The case locked, while its review is open to decisions (see check_complete_review)."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    check_complete_review(locked, actor)
    return locked


def _decide(
    *,
    case: Case,
    actor: Actor,
    run: ConnectorRun,
    category: str,
    record_key: str,
    action: str,
    field: str,
    reason: str,
    note: str,
) -> RecordDecision:
    if reason not in RecordDecision.Reason.values:
        raise ValidationError({"reason": "Choose a reason."})
    if run.case_id != case.pk:
        raise ValidationError("That record belongs to another case.")
    if reason == RecordDecision.Reason.OTHER_EXEMPTION and not note.strip():
        raise ValidationError({"note": "Say which exemption applies."})
    _check_record_exists(run, category, record_key, field)
    with transaction.atomic():
        locked = _open_review(case, actor)
        if run.gathering != locked.gathering:
            raise ValidationError("That search is from an earlier gathering of the case.")
        try:
            with transaction.atomic():
                decision = RecordDecision.objects.create(
                    case=locked,
                    run=run,
                    category=category,
                    record_key=record_key,
                    action=action,
                    field=field,
                    reason=reason,
                    note=note.strip(),
                    decided_by=actor.user,
                )
        except IntegrityError:
            raise ValidationError("This decision was already recorded.") from None
        record_event(
            locked,
            f"review.{'record_excluded' if action == RecordDecision.Action.EXCLUDE else 'value_redacted'}",
            actor=actor,
            details={
                "decision": decision.pk,
                "system": run.system.slug,
                "category": category,
                "record": _key_digest(record_key),
                "field": field,
                "reason": reason,
            },
        )
    return decision


def exclude_record(
    *,
    case: Case,
    actor: Actor,
    run: ConnectorRun,
    category: str,
    record_key: str,
    reason: str = RecordDecision.Reason.NOT_SUBJECT,
    note: str = "",
) -> RecordDecision:
    """Leave a record out of the bundle: it is not the subject's."""
    return _decide(
        case=case,
        actor=actor,
        run=run,
        category=category,
        record_key=record_key,
        action=RecordDecision.Action.EXCLUDE,
        field="",
        reason=reason,
        note=note,
    )


def redact_value(
    *,
    case: Case,
    actor: Actor,
    run: ConnectorRun,
    category: str,
    record_key: str,
    field: str,
    reason: str,
    note: str = "",
) -> RecordDecision:
    """Replace one value of a record by "[redacted]" in every file of the bundle."""
    if not field:
        raise ValidationError({"field": "Say which value to redact."})
    return _decide(
        case=case,
        actor=actor,
        run=run,
        category=category,
        record_key=record_key,
        action=RecordDecision.Action.REDACT,
        field=field,
        reason=reason,
        note=note,
    )


def complete_review(*, case: Case, actor: Actor) -> Case:
    """The reviewed view is what the subject will receive."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_review_can_complete(locked, actor)
        locked.review_completed_at = timezone.now()
        locked.review_completed_by = actor.user
        locked.save(update_fields=["review_completed_at", "review_completed_by", "updated_at"])
        summary = review_summary(locked)
        record_event(
            locked,
            "review.completed",
            actor=actor,
            details={"excluded": summary.excluded, "redacted": summary.redacted},
        )
    return locked


def reopen_review(*, case: Case, actor: Actor) -> Case:
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_reopen_review(locked, actor)
        locked.review_completed_at = None
        locked.review_completed_by = None
        locked.save(update_fields=["review_completed_at", "review_completed_by", "updated_at"])
        record_event(locked, "review.reopened", actor=actor, details={})
    return locked
