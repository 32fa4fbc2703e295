"""Fulfilment against the demo's real systems: the CRM and repairs databases (SQLite here;
PostgreSQL in the integration tests), the attendee and prospect lists (CSV) and the support
desk (HTTP), with Arta Krasniqi, the demo persona, and the other subjects beside her."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import sqlalchemy as sa
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django_fsm import TransitionNotAllowed

from casework import services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import AuditEvent, Case, State
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
    """Her request, verified, gathered from every demo system (in-process)."""
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
        # The lists know her by e-mail, or only by name and company (no e-mail written).
        return ARTA.email in line or (ARTA.full_name in line and ARTA.company in line)
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


def erased_by_plan(case, alice, bob, *, decision: str = "erase", others_told: bool = True) -> Case:
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
    return carried_out(case, others_told=others_told)


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
    # The verification scan searched every system again and found only what the plan keeps.
    assert plan.verification_clean is True
    assert {slug: v["unexpected_count"] for slug, v in plan.verification.items()} == {
        "crm": 0,
        "repairs": 0,
        "supportdesk": 0,
        "events": 0,
    }
    # Found again: her masked account with the orders and lines kept, her masked repairs
    # customer; nothing at the desk or in the lists.
    assert plan.verification["crm"]["found"] == 1 + orders + left["crm.order_lines"]
    assert plan.verification["repairs"]["found"] == 1


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


def approved_and_carried_out(case, submitter, approver) -> Case:
    case = services.complete_review(case=case, actor=Actor.staff(submitter))
    plan = services.case_draft_plan(case=case, actor=Actor.staff(submitter))
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    services.plan_submit(plan=plan, actor=Actor.staff(submitter))
    case = services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(approver))
    return carried_out(case)


def test_a_restriction_marks_her_records_restricted_wherever_a_system_can(
    demo, make_case, alice, bob, client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from casework import selectors

    ids = her_ids(demo)
    case = gathered(make_case, django_capture_on_commit_callbacks, "restriction")
    case = approved_and_carried_out(case, alice, bob)
    after = snapshot(demo)
    flagged = {
        table: {json.loads(r)["restricted"] for r in rows if is_hers(table, r, ids)}
        for table, rows in after.items()
        if not table.endswith(".csv") and rows and "restricted" in json.loads(rows[0])
    }
    assert flagged["crm.accounts"] == {1} and flagged["repairs.customers"] == {1}
    assert flagged["supportdesk.customers"] == {1}
    others_flagged = [
        table
        for table, rows in others(after, ids).items()
        if not table.endswith(".csv")
        for r in rows
        if json.loads(r).get("restricted") not in (None, 0, False)
    ]
    assert others_flagged == []
    # The attendee list cannot hold a flag: a person marks it, and the case waits for them.
    plan = case.plans.get(state="approved")
    waiting = plan.actions.filter(state="waiting")
    assert [a.system.slug for a in waiting] == ["events"] and plan.executed_at is None
    assert case not in selectors.restrictions_in_force()
    services.action_confirm(action=waiting.get(), actor=Actor.staff(bob), note="Row starred")
    assert fulfilment.execute(plan.pk) == "nothing to run"
    assert list(selectors.restrictions_in_force()) == [case]
    # The privacy team finds restrictions in force among the cases.
    unrestricted = make_case(email="besnik@vlora.example", request_type="restriction")
    client.force_login(alice)
    listed = client.get(reverse("admin:casework_case_changelist") + "?restricted=yes")
    assert case.reference in listed.content.decode()
    assert unrestricted.reference not in listed.content.decode()


def pdf_words(pdf: bytes) -> str:
    import io

    import pypdf

    return " ".join(
        " ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    )


def restriction_flags(folder, ids) -> dict[str, set]:
    """Her records' restriction flags, per table that has one."""
    return {
        table: {json.loads(r)["restricted"] for r in rows if is_hers(table, r, ids)}
        for table, rows in snapshot(folder).items()
        if not table.endswith(".csv") and rows and "restricted" in json.loads(rows[0])
    }


