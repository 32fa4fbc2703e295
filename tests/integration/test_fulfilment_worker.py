"""Fulfilment with a real Celery worker process, PostgreSQL and Redis, against the demo's real
systems: the CRM and repairs databases on PostgreSQL, the HTTP support desk and the CSV lists.
Arta Krasniqi's erasure drafted, submitted by one person, approved by another and carried out
by the worker; a worker killed in the middle of an action; an executed plan run again."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
import sqlalchemy as sa
from django.core.management import call_command
from django.test import override_settings

from casework import queue, services
from casework.actors import Actor
from casework.engine import fulfilment as fulfilment_engine
from casework.models import AuditEvent, Case, FulfilmentAction, FulfilmentPlan, State
from dsar.demo import supportdesk
from dsar.demo.loader import ARTA, drop_postgres_databases
from dsar.models import SourceSystem
from tests.casework.test_fulfilment_demo import others
from tests.conftest import SUPPORTDESK_TOKEN, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@dataclass
class Demo:
    folder: Path  # the desk's file and the lists
    desk: supportdesk.SupportDeskServer


@pytest.fixture
def demo(real_worker, require_postgres, tmp_path):
    """The demo with 5 other subjects: the CRM and repairs as PostgreSQL databases beside the
    test database, the desk served from this process (the worker reaches it over HTTP), the
    lists in a folder of this test."""
    with override_settings(VAR_DIR=tmp_path):
        call_command(
            "load_demo", "--subjects", "5", "--backend", "postgresql", "--reset", stdout=StringIO()
        )
    server, thread = supportdesk.serve(
        "127.0.0.1", 0, tmp_path / "demo" / "supportdesk.sqlite3", SUPPORTDESK_TOKEN
    )
    desk = SourceSystem.objects.get(slug="supportdesk")
    desk.config["base_url"] = server.url
    desk.save()
    try:
        yield Demo(tmp_path / "demo", server)
    finally:
        server.stop()
        thread.join(timeout=5)
        drop_postgres_databases()


def sql_url(slug: str) -> str:
    return SourceSystem.objects.get(slug=slug).config["url"]


def snapshot(folder) -> dict[str, list]:
    """Every row of the demo's databases (CRM and repairs on PostgreSQL, the desk's SQLite
    file) and of its lists, as text."""
    tables: dict[str, list] = {}
    urls = {
        "crm": sql_url("crm"),
        "repairs": sql_url("repairs"),
        "supportdesk": f"sqlite:///{folder / 'supportdesk.sqlite3'}",
    }
    for name, url in urls.items():
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                columns = list(result.keys())
                tables[f"{name}.{table}"] = sorted(
                    json.dumps(dict(zip(columns, row, strict=True)), default=str) for row in result
                )
        engine.dispose()
    for path in sorted(folder.rglob("*.csv")):
        tables[str(path.relative_to(folder))] = sorted(path.read_text().splitlines())
    return tables


def her_ids(folder) -> dict[str, set]:
    """Her keys in the demo (as tests.casework.test_fulfilment_demo.her_ids, on PostgreSQL)."""
    crm = sa.create_engine(sql_url("crm"))
    with crm.connect() as conn:
        account = conn.execute(
            sa.text("SELECT id FROM accounts WHERE customer_no = :no"), {"no": ARTA.customer_no}
        ).scalar()
        orders = set(
            conn.execute(
                sa.text("SELECT id FROM orders WHERE account_id = :id"), {"id": account}
            ).scalars()
        )
    crm.dispose()
    desk = sa.create_engine(f"sqlite:///{folder / 'supportdesk.sqlite3'}")
    with desk.connect() as conn:
        customers = {
            r[0]
            for r in conn.exec_driver_sql("SELECT id, phone FROM customers")
            if r[1] and r[1].replace(" ", "") == ARTA.phone
        }
    desk.dispose()
    return {"account": {account}, "orders": orders, "desk": customers}


def hers_left(tables: dict[str, list], ids) -> dict[str, int]:
    rest = others(tables, ids)
    return {t: len(rows) - len(rest[t]) for t, rows in tables.items() if len(rows) > len(rest[t])}


def plan_in(case: Case, state: str, timeout: float = 30) -> FulfilmentPlan:
    def drafted():
        plan = FulfilmentPlan.objects.filter(case=case).order_by("-number").first()
        assert plan is None or plan.state != "failed", plan.error
        return plan if plan is not None and plan.state == state else None

    return wait_for(drafted, timeout, interval=0.05)


def approved_by_two(make_case, alice, bob) -> FulfilmentPlan:
    """Her erasure gathered and drafted by the worker; the records the rules leave to a person
    (her enquiries, kept while needed to defend a legal claim) decided to go, which the worker
    drafts again; submitted by Alice and approved by Bob. Returns the approved plan (queued)."""
    case = make_case(email=ARTA.email, name=ARTA.full_name, request_type="erasure")
    services.case_verify(case=case, actor=Actor.subject())
    wait_for(lambda: Case.objects.get(pk=case.pk).state == State.IN_REVIEW, 60, interval=0.05)
    case = services.complete_review(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    services.case_draft_plan(case=case, actor=Actor.staff(alice))
    plan = plan_in(case, "draft")
    review = list(plan.kept.filter(verdict="review").values_list("pk", flat=True))
    assert review
    services.plan_decide_keeps(
        plan=plan, actor=Actor.staff(alice), keep_ids=review, decision="erase"
    )
    plan = plan_in(case, "draft")
    assert plan.number == 2 and not plan.kept.filter(verdict="review").exists()
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    return plan


def approve(plan: FulfilmentPlan, bob) -> None:
    services.case_approve(case=Case.objects.get(pk=plan.case_id), actor=Actor.staff(bob))


def executed(plan: FulfilmentPlan, timeout: float = 30) -> FulfilmentPlan:
    return wait_for(
        lambda: FulfilmentPlan.objects.filter(pk=plan.pk, executed_at__isnull=False).first(),
        timeout,
        interval=0.05,
    )


def test_her_erasure_carried_out_by_the_worker_leaves_only_what_the_rules_keep(
    demo, make_case, alice, bob
):
    ids = her_ids(demo.folder)
    before = snapshot(demo.folder)
    plan = approved_by_two(make_case, alice, bob)
    approve(plan, bob)
    plan = executed(plan)
    assert plan.approved_by == bob and plan.submitted_by == alice
    assert set(plan.actions.values_list("state", flat=True)) == {"done"}
    after = snapshot(demo.folder)
    # Everyone else's rows are exactly as they were.
    assert others(after, ids) == others(before, ids)
    # Of hers, her masked account and the orders kept for invoicing, tax and warranty; her
    # enquiries went with the rest, as decided.
    left = hers_left(after, ids)
    assert left == {
        "crm.accounts": 1,
        "crm.orders": len(ids["orders"]),
        "crm.order_lines": left["crm.order_lines"],
        "repairs.customers": 1,
    }
    assert hers_left(before, ids)["crm.enquiries"] >= 1
    assert set(plan.kept.values_list("rule_code", flat=True)) == {"purchase_records"}
    crm = sa.create_engine(sql_url("crm"))
    with crm.connect() as conn:
        name, email, phone = conn.execute(
            sa.text("SELECT full_name, email, phone FROM accounts WHERE customer_no = :no"),
            {"no": ARTA.customer_no},
        ).one()
    crm.dispose()
    assert name == "[erased]" and email.startswith("sha256:") and phone is None
    assert AuditEvent.objects.filter(case_id=plan.case_id, action="plan.executed").count() == 1


def lock_waiters(url: str) -> int:
    """How many sessions of the database at `url` wait for a lock."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar()
    engine.dispose()
    return count


