"""Gathering: search every source system for the subject, following the identity graph.

One ConnectorRun row per (case, system, round) and one Celery task per run; no chord whose
bookkeeping lives only in Redis: the rows say when every system has answered. A task claims its
run with a conditional UPDATE and skips a run already claimed or done, so a redelivered or
duplicated message is harmless; the run counts its deliveries and is failed after a bound, so
a task that kills its worker every time cannot loop for ever. Transient faults (timeouts, 429,
5xx) are retried with exponential backoff and jitter; permanent ones fail the run at once. A
sweeper re-queues runs left pending or running past their time (a lost message, a flushed
Redis, a killed worker). When every run has answered, newly learnt identifiers start another
round; when nothing new appears the case moves to review, unless a source failed, in which case
it waits for staff to retry the source or go on without it (with a reason).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from casework import results
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, CaseIdentifier, ConnectorRun, State
from dsar.connectors import (
    ConfigurationError,
    ConnectorError,
    Lookup,
    TransientConnectorError,
    connector_class,
    connector_for,
)
from dsar.connectors.mapping import merged_config
from dsar.identifiers import Identifier
from dsar.models import SourceSystem

logger = logging.getLogger(__name__)
Run = ConnectorRun.State


# --- identifiers ---------------------------------------------------------------------------------


def request_identifiers(case: Case) -> list[Identifier]:
    """The identifiers the subject gave in the request."""
    found: list[Identifier] = []
    if case.email:
        found.append(Identifier("email", case.email))
    if case.phone:
        found.append(Identifier("phone", case.phone))
    if case.customer_number:
        found.append(Identifier("customer_number", case.customer_number))
    if case.name and case.company:
        found.append(Identifier("name_company", f"{case.name}|{case.company}"))
    return found


def _as_dicts(identifiers: Iterable[Identifier]) -> list[dict[str, str]]:
    return [i.as_dict() for i in sorted(set(identifiers))]


# --- planning ------------------------------------------------------------------------------------


def _enqueue(run_ids: list[int], countdown: float | None = None) -> None:
    from casework import tasks

    for run_id in run_ids:
        transaction.on_commit(
            lambda run_id=run_id: tasks.run_connector.apply_async((run_id,), countdown=countdown)
        )


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
    case: Case, round_no: int, identifiers: list[Identifier], actor: Actor
) -> list[int]:
    systems = _systems_for(identifiers, round_no)
    done_keys: dict[int, set[str]] = {}
    for system_id, keys in ConnectorRun.objects.filter(case=case).values_list(
        "system_id", "subject_keys"
    ):
        done_keys.setdefault(system_id, set()).update(keys)
    runs = ConnectorRun.objects.bulk_create(
        [
            ConnectorRun(
                case=case,
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
            "round": round_no,
            "systems": [s.slug for s in systems],
            "identifier_kinds": sorted({i.kind for i in identifiers}),
        },
    )
    ids = [r.pk for r in runs]
    _enqueue(ids)
    return ids


def start(case_id: int) -> None:
    """Move a verified case into gathering and plan the first round (system actor)."""
    from casework import services

    actor = Actor.system()
    with transaction.atomic():
        case = services.case_start_gathering(case=Case(pk=case_id), actor=actor)
        identifiers = request_identifiers(case)
        CaseIdentifier.objects.bulk_create(
            [
                CaseIdentifier(case=case, kind=i.kind, value=i.value, source="request", round=1)
                for i in identifiers
            ],
            ignore_conflicts=True,
        )
        if not SourceSystem.objects.filter(active=True).exists() or not identifiers:
            record_event(case, "gathering.nothing_to_search", actor=actor, details={})
            # The case's row is still locked by case_start_gathering, in this transaction.
            services.case_mark_gathered(case=case, actor=actor, already_locked=True)
            return
        _plan_round(case, 1, identifiers, actor)


# --- running one system ------------------------------------------------------------------------


def claim(run_id: int) -> ConnectorRun | None:
    """Atomically take a pending run; None when another delivery has it or it is done."""
    now = timezone.now()
    claimed = ConnectorRun.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + dt.timedelta(seconds=1)),
        pk=run_id,
        state=Run.PENDING,
    ).update(state=Run.RUNNING, attempts=F("attempts") + 1, claimed_at=now, error="", error_kind="")
    if not claimed:
        return None
    return ConnectorRun.objects.select_related("system", "case").get(pk=run_id)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, capped; a Retry-After is honoured up to a bound."""
    cap = settings.DSAR_RETRY_BACKOFF_CAP
    delay = random.uniform(0, min(cap, settings.DSAR_RETRY_BACKOFF_BASE * 2 ** (attempt - 1)))
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.DSAR_RETRY_AFTER_MAX))
    return min(delay, settings.DSAR_MAX_COUNTDOWN)


