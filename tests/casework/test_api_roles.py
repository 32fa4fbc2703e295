"""Every role against every endpoint of the staff API, and a confidential case: no access a
role should not have (casework.roles, casework.selectors.access)."""

from __future__ import annotations

import pytest

from casework.models import AuditEvent, Case, ConnectorRun, RecordDecision
from dsar.models import SourceSystem
from tests.casework.api_support import assert_error, client_for, own_rate_counters  # noqa: F401

pytestmark = pytest.mark.django_db
CASES = "/api/v1/cases/"
ROLES = ["alice", "dora", "audrey", "adam", "ingrid"]

# What each role gets, in the order of ROLES: privacy team, DPO, auditor, administrator, intake.
READS = {
    "/api/v1/cases/": (200, 200, 200, 403, 200),
    "/api/v1/cases/{ref}/": (200, 200, 200, 403, 404),
    "/api/v1/cases/{ref}/operations/": (200, 200, 200, 403, 403),
    "/api/v1/cases/{ref}/decisions/": (200, 200, 403, 403, 403),
    "/api/v1/cases/{ref}/plans/": (200, 200, 200, 403, 403),
    "/api/v1/cases/{ref}/events/": (200, 200, 200, 403, 403),
    "/api/v1/cases/{ref}/dossier/": (200, 200, 200, 403, 403),
    "/api/v1/audit-events/": (200, 200, 200, 403, 403),
    "/api/v1/source-systems/": (200, 200, 200, 200, 403),
    "/api/v1/source-systems/crm/": (200, 200, 200, 200, 403),
    "/api/v1/dashboard/figures/": (200, 200, 200, 403, 403),
}
# A confidential case the privacy team and the auditor are not named on.
CONFIDENTIAL = {
    "/api/v1/cases/{ref}/": (404, 200, 404, 403, 404),
    "/api/v1/cases/{ref}/operations/": (404, 200, 404, 403, 403),
    "/api/v1/cases/{ref}/decisions/": (404, 200, 403, 403, 403),
    "/api/v1/cases/{ref}/plans/": (404, 200, 404, 403, 403),
    "/api/v1/cases/{ref}/events/": (404, 200, 404, 403, 403),
    "/api/v1/cases/{ref}/dossier/": (404, 200, 404, 403, 403),
}
SECRET_VALUE = "rec-kept-secret-7731"


@pytest.fixture
def people(alice, dora, audrey, adam, ingrid):
    return {"alice": alice, "dora": dora, "audrey": audrey, "adam": adam, "ingrid": ingrid}


@pytest.fixture
def world(make_case, alice):
    """A plain case with a gathered record decided in review, and a confidential case."""
    plain = make_case()
    system = SourceSystem.objects.create(name="CRM", slug="crm", connector="manual", config={})
    run = ConnectorRun.objects.create(
        case=plain, system=system, state="succeeded", records_count=1, counts={"crm": 1}
    )
    RecordDecision.objects.create(
        case=plain,
        run=run,
        category="online_account",
        record_key=SECRET_VALUE,
        action="redact",
        field="phone",
        reason="other_person",
        note=SECRET_VALUE,
        decided_by=alice,
    )
    secret = make_case(email="secret@demo.example")
    Case.objects.filter(pk=secret.pk).update(confidential=True)
    return plain, secret


@pytest.mark.parametrize("path, statuses", READS.items())
def test_each_role_reads_only_what_it_may(people, world, path, statuses):
    plain, _secret = world
    for username, expected in zip(ROLES, statuses, strict=True):
        response = client_for(people[username]).get(path.format(ref=plain.reference))
        if expected == 200:
            assert response.status_code == 200, (username, path, response.content[:300])
        else:
            assert_error(response, expected)


@pytest.mark.parametrize("path, statuses", CONFIDENTIAL.items())
def test_a_confidential_case_is_seen_only_by_those_named_and_the_dpo(people, world, path, statuses):
    _plain, secret = world
    for username, expected in zip(ROLES, statuses, strict=True):
        response = client_for(people[username]).get(path.format(ref=secret.reference))
        if expected == 200:
            assert response.status_code == 200, (username, path)
        else:
            body = assert_error(response, expected)
            assert secret.reference not in str(body)


