"""An erasure in real Chromium, from the public form to the subject's letter, against the
demo's real systems (the CRM and repairs databases, the attendee lists and the support desk
over HTTP, loaded as in tests/casework/test_fulfilment_demo.py).

Arta Krasniqi asks for erasure on the portal and confirms from the link in her mailbox; Alice
completes the review, drafts the plan, sees the dry run, decides the correspondence the rules
leave to a person and submits it; Bob approves; Alice records the response and marks the case
fulfilled; Arta reads on her status page what was done and downloads the letter. The work
behind the buttons (gathering, drafting, the changes, the verification scan, the e-mails) runs
in-process in the request that queues it (Celery eager, on-commit callbacks of real commits).
"""

from __future__ import annotations

import io
import json
import re

import pytest
import sqlalchemy as sa
from django.core import mail
from django.utils import translation
from playwright.sync_api import expect

from casework import roles
from casework.models import Case, RequestType, State
from casework.portal.forms import RIGHTS
from dsar.demo.loader import ARTA
from tests.browser.conftest import screenshot
from tests.browser.test_portal_browser import link_in_mail, texts
from tests.casework.test_fulfilment_demo import demo, her_ids, is_hers, others, snapshot  # noqa: F401
from tests.conftest import make_staff, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo")]

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _settings(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DSAR_RATE_PER_IP = 1000
    settings.DSAR_RATE_PER_EMAIL = 1000
    settings.DSAR_STAFF_OTP_REQUIRED = False
    settings.MEDIA_ROOT = tmp_path / "media"


def sign_in(page, live_server, username: str) -> None:
    """A fresh session (the cookies of whoever used the browser before are gone)."""
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def run_operation(page, label: str) -> None:
    """Press an operation's button on the case page and confirm it on its page."""
    page.locator(".object-tools").get_by_role("link", name=label, exact=True).click()
    page.get_by_role("button", name=f"Confirm: {label}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"{label}: done.")


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(p.extract_text().split()) for p in pages)


def test_arta_asks_for_erasure_staff_carry_it_out_and_she_reads_what_was_done(
    live_server, page, tmp_path
):
    systems = tmp_path / "demo"  # where the `demo` fixture loaded them
    words = texts("en")
    with translation.override("en"):
        erasure = str(RIGHTS[RequestType.ERASURE][0])
    make_staff("alice", roles.PRIVACY_TEAM)
    make_staff("bob", roles.PRIVACY_TEAM)
    ids = her_ids(systems)
    before = snapshot(systems)

    # 1. Arta asks for erasure and confirms from the link in her mailbox.
    page.goto(f"{live_server.url}/en/request/")
    page.get_by_label(erasure).check()
    page.get_by_label(words["name"], exact=True).fill(ARTA.full_name)
    page.get_by_label(words["email"], exact=True).fill(ARTA.email)
    page.get_by_label(words["company"], exact=True).fill(ARTA.company)
    page.get_by_label(words["country"], exact=True).select_option("AL")
    page.get_by_label(words["acknowledge"]).check()
    page.get_by_role("button", name=words["send"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["sent"])
    verify = wait_for(lambda: [m for m in mail.outbox if "/verify/" in m.body], timeout=10)[0]
    page.goto(live_server.url + link_in_mail(verify, r"/verify/[^/]+/$"))
    page.get_by_role("button", name=words["yes"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words["confirmed"])
    case = Case.objects.get(email=ARTA.email)
    assert case.request_type == "erasure"
    case = wait_for(lambda: Case.objects.filter(pk=case.pk, state=State.IN_REVIEW).first(), 20)
    change_url = f"{live_server.url}/admin/casework/case/{case.pk}/change/"

    # 2. Alice completes the review, drafts the plan, decides and submits it.
    sign_in(page, live_server, "alice")
    page.goto(change_url)
    page.locator("#review").get_by_role("link", name="Review the gathered data").click()
    page.get_by_role("link", name="Complete review", exact=True).click()
    page.get_by_role("button", name="Confirm: Complete review").click()
    expect(page.locator(".messagelist")).to_contain_text("The review is complete.")
    page.get_by_role("link", name="See the plan of changes").click()
    page.locator(".plan-buttons").get_by_role("link", name="Draft plan").click()
    page.get_by_role("button", name="Confirm: Draft plan").click()
    expect(page.locator(".messagelist")).to_contain_text("Plan 1 is being drafted.")
    page.get_by_role("link", name="See the plan of changes").click()
    state = page.locator("#plan-state")
    expect(state).to_contain_text("Plan 1 (Erase): Draft, to be reviewed")
    expect(state).to_contain_text("This is a dry run: nothing has been changed.")
    main = page.locator("#content-main")
    expect(main).to_contain_text(re.compile(r"delete \d+ records? of "))
    expect(main.get_by_role("heading", name="Kept, and why").first).to_be_visible()
    expect(main).to_contain_text("purchase_records")
    expect(page.get_by_role("alert")).to_contain_text("decide before submitting")
    screenshot(page, "erasure-01-plan-dry-run")
    # Her correspondence, kept while needed to defend a legal claim unless a person decides:
    # Alice ticks it in every system and erases it at once; the plan is drafted again.
    waiting = page.locator("section.plan-system").filter(has=page.locator("input[name=keep]"))
    decided = [section.get_attribute("id") for section in waiting.all()]
    assert decided == ["system-crm", "system-supportdesk"]
    for box in page.locator("input[name=keep]").all():
        box.check()
    page.locator("#decide-form").get_by_role("button", name="Erase the chosen records").click()
    expect(page.locator(".messagelist")).to_contain_text("Decided.")
    expect(page.locator("#plan-state")).to_contain_text("Plan 2 (Erase): Draft, to be reviewed")
    expect(page.get_by_text("a person decides")).to_have_count(0)
    expect(page.locator("#content-main")).to_contain_text("purchase_records")
    page.locator(".plan-buttons").get_by_role("link", name="Submit plan").click()
    page.get_by_role("button", name="Confirm: Submit plan").click()
    expect(page.locator(".messagelist")).to_contain_text("is submitted for approval.")

    # 3. Bob approves; the changes are made and verified.
    sign_in(page, live_server, "bob")
    page.goto(change_url)
    run_operation(page, "Approve")
    page.get_by_role("link", name="See the plan of changes").click()
    state = page.locator("#plan-state")
    expect(state).to_contain_text("Approved by bob")
    expect(state).to_contain_text("Every change was made by")
    expect(page.locator("#verification")).to_contain_text(
        re.compile(r"Verified on .+: searched again, every system holds only what the plan keeps")
    )
    expect(page.locator(".action-state").first).to_be_visible()
    assert {t.strip() for t in page.locator(".action-state").all_inner_texts()} == {"Done"}
    screenshot(page, "erasure-02-plan-carried-out")
    plan = case.plans.get(state="approved")
    assert plan.verification_clean is True
    assert set(plan.kept.exclude(decision="erase").values_list("rule_code", flat=True)) == {
        "purchase_records"
    }
    erased_in_crm = sum(
        len(a.results) for a in plan.actions.filter(system__slug="crm", strategy="delete")
    )

    # 3b. The hosting partner that runs the support desk is e-mailed a link (the reference,
    # never her data); it sees what to change there and confirms, once.
    instruction_mail = wait_for(
        lambda: [m for m in mail.outbox if m.to == ["privacy@adriatik-hosting.example"]],
        timeout=10,
    )[0]
    assert ARTA.email not in instruction_mail.body and case.reference in instruction_mail.body
    page.context.clear_cookies()
    page.goto(live_server.url + link_in_mail(instruction_mail, r"/processor/[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Instruction to a processor")
    page.get_by_label("Your name").fill("Besa Hoxha")
    page.get_by_label("What was done, and where").fill("Deleted, and from the standby replica")
    page.get_by_role("button", name="Confirm that it is done").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")

    # 4. Alice records each recipient told, the response, and closes the case.
    sign_in(page, live_server, "alice")
    waiting = case.recipient_notices.filter(outcome="pending")
    codes = sorted(waiting.values_list("recipient__code", flat=True))
    assert codes == ["group_companies", "marketing_lead_survey_providers", "vendors_subcontractors"]
    for code in codes:
        page.goto(change_url)
        label = "Record a recipient told"
        page.locator(".object-tools").get_by_role("link", name=label, exact=True).click()
        page.get_by_label("Recipient (its code)").fill(code)
        page.get_by_label("Outcome").select_option("sent")
        page.get_by_role("button", name=f"Confirm: {label}").click()
        expect(page.locator(".messagelist")).to_contain_text("Recorded for")
    page.goto(change_url)
    run_operation(page, "Record response sent")
    seen = len(mail.outbox)
    run_operation(page, "Mark fulfilled")
    case.refresh_from_db()
    assert case.state == State.COMPLETED

    # 5. Arta follows the link in the completion e-mail, reads what was done, gets the letter.
    page.context.clear_cookies()
    done_mail = wait_for(
        lambda: [m for m in mail.outbox[seen:] if "/status/" in m.body and ARTA.email in m.to],
        timeout=10,
    )[0]
    page.goto(live_server.url + link_in_mail(done_mail, r"/status/[^/]+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(case.reference)
    outcome = page.get_by_role("region", name="What we have done")
    expect(outcome).to_be_visible()
    done = outcome.locator(".outcome-done")
    for line in (
        f"CRM and customer portal: {erased_in_crm} records erased.",
        "Repairs and warranty system: ",
        "Support desk: ",
        "Event attendee lists: 1 record erased.",
    ):
        expect(done).to_contain_text(line)
    expect(outcome.locator(".outcome-kept")).to_contain_text(
        "Purchase information: The purchase record is kept for the period needed for "
        "invoicing, tax and warranty purposes."
    )
    screenshot(page, "erasure-03-status-what-we-have-done")
    with page.expect_download() as info:
        outcome.get_by_role("link", name="Download our letter (PDF)").click()
    download = info.value
    assert download.suggested_filename == f"{case.reference}-erasure.pdf"
    with open(download.path(), "rb") as pdf:
        letter = pdf_text(pdf.read())
    assert "Your request for erasure: what we have done" in letter
    assert f"CRM and customer portal: {erased_in_crm} records erased." in letter, letter
    assert "Event attendee lists: 1 record erased." in letter
    assert letter.count("Purchase information") == 1
    assert "invoicing, tax and warranty purposes. Until about" in letter
    assert "Support desk is run for us by Adriatik Hosting Sh.p.k.: we instructed them" in letter
    assert "Support desk: the copies in its backups are overwritten by" in letter
    assert "Canon group companies We told them of the change on" in letter

    # 6. The systems: hers gone or masked, everyone else's exactly as they were.
    after = snapshot(systems)
    assert others(after, ids) == others(before, ids)
    for table in ("supportdesk.customers", "supportdesk.tickets", "crm.enquiries"):
        assert [r for r in before[table] if is_hers(table, r, ids)], table
        assert not [r for r in after[table] if is_hers(table, r, ids)], table
    lists = [t for t in after if t.startswith("events")]
    assert [r for t in lists for r in before[t] if is_hers(t, r, ids)]
    assert not [r for t in lists for r in after[t] if is_hers(t, r, ids)]
    (account,) = [json.loads(r) for r in after["crm.accounts"] if is_hers("crm.accounts", r, ids)]
    assert account["full_name"] == "[erased]" and account["email"].startswith("sha256:")
    crm = sa.create_engine(f"sqlite:///{systems / 'crm.sqlite3'}")
    with crm.connect() as conn:
        orders = conn.exec_driver_sql(
            "SELECT count(*) FROM orders WHERE account_id = ?", (account["id"],)
        ).scalar()
    crm.dispose()
    assert orders == len(ids["orders"]) >= 1  # kept for invoicing, tax and warranty
