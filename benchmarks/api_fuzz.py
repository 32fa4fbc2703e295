"""Staff API benchmark (issue 15, point 2).

1. The schemathesis run of tests/casework/test_api_fuzz.py with more examples per endpoint
   (DSAR_BENCH_API_FUZZ_EXAMPLES, default 100), as each role: its time and result.
2. The API's case list (GET /api/v1/cases/, newest first, a page of 50), unfiltered and
   filtered, over DSAR_BENCH_API_CASES (default 20,000) cases made in bulk: median time over
   DSAR_BENCH_REPEAT (default 5) requests and the SQL queries per request (which must not grow
   with the data). SQLite files of its own under var/bench-api, unless DATABASE_URL is set.

Run: `python -m benchmarks api_fuzz`. Prints one JSON document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench-api"
EXAMPLES = int(os.environ.get("DSAR_BENCH_API_FUZZ_EXAMPLES", "100"))
CASES = int(os.environ.get("DSAR_BENCH_API_CASES", "20000"))
REPEAT = int(os.environ.get("DSAR_BENCH_REPEAT", "5"))


def _fuzz() -> dict:
    env = {**os.environ, "DSAR_API_FUZZ_EXAMPLES": str(EXAMPLES), "LOG_LEVEL": "ERROR"}
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--timeout",
            "3600",
            "tests/casework/test_api_fuzz.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return {
        "examples_per_endpoint": EXAMPLES,
        "seconds": round(time.perf_counter() - started, 1),
        "passed": done.returncode == 0,
        "summary": last,
    }


def _case_list() -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DSAR_VAR_DIR": str(VAR),
        "LOG_LEVEL": "ERROR",
        "DSAR_API_RATE_USER": "1000000/minute",
    }
    env.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'dsar.sqlite3'}")
    VAR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", "import benchmarks.api_fuzz as b; b.child()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def child() -> None:
    """In the benchmark's own database: cases in bulk, then the list timed."""
    import datetime as dt
    import statistics

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from rest_framework.test import APIClient

    from casework import roles
    from casework.actors import Actor
    from casework.models import Case
    from casework.services.api_tokens import api_token_issue

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    user, _ = User.objects.get_or_create(username="bench-api", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name=roles.PRIVACY_TEAM))
    have = Case.objects.count()
    now = timezone.now()
    kinds = ["access", "erasure", "rectification", "portability", "objection", "restriction"]
    batch = []
    for i in range(have, CASES):
        received = now - dt.timedelta(minutes=i)
        batch.append(
            Case(
                reference=f"BENCH-{i:08d}",
                request_type=kinds[i % len(kinds)],
                regime="gdpr" if i % 3 else "ccpa",
                email=f"subject{i}@bench.example",
                received_at=received,
                due_at=received + dt.timedelta(days=30 if i % 7 else -1),
            )
        )
        if len(batch) == 5000:
            Case.objects.bulk_create(batch)
            batch = []
    Case.objects.bulk_create(batch)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_token_issue(user=user, actor=Actor.system()).key}"
    )
    figures = {"cases": Case.objects.count(), "vendor": connection.vendor}
    queries = {
        "unfiltered": {},
        "type_and_regime": {"request_type": "erasure", "regime": "gdpr"},
        "overdue": {"overdue": "true"},
        "received_after": {"received_after": (now - dt.timedelta(days=3)).date().isoformat()},
    }
    for name, query in queries.items():
        samples = []
        counted: list[str] = []

        def count(run, sql, *args, counted=counted):
            counted.append(sql)
            return run(sql, *args)

        with connection.execute_wrapper(count):
            response = client.get("/api/v1/cases/", query)
        assert response.status_code == 200, response.content[:300]
        second = client.get(response.json()["next"]) if response.json()["next"] else None
        for _ in range(REPEAT):
            started = time.perf_counter()
            client.get("/api/v1/cases/", query)
            samples.append(time.perf_counter() - started)
        figures[name] = {
            "median_ms": round(statistics.median(samples) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1),
            "queries": len(counted),
            "next_page_ok": second is None or second.status_code == 200,
        }
    print(json.dumps(figures))


def main() -> int:
    figures = {"api_case_list": _case_list(), "api_fuzz": _fuzz()}
    print(json.dumps({"benchmark": "api_fuzz", **figures}, indent=2))
    return 0 if figures["api_fuzz"]["passed"] and "error" not in figures["api_case_list"] else 1


if __name__ == "__main__":
    sys.exit(main())
