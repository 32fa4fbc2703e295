"""The release check before approval (issue 12, point 5): the approval page of an access or
portability case lists every identifier and contact detail the bundle will carry that is not
the verified channel, and approval requires acknowledging them, on every door."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from casework import selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, RecordDecision, State
from tests.casework.helpers import bring_to, plan_submitted, reviewed
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db

ARTA = "arta.krasniqi@demo.example"
COLLEAGUE = "besa.hoxha@drini.example"
EMERGENCY_PHONE = "+355 69 000 1111"


def gather(case: Case, capture) -> Case:
    """Verify by the subject's e-mail link (the verified channel is her address) and gather."""
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return case


@pytest.fixture
def events(tmp_path):
    """Arta at an event, with her address in another spelling, a colleague's address in a note,
    an emergency contact's phone, a customer number and a postal address."""
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [
            {
                "Email": ARTA,
                "Name": "Arta Krasniqi",
                "Note": f"Invoice to {COLLEAGUE}, please",
                "Emergency contact": f"Besnik {EMERGENCY_PHONE}",
                "Customer No": "C-2002",
                "Postal address": "Rruga e Kavajës 5, Tiranë",
                "Date": "2024-05-01 10:30",
            },
            {
                "Email": ARTA.upper().replace("@DEMO.EXAMPLE", "@demo.example"),
                "Name": "Arta Krasniqi",
                "Note": "",
                "Emergency contact": "",
                "Customer No": "c-2002",
                "Postal address": "",
                "Date": "2024-06-01 09:00",
            },
        ],
    )
    return csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")


@pytest.fixture
def gathered(events, make_case, django_capture_on_commit_callbacks):
    case = make_case(email=ARTA, name="Arta Krasniqi")
    return gather(case, django_capture_on_commit_callbacks)


def listed(case: Case) -> dict[tuple[str, str], selectors.ReleaseItem]:
    return {(item.kind, item.value): item for item in selectors.release_check(case)}


# --- the selector ----------------------------------------------------------------------------------


def test_it_lists_what_is_not_the_verified_email_once_each_with_where_and_how_often(gathered):
    found = listed(gathered)
    assert set(found) == {
        ("email", COLLEAGUE),
        ("phone", EMERGENCY_PHONE),
        ("customer_number", "C-2002"),
        ("postal_address", "Rruga e Kavajës 5, Tiranë"),
    }
    assert found[("customer_number", "C-2002")].count == 2  # c-2002 is the same number
    assert found[("email", COLLEAGUE)].count == 1
    assert found[("phone", EMERGENCY_PHONE)].places == ["Events: tirana.csv · events"]


def test_the_verified_address_in_any_spelling_is_not_listed(gathered):
    assert not [item for item in selectors.release_check(gathered) if "arta" in item.value.lower()]


def test_redacted_values_and_excluded_records_are_not_listed(gathered, alice):
    actor = Actor.staff(alice)
    first = next(r for r in selectors.review_rows(gathered) if r["data"]["Note"])
    services.redact_value(
        case=gathered,
        actor=actor,
        run=first["run"],
        category="events",
        record_key=first["key"],
        field="Emergency contact",
        reason=RecordDecision.Reason.OTHER_PERSON,
    )
    assert ("phone", EMERGENCY_PHONE) not in listed(gathered)
    services.exclude_record(
        case=gathered,
        actor=actor,
        run=first["run"],
        category="events",
        record_key=first["key"],
    )
    assert set(listed(gathered)) == {("customer_number", "c-2002")}


def test_with_identity_checked_by_staff_the_requests_own_address_is_listed_as_given_on_it(
    events, make_case, alice, django_capture_on_commit_callbacks
):
    case = make_case(email=ARTA, name="Arta Krasniqi")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.staff(alice), note="Call-back on record")
    case = Case.objects.get(pk=case.pk)
    # A call-back proves the person, not which records are theirs: each is confirmed first.
    assert selectors.release_check(case) == []
    for link in selectors.held_links(case):
        services.decide_record_link(
            case=case,
            actor=Actor.staff(alice),
            system_id=link.system_id,
            subject_key=link.subject_key,
            decision="confirmed",
            evidence="call_phone",
            note="She named the events on the call",
        )
    found = listed(case)
    assert found[("email", ARTA)].on_request
    assert not found[("email", COLLEAGUE)].on_request


def test_a_case_with_no_records_has_nothing_to_check(make_case, alice):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(), alice), alice)
    assert selectors.release_check(case) == []


# --- the service -----------------------------------------------------------------------------------


def test_approval_without_the_acknowledgement_is_refused_and_changes_nothing(gathered, alice):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    with pytest.raises(ValidationError) as refused:
        services.case_approve(case=case, actor=Actor.staff(alice))
    assert "acknowledged" in refused.value.error_dict
    assert "4 contact details or identifiers" in refused.value.messages[0]
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW
    assert not AuditEvent.objects.filter(case=case, action="case.approved").exists()


def test_the_acknowledgement_and_the_count_are_audited_never_the_values(gathered, alice):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    case = services.case_approve(case=case, actor=Actor.staff(alice), acknowledged=True)
    assert case.state == State.FULFILLING
    event = AuditEvent.objects.get(case=case, action="case.approved")
    assert event.details["release_check"] == {"listed": 4, "acknowledged": True}
    trail = json.dumps(list(AuditEvent.objects.filter(case=case).values_list("details")))
    for value in (COLLEAGUE, "000 1111", "C-2002", "Kavaj"):
        assert value not in trail


def test_nothing_to_check_needs_no_acknowledgement(make_case, alice):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(), alice), alice)
    case = services.case_approve(case=case, actor=Actor.staff(alice))
    event = AuditEvent.objects.get(case=case, action="case.approved")
    assert event.details["release_check"] == {"listed": 0, "acknowledged": False}


