"""The DPO's dashboard: each figure on known data, its filters, its pages, who may open them,
its CSV and the yearly report, and a number of queries that does not grow with the cases."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from casework import permissions, roles
from casework.models import Case, ConnectorRun, FulfilmentPlan, State
from casework.selectors import dashboard
from casework.selectors.identity import undecided_links
from dsar.models import SourceSystem
from tests.casework.helpers import TIRANE, a_case, local
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 4, 15, 12, 0, tzinfo=TIRANE)
_numbers = itertools.count(1)  # audit rounds
PERIOD = dashboard.Filters(start=dt.date(2025, 5, 1), end=dt.date(2026, 4, 15))


def answered(closed_at: dt.datetime, due_at: dt.datetime, **fields) -> Case:
    fields.setdefault("state", State.COMPLETED)
    fields.setdefault("received_at", closed_at - dt.timedelta(days=10))
    return a_case(closed_at=closed_at, due_at=due_at, **fields)


def system(name: str = "CRM") -> SourceSystem:
    return SourceSystem.objects.create(name=name, slug=name.lower(), connector="manual")


# --- open cases ---------------------------------------------------------------------------


def test_open_cases_are_counted_by_state_and_type_with_overdue_and_due_soon():
    a_case(state=State.VERIFIED, due_at=NOW - dt.timedelta(hours=1))  # overdue
    a_case(state=State.VERIFIED, due_at=local(2026, 4, 22, 23, 59))  # within 7 days
    a_case(state=State.IN_REVIEW, request_type="erasure", due_at=local(2026, 4, 23, 0, 1))
    a_case(state=State.COMPLETED, closed_at=NOW, due_at=NOW - dt.timedelta(days=3))  # closed

    work = dashboard.workload(PERIOD, NOW)

    assert work.cells == {("verified", "access"): 2, ("in_review", "erasure"): 1}
    assert work.total == 3
    assert work.by_state == {"verified": 2, "in_review": 1}
    assert work.by_type == {"access": 2, "erasure": 1}
    assert (work.overdue, work.overdue_by_type) == (1, {"access": 1})
    assert (work.due_soon, work.due_soon_by_type) == (1, {"access": 1})


def test_confidential_cases_count_in_the_totals():
    a_case(confidential=True)
    a_case()
    assert dashboard.workload(PERIOD, NOW).total == 2


# --- SLA ----------------------------------------------------------------------------------


def test_an_answer_on_the_last_evening_of_march_counts_in_march_after_the_clocks_change():
    # DST starts in Tirana on 29 March 2026: 23:30 on the 31st is 21:30 UTC.
    answered(local(2026, 3, 31, 23, 30), due_at=local(2026, 3, 31, 23, 59, 59))
    # 00:30 on 1 April, local, is still 31 March in UTC.
    answered(local(2026, 4, 1, 0, 30), due_at=local(2026, 3, 31, 23, 59, 59))

    sla = {m.month: m for m in dashboard.sla_compliance(PERIOD, NOW).months}

    assert (sla[dt.date(2026, 3, 1)].answered, sla[dt.date(2026, 3, 1)].in_time) == (1, 1)
    assert (sla[dt.date(2026, 4, 1)].answered, sla[dt.date(2026, 4, 1)].in_time) == (1, 0)


def test_an_answer_just_before_midnight_at_the_end_of_february_counts_in_february():
    # Winter time (UTC+1): 23:30 on 28 February is 22:30 UTC; 00:30 on 1 March is 23:30 UTC.
    answered(local(2026, 2, 28, 23, 30), due_at=local(2026, 3, 10, 23, 59))
    answered(local(2026, 3, 1, 0, 30), due_at=local(2026, 3, 10, 23, 59))

    sla = {m.month: m.answered for m in dashboard.sla_compliance(PERIOD, NOW).months}

    assert sla[dt.date(2026, 2, 1)] == 1
    assert sla[dt.date(2026, 3, 1)] == 1


def test_sla_counts_answers_by_their_deadline_per_month_and_regime():
    due = local(2026, 1, 20, 23, 59, 59)
    answered(local(2026, 1, 20, 23, 0), due_at=due)  # on the due day: in time
    answered(local(2026, 1, 21, 0, 5), due_at=due)  # the next day: late
    answered(local(2026, 1, 10, 9), due_at=due, state=State.REJECTED, rejection_reason="x")
    answered(local(2026, 1, 12, 9), due_at=due, regime="ccpa")
    answered(local(2026, 1, 13, 9), due_at=due, state=State.WITHDRAWN)  # owes no answer

    sla = dashboard.sla_compliance(PERIOD, NOW)
    january = next(m for m in sla.months if m.month == dt.date(2026, 1, 1))

    assert (january.answered, january.in_time) == (4, 3)
    assert january.share == 0.75
    assert len(sla.months) == 12
    gdpr = next(m for m in sla.by_regime["gdpr"] if m.month == dt.date(2026, 1, 1))
    ccpa = next(m for m in sla.by_regime["ccpa"] if m.month == dt.date(2026, 1, 1))
    assert (gdpr.answered, gdpr.in_time, ccpa.answered, ccpa.in_time) == (3, 2, 1, 1)
    assert (sla.answered, sla.in_time) == (4, 3)


def test_answers_outside_the_period_are_not_counted():
    answered(local(2025, 4, 30, 12), due_at=local(2025, 5, 30, 12))
    assert dashboard.sla_compliance(PERIOD, NOW).answered == 0


# --- days to close ------------------------------------------------------------------------


def test_median_and_90th_percentile_of_the_days_to_answer():
    for n in range(1, 11):  # 1 to 10 days
        closed = local(2026, 3, 20, 12)
        answered(closed, due_at=closed, received_at=closed - dt.timedelta(days=n))
    answered(
        local(2026, 3, 20, 12),
        due_at=local(2026, 3, 20, 12),
        received_at=local(2026, 3, 16, 12),
        request_type="erasure",
    )

    spread = dashboard.time_to_close(PERIOD, NOW)

    assert spread.overall.answered == 11
    assert spread.overall.median_days == pytest.approx(5.0)
    assert spread.overall.p90_days == pytest.approx(9.0)
    assert spread.by_type["access"].median_days == pytest.approx(5.5)
    assert spread.by_type["access"].p90_days == pytest.approx(9.1)
    assert spread.by_type["erasure"].median_days == pytest.approx(4.0)


def test_no_answers_give_no_median():
    spread = dashboard.time_to_close(PERIOD, NOW)
    assert (spread.overall.answered, spread.overall.median_days) == (0, None)


# --- volumes --------------------------------------------------------------------------------


def test_volumes_are_counted_per_month_of_receipt_by_type_and_channel():
    a_case(received_at=local(2026, 3, 31, 23, 30))  # local March, UTC March too
    a_case(received_at=local(2026, 4, 1, 0, 30), channel="letter")  # UTC: 31 March
    a_case(received_at=local(2026, 4, 2, 9), request_type="erasure", channel="letter")

    figures = dashboard.volumes(PERIOD, NOW)

    march, april = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
    assert figures.by_type == {"access": {march: 1, april: 1}, "erasure": {april: 1}}
    assert figures.by_channel == {"letter": {april: 2}, "web": {march: 1}}
    assert figures.totals[march] == 1 and figures.totals[april] == 2
    assert figures.total == 3
    assert figures.months[0] == dt.date(2025, 5, 1) and figures.months[-1] == april


# --- extensions and refusals ----------------------------------------------------------------


def test_extensions_and_refusals_are_counted_with_their_grounds():
    for _ in range(2):
        a_case(
            original_due_at=local(2026, 3, 1),
            extension_reason="Complex request",
            extension_announced_at=local(2026, 2, 20),
        )
    a_case(
        request_type="erasure",
        original_due_at=local(2026, 3, 1),
        extension_reason="About a colleague",
        extension_announced_at=local(2026, 2, 20),
        confidential=True,
    )
    answered(
        local(2026, 2, 1),
        due_at=local(2026, 2, 2),
        state=State.REJECTED,
        rejection_reason="Manifestly excessive",
        rejected_as_unfounded=True,
    )
    answered(
        local(2026, 2, 1),
        due_at=local(2026, 2, 2),
        state=State.REJECTED,
        request_type="erasure",
        rejection_reason="Legal claims",
    )

    extended = dashboard.extensions(PERIOD, NOW)
    refused = dashboard.refusals(PERIOD, NOW)

    assert extended.by_type == {"access": 2, "erasure": 1}
    assert extended.grounds == [("Complex request", 2)]  # the confidential one's left out
    assert refused.by_type == {"access": 1, "erasure": 1}
    assert refused.unfounded == 1
    assert refused.grounds == [("Legal claims", 1), ("Manifestly excessive", 1)]


# --- connector health -----------------------------------------------------------------------


def test_connector_health_counts_failures_and_mean_time_of_the_last_7_days():
    crm, desk = system("CRM"), system("Desk")
    case = a_case()
    runs = [
        (crm, "succeeded", 100, NOW - dt.timedelta(days=1)),
        (crm, "failed", 300, NOW - dt.timedelta(days=6)),
        (crm, "failed", None, NOW - dt.timedelta(days=8)),  # too old
        (desk, "succeeded", 50, NOW - dt.timedelta(hours=2)),
    ]
    for number, (source, state, ms, created) in enumerate(runs, start=1):
        ConnectorRun.objects.create(
            case=case, system=source, round=number, state=state, duration_ms=ms, created_at=created
        )

    health = {s.name: s for s in dashboard.connector_health(PERIOD, NOW)}

    assert (health["CRM"].searches, health["CRM"].failed, health["CRM"].mean_ms) == (2, 1, 200)
    assert health["CRM"].failure_share == 0.5
    assert (health["Desk"].searches, health["Desk"].failed) == (1, 0)


# --- waiting ------------------------------------------------------------------------------


def test_plans_and_releases_waiting_for_approval_are_counted():
    erasure = a_case(request_type="erasure", state=State.IN_REVIEW)
    FulfilmentPlan.objects.create(case=erasure, number=1, intent="erase", state="submitted")
    drafted = a_case(request_type="erasure", state=State.IN_REVIEW)
    FulfilmentPlan.objects.create(case=drafted, number=1, intent="erase", state="draft")
    a_case(state=State.IN_REVIEW, review_completed_at=NOW)  # a release to approve
    a_case(state=State.IN_REVIEW)  # still in review

    waiting = dashboard.waiting(PERIOD, NOW)

    assert (waiting.plans, waiting.releases) == (1, 1)


def held_records(case: Case, source: SourceSystem, *keys: str) -> None:
    """Subject records found only through a phone the requester typed: held for staff."""
    ConnectorRun.objects.create(
        case=case,
        system=source,
        round=next(_numbers),
        state="succeeded",
        matches=[
            {
                "subject_key": key,
                "found_by": {"kind": "phone", "value": "+355691234567"},
                "identifiers": [{"kind": "phone", "value": "+355691234567"}],
                "counts": {"online_account": 1},
            }
            for key in keys
        ],
    )


def test_records_waiting_for_staff_are_those_the_review_page_shows_undecided():
    crm = system()
    first = a_case(state=State.IN_REVIEW, verification_method="email_link")
    held_records(first, crm, "1", "2")
    second = a_case(state=State.IN_REVIEW, verification_method="email_link")
    held_records(second, crm, "3")
    reviewed = a_case(state=State.IN_REVIEW, review_completed_at=NOW)
    held_records(reviewed, crm, "4")  # its review is complete: nothing waits

    waiting = dashboard.waiting(PERIOD, NOW)

    assert (len(undecided_links(first)), len(undecided_links(second))) == (2, 1)
    assert (waiting.records, waiting.record_cases) == (3, 2)


# --- filters --------------------------------------------------------------------------------


def test_filters_choose_the_regime_type_and_assignee(dora, alice):
    a_case(assignee=alice)
    a_case(request_type="erasure", assignee=alice)
    a_case(regime="ccpa", assignee=alice)
    a_case()

    def total(**chosen):
        filters = dashboard.Filters(start=PERIOD.start, end=PERIOD.end, **chosen)
        return dashboard.workload(filters, NOW).total, dashboard.volumes(filters, NOW).total

    assert total() == (4, 4)
    assert total(regime="ccpa") == (1, 1)
    assert total(request_type="erasure") == (1, 1)
    assert total(assignee=alice.pk) == (3, 3)
    assert total(assignee=dora.pk) == (0, 0)


# --- the yearly report ------------------------------------------------------------------------


def test_the_yearly_report_counts_the_requests_received_in_the_year():
    due = local(2025, 3, 1)
    answered(local(2025, 2, 1), due_at=due, received_at=local(2025, 1, 5))
    answered(local(2025, 3, 5), due_at=due, received_at=local(2025, 1, 6), original_due_at=due)
    answered(
        local(2025, 2, 1),
        due_at=due,
        received_at=local(2025, 1, 7),
        state=State.REJECTED,
        rejection_reason="Excessive",
    )
    a_case(received_at=local(2025, 12, 31, 23, 30), request_type="erasure")  # still open
    a_case(received_at=local(2026, 1, 1, 0, 30))  # the next year

    report = dashboard.yearly_report(2025)

    rows = {row.request_type: row for row in report.rows}
    access = rows["access"]
    assert (access.received, access.answered, access.answered_in_time) == (3, 3, 2)
    assert (access.extended, access.refused, access.still_open) == (1, 1, 0)
    assert (rows["erasure"].received, rows["erasure"].still_open) == (1, 1)
    assert report.total.received == 4


# --- the pages ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_staff_otp(settings):
    settings.DSAR_STAFF_OTP_REQUIRED = False


def dashboard_url(**query) -> str:
    url = reverse("dashboard:index")
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("persona", ["dora", "alice", "audrey"])
def test_the_dpo_privacy_team_and_auditor_open_the_dashboard(persona, request, client):
    client.force_login(request.getfixturevalue(persona))
    page = client.get(reverse("dashboard:index"))
    assert page.status_code == 200
    assert b'<svg class="chart"' in page.content
    assert b'id="site-name"' in page.content  # the admin's header


@pytest.mark.parametrize("persona", ["adam", "ingrid"])
@pytest.mark.parametrize(
    "url",
    [
        reverse("dashboard:index"),
        reverse("dashboard:figures_csv"),
        reverse("dashboard:report", args=[2025]),
        reverse("dashboard:report_csv", args=[2025]),
    ],
)
def test_administrators_and_intake_clients_are_refused(persona, url, request, client):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 403


def test_the_admin_home_links_to_the_dashboard_for_those_who_may_open_it(client, dora, adam):
    client.force_login(dora)
    assert reverse("dashboard:index") in client.get(reverse("admin:index")).content.decode()
    client.force_login(adam)
    assert reverse("dashboard:index") not in client.get(reverse("admin:index")).content.decode()


def test_a_visitor_is_sent_to_the_staff_sign_in(client):
    page = client.get(reverse("dashboard:index"))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("admin:login"))


def test_the_second_factor_applies(client, dora, settings):
    settings.DSAR_STAFF_OTP_REQUIRED = True
    client.force_login(dora)  # signed in, no second factor
    page = client.get(reverse("dashboard:index"))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-45"},
        {"end": "yesterday"},
        {"regime": "martian"},
        {"request_type": "telepathy"},
        {"assignee": "999999"},
        {"assignee": "dora"},
        {"start": "2026-04-01", "end": "2026-03-01"},
        {"start": "2015-01-01", "end": "2026-01-01"},
        {"start": "9999-12-31"},
        {"end": "0001-01-01"},
    ],
)
def test_bad_filters_show_the_form_errors_with_a_400(query, client, dora):
    client.force_login(dora)
    for name in ("dashboard:index", "dashboard:figures_csv"):
        page = client.get(reverse(name), query)
        assert page.status_code == 400
        assert b"errorlist" in page.content


@pytest.mark.parametrize("year", [0, 1999, 3000, 99999])
def test_a_report_year_out_of_range_is_a_400(year, client, dora):
    client.force_login(dora)
    assert client.get(reverse("dashboard:report", args=[year])).status_code == 400
    assert client.get(reverse("dashboard:report_csv", args=[year])).status_code == 400


def test_unknown_query_parameters_are_ignored(client, dora):
    client.force_login(dora)
    assert client.get(reverse("dashboard:index"), {"colour": "blue"}).status_code == 200


def a_busy_office(n: int) -> None:
    """n cases of every kind the page counts, with a system's searches and a plan."""
    crm = SourceSystem.objects.get_or_create(slug="crm", defaults={"name": "CRM"})[0]
    now = dt.datetime.now(tz=TIRANE)
    for i in range(n):
        received = now - dt.timedelta(days=3 + i % 200)
        kind = ["access", "erasure", "rectification"][i % 3]
        case = a_case(
            received_at=received,
            request_type=kind,
            state=[State.IN_REVIEW, State.COMPLETED, State.REJECTED][i % 3],
            closed_at=None if i % 3 == 0 else received + dt.timedelta(days=5),
            rejection_reason="Excessive" if i % 3 == 2 else "",
            original_due_at=received if i % 4 == 0 else None,
            extension_reason="Complex" if i % 4 == 0 else "",
            extension_announced_at=received if i % 4 == 0 else None,
            confidential=i % 5 == 0,
            channel=["web", "letter"][i % 2],
        )
        ConnectorRun.objects.create(
            case=case, system=crm, state=["succeeded", "failed"][i % 2], duration_ms=100 + i
        )
        if i % 3 == 0:
            held_records(case, crm, f"k{i}")
            if kind == "erasure":
                FulfilmentPlan.objects.create(
                    case=case, number=1, intent="erase", state="submitted"
                )


