"""Confirming the e-mail: a link that opens a page, a POST that verifies, tokens stored only
as hashes, clear pages for links that open nothing, and resending."""

from __future__ import annotations

import json
import re

import pytest
from django.core import serializers
from django.utils import timezone

from casework.models import AuditEvent, Case, PortalToken, State
from casework.portal import services
from tests.portal.conftest import ARTA, links, token_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(submit, mailoutbox):
    """A fresh request and the confirmation link from its e-mail."""

    def _link(language: str = "en", **overrides) -> tuple[Case, str]:
        before = len(mailoutbox)
        submit(language, **overrides)
        case = Case.objects.order_by("-pk").first()
        assert len(mailoutbox) == before + 1
        return case, links(mailoutbox[-1])[0]

    return _link


def test_opening_the_link_changes_nothing(client, link, mailoutbox):
    case, path = link()
    events = AuditEvent.objects.count()
    for _ in range(3):  # a mail scanner, a preview, the subject
        response = client.get(path)
        assert response.status_code == 200
    html = response.content.decode()
    assert 'method="post"' in html and "Yes, I made this request" in html
    case.refresh_from_db()
    assert case.state == State.RECEIVED
    assert AuditEvent.objects.count() == events
    assert PortalToken.objects.get(case=case, purpose="verify").used_at is None
    assert len(mailoutbox) == 1


@pytest.mark.parametrize("language", ["en", "sq"])
def test_posting_the_link_verifies_and_acknowledges(client, post, link, mailoutbox, language):
    case, path = link(language)
    response = post(path)
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.state != State.RECEIVED  # verified; gathering starts
    assert case.verified_at is not None and case.verification_method == "email_link"
    assert AuditEvent.objects.filter(
        case=case, action="case.verified", actor_kind="subject"
    ).exists()
    ack = mailoutbox[-1]
    assert case.reference in ack.subject
    assert case.reference in ack.body
    assert str(case.due_at.astimezone(_tirana()).day) in ack.body
    assert links(ack, "status"), "the acknowledgement links to the status page"
    assert links(ack, "status")[0].startswith(f"/{language}/")
    assert [kind for _content, kind in ack.alternatives] == ["text/html"]
    assert case.reference in response.content.decode()


def test_confirming_locks_the_case_once(require_postgres, link, mailoutbox):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.casework.test_locking import case_row_locks

    case, path = link()
    with CaptureQueriesContext(connection) as queries:
        services.confirm_email(raw_token=token_of(path))
    assert case_row_locks(queries.captured_queries) == 1
    case.refresh_from_db()
    assert case.verification_method == "email_link"


def _tirana():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Tirane")


def test_the_acknowledgement_names_reference_and_due_date_in_albanian(post, link, mailoutbox):
    case, path = link("sq")
    post(path)
    ack = mailoutbox[-1]
    assert f"Kërkesa juaj {case.reference}" in ack.subject
    assert "Do t'ju përgjigjemi deri më:" in ack.body
    due = case.due_at.astimezone(_tirana())
    months = [
        "janar",
        "shkurt",
        "mars",
        "prill",
        "maj",
        "qershor",
        "korrik",
        "gusht",
        "shtator",
        "tetor",
        "nëntor",
        "dhjetor",
    ]
    assert f"{due.day} {months[due.month - 1]} {due.year}" in ack.body.lower()


def test_the_database_holds_only_hashes_of_tokens(post, link, mailoutbox):
    _case, path = link()
    post(path)
    raw_tokens = [
        token_of(p) for m in mailoutbox for kind in ("verify", "status") for p in links(m, kind)
    ]
    assert len(raw_tokens) == 2
    dump = serializers.serialize("json", PortalToken.objects.all())
    for raw in raw_tokens:
        assert raw not in dump
        assert len(raw) >= 43  # 32 bytes from secrets: 256 bits
    stored = {row["fields"]["token_hash"] for row in json.loads(dump)}
    assert stored == {services.hash_token(raw) for raw in raw_tokens}


def test_a_used_link_answers_410(client, post, link):
    _case, path = link()
    post(path)
    response = post(path)
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    response = client.get(path)
    assert response.status_code == 410