def _records(
    connector, lookup: Lookup, skip: set[str], counts: dict[str, int]
) -> Iterator[dict[str, Any]]:
    for match in lookup.matches:
        if match.subject_key in skip:
            continue
        for record in connector.export(match):
            counts[record.category] = counts.get(record.category, 0) + 1
            yield record.as_dict()


def execute(run_id: int) -> str:
    """Run one claimed system search; returns what happened (for logs and tests)."""
    run = claim(run_id)
    if run is None:
        return "skipped"
    if run.attempts > settings.DSAR_GATHER_MAX_DELIVERIES:
        # Every delivery so far died without finishing (a task that kills its worker).
        _fail(run, "permanent", f"gave up after {run.attempts - 1} deliveries without an answer")
        return "failed"
    started = time.monotonic()
    try:
        with connector_for(run.system) as connector:
            if connector.is_manual:
                return _wait_for_person(run)
            identifiers = [Identifier.from_dict(i) for i in run.identifiers]
            lookup = connector.find_subject(identifiers)
            counts: dict[str, int] = {}
            skip = set(run.skip_subject_keys)
            name, count = "", 0
            if any(m.subject_key not in skip for m in lookup.matches):
                name, count = results.write_records(
                    run.pk, run.attempts, _records(connector, lookup, skip, counts)
                )
    except TransientConnectorError as exc:
        return _retry_or_fail(run, exc)
    except ConfigurationError as exc:
        _fail(run, "config", str(exc))
        return "failed"
    except ConnectorError as exc:
        _fail(run, "permanent", str(exc))
        return "failed"
    except Exception as exc:  # a bug or a driver surprise: fail visibly, never leak values
        logger.exception("run %s: unexpected %s", run.pk, type(exc).__name__)
        _fail(run, "permanent", f"unexpected error ({type(exc).__name__})")
        return "failed"
    _succeed(run, lookup, name, count, counts, int((time.monotonic() - started) * 1000))
    return "succeeded"


def _succeed(run, lookup: Lookup, name: str, count: int, counts: dict[str, int], ms: int) -> None:
    with transaction.atomic():
        updated = ConnectorRun.objects.filter(
            pk=run.pk, state=Run.RUNNING, attempts=run.attempts
        ).update(
            state=Run.SUCCEEDED,
            finished_at=timezone.now(),
            duration_ms=ms,
            records_count=count,
            counts=counts,
            subject_keys=sorted({m.subject_key for m in lookup.matches}),
            learnt=_as_dicts(lookup.learnt()),
            ambiguous=[{**a.identifier.as_dict(), "matches": a.matches} for a in lookup.ambiguous],
            result_file=name,
        )
        if not updated:
            # The sweeper took the run back meanwhile; another attempt will write its own file.
            transaction.on_commit(lambda: results.delete(name))
            return
        # A success is on the run's row (counts, timing); the trail keeps rounds, failures,
        # retries and the decisions of people.
        advance(run.case_id)


def _retry_or_fail(run: ConnectorRun, exc: TransientConnectorError) -> str:
    if run.attempts >= settings.DSAR_GATHER_MAX_ATTEMPTS:
        _fail(run, "transient", f"{exc} (gave up after {run.attempts} attempts)")
        return "failed"
    delay = backoff_seconds(run.attempts, exc.retry_after)
    with transaction.atomic():
        ConnectorRun.objects.filter(pk=run.pk, state=Run.RUNNING).update(
            state=Run.PENDING,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
            error_kind="transient",
            error=str(exc)[:500],
        )
        _enqueue([run.pk], countdown=delay)
    logger.info("run %s: transient failure, retry %d in %.1fs", run.pk, run.attempts, delay)
    return "retrying"


def _fail(run: ConnectorRun, kind: str, message: str) -> None:
    with transaction.atomic():
        ConnectorRun.objects.filter(pk=run.pk).update(
            state=Run.FAILED, finished_at=timezone.now(), error_kind=kind, error=message[:500]
        )
        record_event(
            run.case,
            "gathering.run_failed",
            actor=Actor.system(),
            details={"system": run.system.slug, "round": run.round, "error_kind": kind},
        )
        advance(run.case_id)
    logger.warning("run %s (%s) failed: %s", run.pk, run.system.slug, kind)


