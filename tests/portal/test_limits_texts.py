"""The portal's pages and e-mails state the limits the settings make true (how long a link or a
code lasts, when an unconfirmed request closes), in English and in Albanian, with the right
plural: nothing says "24 hours" because it was written down once."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django.utils import timezone

from casework import services as case_services
from casework.actors import Actor
from casework.models import Case, PortalToken
from casework.portal import emails
from casework.portal import services as portal_services
from casework.portal.context_processors import limits, portal_limits
from tests.casework.helpers import verified
from tests.portal.conftest import code_of, ready_bundle

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "casework" / "templates"


def text(response) -> str:
    """The page's text in one line: the words a person reads, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(response.content.decode()))


def mail_text(message) -> str:
    """The text and HTML parts of an e-mail, whitespace collapsed."""
    parts = [message.body] + [content for content, _type in message.alternatives]
    return re.sub(r"\s+", " ", unescape(" ".join(parts)))


def expire_tokens(case: Case) -> None:
    PortalToken.objects.filter(case=case).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )


# --- the context processor --------------------------------------------------------------------


@override_settings(
    DSAR_VERIFY_TOKEN_HOURS=48,
    DSAR_STATUS_TOKEN_HOURS=12,
    DSAR_UNVERIFIED_EXPIRY_DAYS=30,
    DSAR_CODE_MINUTES=5,
    DSAR_CODE_MAX_TRIES=3,
    DSAR_DOWNLOAD_WINDOW_DAYS=10,
    DSAR_DOWNLOAD_MAX=2,
    DSAR_DOWNLOAD_TOKEN_MINUTES=45,
)
def test_the_limits_are_read_from_the_settings_when_a_page_is_rendered(rf):
    expected = {
        "verify_hours": 48,
        "status_hours": 12,
        "unverified_days": 30,
        "code_minutes": 5,
        "code_tries": 3,
        "download_days": 10,
        "download_max": 2,
        "download_button_minutes": 45,
    }
    assert portal_limits(rf.get("/en/request/")) == expected
    assert limits() == expected


def test_every_page_gets_the_limits(client):
    response = client.get("/en/request/")
    assert response.context["verify_hours"] == django_settings.DSAR_VERIFY_TOKEN_HOURS
    assert response.context["unverified_days"] == django_settings.DSAR_UNVERIFIED_EXPIRY_DAYS


# --- pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "hours", "says"),
    [
        ("en", 48, "Open it within 48 hours and confirm the request"),
        ("sq", 48, "Hapeni brenda 48 orëve dhe konfirmoni kërkesën"),
        ("en", 1, "Open it within 1 hour and confirm the request"),
        ("sq", 1, "Hapeni brenda 1 ore dhe konfirmoni kërkesën"),
    ],
    ids=["en-48", "sq-48", "en-1", "sq-1"],
)
def test_the_sent_page_says_how_long_the_confirmation_link_lasts(submit, language, hours, says):
    with override_settings(DSAR_VERIFY_TOKEN_HOURS=hours):
        response = submit(language)
    assert response.status_code == 200
    page = text(response)
    assert says in page
    assert "24 hours" not in page and "24 orë" not in page


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("en", "Confirmation links are valid for 48 hours."),
        ("sq", "Lidhjet e konfirmimit janë të vlefshme për 48 orë."),
    ],
    ids=["en", "sq"],
)
def test_an_expired_confirmation_link_says_how_long_links_last(client, make_case, language, says):
    case = make_case(language=language)
    with override_settings(DSAR_VERIFY_TOKEN_HOURS=48):
        raw = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.VERIFY)
        expire_tokens(case)
        response = client.get(f"/{language}/verify/{raw}/")
    assert response.status_code == 410
    assert says in text(response)


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("en", "Status links are valid for 48 hours."),
        ("sq", "Lidhjet e gjendjes së kërkesës janë të vlefshme për 48 orë."),
    ],
    ids=["en", "sq"],
)
def test_an_expired_status_link_says_how_long_status_links_last(client, make_case, language, says):
    case = make_case(language=language)
    with override_settings(DSAR_STATUS_TOKEN_HOURS=48):
        raw = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
        expire_tokens(case)
        response = client.get(f"/{language}/status/{raw}/")
    assert response.status_code == 410
    assert says in text(response)


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("en", "because it was not confirmed within 30 days."),
        ("sq", "sepse nuk u konfirmua brenda 30 ditëve."),
    ],
    ids=["en", "sq"],
)
def test_the_link_of_a_closed_request_says_when_unconfirmed_requests_close(
    post, make_case, system, language, says
):
    with override_settings(DSAR_UNVERIFIED_EXPIRY_DAYS=30):
        case = make_case(language=language)
        raw = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.VERIFY)
        Case.objects.filter(pk=case.pk).update(
            received_at=timezone.now() - timezone.timedelta(days=31)
        )
        case_services.case_expire(case=Case.objects.get(pk=case.pk), actor=system)
        response = post(f"/{language}/verify/{raw}/")
    assert response.status_code == 410
    assert says in text(response)


@pytest.mark.parametrize(
    ("language", "form_says", "status_says"),
    [
        (
            "en",
            "A request you do not confirm within 30 days is closed.",
            "We will send you a link to its status page, valid for 48 hours.",
        ),
        (
            "sq",
            "Një kërkesë që nuk e konfirmoni brenda 30 ditëve mbyllet.",
            "lidhje për faqen e gjendjes së saj, të vlefshme për 48 orë.",
        ),
    ],
    ids=["en", "sq"],
)
def test_the_form_and_the_status_link_page_state_the_settings(
    client, language, form_says, status_says
):
    with override_settings(DSAR_UNVERIFIED_EXPIRY_DAYS=30, DSAR_STATUS_TOKEN_HOURS=48):
        assert form_says in text(client.get(f"/{language}/request/"))
        assert status_says in text(client.get(f"/{language}/status/"))


