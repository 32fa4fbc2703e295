"""Review before release: staff see which identifier found each record, leave out records that
are not the subject's, and redact values about other people or covered by an exemption
(Art. 15(4)), each with a reason and audited. The bundle is built only from the reviewed view
(`reviewed_records`), and only after the review is marked complete."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from casework import results, selectors
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, ConnectorRun, RecordDecision, State
from casework.services import require_perm

REDACTED = "[redacted]"


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
    require_perm(actor, "casework.review_records")
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if not selectors.review_is_open(locked):
        # The rule is the selector's; here only which answer explains the refusal.
        if locked.state != State.IN_REVIEW:
            raise TransitionNotAllowed("Records are reviewed while the case is in review.")
        raise ValidationError("The review is complete; reopen it to change decisions.")
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
        locked = _open_review(case, actor)
        locked.review_completed_at = timezone.now()
        locked.review_completed_by = actor.user
        locked.save(update_fields=["review_completed_at", "review_completed_by", "updated_at"])
        summary = selectors.review_summary(locked)
        record_event(
            locked,
            "review.completed",
            actor=actor,
            details={"excluded": summary.excluded, "redacted": summary.redacted},
        )
    return locked


def reopen_review(*, case: Case, actor: Actor) -> Case:
    require_perm(actor, "casework.review_records")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if not selectors.review_can_reopen(locked):
            raise TransitionNotAllowed(
                "Only a completed review of a case in review can be reopened."
            )
        locked.review_completed_at = None
        locked.review_completed_by = None
        locked.save(update_fields=["review_completed_at", "review_completed_by", "updated_at"])
        record_event(locked, "review.reopened", actor=actor, details={})
    return locked


# --- the reviewed view ---------------------------------------------------------------------------


def reviewed_records(case: Case) -> Iterator[tuple[str, dict[str, Any]]]:
    """(category, record) for every gathered record as review left it: excluded records out,
    redacted values replaced, each record once even where several rounds found it. Streamed
    run by run; the decisions (a small set) are the only thing held."""
    # Decisions hold for the record wherever it was found: (system, category, key).
    excluded: set[tuple[int, str, str]] = set()
    redactions: dict[tuple[int, str, str], set[str]] = {}
    for system_id, category, key, action, field in RecordDecision.objects.filter(
        case=case
    ).values_list("run__system_id", "category", "record_key", "action", "field"):
        if action == RecordDecision.Action.EXCLUDE:
            excluded.add((system_id, category, key))
        else:
            redactions.setdefault((system_id, category, key), set()).add(field)
    seen: set[tuple[int, str, str]] = set()  # (system, category, key): a record of a system once
    for run in selectors.stored_runs(case):
        for record in results.read_records(run.pk, run.result_file):
            category, key = record["category"], record["key"]
            identity = (run.system_id, category, key)
            if identity in seen or identity in excluded:
                continue
            seen.add(identity)
            data = dict(record.get("data") or {})
            for field in redactions.get(identity, ()):
                if field in data:
                    data[field] = REDACTED
            found_by = record.get("found_by") or {}
            yield (
                category,
                {
                    "source": f"{run.system.name}: {record.get('source', '')}".rstrip(": "),
                    "key": key,
                    "found_by": found_by.get("kind", "") if isinstance(found_by, dict) else "",
                    "data": data,
                },
            )


def review_rows(
    case: Case, *, category: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict]:
    """Records for the review screen: each with its run, the identifier that found it (kind and
    value: staff need to judge), and the decisions taken on it."""
    decisions: dict[tuple[int, str, str], list[RecordDecision]] = {}
    for d in RecordDecision.objects.filter(case=case):
        decisions.setdefault((d.run_id, d.category, d.record_key), []).append(d)
    rows: list[dict] = []
    index = 0
    for run in selectors.stored_runs(case):
        # A run's counts say how many of the page's records it holds: a run whose records all
        # come before the page (or that holds none of the category) is not decrypted at all.
        held = run.counts.get(category, 0) if category else sum(run.counts.values())
        if run.counts and index + held <= offset:
            index += held
            continue
        for record in results.read_records(run.pk, run.result_file):
            if category and record["category"] != category:
                continue
            if index >= offset + limit:
                return rows
            if index >= offset:
                rows.append(
                    {
                        "run": run,
                        "category": record["category"],
                        "key": record["key"],
                        "source": record.get("source", ""),
                        "found_by": record.get("found_by") or {},
                        "data": record.get("data") or {},
                        "decisions": decisions.get((run.pk, record["category"], record["key"]), []),
                    }
                )
            index += 1
    return rows