def test_a_restriction_is_lifted_only_after_she_is_told_and_then_wherever_it_was_set(
    demo, make_case, alice, bob, mailoutbox, django_capture_on_commit_callbacks
):
    from casework import selectors
    from casework.engine.gathering import delete_gathered_records
    from casework.models import ConnectorRun, Notice
    from casework.notifications import notify_subject

    ids = her_ids(demo)
    case = gathered(make_case, django_capture_on_commit_callbacks, "restriction")
    case = approved_and_carried_out(case, alice, bob)
    waiting = case.plans.get(state="approved").actions.get(state="waiting")
    services.action_confirm(action=waiting, actor=Actor.staff(bob), note="Row starred")
    assert fulfilment.execute(waiting.plan_id) == "nothing to run"
    fulfilment.verify(waiting.plan_id)  # queued on commit, which tests do not run
    with pytest.raises(TransitionNotAllowed):  # the case is not answered yet
        services.case_lift_restriction(case=case, actor=Actor.staff(alice), reason="Settled")
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    case = services.case_fulfil(case=case, actor=Actor.staff(alice))
    # Months later our copies of her records are gone; the restriction still knows its own.
    delete_gathered_records(ConnectorRun.objects.filter(case=case))

    with django_capture_on_commit_callbacks() as queued:
        plan = services.case_lift_restriction(
            case=case, actor=Actor.staff(alice), reason="The accuracy you contested is verified."
        )
    assert len(queued) == 2  # the notice, and the drafting
    assert fulfilment.draft(plan.pk) == "drafted"
    plan.refresh_from_db()
    assert plan.state == "draft"  # drafted, but she has not been told: nothing changes yet
    assert {a.system.slug for a in plan.actions.all()} == {
        "crm",
        "repairs",
        "supportdesk",
        "events",
    }
    assert restriction_flags(demo, ids)["crm.accounts"] == {1}
    assert fulfilment.execute(plan.pk) == "not approved"

    mailoutbox.clear()
    with django_capture_on_commit_callbacks() as queued:
        notify_subject(Case.objects.get(pk=case.pk), Notice.LIFTING)
    (message,) = mailoutbox
    assert message.to == [ARTA.email]
    assert "The accuracy you contested is verified." in message.body
    ((name, pdf, _kind),) = message.attachments
    assert name == f"{case.reference}-lifting.pdf"
    assert "The accuracy you contested is verified." in pdf_words(pdf)
    plan.refresh_from_db()
    assert plan.state == "approved" and plan.approved_by == alice
    assert len(queued) == 1  # its execution
    while fulfilment.execute(plan.pk) not in ("nothing to run", "failed"):
        pass
    flags = restriction_flags(demo, ids)
    assert flags["crm.accounts"] == {0} and flags["repairs.customers"] == {0}
    assert flags["supportdesk.customers"] == {0}
    # The attendee list is lifted by hand, as it was marked; until then it is in force.
    assert case in selectors.restrictions_in_force()
    lifted_by_hand = plan.actions.get(state="waiting")
    assert lifted_by_hand.system.slug == "events"
    services.case_confirm_manual_action(
        case=case, actor=Actor.staff(bob), action=str(lifted_by_hand.position), note="Unstarred"
    )
    assert fulfilment.execute(plan.pk) == "nothing to run"
    assert case not in selectors.restrictions_in_force()
    assert AuditEvent.objects.filter(case=case, action="restriction.lifted").count() == 1
    with pytest.raises(ValidationError, match="No restriction"):
        services.case_lift_restriction(case=case, actor=Actor.staff(alice), reason="Again")


