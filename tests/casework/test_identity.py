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
