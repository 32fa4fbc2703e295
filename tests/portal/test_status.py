"""The status page behind a magic link: state and due date in plain words, messages from the
privacy team, answering, withdrawing, and asking for a fresh link."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.utils import dateformat, timezone, translation

from casework import services
from casework.actors import Actor
from casework.models import AuditEvent, Case, CaseNote, PortalToken, State
from casework.portal import selectors
from casework.portal import services as portal_services
from tests.casework.helpers import verified
from tests.portal.conftest import ARTA, links

pytestmark = pytest.mark.django_db


def status_path(case: Case, language: str = "en") -> str:
    return f"/{language}/status/{portal_services.issue_token(case=case, purpose='status')}/"


def test_it_shows_the_state_and_due_date(client, make_case):
    case = make_case(name="Arta Krasniqi")
    response = client.get(status_path(case))
    assert response.status_code == 200
    html = response.content.decode()
    assert case.reference in html
    assert "We are waiting for you to confirm your e-mail address" in html
    assert "We will answer by" in html
    with translation.override("en"):
        assert dateformat.format(selectors.due_on(case), "j F Y") in html
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_the_status_link_is_reusable_for_a_day(client, make_case):
    case = make_case()
    path = status_path(case)
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    PortalToken.objects.filter(case=case).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get(path)
    assert response.status_code == 410
    assert "Status links are valid for 24 hours" in response.content.decode()


def test_a_verify_token_does_not_open_the_status_page(client, make_case):
    case = make_case()
    raw = portal_services.issue_token(case=case, purpose="verify")
    assert client.get(f"/en/status/{raw}/").status_code == 404


def test_it_shows_an_extension_with_its_reason(client, make_case, dora):
    case = verified(make_case(), dora)
    new_due = (case.due_at + dt.timedelta(days=30)).astimezone(dt.UTC).date()
    services.case_extend(
        case=case, actor=Actor.staff(dora), new_due=new_due, reason="Many systems to search."
    )
    html = client.get(status_path(case)).content.decode()
    assert "We extended the time to answer from" in html
    assert "Many systems to search." in html


def test_it_shows_messages_for_the_subject_only(client, make_case, alice):
    case = verified(make_case(), alice)
    services.case_add_note(case=case, actor=Actor.staff(alice), text="Internal: check CRM twice")
    services.case_ask_subject(
        case=case,
        actor=Actor.staff(alice),
        purpose="clarification",
        message="Which of your accounts do you mean?",
    )
    html = client.get(status_path(case)).content.decode()
    assert "Which of your accounts do you mean?" in html
    assert "Internal: check CRM twice" not in html
    assert "We need something from you" in html


def test_the_subject_answers_when_asked(client, make_case, alice):
    case = services.case_ask_subject(
        case=verified(make_case(), alice),
        actor=Actor.staff(alice),
        purpose="clarification",
        message="Which account?",
    )
    path = status_path(case)
    html = client.get(path).content.decode()
    assert 'name="text"' in html
    response = client.post(path + "answer/", {"text": "The one at Drini."})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.VERIFIED
    note = CaseNote.objects.get(case=case, kind="answer")
    assert note.text == "The one at Drini." and note.visible_to_subject
    event = AuditEvent.objects.get(case=case, action="case.answered")
    assert event.actor_kind == "subject"
    html = client.get(response["Location"]).content.decode()
    assert "Thank you: we have your answer." in html
    assert "The one at Drini." in html


def test_an_empty_answer_is_refused_next_to_the_field(client, make_case, alice):
    case = services.case_ask_subject(
        case=verified(make_case(), alice),
        actor=Actor.staff(alice),
        purpose="clarification",
        message="Which account?",
    )
    response = client.post(status_path(case) + "answer/", {"text": "  "})
    html = response.content.decode()
    assert 'id="id_text_error"' in html and "Write your answer." in html
    case.refresh_from_db()
    assert case.state == State.AWAITING_SUBJECT


def test_answering_is_not_offered_when_nobody_asked(client, make_case, alice):
    case = verified(make_case(), alice)
    path = status_path(case)
    assert 'name="text"' not in client.get(path).content.decode()
    response = client.post(path + "answer/", {"text": "Hello"})
    assert response.status_code == 409
    assert not CaseNote.objects.filter(case=case, kind="answer").exists()


def test_withdrawal_asks_for_confirmation_first(client, make_case):
    case = make_case()
    path = status_path(case)
    page = client.get(path + "withdraw/")
    assert page.status_code == 200
    assert "Yes, withdraw my request" in page.content.decode()
    case.refresh_from_db()
    assert case.state == State.RECEIVED
    response = client.post(path + "withdraw/")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.WITHDRAWN
    assert AuditEvent.objects.get(case=case, action="case.withdrawn").actor_kind == "subject"
    html = client.get(response["Location"]).content.decode()
    assert "You withdrew this request." in html
    assert "Withdraw my request" not in html


def test_the_status_page_speaks_albanian(client, make_case):
    case = make_case(language="sq")
    html = unescape(client.get(status_path(case, "sq")).content.decode())
    assert "Do t'ju përgjigjemi deri më" in html


# --- asking for a fresh link ---------------------------------------------------------------------


def _strip(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def confirmed(case: Case) -> Case:
    """The subject confirmed the request's e-mail link: the address is verified."""
    return services.case_verify(case=case, actor=Actor.subject())


