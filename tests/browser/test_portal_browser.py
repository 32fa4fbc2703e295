"""The public portal in real Chromium, in both languages: a data subject asks for access,
confirms the e-mail address from the link we send, and follows the request."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import translation
from playwright.sync_api import expect

from casework.models import Case, RequestType
from casework.portal.forms import RIGHTS, RequestForm
from tests.browser.conftest import screenshot
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "arta.krasniqi@demo.example"
# What the status page says once the subject confirmed (gathering may already have finished:
# Celery runs eagerly in tests and the test database has no source systems).
STATE_WORDS = {
    "verified": "Your identity is confirmed. We are searching our systems for your data.",
    "gathering": "Your identity is confirmed. We are searching our systems for your data.",
    "in_review": "We have found your data and are reviewing it before we answer.",
}


@pytest.fixture(autouse=True)
def _portal_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Other tests in the session post from the same address (127.0.0.1).
    settings.DSAR_RATE_PER_IP = 1000
    settings.DSAR_RATE_PER_EMAIL = 1000


def texts(language: str) -> dict[str, str]:
    """The words a person sees, in the page's language, from the same catalogues as the page."""
    with translation.override(language):
        fields = RequestForm().fields
        return {
            "access": str(RIGHTS[RequestType.ACCESS][0]),
            "name": str(fields["name"].label),
            "email": str(fields["email"].label),
            "company": str(fields["company"].label),
            "country": str(fields["country"].label),
            "acknowledge": str(fields["acknowledge"].label),
            "send": translation.gettext("Send my request"),
            "sent": translation.gettext("Thank you: we have your request"),
            "confirm": translation.gettext("Confirm your request"),
            "yes": translation.gettext("Yes, I made this request"),
            "confirmed": translation.gettext("Thank you for confirming"),
            "started": translation.gettext("We have started work on your request."),
            "where": translation.gettext("Where it stands"),
            "state": {state: translation.gettext(text) for state, text in STATE_WORDS.items()},
        }


def link_in_mail(message, pattern: str) -> str:
    """The path of the first link in an e-mail whose path matches `pattern`."""
    for url in re.findall(r"https?://[^\s\"'<>]+", message.body):
        path = urlsplit(url).path
        if re.search(pattern, path):
            return path
    pytest.fail(f"no link matching {pattern!r} in the e-mail:\n{message.body}")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_subject_requests_access_confirms_and_follows_it(live_server, page, language):
    words = texts(language)
    step = f"portal-{language}"

    page.goto(f"{live_server.url}/{language}/request/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    screenshot(page, f"{step}-01-form")

    page.get_by_label(words["access"]).check()
    page.get_by_label(words["name"], exact=True).fill("Arta Krasniqi")
    page.get_by_label(words["email"], exact=True).fill(EMAIL)
    page.get_by_label(words["company"], exact=True).fill("Demo Sh.p.k.")
    page.get_by_label(words["country"], exact=True).select_option("AL")
    page.get_by_label(words["acknowledge"]).check()
    screenshot(page, f"{step}-02-filled")
    page.get_by_role("button", name=words["send"]).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(words["sent"])
    screenshot(page, f"{step}-03-sent")

    case = Case.objects.get(email=EMAIL)
    assert (case.request_type, case.channel, case.language) == ("access", "web", language)
    assert case.state == "received"

    verify_mail = wait_for(lambda: [m for m in mail.outbox if "/verify/" in m.body], timeout=10)[0]
    assert verify_mail.to == [EMAIL]
    assert f"/{language}/verify/" in verify_mail.body  # the link opens in the subject's language
    page.goto(live_server.url + link_in_mail(verify_mail, r"/verify/[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirm"])
    expect(page.get_by_text(case.reference)).to_be_visible()
    case.refresh_from_db()
    assert case.state == "received"  # opening the link alone confirms nothing
    screenshot(page, f"{step}-04-confirm")

    page.get_by_role("button", name=words["yes"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirmed"])
    expect(page.locator("main")).to_contain_text(case.reference)
    expect(page.locator("main")).to_contain_text(words["started"])
    screenshot(page, f"{step}-05-confirmed")

    case.refresh_from_db()
    assert case.verified_at is not None
    assert case.state in STATE_WORDS, case.state

    ack_mail = wait_for(lambda: [m for m in mail.outbox if "/status/" in m.body], timeout=10)[0]
    assert ack_mail.to == [EMAIL]
    page.goto(live_server.url + link_in_mail(ack_mail, r"/status/[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(case.reference)
    expect(page.get_by_role("heading", name=words["where"])).to_be_visible()
    expect(page.locator("p.state")).to_have_text(words["state"][case.state])
    screenshot(page, f"{step}-06-status")
