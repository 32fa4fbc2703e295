"""Dashboard benchmark (issue 15, "Performance").

In PostgreSQL (the benchmarks' database, benchmarks/services.py), DSAR_BENCH_DASHBOARD_CASES
cases (1,000,000 by default) made in bulk by one INSERT ... SELECT over generate_series: five
years of requests of every type, regime and channel, most answered (some late, some refused,
some withdrawn or expired), about 2 % extended, the last weeks' mostly open, with three source
systems searched for the last 30 days' cases. No audit events: the dashboard reads none. The
cases are made once and kept while their number is the same.

The dashboard's rollups (casework.rollups) follow the bulk INSERT through the case table's
statement-level triggers (DSAR_BENCH_ROLLUPS=triggers, the default), or, with
DSAR_BENCH_ROLLUPS=rebuild, the INSERT runs with the triggers off (session_replication_role)
and the rollups are counted once after it (`rebuild_dashboard_rollups`); the JSON gives the
seconds of each (DSAR_BENCH_RELOAD=1 makes the cases again even when their number is right).

Then, through Django's test client signed in as the DPO (no second factor), each page timed
DSAR_BENCH_REPEAT times (default 7) after a warm-up, with its number of SQL queries:
- the dashboard (/dashboard/, the default last 12 months), and filtered by regime and type;
- the CSV of every figure;
- the admin's case list, filtered (completed access requests) at page 100, and the overdue
  list the dashboard links to;
- the staff API's case list (first page by cursor), filtered and overdue;
- the filtered lists again as a member of the privacy team (the confidential cases' rule).
Prints one JSON document: median, min and max milliseconds and the query count of each.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from benchmarks import services as bench

CASES = int(os.environ.get("DSAR_BENCH_DASHBOARD_CASES", "1000000"))
ROLLUPS = os.environ.get("DSAR_BENCH_ROLLUPS", "triggers")  # or "rebuild"
RELOAD = os.environ.get("DSAR_BENCH_RELOAD", "") == "1"  # make the cases again anyway
REPEAT = int(os.environ.get("DSAR_BENCH_REPEAT", "7"))
TARGET_MS = 300
PREFIX = "BENCH-"
SYSTEMS = ("bench-crm", "bench-desk", "bench-events")


def _insert_select(model, generated: dict[str, str], source: str, params: list) -> int:
    """INSERT INTO model's table every column: `generated` SQL expressions (over `source`),
    the others their field's default."""
    from django.db import connection

    columns, values, literal = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.name in generated or f.attname in generated:
            values.append(generated.get(f.name, generated.get(f.attname)))
            continue
        default = f.get_default() if f.has_default() else (None if f.null else "")
        values.append("%s")
        literal.append(f.get_db_prep_save(default, connection))
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM {source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*literal, *params])
        return cursor.rowcount


def _staff() -> tuple:
    from django.contrib.auth.models import Group, User

    from casework import roles

    def person(name: str, group: str):
        user, _created = User.objects.get_or_create(
            username=name, defaults={"is_staff": True, "email": f"{name}@staff.demo.example"}
        )
        user.groups.add(Group.objects.get(name=group))
        return user

    dpo = person("bench-dpo", roles.DPO)
    team = [person(f"bench-team-{n}", roles.PRIVACY_TEAM) for n in range(4)]
    return dpo, team