def test_a_marketing_objection_is_honoured_and_survives_a_later_erasure(
    demo, make_case, alice, bob, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case,
        django_capture_on_commit_callbacks,
        "objection",
        details={"direct_marketing": True, "processing": "Newsletters"},
    )
    case = approved_and_carried_out(case, alice, alice)  # always honoured: one person
    plan = case.plans.get(state="approved")
    # By hand: only the repair history, which the register uses for tailored information; not
    # the event lists or the repairs customer record, which no marketing reads.
    manual = plan.actions.filter(manual=True)
    assert sorted(manual.values_list("target", flat=True)) == ["repairs", "warranties"]
    for action in manual:
        services.action_confirm(action=action, actor=Actor.staff(bob), note="Marked no-contact")
    assert fulfilment.execute(plan.pk) == "nothing to run"
    plan.refresh_from_db()
    assert plan.executed_at is not None
    listed = snapshot(demo)
    assert [r for r in listed["crm.marketing_suppressions"] if ARTA.email in r]
    assert [r for r in listed["supportdesk.suppressions"] if ARTA.email in r]
    subscriptions = [
        json.loads(r)
        for r in listed["crm.marketing_subscriptions"]
        if is_hers("crm.marketing_subscriptions", r, her_ids(demo))
    ]
    assert subscriptions and all(s["unsubscribed_at"] for s in subscriptions)

    erasure = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    erased_by_plan(erasure, alice, bob)
    after = snapshot(demo)
    assert [r for r in after["crm.marketing_suppressions"] if ARTA.email in r]
    assert [r for r in after["supportdesk.suppressions"] if ARTA.email in r]


def li_objection(make_case, capture, alice) -> Case:
    """Her objection to profiling (legitimate interests), gathered and reviewed."""
    case = gathered(
        make_case,
        capture,
        "objection",
        details={"direct_marketing": False, "processing": "Profiling for offers"},
    )
    return services.complete_review(case=case, actor=Actor.staff(alice))


def test_an_objection_to_legitimate_interests_is_stopped_once_the_dpo_decides_so(
    demo, make_case, alice, bob, dora, client, mailoutbox, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from casework import operations
    from casework.models import PortalToken
    from casework.portal import services as portal_services

    case = li_objection(make_case, django_capture_on_commit_callbacks, alice)
    token = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    page = client.get(reverse("portal:status", kwargs={"token": token})).content.decode()
    # While the DPO decides, she is offered a restriction of the use of her data.
    assert "Ask for a restriction meanwhile" in page
    form = client.get(reverse("portal:request") + "?type=restriction&ground=d").content.decode()
    assert 'value="restriction" id="id_request_type_3" required checked' in form
    assert 'value="d" id="id_restriction_ground_3" checked' in form
    with pytest.raises(ValidationError, match="decided by the DPO first"):
        services.case_draft_plan(case=case, actor=Actor.staff(alice))
    decide = operations.get("decide_objection")
    assert not decide.offered(case, Actor.staff(alice))  # the DPO's decision
    case = services.case_decide_objection(
        case=case,
        actor=Actor.staff(dora),
        outcome="stop",
        reason="Your interests outweigh what profiling gives us.",
    )
    assert not decide.offered(case, Actor.staff(dora))  # decided once
    page = client.get(reverse("portal:status", kwargs={"token": token})).content.decode()
    assert "Ask for a restriction meanwhile" not in page

    plan = services.case_draft_plan(case=case, actor=Actor.staff(alice))
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    plan.refresh_from_db()
    assert plan.intent == "object"
    # Only the systems holding what the register processes on legitimate interests, by hand.
    actions = list(plan.actions.all())
    assert actions and all(a.manual and a.strategy == "stop_processing" for a in actions)
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    case = services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    case = carried_out(case)
    for action in plan.actions.filter(state="waiting"):
        services.action_confirm(action=action, actor=Actor.staff(bob), note="Left out of profiling")
    assert fulfilment.execute(plan.pk) == "nothing to run"
    fulfilment.verify(plan.pk)
    case = services.case_record_response(
        case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice)
    )
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    (message,) = mailoutbox
    ((_name, pdf, _kind),) = message.attachments
    words = pdf_words(pdf)
    assert "decided that we stop this processing" in words
    assert "Your interests outweigh what profiling gives us." in words
    assert AuditEvent.objects.get(case=case, action="objection.decided").details == {
        "outcome": "stop"
    }