def test_a_worker_killed_mid_action_is_restarted_and_finishes_the_plan_each_change_made_once(
    demo, real_worker, make_case, alice, bob
):
    ids = her_ids(demo.folder)
    before = snapshot(demo.folder)
    plan = approved_by_two(make_case, alice, bob)
    target = plan.actions.get(system__slug="crm", target="web_events", strategy="delete")
    # Someone holds the CRM's web events: the worker's DELETE of hers waits, deterministically,
    # inside the action (its lease renewed meanwhile), until the worker is killed.
    crm = sa.create_engine(sql_url("crm"))
    holder = crm.connect()
    holder.exec_driver_sql("BEGIN")
    holder.exec_driver_sql("LOCK TABLE web_events IN ACCESS EXCLUSIVE MODE")
    try:
        approve(plan, bob)
        wait_for(
            lambda: (
                FulfilmentAction.objects.filter(pk=target.pk, state="running").exists()
                and lock_waiters(sql_url("crm")) >= 1
            ),
            30,
            interval=0.05,
        )
        done_before_kill = set(plan.actions.filter(state="done").values_list("position", flat=True))
        assert target.position not in done_before_kill
        real_worker.kill()
    finally:
        # Released: the killed worker's session, its client gone, rolls its DELETE back.
        holder.exec_driver_sql("ROLLBACK")
        holder.close()
        crm.dispose()
    killed_at = time.monotonic()
    real_worker.start()
    # The sweeper (beat runs it in production) takes the action back once its lease, no longer
    # renewed, runs out (DSAR_WORK_LEASE_SECONDS=2 here), and queues it for the new worker.
    taken_back_after = None
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if FulfilmentPlan.objects.filter(pk=plan.pk, executed_at__isnull=False).exists():
            break
        if fulfilment_engine.sweep()["actions"] and taken_back_after is None:
            taken_back_after = time.monotonic() - killed_at
        time.sleep(0.2)
    plan = executed(plan, timeout=1)
    assert taken_back_after is not None and taken_back_after < 2 + 5
    actions = list(plan.actions.order_by("position"))
    assert {a.state for a in actions} == {"done"}
    target = next(a for a in actions if a.pk == target.pk)
    assert target.attempts == 2
    # Each record's outcome once, every planned record answered; the action killed half-way
    # found nothing done by the dead attempt (its transaction rolled back), so did it all.
    for action in actions:
        assert sorted(action.results) == sorted(action.change["keys"]), action
    # The desk was asked to delete each of her tickets, calls and herself once.
    deletes = [path for method, path in demo.desk.requests if method == "DELETE"]
    planned = sum(a.records for a in actions if a.system.slug == "supportdesk")
    assert len(deletes) == len(set(deletes)) == planned > 0
    assert set(target.results.values()) == {"done"}
    # The data changed exactly as in an uninterrupted run: everyone else's rows untouched,
    # hers gone but for what the rules keep.
    after = snapshot(demo.folder)
    assert others(after, ids) == others(before, ids)
    assert set(hers_left(after, ids)) == {
        "crm.accounts",
        "crm.orders",
        "crm.order_lines",
        "repairs.customers",
    }
    case = plan.case
    done_events = AuditEvent.objects.filter(case=case, action="plan.action_done")
    assert done_events.count() == len(actions)
    assert AuditEvent.objects.filter(case=case, action="plan.executed").count() == 1


