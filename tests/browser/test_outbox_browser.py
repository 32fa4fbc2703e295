"""The first hour, in real Chromium: a newcomer files a request on the portal, reads the
confirmation e-mail in the admin's Outbox (where `make run` puts mail) as a privacy team member,
follows its link and confirms the request."""

from __future__ import annotations

import pytest
from django.utils import translation
from playwright.sync_api import expect

from casework import outbox, roles
from casework.models import Case
from tests.browser.conftest import screenshot
from tests.browser.test_portal_browser import EMAIL, fill_access_request, texts
from tests.conftest import make_staff, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _outbox_settings(settings, tmp_path, live_server):
    settings.EMAIL_BACKEND = outbox.BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    # The links in the mail point at the server the browser talks to, as on `make run`.
    settings.SITE_URL = live_server.url
    settings.DSAR_RATE_PER_IP = 1000
    settings.DSAR_RATE_PER_EMAIL = 1000


def test_a_newcomer_confirms_a_request_from_the_link_in_the_outbox(live_server, page):
    words = texts("en")
    make_staff("alice", roles.PRIVACY_TEAM)

    page.goto(f"{live_server.url}/en/request/")
    fill_access_request(page, words)
    page.get_by_role("button", name=words["send"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["sent"])
    case = Case.objects.get(email=EMAIL)
    wait_for(outbox.outbox_messages, timeout=10)

    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Outbox").click()
    with translation.override("en"):
        subject = outbox.outbox_messages()[0].subject
    assert case.reference in subject
    page.get_by_role("link", name=subject).click()
    screenshot(page, "outbox-01-message")

    link = page.locator("#outbox-message-text a", has_text="/en/verify/")
    expect(link).to_have_count(1)
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirm"])
    page.get_by_role("button", name=words["yes"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirmed"])
    screenshot(page, "outbox-02-confirmed")

    case.refresh_from_db()
    assert case.verified_at is not None
