"""`make run` restart benchmark (issue 13, "The first hour").

A restart of `make run` (python -m config.devserver) on a warm virtualenv, with its defaults:
SQLite, the filesystem broker, the demo systems. The first start, in a var folder of the
benchmark's own, migrates and loads the demo; it is timed too, for reference, and stopped.
Then ROUNDS restarts, each timed from the process start until the portal's form
(/en/request/) answers 200, then stopped with SIGINT as Ctrl-C would. Target: the median
restart under 10 s.

Run: `python -m benchmarks devserver`. Prints one JSON document. Stops by itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3
TARGET_S = 10.0
FIRST_START_LIMIT_S = 600.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def _start_and_time(env: dict[str, str], url: str, log, limit: float) -> float:
    """Seconds from starting `make run` until `url` answers 200; then stops it."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.devserver"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while not _answers(url):
            if proc.poll() is not None:
                raise RuntimeError(f"make run stopped (exit {proc.returncode}); see {log.name}")
            if time.monotonic() - started > limit:
                raise RuntimeError(f"no answer from {url} within {limit:.0f} s; see {log.name}")
            time.sleep(0.05)
        return time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: devserver stops its children
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dsar-bench-run-") as var_dir:
        port = _free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "REDIS_URL", "CACHE_URL", "EMAIL_URL"))
            and k not in ("DSAR_VAR_DIR", "SUPPORTDESK_TOKEN", "DJANGO_SETTINGS_MODULE")
        }
        env |= {
            "DSAR_VAR_DIR": var_dir,
            "DSAR_PORT": str(port),
            "DSAR_DEMO_SUPPORTDESK_PORT": str(_free_port()),
        }
        url = f"http://127.0.0.1:{port}/en/request/"
        log_path = Path(var_dir) / "devserver.log"
        with open(log_path, "ab") as log:
            first = _start_and_time(env, url, log, FIRST_START_LIMIT_S)
            restarts = [_start_and_time(env, url, log, 120) for _ in range(ROUNDS)]
    median = statistics.median(restarts)
    figures = {
        "first_start_s": round(first, 2),
        "restart_first_page_s": [round(s, 2) for s in restarts],
        "restart_first_page_median_s": round(median, 2),
        "targets": {"restart_first_page_under_s": TARGET_S},
        "met": median < TARGET_S,
    }
    print(json.dumps(figures, indent=2))
    return 0 if median < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
