"""Notices to the subject: one rule says whether the subject may be e-mailed ("mailbox lost" is
a field); every notice goes through it, by e-mail or, where e-mail is not allowed, by post (a
letter for staff, with its PDF), and the status page lists the letters."""

from __future__ import annotations

import datetime as dt
import importlib
import io

import pytest
from django.apps import apps
from django.urls import reverse
from pypdf import PdfReader

from casework import deadlines, letters, notifications, selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, Notice, PortalToken, PostalLetter, State
from casework.portal import services as portal_services
from tests.casework.helpers import bring_to, fulfilling

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"


@pytest.fixture
def emailable(make_case):
    return make_case(email=ARTA, name="Arta Krasniqi")


@pytest.fixture
def lost(make_case):
    return make_case(email=ARTA, name="Arta Krasniqi", mailbox_lost=True)


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_the_subject_may_be_emailed_only_at_an_address_they_still_open(make_case):
    assert selectors.may_email(make_case(email=ARTA))
    assert not selectors.may_email(make_case(email=ARTA, mailbox_lost=True))
    postal = make_case(email="", postal_address="Rruga e Durrësit 12, Tiranë")
    assert not selectors.may_email(postal)


@pytest.mark.parametrize("notice", Notice.values)
def test_a_notice_goes_by_email_where_the_subject_may_be_emailed(
    notice, emailable, alice, mailoutbox
):
    case = prepared_for(notice, emailable, alice)
    mailoutbox.clear()
    assert notifications.notify_subject(case, notice) == "email"
    assert [m.to for m in mailoutbox] == [[ARTA]]
    assert not PostalLetter.objects.filter(case=case).exists()
    event = AuditEvent.objects.filter(case=case, action="case.notice_sent").latest("seq")
    assert event.details == {"notice": notice, "sent_by": "email"}


@pytest.mark.parametrize("notice", Notice.values)
def test_a_notice_goes_by_post_where_the_mailbox_is_lost_with_a_letter_to_print(
    notice, lost, alice, mailoutbox
):
    case = prepared_for(notice, lost, alice)
    mailoutbox.clear()
    assert notifications.notify_subject(case, notice) == "post"
    assert mailoutbox == []
    letter = PostalLetter.objects.get(case=case, notice=notice)
    assert letter.state == PostalLetter.State.TO_POST
    name, content = letters.letter_pdf(case, notice)
    assert name.startswith(case.reference) and content.startswith(b"%PDF")
    assert case.reference in pdf_text(content)
    event = AuditEvent.objects.filter(case=case, action="case.notice_sent").latest("seq")
    assert event.details == {"notice": notice, "sent_by": "post"}


def prepared_for(notice: str, case: Case, alice) -> Case:
    """The case as it is when the notice is due (a question asked, a refusal's reason...)."""
    team = Actor.staff(alice)
    if notice == Notice.QUESTION:
        case = services.case_ask_subject(
            case=case, actor=team, purpose="clarification", message="Which account is yours?"
        )
    if notice == Notice.REJECTED:
        Case.objects.filter(pk=case.pk).update(rejection_reason="A repeated request")
    if notice == Notice.EXTENDED:
        new_due = deadlines.local_date(case.due_at) + dt.timedelta(days=20)
        Case.objects.filter(pk=case.pk).update(
            extension_reason="Many systems",
            original_due_at=case.due_at,
            due_at=deadlines.end_of_day(new_due),
        )
    if notice == Notice.LIFTING:
        # The lifting's reason is told from its plan (restriction lifting: test_fulfilment).
        case.plans.create(number=2, intent="lift_restriction", reason="The claim is settled")
    return Case.objects.get(pk=case.pk)


def test_the_letters_say_what_each_notice_says(lost, alice):
    case = prepared_for(Notice.QUESTION, lost, alice)
    assert "Which account is yours?" in pdf_text(letters.letter_pdf(case, "question")[1])
    due = deadlines.local_date(case.due_at)
    text = pdf_text(letters.letter_pdf(case, "acknowledged")[1])
    assert "We have received your request" in text and str(due.year) in text
    assert "cannot send it to you by e-mail" in pdf_text(letters.letter_pdf(case, "ready")[1])
    assert "We have completed your request" in pdf_text(letters.letter_pdf(case, "completed")[1])


def test_the_subject_is_acknowledged_once(emailable, mailoutbox):
    assert notifications.notify_subject(emailable, Notice.ACKNOWLEDGED) == "email"
    assert notifications.notify_subject(emailable, Notice.ACKNOWLEDGED) == ""
    assert len(mailoutbox) == 1


def test_each_decision_sends_its_notice(
    lost, alice, dora, bob, tmp_path, django_capture_on_commit_callbacks
):
    from tests.casework.sources import csv_system, write_csv

    write_csv(tmp_path / "crm" / "crm.csv", [{"Email": ARTA, "Name": "Arta Krasniqi"}])
    csv_system("crm", tmp_path / "crm", {"email": "Email"}, category="events")
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_verify(case=lost, actor=Actor.staff(alice), note="Call-back on record")
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_ask_subject(
            case=case, actor=Actor.staff(alice), purpose="identity", message="Your customer number?"
        )
    with django_capture_on_commit_callbacks(execute=True):
        new_due = deadlines.local_date(case.due_at) + dt.timedelta(days=10)
        services.case_extend(case=case, actor=Actor.staff(dora), new_due=new_due, reason="Busy")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_reject(case=case, actor=Actor.staff(dora), reason="Unfounded")
    notices = list(PostalLetter.objects.filter(case=lost).values_list("notice", flat=True))
    assert notices == ["acknowledged", "question", "extended", "rejected"]


