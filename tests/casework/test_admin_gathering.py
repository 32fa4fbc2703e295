"""Gathering in the case admin: the sources and their summary, a failed source and its retry,
identifiers staff confirm, manual searches completed by a person, the list's sources column."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from casework import results, selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, CaseIdentifier, ConnectorRun, State
from dsar.models import DataCategory, SourceSystem
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db

ARTA = "arta.krasniqi@demo.example"
ARTA_PHONE = "+355691234567"  # as the events list writes it, normalised
CHANGELIST = reverse("admin:casework_case_changelist")


def change_url(case: Case) -> str:
    return reverse("admin:casework_case_change", args=[case.pk])


def operation_url(case: Case, name: str) -> str:
    return reverse("admin:casework_case_operation", args=[case.pk, name])


def confirm_url(case: Case, identifier: CaseIdentifier) -> str:
    return reverse("admin:casework_case_identifier_confirm", args=[case.pk, identifier.pk])


def complete_url(case: Case, run: ConnectorRun) -> str:
    return reverse("admin:casework_case_run_complete", args=[case.pk, run.pk])


def section(page: str, element_id: str) -> str:
    """The HTML of one section of the change page (Sources or Identifiers)."""
    start = page.index(f'id="{element_id}"')
    end = page.find('<div class="module', start + 1)
    return page[start : end if end != -1 else len(page)]


def gather(case: Case, capture) -> Case:
    """Verify the case (the subject's e-mail link) and run gathering to its end, tasks eager."""
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def graph(tmp_path):
    """The events list knows Arta by e-mail and gives her phone; the call log knows only the
    phone (searched in round 2)."""
    write_csv(
        tmp_path / "events" / "tirana-2026.csv",
        [
            {"Name": "Arta Krasniqi", "Email": ARTA, "Phone": "+355 69 123 4567"},
            {"Name": "Besnik Hoxha", "Email": "besnik@vlora.example", "Phone": "+355 68 000 0001"},
        ],
    )
    write_csv(
        tmp_path / "calls" / "log.csv",
        [
            {"Phone": ARTA_PHONE, "Topic": "Printer jam"},
            {"Phone": ARTA_PHONE, "Topic": "Toner order"},
            {"Phone": "+355680000001", "Topic": "Other person"},
        ],
    )
    events = csv_system("events", tmp_path / "events", {"email": "Email", "phone": "Phone"})
    calls = csv_system(
        "calls", tmp_path / "calls", {"phone": "Phone"}, category="customer_enquiries"
    )
    return events, calls


@pytest.fixture
def archive(tmp_path):
    """A files system whose folder does not exist (yet): it fails."""
    return csv_system("archive", tmp_path / "archive", {"email": "Email"})


@pytest.fixture
def events_category(db):
    return DataCategory.objects.create(
        code="2.3", slug="events", name_en="Events", name_sq="Evente", origin="provided"
    )


@pytest.fixture
def paper(db, events_category):
    """A manual system: a named person searches it and answers in the admin."""
    return SourceSystem.objects.create(
        name="Paper archive",
        slug="paper",
        connector="manual",
        config={"instructions": "Search the cabinet in room 4.", "category": "events"},
        owner_email="archivist@staff.demo.example",
    )


@pytest.fixture
def waiting(paper, make_case, django_capture_on_commit_callbacks):
    """A case gathering, waiting for the manual search of the paper archive."""
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case, system=paper)
    assert (case.state, run.state) == (State.GATHERING, ConnectorRun.State.WAITING)
    return case, run


# --- the sources section -------------------------------------------------------------------------


