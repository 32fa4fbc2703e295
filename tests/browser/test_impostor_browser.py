"""An impostor at the public portal, in real Chromium: with a look-alike of Arta's address, or
with his own address and her customer number typed in. The form, the e-mail link and the
gathering (Celery, eager here; the real worker plays the same in tests/integration) are the
real ones; nothing of hers may reach him: not on his status page, not in his mailbox, not in
the ZIP he downloads."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import expect

from casework import roles, selectors, services
from casework.actors import Actor
from casework.models import Case, State
from casework.selectors.identity import FOUND_BY_CLAIM, LOOKALIKE
from tests.browser.test_portal_browser import (
    code_in_mail,
    fill_access_request,
    link_in_mail,
    texts,
)
from tests.casework.sources import csv_system, write_csv
from tests.conftest import make_staff, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ARTA = "arta.krasniqi@demo.example"
# What only her records hold: none of it may reach anyone else.
HERS = ("Engineer at Drini", "ARTA-PRIVATE-7731", ARTA, "+355692004242", "069 200 4242")


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DSAR_RATE_PER_IP = 1000
    settings.DSAR_RATE_PER_EMAIL = 1000
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def register(transactional_db):
    # The register's categories: a record of a category it lacks would never reach a bundle,
    # and "nothing of hers in the ZIP" would prove nothing.
    call_command("load_data_map", verbosity=0)


@pytest.fixture
def crm(tmp_path):
    write_csv(
        tmp_path / "crm" / "customers.csv",
        [
            {
                "Email": ARTA,
                "Phone": "069 200 4242",
                "Customer no": "C-100042",
                "Job": "Engineer at Drini",
                "Notes": "ARTA-PRIVATE-7731",
            }
        ],
    )
    return csv_system(
        "crm",
        tmp_path / "crm",
        {"email": "Email", "phone": "Phone", "customer_number": "Customer no"},
        category="online_account",
    )


def file_request(page, live_server, *, email: str, customer_number: str = "") -> Case:
    """The impostor fills in the form and confirms from the link in his mailbox."""
    words = texts("en")
    page.goto(f"{live_server.url}/en/request/")
    fill_access_request(
        page, words, email=email, company="Drini Sh.p.k.", customer_number=customer_number
    )
    page.get_by_role("button", name=words["send"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["sent"])
    case = Case.objects.exclude(email=ARTA).get()
    verify = wait_for(lambda: [m for m in mail.outbox if "/verify/" in m.body], timeout=10)[0]
    page.goto(live_server.url + link_in_mail(verify, r"/verify/[^/]+/$"))
    page.get_by_role("button", name=words["yes"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirmed"])
    return wait_for(lambda: Case.objects.filter(pk=case.pk, state=State.IN_REVIEW).first(), 15)


def nothing_of_hers_in(text: str) -> None:
    for value in HERS:
        assert value not in text, value


def his_mailbox() -> str:
    return "\n".join(m.body for m in mail.outbox if ARTA not in m.to)


def test_a_look_alike_address_is_flagged_and_the_status_page_shows_nothing_of_hers(
    live_server, page, crm, make_case
):
    make_case(email=ARTA)  # her own earlier request: her address is one we hold
    case = file_request(
        page, live_server, email="arta.krasn\u0131q\u0131@demo.example", customer_number="C-100042"
    )
    assert case.lookalike_held
    assert [link.held_because for link in selectors.held_links(case)] == [LOOKALIKE]
    assert list(selectors.reviewed_records(case)) == []
    alice = Actor.staff(make_staff("alice", roles.PRIVACY_TEAM))
    with pytest.raises(Exception, match="looks like"):
        services.complete_review(case=case, actor=alice)

    status = wait_for(lambda: [m for m in mail.outbox if "/status/" in m.body], timeout=10)[0]
    page.goto(live_server.url + link_in_mail(status, r"/status/[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(case.reference)
    nothing_of_hers_in(page.content())
    nothing_of_hers_in(his_mailbox())


def test_her_customer_number_typed_in_gets_him_nothing_of_hers_in_the_download(
    live_server, page, crm, make_case
):
    case = file_request(
        page, live_server, email="attacker@evil.example", customer_number="C-100042"
    )
    (held,) = selectors.held_links(case)
    assert held.held_because == FOUND_BY_CLAIM
    # The privacy team sees the warning and leaves the record out; then the release goes on.
    alice = Actor.staff(make_staff("alice", roles.PRIVACY_TEAM))
    services.decide_record_link(
        case=case,
        actor=alice,
        system_id=held.system_id,
        subject_key=held.subject_key,
        decision="left_out",
        note="The CRM customer's e-mail is not the requester's; no evidence of a link",
    )
    case = services.complete_review(case=case, actor=alice)
    services.case_approve(case=case, actor=alice)
    wait_for(lambda: Case.objects.filter(pk=case.pk, bundle_ready_at__isnull=False).first(), 15)

    words = texts("en")
    status = next(m for m in mail.outbox if "/status/" in m.body)
    page.goto(live_server.url + link_in_mail(status, r"/status/[^/]+/$"))
    nothing_of_hers_in(page.content())
    page.get_by_role("link", name=words["download_my_data"]).click()
    seen = len(mail.outbox)
    page.get_by_role("button", name=words["send_code"]).click()
    code = code_in_mail(seen, to="attacker@evil.example")
    page.get_by_label(words["code"], exact=True).fill(code)
    page.get_by_role("button", name=words["check_code"]).click()
    with page.expect_download() as info:
        page.get_by_role("button", name=words["download_zip"] % {"ref": case.reference}).click()
    with zipfile.ZipFile(Path(info.value.path())) as archive:
        for name in archive.namelist():
            content = archive.read(name)
            if name.endswith(".pdf"):
                import io

                from pypdf import PdfReader

                content = "\n".join(
                    p.extract_text() for p in PdfReader(io.BytesIO(content)).pages
                ).encode()
            nothing_of_hers_in(content.decode("utf-8", "replace"))
    nothing_of_hers_in(his_mailbox())
