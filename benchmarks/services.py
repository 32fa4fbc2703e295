"""Shared set-up for benchmarks: a PostgreSQL database and Redis of their own, the demo source
systems, a real worker and the demo support desk as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BENCH_DB = os.environ.get(
    "DSAR_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dsar_bench"
)
BENCH_REDIS = os.environ.get("DSAR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
BENCH_VAR = ROOT / "var" / "bench"
DESK_PORT = os.environ.get("DSAR_BENCH_SUPPORTDESK_PORT", "8766")
DESK_TOKEN = "bench-desk-token-0123456789abcdef"  # noqa: S105 - the local demo desk only


def machine_speed() -> dict[str, float]:
    """How fast this machine runs plain Python right now: the seconds of a fixed loop (median
    of three). The shared 2-core machines vary by 1.5-2x from day to day; a figure read beside
    this one can be compared with another day's."""
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        samples.append(time.perf_counter() - started)
    return {"python_loop_5m_s": round(sorted(samples)[1], 3), "load_average": os.getloadavg()[0]}


def environment() -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "DATABASE_URL": BENCH_DB,
            "REDIS_URL": BENCH_REDIS,
            "DSAR_VAR_DIR": str(BENCH_VAR),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SUPPORTDESK_TOKEN": DESK_TOKEN,
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def apply_environment() -> None:
    os.environ.update(environment())


def ensure_database() -> None:
    name = BENCH_DB.rsplit("/", 1)[1]
    listed = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SELECT datname FROM pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if name not in listed:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)


def load_demo(subjects: int, heavy: dict[str, int]) -> float:
    """The database migrated, the register and the demo of `subjects` subjects (plus the heavy
    ones: e-mail -> records) loaded, Django set up in this process; the demo's load seconds."""
    ensure_database()
    manage("migrate", "--no-input", "--verbosity", "0")
    manage("load_data_map", "--verbosity", "0")
    started = time.monotonic()
    options = [f"--heavy={email}:{n}" for email, n in heavy.items()]
    manage("load_demo", "--subjects", str(subjects), "--supportdesk-port", DESK_PORT, *options)
    seconds = time.monotonic() - started
    apply_environment()
    import django

    django.setup()
    return seconds


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=environment(), check=True)


def start(*args: str, log: str) -> subprocess.Popen:
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    out = open(BENCH_VAR / log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [PY, *args], cwd=ROOT, env=environment(), stdout=out, stderr=subprocess.STDOUT
    )


def start_worker(concurrency: int = 1) -> subprocess.Popen:
    """One worker. With concurrency 1 it is a single process (solo pool), whose peak RSS is the
    worker's; with more, the prefork pool Celery uses by default."""
    pool = (
        ["--pool", "solo"]
        if concurrency == 1
        else ["--pool", "prefork", "--concurrency", str(concurrency)]
    )
    return start(
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        *pool,
        "-l",
        "warning",
        "-n",
        f"bench-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        log="worker.log",
    )


def start_desk() -> subprocess.Popen:
    return start(
        "manage.py",
        "run_supportdesk",
        "--port",
        DESK_PORT,
        "--db",
        str(BENCH_VAR / "demo" / "supportdesk.sqlite3"),
        log="supportdesk.log",
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(predicate, timeout: float, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("benchmark condition not met in time")
