"""The work engine: one way to do background work on rows (DESIGN.md, "Reliability").

Every kind of work (a gathering run, a bundle build, a form submission) is a `WorkItem` row,
worked on by a Celery task that takes the row's id:

- `claim` takes a pending row by a conditional UPDATE, counts the attempt and gives it a lease
  (a fresh token, an expiry). A redelivered or duplicated message finds nothing to take.
- `KeepAlive` renews the lease from a small thread while the work runs, also while the work is
  blocked in a long query or a PDF render, so that the sweeper can tell a dead worker from a
  slow one.
- `complete`, `retry_later` and `fail` write the outcome fenced by the lease token: a worker
  whose row was taken back meanwhile writes nothing, and the new attempt's result stands.
- `retry_later` is for transient faults only: exponential backoff with full jitter, a
  Retry-After honoured up to a bound, and a bound on the attempts.
- `take_back_expired` and `lost_pending` are the sweeper's: rows whose lease ran out (a killed
  or hung worker) go back to pending, and pending rows whose message was lost are queued again.
- Files an attempt writes are named for the row and the attempt (`attempt_prefix`), so that
  what a killed attempt left behind is found by name (`orphaned`) and deleted, never the
  files of a live attempt or those a row points at.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import uuid
from collections.abc import Iterable
from typing import TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from casework import queue
from casework.models import WorkItem

logger = logging.getLogger(__name__)

Item = TypeVar("Item", bound=WorkItem)
# How much later than its row a retry's message is due (a timer may fire a few ms early).
RETRY_MESSAGE_MARGIN = 0.05
ATTEMPT_NAME = re.compile(r"^(?P<prefix>[a-z]+)-(?P<pk>\d+)-(?P<attempt>\d+)(?:\D|$)")


def lease_duration() -> dt.timedelta:
    return dt.timedelta(seconds=settings.DSAR_WORK_LEASE_SECONDS)


def _released() -> dict:
    return {"lease_token": None, "lease_expires_at": None}


# --- taking work -----------------------------------------------------------------------------------


def claim(
    model: type[Item],
    pk: int,
    *,
    select_related: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> Item | None:
    """Take the pending row `pk` (unless it waits for a later attempt): it becomes the model's
    RUNNING state with a new lease, its attempt counted. None when the row is not pending (a
    duplicate message, or another worker has it) or is not due yet."""
    now = now or timezone.now()
    taken = model.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=pk,
        state=model.PENDING,
    ).update(
        state=model.RUNNING,
        attempts=F("attempts") + 1,
        claimed_at=now,
        lease_token=uuid.uuid4(),
        lease_expires_at=now + lease_duration(),
        heartbeat_at=now,
        last_error_class="",
        updated_at=now,
    )
    if not taken:
        return None
    return model.objects.select_related(*select_related).get(pk=pk)


def claim_next(pending: QuerySet[Item], *, select_related: Iterable[str] = ()) -> Item | None:
    """Take the oldest row of `pending` that no other worker is taking (SKIP LOCKED): for a
    worker that drains a backlog rather than working on one named row."""
    model = pending.model
    with transaction.atomic():
        pk = (
            pending.filter(state=model.PENDING)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        return None if pk is None else claim(model, pk, select_related=select_related)


def over_delivery_bound(item: WorkItem, max_deliveries: int) -> str:
    """Why `item` must not be tried again: every earlier delivery died without an outcome (a
    task that kills its worker every time must not loop for ever). "" when it may run."""
    if item.attempts > max_deliveries:
        return f"gave up after {item.attempts - 1} deliveries without an answer"
    return ""


# --- the lease ---------------------------------------------------------------------------------------


def fenced(item: WorkItem) -> QuerySet:
    """The row of `item` while this attempt still holds it: every write of an outcome goes
    through here, so a worker whose row was taken back writes nothing."""
    model = type(item)
    return model.objects.filter(pk=item.pk, state=model.RUNNING, lease_token=item.lease_token)


def heartbeat(item: WorkItem) -> bool:
    """Renew the lease of `item`; False when the row was taken back (or finished)."""
    now = timezone.now()
    return bool(fenced(item).update(lease_expires_at=now + lease_duration(), heartbeat_at=now))


class KeepAlive:
    """Renew the lease of `item` every third of the lease from a thread of its own while the
    block runs: work blocked in a driver call or a PDF render keeps its lease, and a worker
    that dies stops renewing it. The thread uses its own database connection and closes it."""

    def __init__(self, item: WorkItem, *, interval: float | None = None) -> None:
        self.item = item
        self.interval = interval or settings.DSAR_WORK_LEASE_SECONDS / 3
        self.stop = threading.Event()
        self.lost = False
        self.beats = 0
        self.thread = threading.Thread(target=self._run, name=f"lease-{item.pk}", daemon=True)

    def __enter__(self) -> KeepAlive:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self.stop.wait(self.interval):
                try:
                    if connection.vendor == "postgresql":
                        # Never wait behind a lock for long: the next beat tries again.
                        with connection.cursor() as cursor:
                            cursor.execute("SET lock_timeout = '2s'")
                    if heartbeat(self.item):
                        self.beats += 1
                    else:
                        self.lost = True
                        logger.warning(
                            "%s %s: lease lost (taken back)", type(self.item).__name__, self.item.pk
                        )
                        return
                except Exception as exc:  # a database blip: the next beat tries again
                    logger.warning("lease of %s: %s", self.item.pk, type(exc).__name__)
        finally:
            close_old_connections()
            connection.close()


# --- outcomes ----------------------------------------------------------------------------------------


def complete(item: WorkItem, **fields) -> bool:
    """Write the outcome of the attempt (the model's own fields, its final state among them)
    if the attempt still holds the row. False: the row was taken back; write nothing more."""
    now = timezone.now()
    return bool(
        fenced(item).update(**{"finished_at": now, "updated_at": now, **_released(), **fields})
    )


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, capped; a Retry-After is honoured up to a bound."""
    cap = settings.DSAR_RETRY_BACKOFF_CAP
    delay = random.uniform(0, min(cap, settings.DSAR_RETRY_BACKOFF_BASE * 2 ** (attempt - 1)))
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.DSAR_RETRY_AFTER_MAX))
    return min(delay, settings.DSAR_MAX_COUNTDOWN)


