"""Beat's schedules live in the database (django-celery-beat): created by a data migration,
kept across restarts, changed in the admin by the administrator only (interval and enabled)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from casework.models import AuditEvent
from casework.schedules import REMINDERS, default_schedules, install_schedules

pytestmark = pytest.mark.django_db

SWEEPS = (
    "sweep-gathering",
    "sweep-submissions",
    "sweep-fulfilment",
    "sweep-bundles",
    "sweep-drp-callbacks",
)
# Every schedule settings had before (CELERY_BEAT_SCHEDULE), and the reminder job.
EXPECTED = {
    "expire-unverified-cases": ("casework.tasks.expire_unverified_cases", 1, "hours"),
    "sweep-gathering": ("casework.tasks.sweep_gathering", 30, "seconds"),
    "sweep-submissions": ("casework.tasks.sweep_submissions", 30, "seconds"),
    "sweep-fulfilment": ("casework.tasks.sweep_fulfilment", 30, "seconds"),
    "sweep-bundles": ("casework.tasks.sweep_bundles", 30, "seconds"),
    "export-audit-anchor": ("casework.tasks.export_audit_anchor", 300, "seconds"),
    "purge-expired-bundles": ("casework.tasks.purge_expired_bundles", 6, "hours"),
    "purge-gathered-records": ("casework.tasks.purge_gathered_records", 24, "hours"),
    "purge-closed-cases": ("casework.tasks.purge_closed_cases", 24, "hours"),
    "purge-failed-submissions": ("casework.tasks.purge_failed_submissions", 24, "hours"),
    "send-reminders": ("casework.tasks.send_reminders", 6, "hours"),
    # The Data Rights Protocol's (casework/drp/): callbacks and the replay cache.
    "sweep-drp-callbacks": ("casework.tasks.sweep_drp_callbacks", 30, "seconds"),
    "purge-drp-seen-messages": ("casework.tasks.purge_drp_seen_messages", 1, "hours"),
}


def rows() -> dict[str, PeriodicTask]:
    return {t.name: t for t in PeriodicTask.objects.select_related("interval")}


def test_the_migrated_database_has_every_schedule_with_its_interval():
    found = rows()
    assert set(found) == set(EXPECTED)
    for name, (task, every, period) in EXPECTED.items():
        row = found[name]
        assert (row.task, row.interval.every, row.interval.period) == (task, every, period)
        assert row.enabled and row.args == "[]" and row.kwargs == "{}"


def test_the_sweeps_keep_their_expiry_and_their_own_queue(settings):
    found = rows()
    for name in (*SWEEPS, "export-audit-anchor"):
        assert found[name].queue == settings.DSAR_SWEEP_QUEUE
        assert found[name].expire_seconds == found[name].interval.every
    for name in ("send-reminders", "purge-expired-bundles", "expire-unverified-cases"):
        assert found[name].queue is None and found[name].expire_seconds is None


def test_every_scheduled_task_exists():
    from config.celery import app

    for row in PeriodicTask.objects.all():
        assert row.task in app.tasks, row.task


def test_dsar_sweep_interval_seeds_the_sweeps_at_creation(settings):
    PeriodicTask.objects.all().delete()
    settings.DSAR_SWEEP_INTERVAL = 45
    assert install_schedules() == len(EXPECTED)
    found = rows()
    for name in SWEEPS:
        assert (found[name].interval.every, found[name].interval.period) == (45, "seconds")
        assert found[name].expire_seconds == 45


def test_creating_the_schedules_again_changes_nothing_and_keeps_the_administrators_changes(
    settings,
):
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.filter(name="sweep-gathering").update(interval=hourly, enabled=False)
    settings.DSAR_SWEEP_INTERVAL = 99
    assert install_schedules() == 0
    assert PeriodicTask.objects.count() == len(EXPECTED)
    kept = PeriodicTask.objects.get(name="sweep-gathering")
    assert kept.interval == hourly and kept.enabled is False


def test_no_schedule_is_left_in_settings_to_overwrite_the_database(settings):
    from config.celery import app

    assert not hasattr(settings, "CELERY_BEAT_SCHEDULE")
    assert not app.conf.beat_schedule
    assert settings.CELERY_BEAT_SCHEDULER == "casework.beat:HeartbeatScheduler"


def test_beat_reads_the_database_and_a_restart_keeps_a_changed_interval(monkeypatch):
    import django_celery_beat.schedulers

    from casework.beat import HeartbeatScheduler
    from config.celery import app

    # Beat closes its stale connections; here the connection is the test's transaction.
    monkeypatch.setattr(django_celery_beat.schedulers, "close_old_connections", lambda: None)

    hourly, _ = IntervalSchedule.objects.get_or_create(every=2, period="hours")
    PeriodicTask.objects.filter(name=REMINDERS).update(interval=hourly)
    scheduler = HeartbeatScheduler(app=app)  # what beat builds at every start
    entry = scheduler.schedule[REMINDERS]
    assert entry.schedule.run_every.total_seconds() == 7200
    assert entry.options.get("queue") is None
    sweep = scheduler.schedule["sweep-gathering"]
    assert sweep.options["queue"] == "dsar-sweeps" and sweep.options["expires"] == 30
    assert PeriodicTask.objects.get(name=REMINDERS).interval == hourly


def test_default_schedules_name_each_task_once():
    names = [s.name for s in default_schedules()]
    assert len(names) == len(set(names)) == len(EXPECTED)


# --- the admin ----------------------------------------------------------------------------------


def change_url(name: str) -> str:
    return reverse("admin:django_celery_beat_periodictask_change", args=[rows()[name].pk])


def test_the_administrator_changes_an_interval_and_pauses_a_schedule(client, adam):
    client.force_login(adam)
    page = client.get(change_url(REMINDERS))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert set(form.fields) == {"every", "period", "enabled"}
    assert (form.initial["every"], form.initial["period"]) == (6, "hours")
    response = client.post(change_url(REMINDERS), {"every": "3", "period": "hours"})
    assert response.status_code == 302, response.content.decode()[:2000]
    row = PeriodicTask.objects.select_related("interval").get(name=REMINDERS)
    assert (row.interval.every, row.interval.period, row.enabled) == (3, "hours", False)
    event = AuditEvent.objects.filter(action="schedule.changed").get()
    assert event.details["schedule"] == REMINDERS
    assert event.details["to"] == {"every": 3, "period": "hours", "enabled": False}


def test_changing_one_sweep_leaves_the_others_sharing_its_interval_alone(client, adam):
    client.force_login(adam)
    response = client.post(
        change_url("sweep-gathering"), {"every": "2", "period": "minutes", "enabled": "on"}
    )
    assert response.status_code == 302
    found = rows()
    assert (found["sweep-gathering"].interval.every, found["sweep-gathering"].interval.period) == (
        2,
        "minutes",
    )
    assert found["sweep-bundles"].interval.every == 30
    assert found["sweep-gathering"].expire_seconds == 30  # expiry is not the admin's to change


def test_the_administrator_cannot_change_task_arguments_queue_or_expiry(client, adam):
    client.force_login(adam)
    before = rows()["sweep-gathering"]
    response = client.post(
        change_url("sweep-gathering"),
        {
            "every": "30",
            "period": "seconds",
            "enabled": "on",
            "task": "casework.tasks.purge_gathered_records",
            "args": '["x"]',
            "kwargs": '{"a": 1}',
            "queue": "dsar",
            "expire_seconds": "1",
            "name": "renamed",
        },
    )
    assert response.status_code == 302
    after = rows()["sweep-gathering"]
    for field in ("name", "task", "args", "kwargs", "queue", "expire_seconds"):
        assert getattr(after, field) == getattr(before, field), field


def test_an_interval_too_short_is_refused(client, adam):
    client.force_login(adam)
    response = client.post(change_url(REMINDERS), {"every": "1", "period": "seconds"})
    assert response.status_code == 200
    assert "An interval runs from" in response.content.decode()
    assert rows()[REMINDERS].interval.every == 6


def test_schedules_are_neither_added_nor_deleted_in_the_admin(client, adam):
    client.force_login(adam)
    assert client.get(reverse("admin:django_celery_beat_periodictask_add")).status_code == 403
    delete = reverse("admin:django_celery_beat_periodictask_delete", args=[rows()[REMINDERS].pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert PeriodicTask.objects.filter(name=REMINDERS).exists()
    page = client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert page.status_code == 200 and "delete_selected" not in page.content.decode()


def test_the_other_schedule_tables_are_not_in_the_admin(client, adam):
    from django.contrib import admin

    for model in (IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
        assert not admin.site.is_registered(model)
    client.force_login(adam)
    index = client.get(reverse("admin:index")).content.decode()
    assert "periodictask" in index
    for name in ("crontabschedule", "solarschedule", "clockedschedule", "intervalschedule"):
        assert name not in index


@pytest.mark.parametrize("who", ["alice", "dora", "audrey"])
def test_other_roles_cannot_see_or_change_the_schedules(client, who, request):
    client.force_login(request.getfixturevalue(who))
    listing = reverse("admin:django_celery_beat_periodictask_changelist")
    assert client.get(listing).status_code == 403
    response = client.post(change_url(REMINDERS), {"every": "1", "period": "hours"})
    assert response.status_code == 403
    assert rows()[REMINDERS].interval.every == 6


def test_the_service_refuses_a_change_without_the_permission(alice):
    from django.core.exceptions import PermissionDenied

    from casework import services
    from casework.actors import Actor

    with pytest.raises(PermissionDenied):
        services.schedule_change(
            task=rows()[REMINDERS], actor=Actor.staff(alice), every=1, period="hours", enabled=True
        )
