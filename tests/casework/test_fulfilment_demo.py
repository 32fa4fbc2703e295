"""Fulfilment against the demo's real systems: the CRM and repairs databases (SQLite here;
PostgreSQL in the integration tests), the attendee and prospect lists (CSV) and the support
desk (HTTP), with Arta Krasniqi, the demo persona, and the other subjects beside her."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import sqlalchemy as sa
from django.core.management import call_command

from casework import services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import Case, State
from dsar.demo.loader import ARTA
from dsar.models import SourceSystem
from tests.casework.helpers import carried_out

pytestmark = pytest.mark.django_db
TOKEN = "demo-desk-token-for-tests-0123456789"


@pytest.fixture
def demo(settings, tmp_path, monkeypatch):
    from dsar.demo.supportdesk import serve

    settings.VAR_DIR = tmp_path
    call_command("load_demo", "--subjects", "5", "--backend", "sqlite", stdout=StringIO())
    monkeypatch.setenv("SUPPORTDESK_TOKEN", TOKEN)
    server, thread = serve("127.0.0.1", 0, tmp_path / "demo" / "supportdesk.sqlite3", TOKEN)
    desk = SourceSystem.objects.get(slug="supportdesk")
    desk.config["base_url"] = server.url
    desk.save()
    yield tmp_path / "demo"
    server.stop()
    thread.join(timeout=5)


def gathered(make_case, capture, request_type: str, **intake) -> Case:
    case = make_case(email=ARTA.email, name=ARTA.full_name, request_type=request_type, **intake)
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return case


def snapshot(folder) -> dict[str, list]:
    """Every row of the demo's SQL databases, the desk and the lists, as text."""
    tables: dict[str, list] = {}
    for name in ("crm", "repairs", "supportdesk"):
        engine = sa.create_engine(f"sqlite:///{folder / (name + '.sqlite3')}")
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                result = conn.exec_driver_sql(f'SELECT * FROM "{table}"')
                columns = list(result.keys())
                tables[f"{name}.{table}"] = sorted(
                    (
                        json.dumps(dict(zip(columns, row, strict=True)), default=str)
                        for row in result
                    ),
                )
        engine.dispose()
    for path in sorted(folder.rglob("*.csv")):
        tables[str(path.relative_to(folder))] = sorted(path.read_text().splitlines())
    return tables


def her_ids(folder) -> dict[str, set]:
    """Her keys in the demo: the CRM account and its orders, the repairs customer number, the
    desk's customer id."""
    crm = sa.create_engine(f"sqlite:///{folder / 'crm.sqlite3'}")
    with crm.connect() as conn:
        account = conn.exec_driver_sql(
            "SELECT id FROM accounts WHERE customer_no = ?", (ARTA.customer_no,)
        ).scalar()
        orders = {
            r[0]
            for r in conn.exec_driver_sql("SELECT id FROM orders WHERE account_id = ?", (account,))
        }
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


def is_hers(table: str, line: str, ids: dict[str, set]) -> bool:
    if table.endswith(".csv"):
        return ARTA.email in line
    row = json.loads(line)
    if table == "crm.accounts":
        return row["id"] in ids["account"]
    if table == "crm.order_lines":
        return row["order_id"] in ids["orders"]
    if table.startswith("crm.") and "account_id" in row:
        return row["account_id"] in ids["account"]
    if table.startswith("repairs."):
        return row.get("customer_no") == ARTA.customer_no
    if table == "supportdesk.customers":
        return row["id"] in ids["desk"]
    if table.startswith("supportdesk.") and "customer_id" in row:
        return row["customer_id"] in ids["desk"]
    return False


def others(tables: dict[str, list], ids) -> dict[str, list]:
    return {t: [r for r in rows if not is_hers(t, r, ids)] for t, rows in tables.items()}


