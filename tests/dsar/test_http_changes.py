"""The HTTP connector's change side against the real demo support desk, configured by the
demo's own mapping (dsar/data/demo/supportdesk.yaml), on a free port and a fresh file per test."""

from __future__ import annotations

import httpx
import pytest

from dsar.connectors.base import ConnectorError, TransientConnectorError
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    Intent,
    Outcome,
    RecordRef,
    Strategy,
)
from dsar.connectors.http import HttpConnector
from dsar.demo.supportdesk import add_calls, add_customers, add_tickets, create_database, serve
from dsar.identifiers import Identifier

TOKEN = "desk-token-for-changes-0123456789abcdef"
ARTA_PHONE = "+355 69 123 4567"
ARTA_EMAIL = "arta.krasniqi@demo.example"
MAPPING = "dsar/data/demo/supportdesk.yaml"


@pytest.fixture
def desk(tmp_path):
    """Arta (1) has two tickets and a call; Besnik (2) has a ticket of his own."""
    path = create_database(tmp_path / "desk.sqlite3")
    add_customers(
        path,
        [
            {"id": 1, "name": "Arta Krasniqi", "phone": ARTA_PHONE, "email": ARTA_EMAIL,
             "company": "Demo Print shpk"},
            {"id": 2, "name": "Besnik Hoxha", "phone": "+355 4 222 3333",
             "email": "besnik@office.demo.example", "company": "Tirana Office"},
        ],
    )  # fmt: skip
    add_tickets(
        path,
        [
            {"id": 11, "customer_id": 1, "subject": "Printer jam"},
            {"id": 12, "customer_id": 1, "subject": "Toner"},
            {"id": 21, "customer_id": 2, "subject": "Invoice"},
        ],
    )
    add_calls(path, [{"id": 31, "customer_id": 1, "notes": "Called about the jam"}])
    server, thread = serve("127.0.0.1", 0, path, TOKEN, faults=[])
    yield server
    server.stop()
    thread.join(timeout=5)


@pytest.fixture
def api(desk):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=desk.url, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def connector(desk, monkeypatch):
    monkeypatch.setenv("SUPPORTDESK_TOKEN", TOKEN)
    connector = HttpConnector({"mapping_file": MAPPING, "base_url": desk.url}, name="desk")
    yield connector
    connector.close()


def records_of(connector: HttpConnector, phone: str = ARTA_PHONE) -> list[RecordRef]:
    """What gathering stores of the subject with this phone."""
    (match,) = connector.find_subject([Identifier("phone", phone)]).matches
    return [
        RecordRef(source=r.source, key=r.key, category=r.category, subject_key=r.subject_key)
        for r in connector.export(match)
    ]


def apply_all(connector: HttpConnector, changes: list[Change]) -> list[set[Outcome]]:
    return [set(connector.apply(change).outcomes.values()) for change in changes]


# --- erasure ----------------------------------------------------------------------------------


def test_erasure_deletes_tickets_and_calls_before_the_customer(connector, api):
    changes = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector)))
    assert [(c.target, len(c.keys)) for c in changes] == [
        ("DELETE /api/customers/{subject_key}/tickets/{key}", 2),
        ("DELETE /api/customers/{subject_key}/calls/{key}", 1),
        ("DELETE /api/customers/{subject_key}", 1),
    ]
    assert apply_all(connector, changes) == [{Outcome.DONE}] * 3
    assert api.get("/api/customers/1").status_code == 404
    assert [t["id"] for t in api.get("/api/customers/2/tickets").json()["items"]] == [21]


def test_erasure_applied_twice_is_already_done(connector, desk):
    changes = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector)))
    apply_all(connector, changes)
    assert apply_all(connector, changes) == [{Outcome.ALREADY_DONE}] * 3
    assert desk.requests_to("/tickets/11") == 2


def test_a_change_that_stopped_half_way_is_simply_applied_again(connector):
    (tickets, *_rest) = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector)))
    first, second = tickets.keys
    connector.apply(tickets.only([first]))  # then the worker died
    outcomes = connector.apply(tickets).outcomes
    assert outcomes == {first: Outcome.ALREADY_DONE, second: Outcome.DONE}


# --- rectification ----------------------------------------------------------------------------


def test_rectification_patches_the_customer_once(connector, api):
    corrections = {"full_name": "Arta Krasniqi-Hoxha", "company": "Demo Print Sh.p.k."}
    request = ChangeRequest(Intent.RECTIFY, records_of(connector), corrections=corrections)
    (change,) = connector.plan_changes(request)
    assert change.target == "PATCH /api/customers/{subject_key}"
    assert change.columns == (("company", "Demo Print Sh.p.k."), ("name", "Arta Krasniqi-Hoxha"))
    assert apply_all(connector, [change]) == [{Outcome.DONE}]
    customer = api.get("/api/customers/1").json()
    assert (customer["name"], customer["company"]) == ("Arta Krasniqi-Hoxha", "Demo Print Sh.p.k.")
    # The desk answers {"changed": false}: nothing left to correct.
    assert apply_all(connector, [change]) == [{Outcome.ALREADY_DONE}]