def retry_later(
    item: WorkItem,
    *,
    exc: BaseException,
    max_attempts: int,
    task: str,
    retry_after: float | None = None,
    **fields,
) -> float | None:
    """After a transient fault: the row waits for its next attempt (backoff with jitter) and the
    task is queued for then. Returns the delay, or None when the attempts are used up (the
    caller fails the row) or the row was taken back meanwhile (nothing to do)."""
    if item.attempts >= max_attempts:
        return None
    delay = backoff_seconds(item.attempts, retry_after)
    now = timezone.now()
    model = type(item)
    with transaction.atomic():
        moved = fenced(item).update(
            state=model.PENDING,
            next_attempt_at=now + dt.timedelta(seconds=delay),
            last_error_class=type(exc).__name__,
            updated_at=now,
            **_released(),
            **fields,
        )
        if not moved:
            return None
        # The message is due a little after the row, never before it: a message that comes
        # early finds the row not due and is skipped, and any other message of the row
        # (its first, still queued when another task took the row) is skipped until then.
        queue.enqueue_on_commit(task, item.pk, countdown=delay + RETRY_MESSAGE_MARGIN)
    return delay


def fail(item: WorkItem, *, exc: BaseException | None = None, **fields) -> bool:
    """The work failed for good (a permanent fault, or its bounds reached): the row shows it to
    a person. False when the attempt no longer holds the row."""
    now = timezone.now()
    model = type(item)
    return bool(
        fenced(item).update(
            state=model.FAILED,
            finished_at=now,
            updated_at=now,
            last_error_class=type(exc).__name__ if exc is not None else "",
            **_released(),
            **fields,
        )
    )


