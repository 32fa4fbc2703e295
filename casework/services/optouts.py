"""Writes of our own record of opt-outs (`casework.models.OptOut`): recorded when an
objection to direct marketing or to disclosure completes (`casework.services.case_fulfil`),
in its transaction. An opt-in lifts them (`casework.services.opt_in`), never deletes them."""

from __future__ import annotations

from django.utils import timezone

from casework.actors import Actor
from casework.audit import record_event
from casework.models import (
    Case,
    OptOut,
    is_marketing_objection,
    is_opt_out,
    stops_disclosure,
)
from casework.selectors.optouts import identifier_digest, subject_identifiers


def opt_out_kinds(case: Case) -> list[str]:
    """What the case's objection opts out of: direct marketing, disclosure, or both."""
    kinds = []
    if is_marketing_objection(case):
        kinds.append(OptOut.Kind.MARKETING)
    if case.request_type == "objection" and stops_disclosure(case.details):
        kinds.append(OptOut.Kind.DISCLOSURE)
    return kinds


def optouts_record(*, case: Case, actor: Actor) -> list[OptOut]:
    """Record the opt-outs of a completing objection, one row per identifier of its subject
    and kind, in the caller's transaction (the case's completion). Writing them twice changes
    nothing. The audit event keeps the kinds and how many, never an identifier."""
    if not is_opt_out(case):
        return []
    kinds = opt_out_kinds(case)
    identifiers = sorted(subject_identifiers(case))
    now = timezone.now()
    rows = OptOut.objects.bulk_create(
        [
            OptOut(
                case=case,
                kind=kind,
                identifier_kind=identifier.kind,
                identifier_hash=identifier_digest(identifier),
                created_at=now,
            )
            for kind in kinds
            for identifier in identifiers
        ],
        ignore_conflicts=True,
    )
    record_event(
        case,
        "optout.recorded",
        actor=actor,
        details={
            "kinds": [str(k) for k in kinds],
            "identifier_kinds": sorted({i.kind for i in identifiers}),
            "rows": len(rows),
        },
    )
    return rows