def test_compelling_grounds_refuse_the_objection_and_she_is_told_why_and_how_to_complain(
    demo, make_case, alice, dora, mailoutbox, django_capture_on_commit_callbacks
):
    case = li_objection(make_case, django_capture_on_commit_callbacks, alice)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_decide_objection(
            case=case,
            actor=Actor.staff(dora),
            outcome="compelling",
            reason="The checks protect customers against fraud.",
        )
    assert case.state == State.REJECTED
    (message,) = mailoutbox
    ((_name, pdf, _kind),) = message.attachments
    words = pdf_words(pdf)
    assert "compelling legitimate grounds" in words
    assert "The checks protect customers against fraud." in words
    assert "Complaints and remedies" in words
    assert not case.plans.exists()


def test_a_rectification_changes_exactly_the_approved_fields(
    demo, make_case, alice, bob, django_capture_on_commit_callbacks
):
    ids = her_ids(demo)
    before = snapshot(demo)
    case = gathered(make_case, django_capture_on_commit_callbacks, "rectification")
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    plan = services.case_draft_plan(
        case=case, actor=Actor.staff(alice), corrections="job_title: Head of printing"
    )
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    case = services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    case = carried_out(case)
    after = snapshot(demo)
    changed = {
        table
        for table in before
        if [r for r in before[table] if is_hers(table, r, ids)]
        != [r for r in after[table] if is_hers(table, r, ids)]
    }
    assert changed == {"crm.accounts"}
    assert others(after, ids) == others(before, ids)
    (old,) = [json.loads(r) for r in before["crm.accounts"] if is_hers("crm.accounts", r, ids)]
    (new,) = [json.loads(r) for r in after["crm.accounts"] if is_hers("crm.accounts", r, ids)]
    assert {k for k in old if old[k] != new[k]} == {"position"}
    assert new["position"] == "Head of printing"
    plan = case.plans.get(state="approved")
    assert plan.executed_at is not None and plan.verification_clean is True


