"""Searching one system for one case, on a worker (a ConnectorRun row, claimed atomically).

A task claims its run with a conditional UPDATE and skips a run already claimed or done, so a
redelivered or duplicated message is harmless; the run counts its deliveries and is failed
after a bound, so a task that kills its worker every time cannot loop for ever. Transient
faults (timeouts, 429, 5xx) are retried with exponential backoff and jitter; permanent ones
fail the run at once. A sweeper re-queues runs left pending or running past their time (a lost
message, a flushed Redis, a killed worker). What comes next for the case is decided by
`casework.services.gathering.advance`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from casework import notifications, queue, results
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, ConnectorRun, State
from casework.services.gathering import _as_dicts, _enqueue, advance
from dsar.connectors import (
    ConfigurationError,
    ConnectorError,
    Lookup,
    TransientConnectorError,
    connector_for,
)
from dsar.identifiers import Identifier

logger = logging.getLogger(__name__)
RunState = ConnectorRun.State


def claim(run_id: int) -> ConnectorRun | None:
    """Atomically take a pending run; None when another delivery has it or it is done."""
    now = timezone.now()
    claimed = ConnectorRun.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + dt.timedelta(seconds=1)),
        pk=run_id,
        state=RunState.PENDING,
    ).update(
        state=RunState.RUNNING, attempts=F("attempts") + 1, claimed_at=now, error="", error_kind=""
    )
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
            pk=run.pk, state=RunState.RUNNING, attempts=run.attempts
        ).update(
            state=RunState.SUCCEEDED,
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
        ConnectorRun.objects.filter(pk=run.pk, state=RunState.RUNNING).update(
            state=RunState.PENDING,
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
            state=RunState.FAILED, finished_at=timezone.now(), error_kind=kind, error=message[:500]
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
        ConnectorRun.objects.filter(pk=run.pk).update(state=RunState.WAITING)
        record_event(
            run.case,
            "gathering.manual_search_requested",
            actor=Actor.system(),
            details={"system": run.system.slug, "round": run.round},
        )
    transaction.on_commit(lambda: notifications.notify_manual_search(run.pk))
    return "waiting"


def _remove_stale_temp_files(older_than: dt.timedelta) -> None:
    """Half-written record files of attempts whose worker was killed."""
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


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Re-queue work whose message was lost: pending runs past their time, running runs past the
    task time limit (a killed worker), verified cases never moved on, and gathering cases whose
    runs all answered but that were never advanced."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    lease = dt.timedelta(seconds=settings.DSAR_TASK_TIME_LIMIT) + grace
    stale_running = list(
        ConnectorRun.objects.filter(state=RunState.RUNNING, claimed_at__lt=now - lease).values_list(
            "pk", flat=True
        )
    )
    if stale_running:
        ConnectorRun.objects.filter(pk__in=stale_running, state=RunState.RUNNING).update(
            state=RunState.PENDING, next_attempt_at=None
        )
    lost_pending = list(
        ConnectorRun.objects.filter(state=RunState.PENDING, updated_at__lt=now - grace)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now - grace))
        .values_list("pk", flat=True)
    )
    requeue = sorted(set(stale_running) | set(lost_pending))
    for run_id in requeue:
        queue.enqueue("run_connector", run_id)
    unstarted = list(
        Case.objects.filter(state=State.VERIFIED, updated_at__lt=now - grace).values_list(
            "pk", flat=True
        )
    )
    for case_id in unstarted:
        queue.enqueue("start_gathering", case_id)
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
