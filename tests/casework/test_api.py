"""The staff API's endpoints: the case list and its filters, a case, filing a request, the
operations, plans, events, source systems, the schema and docs; bad input in the one error
format."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from casework import roles
from casework.api.errors import exception_handler
from casework.models import Case, CaseNote, ConnectorRun, State
from dsar.models import SourceSystem
from tests.casework.api_support import assert_error, client_for, own_rate_counters  # noqa: F401
from tests.casework.helpers import verified
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
CASES = "/api/v1/cases/"


def op_url(case: Case, name: str = "") -> str:
    return f"{CASES}{case.reference}/operations/" + (f"{name}/" if name else "")


def references(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["reference"] for row in response.json()["results"]]


# --- the list -------------------------------------------------------------------------------------


def test_the_list_shows_cases_newest_first(alice, make_case):
    first, second = make_case(), make_case(email="other@demo.example")
    assert references(client_for(alice).get(CASES)) == [second.reference, first.reference]


def test_the_list_filters_by_state_type_regime_and_channel(alice, make_case):
    access = make_case()
    erasure = make_case(request_type="erasure", email="e@demo.example", regime="ccpa")
    verified(erasure, alice)
    client = client_for(alice)
    assert references(client.get(CASES, {"state": "received"})) == [access.reference]
    assert references(client.get(CASES, {"request_type": "erasure"})) == [erasure.reference]
    assert references(client.get(CASES, {"regime": "ccpa"})) == [erasure.reference]
    assert references(client.get(CASES, {"channel": "letter"})) == []


def test_the_list_filters_by_assignee_and_overdue(alice, bob, make_case):
    mine, late = make_case(), make_case(email="late@demo.example")
    Case.objects.filter(pk=mine.pk).update(assignee=bob)
    Case.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(days=1))
    client = client_for(alice)
    assert references(client.get(CASES, {"assignee": "bob"})) == [mine.reference]
    assert references(client.get(CASES, {"assignee": "none"})) == [late.reference]
    assert references(client.get(CASES, {"overdue": "true"})) == [late.reference]
    assert references(client.get(CASES, {"overdue": "false"})) == [mine.reference]


def test_the_list_filters_by_the_day_received(alice, make_case):
    old = make_case(received_at=timezone.now() - dt.timedelta(days=20))
    new = make_case(email="new@demo.example")
    day = (timezone.now() - dt.timedelta(days=10)).date().isoformat()
    client = client_for(alice)
    assert references(client.get(CASES, {"received_after": day})) == [new.reference]
    assert references(client.get(CASES, {"received_before": day})) == [old.reference]


def test_the_list_pages_by_cursor(alice, make_case):
    made = [make_case(email=f"p{i}@demo.example").reference for i in range(5)]
    client = client_for(alice)
    page = client.get(CASES, {"page_size": 2}).json()
    seen = [row["reference"] for row in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [row["reference"] for row in page["results"]]
    assert seen == list(reversed(made))


@pytest.mark.parametrize(
    "query, field",
    [
        ({"colour": "red"}, "colour"),
        ({"received_after": "2026-13-45"}, "received_after"),
        ({"received_before": "yesterday"}, "received_before"),
        ({"state": "sleeping"}, "state"),
        ({"overdue": "perhaps"}, "overdue"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "cD1hYmM="}, "cursor"),  # p=abc: a position that is not a key
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_bad_list_parameters_are_refused_with_the_field_named(alice, query, field):
    body = assert_error(client_for(alice).get(CASES, query), 400)
    assert field in body["fields"]


# --- a case, and filing ---------------------------------------------------------------------------


def test_a_case_shows_its_counts_of_records_not_their_values(alice, make_case):
    case = make_case()
    system = SourceSystem.objects.create(name="CRM", slug="crm", connector="manual", config={})
    ConnectorRun.objects.create(
        case=case, system=system, state="succeeded", records_count=3, counts={"online_account": 3}
    )
    body = client_for(alice).get(f"{CASES}{case.reference}/").json()
    assert body["reference"] == case.reference
    assert body["email"] == case.email
    assert body["sources"] == [
        {
            "system": "crm",
            "state": "succeeded",
            "records": 3,
            "by_category": {"online_account": 3},
            "attempts": 0,
            "duration_ms": None,
        }
    ]


def test_an_unknown_case_is_a_404(alice):
    assert_error(client_for(alice).get(f"{CASES}DSAR-2026-999999/"), 404, "not_found")


def test_staff_file_a_request_that_starts_unverified(
    alice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            CASES,
            {"request_type": "access", "email": "arta.krasniqi@demo.example", "name": "Arta"},
            format="json",
        )
    assert response.status_code == 201, response.content
    case = Case.objects.get(reference=response.json()["reference"])
    assert case.state == State.RECEIVED
    assert case.channel == "api"
    assert case.entered_by == alice
    assert case.audit_events.get(action="case.created").details["entered_via"] == "api"
    assert [m.to for m in mailoutbox] == [["arta.krasniqi@demo.example"]]  # confirm the e-mail


def test_filing_refuses_bad_requests_per_field(alice):
    client = client_for(alice)
    body = assert_error(client.post(CASES, {"request_type": "access"}, format="json"), 400)
    assert "email" in body["fields"]
    body = assert_error(
        client.post(CASES, {"request_type": "gossip", "email": "x@demo.example"}, format="json"),
        400,
    )
    assert "request_type" in body["fields"]
    future = (timezone.now() + dt.timedelta(days=2)).isoformat()
    body = assert_error(
        client.post(
            CASES,
            {"request_type": "access", "email": "x@demo.example", "received_at": future},
            format="json",
        ),
        400,
    )
    assert "received_at" in body["fields"]


# --- operations -----------------------------------------------------------------------------------


def test_the_operations_offered_are_listed_with_their_fields(alice, make_case):
    case = make_case()
    body = client_for(alice).get(op_url(case)).json()
    names = [op["name"] for op in body]
    assert "verify" in names and "reject" not in names  # reject: the DPO's
    verify = next(op for op in body if op["name"] == "verify")
    assert verify["fields"][0]["name"] == "note" and verify["fields"][0]["required"]


def test_staff_verify_assign_and_note_through_the_api(alice, bob, make_case):
    case = make_case()
    client = client_for(alice)
    response = client.post(op_url(case, "verify"), {"note": "Called back"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["case"]["state"] != State.RECEIVED
    assert (
        client.post(op_url(case, "assign"), {"assignee": "bob"}, format="json").status_code == 200
    )
    assert (
        client.post(op_url(case, "add_note"), {"note": "Asked IT"}, format="json").status_code
        == 200
    )
    case.refresh_from_db()
    assert case.assignee == bob
    assert CaseNote.objects.filter(case=case, text="Asked IT").exists()
    assert case.audit_events.get(action="case.verified").details["entered_via"] == "api"


def test_the_dpo_rejects_and_the_privacy_team_may_not(alice, dora, make_case):
    case = make_case()
    refused = client_for(alice).post(op_url(case, "reject"), {"reason": "Unfounded"}, format="json")
    assert_error(refused, 403, "permission_denied")
    done = client_for(dora).post(op_url(case, "reject"), {"reason": "Unfounded"}, format="json")
    assert done.status_code == 200
    assert done.json()["case"]["state"] == State.REJECTED


def test_an_operation_not_allowed_in_the_state_is_a_409(alice, make_case):
    case = make_case()
    assert_error(client_for(alice).post(op_url(case, "fulfil"), {}, format="json"), 409)


def test_operation_input_is_checked_per_field(alice, make_case):
    case = make_case()
    client = client_for(alice)
    body = assert_error(client.post(op_url(case, "verify"), {}, format="json"), 400)
    assert "note" in body["fields"]
    body = assert_error(
        client.post(op_url(case, "verify"), {"note": "x", "mood": "ok"}, format="json"), 400
    )
    assert "mood" in body["fields"]
    body = assert_error(
        client.post(op_url(case, "verify"), {"note": ["a", "b"]}, format="json"), 400
    )
    assert "note" in body["fields"]
    assert_error(client.post(op_url(case, "verify"), ["note"], format="json"), 400)
    body = assert_error(
        client.post(op_url(case, "assign"), {"assignee": "nobody"}, format="json"), 400
    )
    assert "assignee" in body["fields"]


def test_an_unknown_operation_is_a_404(alice, make_case):
    assert_error(client_for(alice).post(op_url(make_case(), "teleport"), {}, format="json"), 404)


# --- what a case holds, the trail, the systems ----------------------------------------------------


def test_a_cases_events_and_plans_are_listed(alice, make_case):
    case = verified(make_case(), alice)
    client = client_for(alice)
    events = client.get(f"{CASES}{case.reference}/events/").json()["results"]
    assert {"case.created", "case.verified"} <= {e["action"] for e in events}
    assert client.get(f"{CASES}{case.reference}/plans/").json()["results"] == []
    assert client.get(f"{CASES}{case.reference}/decisions/").json()["results"] == []


def test_the_global_trail_holds_events_of_no_case(alice, make_case):
    client = client_for(alice)  # issuing the key is an event of no case
    actions = [e["action"] for e in client.get("/api/v1/audit-events/").json()["results"]]
    assert "api.token_issued" in actions


def test_source_systems_show_their_health(alice, make_case):
    case = make_case()
    system = SourceSystem.objects.create(name="CRM", slug="crm", connector="manual", config={})
    ConnectorRun.objects.create(case=case, system=system, state="failed")
    ConnectorRun.objects.create(
        case=case, system=system, state="succeeded", duration_ms=300, round=2
    )
    client = client_for(alice)
    listed = client.get("/api/v1/source-systems/").json()["results"]
    crm = next(row for row in listed if row["slug"] == "crm")
    assert crm["health"] == {"runs": 2, "failed": 1, "active": 0, "mean_ms": 300}
    assert "config" not in crm
    assert client.get("/api/v1/source-systems/crm/").json()["slug"] == "crm"
    assert_error(client.get("/api/v1/source-systems/nothing/"), 404)


# --- the error format everywhere, throttling, the schema ------------------------------------------


def test_unknown_addresses_under_api_answer_in_the_error_format(alice):
    client = client_for(alice)
    assert_error(client.get("/api/v1/nothing/"), 404, "not_found")
    assert_error(client.post("/api/v2/cases/", {}), 404, "not_found")


def test_an_address_with_a_newline_under_api_answers_in_the_error_format_too(alice):
    # Found by a longer fuzz run: the catch-all's "." did not match a newline (%0A).
    client = client_for(alice)
    assert_error(client.get("/api/v1/cases/x%0Ay/extra"), 404, "not_found")
    assert_error(client.get("/api/%0A"), 404, "not_found")
    # ... and every named URL of the site still reverses (an inline (?s) flag broke that).
    assert reverse("api:schema") == "/api/schema/"
    assert reverse("admin:index") == "/admin/"


def test_a_method_not_allowed_answers_in_the_error_format(alice):
    assert_error(client_for(alice).put(CASES, {}), 405, "method_not_allowed")


def test_too_many_requests_answer_429_in_the_error_format(alice, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        client = client_for(alice)
        client.get(CASES)
        client.get(CASES)
        assert_error(client.get(CASES), 429, "throttled")
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original


def test_an_unexpected_error_answers_500_in_the_error_format_without_details(caplog):
    response = exception_handler(RuntimeError("arta.krasniqi@demo.example"), {"view": None})
    assert response.status_code == 500
    assert response.data["code"] == "server_error"
    assert "arta" not in str(response.data) and "arta" not in caplog.text


def test_the_schema_describes_every_endpoint_with_its_errors(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    ids = set()
    for path, methods in schema["paths"].items():
        if path.startswith("/drp/"):
            continue  # the Data Rights Protocol's, in its own error format (test_drp)
        assert path.startswith("/api/v1/")
        for method, operation in methods.items():
            ids.add(operation["operationId"])
            for code in ("400", "401", "403", "404", "429"):
                assert code in operation["responses"], (path, method, code)
    assert schema["paths"]["/api/v1/cases/{reference}/operations/{name}/"]["post"]["responses"][
        "409"
    ]
    assert {"cases_list", "cases_create", "cases_operations_run", "auth_token_create"} <= ids


def test_the_docs_page_is_served_from_our_own_static_files(db):
    page = APIClient().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn." not in html and "jsdelivr" not in html


def test_inactive_staff_lose_access_with_their_key(make_case):
    gone = make_staff("gone", roles.PRIVACY_TEAM)
    client = client_for(gone)
    gone.is_active = False
    gone.save()
    assert_error(client.get(CASES), 401)


def _list_queries(client, query) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(CASES, query).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("query", [{}, {"overdue": "true", "request_type": "access"}])
def test_the_number_of_queries_of_the_list_does_not_grow_with_the_cases(
    alice, bob, make_case, query
):
    client = client_for(alice)
    make_case()
    client.get(CASES)  # the key's first use is noted once (last_used_at)
    few = _list_queries(client, query)
    for i in range(8):
        case = make_case(email=f"more{i}@demo.example")
        Case.objects.filter(pk=case.pk).update(assignee=bob, due_at=timezone.now())
    assert _list_queries(client, query) == few