def test_the_completed_erasure_is_answered_with_a_letter_of_what_was_done_and_kept(
    demo, make_case, alice, bob, django_capture_on_commit_callbacks, mailoutbox
):
    import io

    import pypdf

    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    case = erased_by_plan(case, alice, bob)
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    (message,) = mailoutbox
    ((name, pdf, kind),) = message.attachments
    assert (name, kind) == (f"{case.reference}-erasure.pdf", "application/pdf")
    text = " ".join(
        " ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    )
    assert "Your request for erasure: what we have done" in text
    assert "your personal data removed from 1 record that we keep" in text
    erased = sum(
        len(a.results)
        for a in case.plans.get(state="approved").actions.filter(
            system__slug="crm", strategy="delete"
        )
    )
    assert f"CRM and customer portal: {erased} records erased." in text  # tables added up
    assert "Event attendee lists: 1 record erased." in text
    assert text.count("Purchase information") == 1  # kept, and why: once per kind of data
    assert "invoicing, tax and warranty purposes. Until about" in text


def test_the_status_page_tells_what_was_done_and_offers_the_letter(
    demo, make_case, alice, bob, client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from casework.models import PortalToken
    from casework.portal import services as portal_services

    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    case = erased_by_plan(case, alice, bob)
    token = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    page = client.get(reverse("portal:status", kwargs={"token": token})).content.decode()
    assert "What we have done" not in page  # not before the case is complete
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    services.case_fulfil(case=case, actor=Actor.staff(alice))
    page = client.get(reverse("portal:status", kwargs={"token": token})).content.decode()
    assert "What we have done" in page
    assert "Event attendee lists: 1 record erased." in page
    assert "Purchase information" in page
    letter = client.get(reverse("portal:status_letter", kwargs={"token": token}))
    assert letter["Content-Type"] == "application/pdf"
    assert letter.content.startswith(b"%PDF")


def test_a_rectification_is_drafted_from_what_the_subject_asked_shown_beside_what_systems_hold(
    demo, make_case, alice, client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from casework import operations

    asked = [
        {"field": "Job title", "current": ARTA.position, "correct": "Head of printing"},
        {"field": "My favourite colour", "current": "", "correct": "blue"},
    ]
    case = gathered(
        make_case,
        django_capture_on_commit_callbacks,
        "rectification",
        details={"corrections": asked},
    )
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    draft = operations.get("draft_plan")
    form = operations.OperationForm(operation=draft, case=case)
    assert form.fields["corrections"].initial == "job_title: accept\nMy favourite colour: refuse:"
    # A field no system holds is refused, naming the fields that can be corrected.
    with pytest.raises(ValidationError, match="No system holds a field favourite_colour"):
        services.case_draft_plan(
            case=case,
            actor=Actor.staff(alice),
            corrections="job_title: accept\nfavourite_colour: blue",
        )
    # Words that name no field are refused (with a reason) or made under the field meant.
    with pytest.raises(ValidationError, match="“My favourite colour” names no field"):
        services.case_draft_plan(
            case=case, actor=Actor.staff(alice), corrections="job_title: Head of printing"
        )
    plan = services.case_draft_plan(
        case=case,
        actor=Actor.staff(alice),
        corrections="job_title: Head of printing\n"
        "my favourite colour: refuse: We hold no record of a favourite colour.",
    )
    assert plan.refused_corrections == {
        "My favourite colour": "We hold no record of a favourite colour."
    }
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_plan", args=[case.pk, "latest"]))
    text = page.content.decode()
    assert "Corrections asked for" in text and "My favourite colour" in text
    assert "no field matched" in text
    assert "What the systems hold now" in text and ARTA.position in text
    assert "set position in 1 record of accounts" in text


def test_a_refused_correction_is_told_with_its_reason_and_an_edited_value_is_what_the_system_gets(
    demo, make_case, alice, bob, client, django_capture_on_commit_callbacks, mailoutbox
):
    import io

    import pypdf
    from django.urls import reverse

    from casework.models import AuditEvent, PortalToken
    from casework.portal import services as portal_services

    ids = her_ids(demo)
    before = snapshot(demo)
    reason = "The number you gave is a private line, not one of your business."
    asked = [
        {"field": "Job title", "current": ARTA.position, "correct": "head of printing"},
        {"field": "business phone", "current": ARTA.phone, "correct": "+355 69 000 1111"},
    ]
    case = gathered(
        make_case,
        django_capture_on_commit_callbacks,
        "rectification",
        details={"corrections": asked},
    )
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    plan = services.case_draft_plan(
        case=case,
        actor=Actor.staff(alice),
        corrections=f"job_title: Head of Printing\nbusiness_phone: refuse: {reason}",
    )
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    plan.refresh_from_db()
    assert plan.corrections == {"job_title": "Head of Printing"}
    assert plan.refused_corrections == {"business_phone": reason}
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    # The approver sees each decision: the value edited, the refusal and its reason.
    client.force_login(bob)
    page = client.get(reverse("admin:casework_case_plan", args=[case.pk, "latest"]))
    decided = page.content.decode().split('id="corrections-decided"')[1]
    assert "corrected to another value (asked: head of printing)" in decided
    assert "Head of Printing" in decided and reason in decided
    case = services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    case = carried_out(case)

    after = snapshot(demo)
    changed = {
        table
        for table in before
        if [r for r in before[table] if is_hers(table, r, ids)]
        != [r for r in after[table] if is_hers(table, r, ids)]
    }
    assert changed == {"crm.accounts"}  # the phone, refused, is nowhere changed
    (old,) = [json.loads(r) for r in before["crm.accounts"] if is_hers("crm.accounts", r, ids)]
    (new,) = [json.loads(r) for r in after["crm.accounts"] if is_hers("crm.accounts", r, ids)]
    assert {k for k in old if old[k] != new[k]} == {"position"}
    assert new["position"] == "Head of Printing"  # the edited value, not the one asked

    # The trail names fields (per system, once changed), never a value.
    requested = AuditEvent.objects.get(case=case, action="plan.requested")
    assert requested.details["edited"] == ["job_title"]
    assert requested.details["refused"] == ["business_phone"]
    done = AuditEvent.objects.get(case=case, action="plan.action_done", details__system="crm")
    assert done.details["fields"] == ["job_title"]
    trail = json.dumps([e.details for e in AuditEvent.objects.filter(case=case)])
    for value in ("Head of Printing", "head of printing", "+355 69 000 1111", reason):
        assert value not in trail

    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    (message,) = mailoutbox
    ((_name, pdf, _kind),) = message.attachments
    text = " ".join(
        " ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    )
    assert "CRM and customer portal: corrected (Position in the business)." in text
    assert "We have not made the following corrections, for the reasons given:" in text
    assert "Business phone number" in text and reason in text

    token = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    status = client.get(reverse("portal:status", kwargs={"token": token})).content.decode()
    refused = status.split('class="outcome-refused"')[1]
    assert "Business phone number" in refused and reason in refused


def test_the_erasure_letter_names_the_processors_the_backup_dates_and_each_recipient_told(
    demo, make_case, alice, bob, client, django_capture_on_commit_callbacks, mailoutbox
):
    import datetime as dt

    from django.urls import reverse
    from django.utils.formats import date_format

    from casework import deadlines
    from casework.models import PortalToken, ProcessorInstruction
    from casework.portal import services as portal_services
    from casework.services import processors

    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    case = erased_by_plan(case, alice, bob, others_told=False)
    # The support desk is run for us by a hosting partner: it is instructed, and confirms.
    (instruction,) = ProcessorInstruction.objects.filter(case=case)
    assert (instruction.system.slug, instruction.processor) == (
        "supportdesk",
        "Adriatik Hosting Sh.p.k.",
    )
    instruction = processors.instruction_confirm(
        instruction=instruction, actor=Actor.staff(bob), note="Their DPO confirmed by e-mail"
    )
    # Her data was found in the CRM (disclosed to group companies and marketing providers)
    # and the repairs system (disclosed to service partners).
    for code, outcome, reason in (
        ("group_companies", "sent", ""),
        ("marketing_lead_survey_providers", "disproportionate", "The 2023 campaign list is gone."),
        ("vendors_subcontractors", "impossible", "The partner has closed."),
    ):
        processors.case_record_recipient_notice(
            case=case, actor=Actor.staff(alice), recipient=code, outcome=outcome, reason=reason
        )
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    (message,) = mailoutbox
    ((_name, pdf, _kind),) = message.attachments
    text = pdf_words(pdf)
    assert "We have told each recipient" not in text
    confirmed = date_format(deadlines.local_date(instruction.confirmed_at), "j F Y")
    assert (
        "Support desk is run for us by Adriatik Hosting Sh.p.k.: we instructed them to make the "
        f"same change, and they confirmed it on {confirmed}." in text
    )
    executed = deadlines.local_date(case.plans.get(state="approved").executed_at)
    for system, days in (("CRM and customer portal", 35), ("Repairs and warranty system", 30)):
        date = date_format(executed + dt.timedelta(days=days), "j F Y")
        assert f"{system}: the copies in its backups are overwritten by {date}." in text
    assert "Canon group companies We told them of the change on" in text
    assert (
        "We have not told them, as it would involve disproportionate effort: The 2023 campaign "
        "list is gone." in text
    )
    assert "Vendors and subcontractors We could not tell them: The partner has closed." in text
    # The status page says the same.
    token = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    page = client.get(reverse("portal:status", kwargs={"token": token})).content.decode()
    assert "Adriatik Hosting Sh.p.k." in page
    assert "The partner has closed." in page


def add_web_visit(folder, account: int) -> None:
    """A visit of hers to the portal, recorded in the CRM (a copy of one of her web events)."""
    crm = sa.create_engine(f"sqlite:///{folder / 'crm.sqlite3'}")
    with crm.begin() as conn:
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(web_events)")]
        rest = ", ".join(f'"{c}"' for c in columns if c != "id")
        conn.exec_driver_sql(
            f'INSERT INTO web_events ("id", {rest}) SELECT (SELECT max(id) + 1 FROM web_events), '
            f"{rest} FROM web_events WHERE account_id = ? LIMIT 1",
            (account,),
        )
    crm.dispose()


def test_a_record_that_appears_during_an_erasure_is_searched_again_and_erased_by_a_new_plan(
    demo, make_case, alice, bob, dora, django_capture_on_commit_callbacks
):
    ids = her_ids(demo)
    before = snapshot(demo)
    case = gathered(make_case, django_capture_on_commit_callbacks, "erasure")
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    plan = services.case_draft_plan(case=case, actor=Actor.staff(alice))
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    plan.refresh_from_db()
    review = list(plan.kept.filter(verdict="review").values_list("pk", flat=True))
    plan = services.plan_decide_keeps(
        plan=plan, actor=Actor.staff(alice), keep_ids=review, decision="erase"
    )
    assert fulfilment.draft(plan.pk) == "drafted", plan.error
    plan.refresh_from_db()
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    # She visits the portal again after the plan was drafted: the plan does not know it.
    (account,) = ids["account"]
    add_web_visit(demo, account)
    case = carried_out(
        services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    )
    plan.refresh_from_db()
    assert plan.verification_clean is False and plan.verification["crm"]["unexpected_count"] == 1
    assert plan.flagged
    after_first = snapshot(demo)

    with django_capture_on_commit_callbacks(execute=True):
        services.case_search_again(case=case, actor=Actor.staff(alice))
    case = Case.objects.get(pk=case.pk)
    # Searched again; what the first gathering found to be hers is still hers (her masked
    # account answers only to her customer number now): nothing waits for a decision.
    assert (case.state, case.gathering) == (State.IN_REVIEW, 2)
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    second = services.case_draft_plan(case=case, actor=Actor.staff(alice))
    assert fulfilment.draft(second.pk) == "drafted", second.error
    second.refresh_from_db()
    assert second.number == 3  # plan 2 was the draft superseded by the decision to erase
    # Only the new visit is erased; what the rules keep stays kept; what plan 1 masked is
    # not masked again.
    assert [(a.target, a.strategy, a.records) for a in second.actions.all()] == [
        ("web_events", "delete", 1)
    ]
    assert set(second.kept.values_list("rule_code", flat=True)) == {"purchase_records"}
    assert second.kept.count() == plan.kept.exclude(decision="erase").count()
    services.plan_submit(plan=second, actor=Actor.staff(alice))
    case = carried_out(
        services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(dora))
    )
    second.refresh_from_db()
    assert second.verification_clean is True
    after = snapshot(demo)
    # Exactly her new visit went; nobody else's rows were touched.
    changed = {t for t in after if after[t] != after_first[t]}
    assert changed == {"crm.web_events"}
    assert len(after_first["crm.web_events"]) - len(after["crm.web_events"]) == 1
    assert others(after, ids) == others(before, ids)
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    assert services.case_fulfil(case=case, actor=Actor.staff(alice)).state == State.COMPLETED
