"""Opening the cases of form submissions, on a worker: the opener takes every submission no task
has taken yet; a delivery of the sweeper (or of staff) opens one. The submission row is the
truth about that work (DESIGN.md, "Reliability"): it is deleted in the transaction that opens
its case, counted per delivery, and failed after a bound."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from casework import work
from casework.models import Case, PortalSubmission
from casework.services.intake import submit_request
from casework.services.submissions import (
    OPENER_BELL,
    delete_submissions,
    queue_delivery,
    queue_opener,
)

logger = logging.getLogger(__name__)


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
            submission = _take_next_submission()
            if submission is not None:
                opened += _open_taken(submission) is not None
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
                queue_opener()
                return opened
    except BaseException:
        # Stopped early (the database or the broker failed, or the time limit): the next
        # post rings again rather than trusting this opener; the sweeper has the rest.
        cache.delete(OPENER_BELL)
        raise


def _untaken():
    return PortalSubmission.objects.filter(state=PortalSubmission.State.PENDING, attempts=0)


def _take_next_submission() -> PortalSubmission | None:
    """Take the oldest submission no task has taken (its first attempt, with a lease), so
    that no other opener takes it; one whose opener died is the sweeper's (which counts each
    further delivery)."""
    return work.claim_next(_untaken())


def _open_taken(submission: PortalSubmission) -> Case | None:
    """Open a submission this opener took. An unforeseen failure is logged, not raised: the
    row, counted once, is the sweeper's to deliver again, and the opener goes on with the
    other submissions. The time limit stops the opener (its row goes to the sweeper too)."""
    try:
        return _open(submission)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        # The class only: a driver's message can quote the values (DESIGN.md, "Security").
        logger.error(
            "form submission %s could not be opened (%s); left to the sweeper",
            submission.pk,
            type(exc).__name__,
        )
        return None


def open_submission(submission_id: int) -> Case | None:
    """Open the case of one stored form submission (a delivery from the sweeper or a retry
    by staff; the opener takes new ones). Returns the case, or None when there is nothing
    (more) to do: the submission was opened already (meanwhile, too), or it failed.

    Each delivery is counted when it takes the row, so that a submission that kills its
    worker every time is marked failed after DSAR_SUBMISSION_MAX_DELIVERIES.
    """
    submission = work.claim(PortalSubmission, submission_id)
    if submission is None:
        return None
    limit = settings.DSAR_SUBMISSION_MAX_DELIVERIES
    if work.over_delivery_bound(submission, limit):
        if work.fail(submission, error=f"delivered {limit} times without being opened"):
            logger.error("form submission %s failed: delivered %s times", submission_id, limit)
        return None
    return _open(submission)


def _open(submission: PortalSubmission) -> Case | None:
    """Open the case of a submission this attempt holds, and delete the row in the same
    transaction. One that breaks a rule of case_create the form did not foresee is marked
    failed at once, with the names of the fields at fault (not their values), for staff to
    see in the admin. Any other failure gives the row back (pending, its attempt counted) for
    the sweeper to deliver again."""
    try:
        with transaction.atomic():
            # Waited for, not skipped: another transaction may hold the row a moment only
            # (a search for untaken rows that passes it over); once it lets go, the row is
            # still this attempt's, or was taken back and there is nothing to do here.
            held = work.fenced(submission).select_for_update().first()
            if held is None:
                return None
            case = submit_request(
                language=held.language,
                received_at=held.received_at,
                authority_name=held.authority.name or "",
                **held.payload,
            )
            held.delete()
    except (ValidationError, TypeError) as exc:
        # Retrying cannot help: a field case_create refuses, or fields it does not know (a
        # submission stored by an older version of the form).
        fault = _fault(exc)
        work.fail(submission, exc=exc, error=fault)
        logger.error(
            "form submission %s failed: %s",
            submission.pk,
            fault,
            exc_info=isinstance(exc, TypeError),
        )
        return None
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the database may be what failed
            work.release(submission, exc=exc)
        raise
    logger.info("form submission %s opened as case %s", submission.pk, case.reference)
    return case


def _fault(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return ("invalid: " + ", ".join(sorted(exc.error_dict)))[:300]
    return f"{type(exc).__name__} (see the worker's log)"


def sweep_submissions(now: dt.datetime | None = None) -> int:
    """Queue again the submissions whose opening stopped: taken back from a worker that
    stopped renewing its lease (killed), or still pending after the sweep grace (a publish
    that failed after commit, a lost message, a flushed Redis). Those no task has taken get
    one opener for all of them; each taken one a delivery of its own, counted, so that one
    that kills its worker ends failed. Returns how many were found."""
    taken_back = [pk for pk, _attempt in work.take_back_expired(PortalSubmission, now=now)]
    stale = work.lost_pending(PortalSubmission, now=now)
    taken = sorted(set(taken_back) | set(stale.filter(attempts__gt=0).values_list("pk", flat=True)))
    for submission_id in taken:
        queue_delivery(submission_id)
    untaken = stale.filter(attempts=0).count()
    if untaken:
        queue_opener()  # past the bell: it may be ringing for an opener that was lost
    return len(taken) + untaken


def purge_failed_submissions(now: dt.datetime | None = None) -> int:
    """Delete failed submissions (and their uploads) left untouched for
    DSAR_SUBMISSION_RETENTION_DAYS: staff neither queued them again nor deleted them, and the
    personal data they hold must not be kept for ever. Returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR_SUBMISSION_RETENTION_DAYS)
    purged = delete_submissions(
        PortalSubmission.objects.filter(state=PortalSubmission.State.FAILED, updated_at__lt=cutoff)
    )
    if purged:
        logger.info("%d failed form submission(s) deleted after retention", purged)
    return purged
