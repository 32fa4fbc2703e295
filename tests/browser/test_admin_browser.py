"""The admin in real Chromium: a privacy-team member enters a letter request and finds it."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from casework import roles, services
from casework.actors import Actor
from casework.models import Case
from tests.browser.conftest import screenshot
from tests.casework.helpers import verified
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

POSTAL_ADDRESS = "Rruga e Kavajës 12\n1001 Tiranë\nShqipëri"


@pytest.fixture(autouse=True)
def _no_staff_otp(settings):
    settings.DSAR_STAFF_OTP_REQUIRED = False


def test_privacy_team_enters_a_letter_request_and_sees_verify(live_server, page):
    make_staff("alice", roles.PRIVACY_TEAM)

    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.goto(f"{live_server.url}/admin/casework/case/")
    expect(page.locator("#result_list").or_(page.get_by_text("0 cases"))).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^Add case")).click()

    page.get_by_label("Request type").select_option("access")
    page.get_by_label("Came in by").select_option("letter")
    page.get_by_label("Postal address").fill(POSTAL_ADDRESS)
    page.get_by_label(re.compile(r"^Language:?$")).select_option("sq")
    page.get_by_role("button", name="Save", exact=True).click()
    # Wait for the redirect to the list before reading the database.
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    case = Case.objects.get()
    assert (case.request_type, case.channel, case.language) == ("access", "letter", "sq")
    assert case.postal_address.splitlines() == POSTAL_ADDRESS.splitlines()  # a form sends CRLF
    assert case.state == "received"

    expect(page.locator(".messagelist")).to_contain_text(case.reference)
    row_link = page.locator("#result_list").get_by_role("link", name=case.reference)
    expect(row_link).to_be_visible()
    screenshot(page, "admin-01-case-list")

    row_link.click()
    expect(page).to_have_url(f"{live_server.url}/admin/casework/case/{case.pk}/change/")
    expect(page.get_by_role("heading", name=case.reference, exact=True)).to_be_visible()
    expect(
        page.locator(".object-tools").get_by_role("link", name="Verify identity")
    ).to_be_visible()
    expect(page.locator("form#case_form")).to_contain_text(case.reference)
    screenshot(page, "admin-02-case-page")


def test_healthz_answers_json_with_the_database_up(live_server, page):
    response = page.goto(f"{live_server.url}/healthz")
    assert response is not None
    assert response.status in (200, 503)  # the worker may be down in tests
    assert response.headers["content-type"].startswith("application/json")
    body = json.loads(response.text())
    assert body["database"]["ok"] is True
    assert body["status"] in ("ok", "down")


# --- layout at 1280 px ----------------------------------------------------------------------------


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_the_operation_buttons_cover_neither_the_heading_nor_the_review_box(live_server, page):
    dora = make_staff("dora", roles.DPO)
    case = services.case_create(
        intake=services.Intake(
            request_type="access", email="arta.krasniqi@demo.example", name="Arta Krasniqi"
        ),
        actor=Actor.subject(),
    )
    case = verified(case, dora)  # no system to search: the case waits for an identifier
    case = services.case_proceed_without_source(
        case=case, actor=Actor.staff(dora), reason="No system holds customers' data yet"
    )
    assert case.state == "in_review"
    sign_in(page, live_server, "dora")
    page.goto(f"{live_server.url}/admin/casework/case/{case.pk}/change/")
    buttons = page.locator(".object-tools a")
    expect(buttons.first).to_be_visible()
    assert buttons.count() >= 4  # several operations, Reject among them
    screenshot(page, "admin-03-case-buttons")

    heading = page.locator("#content h1").bounding_box()
    subtitle = page.locator("#content h2").first.bounding_box()
    review = page.locator("#review").bounding_box()
    for index in range(buttons.count()):
        box = buttons.nth(index).bounding_box()
        for name, other in (("h1", heading), ("h2", subtitle), ("review", review)):
            assert not overlap(box, other), f"button {index} covers the {name}"
        assert box["x"] + box["width"] <= 1280
    reject = page.locator(".object-tools a", has_text="Reject")
    colour = reject.evaluate("a => getComputedStyle(a).backgroundColor")
    assert colour == "rgb(186, 33, 33)"  # the admin's delete-button colour


def test_the_case_list_fits_a_1280_px_window(live_server, page):
    make_staff("alice", roles.PRIVACY_TEAM)
    kinds = ["access", "rectification", "erasure", "restriction", "portability", "objection"]
    for number, kind in enumerate(kinds):
        services.case_create(
            intake=services.Intake(
                request_type=kind,
                email=f"a.rather.long.address.number.{number}@subdomain.demo.example",
                name="Arta Krasniqi-Hoxhaj" if number % 2 else "",
                regime="voluntary" if number == 3 else None,
            ),
            actor=Actor.subject(),
        )
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/admin/casework/case/")
    expect(page.locator("#result_list")).to_be_visible()
    screenshot(page, "admin-04-case-list-1280")
    table = page.locator("#result_list").bounding_box()
    assert table["x"] + table["width"] <= 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    expect(page.locator("#result_list")).to_contain_text("Arta Krasniqi-Hoxhaj")


def test_the_admin_pages_run_under_their_content_security_policy(live_server, page):
    """No script or style the policy blocks: the browser reports no violation on the pages a
    case is worked on, and every one of them sends the policy."""
    alice = make_staff("alice", roles.PRIVACY_TEAM)
    case = verified(
        services.case_create(
            intake=services.Intake(request_type="access", email="arta@demo.example"),
            actor=Actor.subject(),
        ),
        alice,
    )
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    for path in (
        "/admin/casework/case/",
        f"/admin/casework/case/{case.pk}/change/",
        f"/admin/casework/case/{case.pk}/operation/ask_subject/",
        "/admin/casework/auditevent/",
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("load")
    assert violations == []
