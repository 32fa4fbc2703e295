"""Identity first: a request from a look-alike of the subject's address finds none of her
records, in any source, and none of her cases (the one e-mail rule, dsar.identifiers)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from casework import services
from casework.actors import Actor
from casework.models import Case, ConnectorRun, State
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"
LOOK_ALIKES = [
    "arta.krasn\u0131q\u0131@demo.example",  # dotless i
    "arta.kra\u017fniqi@demo.example",  # long s
    "arta.\u212arasniqi@demo.example",  # Kelvin sign
]


@pytest.fixture
def events(tmp_path):
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [
            {
                "Email": "Arta.Krasniqi@Demo.Example",
                "Name": "Arta Krasniqi",
                "Dietary needs": "halal",
            }
        ],
    )
    return csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_a_request_from_a_look_alike_address_gathers_none_of_her_records(
    look_alike, events, make_case, django_capture_on_commit_callbacks
):
    case = make_case(email=look_alike)
    assert case.email != ARTA
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    run = ConnectorRun.objects.get(case=case)
    assert (run.state, run.records_count) == ("succeeded", 0)


def test_her_own_address_in_any_ascii_case_gathers_her_records(
    events, make_case, django_capture_on_commit_callbacks
):
    case = make_case(email="ARTA.Krasniqi@demo.EXAMPLE")
    assert case.email == ARTA
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    assert ConnectorRun.objects.get(case=case).records_count == 1


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_staff_search_by_a_look_alike_lists_none_of_her_cases(look_alike, make_case, alice, client):
    make_case(email=ARTA)
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_changelist"), {"q": look_alike})
    assert page.context["cl"].result_count == 0
    page = client.get(reverse("admin:casework_case_changelist"), {"q": ARTA.upper()})
    assert page.context["cl"].result_count == 1


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_a_look_alike_request_is_not_linked_to_her_case(
    look_alike, make_case, django_capture_on_commit_callbacks
):
    make_case(email=ARTA)
    with django_capture_on_commit_callbacks(execute=True):
        other = make_case(email=look_alike)
    assert Case.objects.get(pk=other.pk).possible_duplicate_of is None


# --- nothing searchable, nothing released ----------------------------------------------------------


@pytest.fixture
def repairs(tmp_path):
    write_csv(
        tmp_path / "repairs" / "repairs.csv",
        [{"Customer": "C-100042", "Fault": "Paper jam"}],
    )
    return csv_system(
        "repairs", tmp_path / "repairs", {"customer_number": "Customer"}, category="events"
    )


def letter_case(make_case, alice, django_capture_on_commit_callbacks) -> Case:
    """A letter with only a name and a postal address, verified by staff."""
    case = make_case(email="", postal_address="Rruga e Durrësit 12, Tiranë", name="Arta K.")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.staff(alice), note="Signed letter on file")
    return Case.objects.get(pk=case.pk)


def test_a_letter_case_with_nothing_searchable_waits_for_an_identifier(
    repairs, make_case, alice, django_capture_on_commit_callbacks
):
    case = letter_case(make_case, alice, django_capture_on_commit_callbacks)
    assert case.state == State.NEEDS_IDENTIFIER
    assert not ConnectorRun.objects.filter(case=case).exists()


def test_staff_add_an_identifier_with_its_evidence_and_the_case_is_searched_by_it(
    repairs, make_case, alice, django_capture_on_commit_callbacks
):
    from casework.models import AuditEvent, CaseIdentifier, CaseNote

    case = letter_case(make_case, alice, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_add_identifier(
            case=case,
            actor=Actor.staff(alice),
            kind="customer_number",
            value=" c-100042 ",
            note="Printed on the signed letter",
        )
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    assert ConnectorRun.objects.get(case=case).records_count == 1
    added = CaseIdentifier.objects.get(case=case, kind="customer_number")
    assert (added.value, added.source, added.confirmed_by) == ("C-100042", "staff", alice)
    assert CaseNote.objects.filter(
        case=case, kind="verification", text__contains="Printed"
    ).exists()
    assert AuditEvent.objects.filter(case=case, action="case.identifier_added").exists()


def test_an_identifier_no_system_can_be_searched_by_is_refused(
    repairs, make_case, alice, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    case = letter_case(make_case, alice, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError):
        services.case_add_identifier(
            case=case, actor=Actor.staff(alice), kind="phone", value="+355692004242", note="x"
        )
    assert Case.objects.get(pk=case.pk).state == State.NEEDS_IDENTIFIER


def test_going_on_without_a_search_never_reports_that_nothing_was_found(
    repairs, make_case, alice, django_capture_on_commit_callbacks
):
    from casework import selectors

    case = letter_case(make_case, alice, django_capture_on_commit_callbacks)
    case = services.case_proceed_without_source(
        case=case, actor=Actor.staff(alice), reason="The subject sent nothing we can search by"
    )
    assert case.state == State.IN_REVIEW
    facts = selectors.bundle_facts(case, "access")
    assert facts.failed_sources == ["Repairs"] and not facts.complete