def test_a_correction_of_a_field_the_desk_may_not_set_is_planned_by_hand(connector):
    request = ChangeRequest(
        Intent.RECTIFY, records_of(connector), corrections={"enquiry_subject": "Paper jam"}
    )
    (change,) = connector.plan_changes(request)
    assert change.manual and change.target == "/api/customers/{subject_key}/tickets"
    assert change.columns == (("enquiry_subject", "Paper jam"),)


# --- restriction ------------------------------------------------------------------------------


def test_restriction_is_one_call_per_subject_and_shows_on_the_customer(connector, api, desk):
    records = records_of(connector)
    (change,) = connector.plan_changes(ChangeRequest(Intent.RESTRICT, records))
    assert change.strategy == Strategy.RESTRICT and len(change.keys) == len(records) == 4
    assert apply_all(connector, [change]) == [{Outcome.DONE}]
    assert desk.requests_to("/api/customers/1/restriction") == 1
    assert api.get("/api/customers/1").json()["restricted"] is True
    assert apply_all(connector, [change]) == [{Outcome.ALREADY_DONE}]

    (lift,) = connector.plan_changes(ChangeRequest(Intent.LIFT_RESTRICTION, records))
    assert apply_all(connector, [lift]) == [{Outcome.DONE}]
    assert api.get("/api/customers/1").json()["restricted"] is False
    assert apply_all(connector, [lift]) == [{Outcome.ALREADY_DONE}]


# --- stopping marketing -----------------------------------------------------------------------


def test_stopping_marketing_lists_the_subjects_email_and_phone_once(connector, api):
    identifiers = {"email": ARTA_EMAIL, "phone": ARTA_PHONE, "customer_number": "C-1001"}
    request = ChangeRequest(Intent.STOP_MARKETING, records_of(connector), identifiers=identifiers)
    (change,) = connector.plan_changes(request)
    assert change.strategy == Strategy.SUPPRESS
    assert [kind for kind, _value in change.columns] == ["email", "phone"]  # what the list takes
    assert "@" not in change.describe()
    assert apply_all(connector, [change]) == [{Outcome.DONE}]
    assert apply_all(connector, [change]) == [{Outcome.ALREADY_DONE}]
    listed = api.get("/api/suppressions").json()["items"]
    assert [(item["kind"], item["value"]) for item in listed] == [
        ("email", ARTA_EMAIL),
        ("phone", ARTA_PHONE),
    ]


def test_without_declared_changes_every_intent_is_planned_by_hand(desk, monkeypatch):
    monkeypatch.setenv("SUPPORTDESK_TOKEN", TOKEN)
    config = HttpConnector({"mapping_file": MAPPING, "base_url": desk.url}).config
    del config["suppression"]
    for entry in config["export"]:
        del entry["changes"]
    connector = HttpConnector(config)
    records = records_of(connector)
    for intent in Intent:
        corrections = {"full_name": "Arta Krasniqi-Hoxha"}
        changes = connector.plan_changes(ChangeRequest(intent, records, corrections=corrections))
        assert changes and all(change.manual for change in changes), intent


def test_a_change_the_mapping_does_not_declare_is_refused(connector):
    (key,) = [r.key for r in records_of(connector) if r.key.endswith("tickets:11")]
    masking = Change(target="PATCH /api/tickets", strategy=Strategy.MASK, keys=(key,))
    undeclared = Change(
        target="DELETE /api/everything/{key}", strategy=Strategy.DELETE, keys=(key,)
    )
    for change in (masking, undeclared):
        with pytest.raises(ConnectorError):
            connector.apply(change)


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 429])
def test_an_overloaded_desk_is_a_transient_error_with_its_retry_after(connector, desk, status):
    (change, *_rest) = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector)))
    desk.fail_next(1, status=status, retry_after="7")
    with pytest.raises(TransientConnectorError) as failure:
        connector.apply(change)
    assert failure.value.retry_after == 7
    assert set(connector.apply(change).outcomes.values()) == {Outcome.DONE}


def test_refused_credentials_are_a_permanent_error(connector, monkeypatch):
    (change, *_rest) = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector)))
    connector.close()
    monkeypatch.setenv("SUPPORTDESK_TOKEN", "not-the-token")
    with pytest.raises(ConnectorError) as failure:
        connector.apply(change)
    assert not isinstance(failure.value, TransientConnectorError)
    assert "credentials refused (HTTP 401)" in str(failure.value)


