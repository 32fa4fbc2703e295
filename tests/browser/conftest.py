"""Browser tests: real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright.

`scripts/ensure-chromium` installs it (`make test` runs the script first). Without it these tests
skip locally and fail when DSAR_REQUIRE_SERVICES=1 (CI), like any other missing service.
Tests use pytest-django's `live_server` and are transactional
(`@pytest.mark.django_db(transaction=True)`).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import service_missing

# Playwright's sync API keeps an asyncio loop running in the main thread, so Django would refuse
# ORM calls made by the test itself (creating staff, reading the outbox's cases) as "async".
# The test body is plain synchronous code, so this is safe here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Short enough that a broken page fails the test quickly, long enough for a slow CI machine.
TIMEOUT_MS = 10_000


def artifacts_dir() -> Path:
    path = Path(os.environ.get("DSAR_TEST_ARTIFACTS", "test-artifacts"))
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under <artifacts>/screenshots/<name>.png and return its path."""
    folder = artifacts_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One Chromium for the session, with a fresh profile (user data dir) of its own."""
    if not os.access(CHROMIUM, os.X_OK):
        service_missing(f"Chromium ({CHROMIUM})")
    from playwright.sync_api import sync_playwright

    user_data_dir = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
        )
        try:
            yield context.browser
        finally:
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    """A fresh page in a fresh context (no cookies, no storage) for each test; on failure a
    screenshot of where it stopped is saved next to the others."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed and not page.is_closed():
            # The test's own failure is what matters, not a screenshot that could not be taken.
            with contextlib.suppress(Exception):
                screenshot(page, f"FAILED-{request.node.name}")
        context.close()