# --- the admin's approval page ---------------------------------------------------------------------


def approve_url(case: Case) -> str:
    return reverse("admin:casework_case_operation", args=[case.pk, "approve"])


def test_the_approval_page_lists_them_with_a_warning_and_a_required_checkbox(
    client, gathered, alice
):
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    client.force_login(alice)
    page = client.get(approve_url(gathered)).content.decode()
    assert "operation-warning" in page
    assert f"Verified channel: {ARTA}" in page
    for value in (COLLEAGUE, EMERGENCY_PHONE, "C-2002", "Rruga e Kavajës 5, Tiranë"):
        assert value in page
    assert 'name="acknowledge"' in page
    assert "I have checked that these belong to the subject" in page


def test_the_approval_page_refuses_without_the_checkbox_and_approves_with_it(
    client, gathered, alice
):
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    client.force_login(alice)
    refused = client.post(approve_url(gathered), {"note": "Looks right"})
    assert refused.status_code == 200  # the page again, with the error on the checkbox
    assert "confirm that you checked they belong to the subject" in refused.content.decode()
    assert Case.objects.get(pk=gathered.pk).state == State.IN_REVIEW
    done = client.post(approve_url(gathered), {"note": "Looks right", "acknowledge": "on"})
    assert done.status_code == 302
    assert Case.objects.get(pk=gathered.pk).state == State.FULFILLING


def test_an_approval_with_nothing_to_check_has_no_checkbox(client, make_case, alice):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(), alice), alice)
    client.force_login(alice)
    page = client.get(approve_url(case)).content.decode()
    assert 'name="acknowledge"' not in page and "operation-warning" not in page


def test_an_erasure_approval_has_no_release_check(client, make_case, alice, bob, events):
    case = reviewed(bring_to(State.IN_REVIEW, make_case(request_type="erasure"), alice), alice)
    plan_submitted(case, alice)
    client.force_login(bob)
    page = client.get(approve_url(case)).content.decode()
    assert 'name="acknowledge"' not in page and "operation-warning" not in page


# --- the command line ------------------------------------------------------------------------------


def test_the_command_line_shows_the_list_and_needs_the_acknowledgement_too(gathered, alice, bob):
    from io import StringIO

    services.complete_review(case=gathered, actor=Actor.staff(alice))
    shown = StringIO()
    call_command("case", gathered.reference, "--staff", "bob", stdout=shown)
    assert f"email: {COLLEAGUE}" in shown.getvalue()
    with pytest.raises(CommandError, match=r"--field acknowledge=\.\.\.: The bundle carries 4"):
        call_command("case", gathered.reference, "approve", "--staff", "bob")
    assert Case.objects.get(pk=gathered.pk).state == State.IN_REVIEW
    call_command(
        "case", gathered.reference, "approve", "--staff", "bob", "--field", "acknowledge=yes"
    )
    assert Case.objects.get(pk=gathered.pk).state == State.FULFILLING


def test_an_acknowledgement_of_a_list_that_changed_since_is_refused(client, gathered, alice):
    import re

    actor = Actor.staff(alice)
    services.complete_review(case=gathered, actor=actor)
    client.force_login(alice)
    page = client.get(approve_url(gathered)).content.decode()
    seen = re.search(r'name="release_seen" value="([0-9a-f]+)"', page).group(1)
    # Meanwhile the review is reopened, a record left out, and completed again.
    services.reopen_review(case=gathered, actor=actor)
    first = next(r for r in selectors.review_rows(gathered) if r["data"]["Note"])
    services.exclude_record(
        case=gathered,
        actor=actor,
        run=first["run"],
        category="events",
        record_key=first["key"],
    )
    services.complete_review(case=gathered, actor=actor)
    stale = {"note": "Looks right", "acknowledge": "on", "release_seen": seen}
    refused = client.post(approve_url(gathered), stale)
    assert "changed since the page was opened" in refused.content.decode()
    assert Case.objects.get(pk=gathered.pk).state == State.IN_REVIEW
    page = client.get(approve_url(gathered)).content.decode()
    fresh = re.search(r'name="release_seen" value="([0-9a-f]+)"', page).group(1)
    assert fresh != seen
    done = client.post(approve_url(gathered), {**stale, "release_seen": fresh})
    assert done.status_code == 302
    assert Case.objects.get(pk=gathered.pk).state == State.FULFILLING


# --- the API ----------------------------------------------------------------------------------------


def test_the_api_lists_what_the_acknowledgement_covers_beside_its_fingerprint(gathered, alice):
    from tests.casework.api_support import client_for

    services.complete_review(case=gathered, actor=Actor.staff(alice))
    api = client_for(alice)
    offered = api.get(f"/api/v1/cases/{gathered.reference}/operations/").json()
    approve = next(op for op in offered if op["name"] == "approve")
    shown = {(item["kind"], item["value"]): item for item in approve["release_check"]}
    assert set(shown) == set(listed(gathered)) and len(shown) == 4
    assert all(item["places"] and item["records"] for item in shown.values())
    fields = {f["name"]: f for f in approve["fields"]}
    assert fields["release_seen"]["initial"] == selectors.release_fingerprint(
        selectors.release_check(gathered)
    )
    # The acknowledgement with that fingerprint approves.
    done = api.post(
        f"/api/v1/cases/{gathered.reference}/operations/approve/",
        {"note": "Checked", "acknowledge": True, "release_seen": fields["release_seen"]["initial"]},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert Case.objects.get(pk=gathered.pk).state == State.FULFILLING
    # Operations with nothing to acknowledge list nothing.
    assert all(op["release_check"] == [] for op in offered if op["name"] != "approve")
