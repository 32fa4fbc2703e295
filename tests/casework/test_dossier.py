"""The case dossier: one PDF per case for a regulator's inquiry or a complaint, read back."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from pypdf import PdfReader

from casework import deadlines, selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, PostalLetter, State
from casework.selectors.dossier import dossier_facts
from tests.casework.sources import csv_system, write_csv

ARTA = "arta.krasniqi@demo.example"
EXTENSION_REASON = "Seven systems to search, two of them by hand"
REFUSAL_REASON = "The same request came five times this week"


@pytest.fixture(autouse=True)
def register(db):
    call_command("load_data_map", verbosity=0)


@pytest.fixture
def decided(tmp_path, make_case, alice, dora, django_capture_on_commit_callbacks):
    """Arta's access request: her records gathered (dietary needs, an emergency contact), one
    left out in review, the deadline extended, then the request refused, each told to her."""
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [
            {
                "Name": "Arta Krasniqi",
                "Email": ARTA,
                "Dietary needs": "halal",
                "Emergency contact": "Besnik Krasniqi +355 69 000 1111",
            },
            {
                "Name": "Arta Krasniqi",
                "Email": ARTA,
                "Dietary needs": "vegan",
                "Emergency contact": "",
            },
        ],
    )
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    case = make_case(email=ARTA, name="Arta Krasniqi")
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    vegan = next(
        r for r in selectors.review_rows(case) if r["data"].get("Dietary needs") == "vegan"
    )
    services.exclude_record(
        case=case,
        actor=Actor.staff(alice),
        run=vegan["run"],
        category=vegan["category"],
        record_key=vegan["key"],
    )
    with capture(execute=True):
        services.case_extend(
            case=case,
            actor=Actor.staff(dora),
            new_due=deadlines.local_date(case.due_at) + dt.timedelta(days=20),
            reason=EXTENSION_REASON,
        )
    with capture(execute=True):
        services.case_reject(
            case=case, actor=Actor.staff(dora), reason=REFUSAL_REASON, unfounded=True
        )
    return Case.objects.get(pk=case.pk)


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def test_the_dossier_holds_timeline_events_letters_deadline_and_reasons(decided):
    text = text_of(services.build_dossier(decided))

    assert decided.reference in text
    assert "Case dossier" in text
    for heading in ("Timeline", "The deadline", "Decisions and their reasons", "Audit trail"):
        assert heading in text
    # Every event of the trail, by its action (a long name may wrap in its cell).
    unwrapped = text.replace(" ", "")
    for action in AuditEvent.objects.filter(case=decided).values_list("action", flat=True):
        assert action in unwrapped
    assert "The chain of events verifies" in text
    # The decisions, with their reasons and outcomes.
    assert EXTENSION_REASON in text
    assert REFUSAL_REASON in text
    assert "manifestly unfounded" in text
    assert "Left out: not the subject's (Not about the subject): 1" in text
    # The letters told to the subject.
    assert "An extension of the time to answer" in text
    assert "Our decision not to act on your request" in text
    # The deadline's history: extended to the new date.
    assert str(deadlines.local_date(decided.due_at)) in text


def test_the_dossier_holds_no_gathered_values(decided):
    text = text_of(services.build_dossier(decided))
    for gathered in ("halal", "vegan", "Besnik", "+355 69 000 1111"):
        assert gathered not in text


def test_the_dossier_shows_a_letter_posted(make_case, alice, django_capture_on_commit_callbacks):
    case = make_case(email="", postal_address="Rruga e Durrësit 12\nTiranë", name="Ilir Hoxha")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.staff(alice), note="Called the number on file")
    letter = PostalLetter.objects.get(case=case, notice="acknowledged")
    services.letter_mark_posted(letter=letter, actor=Actor.staff(alice))
    [told] = dossier_facts(Case.objects.get(pk=case.pk)).letters
    posted = AuditEvent.objects.get(case=case, action="case.letter_posted")
    assert (told.channel, told.posted_at) == ("post", posted.created_at)
    text = text_of(services.build_dossier(case))
    assert "Acknowledgement of your request" in text and "posted on" in text
    assert "Called the number on file" in text  # how identity was checked


def test_the_dossier_is_in_the_cases_language(make_case, dora):
    case = make_case(language="sq")
    services.case_set_legal_hold(case=case, actor=Actor.staff(dora), reason="Hetim IDP-17")
    text = text_of(services.build_dossier(case))
    assert "Dosja e çështjes" in text
    assert "Gjurma e auditimit" in text
    assert "Hetim IDP-17" in text
    assert "Audit trail" not in text


def test_the_dossier_of_a_purged_case_still_holds_its_trail(
    decided, django_capture_on_commit_callbacks
):
    Case.objects.filter(pk=decided.pk).update(closed_at=decided.closed_at - dt.timedelta(days=1200))
    assert services.purge_closed_case(decided) is not None
    text = text_of(services.build_dossier(Case.objects.get(pk=decided.pk)))
    assert "case.purged" in text and "case.rejected" in text
    assert REFUSAL_REASON not in text and ARTA not in text


def test_the_export_is_audited_and_refused_to_whoever_may_not_see_the_case(
    decided, audrey, adam, ingrid
):
    services.export_dossier(case=decided, actor=Actor.staff(audrey))
    event = AuditEvent.objects.filter(case=decided).order_by("-seq").first()
    assert (event.action, event.actor) == ("case.dossier_exported", audrey)
    for user in (adam, ingrid):
        with pytest.raises(PermissionDenied):
            services.export_dossier(case=decided, actor=Actor.staff(user))


def test_a_confidential_case_dossier_is_refused_to_staff_not_named(make_case, alice, dora):
    case = make_case()
    Case.objects.filter(pk=case.pk).update(confidential=True)
    with pytest.raises(PermissionDenied):
        services.export_dossier(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    assert services.export_dossier(case=Case.objects.get(pk=case.pk), actor=Actor.staff(dora))


def test_the_case_command_writes_the_dossier(decided, tmp_path, adam):
    path = tmp_path / "dossier.pdf"
    out = io.StringIO()
    call_command("case", decided.reference, "--dossier", str(path), stdout=out)
    assert decided.reference in text_of(path.read_bytes())
    assert "dossier written" in out.getvalue()
    event = AuditEvent.objects.filter(case=decided).order_by("-seq").first()
    assert event.action == "case.dossier_exported"
    assert event.details["entered_via"] == "command_line"
    with pytest.raises(CommandError, match="No case has the reference"):
        call_command("case", decided.reference, "--dossier", str(path), "--staff", "adam")


@pytest.mark.parametrize("who", ["alice", "audrey", "dora"])
def test_the_admin_link_gives_the_pdf_to_staff_who_see_the_case(client, make_case, who, request):
    user = request.getfixturevalue(who)
    case = make_case()
    client.force_login(user)
    page = client.get(f"/admin/casework/case/{case.pk}/change/").content.decode()
    assert f"/admin/casework/case/{case.pk}/dossier/" in page
    response = client.get(f"/admin/casework/case/{case.pk}/dossier/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    assert case.reference in text_of(response.content)


def test_the_admin_link_is_refused_to_the_administrator(client, make_case, adam):
    case = make_case()
    client.force_login(adam)
    response = client.get(f"/admin/casework/case/{case.pk}/dossier/")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(case=case, action="case.dossier_exported").exists()


def test_the_api_gives_the_dossier_and_records_the_export(make_case, dora):
    from tests.casework.api_support import client_for

    case = make_case()
    response = client_for(dora).get(f"/api/v1/cases/{case.reference}/dossier/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert case.reference in text_of(response.content)
    event = AuditEvent.objects.filter(case=case).order_by("-seq").first()
    assert event.action == "case.dossier_exported"
    assert event.details["entered_via"] == "api"