def release(item: WorkItem, *, exc: BaseException | None = None) -> bool:
    """Give the row back, pending, after an unforeseen failure of this attempt: its attempt is
    counted, and the sweeper queues it again after the grace (or the opener's kind takes it)."""
    now = timezone.now()
    return bool(
        fenced(item).update(
            state=type(item).PENDING,
            updated_at=now,
            last_error_class=type(exc).__name__ if exc is not None else "",
            **_released(),
        )
    )


# --- the sweeper ---------------------------------------------------------------------------------


def take_back_expired(
    model: type[WorkItem], *, now: dt.datetime | None = None
) -> list[tuple[int, int]]:
    """Rows whose lease ran out (their worker died or hung) go back to pending, for another
    attempt. Returns (pk, attempt) of the attempts taken back, whose files are now orphans.
    A row left running by a version without leases counts as expired after the task time
    limit and the grace."""
    now = now or timezone.now()
    legacy = now - dt.timedelta(
        seconds=settings.DSAR_TASK_TIME_LIMIT + settings.DSAR_SWEEP_GRACE_SECONDS
    )
    expired = model.objects.filter(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True, claimed_at__lt=legacy),
        state=model.RUNNING,
    ).values_list("pk", "lease_token", "attempts")
    taken_back = []
    for pk, token, attempt in expired:
        # Conditional on the token: a worker that renewed meanwhile keeps its row.
        if model.objects.filter(pk=pk, state=model.RUNNING, lease_token=token).update(
            state=model.PENDING, next_attempt_at=None, updated_at=now, **_released()
        ):
            taken_back.append((pk, attempt))
    if taken_back:
        logger.warning(
            "%d %s row(s) taken back from a worker that stopped renewing its lease",
            len(taken_back),
            model.__name__,
        )
    return taken_back


def lost_pending(model: type[Item], *, now: dt.datetime | None = None) -> QuerySet[Item]:
    """Pending rows whose message must have been lost: untouched past the sweep grace, and not
    waiting for a later attempt (a publish that failed after commit, a flushed Redis)."""
    now = now or timezone.now()
    grace = now - dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    return model.objects.filter(state=model.PENDING, updated_at__lt=grace).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=grace)
    )


def sweep(model: type[WorkItem], *, task: str, now: dt.datetime | None = None) -> list[int]:
    """Take back expired rows and queue them again, with the pending rows whose message was
    lost: one `task(pk)` each. Returns the ids queued."""
    taken_back = [pk for pk, _attempt in take_back_expired(model, now=now)]
    lost = lost_pending(model, now=now).values_list("pk", flat=True)
    ids = sorted(set(taken_back) | set(lost))
    for pk in ids:
        queue.enqueue(task, pk)
    return ids


# --- files of attempts ---------------------------------------------------------------------------


def attempt_prefix(prefix: str, item: WorkItem) -> str:
    """The start of the name of every file an attempt writes: `run-12-3` for attempt 3 of
    run 12. The sweeper finds the files of dead attempts by it."""
    return f"{prefix}-{item.pk}-{item.attempts}"


def parse_attempt_name(name: str, prefix: str) -> tuple[int, int] | None:
    """(pk, attempt) of a file named by `attempt_prefix`, or None for any other name."""
    match = ATTEMPT_NAME.match(name)
    if match is None or match["prefix"] != prefix:
        return None
    return int(match["pk"]), int(match["attempt"])


def orphaned(
    model: type[WorkItem], names: dict[str, tuple[int, int]], *, owner_field: str
) -> list[str]:
    """Of `names` (a file's name -> the (pk, attempt) it was written for), those no row owns
    (its `owner_field` names another file, or the row is gone) and no live attempt is
    writing (the row is running that very attempt)."""
    pks = {pk for pk, _attempt in names.values()}
    rows = {
        row["pk"]: row
        for row in model.objects.filter(pk__in=pks).values("pk", "state", "attempts", owner_field)
    }
    found = []
    for name, (pk, attempt) in names.items():
        row = rows.get(pk)
        if row is not None:
            if row[owner_field] and row[owner_field] == name:
                continue
            if row["state"] == model.RUNNING and row["attempts"] == attempt:
                continue
        found.append(name)
    return found
