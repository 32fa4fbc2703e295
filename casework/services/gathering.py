"""Gathering, from the case's side: the rounds of the identity graph and the staff's part.

A verified case moves into gathering with one ConnectorRun row per (case, system, round), each
searched by one task (`casework.engine.gathering`); no chord whose bookkeeping lives only in
Redis: the rows say when every system has answered. When every run has answered (`advance`),
newly learnt identifiers start another round; when nothing new appears the case moves to
review, unless a source failed, in which case it waits for staff to retry the source or go on
without it (with a reason). Staff also complete manual searches and confirm learnt identifiers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from casework import queue, results
from casework.actors import Actor
from casework.audit import record_event
from casework.models import (
    Case,
    CaseIdentifier,
    CaseNote,
    ConnectorRun,
    State,
    is_categories_only,
    needs_no_search,
)
from casework.permissions import check_retry_sources, check_search_again, require_perm
from casework.selectors.gathering import (
    MANUAL_UPLOAD_EXTENSIONS,
    current_runs,
    followed_identifiers,
    manual_settings,
    request_identifiers,
    why_not_confirmable,
)
from casework.services.case import (
    _optional_note,
    _require_text,
    _run,
    case_mark_gathered,
    case_needs_identifier,
    case_start_gathering,
)
from dsar.connectors import ConnectorError, connector_class
from dsar.identifiers import IDENTIFIER_KINDS, Identifier, email_skeleton
from dsar.models import SourceSystem


def _as_dicts(identifiers: Iterable[Identifier]) -> list[dict[str, str]]:
    return [i.as_dict() for i in sorted(set(identifiers))]


def _skeleton(kind: str, value: str) -> str:
    # E-mail identifiers keep their look (UTS #39 skeleton): a request from an address that
    # looks like one of them, but is another, is flagged (`services.intake`).
    return email_skeleton(value) if kind == "email" else ""


def _enqueue(run_ids: list[int], countdown: float | None = None) -> None:
    for run_id in run_ids:
        queue.enqueue_on_commit("run_connector", run_id, countdown=countdown)


def _systems_for(identifiers: list[Identifier], round_no: int) -> list[SourceSystem]:
    """Active systems that can be searched by at least one of these identifiers. A manual
    system is asked once (round 1): its person sees every identifier on the case."""
    kinds = {i.kind for i in identifiers}
    chosen = []
    for system in SourceSystem.objects.filter(active=True).order_by("pk"):
        try:
            connector = connector_class(system.connector)(system.config, name=system.slug)
        except ConnectorError:
            chosen.append(system)  # its run will fail visibly, naming the fault
            continue
        searchable = connector.searchable_kinds()
        if (searchable is None and round_no == 1) or (
            searchable is not None and searchable & kinds
        ):
            chosen.append(system)
    return chosen


def _plan_round(
    case: Case,
    round_no: int,
    identifiers: list[Identifier],
    actor: Actor,
    systems: list[SourceSystem] | None = None,
) -> list[int]:
    if systems is None:
        systems = _systems_for(identifiers, round_no)
    done_keys: dict[int, set[str]] = {}
    for system_id, keys in current_runs(case).values_list("system_id", "subject_keys"):
        done_keys.setdefault(system_id, set()).update(keys)
    runs = ConnectorRun.objects.bulk_create(
        [
            ConnectorRun(
                case=case,
                gathering=case.gathering,
                system=system,
                round=round_no,
                identifiers=_as_dicts(identifiers),
                skip_subject_keys=sorted(done_keys.get(system.pk, ())),
            )
            for system in systems
        ]
    )
    record_event(
        case,
        "gathering.round_started",
        actor=actor,
        details={
            **({"gathering": case.gathering} if case.gathering > 1 else {}),
            "round": round_no,
            "systems": [s.slug for s in systems],
            "identifier_kinds": sorted({i.kind for i in identifiers}),
        },
    )
    ids = [r.pk for r in runs]
    _enqueue(ids)
    return ids


def start_gathering(case_id: int) -> None:
    """Move a verified case into gathering and plan the first round (system actor)."""
    actor = Actor.system()
    with transaction.atomic():
        case = case_start_gathering(case=Case(pk=case_id), actor=actor)
        if needs_no_search(case):
            # A categories-only access is answered from the register, a lifting from our own
            # record of opt-outs: no system is searched, and the case says so (its report
            # and letters never say "we found nothing" for it).
            why = "categories_only" if is_categories_only(case) else "objection_lifting"
            record_event(case, "gathering.not_needed", actor=actor, details={"why": why})
            case_mark_gathered(case=case, actor=actor, already_locked=True)
            return
        identifiers = request_identifiers(case)
        CaseIdentifier.objects.bulk_create(
            [
                CaseIdentifier(
                    case=case,
                    kind=i.kind,
                    value=i.value,
                    skeleton=_skeleton(i.kind, i.value),
                    source="request",
                    round=1,
                )
                for i in identifiers
            ],
            ignore_conflicts=True,
        )
        systems = _systems_for(identifiers, 1) if identifiers else []
        if not systems:
            # Nothing it holds reaches any system: it waits for an identifier, never in review
            # as if the subject had no data. (The row is still locked, in this transaction.)
            record_event(case, "gathering.nothing_to_search", actor=actor, details={})
            case_needs_identifier(case=case, actor=actor, already_locked=True)
            return
        _plan_round(case, 1, identifiers, actor, systems)


def case_search_again(*, case: Case, actor: Actor, note: str = "") -> Case:
    """The `search_again` operation: the verification scan after an erasure found records the
    plan does not keep. The case goes back into gathering (`gather_again`: its review, its
    plan's submission and its approval no longer stand) and every system is searched again,
    from the start, by every identifier the case's searches have followed, so that the new
    review and the new plan (drafted by one person, approved by another) are about what the
    systems hold now. The flagged plan stays as it was (approved, carried out, flagged), and
    the earlier gathering's runs and review decisions as history. `note`: internal."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        plan = check_search_again(locked, actor)
        flagged = sum(
            entry.get("unexpected_count", 0) for entry in (plan.verification or {}).values()
        )
        case = _run(
            locked,
            "gather_again",
            actor,
            note=_optional_note(CaseNote.Kind.INTERNAL, note),
            details={"plan": plan.number, "flagged": flagged, "gathering": locked.gathering + 1},
            already_locked=True,
        )
        # The searches are the system's, as after verification (`start_gathering`).
        system = Actor.system()
        identifiers = followed_identifiers(case) or request_identifiers(case)
        if not identifiers or not _systems_for(identifiers, 1):
            record_event(case, "gathering.nothing_to_search", actor=system, details={})
            case_needs_identifier(case=case, actor=system, already_locked=True)
            return case
        _plan_round(case, 1, identifiers, system)
    return case


def case_add_identifier(*, case: Case, actor: Actor, kind: str, value: str, note: str) -> Case:
    """Staff add an identifier of the subject from what the request gave them (the customer
    number in a letter, a phone on record), with how they know it: the case, waiting for an
    identifier, is searched by it. Refused when it reaches no system either."""
    if kind not in IDENTIFIER_KINDS:
        raise ValidationError({"kind": _("Choose a kind of identifier.")})
    identifier = Identifier(kind, value or "")
    if not identifier.usable:
        raise ValidationError({"value": _("Give the identifier's value.")})
    note = _require_text(note, "note")
    if not _systems_for([identifier], 1):
        raise ValidationError(
            {"kind": _("No source system can be searched by this kind of identifier.")}
        )
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        round_no = (
            CaseIdentifier.objects.filter(case=locked).aggregate(n=Max("round"))["n"] or 0
        ) + 1
        case = _run(
            locked,
            "identifier_added",
            actor,
            note=(CaseNote.Kind.VERIFICATION, note, False),
            details={"kind": kind},
            already_locked=True,
        )
        CaseIdentifier.objects.get_or_create(
            case=case,
            kind=identifier.kind,
            value=identifier.value,
            defaults={
                "skeleton": _skeleton(identifier.kind, identifier.value),
                "source": "staff",
                "round": round_no,
                "confirmed_by": actor.user,
                "confirmed_at": timezone.now(),
            },
        )
        _plan_round(case, round_no, [identifier], actor)
    return case


def advance(case_id: int) -> str:
    """Decide what comes next once runs have answered. Serialised on the case row."""
    actor = Actor.system()
    with transaction.atomic(savepoint=False):
        # Every run but a round's last finds another still active: a light lock and check
        # first, the whole case and its runs read only when this run was the last.
        locked = (
            Case.objects.select_for_update().only("state", "gathering").filter(pk=case_id).first()
        )
        if locked is None or locked.state != State.GATHERING:
            return "not gathering"
        if current_runs(locked).filter(state__in=ConnectorRun.ACTIVE).exists():
            return "waiting for runs"
        case = Case.objects.get(pk=case_id)
        runs = list(current_runs(case).select_related("system"))
        known = {(i.kind, i.value) for i in CaseIdentifier.objects.filter(case=case)}
        new: dict[tuple[str, str], tuple[str, int]] = {}
        ambiguous: dict[tuple[str, str], tuple[str, int]] = {}
        for r in runs:
            if r.state != ConnectorRun.State.SUCCEEDED:
                continue
            for a in r.ambiguous:
                ambiguous.setdefault((a["kind"], a["value"]), (r.system.slug, a["matches"]))
            for i in r.learnt:
                new.setdefault((i["kind"], i["value"]), (r.system.slug, 1))
        next_round = max((r.round for r in runs), default=0) + 1
        fresh_ambiguous = {k: v for k, v in ambiguous.items() if k not in known}
        CaseIdentifier.objects.bulk_create(
            [
                CaseIdentifier(
                    case=case,
                    kind=k,
                    value=v,
                    skeleton=_skeleton(k, v),
                    source=src,
                    round=next_round,
                    status=CaseIdentifier.Status.AMBIGUOUS,
                    matches=n,
                )
                for (k, v), (src, n) in fresh_ambiguous.items()
            ],
            ignore_conflicts=True,
        )
        follow = {k: v for k, v in new.items() if k not in known and k not in ambiguous}
        if follow and next_round <= settings.DSAR_GATHER_MAX_ROUNDS:
            CaseIdentifier.objects.bulk_create(
                [
                    CaseIdentifier(
                        case=case,
                        kind=k,
                        value=v,
                        skeleton=_skeleton(k, v),
                        source=src,
                        round=next_round,
                    )
                    for (k, v), (src, _) in follow.items()
                ],
                ignore_conflicts=True,
            )
            _plan_round(case, next_round, [Identifier(k, v) for k, v in follow], actor)
            return "next round"
        if any(r.state == ConnectorRun.State.FAILED for r in runs):
            if case.gathering_blocked_at is None:
                Case.objects.filter(pk=case.pk).update(gathering_blocked_at=timezone.now())
                record_event(
                    case,
                    "gathering.needs_attention",
                    actor=actor,
                    details={
                        "failed": sorted(
                            {r.system.slug for r in runs if r.state == ConnectorRun.State.FAILED}
                        )
                    },
                )
            return "needs attention"
        case_mark_gathered(case=case, actor=actor, already_locked=True)
        return "gathered"


def retry_failed(*, case: Case, actor: Actor) -> int:
    """Staff: try the failed sources again (each from a clean slate)."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        check_retry_sources(locked, actor)
        failed = list(
            current_runs(locked).filter(state=ConnectorRun.State.FAILED).select_related("system")
        )
        ConnectorRun.objects.filter(pk__in=[r.pk for r in failed]).update(
            state=ConnectorRun.State.PENDING,
            attempts=0,
            next_attempt_at=None,
            error="",
            error_kind="",
            finished_at=None,
        )
        Case.objects.filter(pk=locked.pk).update(gathering_blocked_at=None)
        record_event(
            locked,
            "gathering.retried",
            actor=actor,
            details={"systems": [r.system.slug for r in failed]},
        )
        _enqueue([r.pk for r in failed])
    return len(failed)


def _uploaded_records(upload, *, run: ConnectorRun, category: str) -> Iterator[dict[str, Any]]:
    """Rows of a CSV or JSON Lines export attached by a person, as stored records."""
    name = (getattr(upload, "name", "") or "").lower()
    text = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")
    if name.endswith((".jsonl", ".ndjson")):
        rows = (json.loads(line) for line in text if line.strip())
    else:
        rows = csv.DictReader(text)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"line {number} is not an object")
        yield {
            "category": category,
            "source": f"{run.system.slug} (manual export)",
            "key": f"manual:{run.pk}:{number}",
            "subject_key": "manual",
            "found_by": None,
            "data": row,
        }


def complete_manual_run(
    *, run: ConnectorRun, actor: Actor, upload=None, category: str = ""
) -> ConnectorRun:
    """A person searched a manual system: attach the export (CSV or JSON Lines, one record per
    row, all of `category`), or confirm that nothing was found (no upload)."""
    require_perm(actor, "casework.complete_manual_run")
    if run.state != ConnectorRun.State.WAITING:
        raise ValidationError("This search is not waiting for a person.")
    manual = manual_settings(run.system)
    category = category or manual.category
    if upload is not None:
        name = (getattr(upload, "name", "") or "").lower()
        if not name.endswith(MANUAL_UPLOAD_EXTENSIONS):
            raise ValidationError(
                {"upload": "Attach a CSV or JSON Lines file (.csv, .jsonl, .ndjson)."}
            )
        if (getattr(upload, "size", 0) or 0) > settings.DSAR_MANUAL_UPLOAD_MAX_BYTES:
            raise ValidationError({"upload": "The file is too large."})
    if upload is not None and not category:
        message = "Say which data category the export holds."
        if manual.problem:
            message += f" The system's own could not be read: {manual.problem}"
        raise ValidationError({"category": message})
    name, count, counts = "", 0, {}
    if upload is not None:
        try:
            name, count = results.write_records(
                run.pk,
                run.attempts,
                _uploaded_records(upload, run=run, category=category),
                prefix=results.MANUAL_PREFIX,
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError({"upload": f"The file could not be read: {exc}"}) from None
        counts = {category: count}
    with transaction.atomic():
        updated = ConnectorRun.objects.filter(pk=run.pk, state=ConnectorRun.State.WAITING).update(
            state=ConnectorRun.State.SUCCEEDED,
            finished_at=timezone.now(),
            records_count=count,
            counts=counts,
            result_file=name,
        )
        if not updated:
            transaction.on_commit(lambda: results.delete(name))
            raise ValidationError("This search was completed meanwhile.")
        record_event(
            run.case,
            "gathering.manual_search_completed",
            actor=actor,
            details={"system": run.system.slug, "round": run.round, "records": count},
        )
        advance(run.case_id)
    run.refresh_from_db()
    return run


def confirm_identifier(*, identifier: CaseIdentifier, actor: Actor) -> CaseIdentifier:
    """Staff confirm a learnt identifier is the subject's, before it drives any change."""
    require_perm(actor, "casework.change_caseidentifier")
    with transaction.atomic():
        # The case's lock serialises confirmations: the identifier is judged as it is now.
        case = Case.objects.select_for_update().get(pk=identifier.case_id)
        current = CaseIdentifier.objects.get(pk=identifier.pk)
        problem = why_not_confirmable(current, case)
        if problem:
            raise ValidationError(problem)
        CaseIdentifier.objects.filter(pk=identifier.pk).update(
            confirmed_by=actor.user, confirmed_at=timezone.now()
        )
        record_event(
            case,
            "gathering.identifier_confirmed",
            actor=actor,
            details={"identifier": identifier.pk, "kind": identifier.kind},
        )
    identifier.refresh_from_db()
    return identifier
