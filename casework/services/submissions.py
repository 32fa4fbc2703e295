"""Form submissions: the web request's part of a request from the public form (store one row,
ring the opener's bell), and what staff do with submissions a worker could not open (queue them
again, delete them with their uploads). `casework.engine.submissions` opens them."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from casework import queue
from casework.actors import Actor
from casework.models import PortalSubmission
from casework.permissions import require_perm
from casework.services.intake import authority_kind

OPENER_BELL = "portal:opener-bell"


def receive_submission(
    *, language: str, authority: UploadedFile | None = None, **fields: Any
) -> PortalSubmission:
    """The web request's part of a request from the public form: store it as one row (with the
    representative's authority, under a random name) and wake the opener, the task that opens
    its case (`wake_opener`). Nothing about the subject is looked up here, so the form answers
    alike whoever the e-mail belongs to; the case and its reference are made by the worker.

    The opener is woken after commit; should that fail, the row stays pending and the sweeper
    queues it (`sweep_submissions`), so no request is lost.
    """
    submission = PortalSubmission(language=language, payload=fields)
    if authority is not None:
        kind = authority_kind(authority)
        if kind is None:
            raise ValueError("not a PDF, JPEG or PNG file")
        # A random name: the subject's file name may itself be personal data.
        submission.authority.save(f"{uuid.uuid4().hex}.{kind}", authority, save=False)
    try:
        submission.save()  # one INSERT, committed on its own (or with the caller's transaction)
    except Exception:
        if submission.authority:
            submission.authority.storage.delete(submission.authority.name)
        raise
    # Once the row is committed, the opener is woken; should that fail, it is logged, and the
    # sweeper queues the row later (robust: the subject still gets the page).
    transaction.on_commit(wake_opener, robust=True)
    return submission


def wake_opener() -> bool:
    """Ring the opener's bell: queue `open_pending_submissions` unless the bell is ringing
    already, that is unless an opener is queued or at work, and will find this submission
    (it silences the bell before its last look; see there). One cache operation per post
    instead of a task publish (a third of the form's own cost), and one task for a burst of
    posts. Returns whether a task was queued. The bell expires after
    DSAR_OPENER_BELL_SECONDS, so an opener whose message was lost holds nothing up for long.
    The cache must be one that web and worker processes share (Redis, or the database).
    """
    if not cache.add(OPENER_BELL, 1, timeout=settings.DSAR_OPENER_BELL_SECONDS):
        return False
    queue_opener()
    return True


def queue_opener() -> None:
    try:
        queue.enqueue("open_pending_submissions")
    except Exception:
        # A bell left ringing with no opener would make every post until it expires leave
        # its row to the sweeper; silenced, the next post rings again.
        cache.delete(OPENER_BELL)
        raise


def queue_delivery(submission_id: int) -> None:
    """One counted delivery of one submission (`open_submission`): the sweeper's, staff's."""
    queue.enqueue("open_submission", submission_id)


def retry_submission(*, submission: PortalSubmission, actor: Actor) -> None:
    """Staff put a failed submission back in the queue (after fixing what made it fail)."""
    require_perm(actor, "casework.change_portalsubmission")
    with transaction.atomic():
        updated = PortalSubmission.objects.filter(
            pk=submission.pk, state=PortalSubmission.State.FAILED
        ).update(
            state=PortalSubmission.State.PENDING,
            attempts=0,
            error="",
            last_error_class="",
            updated_at=timezone.now(),
        )
        if updated:
            transaction.on_commit(partial(queue_delivery, submission.pk), robust=True)


def delete_submissions(submissions) -> int:
    """Delete submissions with their uploads (the representative's authority is personal
    data too; a row deleted alone would leave its file behind). Returns how many."""
    deleted = 0
    for submission in submissions:
        if submission.authority:
            submission.authority.storage.delete(submission.authority.name)
        submission.delete()
        deleted += 1
    return deleted