def test_a_single_day_is_said_in_the_singular(client):
    with override_settings(DSAR_UNVERIFIED_EXPIRY_DAYS=1):
        assert "do not confirm within 1 day is closed." in text(client.get("/en/request/"))
        assert "nuk e konfirmoni brenda 1 dite mbyllet." in text(client.get("/sq/request/"))


@pytest.mark.parametrize(
    ("language", "page_says", "mail_says", "ready_says"),
    [
        (
            "en",
            "We have sent you a code. It is valid for 5 minutes.",
            "The code is valid for 5 minutes and works once.",
            "It works once, within 45 minutes.",
        ),
        (
            "sq",
            "Ju kemi dërguar një kod. Ai është i vlefshëm për 5 minuta.",
            "Kodi është i vlefshëm për 5 minuta dhe përdoret vetëm një herë.",
            "Ai funksionon vetëm një herë, brenda 45 minutave.",
        ),
    ],
    ids=["en", "sq"],
)
def test_the_download_pages_and_the_code_email_state_the_settings(
    post, make_case, alice, mailoutbox, language, page_says, mail_says, ready_says
):
    case = verified(make_case(name="Arta Krasniqi", language=language), alice)
    ready_bundle(case)
    status = f"/{language}/status/{portal_services.issue_token(case=case, purpose='status')}/"
    with override_settings(DSAR_CODE_MINUTES=5, DSAR_DOWNLOAD_TOKEN_MINUTES=45):
        response = post(status + "download/", {"action": "send"})
        assert response.status_code == 200
        assert page_says in text(response)
        assert mail_says in mail_text(mailoutbox[-1])
        response = post(status + "download/", {"action": "check", "code": code_of(mailoutbox[-1])})
        assert response.status_code == 200
        assert ready_says in text(response)


def test_a_single_minute_is_said_in_the_singular(post, make_case, alice, mailoutbox):
    case = verified(make_case(name="Arta Krasniqi", language="sq"), alice)
    ready_bundle(case)
    status = f"/sq/status/{portal_services.issue_token(case=case, purpose='status')}/"
    with override_settings(DSAR_CODE_MINUTES=1):
        response = post(status + "download/", {"action": "send"})
    assert "Ai është i vlefshëm për 1 minutë." in text(response)
    assert "Kodi është i vlefshëm për 1 minutë dhe" in mail_text(mailoutbox[-1])


# --- e-mails --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "link_says", "close_says"),
    [
        (
            "en",
            "The link is valid for 48 hours and works once.",
            "it will be closed after 30 days without any of your data being looked at.",
        ),
        (
            "sq",
            "Lidhja është e vlefshme për 48 orë dhe përdoret vetëm një herë.",
            "ajo do të mbyllet pas 30 ditësh pa u parë asnjë nga të dhënat tuaja.",
        ),
    ],
    ids=["en", "sq"],
)
def test_the_verification_email_states_the_settings(
    make_case, mailoutbox, language, link_says, close_says
):
    case = make_case(language=language)
    with override_settings(DSAR_VERIFY_TOKEN_HOURS=48, DSAR_UNVERIFIED_EXPIRY_DAYS=30):
        assert emails.send_verification_link(case)
    body = mail_text(mailoutbox[-1])
    assert body.count(link_says) == 2  # in the text part and in the HTML part
    assert body.count(close_says) == 2


@pytest.mark.parametrize(
    ("language", "link_says", "window_says"),
    [
        (
            "en",
            "This link is valid for 48 hours.",
            "You can download it for 3 days.",
        ),
        (
            "sq",
            "Kjo lidhje është e vlefshme për 48 orë.",
            "Mund ta shkarkoni për 3 ditë.",
        ),
    ],
    ids=["en", "sq"],
)
def test_the_status_emails_state_the_settings(
    make_case, alice, mailoutbox, language, link_says, window_says
):
    # The subject confirmed the e-mail link: status links go to a confirmed address only.
    case = case_services.case_verify(case=make_case(language=language), actor=Actor.subject())
    with override_settings(DSAR_STATUS_TOKEN_HOURS=48, DSAR_DOWNLOAD_WINDOW_DAYS=3):
        assert emails.send_acknowledgement(case)
        assert emails.send_bundle_ready(case)
        assert emails.send_status_links(case.email, language) == 1
    acknowledgement, ready, status_links = (mail_text(m) for m in mailoutbox[-3:])
    assert link_says in acknowledgement
    assert link_says in ready and window_says in ready
    each = "Each link is valid for 48 hours." if language == "en" else "për 48 orë."
    assert each in status_links


# --- no number written into a text --------------------------------------------------------------

# A number of hours, days or minutes (or tries) typed into a page or an e-mail of the portal, in
# either language: it should come from the settings through a variable instead.
HARD_CODED = re.compile(
    r"\b\d+\s+(hours?|days?|minutes?|tries|orë|ditë|ditësh|ditëve|minuta|minutë|provash)\b"
)


def test_no_portal_page_or_email_writes_a_limit_into_its_text():
    files = sorted(TEMPLATES.glob("portal/*.html")) + sorted(
        TEMPLATES.glob("casework/email/portal_*")
    )
    assert len(files) > 20, files
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)!r}"
        for path in files
        for match in HARD_CODED.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found


def test_the_hard_coded_check_would_see_one():
    assert HARD_CODED.search("Links are valid for 24 hours.")
    assert HARD_CODED.search("valid for 10 minutes")
    assert not HARD_CODED.search("valid for {{ hours }} hours")
