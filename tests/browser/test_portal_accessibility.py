"""Accessibility of the public portal (WCAG 2.1 AA) in real Chromium.

- axe-core's automated WCAG 2.1 A and AA rules (through axe-playwright-python, which bundles
  axe-core) on every page a data subject meets: the request form in both languages, with each
  group of optional fields open and with its validation errors, the page after sending, the
  confirmation and status pages, the link error pages, the status-link and resend forms and the
  "too many requests" page. Every violation fails the test, listed with its rule, help text and
  elements; the contrast rule must actually have been run, so that a page cannot pass because
  nothing was checked. Each of those pages is also looked at 320 CSS pixels wide (reflow,
  WCAG 1.4.10, which axe does not test): nothing may need scrolling sideways.
- What axe cannot judge, with JavaScript turned off: the request form filled in and sent with
  the keyboard alone (Tab and Shift+Tab, Space and the arrow keys, typing, Enter), a visible
  focus indicator on every element Tab reaches, and errors that are announced and lead to
  their fields.

The portal runs no script at all: every page is also checked to carry none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone, translation
from playwright.sync_api import expect

from casework.actors import Actor
from casework.models import Case, PortalToken
from casework.portal import services as portal_services
from casework.portal.forms import RIGHTS, RequestForm
from tests.browser.conftest import TIMEOUT_MS, screenshot
from tests.browser.test_portal_browser import fill_access_request
from tests.portal.conftest import ready_bundle

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "arta.krasniqi@demo.example"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE = Axe()

# What document.activeElement looks like, for the keyboard tests.
FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body || el === document.documentElement) return null;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return {
        tag: el.tagName.toLowerCase(),
        type: el.getAttribute("type") || "",
        id: el.id,
        name: el.getAttribute("name") || "",
        text: (el.innerText || el.value || "").trim().slice(0, 200),
        focusVisible: el.matches(":focus-visible"),
        outlineStyle: style.outlineStyle,
        outlineWidth: parseFloat(style.outlineWidth) || 0,
        outlineColor: style.outlineColor,
        boxShadow: style.boxShadow,
        width: box.width,
        height: box.height,
        inViewport: box.bottom > 0 && box.right > 0
            && box.top < window.innerHeight && box.left < window.innerWidth,
        key: [...document.querySelectorAll("*")].indexOf(el),
    };
}"""

# How every element that can take focus looks while it does not have it.
UNFOCUSED = """() => {
    const styles = {};
    document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")
        .forEach((el) => {
            const style = getComputedStyle(el);
            styles[[...document.querySelectorAll("*")].indexOf(el)] = {
                outlineStyle: style.outlineStyle,
                outlineWidth: parseFloat(style.outlineWidth) || 0,
                boxShadow: style.boxShadow,
            };
        });
    return styles;
}"""


