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

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from casework import notifications, queue, results, work
from casework.actors import Actor
from casework.audit import record_event, take_case
from casework.models import Case, ConnectorRun, State
from casework.selectors.gathering import current_runs
from casework.selectors.retention import not_on_hold
from casework.services.gathering import _as_dicts, advance
from dsar.connectors import (
    ConfigurationError,
    ConnectorError,
    Lookup,
    TransientConnectorError,
    connector_for,
)
from dsar.identifiers import Identifier

logger = logging.getLogger(__name__)


def _records(
    connector, lookup: Lookup, skip: set[str], counts: dict[str, dict[str, int]]
) -> Iterator[dict[str, Any]]:
    """The records of every matched subject not exported before, counted by subject and
    category as they stream past."""
    for match in lookup.matches:
        if match.subject_key in skip:
            continue
        mine = counts.setdefault(match.subject_key, {})
        for record in connector.export(match):
            mine[record.category] = mine.get(record.category, 0) + 1
            yield record.as_dict()


def _match_rows(
    lookup: Lookup, searched: list[Identifier], counts: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    """What the run keeps of each subject it matched, for judging how far the match is
    trusted: every searched identifier that reaches it (a lookup names only the first), what
    the record itself holds, its records."""
    return [
        {
            "subject_key": m.subject_key,
            "found_by": _as_dicts({m.found_by} | (set(searched) & m.identifiers)),
            "identifiers": _as_dicts(m.identifiers),
            "counts": counts.get(m.subject_key, {}),
        }
        for m in lookup.matches
    ]


def execute(run_id: int) -> str:
    """Run one system search on a claimed run, then the case's other runs that no worker has
    taken yet; returns what happened to the first (for logs and tests): "skipped" when another
    worker had taken it (or it was done), after helping with the rest."""
    started = time.monotonic()
    run = work.claim(ConnectorRun, run_id, select_related=("system",))
    if run is None:
        # Taken by a worker that works on the case's runs one after another: this message
        # helps it with those still pending, rather than leave them all to that worker.
        case_id = ConnectorRun.objects.filter(pk=run_id).values_list("case_id", flat=True).first()
        if case_id is not None:
            _work_on_the_rest(case_id, started)
        return "skipped"
    outcome = _work_on(run)
    _work_on_the_rest(run.case_id, started)
    return outcome


def work_on_case(case_id: int) -> int:
    """Work on the case's runs that are due and that no worker has taken: for the task that
    just planned them, which would otherwise wait for their messages to come round. Returns
    how many it worked on."""
    return _work_on_the_rest(case_id, time.monotonic())


def _work_on_the_rest(case_id: int, started: float) -> int:
    """Take the case's runs that are due and still pending (the rest of its round, and the
    next round, which the last run of this one may just have planned) and work on them here,
    one by one, each claimed as its own message would claim it: a worker between two tasks
    spends 10-15 ms before its next message, and a round's messages queue behind each other.
    The messages of runs taken here find them taken and are skipped. Stops after a fifth of
    the task's time limit, so that a long run never pushes the task past it."""
    budget = settings.DSAR_TASK_SOFT_TIME_LIMIT / 5
    done = 0
    while time.monotonic() - started < budget:
        now = timezone.now()
        pending = ConnectorRun.objects.filter(case_id=case_id).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        run = work.claim_next(pending, select_related=("system",))
        if run is None:
            break
        _work_on(run)
        done += 1
    return done


def _work_on(run: ConnectorRun) -> str:
    gave_up = work.over_delivery_bound(run, settings.DSAR_GATHER_MAX_DELIVERIES)
    if gave_up:
        _fail(run, "permanent", gave_up)
        return "failed"
    started = time.monotonic()
    try:
        with work.KeepAlive(run), connector_for(run.system) as connector:
            if connector.is_manual:
                return _wait_for_person(run)
            identifiers = [Identifier.from_dict(i) for i in run.identifiers]
            lookup = connector.find_subject(identifiers)
            counts: dict[str, dict[str, int]] = {}
            skip = set(run.skip_subject_keys)
            name, count = "", 0
            if any(m.subject_key not in skip for m in lookup.matches):
                name, count = results.write_records(
                    run.pk, run.attempts, _records(connector, lookup, skip, counts)
                )
    except TransientConnectorError as exc:
        return _retry_or_fail(run, exc)
    except ConfigurationError as exc:
        _fail(run, "config", str(exc), exc)
        return "failed"
    except ConnectorError as exc:
        _fail(run, "permanent", str(exc), exc)
        return "failed"
    except Exception as exc:  # a bug or a driver surprise: fail visibly, never leak values
        logger.exception("run %s: unexpected %s", run.pk, type(exc).__name__)
        _fail(run, "permanent", f"unexpected error ({type(exc).__name__})", exc)
        return "failed"
    ms = int((time.monotonic() - started) * 1000)
    return "succeeded" if _succeed(run, lookup, name, count, counts, ms) else "taken back"


def _succeed(
    run: ConnectorRun,
    lookup: Lookup,
    name: str,
    count: int,
    counts: dict[str, dict[str, int]],
    ms: int,
) -> bool:
    totals: dict[str, int] = {}
    for by_category in counts.values():
        for category, n in by_category.items():
            totals[category] = totals.get(category, 0) + n
    stored = work.complete(
        run,
        state=ConnectorRun.State.SUCCEEDED,
        duration_ms=ms,
        records_count=count,
        counts=totals,
        subject_keys=sorted({m.subject_key for m in lookup.matches}),
        matches=_match_rows(lookup, [Identifier.from_dict(i) for i in run.identifiers], counts),
        learnt=_as_dicts(lookup.learnt()),
        ambiguous=[{**a.identifier.as_dict(), "matches": a.matches} for a in lookup.ambiguous],
        result_file=name,
        error="",
        error_kind="",
    )
    if not stored:
        # The sweeper took the run back meanwhile; the new attempt writes its own file.
        results.delete(name)
        return False
    # A success is on the run's row (counts, timing); the trail keeps rounds, failures,
    # retries and the decisions of people. Only the round's last run moves the case on. Asked
    # once this run's outcome is committed: of two runs that finish together, the one that
    # commits later sees the other done. A process that dies before it advances leaves the
    # case to the sweeper, which advances cases whose runs have all answered.
    if not _round_still_running(run):
        advance(run.case_id)
    return True


def _round_still_running(run: ConnectorRun) -> bool:
    """Whether another run of the case's gathering is still pending or running: every run of a
    round but its last finds one, and need not lock the case to learn it (`advance` does)."""
    case = Case(pk=run.case_id, gathering=run.gathering)  # the run's gathering, not read again
    return current_runs(case).filter(state__in=ConnectorRun.ACTIVE).exists()


def _retry_or_fail(run: ConnectorRun, exc: TransientConnectorError) -> str:
    delay = work.retry_later(
        run,
        exc=exc,
        max_attempts=settings.DSAR_GATHER_MAX_ATTEMPTS,
        task="run_connector",
        retry_after=exc.retry_after,
        error_kind="transient",
        error=str(exc)[:500],
    )
    if delay is None:
        _fail(run, "transient", f"{exc} (gave up after {run.attempts} attempts)", exc)
        return "failed"
    logger.info("run %s: transient failure, retry %d in %.1fs", run.pk, run.attempts, delay)
    return "retrying"


def _fail(run: ConnectorRun, kind: str, message: str, exc: Exception | None = None) -> None:
    with transaction.atomic():
        take_case(run.case_id)
        if not work.fail(run, exc=exc, error_kind=kind, error=message[:500]):
            return  # taken back meanwhile: the new attempt decides
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
        take_case(run.case_id)
        if not work.complete(
            run, state=ConnectorRun.State.WAITING, finished_at=None, error="", error_kind=""
        ):
            return "taken back"
        record_event(
            run.case,
            "gathering.manual_search_requested",
            actor=Actor.system(),
            details={"system": run.system.slug, "round": run.round},
        )
    transaction.on_commit(lambda: notifications.notify_manual_search(run.pk))
    return "waiting"


# --- the sweeper ---------------------------------------------------------------------------------


def remove_orphan_files(*, scan_storage: bool = False) -> int:
    """Delete the record files of attempts that no run owns and no live attempt writes: the
    half-written temporary files a killed attempt left, and with `scan_storage` the stored
    files too (a file stored just before its worker was killed). Returns how many went."""
    removed = 0
    temporary = {
        str(path): found
        for path in results.temporary_files()
        if (found := work.parse_attempt_name(path.name, results.RUN_PREFIX))
    }
    for name in work.orphaned(ConnectorRun, temporary, owner_field="result_file"):
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()
            removed += 1
    stored: dict[str, tuple[int, int]] = {}
    if scan_storage:
        for name in results.stored_files():
            found = work.parse_attempt_name(name.rpartition("/")[2], results.RUN_PREFIX)
            if found:
                stored[name] = found
    for name in work.orphaned(ConnectorRun, stored, owner_field="result_file"):
        if results.delete(name):
            removed += 1
    if removed:
        logger.info("%d record file(s) of dead attempts deleted", removed)
    return removed


def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Take back runs whose worker stopped renewing its lease (killed or hung) and queue them
    again with the pending runs whose message was lost; start verified cases never moved on,
    and advance gathering cases whose runs all answered but that were never advanced. Delete
    what the attempts taken back left behind."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    taken_back = work.take_back_expired(ConnectorRun, now=now)
    lost = work.lost_pending(ConnectorRun, now=now).values_list("pk", flat=True)
    requeue = sorted({pk for pk, _attempt in taken_back} | set(lost))
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
    # Only a taken-back attempt can have stored a file no row owns: the folder is read then.
    remove_orphan_files(scan_storage=bool(taken_back))
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
    runs = ConnectorRun.objects.filter(case__closed_at__lt=cutoff)
    purged = delete_gathered_records(runs)
    remove_orphan_files(scan_storage=True)
    return purged


def delete_gathered_records(runs, **details) -> int:
    """Delete the stored records of `runs` (a queryset); the rows keep their counts, the
    files and keys go. Each case says how many files it lost. Returns the files deleted.
    A case on legal hold keeps its records, whoever asks."""
    purged_cases: dict[int, int] = {}
    stored = (
        not_on_hold(runs, via="case")
        .exclude(result_file="")
        .values_list("pk", "case_id", "result_file")
    )
    for run_id, case_id, name in stored.iterator():
        results.delete(name)
        ConnectorRun.objects.filter(pk=run_id).update(result_file="")
        purged_cases[case_id] = purged_cases.get(case_id, 0) + 1
    for case in Case.objects.filter(pk__in=purged_cases):
        with transaction.atomic():
            record_event(
                case,
                "gathering.records_purged",
                actor=Actor.system(),
                details={"files": purged_cases[case.pk], **details},
            )
    return sum(purged_cases.values())
