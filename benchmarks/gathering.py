"""Gathering benchmark (issue: data map and connectors).

In a demo of DSAR_BENCH_SUBJECTS subjects (1,000,000 by default) in PostgreSQL, with one real
worker process: the time from the first task's start (the `case.start_gathering` audit event,
written inside the task) to every result stored (the last run's finished_at), for a subject
with 10 records and one with 10,000, with the medians, per run, of its time in the queue, in
the system's search and in the engine's bookkeeping; the worker's peak RSS while gathering a
subject with 1,000,000 records; the EXPLAIN plan of every SQL lookup; and how often a CSV folder is indexed.
Prints one JSON document.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from benchmarks import services as bench

SUBJECTS = int(os.environ.get("DSAR_BENCH_SUBJECTS", "1000000"))
REPEAT = int(os.environ.get("DSAR_BENCH_REPEAT", "5"))
HEAVY = {"bench10@demo.example": 9, "bench10k@demo.example": 9_999, "bench1m@demo.example": 999_999}


def _gather_once(email: str, timeout: float) -> dict:
    from casework import services
    from casework.actors import Actor
    from casework.audit import action_names
    from casework.models import AuditEvent, Case, ConnectorRun, State

    case = services.case_create(
        intake=services.Intake(request_type="access", email=email), actor=Actor.system()
    )
    services.case_verify(case=case, actor=Actor.subject())
    bench.wait_until(lambda: Case.objects.get(pk=case.pk).state == State.IN_REVIEW, timeout)
    started = action_names("case.gathering_started")  # the old name too, for older events
    t0 = AuditEvent.objects.get(case=case, action__in=started).created_at
    runs = list(ConnectorRun.objects.filter(case=case))
    t1 = max(r.finished_at for r in runs)

    def ms(delta) -> float:
        return delta.total_seconds() * 1000

    return {
        "seconds": (t1 - t0).total_seconds(),
        "records": sum(r.records_count for r in runs),
        "runs": len(runs),
        "rounds": max(r.round for r in runs),
        # Where the time goes, per run: waiting in the queue (created to claimed), the
        # system's own search and export (duration_ms), and the engine's bookkeeping around it
        # (claimed to finished, less the search).
        "queued_ms": [ms(r.claimed_at - r.created_at) for r in runs],
        "search_ms": [r.duration_ms for r in runs],
        "bookkeeping_ms": [ms(r.finished_at - r.claimed_at) - r.duration_ms for r in runs],
    }


def _explain_plans() -> dict:
    from dsar.connectors.registry import connector_for
    from dsar.models import SourceSystem

    plans = {}
    for system in SourceSystem.objects.filter(connector="sql", active=True):
        with connector_for(system) as connector:
            for kind in sorted(connector.searchable_kinds()):
                plans[f"{system.slug}.{kind}"] = connector.explain(kind)
    return plans


def _csv_indexing() -> dict:
    from dsar.connectors.registry import connector_for
    from dsar.identifiers import Identifier
    from dsar.models import SourceSystem

    out = {}
    for system in SourceSystem.objects.filter(connector="files", active=True):
        with connector_for(system) as connector:
            probe = [
                Identifier("email", "nobody@demo.example"),
                Identifier("name_company", "Arta Krasniqi|Drini Print Sh.p.k."),
            ]
            for path in connector.files():
                connector._index_path(path).unlink(missing_ok=True)
            started = time.perf_counter()
            connector.find_subject(probe)
            first = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(20):
                connector.find_subject(probe)
            again = (time.perf_counter() - started) / 20
            out[system.slug] = {
                "files": len(connector.files()),
                "first_lookup_ms": round(first * 1000, 2),
                "later_lookup_ms": round(again * 1000, 2),
            }
    return out


def _timings(worker_label: str, figures: dict) -> None:
    for _ in range(2):
        _gather_once("bench10@demo.example", timeout=120)  # warm-up: imports, pools
    for label, email in (
        ("subject_10_records", "bench10@demo.example"),
        ("subject_10000_records", "bench10k@demo.example"),
    ):
        samples = [_gather_once(email, timeout=120) for _ in range(REPEAT)]
        seconds = [s["seconds"] for s in samples]
        entry = figures.setdefault(
            label,
            {
                "records": samples[0]["records"],
                "system_runs": samples[0]["runs"],
                "rounds": samples[0]["rounds"],
            },
        )
        entry[worker_label] = {
            "median_s": round(statistics.median(seconds), 4),
            "min_s": round(min(seconds), 4),
            "max_s": round(max(seconds), 4),
            "per_run_median_ms": {
                part: round(statistics.median(v for s in samples for v in s[part]), 1)
                for part in ("queued_ms", "search_ms", "bookkeeping_ms")
            },
        }


def main() -> int:
    load_seconds = bench.load_demo(SUBJECTS, HEAVY)
    desk = bench.start_desk()
    figures: dict = {
        "benchmark": "gathering",
        "demo_subjects": SUBJECTS,
        "demo_load_seconds": round(load_seconds, 1),
    }
    worker = None
    try:
        # One worker: first a single process, then Celery's default prefork pool of two.
        for concurrency in (1, 2):
            worker = bench.start_worker(concurrency)
            time.sleep(3)
            _timings("one_worker_solo" if concurrency == 1 else "one_worker_prefork_2", figures)
            bench.stop(worker)
        worker = bench.start_worker(1)
        time.sleep(3)
        big = _gather_once("bench1m@demo.example", timeout=1800)
        figures["subject_1000000_records"] = {
            "records": big["records"],
            "seconds": round(big["seconds"], 2),
            "worker_peak_rss_mb": round(bench.peak_rss_mb(worker.pid), 1),
        }
        figures["explain"] = _explain_plans()
        figures["csv_index"] = _csv_indexing()
    finally:
        if worker is not None:
            bench.stop(worker)
        bench.stop(desk)
    figures["targets"] = {
        # Issue 13's, with the default worker pool (prefork) on the 1,000,000-subject demo.
        "subject_10_records_under_s": 0.10,
        "subject_10000_records_under_s": 0.25,
        "worker_peak_rss_under_mb": 200,
    }
    print(json.dumps(figures, indent=2))
    return 0
