"""Fulfilment plans: drafted from the records review left in under the retention rules,
submitted by one person and approved by another, carried out action by action, exactly once.

The system here is a small real one kept in a JSON file (tests/casework/sources.py,
`LedgerConnector`); the SQL, HTTP and file connectors' change sides have tests of their own,
and the integration tests run the whole path against the demo systems with a real worker."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from casework import operations, services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import AuditEvent, Case, FulfilmentAction, FulfilmentPlan, State
from dsar.models import RetentionRule
from dsar.retention import add_months
from tests.casework.helpers import carried_out
from tests.casework.sources import ledger_system

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"
OTHER_ARTA = "arta.k@other.example"
TODAY = timezone.localdate()


def days_ago(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def rows() -> dict:
    """Arta's rows under rules of the default register, and another Arta's."""
    return {
        # online_account: kept while active (active_relationship)
        "account:1": {"category": "online_account", "email": ARTA, "status": "closed"},
        # purchases: kept for the period (purchase_records, 72 months)
        "order:7": {"category": "purchases", "email": ARTA, "dated": days_ago(400)},
        "order:2": {"category": "purchases", "email": ARTA, "dated": "2015-03-01"},
        # fulfilment: an open repair (active_relationship)
        "repair:3": {"category": "fulfilment", "email": ARTA, "status": "open"},
        # events: erased on request (needed_for_purpose)
        "event:5": {"category": "events", "email": ARTA, "values": {"diet": "vegetarian"}},
        "event:6": {"category": "events", "email": ARTA, "source": "paper"},
        # prospects: erased, with a suppression record (marketing_suppression)
        "prospect:9": {"category": "prospects", "email": ARTA},
        # the other Arta: never touched
        "event:8": {"category": "events", "email": OTHER_ARTA},
    }


@pytest.fixture
def ledger(tmp_path, settings, db):
    settings.DSAR_CONNECTORS = {
        **settings.DSAR_CONNECTORS,
        "ledger": "tests.casework.sources.LedgerConnector",
    }
    call_command("load_data_map", stdout=open("/dev/null", "w"))  # noqa: SIM115
    path = tmp_path / "ledger.json"
    ledger_system(path, rows(), counter=str(tmp_path / "faults"))
    return path


def ledger_data(path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def reviewed_erasure(ledger, make_case, alice, django_capture_on_commit_callbacks):
    case = make_case(email=ARTA, request_type="erasure")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return services.complete_review(case=case, actor=Actor.staff(alice))


def drafted(case, by) -> FulfilmentPlan:
    plan = services.case_draft_plan(case=case, actor=Actor.staff(by))
    assert fulfilment.draft(plan.pk) == "drafted"
    plan.refresh_from_db()
    return plan


def test_the_dry_run_erases_what_no_rule_keeps_and_says_why_the_rest_is_kept(
    reviewed_erasure, alice, ledger
):
    plan = drafted(reviewed_erasure, alice)
    assert plan.state == FulfilmentPlan.State.DRAFT
    kept = {k.record_key: (k.rule_code, k.ground) for k in plan.kept.all()}
    assert kept == {
        "order:7": ("purchase_records", "rule"),
        "repair:3": ("active_relationship", "active"),
    }
    actions = [(a.strategy, a.target, a.change["keys"], a.manual) for a in plan.actions.all()]
    assert actions == [
        ("suppress", "suppressions", [ARTA], False),  # before anything is erased
        ("delete", "rows", ["account:1", "order:2", "event:5", "prospect:9"], False),
        ("delete", "paper", ["event:6"], True),
    ]
    # The dry run changed nothing.
    assert ledger_data(ledger)["rows"] == rows()
    event = AuditEvent.objects.get(case=reviewed_erasure, action="plan.drafted")
    assert event.details["records_kept"] == 2 and event.details["manual"] == 1


def test_a_kept_record_cites_the_rule_version_and_words_of_the_day_it_was_planned(
    reviewed_erasure, alice
):
    plan = drafted(reviewed_erasure, alice)
    rule = RetentionRule.objects.get(code="purchase_records")
    kept = plan.kept.get(record_key="order:7")
    assert (kept.rule_version, kept.reason_en) == (rule.version, rule.keep_reason_en)
    assert kept.until == add_months(dt.date.fromisoformat(days_ago(400)), 72)
    RetentionRule.objects.filter(pk=rule.pk).update(keep_reason_en="Edited", version=99)
    kept.refresh_from_db()
    assert kept.reason_en != "Edited" and kept.rule_version != 99


def test_the_submitter_never_approves_and_a_plan_changed_since_loses_its_submission(
    reviewed_erasure, alice, bob
):
    plan = drafted(reviewed_erasure, alice)
    plan = services.plan_submit(plan=plan, actor=Actor.staff(alice))
    with pytest.raises(ValidationError, match="submitted the plan cannot approve"):
        services.case_approve(case=reviewed_erasure, actor=Actor.staff(alice))
    plan.actions.filter(target="rows").update(
        change={"target": "rows", "strategy": "delete", "keys": ["event:8"]}
    )
    with pytest.raises(ValidationError, match="changed after it was submitted"):
        services.case_approve(case=reviewed_erasure, actor=Actor.staff(bob))
    assert Case.objects.get(pk=reviewed_erasure.pk).state == State.IN_REVIEW


def test_a_new_draft_supersedes_the_plan_not_yet_approved(reviewed_erasure, alice, bob):
    first = drafted(reviewed_erasure, alice)
    services.plan_submit(plan=first, actor=Actor.staff(alice))
    second = drafted(Case.objects.get(pk=reviewed_erasure.pk), alice)
    first.refresh_from_db()
    assert (first.state, second.number) == (FulfilmentPlan.State.SUPERSEDED, 2)
    with pytest.raises(ValidationError, match="No plan"):
        services.case_approve(case=reviewed_erasure, actor=Actor.staff(bob))


def approved(case, alice, bob) -> Case:
    plan = drafted(case, alice)
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    return services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))


def test_execution_applies_each_change_once_in_plan_order_and_leaves_the_rest(
    reviewed_erasure, alice, bob, ledger
):
    case = approved(reviewed_erasure, alice, bob)
    assert case.state == State.FULFILLING
    carried_out(case)
    data = ledger_data(ledger)
    assert sorted(data["rows"]) == ["event:6", "event:8", "order:7", "repair:3"]
    assert data["suppressed"] == [ARTA]
    assert data["applied"] == [ARTA, "account:1", "order:2", "event:5", "prospect:9"]
    plan = case.plans.get()
    states = dict(plan.actions.values_list("target", "state"))
    assert states == {"suppressions": "done", "rows": "done", "paper": "waiting"}
    assert plan.executed_at is None  # the paper file waits for its person


def test_running_an_executed_plan_again_changes_nothing(reviewed_erasure, alice, bob, ledger):
    case = carried_out(approved(reviewed_erasure, alice, bob))
    before = ledger_data(ledger)
    plan = case.plans.get()
    FulfilmentAction.objects.filter(plan=plan, manual=False).update(
        state=FulfilmentAction.State.PENDING
    )
    for action in plan.actions.filter(manual=False):
        assert fulfilment.apply_action(action.pk) == "done"
    assert ledger_data(ledger) == before  # every key had its outcome: nothing applied again


def test_a_fault_half_way_is_retried_and_continues_without_repeating(
    reviewed_erasure, alice, bob, ledger, tmp_path, settings
):
    settings.DSAR_RETRY_BACKOFF_BASE = 0
    from dsar.models import SourceSystem

    system = SourceSystem.objects.get(slug="ledger")
    system.config = {**system.config, "fail_on_key": "event:5"}
    system.save()
    (tmp_path / "faults").write_text("1")
    case = approved(reviewed_erasure, alice, bob)
    plan = case.plans.get()
    assert fulfilment.execute(plan.pk) == "done"  # the suppression
    assert fulfilment.execute(plan.pk) == "retrying"  # account:1 and order:2 were deleted
    rows_action = plan.actions.get(target="rows")
    assert rows_action.state == FulfilmentAction.State.PENDING
    assert rows_action.last_error_class == "TransientConnectorError"
    carried_out(case)
    data = ledger_data(ledger)
    assert data["applied"].count("account:1") == 1
    assert "event:5" not in data["rows"]


def test_a_failed_action_is_retried_by_staff_and_nothing_is_done_twice(
    reviewed_erasure, alice, bob, ledger, tmp_path, settings
):
    settings.DSAR_GATHER_MAX_ATTEMPTS = 1  # the first fault fails the action
    from dsar.models import SourceSystem

    system = SourceSystem.objects.get(slug="ledger")
    system.config = {**system.config, "fail_on_key": "event:5"}
    system.save()
    (tmp_path / "faults").write_text("1")
    case = approved(reviewed_erasure, alice, bob)
    plan = case.plans.get()
    assert fulfilment.execute(plan.pk) == "done"
    assert fulfilment.execute(plan.pk) == "failed"
    assert fulfilment.execute(plan.pk) == "nothing to run"  # waits for a person
    retry = operations.get("retry_actions")
    assert retry.offered(Case.objects.get(pk=case.pk), Actor.staff(alice))
    services.plan_retry(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    assert not retry.offered(Case.objects.get(pk=case.pk), Actor.staff(alice))
    carried_out(case)
    data = ledger_data(ledger)
    assert data["applied"] == [ARTA, "account:1", "order:2", "event:5", "prospect:9"]
    assert plan.actions.get(target="rows").state == FulfilmentAction.State.DONE


def test_a_withdrawn_case_stops_before_its_next_action(reviewed_erasure, alice, bob, ledger):
    case = approved(reviewed_erasure, alice, bob)
    plan = case.plans.get()
    assert fulfilment.execute(plan.pk) == "done"
    services.case_withdraw(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    assert fulfilment.execute(plan.pk) == "case not being fulfilled"
    assert "account:1" in ledger_data(ledger)["rows"]


def test_the_case_completes_only_when_every_action_is_done(reviewed_erasure, alice, bob):
    case = carried_out(approved(reviewed_erasure, alice, bob))
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    with pytest.raises(TransitionNotAllowed, match="changes have not all been made"):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    action = case.plans.get().actions.get(manual=True)
    services.action_confirm(action=action, actor=Actor.staff(alice), note="Shredded the sheet")
    assert fulfilment.execute(case.plans.get().pk) == "nothing to run"
    assert fulfilment.verify(case.plans.get().pk) == "clean"
    case.refresh_from_db()
    assert services.case_fulfil(case=case, actor=Actor.staff(alice)).state == State.COMPLETED


def test_the_verification_scan_flags_what_the_plan_does_not_keep_and_the_case_waits(
    reviewed_erasure, alice, bob, ledger, client
):
    case = approved(reviewed_erasure, alice, bob)
    plan = case.plans.get()
    # Meanwhile a new record of hers appears (a sign-up after the plan was drafted).
    data = ledger_data(ledger)
    data["rows"]["event:99"] = {"category": "events", "email": ARTA}
    ledger.write_text(json.dumps(data))
    carried_out(case)
    services.action_confirm(
        action=plan.actions.get(manual=True), actor=Actor.staff(alice), note="Shredded"
    )
    fulfilment.execute(plan.pk)
    assert fulfilment.verify(plan.pk) == "flagged"
    plan.refresh_from_db()
    assert plan.verification_clean is False
    assert plan.verification["ledger"]["unexpected"] == ["event:99"]
    assert plan.verification["ledger"]["kept"] == 3  # order:7, repair:3 and the paper row
    case = services.case_record_response(
        case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice)
    )
    with pytest.raises(TransitionNotAllowed, match="made and verified"):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    event = AuditEvent.objects.get(case=case, action="plan.verified")
    assert event.details["flagged"] == 1 and "event:99" not in str(event.details)
    client.force_login(alice)
    page = client.get(plan_url(case)).content.decode()
    assert "found what the plan does not keep" in page and "<code>event:99</code>" in page


def plan_url(case, number="latest") -> str:
    return reverse("admin:casework_case_plan", args=[case.pk, number])


# --- searching again after the verification scan flagged records -----------------------------


@pytest.fixture
def flagged(reviewed_erasure, alice, bob, ledger) -> Case:
    """Her erasure carried out (the paper row confirmed by hand), while a sign-up of hers
    arrived after the plan was drafted: the verification scan flags it."""
    case = approved(reviewed_erasure, alice, bob)
    data = ledger_data(ledger)
    data["rows"]["event:99"] = {"category": "events", "email": ARTA}
    ledger.write_text(json.dumps(data))
    carried_out(case)
    plan = case.plans.get()
    services.action_confirm(
        action=plan.actions.get(manual=True), actor=Actor.staff(alice), note="Shredded"
    )
    fulfilment.execute(plan.pk)
    assert fulfilment.verify(plan.pk) == "flagged"
    return Case.objects.get(pk=case.pk)


def search_again(case, by, capture, note: str = "") -> Case:
    """The `search_again` operation, its searches run in-process as a worker would."""
    with capture(execute=True):
        services.case_search_again(case=case, actor=Actor.staff(by), note=note)
    return Case.objects.get(pk=case.pk)


def test_a_flagged_erasure_is_searched_again_planned_again_and_completes(
    flagged, alice, bob, ledger, django_capture_on_commit_callbacks
):
    from casework import selectors
    from casework.selectors.review import records_left_in

    assert operations.get("search_again").offered(flagged, Actor.staff(alice))
    assert not operations.get("retry_actions").offered(flagged, Actor.staff(alice))
    case = search_again(
        flagged, alice, django_capture_on_commit_callbacks, note="A sign-up arrived late."
    )
    # Back through gathering to a new review; the four-eyes path runs again.
    assert (case.state, case.gathering) == (State.IN_REVIEW, 2)
    assert (case.review_completed_at, case.plan_prepared_by, case.approved_by) == (
        None,
        None,
        None,
    )
    event = AuditEvent.objects.get(case=case, action="case.gathering_again")
    assert (event.from_state, event.to_state) == (State.FULFILLING, State.GATHERING)
    assert event.details["plan"] == 1 and event.details["flagged"] == 1
    assert "sign-up" not in str(event.details)  # the note is kept apart, as a CaseNote
    # The first plan stays as history: approved, carried out, flagged.
    first = case.plans.get(number=1)
    assert (first.state, first.verification_clean) == (FulfilmentPlan.State.APPROVED, False)
    assert first.executed_at is not None
    # The new review is about what the ledger holds now, every subject searched afresh.
    left = {kept.key for kept in records_left_in(case)}
    assert left == {"order:7", "repair:3", "event:6", "event:99"}
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    second = drafted(case, alice)
    assert second.number == 2
    # It erases exactly the flagged record; the rules keep what they kept; the paper row,
    # changed by hand under plan 1, is not given to a person twice.
    assert {k.record_key: k.rule_code for k in second.kept.all()} == {
        "order:7": "purchase_records",
        "repair:3": "active_relationship",
    }
    assert [(a.strategy, a.change["keys"], a.manual) for a in second.actions.all()] == [
        ("delete", ["event:99"], False)
    ]
    services.plan_submit(plan=second, actor=Actor.staff(alice))
    with pytest.raises(ValidationError, match="submitted the plan cannot approve"):
        services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    case = carried_out(
        services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    )
    second.refresh_from_db()
    assert second.verification_clean is True
    data = ledger_data(ledger)
    assert sorted(data["rows"]) == ["event:6", "event:8", "order:7", "repair:3"]
    # Nothing erased twice: each effect once, across both plans.
    assert data["applied"] == [ARTA, "account:1", "order:2", "event:5", "prospect:9", "event:99"]
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    assert services.case_fulfil(case=case, actor=Actor.staff(alice)).state == State.COMPLETED
    # Her letter tells what both plans did, each record once.
    done, kept = selectors.plan_outcome(case)
    assert "Ledger: 5 records erased." in done
    assert len(kept) == 2


def test_search_again_is_not_offered_when_the_scan_was_clean_or_could_not_search_a_system(
    reviewed_erasure, alice, bob, ledger, django_capture_on_commit_callbacks
):
    case = carried_out(approved(reviewed_erasure, alice, bob))
    plan = case.plans.get()
    services.action_confirm(
        action=plan.actions.get(manual=True), actor=Actor.staff(alice), note="Shredded"
    )
    fulfilment.execute(plan.pk)
    assert fulfilment.verify(plan.pk) == "clean"
    search = operations.get("search_again")
    case = Case.objects.get(pk=case.pk)
    assert not search.offered(case, Actor.staff(alice))
    assert "found nothing the plan does not keep" in search.refusal(case, Actor.staff(alice))
    # A scan that could not reach a system is retried, not searched again.
    FulfilmentPlan.objects.filter(pk=plan.pk).update(
        verification={"ledger": {"error": "ConnectorError"}}, verification_clean=False
    )
    case = Case.objects.get(pk=case.pk)
    assert not search.offered(case, Actor.staff(alice))
    assert operations.get("retry_actions").offered(case, Actor.staff(alice))
    with pytest.raises(TransitionNotAllowed):
        services.case_search_again(case=case, actor=Actor.staff(alice))
    assert Case.objects.get(pk=case.pk).state == State.FULFILLING


def test_only_who_prepares_plans_may_search_again(flagged, alice, audrey):
    search = operations.get("search_again")
    assert search.offered(flagged, Actor.staff(alice))
    assert not search.offered(flagged, Actor.staff(audrey))  # the auditor changes nothing
    with pytest.raises(PermissionDenied):
        services.case_search_again(case=flagged, actor=Actor.staff(audrey))
    assert Case.objects.get(pk=flagged.pk).state == State.FULFILLING


def test_the_case_completes_by_its_newest_plan_only(
    flagged, alice, bob, ledger, django_capture_on_commit_callbacks
):
    case = search_again(flagged, alice, django_capture_on_commit_callbacks)
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    second = drafted(case, alice)
    services.plan_submit(plan=second, actor=Actor.staff(alice))
    case = carried_out(
        services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    )
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    # Had the second scan flagged a record, a clean first plan would not complete the case.
    FulfilmentPlan.objects.filter(case=case, number=1).update(verification_clean=True)
    FulfilmentPlan.objects.filter(pk=second.pk).update(
        verification={"ledger": {"unexpected": ["event:100"], "unexpected_count": 1}},
        verification_clean=False,
    )
    with pytest.raises(TransitionNotAllowed, match="made and verified"):
        services.case_fulfil(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    # A clean newest plan completes it, whatever the first plan's scan found.
    FulfilmentPlan.objects.filter(case=case, number=1).update(verification_clean=False)
    FulfilmentPlan.objects.filter(pk=second.pk).update(verification={}, verification_clean=True)
    case = services.case_fulfil(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    assert case.state == State.COMPLETED


def test_the_plan_page_says_to_search_again_and_the_case_page_offers_it(flagged, alice, client):
    client.force_login(alice)
    url = reverse("admin:casework_case_operation", args=[flagged.pk, "search_again"])
    page = client.get(plan_url(flagged)).content.decode()
    section = page.split('id="verification"')[1].split("</div>")[0]
    assert "Search again" in section and f'href="{url}"' in section
    case_page = client.get(reverse("admin:casework_case_change", args=[flagged.pk]))
    assert url in case_page.content.decode()


def test_the_dry_run_page_shows_per_system_what_changes_and_what_is_kept_and_why(
    reviewed_erasure, alice, client
):
    drafted(reviewed_erasure, alice)
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_change", args=[reviewed_erasure.pk]))
    assert plan_url(reviewed_erasure) in page.content.decode()
    page = client.get(plan_url(reviewed_erasure)).content.decode()
    assert "This is a dry run: nothing has been changed." in page
    assert "delete 4 records of rows" in page
    assert "delete 1 record of paper (by hand)" in page
    assert "purchase_records v" in page and "Part of an active relationship." in page
    rule = RetentionRule.objects.get(code="purchase_records")
    assert rule.keep_reason_en in page
    assert (
        'href="'
        + reverse("admin:casework_case_operation", args=[reviewed_erasure.pk, "submit_plan"])
        in page
    )


def test_a_manual_action_is_confirmed_with_what_was_changed_then_the_plan_is_carried_out(
    reviewed_erasure, alice, bob, client, django_capture_on_commit_callbacks
):
    case = carried_out(approved(reviewed_erasure, alice, bob))
    action = case.plans.get().actions.get(manual=True)
    client.force_login(alice)
    confirm = reverse("admin:casework_case_plan_confirm", args=[case.pk, action.pk])
    assert confirm in client.get(plan_url(case)).content.decode()
    client.post(confirm, {"note": ""})
    action.refresh_from_db()
    assert action.state == FulfilmentAction.State.WAITING  # a note is required
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirm, {"note": "Shredded the paper sign-up sheet"})
    action.refresh_from_db()
    assert (action.state, action.confirmed_by) == (FulfilmentAction.State.DONE, alice)
    assert action.results == {"event:6": "done"}
    assert case.plans.get().executed_at is not None
    event = AuditEvent.objects.get(case=case, action="plan.action_confirmed")
    assert "Shredded" not in str(event.details)
    assert AuditEvent.objects.filter(case=case, action="plan.executed").count() == 1


def test_records_left_to_a_person_are_decided_on_the_plan_page(
    ledger, make_case, alice, client, django_capture_on_commit_callbacks
):
    # A ticket (customer_enquiries: kept while needed to defend a legal claim) of hers.
    data = ledger_data(ledger)
    data["rows"]["ticket:4"] = {"category": "customer_enquiries", "email": ARTA}
    ledger.write_text(json.dumps(data))
    case = make_case(email=ARTA, request_type="erasure")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = services.complete_review(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    plan = drafted(case, alice)
    keep = plan.kept.get(record_key="ticket:4")
    assert keep.verdict == "review"
    client.force_login(alice)
    page = client.get(plan_url(case)).content.decode()
    assert f'name="keep" value="{keep.pk}"' in page
    submit = reverse("admin:casework_case_operation", args=[case.pk, "submit_plan"])
    assert submit not in page  # not before every such record is decided
    decide = reverse("admin:casework_case_plan_decide", args=[case.pk, "latest"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(decide, {"keep": [keep.pk], "decision": "erase"})
    second = case.plans.get(number=2)
    assert second.state == FulfilmentPlan.State.DRAFT  # drafted again, honouring the decision
    assert not second.kept.filter(record_key="ticket:4").exists()
    assert "ticket:4" in second.actions.get(target="rows").change["keys"]
    assert submit in client.get(plan_url(case)).content.decode()


def test_a_plan_message_that_outlived_its_plan_is_skipped(db):
    assert fulfilment.execute(987654) == "skipped"
    assert fulfilment.verify(987654) == "skipped"


def test_a_completed_erasure_deletes_our_own_copies_too(
    reviewed_erasure, alice, bob, make_case, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from casework.models import Bundle, ConnectorRun

    # An earlier access request of hers, closed, whose bundle is still stored.
    earlier = make_case(email=ARTA.upper())
    services.case_withdraw(case=earlier, actor=Actor.staff(alice))
    stored = default_storage.save("bundles/test/earlier.zip.enc", ContentFile(b"sealed"))
    bundle = Bundle.objects.create(
        case=earlier, kind="access", state=Bundle.State.READY, file=stored
    )
    # Someone else's bundle stays.
    other = make_case(email="besnik@vlora.example")
    services.case_withdraw(case=other, actor=Actor.staff(alice))
    kept_file = default_storage.save("bundles/test/other.zip.enc", ContentFile(b"sealed"))
    others = Bundle.objects.create(
        case=other, kind="access", state=Bundle.State.READY, file=kept_file
    )
    case = carried_out(approved(reviewed_erasure, alice, bob))
    services.action_confirm(
        action=case.plans.get().actions.get(manual=True), actor=Actor.staff(alice), note="Done"
    )
    fulfilment.execute(case.plans.get().pk)
    fulfilment.verify(case.plans.get().pk)
    case = services.case_record_response(
        case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice)
    )
    assert ConnectorRun.objects.filter(case=case).exclude(result_file="").exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert not ConnectorRun.objects.filter(case=case).exclude(result_file="").exists()
    bundle.refresh_from_db()
    assert bundle.state == Bundle.State.DELETED and not default_storage.exists(stored)
    others.refresh_from_db()
    assert others.state == Bundle.State.READY and default_storage.exists(kept_file)
    event = AuditEvent.objects.get(case=case, action="gathering.records_purged")
    assert event.details["after_erasure"] == case.reference
    # What accountability needs stays: the plan, its kept records and the trail.
    assert case.plans.get().kept.count() == 2


def test_the_command_line_decides_records_and_confirms_manual_changes(
    ledger, make_case, alice, bob, django_capture_on_commit_callbacks
):
    from io import StringIO

    def case_command(*args: str) -> str:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("case", *args, stdout=out)
        return out.getvalue()

    data = ledger_data(ledger)
    data["rows"]["ticket:4"] = {"category": "customer_enquiries", "email": ARTA}
    ledger.write_text(json.dumps(data))
    case = make_case(email=ARTA, request_type="erasure")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    ref = case.reference
    case_command(ref, "complete_review", "--staff", "alice")
    case_command(ref, "draft_plan", "--staff", "alice")
    out = case_command(ref, "decide_records", "--staff", "alice", "--field", "decision=erase")
    assert "Decided: plan 2." in out
    assert "ticket:4" in case.plans.get(number=2).actions.get(target="rows").change["keys"]
    case_command(ref, "submit_plan", "--staff", "alice")
    # Bob approves in the admin (the command line refuses an approval from the operating-
    # system account that submitted the plan).
    services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    carried_out(Case.objects.get(pk=case.pk))
    manual = case.plans.get(number=2).actions.get(manual=True)
    out = case_command(
        ref,
        "confirm_manual_action",
        "--staff",
        "alice",
        "--field",
        f"action={manual.position}",
        "--note",
        "Shredded the paper list",
    )
    assert "The change is confirmed." in out
    manual.refresh_from_db()
    assert manual.state == FulfilmentAction.State.DONE and manual.confirmed_by == alice
    assert case.plans.get(number=2).executed_at is not None


def test_a_restriction_told_by_post_is_lifted_once_the_letter_is_posted(
    ledger, make_case, alice, bob, client, django_capture_on_commit_callbacks
):
    from io import StringIO

    from pypdf import PdfReader

    from casework import selectors
    from casework.letters import letter_pdf
    from casework.models import PostalLetter

    def case_command(*args: str) -> str:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("case", *args, stdout=out)
        return out.getvalue()

    case = make_case(email=ARTA, request_type="restriction")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = services.complete_review(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    plan = drafted(case, alice)
    services.plan_submit(plan=plan, actor=Actor.staff(alice))
    services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(bob))
    for action in plan.actions.filter(state="waiting"):  # the ledger is marked by hand
        services.action_confirm(action=action, actor=Actor.staff(bob), note="Flagged")
    carried_out(case)
    case = services.case_record_response(
        case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice)
    )
    case = services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert list(selectors.restrictions_in_force()) == [case]
    Case.objects.filter(pk=case.pk).update(mailbox_lost=True)  # she told us since

    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_change", args=[case.pk])).content.decode()
    assert "Lift the restriction" in page
    out = case_command(
        case.reference, "lift_restriction", "--staff", "alice", "--reason", "The claim is settled."
    )
    assert "the restriction is lifted once they have been" in out
    lifting = case.plans.get(intent="lift_restriction")
    letter = PostalLetter.objects.get(case=case, notice="lifting")
    # Drafted, and a letter to post: nobody has told her yet, so nothing is lifted.
    assert lifting.state == FulfilmentPlan.State.DRAFT and lifting.actions.count() == 1
    assert fulfilment.sweep()["liftings"] == 0
    name, pdf = letter_pdf(Case.objects.get(pk=case.pk), "lifting")
    assert name == f"{case.reference}-lifting.pdf"
    words = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "The claim is settled." in words and "Art. 18(3)" in words
    with django_capture_on_commit_callbacks(execute=True):
        services.letter_mark_posted(letter=letter, actor=Actor.staff(alice))
    lifting.refresh_from_db()
    assert (lifting.state, lifting.approved_by) == (FulfilmentPlan.State.APPROVED, alice)
    by_hand = lifting.actions.get()
    assert (by_hand.state, by_hand.strategy) == (FulfilmentAction.State.WAITING, "lift_restriction")
    assert case in selectors.restrictions_in_force()  # until the ledger is unmarked by hand
    page = client.get(plan_url(case)).content.decode()
    assert reverse("admin:casework_case_plan_confirm", args=[case.pk, by_hand.pk]) in page
    case_command(
        case.reference,
        "confirm_manual_action",
        "--staff",
        "bob",
        "--field",
        f"action={by_hand.position}",
        "--note",
        "Flag removed",
    )
    assert case not in selectors.restrictions_in_force()
    assert list(
        AuditEvent.objects.filter(case=case, action__startswith="restriction.").values_list(
            "action", flat=True
        )
    ) == ["restriction.lifting_decided", "restriction.lifting_started", "restriction.lifted"]
    # Her letter of what was done still tells of the restriction, not of its lifting.
    assert all("lifted" not in sentence for sentence in selectors.plan_outcome(case)[0])


# --- rectification: staff decide each correction asked for ----------------------------------

REFUSAL = "The number you gave is a private line, not one of your business."


@pytest.fixture
def asked_rectification(db, make_case, alice):
    """Arta asked on the form to correct her job title and business phone; review complete.
    (The system holding both fields is never opened: no records are gathered.)"""
    from tests.casework.helpers import in_review, rectifiable_system, reviewed

    call_command("load_data_map", stdout=open("/dev/null", "w"))  # noqa: SIM115
    rectifiable_system()
    asked = [
        {"field": "Job title", "current": "Office manager", "correct": "head of printing"},
        {"field": "Business phone", "current": "", "correct": "069 000 1111"},
    ]
    case = make_case(email=ARTA, request_type="rectification", details={"corrections": asked})
    return reviewed(in_review(case, alice), alice)


def test_an_undecided_correction_is_refused_with_a_clear_error(asked_rectification, alice):
    def draft(lines: str):
        return services.case_draft_plan(
            case=asked_rectification, actor=Actor.staff(alice), corrections=lines
        )

    with pytest.raises(ValidationError, match="business_phone is not decided"):
        draft("job_title: accept")
    with pytest.raises(ValidationError, match="Say why business_phone is refused"):
        draft("job_title: accept\nbusiness_phone: refuse")
    with pytest.raises(ValidationError, match="Reject the request instead"):
        draft(f"job_title: refuse: Not ours to change.\nbusiness_phone: refuse: {REFUSAL}")
    with pytest.raises(ValidationError, match="did not ask to correct business_email"):
        draft("job_title: accept\nbusiness_phone: accept\nbusiness_email: a@demo.example")
    assert not asked_rectification.plans.exists()
    plan = draft(f"job_title: accept\nbusiness_phone: refuse: {REFUSAL}")
    assert plan.corrections == {"job_title": "head of printing"}  # accepted: the value asked
    assert plan.refused_corrections == {"business_phone": REFUSAL}


def test_the_approval_is_lost_when_refusals_change_after_submission(
    asked_rectification, alice, bob
):
    from tests.casework.helpers import plan_submitted

    plan = plan_submitted(
        asked_rectification,
        alice,
        corrections=f"job_title: Head of Printing\nbusiness_phone: refuse: {REFUSAL}",
    )
    FulfilmentPlan.objects.filter(pk=plan.pk).update(
        refused_corrections={"business_phone": "Another reason than the one submitted."}
    )
    with pytest.raises(ValidationError, match="changed after it was submitted"):
        services.case_approve(case=asked_rectification, actor=Actor.staff(bob))
    assert Case.objects.get(pk=asked_rectification.pk).state == State.IN_REVIEW


def test_the_command_line_and_the_plan_page_decide_corrections_alike(
    asked_rectification, alice, client, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import CommandError

    case = asked_rectification
    out = StringIO()
    call_command("case", case.reference, stdout=out)
    assert "    business_phone: 069 000 1111" in out.getvalue()
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command(
            "case",
            case.reference,
            "draft_plan",
            "--staff",
            "alice",
            "--field",
            f"corrections=job_title: accept\nbusiness_phone: refuse: {REFUSAL}",
            stdout=out,
        )
    assert "Plan 1 is being drafted." in out.getvalue()
    plan = case.plans.get(number=1)
    assert plan.corrections == {"job_title": "head of printing"}
    assert plan.refused_corrections == {"business_phone": REFUSAL}

    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_plan", args=[case.pk, "latest"]))
    form = page.content.decode().split('id="corrections-form"')[1]
    assert 'name="decision-1" value="refuse" checked' in form and REFUSAL in form
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            reverse("admin:casework_case_plan_corrections", args=[case.pk, "latest"]),
            {
                "decision-0": "refuse",
                "reason-0": "Your title is already Head of printing.",
                "decision-1": "edit",
                "value-1": "+355690001111",
            },
        )
    plan = case.plans.get(number=2)
    assert plan.corrections == {"business_phone": "+355690001111"}
    assert plan.refused_corrections == {"job_title": "Your title is already Head of printing."}
    assert case.plans.get(number=1).state == FulfilmentPlan.State.SUPERSEDED
    # The command line refuses an undecided correction, saying which.
    with pytest.raises(CommandError, match="job_title is not decided"):
        call_command(
            "case",
            case.reference,
            "draft_plan",
            "--staff",
            "alice",
            "--field",
            "corrections=business_phone: accept",
            stdout=StringIO(),
        )