def test_sources_section_shows_each_system_its_counts_and_the_summary(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    assert case.state == State.IN_REVIEW
    client.force_login(alice)
    page = client.get(change_url(case)).content.decode()
    sources = section(page, "sources")
    assert "Sources: 2 of 2 answered, 3 records, 0 failed" in sources
    assert "Events" in sources and "Calls" in sources
    # events in rounds 1 and 2; calls only in round 2, once a phone is known
    assert sources.count("run-state-succeeded") == 3
    assert "events: 1" in sources
    assert "customer_enquiries: 2" in sources
    assert "Phone: 1" in sources  # the events list taught us a phone: its kind, not its value
    assert ARTA_PHONE not in sources
    assert "Gathering needs attention" not in page
    assert operation_url(case, "retry_sources") not in page


def test_the_summary_is_one_query_whatever_the_number_of_runs(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    client.force_login(alice)
    with CaptureQueriesContext(connection) as few:
        client.get(change_url(case))
    events, _calls = graph
    ConnectorRun.objects.bulk_create(
        [ConnectorRun(case=case, system=events, round=n, state="succeeded") for n in range(3, 9)]
    )
    with CaptureQueriesContext(connection) as many:
        client.get(change_url(case))
    assert len(many) == len(few)


def test_a_failing_system_shows_the_red_notice_and_the_ways_forward(
    client, alice, graph, archive, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    assert case.gathering_blocked_at is not None
    client.force_login(alice)
    page = client.get(change_url(case)).content.decode()
    assert "Gathering needs attention: Archive could not be searched." in page
    assert operation_url(case, "retry_sources") in page
    assert operation_url(case, "proceed_without_source") in page
    sources = section(page, "sources")
    assert "Sources: 2 of 3 answered, 3 records, 1 failed" in sources
    assert "run-state-failed" in sources
    assert "does not exist" in sources


def test_retry_through_the_admin_after_fixing_the_folder_moves_the_case_to_review(
    client, alice, graph, archive, tmp_path, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    client.force_login(alice)
    page = client.get(operation_url(case, "retry_sources")).content.decode()
    assert "Confirm: Retry failed sources" in page
    write_csv(tmp_path / "archive" / "old.csv", [{"Email": ARTA, "Note": "2019 fair"}])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(operation_url(case, "retry_sources"), {})
    assert response.status_code == 302
    assert "1 source queued again." in client.get(change_url(case)).content.decode()
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW
    assert case.gathering_blocked_at is None
    assert ConnectorRun.objects.get(case=case, system=archive, round=1).records_count == 1
    assert AuditEvent.objects.filter(case=case, action="gathering.retried", actor=alice).exists()


def test_retry_is_refused_when_the_case_is_not_gathering(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    client.force_login(alice)
    response = client.post(operation_url(case, "retry_sources"), {}, follow=True)
    assert "was refused, nothing changed" in response.content.decode()
    assert not AuditEvent.objects.filter(case=case, action="gathering.retried").exists()


def test_the_auditor_sees_the_sources_but_no_buttons_and_a_forged_retry_is_refused(
    client, audrey, graph, archive, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    client.force_login(audrey)
    page = client.get(change_url(case)).content.decode()
    assert "Sources: 2 of 3 answered" in page
    assert "Gathering needs attention: Archive could not be searched." in page
    assert operation_url(case, "retry_sources") not in page
    assert operation_url(case, "proceed_without_source") not in page
    assert 'id="identifiers"' not in page  # identifier values are for the privacy team
    assert "/identifier/" not in page

    response = client.post(operation_url(case, "retry_sources"), {})
    assert response.status_code == 302
    assert ConnectorRun.objects.get(case=case, system=archive, round=1).state == "failed"
    assert not AuditEvent.objects.filter(case=case, action="gathering.retried").exists()


def test_the_auditor_cannot_confirm_an_identifier_or_even_open_the_page(
    client, audrey, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    client.force_login(audrey)
    response = client.get(confirm_url(case, phone), follow=True)
    assert ARTA_PHONE not in response.content.decode()
    assert "was refused" in response.content.decode()
    assert client.post(confirm_url(case, phone), {}).status_code == 302
    phone.refresh_from_db()
    assert phone.confirmed_at is None
    assert not AuditEvent.objects.filter(action="gathering.identifier_confirmed").exists()


# --- identifiers ---------------------------------------------------------------------------------


def test_identifiers_are_listed_with_their_values_and_learnt_ones_can_be_confirmed(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    email = CaseIdentifier.objects.get(case=case, kind="email")
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    client.force_login(alice)
    identifiers = section(client.get(change_url(case)).content.decode(), "identifiers")
    assert ARTA in identifiers and ARTA_PHONE in identifiers
    assert "the request" in identifiers and "Events" in identifiers
    assert confirm_url(case, phone) in identifiers
    assert confirm_url(case, email) not in identifiers  # the subject's own

    page = client.get(confirm_url(case, phone)).content.decode()
    assert ARTA_PHONE in page
    assert "Confirm: This identifier is the subject&#x27;s" in page
    response = client.post(confirm_url(case, phone), {})
    assert response.status_code == 302
    phone.refresh_from_db()
    assert phone.confirmed_by == alice and phone.confirmed_at is not None
    event = AuditEvent.objects.get(case=case, action="gathering.identifier_confirmed")
    assert event.actor == alice
    assert event.details == {"identifier": phone.pk, "kind": "phone"}
    assert ARTA_PHONE not in str(event.details)

    identifiers = section(client.get(change_url(case)).content.decode(), "identifiers")
    assert confirm_url(case, phone) not in identifiers
    assert "alice" in identifiers


def test_identifiers_read_with_a_label_and_as_the_subject_wrote_them(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(
        make_case(
            email=ARTA,
            name="Arta Krasniqi",
            company="Drini",
            customer_number="c-1042",
        ),
        django_capture_on_commit_callbacks,
    )
    stored = CaseIdentifier.objects.get(case=case, kind="name_company")
    assert stored.value == "arta krasniqi|drini"  # normalised, to match on
    client.force_login(alice)
    identifiers = section(client.get(change_url(case)).content.decode(), "identifiers")
    assert '<td title="name_company">Name and company</td>' in identifiers
    assert "<td>Arta Krasniqi, Drini</td>" in identifiers
    assert '<td title="email">E-mail</td>' in identifiers
    assert f"<td>{ARTA}</td>" in identifiers
    assert '<td title="customer_number">Customer number</td>' in identifiers
    assert "<td>c-1042</td>" in identifiers
    # Learnt from the events list: shown as stored, with its label.
    assert '<td title="phone">Phone</td>' in identifiers and ARTA_PHONE in identifiers
    assert "|" not in identifiers


def test_an_identifier_is_confirmed_once(
    client, alice, bob, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    client.force_login(alice)
    client.post(confirm_url(case, phone), {})
    client.force_login(bob)
    response = client.post(confirm_url(case, phone), {}, follow=True)
    assert "was refused" in response.content.decode()
    phone.refresh_from_db()
    assert phone.confirmed_by == alice
    assert AuditEvent.objects.filter(action="gathering.identifier_confirmed").count() == 1


def test_request_and_ambiguous_identifiers_cannot_be_confirmed(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    email = CaseIdentifier.objects.get(case=case, kind="email")
    shared = CaseIdentifier.objects.create(
        case=case,
        kind="phone",
        value="+35542220000",
        source="calls",
        round=2,
        status=CaseIdentifier.Status.AMBIGUOUS,
        matches=2,
    )
    client.force_login(alice)
    identifiers = section(client.get(change_url(case)).content.decode(), "identifiers")
    assert "Ambiguous: matches 2 subjects, not followed" in identifiers
    assert confirm_url(case, shared) not in identifiers
    for identifier in (email, shared):
        response = client.post(confirm_url(case, identifier), {}, follow=True)
        assert "was refused" in response.content.decode()
        identifier.refresh_from_db()
        assert identifier.confirmed_at is None
    assert not AuditEvent.objects.filter(action="gathering.identifier_confirmed").exists()


def test_an_identifier_of_another_case_is_404(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    other = make_case(email="besa@demo.example")
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    client.force_login(alice)
    assert client.get(confirm_url(other, phone)).status_code == 404
    assert client.post(confirm_url(other, phone), {}).status_code == 404
    phone.refresh_from_db()
    assert phone.confirmed_at is None


def test_the_admin_offers_confirmation_exactly_when_the_service_allows_it(
    client, alice, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    CaseIdentifier.objects.create(
        case=case,
        kind="phone",
        value="+35542220000",
        source="calls",
        round=2,
        status=CaseIdentifier.Status.AMBIGUOUS,
        matches=2,
    )
    client.force_login(alice)
    page = section(client.get(change_url(case)).content.decode(), "identifiers")
    offered = {i.pk: confirm_url(case, i) in page for i in CaseIdentifier.objects.filter(case=case)}
    assert sorted(offered.values()) == [False, False, True]  # only the learnt phone
    for identifier in CaseIdentifier.objects.filter(case=case):
        assert selectors.confirmable(identifier, case) == offered[identifier.pk]
        try:
            services.confirm_identifier(identifier=identifier, actor=Actor.staff(alice))
        except ValidationError:
            confirmed = False
        else:
            confirmed = True
        assert confirmed == offered[identifier.pk]


def test_an_identifier_of_a_closed_case_is_neither_offered_nor_confirmed(
    client, alice, dora, graph, make_case, django_capture_on_commit_callbacks
):
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    case = services.case_reject(case=case, actor=Actor.staff(dora), reason="Duplicate request")
    assert selectors.why_not_confirmable(phone, case) == "The case is closed."
    client.force_login(alice)
    page = section(client.get(change_url(case)).content.decode(), "identifiers")
    assert confirm_url(case, phone) not in page
    response = client.post(confirm_url(case, phone), {}, follow=True)
    assert "was refused" in response.content.decode()
    with pytest.raises(ValidationError, match="The case is closed"):
        services.confirm_identifier(identifier=phone, actor=Actor.staff(alice))
    phone.refresh_from_db()
    assert phone.confirmed_at is None


# --- manual searches -----------------------------------------------------------------------------


def test_a_waiting_manual_search_is_shown_with_its_link_and_the_case_waits(client, alice, waiting):
    case, run = waiting
    client.force_login(alice)
    sources = section(client.get(change_url(case)).content.decode(), "sources")
    assert "run-state-waiting" in sources
    assert "archivist@staff.demo.example" in sources
    assert complete_url(case, run) in sources
    assert "Sources: 0 of 1 answered" in sources

    page = client.get(complete_url(case, run)).content.decode()
    assert ARTA in page  # what to search for
    assert "Search the cabinet in room 4." in page
    assert 'enctype="multipart/form-data"' in page
    assert 'value="events" selected' in page


def test_completing_a_manual_search_with_a_csv_export(client, alice, waiting):
    case, run = waiting
    export = SimpleUploadedFile(
        "export.csv",
        b"Email,Note\narta.krasniqi@demo.example,Fair 2019\n" + ARTA.encode() + b",Fair 2021\n",
    )
    client.force_login(alice)
    response = client.post(complete_url(case, run), {"category": "events", "upload": export})
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.state, run.records_count, run.counts) == ("succeeded", 2, {"events": 2})
    records = list(results.read_records(run.pk, run.result_file))
    assert [r["data"]["Note"] for r in records] == ["Fair 2019", "Fair 2021"]
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW
    assert AuditEvent.objects.filter(
        case=case, action="gathering.manual_search_completed", actor=alice
    ).exists()
    assert "Manual search of Paper archive recorded: 2 records" in (
        client.get(change_url(case)).content.decode()
    )


def test_completing_a_manual_search_with_json_lines(client, alice, waiting):
    case, run = waiting
    export = SimpleUploadedFile("export.jsonl", b'{"Email": "arta.krasniqi@demo.example"}\n')
    client.force_login(alice)
    response = client.post(complete_url(case, run), {"category": "events", "upload": export})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.records_count == 1


def test_completing_a_manual_search_with_nothing_found(client, alice, waiting):
    case, run = waiting
    client.force_login(alice)
    response = client.post(complete_url(case, run), {"category": "", "nothing_found": "on"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.state, run.records_count, run.result_file) == ("succeeded", 0, "")
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW


def test_a_manual_search_needs_a_file_or_nothing_found_but_not_both(client, alice, waiting):
    case, run = waiting
    client.force_login(alice)
    response = client.post(complete_url(case, run), {"category": "events"})
    assert response.status_code == 200
    assert "Attach the export, or tick" in str(response.context["form"].errors["nothing_found"])
    export = SimpleUploadedFile("export.csv", b"Email\narta.krasniqi@demo.example\n")
    response = client.post(
        complete_url(case, run), {"category": "events", "upload": export, "nothing_found": "on"}
    )
    assert response.status_code == 200
    assert "untick" in str(response.context["form"].errors["nothing_found"])
    run.refresh_from_db()
    assert run.state == ConnectorRun.State.WAITING


def test_a_manual_export_with_another_extension_is_refused(client, alice, waiting):
    case, run = waiting
    client.force_login(alice)
    export = SimpleUploadedFile("export.xlsx", b"PK\x03\x04 not a csv")
    response = client.post(complete_url(case, run), {"category": "events", "upload": export})
    assert response.status_code == 200
    errors = str(response.context["form"].errors["upload"])
    assert "“export.xlsx” is neither a CSV (.csv) nor a JSON Lines" in errors
    run.refresh_from_db()
    assert run.state == ConnectorRun.State.WAITING


def test_a_manual_export_over_the_size_limit_is_refused(client, alice, waiting, settings):
    settings.DSAR_MANUAL_UPLOAD_MAX_BYTES = 10
    case, run = waiting
    client.force_login(alice)
    export = SimpleUploadedFile("export.csv", b"Email\narta.krasniqi@demo.example\n")
    response = client.post(complete_url(case, run), {"category": "events", "upload": export})
    assert response.status_code == 200
    assert "at most 10" in str(response.context["form"].errors["upload"])
    run.refresh_from_db()
    assert run.state == ConnectorRun.State.WAITING


def test_the_services_errors_are_shown_next_to_the_fields(client, alice, waiting):
    case, run = waiting
    client.force_login(alice)
    export = SimpleUploadedFile("export.jsonl", b"[1, 2]\n")
    response = client.post(complete_url(case, run), {"category": "events", "upload": export})
    assert response.status_code == 200
    assert "line 1 is not an object" in str(response.context["form"].errors["upload"])

    SourceSystem.objects.filter(pk=run.system_id).update(config={})  # no default category
    export = SimpleUploadedFile("export.csv", b"Email\narta.krasniqi@demo.example\n")
    response = client.post(complete_url(case, run), {"category": "", "upload": export})
    assert response.status_code == 200
    assert "data category" in str(response.context["form"].errors["category"])
    run.refresh_from_db()
    assert run.state == ConnectorRun.State.WAITING


def test_a_run_of_another_case_is_404(client, alice, waiting, make_case):
    _case, run = waiting
    other = make_case(email="besa@demo.example")
    client.force_login(alice)
    assert client.get(complete_url(other, run)).status_code == 404
    response = client.post(complete_url(other, run), {"nothing_found": "on"})
    assert response.status_code == 404
    run.refresh_from_db()
    assert run.state == ConnectorRun.State.WAITING


def test_the_auditor_cannot_complete_a_manual_search(client, audrey, waiting):
    case, run = waiting
    client.force_login(audrey)
    page = client.get(change_url(case)).content.decode()
    assert "run-state-waiting" in page
    assert complete_url(case, run) not in page
    response = client.get(complete_url(case, run), follow=True)
    assert response.redirect_chain[-1][0] == change_url(case)  # no page listing identifiers
    assert "was refused" in response.content.decode()
    assert client.post(complete_url(case, run), {"nothing_found": "on"}).status_code == 302
    run.refresh_from_db()
    assert run.state == ConnectorRun.State.WAITING


def test_a_completed_search_cannot_be_completed_again(client, alice, waiting):
    case, run = waiting
    client.force_login(alice)
    client.post(complete_url(case, run), {"nothing_found": "on"})
    response = client.post(complete_url(case, run), {"nothing_found": "on"}, follow=True)
    assert "not waiting for a person" in response.content.decode()
    assert (
        AuditEvent.objects.filter(case=case, action="gathering.manual_search_completed").count()
        == 1
    )


# --- the case list -------------------------------------------------------------------------------


def cases_with_runs(make_case, systems, n: int) -> list[Case]:
    """Cases with one succeeded and one failed run each, blocked as gathering leaves them."""
    ok, broken = systems
    made = []
    for i in range(n):
        case = make_case(email=f"subject{i}@demo.example")
        ConnectorRun.objects.create(case=case, system=ok, state="succeeded", records_count=2)
        ConnectorRun.objects.create(case=case, system=broken, state="failed")
        Case.objects.filter(pk=case.pk).update(gathering_blocked_at=timezone.now())
        made.append(case)
    return made


def test_changelist_shows_answered_of_total_and_marks_blocked_cases(
    client, alice, graph, archive, make_case, django_capture_on_commit_callbacks
):
    blocked = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    quiet = make_case(email="besa@demo.example")
    client.force_login(alice)
    response = client.get(CHANGELIST)
    listed = {case.pk: case for case in response.context["cl"].result_list}
    assert (listed[blocked.pk].sources_total, listed[blocked.pk].sources_open) == (3, 1)
    assert listed[quiet.pk].sources_total == 0
    page = response.content.decode()
    assert "2/3" in page
    assert page.count('class="sources-attention"') == 1


def test_changelist_queries_do_not_grow_with_the_number_of_cases(client, alice, graph, make_case):
    client.force_login(alice)
    cases_with_runs(make_case, graph, 1)
    client.get(CHANGELIST)  # warm up: content types, sessions
    with CaptureQueriesContext(connection) as one:
        response = client.get(CHANGELIST)
    assert response.content.decode().count('class="sources-attention"') == 1
    cases_with_runs(make_case, graph, 4)
    with CaptureQueriesContext(connection) as five:
        response = client.get(CHANGELIST)
    page = response.content.decode()
    assert page.count('class="sources-attention"') == 5
    assert page.count(">1/2 <") == 5
    assert len(five) == len(one)


def test_changelist_counts_sources_with_facets_and_a_search(client, alice, graph, make_case):
    wanted, other = cases_with_runs(make_case, graph, 2)
    client.force_login(alice)
    response = client.get(CHANGELIST, {"_facets": "1", "q": wanted.reference})
    assert response.status_code == 200
    page = response.content.decode()
    assert wanted.reference in page and other.reference not in page
    assert ">1/2 <" in page