# Visible elements whose right edge lies beyond the page's width (none: no sideways scrolling).
OVERFLOWING = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.body.querySelectorAll("*")].filter((el) => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && box.right > width + 0.5 && !el.closest(".hp, .skip");
    });
    const out = wide.map((el) => `${el.tagName.toLowerCase()}.${el.className}`
        + ` (right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
    if (document.documentElement.scrollWidth > width) {
        out.push(`the page is ${document.documentElement.scrollWidth} px wide`);
    }
    return out;
}"""


@pytest.fixture(autouse=True)
def _portal_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Other tests in the session post from the same address (127.0.0.1); the rate counters
    # of this test are its own (Redis is not rolled back between tests).
    settings.DSAR_RATE_PER_IP = 1000
    settings.DSAR_RATE_PER_EMAIL = 1000
    default = dict(settings.CACHES["default"])
    default["KEY_PREFIX"] = f"a11y-{uuid.uuid4().hex}"
    settings.CACHES = {**settings.CACHES, "default": default}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def page_without_js(browser, request):
    """Like the `page` fixture, in a browser with JavaScript turned off: the keyboard tests
    run there, since the portal must work without it."""
    context = browser.new_context(
        locale="en-GB", viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed and not page.is_closed():
            with contextlib.suppress(Exception):
                screenshot(page, f"FAILED-{request.node.name}")
        context.close()


# --- helpers ----------------------------------------------------------------------------------


def describe(violations: list[dict]) -> str:
    lines = [f"{len(violations)} WCAG 2.1 A/AA violation(s) found by axe-core:"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} "
            f"[{violation['helpUrl']}]"
        )
        for node in violation["nodes"]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}")
            lines.append(f"      {node.get('failureSummary', '').replace(chr(10), ' ')}")
    return "\n".join(lines)


def check_page(page, name: str) -> dict:
    """Run axe-core's WCAG 2.1 A/AA rules on the page as it is now and fail on any violation.

    The colour-contrast rule must have looked at text on the page and found nothing to doubt
    (axe reports what it cannot decide, for example text over an image, as "incomplete"), so
    that the check cannot pass by not running."""
    # The portal works without JavaScript because it has none: what is checked here is what a
    # browser without it gets.
    assert page.locator("script").count() == 0, "the portal should not need any script"
    assert page.locator("html").get_attribute("lang") in ("en", "sq")
    screenshot(page, f"a11y-{name}")
    results = AXE.run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    ).response
    violations = results["violations"]
    assert not violations, f"{name}: {describe(violations)}"
    ran = {rule["id"] for rule in results["passes"]}
    assert {"document-title", "html-has-lang", "html-lang-valid"} <= ran, ran
    assert "color-contrast" in ran, f"{name}: color-contrast was not run: {ran}"
    doubtful = [r for r in results["incomplete"] if r["id"] == "color-contrast"]
    assert not doubtful, f"{name}: contrast axe could not decide: {describe(doubtful)}"
    check_reflow(page, name)
    return results


def check_reflow(page, name: str) -> None:
    """WCAG 1.4.10 (reflow, which axe does not test): at 320 CSS pixels wide (1280 pixels
    zoomed to 400 %) nothing needs scrolling sideways."""
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    try:
        wider = page.evaluate(OVERFLOWING)
        if wider:
            screenshot(page, f"a11y-{name}-320px")
        assert not wider, f"{name}: at 320 px these stick out on the right: {wider}"
    finally:
        page.set_viewport_size(size)


def words(language: str) -> dict[str, str]:
    with translation.override(language):
        fields = RequestForm().fields
        return {
            "send": translation.gettext("Send my request"),
            "sent": translation.gettext("Thank you: we have your request"),
            "errors": translation.gettext("Please correct the following"),
            "name": str(fields["name"].label),
            "email": str(fields["email"].label),
            "company": str(fields["company"].label),
            "country": str(fields["country"].label),
            "acknowledge": str(fields["acknowledge"].label),
            "representative": str(fields["has_representative"].label),
            "access": str(RIGHTS["access"][0]),
        }


def make_case(**extra) -> Case:
    from casework.services import Intake, case_create

    intake = Intake(request_type="access", email=EMAIL, name="Arta Krasniqi", **extra)
    return case_create(intake=intake, actor=Actor.subject())


def verified_case() -> Case:
    """A case the subject confirmed through the e-mail link, as the portal does it."""
    case = make_case()
    raw = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.VERIFY)
    return portal_services.confirm_email(raw_token=raw)


def status_path(case: Case, language: str = "en") -> str:
    raw = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    return f"/{language}/status/{raw}/"


# --- axe-core on every page -------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_request_form_passes_axe(live_server, page, language):
    page.goto(f"{live_server.url}/{language}/request/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    check_page(page, f"form-{language}")


@pytest.mark.parametrize("request_type", ["rectification", "objection", "restriction", "erasure"])
def test_the_request_form_passes_axe_with_its_optional_fields_shown(
    live_server, page, request_type
):
    """The groups shown for one choice only (and for a representative, and for the United
    States) are hidden from axe until they are shown: show them, then check."""
    page.goto(f"{live_server.url}/en/request/")
    page.locator(f'input[name="request_type"][value="{request_type}"]').check()
    page.locator('input[name="has_representative"]').check()
    page.locator('select[name="country"]').select_option("US")
    expect(page.locator(f".when-{request_type}")).to_be_visible()
    expect(page.locator(".when-representative")).to_be_visible()
    expect(page.locator(".when-us")).to_be_visible()
    check_page(page, f"form-open-{request_type}")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_request_form_with_errors_passes_axe(live_server, page, language):
    page.goto(f"{live_server.url}/{language}/request/")
    page.get_by_role("button", name=words(language)["send"]).click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator('[aria-invalid="true"]').first).to_be_attached()
    check_page(page, f"form-errors-{language}")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_sent_page_passes_axe(live_server, page, language):
    w = words(language)
    page.goto(f"{live_server.url}/{language}/request/")
    fill_access_request(page, w)
    page.get_by_role("button", name=w["send"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(w["sent"])
    check_page(page, f"sent-{language}")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_link_error_pages_pass_axe(live_server, page, language):
    response = page.goto(f"{live_server.url}/{language}/verify/{'x' * 43}/")
    assert response.status == 404
    check_page(page, f"link-unknown-{language}")

    case = make_case(language=language)
    path = status_path(case, language)
    PortalToken.objects.filter(case=case).update(expires_at=timezone.now() - dt.timedelta(1))
    response = page.goto(live_server.url + path)
    assert response.status == 410
    check_page(page, f"link-expired-{language}")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_status_link_and_resend_forms_pass_axe(live_server, page, language):
    for name in ("status", "request/resend"):
        page.goto(f"{live_server.url}/{language}/{name}/")
        step = {"status": "status-link", "request/resend": "resend"}[name]
        check_page(page, f"{step}-{language}")
        # The same form shown again with its errors.
        page.locator("main form button[type=submit]").last.click()
        expect(page.locator(".error-summary")).to_be_visible()
        check_page(page, f"{step}-errors-{language}")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_confirmation_and_status_pages_pass_axe(live_server, page, language):
    case = make_case(language=language)
    raw = portal_services.issue_token(case=case, purpose=PortalToken.Purpose.VERIFY)
    page.goto(f"{live_server.url}/{language}/verify/{raw}/")
    check_page(page, f"verify-{language}")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main dl")).to_contain_text(case.reference)
    check_page(page, f"verified-{language}")

    # The status page with a download waiting, and the pages of the one-time code.
    ready_bundle(case)
    page.goto(live_server.url + status_path(case, language))
    expect(page.get_by_role("heading", level=1)).to_have_text(case.reference)
    expect(page.locator('a[href$="/download/"]')).to_be_visible()
    check_page(page, f"status-page-{language}")
    page.locator('a[href$="/download/"]').click()
    check_page(page, f"download-code-{language}")
    page.locator('form:has(input[value="send"]) button').click()
    expect(page.get_by_role("status")).to_be_visible()
    check_page(page, f"download-code-sent-{language}")
    page.locator('input[name="code"]').fill("000000")
    page.locator('form:has(input[value="check"]) button').click()
    expect(page.locator(".error-summary")).to_be_visible()
    check_page(page, f"download-code-wrong-{language}")

    page.goto(live_server.url + status_path(case, language))
    page.locator('a[href$="/withdraw/"]').click()
    check_page(page, f"withdraw-{language}")


def test_the_too_many_requests_page_passes_axe(live_server, page, settings):
    settings.DSAR_RATE_PER_IP = 1
    page.goto(f"{live_server.url}/en/status/")
    page.locator('input[name="email"]').fill(EMAIL)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto(f"{live_server.url}/en/status/")
    page.locator('input[name="email"]').fill(EMAIL)
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.locator("main form button[type=submit]").click()
    assert info.value.status == 429
    check_page(page, "too-many-requests")


# --- the keyboard alone -----------------------------------------------------------------------


def where(info: dict) -> str:
    return f"<{info['tag']} id={info['id']!r} name={info['name']!r}> {info['text']!r}"


def check_focus_visible(info: dict, unfocused: dict) -> None:
    """WCAG 2.4.7: the element that has keyboard focus shows it, with an outline or a ring
    that it does not have without focus, and is on screen."""
    assert info["focusVisible"], f"focus is not :focus-visible on {where(info)}"
    assert info["width"] > 0 and info["height"] > 0, f"focus on an invisible {where(info)}"
    assert info["inViewport"], f"focus on {where(info)}, out of sight"
    outline = info["outlineStyle"] != "none" and info["outlineWidth"] >= 2
    ring = info["boxShadow"] != "none"
    assert outline or ring, f"no focus indicator on {where(info)}: {info}"
    before = unfocused[str(info["key"])]
    now = {k: info[k] for k in ("outlineStyle", "outlineWidth", "boxShadow")}
    assert now != before, f"{where(info)} looks the same with and without focus: {now}"


def press(page, key: str, unfocused: dict) -> dict:
    """Press a key that moves the focus; return what has it, checked for a visible focus."""
    page.keyboard.press(key)
    info = page.evaluate(FOCUSED)
    assert info is not None, f"{key} left the focus on no element"
    assert info["name"] != "website", "the honeypot must stay out of the tab order"
    check_focus_visible(info, unfocused)
    return info


def tab_to(page, unfocused: dict, wanted, *, limit: int = 60) -> dict:
    """Tab until `wanted(info)`, checking the focus indicator of every element on the way."""
    seen = []
    for _ in range(limit):
        info = press(page, "Tab", unfocused)
        seen.append(where(info))
        if wanted(info):
            return info
    pytest.fail(f"not reached with Tab; focus went through: {seen}")


def walk(page) -> list[dict]:
    """Every element Tab reaches on the page, from the top to the end, each checked for a
    visible focus indicator."""
    unfocused = page.evaluate(UNFOCUSED)
    reached: list[dict] = []
    for _ in range(120):
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUSED)
        if info is None or (reached and info["key"] == reached[0]["key"]):
            break  # past the last element (to the browser) or round to the first again
        assert info["name"] != "website", "the honeypot must stay out of the tab order"
        check_focus_visible(info, unfocused)
        reached.append(info)
    else:
        pytest.fail("Tab never reached the end of the page")
    return reached


def by_id(element_id: str):
    return lambda info: info["id"] == element_id


def test_the_request_form_is_filled_in_and_sent_with_the_keyboard_alone(
    live_server, page_without_js
):
    page = page_without_js
    w = words("en")
    page.goto(f"{live_server.url}/en/request/")
    unfocused = page.evaluate(UNFOCUSED)

    # The first Tab shows the skip link; Enter jumps over the header to the content.
    skip = press(page, "Tab", unfocused)
    assert "skip" in page.evaluate("() => document.activeElement.className"), where(skip)
    screenshot(page, "a11y-keyboard-01-skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    # The rights are a radio group: Tab enters it, Space chooses, the arrows move the choice.
    first = press(page, "Tab", unfocused)
    assert (first["name"], first["id"]) == ("request_type", "id_request_type_0"), where(first)
    page.keyboard.press("Space")
    expect(page.locator("#id_request_type_0")).to_be_checked()
    press(page, "ArrowDown", unfocused)
    expect(page.locator('input[value="rectification"]')).to_be_checked()
    expect(page.locator(".when-rectification")).to_be_visible()
    screenshot(page, "a11y-keyboard-02-arrow-to-rectification")
    back = press(page, "ArrowUp", unfocused)
    assert back["id"] == "id_request_type_0", where(back)
    expect(page.get_by_label(w["access"])).to_be_checked()
    expect(page.locator(".when-rectification")).to_be_hidden()

    # From the group Tab goes straight on to the name: the hidden groups are out of the way.
    assert press(page, "Tab", unfocused)["id"] == "id_name"
    page.keyboard.type("Arta Krasniqi")
    assert press(page, "Tab", unfocused)["id"] == "id_email"
    page.keyboard.type(EMAIL)
    assert press(page, "Tab", unfocused)["id"] == "id_mailbox_lost"
    assert press(page, "Tab", unfocused)["id"] == "id_company"
    page.keyboard.type("Demo Sh.p.k.")
    tab_to(page, unfocused, by_id("id_country"))
    page.keyboard.type("Alb")  # the select's type-ahead
    expect(page.get_by_label(w["country"], exact=True)).to_have_value("AL")

    # Acting for someone else: Space shows the representative's fields, Shift+Tab goes back.
    assert press(page, "Tab", unfocused)["id"] == "id_has_representative"
    page.keyboard.press("Space")
    assert press(page, "Tab", unfocused)["id"] == "id_representative_name"
    screenshot(page, "a11y-keyboard-03-representative")
    assert press(page, "Shift+Tab", unfocused)["id"] == "id_has_representative"
    page.keyboard.press("Space")
    expect(page.get_by_label(w["representative"])).not_to_be_checked()
    expect(page.locator(".when-representative")).to_be_hidden()

    assert press(page, "Tab", unfocused)["id"] == "id_acknowledge"
    page.keyboard.press("Space")
    expect(page.get_by_label(w["acknowledge"])).to_be_checked()
    button = press(page, "Tab", unfocused)
    assert (button["tag"], button["text"]) == ("button", w["send"]), where(button)
    screenshot(page, "a11y-keyboard-04-on-the-button")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(w["sent"])
    screenshot(page, "a11y-keyboard-05-sent")
    case = Case.objects.get(email=EMAIL)
    assert (case.request_type, case.name, case.company, case.language) == (
        "access",
        "Arta Krasniqi",
        "Demo Sh.p.k.",
        "en",
    )
    assert not case.has_representative


@pytest.mark.parametrize("language", ["en", "sq"])
def test_errors_are_announced_and_lead_to_their_fields(live_server, page_without_js, language):
    page = page_without_js
    w = words(language)
    page.goto(f"{live_server.url}/{language}/request/")
    unfocused = page.evaluate(UNFOCUSED)
    tab_to(page, unfocused, lambda info: info["text"] == w["send"])
    page.keyboard.press("Enter")  # sent empty

    # The page says so in its title, and the focus starts on the list of errors, which is
    # announced (role=alert) and named by its heading.
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    with translation.override(language):
        expect(page).to_have_title(re.compile("^" + re.escape(translation.gettext("Error:"))))
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_be_focused()
    expect(page.get_by_role("alert", name=w["errors"])).to_be_visible()
    screenshot(page, f"a11y-errors-{language}-01-summary")

    links = summary.locator("a")
    count = links.count()
    assert count >= 5, f"expected an error for each required field, got {count}"
    unfocused = page.evaluate(UNFOCUSED)
    for index in range(count):
        link = links.nth(index)
        target = link.get_attribute("href")
        assert target.startswith("#"), target
        field = page.locator(target)
        # The field is marked invalid and its error is read out with it: through
        # aria-describedby on the field, or on the fieldset of a group of radios.
        expect(field).to_have_attribute("aria-invalid", "true")
        described = page.evaluate(DESCRIPTION, target[1:])
        message = link.inner_text().split(": ", 1)[-1].strip()
        assert message in described, (
            f"{target}: {message!r} is not in its description {described!r}"
        )

        # Tab reaches the link, Enter puts the focus on its field.
        if index == 0:
            reached = press(page, "Tab", unfocused)
            assert reached["tag"] == "a" and reached["text"] == link.inner_text(), where(reached)
        else:
            link.focus()
        page.keyboard.press("Enter")
        expect(field).to_be_focused()
        check_focus_visible(page.evaluate(FOCUSED), unfocused)
        if index == 0:
            screenshot(page, f"a11y-errors-{language}-02-first-field")


# The text of the elements that describe a field (aria-describedby) or its fieldset.
DESCRIPTION = """(id) => {
    const field = document.getElementById(id);
    const owners = [field, field.closest("fieldset")].filter(Boolean);
    return owners.flatMap((el) => (el.getAttribute("aria-describedby") || "").split(/\\s+/))
        .filter(Boolean)
        .map((ref) => document.getElementById(ref)?.textContent.trim() || "")
        .join(" | ");
}"""


@pytest.mark.parametrize("kind", ["form", "form-errors", "status"])
def test_every_element_tab_reaches_shows_its_focus(live_server, page, kind):
    if kind == "status":
        case = verified_case()
        page.goto(live_server.url + status_path(case))
    else:
        page.goto(f"{live_server.url}/en/request/")
        if kind == "form-errors":
            page.locator("main form button[type=submit]").click()
            expect(page.locator(".error-summary")).to_be_visible()
    reached = walk(page)
    names = [where(info) for info in reached]
    assert len(reached) >= 5, names
    if kind == "form-errors":
        # The focus starts on the list of errors: Tab goes on to its links first.
        assert page.locator(".error-summary a").first.get_attribute("href") == "#id_request_type_0"
        assert reached[0]["tag"] == "a" and reached[0]["text"].startswith(
            str(RequestForm().fields["request_type"].label)
        ), names
    else:
        assert reached[0]["text"] == "Skip to the content", names
    assert reached[-1]["tag"] == "a", names  # the footer's links come last
    if kind != "status":
        assert any(info["tag"] == "button" for info in reached), names
        ids = {info["id"] for info in reached}
        assert {"id_name", "id_email", "id_country", "id_acknowledge"} <= ids, names