def test_a_confidential_case_is_in_no_list_nor_trail_of_those_not_named(alice, dora, world):
    _plain, secret = world
    for path in (CASES, "/api/v1/audit-events/"):
        assert secret.reference not in client_for(alice).get(path).content.decode()
    assert secret.reference in client_for(dora).get(CASES).content.decode()


def test_staff_named_on_a_confidential_case_see_it(alice, world):
    _plain, secret = world
    secret.confidential_staff.add(alice)
    assert client_for(alice).get(f"{CASES}{secret.reference}/").status_code == 200


def test_operations_on_a_confidential_case_are_404_for_those_not_named(alice, world):
    _plain, secret = world
    response = client_for(alice).post(
        f"{CASES}{secret.reference}/operations/add_note/", {"note": "x"}, format="json"
    )
    assert_error(response, 404)


@pytest.mark.parametrize(
    "username, status",
    [("alice", 201), ("dora", 201), ("ingrid", 201), ("audrey", 403), ("adam", 403)],
)
def test_who_may_file_a_request(people, username, status):
    response = client_for(people[username]).post(
        CASES, {"request_type": "access", "email": "new@demo.example"}, format="json"
    )
    if status == 201:
        assert response.status_code == 201, response.content
    else:
        assert_error(response, status)
        assert not Case.objects.exists()


def test_an_intake_client_files_a_request_and_follows_only_its_own(ingrid, world):
    plain, _secret = world
    client = client_for(ingrid)
    filed = client.post(
        CASES,
        {"request_type": "erasure", "email": "filed@demo.example", "name": "Filed"},
        format="json",
    ).json()
    assert set(filed) == {"reference", "request_type", "state", "received_at", "due_at"}
    assert filed["state"] == "received"
    listed = client.get(CASES).json()["results"]
    assert [row["reference"] for row in listed] == [filed["reference"]]
    assert set(listed[0]) == {"reference", "request_type", "state", "received_at", "due_at"}
    assert set(client.get(f"{CASES}{filed['reference']}/").json()) == set(filed)
    assert_error(client.get(f"{CASES}{plain.reference}/"), 404)
    response = client.post(
        f"{CASES}{filed['reference']}/operations/verify/", {"note": "x"}, format="json"
    )
    assert_error(response, 403)


def test_the_auditor_gets_counts_of_records_never_their_values(audrey, world):
    plain, _secret = world
    client = client_for(audrey)
    body = client.get(f"{CASES}{plain.reference}/").json()
    assert body["sources"][0]["records"] == 1
    for path in READS:
        response = client.get(path.format(ref=plain.reference))
        if response["Content-Type"] == "application/pdf":  # the dossier
            from tests.casework.test_dossier import text_of

            assert SECRET_VALUE not in text_of(response.content), path
        else:
            assert SECRET_VALUE not in response.content.decode(), path


def test_the_auditor_runs_no_operation(audrey, world):
    plain, _secret = world
    client = client_for(audrey)
    assert client.get(f"{CASES}{plain.reference}/operations/").json() == []
    response = client.post(
        f"{CASES}{plain.reference}/operations/add_note/", {"note": "x"}, format="json"
    )
    assert_error(response, 403)


def test_the_administrator_sees_no_case_data_but_the_source_systems(adam, world):
    plain, _secret = world
    client = client_for(adam)
    for path in (CASES, f"{CASES}{plain.reference}/", "/api/v1/audit-events/"):
        assert_error(client.get(path), 403)
    assert client.get("/api/v1/source-systems/").status_code == 200


def test_an_intake_clients_key_events_name_it(ingrid):
    client_for(ingrid)
    event = AuditEvent.objects.get(action="api.token_issued")
    assert event.details["user"] == ingrid.pk
