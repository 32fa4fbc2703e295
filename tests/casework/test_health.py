"""/healthz: database, broker, worker and beat status; 503 when one is down."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from casework.health import record_beat_heartbeat, record_heartbeat
from casework.models import BeatHeartbeat, WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def beat_alive():
    record_beat_heartbeat("beat-1")


@pytest.fixture
def broker_down():
    from config.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    yield
    app.conf.broker_url = original


def test_healthz_is_ok_with_database_broker_and_a_live_worker(client):
    record_heartbeat("worker-1")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["broker"]["ok"] and body["worker"]["workers"] == 1
    assert body["beat"] == {"ok": True}
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_is_503_without_a_recent_worker_heartbeat(client, settings):
    WorkerHeartbeat.objects.create(hostname="old", seen_at=timezone.now() - dt.timedelta(minutes=5))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"] == {"ok": False, "workers": 0}


def test_healthz_is_503_when_the_broker_is_unreachable(client, broker_down):
    record_heartbeat("worker-1")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert response.json()["status"] == "down"


def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def refuse(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    record_heartbeat("worker-1")
    monkeypatch.setattr(CursorWrapper, "execute", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "OperationalError"}


def test_healthz_answers_get_only(client):
    assert client.post("/healthz").status_code == 405


def test_healthz_is_503_when_beat_stopped_writing_its_heartbeat(client, settings):
    settings.DSAR_BEAT_HEARTBEAT_SECONDS = 10
    record_heartbeat("worker-1")
    BeatHeartbeat.objects.update(seen_at=timezone.now() - dt.timedelta(seconds=31))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["beat"] == {"ok": False}


def test_beats_scheduler_writes_the_heartbeat_as_its_loop_ticks(settings):
    from casework.beat import HeartbeatScheduler
    from config.celery import app

    BeatHeartbeat.objects.all().delete()
    scheduler = HeartbeatScheduler(app=app, lazy=True)
    scheduler.heartbeat()
    assert BeatHeartbeat.objects.count() == 1
    first = BeatHeartbeat.objects.get().seen_at
    scheduler.heartbeat()  # within its period: no write
    assert BeatHeartbeat.objects.get().seen_at == first
    scheduler.heartbeat(force=True)
    assert BeatHeartbeat.objects.get().seen_at > first


def test_the_beat_health_command_fails_when_beat_is_down_and_passes_when_alive():
    from django.core.management import call_command

    call_command("check_beat")  # the autouse heartbeat
    BeatHeartbeat.objects.all().delete()
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_beat")
    assert exit_info.value.code == 1
