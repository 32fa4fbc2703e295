"""The DPO's dashboard in real Chromium: the charts are drawn, and a figure's link opens the
admin's case list with its cases."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from casework import roles
from casework.models import Case, State
from tests.browser.conftest import screenshot
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_staff_otp(settings):
    settings.DSAR_STAFF_OTP_REQUIRED = False


def a_case(number: int, **fields) -> Case:
    now = timezone.now()
    values = {
        "reference": f"DSAR-B-{number:06d}",
        "request_type": "access",
        "regime": "gdpr",
        "email": f"subject{number}@demo.example",
        "received_at": now - dt.timedelta(days=10),
        "due_at": now + dt.timedelta(days=20),
        "state": State.VERIFIED,
        **fields,
    }
    return Case.objects.create(**values)


def test_the_dpo_sees_the_charts_and_follows_the_overdue_figure_to_its_cases(live_server, page):
    make_staff("dora", roles.DPO)
    now = timezone.now()
    overdue = [a_case(n, due_at=now - dt.timedelta(days=n)) for n in (1, 2)]
    a_case(3)  # open, not overdue
    for n in range(4, 8):  # answered this month and last
        closed = now - dt.timedelta(days=(n - 4) * 20, hours=1)
        a_case(
            n, state=State.COMPLETED, closed_at=closed, received_at=closed - dt.timedelta(days=9)
        )

    page.goto(f"{live_server.url}/dashboard/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    sla_chart = page.locator("svg#sla-chart")
    expect(sla_chart).to_be_visible()
    expect(sla_chart.locator("title").first).to_have_text("Answered in time, per month")
    assert sla_chart.locator("rect.bar").count() == 12
    assert any(
        float(h) > 0
        for h in sla_chart.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => b.getAttribute('height'))"
        )
    )
    volumes_chart = page.locator("svg#volumes-chart")
    expect(volumes_chart).to_be_visible()
    assert volumes_chart.locator("rect.bar").count() == 12
    boxes = [bar.bounding_box() for bar in volumes_chart.locator("rect.bar").all()]
    assert max(box["height"] for box in boxes) > 50  # drawn, not only in the markup
    expect(page.locator("#figure-overdue .figure-value")).to_have_text("2")
    screenshot(page, "dashboard-01-figures")

    page.locator("#figure-overdue a").click()

    expect(page).to_have_url(re.compile(r"/admin/casework/case/\?.*overdue=yes"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    for case in overdue:
        expect(page.locator("#result_list")).to_contain_text(case.reference)
    screenshot(page, "dashboard-02-overdue-cases")


def test_a_bar_of_the_volumes_chart_opens_the_month_s_cases(live_server, page):
    make_staff("audrey", roles.AUDITOR)
    now = timezone.now()
    received = [a_case(n, received_at=now - dt.timedelta(minutes=n)) for n in (1, 2, 3)]
    a_case(4, received_at=now - dt.timedelta(days=400))  # before the period

    page.goto(f"{live_server.url}/dashboard/")
    page.get_by_label("Username").fill("audrey")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Log in").click()

    this_month = page.locator("svg#volumes-chart a.bar-link").last
    expect(this_month.locator("text.bar-value")).to_have_text("3")
    this_month.locator("rect.bar").click()

    expect(page).to_have_url(re.compile(r"/admin/casework/case/\?.*received_at__gte="))
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    for case in received:
        expect(page.locator("#result_list")).to_contain_text(case.reference)
