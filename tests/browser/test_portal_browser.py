"""The public portal in real Chromium, in both languages: a data subject asks for access,
confirms the e-mail address from the link we send, follows the request and, once staff have
reviewed and approved it, downloads the answer with a one-time code sent by e-mail."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.utils import translation
from playwright.sync_api import expect

from casework import roles, services
from casework.actors import Actor
from casework.models import AuditEvent, Bundle, Case, RequestType, State
from casework.portal.forms import RIGHTS, CodeForm, RequestForm
from tests.browser.conftest import screenshot
from tests.conftest import make_staff, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "arta.krasniqi@demo.example"
# What the status page says once the subject confirmed (gathering may already have finished:
# Celery runs eagerly in tests and the test database has no source systems).
STATE_WORDS = {
    "verified": "Your identity is confirmed. We are searching our systems for your data.",
    "gathering": "Your identity is confirmed. We are searching our systems for your data.",
    "needs_identifier": "Your identity is confirmed. We are searching our systems for your data.",
    "in_review": "We have found your data and are reviewing it before we answer.",
    "fulfilling": "We are preparing our answer or making the changes you asked for.",
    "completed": "Your request is complete.",
}
# The one-time code on a line of its own in the e-mail.
CODE = re.compile(r"^\s*(\d{6})\s*$", re.M)


@pytest.fixture(autouse=True)
def _portal_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Other tests in the session post from the same address (127.0.0.1).
    settings.DSAR_RATE_PER_IP = 1000
    settings.DSAR_RATE_PER_EMAIL = 1000


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # The built bundle goes to a folder of the test's own.
    settings.MEDIA_ROOT = tmp_path / "media"


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
            "data_ready": translation.gettext("Your data is ready"),
            "download_my_data": translation.gettext("Download my data"),
            "withdraw": translation.gettext("Withdraw my request"),
            "download_title": translation.gettext("Download your data"),
            "send_code": translation.gettext("Send me a code"),
            "code_sent": translation.ngettext(
                "We have sent you a code. It is valid for %(minutes)s minute.",
                "We have sent you a code. It is valid for %(minutes)s minutes.",
                settings.DSAR_CODE_MINUTES,
            )
            % {"minutes": settings.DSAR_CODE_MINUTES},
            "code": str(CodeForm().fields["code"].label),
            "check_code": translation.gettext("Check the code"),
            "download_ready": translation.gettext("Your download is ready"),
            "download_zip": translation.gettext("Download %(ref)s.zip"),
        }


def fill_access_request(
    page,
    words: dict[str, str],
    *,
    email: str = EMAIL,
    company: str = "Demo Sh.p.k.",
    customer_number: str = "",
) -> None:
    """Fill in the portal's form for an access request by Arta (not yet sent)."""
    page.get_by_label(words["access"]).check()
    page.get_by_label(words["name"], exact=True).fill("Arta Krasniqi")
    page.get_by_label(words["email"], exact=True).fill(email)
    page.get_by_label(words["company"], exact=True).fill(company)
    if customer_number:
        page.get_by_label("Customer number (optional)").fill(customer_number)
    page.get_by_label(words["country"], exact=True).select_option("AL")
    page.get_by_label(words["acknowledge"]).check()


def link_in_mail(message, pattern: str) -> str:
    """The path of the first link in an e-mail whose path matches `pattern`."""
    for url in re.findall(r"https?://[^\s\"'<>]+", message.body):
        path = urlsplit(url).path
        if re.search(pattern, path):
            return path
    pytest.fail(f"no link matching {pattern!r} in the e-mail:\n{message.body}")


def review_and_approve(case: Case) -> Bundle:
    """What the privacy team does in the back office, here in Python: no source systems are
    configured, so the case waits for an identifier; they go on without a search (with a
    reason), complete the review and approve the release. The bundle is built by the Celery
    task queued on commit (run eagerly in tests)."""
    case = wait_for(
        lambda: Case.objects.filter(pk=case.pk, state=State.NEEDS_IDENTIFIER).first(), 10
    )
    alice = Actor.staff(make_staff("alice", roles.PRIVACY_TEAM))
    case = services.case_proceed_without_source(
        case=case, actor=alice, reason="No system holds customers' data yet"
    )
    case = services.complete_review(case=case, actor=alice)
    case = services.case_approve(case=case, actor=alice)
    assert case.state == State.FULFILLING

    def built():
        bundle = Bundle.objects.filter(case=case).order_by("-pk").first()
        assert bundle is not None and bundle.state != Bundle.State.FAILED, bundle and bundle.error
        return bundle if bundle.state == Bundle.State.READY else None

    return wait_for(built, timeout=10)


def code_in_mail(seen: int, to: str = EMAIL) -> str:
    """The one-time code of the first download-code e-mail sent after the first `seen` ones,
    which must have gone to `to`."""

    def sent():
        return [m for m in mail.outbox[seen:] if CODE.search(m.body)]

    message = wait_for(sent, timeout=10)[0]
    assert message.to == [to]
    return CODE.search(message.body).group(1)


@pytest.mark.parametrize("language", ["en", "sq"])
def test_subject_requests_access_confirms_follows_and_downloads_it(live_server, page, language):
    words = texts(language)
    step = f"portal-{language}"

    page.goto(f"{live_server.url}/{language}/request/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    screenshot(page, f"{step}-01-form")

    fill_access_request(page, words)
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

    # Staff review the (empty) gathered data and approve: the bundle is built.
    bundle = review_and_approve(case)
    case.refresh_from_db()

    # The e-mail saying the data is ready answered the request: the case completed by itself.
    wait_for(lambda: Case.objects.filter(pk=case.pk, state=State.COMPLETED).first(), 10)

    # Back on the status page, the subject finds the download and asks for a code.
    page.reload()
    expect(page.locator("p.state")).to_have_text(words["state"][State.COMPLETED])
    expect(page.get_by_role("link", name=words["withdraw"])).to_have_count(0)
    offer = page.get_by_role("region", name=words["data_ready"])
    expect(offer).to_be_visible()
    screenshot(page, f"{step}-07-data-ready")
    offer.get_by_role("link", name=words["download_my_data"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["download_title"])
    screenshot(page, f"{step}-08-download-code")

    seen = len(mail.outbox)
    page.get_by_role("button", name=words["send_code"]).click()
    expect(page.get_by_role("status")).to_have_text(words["code_sent"])
    code = code_in_mail(seen)
    page.get_by_label(words["code"], exact=True).fill(code)
    screenshot(page, f"{step}-09-code-entered")
    page.get_by_role("button", name=words["check_code"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["download_ready"])
    screenshot(page, f"{step}-10-download-ready")

    button = words["download_zip"] % {"ref": case.reference}
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    download = info.value
    assert download.suggested_filename == f"{case.reference}.zip"
    with zipfile.ZipFile(Path(download.path())) as archive:
        names = archive.namelist()
        assert {"report.pdf", "manifest.json"} <= set(names), names
        manifest = json.loads(archive.read("manifest.json"))
        pdf = archive.read("report.pdf")
    assert manifest["reference"] == case.reference
    assert (manifest["kind"], manifest["language"]) == ("access", language)

    from pypdf import PdfReader

    first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert case.reference in first_page

    event = AuditEvent.objects.get(case=case, action="bundle.downloaded")
    assert event.details == {"bundle": bundle.pk} and event.actor_kind == "subject"