def _wait_for_person(run: ConnectorRun) -> str:
    with transaction.atomic():
        ConnectorRun.objects.filter(pk=run.pk).update(state=Run.WAITING)
        record_event(
            run.case,
            "gathering.manual_search_requested",
            actor=Actor.system(),
            details={"system": run.system.slug, "round": run.round},
        )
    from casework import notifications

    transaction.on_commit(lambda: notifications.notify_manual_search(run.pk))
    return "waiting"


# --- moving the case on ---------------------------------------------------------------------------


def advance(case_id: int) -> str:
    """Decide what comes next once runs have answered. Serialised on the case row."""
    from casework import services

    actor = Actor.system()
    with transaction.atomic(savepoint=False):
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state != State.GATHERING:
            return "not gathering"
        runs = list(ConnectorRun.objects.filter(case=case).select_related("system"))
        if any(r.state in ConnectorRun.ACTIVE for r in runs):
            return "waiting for runs"
        known = {(i.kind, i.value) for i in CaseIdentifier.objects.filter(case=case)}
        new: dict[tuple[str, str], tuple[str, int]] = {}
        ambiguous: dict[tuple[str, str], tuple[str, int]] = {}
        for r in runs:
            if r.state != Run.SUCCEEDED:
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
                    CaseIdentifier(case=case, kind=k, value=v, source=src, round=next_round)
                    for (k, v), (src, _) in follow.items()
                ],
                ignore_conflicts=True,
            )
            _plan_round(case, next_round, [Identifier(k, v) for k, v in follow], actor)
            return "next round"
        if any(r.state == Run.FAILED for r in runs):
            if case.gathering_blocked_at is None:
                Case.objects.filter(pk=case.pk).update(gathering_blocked_at=timezone.now())
                record_event(
                    case,
                    "gathering.needs_attention",
                    actor=actor,
                    details={
                        "failed": sorted({r.system.slug for r in runs if r.state == Run.FAILED})
                    },
                )
            return "needs attention"
        services.case_mark_gathered(case=case, actor=actor, already_locked=True)
        return "gathered"


# --- staff actions ---------------------------------------------------------------------------------


