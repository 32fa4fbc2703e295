"""Gathering with a real Celery worker process, PostgreSQL and Redis: a subject found across
systems by different identifiers, a failing HTTP system, a killed worker, a flushed Redis."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from django.conf import settings

from casework import results, services
from casework.actors import Actor
from casework.engine import gathering as gathering_engine
from casework.models import AuditEvent, Case, CaseIdentifier, ConnectorRun, State
from dsar.demo import supportdesk
from dsar.models import SourceSystem
from tests.conftest import SUPPORTDESK_TOKEN, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]
ARTA = "arta.krasniqi@demo.example"


@pytest.fixture
def crm_and_repairs(tmp_path):
    """Two real SQL systems: the CRM knows Arta by e-mail (and her customer number); the
    repairs system knows only the customer number."""
    crm = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    with crm.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT, customer_no TEXT, phone TEXT, full_name TEXT)"
        )
        c.exec_driver_sql("CREATE INDEX accounts_email ON accounts (lower(email))")
        c.exec_driver_sql(
            "INSERT INTO accounts VALUES (1, 'Arta.Krasniqi@demo.example', 'C-100042', '+355692004242', 'Arta Krasniqi')"
        )
        c.exec_driver_sql(
            "INSERT INTO accounts VALUES (2, 'besnik@vlora.example', 'C-100043', '+355680000001', 'Besnik Hoxha')"
        )
    repairs = sa.create_engine(f"sqlite:///{tmp_path / 'repairs.sqlite3'}")
    with repairs.begin() as c:
        c.exec_driver_sql("CREATE TABLE customers (customer_no TEXT PRIMARY KEY, company TEXT)")
        c.exec_driver_sql(
            "CREATE TABLE repairs (id INTEGER PRIMARY KEY, customer_no TEXT, serial TEXT, fault TEXT)"
        )
        c.exec_driver_sql(
            "INSERT INTO customers VALUES ('C-100042', 'Drini Print'), ('C-100043', 'Vlora Tech')"
        )
        c.exec_driver_sql(
            "INSERT INTO repairs VALUES (1, 'C-100042', 'SN1', 'Paper jam'), (2, 'C-100042', 'SN2', 'Toner'), (3, 'C-100043', 'SN3', 'Other')"
        )
    SourceSystem.objects.create(
        name="CRM",
        slug="crm",
        connector="sql",
        config={
            "url": f"sqlite:///{tmp_path / 'crm.sqlite3'}",
            "subject": {
                "table": "accounts",
                "key": "id",
                "identifiers": {
                    "email": "email",
                    "customer_number": "customer_no",
                    "phone": "phone",
                },
            },
            "tables": {
                "accounts": {
                    "category": "online_account",
                    "key": "id",
                    "subject_column": "id",
                    "columns": {"email": {}, "full_name": {}, "customer_no": {}},
                }
            },
        },
    )
    SourceSystem.objects.create(
        name="Repairs",
        slug="repairs",
        connector="sql",
        config={
            "url": f"sqlite:///{tmp_path / 'repairs.sqlite3'}",
            "subject": {
                "table": "customers",
                "key": "customer_no",
                "identifiers": {"customer_number": "customer_no"},
            },
            "tables": {
                "repairs": {
                    "category": "products_usage_service",
                    "key": "id",
                    "subject_column": "customer_no",
                    "columns": {"serial": {}, "fault": {}},
                }
            },
        },
    )


@pytest.fixture
def desk(tmp_path, monkeypatch):
    """The real HTTP support desk, knowing Arta only by phone."""
    monkeypatch.setenv("SUPPORTDESK_TOKEN", SUPPORTDESK_TOKEN)
    db = supportdesk.create_database(tmp_path / "desk.sqlite3")
    customer = supportdesk.add_customer(
        db, name="Arta K.", phone="+355692004242", company="Drini Print"
    )
    for i in range(3):
        supportdesk.add_ticket(
            db, customer_id=customer, subject=f"Ticket {i}", body="Printer offline", status="closed"
        )
    server, _ = supportdesk.serve("127.0.0.1", 0, db, SUPPORTDESK_TOKEN)
    SourceSystem.objects.create(
        name="Support desk",
        slug="supportdesk",
        connector="http",
        config={
            "base_url": server.url,
            "auth": {"type": "bearer", "token_env": "SUPPORTDESK_TOKEN"},
            "timeout": 10,
            "lookup": {
                "path": "/api/customers",
                "params": {"{kind}": "{value}"},
                "identifiers": ["phone", "email"],
                "results": "items",
                "subject_key": "id",
                "identifier_fields": {"phone": "phone"},
            },
            "export": [
                {
                    "path": "/api/customers/{subject_key}/tickets",
                    "category": "customer_enquiries",
                    "results": "items",
                    "key": "id",
                    "paging": {"type": "cursor", "param": "cursor", "next": "next_cursor"},
                }
            ],
        },
    )
    yield server
    server.stop()


def gather(make_case, **kwargs) -> Case:
    case = make_case(email=ARTA, **kwargs)
    return services.case_verify(case=case, actor=Actor.subject())


def state_of(case) -> str:
    return Case.objects.get(pk=case.pk).state


def stored(run: ConnectorRun) -> list[dict]:
    return list(results.read_records(run.pk, run.result_file))


def test_a_subject_known_by_email_in_one_system_and_only_by_customer_number_in_another_is_found_in_both(
    real_worker, make_case, crm_and_repairs, desk
):
    case = gather(make_case)
    wait_for(lambda: state_of(case) == State.IN_REVIEW)
    runs = {
        (r.system.slug, r.round): r
        for r in ConnectorRun.objects.filter(case=case).select_related("system")
    }
    assert runs[("crm", 1)].records_count == 1
    assert ("repairs", 1) not in runs  # searchable by customer number only: round 2
    assert runs[("repairs", 2)].records_count == 2
    assert runs[("supportdesk", 2)].records_count == 3
    faults = {r["data"]["fault"] for r in stored(runs[("repairs", 2)])}
    assert faults == {"Paper jam", "Toner"}
    learnt = dict(
        CaseIdentifier.objects.filter(case=case, source="crm").values_list("kind", "value")
    )
    assert learnt["customer_number"] == "C-100042"
    assert learnt["phone"] == "+355692004242"


def test_a_failing_http_system_is_retried_with_backoff_then_flagged_and_the_rest_is_kept(
    real_worker, make_case, crm_and_repairs, desk
):
    desk.fail_next(100, status=503, retry_after="1")
    started = time.monotonic()
    case = gather(make_case, phone="+355692004242")
    wait_for(lambda: Case.objects.get(pk=case.pk).gathering_blocked_at is not None, timeout=60)
    elapsed = time.monotonic() - started
    failed = ConnectorRun.objects.get(
        case=case, system__slug="supportdesk", state="failed", round=1
    )
    assert failed.attempts == settings.DSAR_GATHER_MAX_ATTEMPTS
    assert failed.error_kind == "transient"
    assert elapsed >= 2  # two waits of at least the Retry-After second
    kept = ConnectorRun.objects.filter(case=case, system__slug="crm", state="succeeded")
    assert kept.exists() and stored(kept.first())
    assert state_of(case) == State.GATHERING
    assert AuditEvent.objects.filter(case=case, action="gathering.needs_attention").exists()


def test_a_worker_killed_mid_gathering_loses_nothing_and_records_are_stored_once(
    real_worker, make_case, crm_and_repairs, desk
):
    desk.slow_next(1, seconds=8)  # the support desk's first answer hangs
    case = gather(make_case, phone="+355692004242")

    def desk_hanging():
        # The lookup must have reached the desk (and be hanging there) before the kill, or
        # the slow answer would fall on the next attempt instead.
        return (
            ConnectorRun.objects.filter(
                case=case, system__slug="supportdesk", state="running"
            ).exists()
            and desk.requests_to("/api/customers") >= 1
        )

    wait_for(desk_hanging, interval=0.05)
    real_worker.kill()
    killed_at = time.monotonic()
    real_worker.start()
    # The sweeper (beat runs it in production) takes the run back once its lease, no longer
    # renewed, runs out: within the lease (DSAR_WORK_LEASE_SECONDS=2 here), not after the
    # task's time limit.
    taken_back_after = None
    deadline = time.monotonic() + 60
    while state_of(case) != State.IN_REVIEW and time.monotonic() < deadline:
        if gathering_engine.sweep()["runs"] and taken_back_after is None:
            taken_back_after = time.monotonic() - killed_at
        time.sleep(0.2)
    assert state_of(case) == State.IN_REVIEW
    assert taken_back_after is not None and taken_back_after < 2 + 5
    desk_run = ConnectorRun.objects.get(case=case, system__slug="supportdesk", round=1)
    assert desk_run.attempts == 2
    assert desk_run.records_count == 3
    keys = [r["key"] for r in stored(desk_run)]
    assert len(keys) == len(set(keys)) == 3
    for run in ConnectorRun.objects.filter(case=case, state="succeeded").exclude(records_count=0):
        assert len(stored(run)) == run.records_count


def test_a_slow_search_keeps_its_lease_and_is_not_taken_back(
    real_worker, make_case, crm_and_repairs, desk
):
    """A lookup that hangs past the lease is a slow worker, not a dead one: its heartbeat
    renews the lease, so the sweeper leaves it alone and it is searched once."""
    desk.slow_next(1, seconds=3)  # past the lease (2 s), within the soft time limit (4 s)
    case = gather(make_case, phone="+355692004242")
    deadline = time.monotonic() + 60
    while state_of(case) != State.IN_REVIEW and time.monotonic() < deadline:
        gathering_engine.sweep()  # re-queues only what waits (harmless), never the live run
        time.sleep(0.2)
    assert state_of(case) == State.IN_REVIEW
    desk_run = ConnectorRun.objects.get(case=case, system__slug="supportdesk", round=1)
    assert (desk_run.attempts, desk_run.records_count) == (1, 3)
    assert desk_run.heartbeat_at > desk_run.claimed_at  # renewed while it hung


def test_redis_flushed_mid_gathering_the_sweeper_finishes_the_case(
    real_worker, make_case, crm_and_repairs, desk
):
    import redis

    desk.slow_next(1, seconds=2)
    case = gather(make_case, phone="+355692004242")
    wait_for(lambda: ConnectorRun.objects.filter(case=case, state="running").exists())
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # every queued message is gone
    deadline = time.monotonic() + 60
    while state_of(case) != State.IN_REVIEW and time.monotonic() < deadline:
        gathering_engine.sweep()
        time.sleep(0.5)
    assert state_of(case) == State.IN_REVIEW
    assert not ConnectorRun.objects.filter(case=case).exclude(state="succeeded").exists()


def test_the_beat_schedule_runs_the_sweeper():
    from django_celery_beat.models import PeriodicTask

    schedule = set(PeriodicTask.objects.filter(enabled=True).values_list("task", flat=True))
    assert "casework.tasks.sweep_gathering" in schedule