def test_a_fresh_link_is_sent_to_a_known_address(post, make_case, mailoutbox):
    case = confirmed(make_case(language="sq"))
    mailoutbox.clear()
    response = post("/en/status/", {"email": ARTA})
    assert response.status_code == 200
    assert len(mailoutbox) == 1
    paths = links(mailoutbox[0], "status")
    assert len(paths) == 1 and paths[0].startswith("/sq/status/")
    assert case.reference in mailoutbox[0].body


def test_asking_for_a_link_answers_alike_for_unknown_addresses(post, make_case, mailoutbox):
    confirmed(make_case())
    mailoutbox.clear()
    known = post("/en/status/", {"email": ARTA})
    unknown = post("/en/status/", {"email": "nobody@demo.example"})
    assert known.status_code == unknown.status_code == 200
    assert _strip(known) == _strip(unknown)
    assert len(mailoutbox) == 1


def test_no_status_link_goes_to_an_address_never_confirmed(post, make_case, mailoutbox):
    make_case()  # the confirmation link was never opened
    post("/en/status/", {"email": ARTA})
    assert mailoutbox == []


@pytest.mark.parametrize(
    "look_alike",
    [
        "arta.krasn\u0131q\u0131@demo.example",  # dotless i
        "arta.kra\u017fniqi@demo.example",  # long s
        "arta.krasniqi@demo.exampl\u0435",  # Cyrillic e in the domain
        "\u0430rta.krasniqi@demo.example",  # Cyrillic a
        "arta.krasniqi\u200b@demo.example",  # a zero-width space
        "ARTA.KRASNIQI+x@demo.example",  # a plus-tag is another address
    ],
)
def test_no_status_link_goes_to_a_look_alike_address(post, make_case, mailoutbox, look_alike):
    confirmed(make_case())
    mailoutbox.clear()
    post("/en/status/", {"email": look_alike})
    assert mailoutbox == []


def test_a_status_link_e_mail_holds_a_handful_of_the_most_recent_requests(
    post, make_case, mailoutbox, settings
):
    settings.DSAR_STATUS_LINKS_MAX = 2
    cases = [confirmed(make_case(request_type=t)) for t in ("access", "erasure", "objection")]
    mailoutbox.clear()
    post("/en/status/", {"email": "Arta.Krasniqi@DEMO.example"})  # ASCII case is no matter
    assert len(mailoutbox) == 1 and len(links(mailoutbox[0], "status")) == 2
    assert cases[0].reference not in mailoutbox[0].body


def test_no_status_link_goes_to_a_lost_mailbox(post, submit, mailoutbox):
    submit(mailbox_lost="on")
    post("/en/status/", {"email": ARTA})
    assert mailoutbox == []