def page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("dashboard:index")).status_code == 200
        assert client.get(reverse("dashboard:figures_csv")).status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_cases(client, dora):
    client.force_login(dora)
    a_busy_office(1)
    page_queries(client)  # caches warmed (content types, permissions)
    with_one = page_queries(client)
    a_busy_office(30)
    assert page_queries(client) == with_one


def test_the_csv_holds_every_figure(client, dora):
    a_case(state=State.VERIFIED, due_at=dt.datetime.now(tz=TIRANE) - dt.timedelta(days=1))
    closed = dt.datetime.now(tz=TIRANE) - dt.timedelta(days=1)
    answered(closed, due_at=closed + dt.timedelta(days=1), request_type="erasure")
    answered(
        closed,
        due_at=closed + dt.timedelta(days=1),
        state=State.REJECTED,
        rejection_reason="=HYPERLINK(1)",
    )
    client.force_login(dora)

    response = client.get(reverse("dashboard:figures_csv"))

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    figures = {row["figure"] for row in rows}
    assert {
        "open",
        "overdue",
        "sla_answered",
        "sla_answered_in_time",
        "days_to_close_median",
        "received",
        "refused",
        "refusal_ground",
        "plans_waiting_for_approval",
        "records_waiting_for_staff",
    } <= figures
    opened = [r for r in rows if r["figure"] == "open"]
    assert opened == [
        {
            "figure": "open",
            "month": "",
            "regime": "",
            "request_type": "access",
            "state": "verified",
            "channel": "",
            "detail": "",
            "value": "1",
        }
    ]
    this_month = closed.strftime("%Y-%m")
    answered_rows = [r for r in rows if r["figure"] == "sla_answered" and r["month"] == this_month]
    assert {(r["regime"], r["value"]) for r in answered_rows} == {("", "2"), ("gdpr", "2")}
    grounds = [r for r in rows if r["figure"] == "refusal_ground"]
    assert grounds[0]["detail"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, runs nothing


def test_the_yearly_report_page_and_csv(client, audrey):
    answered(local(2025, 2, 1), due_at=local(2025, 3, 1), received_at=local(2025, 1, 5))
    a_case(received_at=local(2025, 6, 1), request_type="erasure", regime="ccpa")
    client.force_login(audrey)

    page = client.get(reverse("dashboard:report", args=[2025]))
    assert page.status_code == 200
    assert b"Requests received in 2025" in page.content

    response = client.get(reverse("dashboard:report_csv", args=[2025]), {"regime": "gdpr"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "year",
        "request_type",
        "received",
        "answered",
        "answered_in_time",
        "extended",
        "refused",
        "still_open",
    ]
    assert rows[1:] == [
        ["2025", "access", "1", "1", "1", "0", "0", "0"],
        ["2025", "all", "1", "1", "1", "0", "0", "0"],
    ]


def links_on(page, anchor_id: str) -> str:
    html = page.content.decode()
    start = html.index(f'id="{anchor_id}"')
    href = html.index('href="', start) + len('href="')
    return html[href : html.index('"', href)].replace("&amp;", "&")


def listed(client, url: str) -> set[str]:
    page = client.get(url)
    assert page.status_code == 200, url
    return {case.reference for case in page.context["cl"].result_list}


def sla_row(page, moment: dt.datetime) -> dict:
    """The SLA table's row of the month of `moment`."""
    months = page.context["filters"].months
    return page.context["sla"]["rows"][months.index(moment.date().replace(day=1))]


def test_each_figure_links_to_the_list_of_its_cases(client, dora):
    now = dt.datetime.now(tz=TIRANE)
    overdue = a_case(state=State.VERIFIED, due_at=now - dt.timedelta(hours=1))
    soon = a_case(state=State.VERIFIED, due_at=now + dt.timedelta(days=2))
    a_case(state=State.VERIFIED, due_at=now + dt.timedelta(days=20), regime="ccpa")
    closed = now - dt.timedelta(days=1)
    late = answered(closed, due_at=closed - dt.timedelta(days=1))
    in_time = answered(closed, due_at=closed + dt.timedelta(days=1))
    refused = answered(
        closed, due_at=closed, state=State.REJECTED, rejection_reason="x", request_type="erasure"
    )
    crm = system()
    ConnectorRun.objects.create(case=late, system=crm, state="failed")
    client.force_login(dora)
    page = client.get(reverse("dashboard:index"))

    assert len(listed(client, links_on(page, "figure-open"))) == 3
    assert listed(client, links_on(page, "figure-overdue")) == {overdue.reference}
    assert listed(client, links_on(page, "figure-due-soon")) == {soon.reference}
    assert listed(client, links_on(page, "figure-refused")) == {refused.reference}
    assert listed(client, links_on(page, "health-table")) == {late.reference}
    this_month = sla_row(page, closed)
    answered_now = {late.reference, in_time.reference, refused.reference}
    assert listed(client, this_month["answered_href"]) == answered_now
    ccpa = client.get(reverse("dashboard:index"), {"regime": "ccpa"})
    assert len(listed(client, links_on(ccpa, "figure-open"))) == 1
    query = parse_qs(urlsplit(links_on(ccpa, "figure-open")).query)
    assert query["regime__exact"] == ["ccpa"]


def test_the_in_time_and_late_links_list_their_answers(client, dora):
    now = dt.datetime.now(tz=TIRANE)
    closed = now - dt.timedelta(hours=2)
    late = answered(closed, due_at=closed - dt.timedelta(days=1))
    in_time = answered(closed, due_at=closed + dt.timedelta(days=1))
    client.force_login(dora)
    page = client.get(reverse("dashboard:index"))
    sla = sla_row(page, closed)

    assert listed(client, sla["in_time_href"]) == {in_time.reference}
    assert listed(client, sla["late_href"]) == {late.reference}


def test_the_page_speaks_albanian(client, dora):
    client.force_login(dora)
    with translation.override("en"):  # the request's Albanian does not outlive the test
        page = client.get(reverse("dashboard:index"), HTTP_ACCEPT_LANGUAGE="sq")
    assert page.status_code == 200
    assert "Raste të hapura" in page.content.decode()


def test_the_assignee_filter_offers_deactivated_staff_whose_cases_still_count():
    from casework.dashboard.forms import FiltersForm

    active = make_staff("paula", roles.PRIVACY_TEAM)
    gone = make_staff("olga", roles.PRIVACY_TEAM, is_active=False)
    make_staff("aud", roles.AUDITOR)
    offered = list(FiltersForm(now=NOW).fields["assignee"].queryset)
    assert active in offered and gone in offered
    assert [u.username for u in offered if u.username == "aud"] == []
    # ... while a case is assigned only to active staff.
    assert gone not in permissions.assignable_staff()
