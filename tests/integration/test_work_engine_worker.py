"""The work engine with a real worker that is killed mid-work (SIGKILL: no chance to clean up):
the sweeper takes the row back once its lease is no longer renewed, deletes what the dead
attempt left, and the next attempt finishes, once. Gathering's own case is in
test_gathering_worker.py; here a bundle build and the opening of a form submission."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.files.storage import default_storage
from django.db import connection, transaction

from casework import services
from casework.actors import Actor
from casework.engine import bundles as bundles_engine
from casework.engine import submissions as submissions_engine
from casework.models import Bundle, Case, PortalSubmission, ReferenceCounter, State
from tests.conftest import wait_for
from tests.portal.conftest import ARTA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


class RowHeld:
    """Holds a row locked (SELECT ... FOR UPDATE) from a thread of its own until released,
    so that the worker's work blocks on it; `worker_waits()` says when a backend waits."""

    def __init__(self, queryset) -> None:
        self.queryset = queryset
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                list(self.queryset.select_for_update())
                self.locked.set()
                self.release.wait(timeout=60)
        finally:
            connection.close()

    def __enter__(self) -> RowHeld:
        self.thread.start()
        assert self.locked.wait(timeout=30)
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.thread.join(timeout=30)


def a_backend_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def sweep_until(sweep, done, timeout: float = 60) -> float:
    """Run the sweeper (beat does, in production) until `done()`; returns the seconds taken."""
    started = time.monotonic()
    while not done() and time.monotonic() - started < timeout:
        sweep()
        time.sleep(0.2)
    assert done()
    return time.monotonic() - started


def test_a_build_killed_mid_work_is_taken_back_its_file_deleted_and_built_once(
    real_worker, make_case, alice
):
    case = make_case(email=ARTA)  # no source system: nothing to search by
    case = services.case_verify(case=case, actor=Actor.staff(alice), note="Call-back on record")
    wait_for(lambda: Case.objects.get(pk=case.pk).state == State.NEEDS_IDENTIFIER)
    case = services.case_proceed_without_source(
        case=case, actor=Actor.staff(alice), reason="No system holds customers' data yet"
    )
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    real_worker.finish_queued_work()  # the e-mails so far, which take the case row too
    real_worker.stop()  # the build waits in the queue while the case row is taken
    services.case_approve(case=case, actor=Actor.staff(alice))
    # The build stores its file, then waits to mark the case ready: the case row is held.
    with RowHeld(Case.objects.filter(pk=case.pk)):
        real_worker.start()
        wait_for(a_backend_waits_for_a_lock, interval=0.05)
        real_worker.kill()
    bundle = Bundle.objects.get(case=case)
    assert (bundle.state, bundle.attempts) == (Bundle.State.BUILDING, 1)
    folder = f"bundles/{case.pk}"
    left_behind = [f"{folder}/{name}" for name in default_storage.listdir(folder)[1]]
    assert left_behind  # the dead attempt's file, which no row owns
    real_worker.start()
    sweep_until(bundles_engine.sweep, lambda: Bundle.objects.get(pk=bundle.pk).state == "ready")
    bundle.refresh_from_db()
    assert bundle.attempts == 2
    assert [f"{folder}/{name}" for name in default_storage.listdir(folder)[1]] == [bundle.file]
    assert bundle.file not in left_behind


def test_an_opener_killed_mid_work_is_taken_back_and_the_case_opened_once(real_worker):
    from django.utils import timezone

    from tests.portal.test_submissions import stored

    ReferenceCounter.objects.get_or_create(year=timezone.now().year)
    submission = stored()
    # The opener numbers the case, and waits there: the year's counter is held.
    with RowHeld(ReferenceCounter.objects.all()):
        services.wake_opener()
        wait_for(a_backend_waits_for_a_lock, interval=0.05)
        real_worker.kill()
    left = PortalSubmission.objects.get(pk=submission.pk)
    assert (left.state, left.attempts) == (PortalSubmission.State.RUNNING, 1)
    real_worker.start()
    sweep_until(submissions_engine.sweep_submissions, lambda: not PortalSubmission.objects.exists())
    assert Case.objects.filter(email=ARTA).count() == 1