def retry_failed(*, case: Case, actor: Actor) -> int:
    """Staff: try the failed sources again (each from a clean slate)."""
    from casework.services import require_perm

    require_perm(actor, "casework.retry_run")
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.state != State.GATHERING:
            from django_fsm import TransitionNotAllowed

            raise TransitionNotAllowed("Sources can be retried only while the case is gathering.")
        failed = list(
            ConnectorRun.objects.filter(case=locked, state=Run.FAILED).select_related("system")
        )
        ConnectorRun.objects.filter(pk__in=[r.pk for r in failed]).update(
            state=Run.PENDING,
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


def _remove_stale_temp_files(older_than: dt.timedelta) -> None:
    """Half-written record files of attempts whose worker was killed."""
    from pathlib import Path

    folder = Path(settings.VAR_DIR) / "tmp"
    if not folder.is_dir():
        return
    cutoff = time.time() - older_than.total_seconds()
    for path in folder.glob("run-*.enc"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            continue


# --- the sweeper ---------------------------------------------------------------------------------


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Re-queue work whose message was lost: pending runs past their time, running runs past the
    task time limit (a killed worker), verified cases never moved on, and gathering cases whose
    runs all answered but that were never advanced."""
    from casework import tasks

    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    lease = dt.timedelta(seconds=settings.DSAR_TASK_TIME_LIMIT) + grace
    stale_running = list(
        ConnectorRun.objects.filter(state=Run.RUNNING, claimed_at__lt=now - lease).values_list(
            "pk", flat=True
        )
    )
    if stale_running:
        ConnectorRun.objects.filter(pk__in=stale_running, state=Run.RUNNING).update(
            state=Run.PENDING, next_attempt_at=None
        )
    lost_pending = list(
        ConnectorRun.objects.filter(state=Run.PENDING, updated_at__lt=now - grace)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - grace))
        .values_list("pk", flat=True)
    )
    requeue = sorted(set(stale_running) | set(lost_pending))
    for run_id in requeue:
        tasks.run_connector.delay(run_id)
    unstarted = list(
        Case.objects.filter(state=State.VERIFIED, updated_at__lt=now - grace).values_list(
            "pk", flat=True
        )
    )
    for case_id in unstarted:
        tasks.start_gathering.delay(case_id)
    stuck = list(
        Case.objects.filter(
            state=State.GATHERING, gathering_blocked_at__isnull=True, updated_at__lt=now - grace
        )
        .exclude(runs__state__in=ConnectorRun.ACTIVE)
        .values_list("pk", flat=True)
    )
    for case_id in stuck:
        advance(case_id)
    _remove_stale_temp_files(lease)
    if requeue or unstarted or stuck:
        logger.info(
            "sweeper: %d run(s) re-queued, %d case(s) started, %d advanced",
            len(requeue),
            len(unstarted),
            len(stuck),
        )
    return {"runs": len(requeue), "started": len(unstarted), "advanced": len(stuck)}


MANUAL_UPLOAD_EXTENSIONS = (".csv", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class ManualSettings:
    """What a manual system's configuration tells the person who searches it."""

    instructions: str = ""
    category: str = ""  # the data category of its exports, unless the person names another
    problem: str = ""  # why the settings could not be read; "" when they could


def manual_settings(system: SourceSystem) -> ManualSettings:
    """A manual system's instructions and export category, read as its connector reads them:
    from its configuration with its mapping file (if it names one) merged in. A mapping file
    that cannot be read gives empty settings and says why, so that the pages showing them
    still open and the person can name the category themselves."""
    try:
        config = merged_config(system.config)
    except ConfigurationError as exc:
        return ManualSettings(problem=str(exc))
    instructions, category = config.get("instructions"), config.get("category")
    return ManualSettings(
        instructions=instructions if isinstance(instructions, str) else "",
        category=category if isinstance(category, str) else "",
    )


def _uploaded_records(upload, *, run: ConnectorRun, category: str) -> Iterator[dict[str, Any]]:
    """Rows of a CSV or JSON Lines export attached by a person, as stored records."""
    import csv
    import io
    import json

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
    from casework.services import require_perm

    require_perm(actor, "casework.complete_manual_run")
    if run.state != Run.WAITING:
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
                run.pk, run.attempts, _uploaded_records(upload, run=run, category=category)
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationError({"upload": f"The file could not be read: {exc}"}) from None
        counts = {category: count}
    with transaction.atomic():
        updated = ConnectorRun.objects.filter(pk=run.pk, state=Run.WAITING).update(
            state=Run.SUCCEEDED,
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


def why_not_confirmable(identifier: CaseIdentifier, case: Case) -> str:
    """Why staff cannot confirm this identifier of `case` now, or "" when they can.

    Learnt identifiers that are followed are confirmed by staff before they drive a change;
    the request's own are the subject's word, ambiguous ones are not followed at all, and a
    closed case changes no more. `confirm_identifier` enforces this; the admin asks it too.
    """
    if identifier.source == "request" or identifier.status != CaseIdentifier.Status.FOLLOWED:
        return "Only identifiers learnt from a system and followed need confirming."
    if not case.is_open:
        return "The case is closed."
    if identifier.confirmed_at is not None:
        return "This identifier is already confirmed."
    return ""


def confirmable(identifier: CaseIdentifier, case: Case) -> bool:
    """Staff may confirm this identifier of `case` now (see `why_not_confirmable`)."""
    return not why_not_confirmable(identifier, case)


def confirm_identifier(*, identifier: CaseIdentifier, actor: Actor) -> CaseIdentifier:
    """Staff confirm a learnt identifier is the subject's, before it drives any change."""
    from casework.services import require_perm

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


def purge_results(now: dt.datetime | None = None) -> int:
    """Delete the gathered records of cases closed longer ago than their retention
    (DSAR_GATHERED_RETENTION_DAYS); the rows keep their counts, the files and keys go."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR_GATHERED_RETENTION_DAYS)
    runs = ConnectorRun.objects.filter(case__closed_at__lt=cutoff).exclude(result_file="")
    purged_cases: dict[int, int] = {}
    for run_id, case_id, name in runs.values_list("pk", "case_id", "result_file").iterator():
        results.delete(name)
        ConnectorRun.objects.filter(pk=run_id).update(result_file="")
        purged_cases[case_id] = purged_cases.get(case_id, 0) + 1
    actor = Actor.system() if purged_cases else None
    for case in Case.objects.filter(pk__in=purged_cases):
        with transaction.atomic():
            record_event(
                case,
                "gathering.records_purged",
                actor=actor,
                details={"files": purged_cases[case.pk]},
            )
    return sum(purged_cases.values())
