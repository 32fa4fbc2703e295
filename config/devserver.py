"""`make run`: the whole system on one machine with no servers.

Migrates, loads the data map, creates the demo staff logins and the demo source systems, then
runs the web server (gunicorn), a Celery worker, the sweeper (a worker for the periodic
sweeps, on a queue of their own), beat and the demo support desk together;
Ctrl-C stops them all. With DATABASE_URL and REDIS_URL set it uses PostgreSQL and Redis instead
of SQLite and the filesystem broker. DSAR_DEMO=0 leaves the demo systems out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from config.keys import dev_key, export_demo_secrets
from config.mailurl import OUTBOX_BACKEND

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def celery_worker(queue: str, name: str, concurrency: int) -> list[str]:
    """The command of a Celery worker consuming `queue`."""
    options = f"-l info --concurrency {concurrency} -Q {queue} -n {name}@%h".split()
    return [PY, "-m", "celery", "-A", "config", "worker", *options]


def celery_beat() -> list[str]:
    """The command of Celery beat: its schedules come from the database (django-celery-beat,
    casework/schedules.py) through the scheduler that also writes its heartbeat; no file."""
    scheduler = "casework.beat:HeartbeatScheduler"
    return [PY, "-m", "celery", "-A", "config", "beat", "-l", "info", "-S", scheduler]


def prepare(var_dir: Path, *, demo: bool, desk_port: str) -> str:
    """What every start does before the processes run: migrate, the cache table, the register,
    the demo staff and the demo systems. A restart with nothing changed changes nothing (no
    register audit events) and prints no noise. Returns the staff password.

    All in this one process: each command in an interpreter of its own spent a second or two
    loading Django, most of a restart's time."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    call_command("migrate", interactive=False, verbosity=0, skip_checks=False)
    call_command("createcachetable", verbosity=0)  # else "already exists" on every restart
    call_command("load_data_map", verbosity=0)
    password = dev_key(var_dir / "keys", "demo_password", nbytes=9)
    call_command("create_demo_staff", password=password)  # a password may begin with "-"
    if demo:
        subjects = os.environ.get("DSAR_DEMO_SUBJECTS", "200")
        call_command("load_demo", "--subjects", subjects, "--supportdesk-port", desk_port)
    connections.close_all()  # SQLite: no open handle while the other processes start
    return password


def wait_for_web(url: str, *, timeout: float, waiting: Callable[[], bool]) -> bool:
    """Whether the web server answers `url` (whatever the status) within `timeout` seconds,
    while `waiting()` holds: a bound socket is not enough, gunicorn binds before its workers
    have loaded Django."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and waiting():
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - our own server
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.05)
    return False


def outbox_folder() -> str:
    """The folder e-mails are written to, when they go to the outbox (the default)."""
    from django.conf import settings  # reads the settings only: no app is loaded

    return settings.EMAIL_FILE_PATH if settings.EMAIL_BACKEND == OUTBOX_BACKEND else ""


def banner(site: str, *, password: str, mail_dir: str, demo: bool) -> str:
    """What `make run` prints once everything runs: where the admin, the portal and the mail
    are, and how to sign in."""
    lines = [
        "",
        f"  DSAR casework is running: {site}/admin/",
        f"  The public portal: {site}/en/request/ (Albanian: {site}/sq/request/)",
    ]
    if mail_dir:
        lines.append(f"  E-mails go to {mail_dir}/; read them, links intact: {site}/admin/outbox/")
    lines += [
        f"  Health: {site}/healthz",
        f"  Staff logins above (password: {password}). Ctrl-C stops everything.",
    ]
    if demo:
        lines += [
            "  Demo subject: Arta Krasniqi <arta.krasniqi@demo.example> is in every demo system",
            "  under different identifiers. Ask for her data on the portal, confirm it from the",
            "  link in the Outbox (signed in as alice, of the privacy team), and watch gathering",
            "  find her everywhere.",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    host = os.environ.get("DSAR_HOST", "127.0.0.1")
    port = os.environ.get("DSAR_PORT", "8000")
    var_dir = Path(os.environ.get("DSAR_VAR_DIR", ROOT / "var"))
    demo = os.environ.get("DSAR_DEMO", "1") == "1"
    desk_port = os.environ.get("DSAR_DEMO_SUPPORTDESK_PORT", "8765")
    # The links in e-mails point at this server (on another DSAR_PORT too), unless set.
    os.environ.setdefault("SITE_URL", f"http://{host}:{port}")
    # The demo support desk and the worker that searches it share a bearer token, from
    # var/keys/ as in every other process (config.settings does the same).
    export_demo_secrets(var_dir / "keys")

    password = prepare(var_dir, demo=demo, desk_port=desk_port)
    mail_dir = outbox_folder()

    commands = {
        "web": [
            PY,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "-c",
            "config/gunicorn.conf.py",
            "-b",
            f"{host}:{port}",
            "--workers",
            "2",
        ],
        "worker": celery_worker(os.environ.get("DSAR_CELERY_QUEUE", "dsar"), "worker", 2),
        # Sweeps have a queue and a worker of their own: they never wait behind the backlog
        # they are there to clear.
        "sweeper": celery_worker(os.environ.get("DSAR_SWEEP_QUEUE", "dsar-sweeps"), "sweeper", 1),
        "beat": celery_beat(),
    }
    if demo:
        commands["supportdesk"] = [
            PY,
            "manage.py",
            "run_supportdesk",
            "--host",
            "127.0.0.1",
            "--port",
            desk_port,
            "--db",
            str(var_dir / "demo" / "supportdesk.sqlite3"),
        ]
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    procs: list[subprocess.Popen] = []
    try:
        # The web server first: on two cores the other processes, all loading Django at
        # once, would make the first page wait for them.
        web = subprocess.Popen(commands.pop("web"), cwd=ROOT)
        procs.append(web)
        wait_for_web(
            f"http://{host}:{port}/en/request/",
            timeout=15,
            waiting=lambda: not stopping and web.poll() is None,
        )
        if not stopping:
            procs += [subprocess.Popen(cmd, cwd=ROOT) for cmd in commands.values()]
            site = f"http://{host}:{port}"
            print(banner(site, password=password, mail_dir=mail_dir, demo=demo), flush=True)
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("a process stopped; stopping the others", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