def test_an_error_never_quotes_the_values_sent_or_the_answer(connector, desk):
    corrections = {"full_name": "Arta Secretname"}
    request = ChangeRequest(Intent.RECTIFY, records_of(connector), corrections=corrections)
    (change,) = connector.plan_changes(request)
    desk.answer_next(422, '{"error": "Arta Secretname is not allowed"}')
    with pytest.raises(ConnectorError) as failure:
        connector.apply(change)
    message = str(failure.value)
    assert "Secretname" not in message and "/api/customers/1" not in message
    assert message == "desk: rectify (PATCH /api/customers/{subject_key}): refused (HTTP 422)"


# --- the desk itself --------------------------------------------------------------------------


def test_the_desk_keeps_its_changes_in_its_file(desk, api):
    assert api.post("/api/customers/1/restriction").json() == {"changed": True, "restricted": True}
    again, thread = serve("127.0.0.1", 0, desk.db_path, TOKEN, faults=[])
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        answer = httpx.get(f"{again.url}/api/customers/1", headers=headers, timeout=5)
        assert answer.json()["restricted"] is True
    finally:
        again.stop()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PATCH", "/api/customers/1", {"vip": "yes"}, 400),
        ("PATCH", "/api/customers/1", {"name": " "}, 400),
        ("PATCH", "/api/customers/9", {"name": "X"}, 404),
        ("POST", "/api/customers/9/restriction", None, 404),
        ("DELETE", "/api/customers/2/tickets/11", None, 404),  # Arta's ticket, not Besnik's
        ("POST", "/api/suppressions", {"fax": "123"}, 400),
        ("PUT", "/api/customers/1", {"name": "X"}, 405),
    ],
)
def test_the_desk_refuses_changes_it_cannot_make(api, method, path, body, status):
    response = api.request(method, path, json=body)
    assert response.status_code == status
    assert "error" in response.json()


def test_the_desks_changes_need_the_bearer_token(desk):
    response = httpx.delete(f"{desk.url}/api/customers/1/tickets/11", timeout=5)
    assert response.status_code == 401


# --- the configuration ------------------------------------------------------------------------


def mapping_with(desk_url: str, *, profile_changes=None, suppression=None) -> dict:
    base = {
        "base_url": desk_url,
        "auth": {"type": "bearer", "token_env": "SUPPORTDESK_TOKEN"},
        "lookup": {
            "path": "/api/customers",
            "params": {"{kind}": "{value}"},
            "identifiers": ["phone"],
            "subject_key": "id",
        },
        "export": [
            {
                "path": "/api/customers/{subject_key}",
                "single": True,
                "category": "customer_enquiries",
                "fields": ["name", "phone"],
            },
            {
                "path": "/api/tickets",
                "params": {"customer": "{subject_key}"},
                "category": "customer_enquiries",
                "key": "id",
                "changes": {"erase": {"path": "/api/tickets/{subject_key}"}},
            },
        ],
    }
    if profile_changes is not None:
        base["export"][0]["changes"] = profile_changes
    if suppression is not None:
        base["suppression"] = suppression
    return base


@pytest.mark.parametrize(
    ("changes", "suppression", "problem"),
    [
        ({"erase": {"path": "/api/c/{id}"}}, None, "export[0].changes.erase.path uses unknown "
         "placeholder {id} (allowed: {key} and {subject_key})"),
        ({"erase": {"path": "/api/customers"}}, None, "export[0].changes.erase.path uses neither"),
        ({"erase": {"path": "api/{key}"}}, None, "export[0].changes.erase.path must start with /"),
        ({"rectify": {"method": "DELETE", "path": "/c/{key}", "fields": ["name"]}}, None,
         "export[0].changes.rectify.method cannot be DELETE"),
        ({"rectify": {"path": "/c/{key}", "fields": ["email"]}}, None,
         "export[0].changes.rectify.fields: 'email' is not among the exported fields"),
        ({"rectify": {"path": "/c/{key}"}}, None, "export[0].changes.rectify.fields must list"),
        ({"forget": {"path": "/c/{key}"}}, None, "unknown setting export[0].changes.forget"),
        ({"restrict": {"method": "GET", "path": "/c/{key}"}}, None,
         "export[0].changes.restrict.method must be one of"),
        (None, {"path": "/api/s/{value}", "body": {"{kind}": "{value}"}}, "suppression.path uses "
         "unknown placeholder {value}"),
        (None, {"path": "/api/s", "body": {"kind": "{kind}"}}, "suppression.body never uses"),
        (None, {"path": "/api/s", "body": {"{kind}": "{value}"}, "identifiers": ["fax"]},
         "suppression.identifiers must list identifier kinds"),
    ],
)  # fmt: skip
def test_a_bad_change_endpoint_is_a_clear_problem(changes, suppression, problem):
    config = mapping_with("http://desk.example", profile_changes=changes, suppression=suppression)
    problems = HttpConnector.validate_config(config)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_change_path_needs_the_subject_key_in_its_endpoints_own_path():
    problems = HttpConnector.validate_config(mapping_with("http://desk.example"))
    assert problems == [
        "export[1].changes.erase.path uses {subject_key}, but the endpoint's own path does "
        "not carry it (its records' keys would not say whose they are)"
    ]
