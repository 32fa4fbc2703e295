"""Form submissions: the web request stores one row and queues one task; the worker opens the
case from it, once, dated from the submission; what cannot be opened is kept for staff, and
what a lost message left behind is queued again by the sweeper."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from casework import tasks
from casework.actors import Actor
from casework.engine import submissions as opener
from casework.models import AuditEvent, Case, PortalSubmission, State
from casework.services import submissions as services
from tests.portal.conftest import ARTA, form_data

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def stored(**overrides) -> PortalSubmission:
    """A submission as the form stores it, without running its task."""
    payload = {
        "request_type": "access",
        "email": ARTA,
        "name": "Arta Krasniqi",
        "company": "Drini Sh.p.k.",
        "phone": "",
        "customer_number": "",
        "country": "DE",
        "california_resident": False,
        "mailbox_lost": False,
        "restriction_ground": "",
        "details": {},
        "has_representative": False,
        "representative_name": "",
        "representative_relationship": "",
    }
    payload.update(overrides)
    return PortalSubmission.objects.create(language="en", payload=payload)


def test_the_request_stores_one_row_and_wakes_the_opener_after_commit(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/en/request/", form_data())
    assert response.status_code == 303
    assert callbacks == [services.wake_opener]
    submission = PortalSubmission.objects.get()
    assert submission.payload["email"] == ARTA and submission.language == "en"
    assert Case.objects.count() == 0


@pytest.fixture
def openers_queued(monkeypatch) -> list[tuple]:
    """The openers queued (not run): a list that grows with each publish."""
    queued: list[tuple] = []
    monkeypatch.setattr(
        tasks.open_pending_submissions,
        "apply_async",
        lambda args=(), **options: queued.append(tuple(args)),
    )
    return queued


def test_a_burst_of_posts_queues_one_opener(
    client, django_capture_on_commit_callbacks, openers_queued
):
    for number in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/en/request/", form_data(email=f"burst{number}@demo.example"))
    assert len(openers_queued) == 1  # the bell rang once; the others found it ringing
    assert PortalSubmission.objects.count() == 3


def test_the_opener_opens_every_waiting_submission_and_silences_the_bell(
    mailoutbox, openers_queued
):
    emails = [f"waiting{number}@demo.example" for number in range(3)]
    for email in emails:
        stored(email=email)
    assert services.wake_opener() is True
    assert opener.open_pending_submissions() == 3
    assert sorted(Case.objects.values_list("email", flat=True)) == emails
    assert not PortalSubmission.objects.exists()
    # Silenced: the next post rings again.
    assert services.wake_opener() is True
    assert len(openers_queued) == 2


def test_a_post_whose_ring_found_the_bell_ringing_is_not_left_behind(monkeypatch, openers_queued):
    """A post commits as the opener finds nothing more to take, and its ring is lost in the
    bell still ringing: the opener's last look, after it silenced the bell, finds it."""
    stored()
    assert services.wake_opener() is True
    take = opener._take_next_submission
    late = []

    def take_then_a_post_arrives():
        taken = take()
        if taken is None and not late:
            late.append(stored(email="late@demo.example"))
            assert services.wake_opener() is False  # the bell still rings
        return taken

    monkeypatch.setattr(opener, "_take_next_submission", take_then_a_post_arrives)
    assert opener.open_pending_submissions() == 2
    assert Case.objects.filter(email="late@demo.example").exists()
    assert len(openers_queued) == 1


def test_the_opener_leaves_taken_submissions_to_the_sweeper():
    """A submission whose delivery was counted is held by a task, or its task died: the
    sweeper (which counts each delivery) queues it after the grace, not the opener."""
    taken = stored()
    PortalSubmission.objects.filter(pk=taken.pk).update(attempts=1)
    assert opener.open_pending_submissions() == 0
    assert PortalSubmission.objects.get().attempts == 1


def test_an_opener_past_its_budget_hands_over_to_a_fresh_one(openers_queued):
    for number in range(3):
        stored(email=f"budget{number}@demo.example")
    assert opener.open_pending_submissions(budget_seconds=0) == 1
    assert openers_queued == [()]
    assert PortalSubmission.objects.count() == 2


