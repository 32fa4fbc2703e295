"""A real Celery beat process on the schedules in the test database, with the real worker:
beat sends the reminder job, the worker runs it; /healthz follows beat's heartbeat."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from casework import deadlines
from casework.actors import Actor
from casework.models import BeatHeartbeat, Case, Reminder
from casework.schedules import REMINDERS
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def beat(worker_env, tmp_path):
    env = {**worker_env, "DSAR_BEAT_HEARTBEAT_SECONDS": "1"}
    with open(tmp_path / "beat.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)


def test_the_schedules_survive_the_flush_between_transactional_tests():
    assert PeriodicTask.objects.filter(name=REMINDERS, enabled=True).exists()


def test_beat_sends_the_reminder_job_from_the_database_and_reports_alive(
    real_worker, make_case, alice, client, settings, beat
):
    settings.DSAR_BEAT_HEARTBEAT_SECONDS = 1
    # The administrator's change (every 10 seconds) is what beat runs, read from the table.
    every_10s, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.filter(name=REMINDERS).update(interval=every_10s)
    case = make_case(actor=Actor.staff(alice), verified_by=alice, verification_note="Call-back")
    Case.objects.filter(pk=case.pk).update(
        assignee=alice,
        due_at=deadlines.end_of_day(timezone.localdate() + dt.timedelta(days=1)),
    )
    wait_for(BeatHeartbeat.objects.exists, timeout=60)
    assert client.get("/healthz").json()["beat"] == {"ok": True}
    wait_for(
        lambda: Reminder.objects.filter(case=case, kind="due_1", recipient=alice).exists(),
        timeout=60,
    )
    os.killpg(beat.pid, signal.SIGTERM)
    beat.wait(timeout=20)
    # Stopped: three missed 1-second heartbeats later, /healthz calls beat down.
    wait_for(lambda: client.get("/healthz").json()["beat"] == {"ok": False}, timeout=15)
    assert client.get("/healthz").status_code == 503
