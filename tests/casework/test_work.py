"""The work engine (casework.work) on each of its users: gathering runs, bundle builds and form
submissions. Claims, leases renewed from a thread, fencing, backoff and bounds, the sweeper that
takes back the rows of dead workers, and the files their attempts left."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from casework import results, work
from casework.engine import bundles as bundles_engine
from casework.engine import gathering as gathering_engine
from casework.engine import submissions as submissions_engine
from casework.models import Bundle, ConnectorRun, PortalSubmission
from dsar.models import SourceSystem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_media(settings, tmp_path):
    # Files are found by name: earlier tests' files (the same ids, in another database) stay out.
    settings.MEDIA_ROOT = str(tmp_path / "media")


ARTA = "arta.krasniqi@demo.example"
KINDS = ["run", "bundle", "submission"]


@pytest.fixture
def system(db):
    return SourceSystem.objects.create(
        name="Archive", slug="archive", connector="files", config={"folder": "/nonexistent"}
    )


@pytest.fixture
def make_item(make_case, system):
    """A pending row of each kind of work, as its service makes it."""

    def _make(kind: str):
        if kind == "run":
            return ConnectorRun.objects.create(case=make_case(), system=system)
        if kind == "bundle":
            return Bundle.objects.create(case=make_case(), kind="access")
        return PortalSubmission.objects.create(language="en", payload={"email": ARTA})

    return _make


def expire_lease(item) -> None:
    type(item).objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_claim_takes_a_pending_row_with_a_lease_and_counts_the_attempt(kind, make_item):
    item = make_item(kind)
    claimed = work.claim(type(item), item.pk)
    assert claimed.state == type(item).RUNNING
    assert claimed.attempts == 1
    assert isinstance(claimed.lease_token, uuid.UUID)
    lease = claimed.lease_expires_at - claimed.claimed_at
    assert lease == dt.timedelta(seconds=settings.DSAR_WORK_LEASE_SECONDS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_redelivered_message_finds_nothing_to_claim(kind, make_item):
    item = make_item(kind)
    assert work.claim(type(item), item.pk) is not None
    assert work.claim(type(item), item.pk) is None
    assert type(item).objects.get(pk=item.pk).attempts == 1


def test_a_row_waiting_for_its_next_attempt_is_not_claimed_early(make_item):
    run = make_item("run")
    later = timezone.now() + dt.timedelta(minutes=5)
    ConnectorRun.objects.filter(pk=run.pk).update(next_attempt_at=later)
    assert work.claim(ConnectorRun, run.pk) is None


@pytest.mark.parametrize("kind", KINDS)
def test_an_attempt_whose_row_was_taken_back_cannot_write_its_outcome(kind, make_item):
    item = make_item(kind)
    model = type(item)
    first = work.claim(model, item.pk)
    expire_lease(first)
    assert work.take_back_expired(model) == [(item.pk, 1)]
    second = work.claim(model, item.pk)
    assert second.lease_token != first.lease_token
    # The first worker comes back from the dead: every outcome it writes is refused.
    assert work.complete(first, state=model.FAILED) is False
    assert work.fail(first) is False
    assert work.heartbeat(first) is False
    assert work.release(first) is False
    assert model.objects.get(pk=item.pk).state == model.RUNNING
    assert work.complete(second, state=model.FAILED) is True


def test_the_heartbeat_renews_the_lease(make_item, settings):
    settings.DSAR_WORK_LEASE_SECONDS = 30
    run = work.claim(ConnectorRun, make_item("run").pk)
    ConnectorRun.objects.filter(pk=run.pk).update(
        lease_expires_at=timezone.now() + dt.timedelta(seconds=1)
    )
    assert work.heartbeat(run) is True
    renewed = ConnectorRun.objects.get(pk=run.pk)
    assert renewed.lease_expires_at > timezone.now() + dt.timedelta(seconds=25)


@pytest.mark.django_db(transaction=True)
def test_keep_alive_renews_the_lease_from_a_thread_while_the_work_blocks(make_item, settings):
    settings.DSAR_WORK_LEASE_SECONDS = 1
    run = work.claim(ConnectorRun, make_item("run").pk)
    with work.KeepAlive(run, interval=0.1) as lease:
        time.sleep(1.5)  # work blocked longer than the lease: a driver call, a PDF render
        assert work.take_back_expired(ConnectorRun) == []  # alive: not taken back
    assert lease.beats >= 5 and not lease.lost
    assert ConnectorRun.objects.get(pk=run.pk).state == ConnectorRun.State.RUNNING


@pytest.mark.django_db(transaction=True)
def test_keep_alive_stops_once_the_row_was_taken_back(make_item, settings):
    run = work.claim(ConnectorRun, make_item("run").pk)
    expire_lease(run)
    work.take_back_expired(ConnectorRun)
    with work.KeepAlive(run, interval=0.05) as lease:
        time.sleep(0.3)
    assert lease.lost


def test_a_transient_fault_puts_the_row_back_with_backoff_and_queues_it(
    make_item, settings, django_capture_on_commit_callbacks
):
    settings.DSAR_RETRY_BACKOFF_BASE = 4
    run = work.claim(ConnectorRun, make_item("run").pk)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        delay = work.retry_later(
            run, exc=TimeoutError("slow"), max_attempts=3, task="run_connector", retry_after=7
        )
    assert 7 <= delay <= 8
    row = ConnectorRun.objects.get(pk=run.pk)
    assert (row.state, row.lease_token, row.last_error_class) == ("pending", None, "TimeoutError")
    assert row.next_attempt_at > timezone.now() + dt.timedelta(seconds=6)
    assert len(queued) == 1


def test_a_transient_fault_after_the_last_attempt_is_not_retried(make_item):
    run = make_item("run")
    ConnectorRun.objects.filter(pk=run.pk).update(attempts=2)
    run = work.claim(ConnectorRun, run.pk)
    assert run.attempts == 3
    assert work.retry_later(run, exc=TimeoutError(), max_attempts=3, task="run_connector") is None


def test_backoff_grows_with_full_jitter_is_capped_and_honours_retry_after(settings):
    settings.DSAR_RETRY_BACKOFF_BASE = 2
    settings.DSAR_RETRY_BACKOFF_CAP = 30
    settings.DSAR_RETRY_AFTER_MAX = 120
    for attempt in range(1, 10):
        assert 0 <= work.backoff_seconds(attempt) <= min(30, 2 * 2 ** (attempt - 1))
    assert work.backoff_seconds(1, retry_after=50) >= 50
    assert work.backoff_seconds(1, retry_after=10_000) <= 120


@pytest.mark.parametrize("kind", KINDS)
def test_the_delivery_bound_names_the_deliveries_that_died(kind, make_item):
    item = make_item(kind)
    type(item).objects.filter(pk=item.pk).update(attempts=3)
    claimed = work.claim(type(item), item.pk)
    assert work.over_delivery_bound(claimed, 3) == "gave up after 3 deliveries without an answer"
    assert work.over_delivery_bound(claimed, 4) == ""


@pytest.mark.parametrize("kind", KINDS)
def test_the_sweeper_takes_back_only_rows_whose_lease_ran_out(kind, make_item):
    dead, alive = make_item(kind), make_item(kind)
    model = type(dead)
    dead, alive = work.claim(model, dead.pk), work.claim(model, alive.pk)
    expire_lease(dead)
    assert work.take_back_expired(model) == [(dead.pk, 1)]
    assert model.objects.get(pk=dead.pk).state == model.PENDING
    assert model.objects.get(pk=alive.pk).state == model.RUNNING


def test_a_row_left_running_without_a_lease_is_taken_back_after_the_time_limit(make_item):
    run = make_item("run")
    long_ago = timezone.now() - dt.timedelta(hours=1)
    ConnectorRun.objects.filter(pk=run.pk).update(state="running", claimed_at=long_ago, attempts=1)
    assert work.take_back_expired(ConnectorRun) == [(run.pk, 1)]


def test_pending_rows_whose_message_was_lost_are_found_after_the_grace(make_item, settings):
    settings.DSAR_SWEEP_GRACE_SECONDS = 60
    lost, fresh, later = make_item("run"), make_item("run"), make_item("run")
    old = timezone.now() - dt.timedelta(minutes=5)
    ConnectorRun.objects.filter(pk__in=[lost.pk, later.pk]).update(updated_at=old)
    ConnectorRun.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(minutes=1)
    )
    assert list(work.lost_pending(ConnectorRun).values_list("pk", flat=True)) == [lost.pk]
    assert fresh.pk  # touched just now: its message may still be on its way


def test_orphaned_names_the_files_no_row_owns_and_no_live_attempt_writes(make_item):
    owner, live, dead = make_item("run"), make_item("run"), make_item("run")
    ConnectorRun.objects.filter(pk=owner.pk).update(
        state="succeeded", attempts=2, result_file=f"runs/run-{owner.pk}-2.x"
    )
    work.claim(ConnectorRun, live.pk)
    ConnectorRun.objects.filter(pk=dead.pk).update(attempts=1)
    names = {
        f"runs/run-{owner.pk}-2.x": (owner.pk, 2),  # the row points at it
        f"runs/run-{owner.pk}-1.x": (owner.pk, 1),  # an earlier attempt's, left behind
        f"tmp/run-{live.pk}-1-abc": (live.pk, 1),  # being written now
        f"tmp/run-{dead.pk}-1-abc": (dead.pk, 1),  # its attempt was taken back
        "tmp/run-999999-1-abc": (999999, 1),  # no such row
    }
    assert sorted(work.orphaned(ConnectorRun, names, owner_field="result_file")) == sorted(
        [f"runs/run-{owner.pk}-1.x", f"tmp/run-{dead.pk}-1-abc", "tmp/run-999999-1-abc"]
    )


def test_attempt_names_are_read_back_only_for_their_prefix():
    assert work.parse_attempt_name("run-12-3.jsonl.gz.enc", "run") == (12, 3)
    assert work.parse_attempt_name("run-12-3-k2j4.enc", "run") == (12, 3)
    assert work.parse_attempt_name("bundle-12-3.zip.enc", "run") is None
    assert work.parse_attempt_name("manual-12-3.jsonl.gz.enc", "run") is None
    assert work.parse_attempt_name("notes.txt", "run") is None


# --- each user ---------------------------------------------------------------------------------


def test_the_gathering_sweeper_deletes_what_a_killed_search_left_and_keeps_live_files(
    make_item, settings
):
    dead, live = make_item("run"), make_item("run")
    dead, live = work.claim(ConnectorRun, dead.pk), work.claim(ConnectorRun, live.pk)
    tmp = Path(settings.VAR_DIR) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    dead_tmp = tmp / f"run-{dead.pk}-1-half.enc"
    live_tmp = tmp / f"run-{live.pk}-1-half.enc"
    dead_tmp.write_bytes(b"half written")
    live_tmp.write_bytes(b"being written")
    dead_stored = default_storage.save(results.stored_name(dead.pk, 1), ContentFile(b"stored"))
    expire_lease(dead)
    try:
        gathering_engine.sweep()
        assert not dead_tmp.exists()
        assert not default_storage.exists(dead_stored)
        assert live_tmp.exists()
        assert ConnectorRun.objects.get(pk=dead.pk).attempts == 2  # eager: delivered again
    finally:
        live_tmp.unlink(missing_ok=True)


def test_the_bundle_sweeper_deletes_a_dead_builds_scratch_and_file_and_keeps_a_live_one(
    make_item, settings
):
    dead, live = make_item("bundle"), make_item("bundle")
    dead, live = work.claim(Bundle, dead.pk), work.claim(Bundle, live.pk)
    tmp = Path(settings.VAR_DIR) / "tmp"
    dead_scratch = tmp / f"bundle-{dead.pk}-1-xyz"
    live_scratch = tmp / f"bundle-{live.pk}-1-xyz"
    for folder in (dead_scratch, live_scratch):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "events.jsonl.gz.enc").write_bytes(b"spool")
    dead_file = default_storage.save(bundles_engine.stored_name(dead), ContentFile(b"zip"))
    expire_lease(dead)
    Bundle.objects.filter(pk=dead.pk).update(attempts=settings.DSAR_BUNDLE_MAX_DELIVERIES)
    try:
        bundles_engine.sweep()
        assert not dead_scratch.exists()
        assert not default_storage.exists(dead_file)
        assert live_scratch.exists()
        # Delivered again past its bound: failed, for a person to see.
        assert Bundle.objects.get(pk=dead.pk).state == Bundle.State.FAILED
    finally:
        import shutil

        shutil.rmtree(live_scratch, ignore_errors=True)


def test_a_daily_purge_finds_stored_files_no_row_owns(make_item, settings):
    run = make_item("run")
    ConnectorRun.objects.filter(pk=run.pk).update(
        state="succeeded", attempts=2, result_file=results.stored_name(run.pk, 2)
    )
    owned = default_storage.save(results.stored_name(run.pk, 2), ContentFile(b"records"))
    stray = default_storage.save(results.stored_name(run.pk, 1), ContentFile(b"left behind"))
    gathering_engine.purge_results()
    assert default_storage.exists(owned)
    assert not default_storage.exists(stray)
    default_storage.delete(owned)


def test_a_submission_taken_back_from_a_dead_opener_is_delivered_again(
    make_item, django_capture_on_commit_callbacks, mailoutbox
):
    from tests.portal.test_submissions import stored

    submission = stored()
    taken = submissions_engine._take_next_submission()
    assert taken.pk == submission.pk
    expire_lease(taken)
    with django_capture_on_commit_callbacks(execute=True):
        assert submissions_engine.sweep_submissions() == 1
    assert not PortalSubmission.objects.exists()  # opened by the delivery (attempt 2)


def test_sweeps_go_to_a_queue_of_their_own():
    from config.celery import app

    for name in ("sweep_gathering", "sweep_bundles", "sweep_submissions", "sweep_drp_callbacks"):
        route = app.amqp.router.route({}, f"casework.tasks.{name}")
        assert route["queue"].name == settings.DSAR_SWEEP_QUEUE
    route = app.amqp.router.route({}, "casework.tasks.run_connector")
    assert route["queue"].name == settings.CELERY_TASK_DEFAULT_QUEUE
    from django_celery_beat.models import PeriodicTask

    sweeps = PeriodicTask.objects.filter(task__startswith="casework.tasks.sweep_")
    assert sweeps.count() == 5  # gathering, submissions, fulfilment, bundles, DRP callbacks
    for entry in sweeps:
        assert entry.queue == settings.DSAR_SWEEP_QUEUE