def _make_cases(n: int, assignees: list[int]) -> dict:
    from django.db import connection, transaction

    from casework import rollups
    from casework.models import Case, ConnectorRun
    from dsar.models import SourceSystem

    started = time.monotonic()
    rebuild_seconds = None
    with transaction.atomic():
        if ROLLUPS == "rebuild":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")  # no triggers
        bench_cases = Case.objects.filter(reference__startswith=PREFIX)
        bench_runs = ConnectorRun.objects.filter(case__in=bench_cases)
        bench_runs._raw_delete(bench_runs.db)
        bench_cases._raw_delete(bench_cases.db)
        # Random draws per row, once each, in a sub-select; received over five years.
        source = """(
            SELECT g,
                   now() - random() * interval '1826 days' AS received,
                   random() AS r1, random() AS r2, random() AS r3, random() AS r4
            FROM generate_series(1, %s) AS g
        ) AS s"""
        opened = "(s.received > now() - interval '40 days' AND s.r3 < 0.7)"
        state = f"""CASE
            WHEN {opened} THEN (ARRAY['received','verified','awaiting_subject','gathering',
                 'in_review','in_review','fulfilling'])[1 + floor(s.r2 * 7)::int]
            WHEN s.r3 < 0.85 THEN 'completed' WHEN s.r3 < 0.91 THEN 'rejected'
            WHEN s.r3 < 0.96 THEN 'withdrawn' ELSE 'expired' END"""
        extended = "(s.r4 < 0.02)"
        assignee = (
            f"(ARRAY[{','.join(str(pk) for pk in assignees)}]::bigint[])"
            f"[1 + floor(s.r4 * {len(assignees) + 1})::int]"
        )
        generated = {
            "reference": f"'{PREFIX}' || lpad(s.g::text, 8, '0')",
            "request_type": "(ARRAY['access','access','access','erasure','rectification',"
            "'restriction','portability','objection'])[1 + floor(s.r1 * 8)::int]",
            "regime": "(ARRAY['gdpr','gdpr','gdpr','uk_gdpr','ccpa','voluntary'])"
            "[1 + floor(s.r2 * 6)::int]",
            "channel": "(ARRAY['web','web','web','email','letter','phone','api'])"
            "[1 + floor(s.r4 * 7)::int]",
            "email": "'bench' || s.g || '@demo.example'",
            "state": state,
            "received_at": "s.received",
            "due_at": f"s.received + CASE WHEN {extended} THEN interval '90 days' "
            "ELSE interval '30 days' END",
            "original_due_at": f"CASE WHEN {extended} THEN s.received + interval '30 days' END",
            "extension_reason": f"CASE WHEN {extended} THEN (ARRAY['Complex request',"
            "'Many requests at once','Many systems to search'])[1 + floor(s.r1 * 3)::int] "
            "ELSE '' END",
            "extension_announced_at": f"CASE WHEN {extended} "
            "THEN s.received + interval '25 days' END",
            "closed_at": f"CASE WHEN {opened} THEN NULL "
            "ELSE s.received + (1 + s.r1 * 40) * interval '1 day' END",
            "rejection_reason": f"CASE WHEN NOT {opened} AND s.r3 >= 0.85 AND s.r3 < 0.91 "
            "THEN (ARRAY['Manifestly unfounded','Excessive: repeated requests',"
            "'Identity not proven'])[1 + floor(s.r1 * 3)::int] ELSE '' END",
            "rejected_as_unfounded": "(s.r1 < 0.33)",
            "review_completed_at": f"CASE WHEN {opened} AND s.r1 < 0.3 THEN now() END",
            "assignee_id": assignee,
            "confidential": "(s.r4 < 0.01)",
            "created_at": "s.received",
            "updated_at": "s.received",
        }
        made = _insert_select(Case, generated, source, [n])
        systems = [
            SourceSystem.objects.get_or_create(
                slug=slug, defaults={"name": slug.replace("-", " ").title(), "connector": "sql"}
            )[0].pk
            for slug in SYSTEMS
        ]
        runs = {
            "case_id": "c.id",
            "system_id": "sys",
            "state": "CASE WHEN random() < 0.04 THEN 'failed' ELSE 'succeeded' END",
            "duration_ms": "(50 + random() * 2000)::int",
            "created_at": "c.received_at + interval '1 hour'",
            "updated_at": "c.received_at + interval '1 hour'",
            "finished_at": "c.received_at + interval '1 hour'",
        }
        _insert_select(
            ConnectorRun,
            runs,
            f"{Case._meta.db_table} AS c CROSS JOIN unnest(%s::bigint[]) AS sys "
            "WHERE c.reference LIKE %s AND c.received_at > now() - interval '30 days'",
            [systems, f"{PREFIX}%"],
        )
        if ROLLUPS == "rebuild":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = origin")
            inserted = time.monotonic()
            rollups.rebuild(connection)
            rebuild_seconds = round(time.monotonic() - inserted, 1)
    if made != n:
        raise RuntimeError(f"made {made} cases, not {n}")
    return {
        "rollups": ROLLUPS,
        "cases_load_seconds": round(time.monotonic() - started, 1),
        "rollups_rebuild_seconds": rebuild_seconds,
    }


def _vacuum() -> None:
    """Statistics, and the visibility map that lets PostgreSQL answer from an index alone
    (autovacuum keeps both up to date in production; bulk-made rows have neither yet)."""
    from django.db import connection

    from casework.models import Case, CaseCloseDays, CaseMonthFigures, ConnectorRun

    with connection.cursor() as cursor:
        for model in (Case, ConnectorRun, CaseMonthFigures, CaseCloseDays):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def _time(client, url: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm-up
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "queries": len(queries),
        "under_target": statistics.median(samples) < TARGET_MS,
    }


def main() -> int:
    os.environ["DSAR_STAFF_OTP_REQUIRED"] = "0"
    bench.ensure_database()
    bench.manage("migrate", "--no-input", "--verbosity", "0")
    bench.apply_environment()
    os.environ["DSAR_STAFF_OTP_REQUIRED"] = "0"
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from casework.models import Case, CaseCloseDays, CaseMonthFigures

    setup_test_environment()
    dpo, team = _staff()
    load = {"cases_load_seconds": None}
    if RELOAD or Case.objects.filter(reference__startswith=PREFIX).count() != CASES:
        load = _make_cases(CASES, [u.pk for u in team])
    _vacuum()
    client = Client()
    client.force_login(dpo)
    cases = reverse("admin:casework_case_changelist")
    pages = {
        "dashboard": reverse("dashboard:index"),
        "dashboard_filtered": reverse("dashboard:index") + "?regime=gdpr&request_type=access",
        "figures_csv": reverse("dashboard:figures_csv"),
        "yearly_report": reverse("dashboard:report", args=[time.localtime().tm_year - 1]),
        "admin_case_list_filtered_page_100": cases
        + "?state__exact=completed&request_type__exact=access&p=100",
        "admin_case_list_overdue": cases + "?overdue=yes",
        "api_case_list_filtered": "/api/v1/cases/?state=completed&request_type=access",
        "api_case_list_overdue": "/api/v1/cases/?overdue=true",
    }
    # A member of the privacy team: the confidential cases' rule applies to her lists.
    member = Client()
    member.force_login(team[0])
    member_pages = {
        "admin_case_list_filtered_page_100_privacy_team": pages[
            "admin_case_list_filtered_page_100"
        ],
        "api_case_list_filtered_privacy_team": pages["api_case_list_filtered"],
    }
    figures = {
        "benchmark": "dashboard",
        "cases": CASES,
        "open_cases": Case.objects.filter(closed_at__isnull=True).count(),
        **load,
        "rollup_rows": {
            "month_figures": CaseMonthFigures.objects.count(),
            "close_days": CaseCloseDays.objects.count(),
        },
        "repeats": REPEAT,
        "target_ms": TARGET_MS,
        "pages": {
            **{name: _time(client, url) for name, url in pages.items()},
            **{name: _time(member, url) for name, url in member_pages.items()},
        },
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
