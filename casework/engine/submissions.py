"""Opening the cases of form submissions, on a worker: the opener takes every submission no task
has taken yet; a delivery of the sweeper (or of staff) opens one. The submission row is the
truth about that work (DESIGN.md, "Reliability"): it is deleted in the transaction that opens
its case, counted per delivery, and failed after a bound."""

from __future__ import annotations

import datetime as dt
import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from casework.models import Case, PortalSubmission
from casework.services.intake import submit_request
from casework.services.submissions import (
    OPENER_BELL,
    _queue_delivery,
    _queue_opener,
    delete_submissions,
)

logger = logging.getLogger(__name__)
Submission = PortalSubmission.State


OPENER_PAUSE_SECONDS = 0.05


def open_pending_submissions(*, budget_seconds: float | None = None) -> int:
    """The opener: open the case of every submission no task has taken yet, one at a time
    (several openers may run: each takes its rows with SKIP LOCKED). Returns how many cases
    it opened.

    Before it stops it silences the bell and looks once more, so that a post whose ring
    found the bell still ringing is not left behind: that post's row was committed before
    the bell was silenced, so the last look sees it. Should rows remain, it rings the bell
    itself and goes on, unless another post rang it first (that post queued an opener).
    After `budget_seconds` (default DSAR_OPENER_BUDGET_SECONDS) it queues a fresh opener and
    stops, so that a long backlog does not make one long task. A submission that fails in an
    unforeseen way is logged and left to the sweeper; the opener goes on with the others.
    """
    budget = settings.DSAR_OPENER_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    opened = 0
    try:
        while True:
            submission_id = _take_next_submission()
            if submission_id is not None:
                opened += _open_taken(submission_id) is not None
            else:
                cache.delete(OPENER_BELL)
                if not _untaken().exists():
                    return opened
                if not cache.add(OPENER_BELL, 1, timeout=settings.DSAR_OPENER_BELL_SECONDS):
                    return opened
                # Rows are left that no take found: new ones, or ones another transaction
                # holds locked for a moment. A short pause, so that a held row is not polled hot.
                time.sleep(OPENER_PAUSE_SECONDS)
            if time.monotonic() > deadline:
                _queue_opener()
                return opened
    except BaseException:
        # Stopped early (the database or the broker failed, or the time limit): the next
        # post rings again rather than trusting this opener; the sweeper has the rest.
        cache.delete(OPENER_BELL)
        raise


def _untaken():
    return PortalSubmission.objects.filter(state=Submission.PENDING, deliveries=0)


def _take_next_submission() -> int | None:
    """Take the oldest submission no task has taken: its first delivery is counted in the
    same transaction, so that no other opener takes it, and a row whose opener died is left
    to the sweeper (which counts each further delivery)."""
    with transaction.atomic():
        submission_id = (
            _untaken()
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if submission_id is not None:
            PortalSubmission.objects.filter(pk=submission_id).update(
                deliveries=1, updated_at=timezone.now()
            )
    return submission_id


def _open_taken(submission_id: int) -> Case | None:
    """Open a submission this opener took. An unforeseen failure is logged, not raised: the
    row, counted once, is the sweeper's to deliver again, and the opener goes on with the
    other submissions. The time limit stops the opener (its row goes to the sweeper too)."""
    try:
        return _open(submission_id)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        # The class only: a driver's message can quote the values (DESIGN.md, "Security").
        logger.error(
            "form submission %s could not be opened (%s); left to the sweeper",
            submission_id,
            type(exc).__name__,
        )
        return None


def open_submission(submission_id: int) -> Case | None:
    """Open the case of one stored form submission (a delivery from the sweeper or a retry
    by staff; the opener takes new ones). Returns the case, or None when there is nothing
    (more) to do: the submission was opened already (meanwhile, too), or it failed.

    Each delivery is counted first, in a transaction of its own, so that a submission that
    kills its worker every time is marked failed after DSAR_SUBMISSION_MAX_DELIVERIES.
    """
    pending = PortalSubmission.objects.filter(pk=submission_id, state=Submission.PENDING)
    limit = settings.DSAR_SUBMISSION_MAX_DELIVERIES
    now = timezone.now()
    if not pending.filter(deliveries__lt=limit).update(
        deliveries=F("deliveries") + 1, updated_at=now
    ):
        if pending.update(
            state=Submission.FAILED,
            error=f"delivered {limit} times without being opened",
            updated_at=now,
        ):
            logger.error("form submission %s failed: delivered %s times", submission_id, limit)
        return None
    return _open(submission_id)


def _open(submission_id: int) -> Case | None:
    """Open the case of a submission whose delivery was counted, and delete the row in the
    same transaction. One that breaks a rule of case_create the form did not foresee is marked
    failed at once, with the names of the fields at fault (not their values), for staff to
    see in the admin."""
    pending = PortalSubmission.objects.filter(pk=submission_id, state=Submission.PENDING)
    try:
        with transaction.atomic():
            # Waited for, not skipped: another transaction may hold the row a moment only
            # (a search for untaken rows that passes it over); once it lets go, the row is
            # pending still, or gone (opened meanwhile) and there is nothing to do.
            submission = pending.select_for_update().first()
            if submission is None:
                return None
            case = submit_request(
                language=submission.language,
                received_at=submission.received_at,
                authority_name=submission.authority.name or "",
                **submission.payload,
            )
            submission.delete()
    except (ValidationError, TypeError) as exc:
        # Retrying cannot help: a field case_create refuses, or fields it does not know (a
        # submission stored by an older version of the form).
        fault = _fault(exc)
        pending.update(state=Submission.FAILED, error=fault, updated_at=timezone.now())
        logger.error(
            "form submission %s failed: %s",
            submission_id,
            fault,
            exc_info=isinstance(exc, TypeError),
        )
        return None
    logger.info("form submission %s opened as case %s", submission_id, case.reference)
    return case


def _fault(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return ("invalid: " + ", ".join(sorted(exc.error_dict)))[:300]
    return f"{type(exc).__name__} (see the worker's log)"


def sweep_submissions(now: dt.datetime | None = None) -> int:
    """Queue again the submissions still pending after the sweep grace (a publish that failed
    after commit, a lost message, a flushed Redis, a killed worker). Those no task has taken
    get one opener for all of them; each taken one (its opener died) a delivery of its own,
    counted, so that one that kills its worker ends failed. Returns how many were found."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    stale = PortalSubmission.objects.filter(state=Submission.PENDING, updated_at__lt=now - grace)
    taken = list(stale.filter(deliveries__gt=0).values_list("pk", flat=True))
    for submission_id in taken:
        _queue_delivery(submission_id)
    untaken = stale.filter(deliveries=0).count()
    if untaken:
        _queue_opener()  # past the bell: it may be ringing for an opener that was lost
    return len(taken) + untaken


def purge_failed_submissions(now: dt.datetime | None = None) -> int:
    """Delete failed submissions (and their uploads) left untouched for
    DSAR_SUBMISSION_RETENTION_DAYS: staff neither queued them again nor deleted them, and the
    personal data they hold must not be kept for ever. Returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR_SUBMISSION_RETENTION_DAYS)
    purged = delete_submissions(
        PortalSubmission.objects.filter(state=Submission.FAILED, updated_at__lt=cutoff)
    )
    if purged:
        logger.info("%d failed form submission(s) deleted after retention", purged)
    return purged