def erased_by_plan(case, alice, bob, *, decision: str = "erase") -> Case:
    """Review complete, plan drafted; the records left to a person decided; submitted by
    Alice, approved by Bob and carried out."""
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    plan = services.case_draft_plan(case=case, actor=Actor.staff(alice))
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    plan.refresh_from_db()
    review = list(plan.kept.filter(verdict="review").values_list("pk", flat=True))
    assert review  # her enquiries: kept while needed to defend a legal claim, unless decided
    plan = services.plan_decide_keeps(
        plan=plan, actor=Actor.staff(alice), keep_ids=review, decision=decision
    )
    if plan.state != "draft":
        assert fulfilment.draft(plan.pk) == "drafted", plan.error
        plan.refresh_from_db()
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    case = services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    return carried_out(case)


def test_arta_is_erased_everywhere_except_what_the_rules_keep_and_nobody_else_is_touched(
    demo, make_case, alice, bob, django_capture_on_commit_callbacks
):
    ids = her_ids(demo)
    before = snapshot(demo)
    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    case = erased_by_plan(case, alice, bob)
    plan = case.plans.get(state="approved")
    assert plan.executed_at is not None
    assert set(plan.actions.values_list("state", flat=True)) == {"done"}
    after = snapshot(demo)
    # Everyone else's rows are exactly as they were.
    assert others(after, ids) == others(before, ids)
    # Hers: gone from the lists, the desk, her events, web visits, surveys and repairs ...
    left = {t: len(rows) - len(others(after, ids)[t]) for t, rows in after.items()}
    assert {t: n for t, n in left.items() if n} == {
        "crm.accounts": 1,  # masked, below
        "crm.orders": len(ids["orders"]),  # kept for invoicing, tax and warranty
        "crm.order_lines": left["crm.order_lines"],
        "repairs.customers": 1,  # masked
    }
    assert left["crm.order_lines"] >= 1
    # ... her account masked (the orders kept for invoicing and tax still point at it) ...
    crm = sa.create_engine(f"sqlite:///{demo / 'crm.sqlite3'}")
    with crm.connect() as conn:
        account = conn.exec_driver_sql(
            "SELECT full_name, email, phone FROM accounts WHERE customer_no = ?",
            (ARTA.customer_no,),
        ).one()
        orders = conn.exec_driver_sql(
            "SELECT count(*) FROM orders WHERE account_id = "
            "(SELECT id FROM accounts WHERE customer_no = ?)",
            (ARTA.customer_no,),
        ).scalar()
    crm.dispose()
    assert account[0] == "[erased]" and account[1].startswith("sha256:") and account[2] is None
    # ... and her orders kept, each with the rule that keeps it.
    assert orders >= 1
    kept = set(plan.kept.values_list("rule_code", flat=True))
    assert kept == {"purchase_records"}


def test_an_executed_plan_run_again_changes_nothing(
    demo, make_case, alice, bob, django_capture_on_commit_callbacks
):
    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    case = erased_by_plan(case, alice, bob)
    once = snapshot(demo)
    plan = case.plans.get(state="approved")
    plan.actions.update(state="pending", results={})
    for action in plan.actions.order_by("position"):
        assert fulfilment.apply_action(action.pk) == "done"
    assert snapshot(demo) == once
    outcomes = {o for a in plan.actions.all() for o in a.results.values()}
    assert outcomes <= {"already_done", "missing"}


def test_kept_correspondence_stays_when_a_person_decides_to_keep_it(
    demo, make_case, alice, bob, django_capture_on_commit_callbacks
):
    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    ids = her_ids(demo)
    before = snapshot(demo)
    case = erased_by_plan(case, alice, bob, decision="keep")
    after = snapshot(demo)
    for table in ("crm.enquiries", "supportdesk.customers", "supportdesk.tickets"):
        kept = [r for r in after[table] if is_hers(table, r, ids)]
        assert kept and kept == [r for r in before[table] if is_hers(table, r, ids)], table
    plan = case.plans.get(state="approved")
    assert plan.number == 1  # keeping changes nothing else: no new draft
    assert set(plan.kept.filter(verdict="review").values_list("decision", flat=True)) == {"keep"}
