"""`make run` (config/devserver.py): what every start does before the processes run."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from django.conf import settings

ROOT = settings.BASE_DIR


def start(var_dir: Path) -> subprocess.CompletedProcess:
    """The preparation of one `make run`, in a fresh interpreter on its own SQLite database."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSAR_", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CACHE_URL"))
    }
    env = {**base, "DSAR_VAR_DIR": str(var_dir), "DSAR_DEMO_SUBJECTS": "5"}
    code = f"from pathlib import Path; from config.devserver import prepare; prepare(Path({str(var_dir)!r}), demo=True, desk_port='8765')"
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def scheduled(var_dir: Path) -> dict[str, str]:
    with closing(sqlite3.connect(var_dir / "dsar.sqlite3")) as conn:
        query = "SELECT name, task FROM django_celery_beat_periodictask WHERE enabled"
        return dict(conn.execute(query))


def audit_actions(var_dir: Path) -> list[str]:
    with closing(sqlite3.connect(var_dir / "dsar.sqlite3")) as conn:
        return [row[0] for row in conn.execute("SELECT action FROM casework_auditevent")]


def test_a_restart_with_nothing_changed_writes_no_audit_event_and_no_noise(tmp_path):
    first = start(tmp_path)
    assert first.returncode == 0, first.stderr
    written = audit_actions(tmp_path)
    assert written.count("register.sourcesystem.created") == 5

    schedules = scheduled(tmp_path)
    assert schedules["send-reminders"] == "casework.tasks.send_reminders"
    assert schedules["sweep-gathering"] == "casework.tasks.sweep_gathering"

    again = start(tmp_path)
    assert again.returncode == 0, again.stderr
    assert audit_actions(tmp_path) == written
    assert scheduled(tmp_path) == schedules
    assert "already exists" not in again.stdout + again.stderr


def test_make_run_prints_the_portals_address_beside_the_admins_and_the_outbox():
    from config.devserver import banner

    text = banner("http://127.0.0.1:8000", password="pw", mail_dir="/srv/var/mail", demo=True)
    assert "http://127.0.0.1:8000/admin/" in text
    assert "http://127.0.0.1:8000/en/request/" in text
    assert "E-mails go to /srv/var/mail/" in text
    assert "http://127.0.0.1:8000/admin/outbox/" in text


def test_make_run_names_no_outbox_when_mail_goes_elsewhere():
    from config.devserver import banner

    text = banner("http://127.0.0.1:8000", password="pw", mail_dir="", demo=False)
    assert "outbox" not in text.lower()


def test_make_run_starts_beat_on_the_database_schedules_without_a_file():
    from config.devserver import celery_beat

    command = celery_beat()
    assert command[command.index("-S") + 1] == settings.CELERY_BEAT_SCHEDULER
    assert not any("celerybeat-schedule" in part or part == "--schedule" for part in command)