def test_an_altered_link_answers_404(client, post, link):
    case, path = link()
    token = token_of(path)
    altered = path.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert client.get(altered).status_code == 404
    response = post(altered)
    assert response.status_code == 404
    assert "We do not recognise this link" in response.content.decode()
    case.refresh_from_db()
    assert case.state == State.RECEIVED


def test_an_expired_link_answers_410_in_the_subjects_language(client, post, link):
    case, path = link("sq")
    PortalToken.objects.filter(case=case).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    response = post(path)
    assert response.status_code == 410
    assert "Kjo lidhje ka skaduar" in response.content.decode()
    assert client.get(path).status_code == 410
    case.refresh_from_db()
    assert case.state == State.RECEIVED


def test_a_link_of_an_expired_request_says_it_is_closed(post, link, system):
    from casework import services as case_services

    case, path = link()
    Case.objects.filter(pk=case.pk).update(received_at=timezone.now() - timezone.timedelta(days=15))
    case_services.case_expire(case=Case.objects.get(pk=case.pk), actor=system)
    response = post(path)
    assert response.status_code == 410
    assert "This request is closed" in response.content.decode()


def test_token_pages_send_no_referrer_and_are_not_cached(client, post, link):
    _case, path = link()
    for response in (client.get(path), post(path)):
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
        assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("flag", [{"has_representative": "on"}, {"mailbox_lost": "on"}])
def test_representative_and_lost_mailbox_cases_stay_received(
    post, submit, mailoutbox, flag, settings
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    extra = dict(flag)
    if "has_representative" in flag:
        extra.update(
            representative_name="Ilir Hoxha",
            representative_relationship="Lawyer",
            representative_authority=SimpleUploadedFile("a.pdf", b"%PDF-1.4 x", "application/pdf"),
        )
    submit(**extra)
    case = Case.objects.get()
    # A lost mailbox gets no e-mail; should a link exist for it all the same, it verifies nothing.
    raw = (
        links(mailoutbox[-1])[0]
        if mailoutbox
        else f"/en/verify/{services.issue_token(case=case, purpose='verify')}/"
    )
    response = post(raw)
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.state == State.RECEIVED
    assert case.verified_at is None
    event = AuditEvent.objects.get(case=case, action="portal.email_confirmed")
    assert event.actor_kind == "subject"
    expected = (
        "check the authority" if "has_representative" in flag else "contact details we already hold"
    )
    assert expected in response.content.decode()


def test_resending_sends_a_new_link_for_a_waiting_request(client, post, link, mailoutbox):
    case, first = link()
    response = post(
        "/en/request/resend/", {"email": ARTA.upper(), "reference": case.reference.lower()}
    )
    assert response.status_code == 200
    assert len(mailoutbox) == 2
    second = links(mailoutbox[-1])[0]
    assert second != first
    post(second)
    case.refresh_from_db()
    assert case.state != State.RECEIVED


def test_resending_answers_the_same_when_nothing_matches(post, link, mailoutbox):
    case, _path = link()
    matching = post("/en/request/resend/", {"email": ARTA, "reference": case.reference})
    other = post(
        "/en/request/resend/", {"email": "nobody@demo.example", "reference": case.reference}
    )
    assert matching.status_code == other.status_code == 200
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert strip.sub("", matching.content.decode()) == strip.sub("", other.content.decode())
    assert len(mailoutbox) == 2  # the first link, and one resent for the match only


def test_resending_checks_its_fields(post):
    response = post("/en/request/resend/", {"email": "x", "reference": "nope"})
    html = response.content.decode()
    assert 'id="id_email_error"' in html and 'id="id_reference_error"' in html


def test_the_confirmation_e_mail_records_the_receipt_confirmation_once(
    db, make_case, django_capture_on_commit_callbacks
):
    from casework.models import AuditEvent
    from casework.portal import emails

    case = make_case(regime="ccpa")
    assert emails.send_verification_link(case)
    case.refresh_from_db()
    confirmed = case.receipt_confirmed_at
    assert confirmed is not None and confirmed <= case.receipt_confirmation_due_at
    assert emails.send_verification_link(case)  # a resend does not move it
    case.refresh_from_db()
    assert case.receipt_confirmed_at == confirmed
    assert AuditEvent.objects.filter(case=case, action="case.receipt_confirmed").count() == 1
