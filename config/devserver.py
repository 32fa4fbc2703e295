"""`make run`: the whole system on one machine with no servers.

Migrates, creates the demo staff logins and the data map, then runs the web server
(gunicorn), a Celery worker and beat together; Ctrl-C stops all three. With DATABASE_URL and
REDIS_URL set it uses PostgreSQL and Redis instead of SQLite and the filesystem broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=check)  # noqa: S603


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    host = os.environ.get("DSAR_HOST", "127.0.0.1")
    port = os.environ.get("DSAR_PORT", "8000")

    manage("migrate", "--no-input", "--verbosity", "0")
    manage("createcachetable")
    if (ROOT / "dsar" / "management" / "commands" / "load_data_map.py").exists():
        manage("load_data_map", "--verbosity", "0")
    from config.keys import dev_key

    password = dev_key(ROOT / "var" / "keys", "demo_password", nbytes=9)
    manage("create_demo_staff", "--password", password)

    procs: list[subprocess.Popen] = []
    commands = {
        "web": [
            PY, "-m", "gunicorn", "config.wsgi:application",
            "-c", "config/gunicorn.conf.py", "-b", f"{host}:{port}", "--workers", "2",
        ],
        "worker": [PY, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "2"],
        "beat": [
            PY, "-m", "celery", "-A", "config", "beat", "-l", "info",
            "--schedule", str(ROOT / "var" / "celerybeat-schedule"),
        ],
    }
    for _name, cmd in commands.items():
        procs.append(subprocess.Popen(cmd, cwd=ROOT))  # noqa: S603 - our own fixed commands

    print(
        f"\n  DSAR casework is running: http://{host}:{port}/admin/\n"
        f"  Health: http://{host}:{port}/healthz\n"
        f"  Staff logins above (password: {password}). Ctrl-C stops web, worker and beat.\n",
        flush=True,
    )

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
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