def test_an_extension_by_post_is_announced_before_the_original_deadline(
    lost, dora, django_capture_on_commit_callbacks
):
    original = lost.due_at
    new_due = deadlines.local_date(original) + dt.timedelta(days=10)
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_extend(case=lost, actor=Actor.staff(dora), new_due=new_due, reason="x")
    letter = PostalLetter.objects.get(case=case, notice="extended")
    assert case.extension_announced_at < original and letter.created_at < original


def test_ready_is_told_to_the_subject_and_completes_an_access_case(
    make_case, alice, bob, django_capture_on_commit_callbacks, mailoutbox
):
    case = fulfilling(make_case(email=ARTA), alice, approver=bob)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_mark_bundle_ready(case_id=case.pk, at=case.updated_at)
    assert len(mailoutbox) == 1 and "is completed" in mailoutbox[0].subject
    sent = AuditEvent.objects.filter(case=case, action="case.notice_sent")
    assert [e.details["notice"] for e in sent if e.details["notice"] != "acknowledged"] == ["ready"]
    assert Case.objects.get(pk=case.pk).state == State.COMPLETED


def test_a_completed_change_is_told_to_the_subject(
    make_case, alice, bob, django_capture_on_commit_callbacks, mailoutbox
):
    case = fulfilling(make_case(email=ARTA, request_type="erasure"), alice, approver=bob)
    case = services.case_record_response(case=case, actor=Actor.staff(alice))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_fulfil(case=case, actor=Actor.staff(alice))
    assert len(mailoutbox) == 1 and "is completed" in mailoutbox[0].subject
    sent = AuditEvent.objects.filter(case=case, action="case.notice_sent")
    assert "completed" in {e.details["notice"] for e in sent}


def test_the_status_page_lists_the_letters(lost, client):
    services.queue_letter(case=lost, notice=Notice.ACKNOWLEDGED)
    raw = portal_services.issue_token(case=lost, purpose=PortalToken.Purpose.STATUS)
    page = client.get(reverse("portal:status", kwargs={"token": raw})).content.decode()
    assert "Letters we send you by post" in page
    assert "Acknowledgement of your request" in page and "being prepared for the post" in page


def test_staff_open_the_letter_and_mark_it_posted(lost, alice, client):
    letter = services.queue_letter(case=lost, notice=Notice.ACKNOWLEDGED)
    client.force_login(alice)
    listing = client.get(reverse("admin:casework_postalletter_changelist")).content.decode()
    assert lost.reference in listing
    response = client.get(reverse("admin:casework_postalletter_pdf", args=[letter.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    assert lost.reference in pdf_text(response.content)
    client.post(
        reverse("admin:casework_postalletter_changelist"),
        {"action": "mark_posted", "_selected_action": [letter.pk]},
    )
    letter.refresh_from_db()
    assert (letter.state, letter.posted_by) == (PostalLetter.State.POSTED, alice)
    assert AuditEvent.objects.filter(case=lost, action="case.letter_posted").exists()


def test_an_auditor_reads_the_letters_but_cannot_mark_one_posted(lost, audrey, client):
    letter = services.queue_letter(case=lost, notice=Notice.ACKNOWLEDGED)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.letter_mark_posted(letter=letter, actor=Actor.staff(audrey))
    client.force_login(audrey)
    response = client.get(reverse("admin:casework_postalletter_pdf", args=[letter.pk]))
    assert lost.reference in pdf_text(response.content)
    client.post(
        reverse("admin:casework_postalletter_changelist"),
        {"action": "mark_posted", "_selected_action": [letter.pk]},
    )
    letter.refresh_from_db()
    assert letter.state == PostalLetter.State.TO_POST


def test_mailbox_lost_moves_from_the_details_to_its_field(make_case):
    migration = importlib.import_module("casework.migrations.0009_mailbox_lost_and_letters")
    case = make_case(email=ARTA)
    Case.objects.filter(pk=case.pk).update(details={"mailbox_lost": True, "country": "DE"})
    migration.mailbox_lost_from_details(apps, None)
    case.refresh_from_db()
    assert case.mailbox_lost is True and case.details == {"country": "DE"}


def test_a_request_with_a_lost_mailbox_waits_for_staff(lost):
    from casework.portal import selectors as portal_selectors

    assert portal_selectors.waits_for_staff(lost)
    assert portal_selectors.cases_for_status_links(ARTA) == []
    assert bring_to(State.RECEIVED, lost, None).mailbox_lost


def test_a_letter_is_in_the_subjects_language(make_case):
    case = make_case(email=ARTA, name="Arta Krasniqi", mailbox_lost=True, language="sq")
    text = pdf_text(letters.letter_pdf(case, Notice.ACKNOWLEDGED)[1])
    assert "E kemi marrë kërkesën tuaj" in text