def test_an_executed_plan_run_again_by_the_worker_changes_nothing(demo, make_case, alice, bob):
    plan = approved_by_two(make_case, alice, bob)
    approve(plan, bob)
    plan = executed(plan)
    once = snapshot(demo.folder)
    # Every action queued again, as a redelivered message or a confused operator would.
    plan.actions.update(state="pending", results={})
    for action in plan.actions.order_by("position"):
        queue.enqueue("apply_fulfilment_action", action.pk)
    wait_for(
        lambda: (
            not plan.actions.exclude(state="done").exists()
            and all(a.results for a in plan.actions.all())
        ),
        30,
        interval=0.05,
    )
    assert snapshot(demo.folder) == once
    outcomes = {o for a in plan.actions.all() for o in a.results.values()}
    assert outcomes <= {"already_done", "missing"}


def her_flags() -> tuple:
    """Her restriction flags in the CRM and in repairs (PostgreSQL)."""
    flags = []
    for slug, table in (("crm", "accounts"), ("repairs", "customers")):
        engine = sa.create_engine(sql_url(slug))
        with engine.connect() as conn:
            flags.append(
                conn.execute(
                    sa.text(f"SELECT restricted FROM {table} WHERE customer_no = :no"),
                    {"no": ARTA.customer_no},
                ).scalar()
            )
        engine.dispose()
    return tuple(bool(flag) for flag in flags)


def confirm_by_hand(plan: FulfilmentPlan, bob) -> None:
    waiting = wait_for(
        lambda: list(plan.actions.filter(state=FulfilmentAction.State.WAITING)), 30, interval=0.05
    )
    for action in waiting:
        services.action_confirm(action=action, actor=Actor.staff(bob), note="Done by hand")


def test_her_restriction_is_set_by_the_worker_and_lifted_only_after_she_is_told(
    demo, make_case, alice, bob, mailoutbox
):
    from casework import selectors
    from tests.casework.helpers import tell_others

    case = make_case(email=ARTA.email, name=ARTA.full_name, request_type="restriction")
    services.case_verify(case=case, actor=Actor.subject())
    wait_for(lambda: Case.objects.get(pk=case.pk).state == State.IN_REVIEW, 60, interval=0.05)
    case = services.complete_review(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    services.case_draft_plan(case=case, actor=Actor.staff(alice))
    plan = plan_in(case, "draft")
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    approve(plan, bob)
    confirm_by_hand(plan, bob)  # the attendee list is marked by hand
    plan = wait_for(
        lambda: FulfilmentPlan.objects.filter(pk=plan.pk, verified_at__isnull=False).first(),
        30,
        interval=0.05,
    )
    assert her_flags() == (True, True)
    tell_others(case, bob)  # the desk's hosting partner confirms; her recipients are told
    case = services.case_record_response(
        case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice)
    )
    case = services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert list(selectors.restrictions_in_force()) == [case]

    lifting = services.case_lift_restriction(
        case=case, actor=Actor.staff(alice), reason="The accuracy you contested is verified."
    )
    # The worker tells her (the e-mail), drafts the lifting, and only then lifts.
    lifting = plan_in(case, "approved")
    assert lifting.intent == "lift_restriction"
    told = AuditEvent.objects.get(
        case=case, action="case.notice_sent", details__notice="lifting", details__sent_by="email"
    )
    started = AuditEvent.objects.get(case=case, action="restriction.lifting_started")
    assert told.seq < started.seq
    confirm_by_hand(lifting, bob)
    executed(lifting)
    assert her_flags() == (False, False)
    assert case not in selectors.restrictions_in_force()