def test_the_worker_opens_the_case_dated_from_the_submission(mailoutbox):
    submission = stored()
    received = timezone.now() - dt.timedelta(minutes=3)
    PortalSubmission.objects.filter(pk=submission.pk).update(received_at=received)
    case = opener.open_submission(submission.pk)
    assert case.state == State.RECEIVED and case.email == ARTA and case.regime == "gdpr"
    assert case.received_at == received
    assert not PortalSubmission.objects.exists()  # personal data kept only until the case opens


def test_a_second_delivery_opens_nothing(django_capture_on_commit_callbacks, mailoutbox):
    submission = stored()
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.open_submission.delay(submission.pk).get()
    with django_capture_on_commit_callbacks(execute=True):
        second = tasks.open_submission.delay(submission.pk).get()
    assert first == Case.objects.get().reference
    assert second is None
    assert len(mailoutbox) == 1  # one confirmation link, not two


def test_the_representatives_authority_moves_to_the_case(
    client, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("Authority - Arta Krasniqi.pdf", PDF, "application/pdf")
    data = form_data(
        has_representative="on",
        representative_name="Ilir Hoxha",
        representative_relationship="Lawyer",
        representative_authority=upload,
    )
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/en/request/", data)
    submission = PortalSubmission.objects.get()
    assert "Arta" not in submission.authority.name
    case = opener.open_submission(submission.pk)
    assert case.representative_authority.name == submission.authority.name
    with case.representative_authority.open("rb") as fh:
        assert fh.read() == PDF
    event = AuditEvent.objects.get(case=case, action="case.authority_received")
    assert event.details == {
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "size": len(PDF),
        "type": "application/pdf",
    }


def test_a_submission_case_create_refuses_fails_naming_the_field_not_its_value(caplog):
    submission = stored(email="not-an-address")
    assert opener.open_submission(submission.pk) is None
    submission.refresh_from_db()
    assert submission.state == PortalSubmission.State.FAILED
    assert submission.error == "invalid: email"
    assert "not-an-address" not in caplog.text
    assert Case.objects.count() == 0


def test_a_submission_with_fields_the_service_does_not_know_fails():
    submission = stored(favourite_colour="blue")
    assert opener.open_submission(submission.pk) is None
    submission.refresh_from_db()
    assert submission.state == PortalSubmission.State.FAILED
    assert submission.error.startswith("TypeError")
    assert "blue" not in submission.error


def test_deliveries_are_bounded(settings):
    settings.DSAR_SUBMISSION_MAX_DELIVERIES = 3
    submission = stored()
    # Three deliveries that each died with their worker (counted, then nothing committed).
    PortalSubmission.objects.filter(pk=submission.pk).update(attempts=3)
    assert opener.open_submission(submission.pk) is None
    submission.refresh_from_db()
    assert submission.state == PortalSubmission.State.FAILED
    assert "3 times" in submission.error
    assert Case.objects.count() == 0


def test_each_delivery_is_counted_before_the_work(monkeypatch):
    submission = stored()

    def dies(**kwargs):
        raise RuntimeError("the worker died")

    monkeypatch.setattr(opener, "submit_request", dies)
    with pytest.raises(RuntimeError):
        opener.open_submission(submission.pk)
    submission.refresh_from_db()
    assert submission.attempts == 1 and submission.state == PortalSubmission.State.PENDING


def test_the_sweeper_queues_a_stale_taken_submission_again(
    settings, django_capture_on_commit_callbacks
):
    settings.DSAR_SWEEP_GRACE_SECONDS = 60
    stale, fresh = stored(), stored(email="fresh@demo.example")
    # Taken by an opener that died: a delivery of its own, counted.
    PortalSubmission.objects.filter(pk=stale.pk).update(
        attempts=1, updated_at=timezone.now() - dt.timedelta(minutes=5)
    )
    PortalSubmission.objects.filter(pk=fresh.pk).update(attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_submissions.delay().get() == 1  # tasks run eagerly here
    assert list(Case.objects.values_list("email", flat=True)) == [ARTA]
    assert list(PortalSubmission.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_the_sweeper_queues_one_opener_for_stale_untaken_submissions(
    settings, monkeypatch, openers_queued
):
    settings.DSAR_SWEEP_GRACE_SECONDS = 60
    for number in range(3):
        stored(email=f"lost{number}@demo.example")
    PortalSubmission.objects.update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    one_by_one = []
    monkeypatch.setattr(opener, "queue_delivery", one_by_one.append)
    assert opener.sweep_submissions() == 3
    assert openers_queued == [()] and one_by_one == []


def test_staff_queue_a_failed_submission_again(alice, django_capture_on_commit_callbacks):
    submission = stored()
    PortalSubmission.objects.filter(pk=submission.pk).update(
        state=PortalSubmission.State.FAILED,
        attempts=5,
        error="delivered 5 times without being opened",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.retry_submission(submission=submission, actor=Actor.staff(alice))
    assert Case.objects.get().email == ARTA
    assert not PortalSubmission.objects.exists()


def test_an_auditor_may_not_queue_submissions_again(audrey):
    submission = stored()
    with pytest.raises(PermissionDenied):
        services.retry_submission(submission=submission, actor=Actor.staff(audrey))


def test_the_admin_lists_failed_submissions_and_queues_them_again(
    client, alice, django_capture_on_commit_callbacks
):
    failed = stored()
    PortalSubmission.objects.filter(pk=failed.pk).update(
        state=PortalSubmission.State.FAILED, error="invalid: email"
    )
    client.force_login(alice)
    url = reverse("admin:casework_portalsubmission_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert "invalid: email" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"action": "queue_again", "_selected_action": [failed.pk]}, follow=True
        )
    assert "1 submission queued again." in response.content.decode()
    assert Case.objects.get().email == ARTA


def test_the_auditor_does_not_see_submissions(client, audrey):
    client.force_login(audrey)
    response = client.get(reverse("admin:casework_portalsubmission_changelist"))
    assert response.status_code == 403


def scheduled_tasks() -> set[str]:
    from django_celery_beat.models import PeriodicTask

    return set(PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True))


def test_beat_runs_the_submission_sweeper(settings):
    tasks_run = scheduled_tasks()
    assert "casework.tasks.sweep_submissions" in tasks_run


def test_sweeps_queued_while_no_worker_runs_expire(settings):
    # Otherwise a worker coming back would run every sweep beat queued meanwhile.
    from django_celery_beat.models import PeriodicTask

    for entry in PeriodicTask.objects.filter(task__startswith="casework.tasks.sweep_"):
        assert entry.expire_seconds <= entry.interval.schedule.run_every.total_seconds()


def test_failed_submissions_nobody_acted_on_are_deleted_with_their_upload(settings):
    settings.DSAR_SUBMISSION_RETENTION_DAYS = 30
    old, recent, pending = stored(), stored(), stored()
    old.authority.save("authority.pdf", SimpleUploadedFile("a.pdf", PDF), save=True)
    upload = old.authority.name
    storage = old.authority.storage
    PortalSubmission.objects.filter(pk=old.pk).update(
        state=PortalSubmission.State.FAILED, updated_at=timezone.now() - dt.timedelta(days=31)
    )
    PortalSubmission.objects.filter(pk=recent.pk).update(
        state=PortalSubmission.State.FAILED, updated_at=timezone.now() - dt.timedelta(days=29)
    )
    PortalSubmission.objects.filter(pk=pending.pk).update(
        updated_at=timezone.now() - dt.timedelta(days=31)
    )
    assert tasks.purge_failed_submissions.delay().get() == 1
    assert set(PortalSubmission.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not storage.exists(upload)
    assert "casework.tasks.purge_failed_submissions" in scheduled_tasks()


def test_deleting_a_submission_in_the_admin_deletes_its_upload(client, alice):
    spam = stored()
    spam.authority.save("authority.pdf", SimpleUploadedFile("a.pdf", PDF), save=True)
    upload, storage = spam.authority.name, spam.authority.storage
    client.force_login(alice)
    url = reverse("admin:casework_portalsubmission_changelist")
    response = client.post(
        url, {"action": "delete_selected", "_selected_action": [spam.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not PortalSubmission.objects.exists()
    assert not storage.exists(upload)


@pytest.mark.django_db(transaction=True)
def test_openers_working_side_by_side_open_each_submission_once(require_postgres, openers_queued):
    import threading

    from django.db import connection

    emails = sorted(f"side{number}@demo.example" for number in range(12))
    for email in emails:
        stored(email=email)
    opened: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run_opener() -> None:
        try:
            start.wait()
            opened.append(opener.open_pending_submissions())
        except BaseException as exc:  # reported below: a thread's error would vanish
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_opener) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert sum(opened) == len(emails)
    assert sorted(Case.objects.values_list("email", flat=True)) == emails
    assert not PortalSubmission.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_opener_waits_for_the_lock_on_a_submission_it_took(require_postgres):
    """Another opener's search for untaken rows may hold the lock on a row just taken, for a
    moment: the opener that took it waits, rather than passing over its own row."""
    import threading

    from django.db import connection, transaction

    stored()
    taken = opener._take_next_submission()
    locked, release = threading.Event(), threading.Event()

    def another_opener_looks() -> None:
        try:
            with transaction.atomic():
                list(PortalSubmission.objects.select_for_update().filter(pk=taken.pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    def release_once_the_opener_waits() -> None:
        # Let go only when a backend waits for a lock: the opener that took the row. An
        # opener that skipped the row would never wait, and would have given up by then.
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not release.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                    if cursor.fetchone()[0]:
                        break
                time.sleep(0.02)
            release.set()
        finally:
            connection.close()

    thread = threading.Thread(target=another_opener_looks)
    thread.start()
    assert locked.wait(timeout=30)
    watcher = threading.Thread(target=release_once_the_opener_waits)
    watcher.start()
    try:
        case = opener._open_taken(taken)
    finally:
        release.set()
        thread.join(timeout=30)
        watcher.join(timeout=30)
    assert case is not None and case.email == ARTA
    assert not PortalSubmission.objects.exists()


def test_a_submission_that_fails_unforeseen_does_not_stop_the_opener(monkeypatch, caplog):
    for email in ("one@demo.example", "broken@demo.example", "three@demo.example"):
        stored(email=email)
    submit_request = opener.submit_request

    def fails_for_one(**fields):
        if fields["email"] == "broken@demo.example":
            raise RuntimeError("broken@demo.example is not welcome")
        return submit_request(**fields)

    monkeypatch.setattr(opener, "submit_request", fails_for_one)
    assert opener.open_pending_submissions() == 2
    left = PortalSubmission.objects.get()
    assert (left.payload["email"], left.state, left.attempts) == (
        "broken@demo.example",
        PortalSubmission.State.PENDING,
        1,  # the sweeper's to deliver again, counted
    )
    assert "RuntimeError" in caplog.text and "broken@" not in caplog.text


def test_a_failed_publish_silences_the_bell(monkeypatch):
    def broker_down(*args, **options):
        raise OSError("connection refused")

    monkeypatch.setattr(tasks.open_pending_submissions, "apply_async", broker_down)
    with pytest.raises(OSError):
        services.wake_opener()
    assert cache.get(services.OPENER_BELL) is None


def test_an_opener_stopped_by_an_error_silences_the_bell(monkeypatch, openers_queued):
    from django.db import OperationalError

    stored()
    assert services.wake_opener() is True

    def database_gone():
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(opener, "_take_next_submission", database_gone)
    with pytest.raises(OperationalError):
        opener.open_pending_submissions()
    assert cache.get(services.OPENER_BELL) is None


def test_a_cache_of_one_process_is_flagged_by_the_system_checks(settings):
    from casework.checks import check_shared_cache

    assert check_shared_cache() == []
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    (warning,) = check_shared_cache()
    assert warning.id == "casework.W001" and "LocMemCache" in warning.msg


def test_the_time_limit_stops_the_opener_and_silences_the_bell(monkeypatch, openers_queued):
    from celery.exceptions import SoftTimeLimitExceeded

    stored()
    assert services.wake_opener() is True

    def out_of_time(**fields):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(opener, "submit_request", out_of_time)
    with pytest.raises(SoftTimeLimitExceeded):
        opener.open_pending_submissions()
    assert cache.get(services.OPENER_BELL) is None
    left = PortalSubmission.objects.get()
    assert (left.state, left.attempts) == (PortalSubmission.State.PENDING, 1)  # the sweeper's now


@pytest.mark.django_db(transaction=True)
def test_an_opener_does_not_spin_on_a_row_another_transaction_holds(
    require_postgres, openers_queued
):
    """An untaken row held locked by someone else: the opener's takes skip it, its last look
    sees it; past its budget it hands over instead of polling for ever."""
    import threading

    from django.db import connection, transaction

    held = stored()
    locked, release = threading.Event(), threading.Event()

    def holds_the_row() -> None:
        try:
            with transaction.atomic():
                list(PortalSubmission.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=holds_the_row)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        assert opener.open_pending_submissions(budget_seconds=0.3) == 0
        assert openers_queued == [()]  # a fresh opener, for when the row is free
    finally:
        release.set()
        thread.join(timeout=30)
    assert PortalSubmission.objects.get().attempts == 0
