"""The HTTP connector (dsar/connectors/http.py) against the real demo support desk.

The desk runs on a free port for every test; only the basic and API-key header shapes, which
the desk does not speak, are checked through httpx.MockTransport.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import logging
import socket
import time
from pathlib import Path

import httpx
import pytest

from dsar.connectors import (
    AmbiguousIdentifier,
    ConfigurationError,
    ConnectorError,
    SubjectMatch,
    TransientConnectorError,
    connector_class,
    validate_system,
)
from dsar.connectors.http import HttpConnector, parse_retry_after
from dsar.demo.supportdesk import add_calls, add_customers, add_tickets, create_database, serve
from dsar.identifiers import Identifier

TOKEN = "desk-token-for-tests-0123456789abcdef"
ARTA_PHONE = Identifier("phone", "+355 69 123 4567")
ARTA_EMAIL = Identifier("email", "arta.krasniqi@demo.example")
SWITCHBOARD = Identifier("phone", "+355 4 222 3333")
BESNIK_EMAIL = Identifier("email", "besnik@office.demo.example")
TICKETS = "/api/customers/{subject_key}/tickets"
CALLS = "/api/customers/{subject_key}/calls"


@pytest.fixture(scope="module")
def desk_db(tmp_path_factory) -> Path:
    """Arta has 250 tickets and 7 calls; Besnik and Dritan share the office switchboard."""
    path = create_database(tmp_path_factory.mktemp("desk") / "desk.sqlite3")
    add_customers(
        path,
        [
            {"id": 1, "name": "Arta Krasniqi", "phone": "+355 69 123 4567",
             "email": "Arta.Krasniqi@demo.example", "company": "Demo Print shpk"},
            {"id": 2, "name": "Besnik Hoxha", "phone": "+355 4 222 3333",
             "email": "besnik@office.demo.example", "company": "Tirana Office"},
            {"id": 3, "name": "Dritan Gashi", "phone": "+355 4 222 3333",
             "email": "dritan@office.demo.example", "company": "Tirana Office"},
        ],
    )  # fmt: skip
    add_tickets(
        path,
        (
            {"customer_id": 1, "subject": f"Printer jam #{n}", "body": "Paper stuck in tray 2",
             "status": "closed", "channel": "phone", "agent": "Mira"}
            for n in range(1, 251)
        ),
    )  # fmt: skip
    add_tickets(path, [{"customer_id": 2, "subject": "Toner order"}])
    add_calls(path, ({"customer_id": 1, "duration_s": 60 + n, "notes": "Call"} for n in range(7)))
    return path


@pytest.fixture
def desk(desk_db):
    server, thread = serve("127.0.0.1", 0, desk_db, TOKEN, faults=[])
    yield server
    server.stop()
    thread.join(timeout=5)


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("SUPPORTDESK_TOKEN", TOKEN)


def desk_config(url: str) -> dict:
    return {
        "base_url": url,
        "auth": {"type": "bearer", "token_env": "SUPPORTDESK_TOKEN"},
        "timeout": 5,
        "lookup": {
            "method": "GET",
            "path": "/api/customers",
            "params": {"{kind}": "{value}"},
            "identifiers": ["phone", "email"],
            "results": "items",
            "subject_key": "id",
            "identifier_fields": {"phone": "phone", "email": "email"},
        },
        "export": [
            {
                "path": TICKETS,
                "category": "customer_enquiries",
                "results": "items",
                "key": "id",
                "paging": {"type": "cursor", "param": "cursor", "next": "next_cursor"},
            },
            {
                "path": CALLS,
                "category": "customer_enquiries",
                "results": "items",
                "key": "id",
                "paging": {"type": "page", "param": "page", "size_param": "per_page", "size": 3},
            },
        ],
        "check": {"path": "/api/health"},
    }


@pytest.fixture
def config(desk) -> dict:
    return desk_config(desk.url)


@pytest.fixture
def connect(token_env):
    made = []

    def _connect(config: dict, **kwargs) -> HttpConnector:
        made.append(HttpConnector(config, name="supportdesk", **kwargs))
        return made[-1]

    yield _connect
    for connector in made:
        connector.close()


@pytest.fixture
def connector(connect, config) -> HttpConnector:
    return connect(config)


def arta(found_by: Identifier = ARTA_PHONE) -> SubjectMatch:
    return SubjectMatch("1", found_by=found_by)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- finding the subject ----------------------------------------------------------------------


def test_it_finds_a_subject_by_phone(connector):
    lookup = connector.find_subject([ARTA_PHONE])
    assert [(m.subject_key, m.found_by) for m in lookup.matches] == [("1", ARTA_PHONE)]
    assert lookup.ambiguous == []


def test_it_finds_a_subject_by_email(connector):
    lookup = connector.find_subject([Identifier("email", "ARTA.Krasniqi@demo.example")])
    assert [m.subject_key for m in lookup.matches] == ["1"]


def test_a_subject_the_system_matched_more_loosely_is_not_the_subject(connector, desk):
    """The desk lower-cases with Unicode rules, and so answers a lookup by a look-alike (the
    Kelvin sign for k) with Arta: her own address differs under our rule, so she is dropped."""
    look_alike = Identifier("email", "arta.\u212arasniqi@demo.example")
    lookup = connector.find_subject([look_alike])
    assert desk.requests_to("/api/customers") >= 1  # the desk was asked, and answered
    assert lookup.matches == [] and lookup.ambiguous == []


def test_it_learns_the_email_from_a_phone_lookup(connector):
    (match,) = connector.find_subject([ARTA_PHONE]).matches
    assert ARTA_EMAIL in match.identifiers
    assert connector.find_subject([ARTA_PHONE]).learnt() == {ARTA_PHONE, ARTA_EMAIL}


def test_it_sends_the_normalised_value_url_encoded(connector, desk):
    lookup = connector.find_subject([Identifier("phone", "00355 (69) 123-4567")])
    assert [m.subject_key for m in lookup.matches] == ["1"]


def test_it_reports_a_shared_phone_as_ambiguous(connector):
    lookup = connector.find_subject([SWITCHBOARD])
    assert lookup.matches == []
    assert lookup.ambiguous == [AmbiguousIdentifier(SWITCHBOARD, matches=2)]


def test_it_follows_the_email_when_the_phone_is_ambiguous(connector):
    lookup = connector.find_subject([SWITCHBOARD, BESNIK_EMAIL])
    assert [(m.subject_key, m.found_by) for m in lookup.matches] == [("2", BESNIK_EMAIL)]
    assert [a.identifier for a in lookup.ambiguous] == [SWITCHBOARD]


def test_it_sends_one_request_per_identifier_and_merges_one_subject(connector, desk):
    lookup = connector.find_subject([ARTA_PHONE, ARTA_EMAIL, ARTA_PHONE])
    assert desk.requests_to("/api/customers") == 2
    (match,) = lookup.matches
    assert match.found_by == ARTA_PHONE
    assert match.identifiers == {ARTA_PHONE, ARTA_EMAIL}


def test_it_skips_identifier_kinds_the_system_cannot_search(connector, desk):
    lookup = connector.find_subject([Identifier("customer_number", "C-1")])
    assert lookup.matches == [] and lookup.ambiguous == []
    assert desk.requests_to("/api/customers") == 0


def test_it_finds_nobody_by_an_unknown_email(connector):
    lookup = connector.find_subject([Identifier("email", "nobody@demo.example")])
    assert lookup.matches == [] and lookup.ambiguous == []


def test_it_reads_404_on_lookup_as_no_match(connector, desk):
    desk.answer_next(404, '{"error": "no such customer"}')
    assert connector.find_subject([ARTA_PHONE]).matches == []


def test_it_can_look_up_by_post_keeping_identifiers_out_of_the_url(connect, config, desk):
    config["lookup"].update(method="POST", path="/api/customers/search")
    lookup = connect(config).find_subject([BESNIK_EMAIL])
    assert [m.subject_key for m in lookup.matches] == ["2"]
    assert ("POST", "/api/customers/search") in desk.requests


# --- exporting --------------------------------------------------------------------------------


def test_it_exports_all_tickets_across_pages(connector, desk):
    tickets = [r for r in connector.export(arta()) if r.source == TICKETS]
    assert len(tickets) == 250
    assert len({r.key for r in tickets}) == 250
    assert desk.requests_to("/tickets") == 3


def test_it_streams_pages_lazily(connector, desk):
    records = connector.export(arta())
    assert desk.requests_to("/tickets") == 0  # nothing is asked before the first record
    for _ in range(100):
        next(records)
    assert desk.requests_to("/tickets") == 1
    next(records)
    assert desk.requests_to("/tickets") == 2


def test_it_tags_each_record_with_its_source_key_and_finder(connector):
    record = next(connector.export(arta(ARTA_EMAIL)))
    assert record.category == "customer_enquiries"
    assert record.source == TICKETS
    assert record.key == "/api/customers/1/tickets:1"
    assert record.subject_key == "1"
    assert record.found_by == ARTA_EMAIL
    assert record.data["subject"] == "Printer jam #1"
    assert set(record.data) == {"id", "subject", "body", "status", "channel", "created_at", "agent"}


def test_it_exports_only_the_selected_fields(connect, config):
    config["export"][0]["fields"] = ["subject", "status"]
    record = next(connect(config).export(arta()))
    assert record.data == {"subject": "Printer jam #1", "status": "closed"}


PROFILE = "/api/customers/{subject_key}"


def test_it_exports_an_endpoint_answering_one_object_as_one_record(connect, config):
    config["export"] = [
        {
            "path": PROFILE,
            "single": True,
            "category": "customer_enquiries",
            "key": "id",
            "fields": {"name": {"field": "full_name"}, "company": {}},
        }
    ]
    (record,) = connect(config).export(arta())
    assert record.source == PROFILE
    assert record.key == "/api/customers/1:1"
    assert record.data == {"name": "Arta Krasniqi", "company": "Demo Print shpk"}


def test_a_single_object_endpoint_answering_null_has_no_record(connect, config, desk):
    config["export"] = [{"path": PROFILE, "single": True, "category": "customer_enquiries"}]
    desk.answer_next(200, "null")
    assert list(connect(config).export(arta())) == []


def test_a_single_object_endpoint_answering_a_list_is_an_error(connect, config, desk):
    config["export"] = [{"path": PROFILE, "single": True, "category": "customer_enquiries"}]
    desk.answer_next(200, "[]")
    with pytest.raises(ConnectorError, match="the answer has no object at the top"):
        list(connect(config).export(arta()))


def test_endpoint_labels_are_read_per_path(config):
    config["export"][0]["label"] = {"sq": "Kërkesat për ndihmë", "en": "Support tickets"}
    assert HttpConnector.source_labels(config) == {
        TICKETS: {"sq": "Kërkesat për ndihmë", "en": "Support tickets"}
    }


def test_it_pages_the_call_log_by_page_number(connector, desk):
    calls = [r for r in connector.export(arta()) if r.source == CALLS]
    assert len(calls) == 7
    assert [r.data["duration_s"] for r in calls] == list(range(60, 67))
    assert desk.requests_to("/calls") == 4  # 3 + 3 + 1, then an empty page ends it


def test_it_follows_link_headers(connect, config, desk):
    config["export"] = [
        {"path": CALLS, "params": {"per_page": "3"}, "category": "customer_enquiries",
         "results": "items", "key": "id", "paging": {"type": "link"}}
    ]  # fmt: skip
    calls = list(connect(config).export(arta()))
    assert len(calls) == 7
    assert desk.requests_to("/calls") == 3


def test_it_does_not_follow_a_link_to_another_host(connect, config, desk):
    config["export"] = [
        {"path": CALLS, "category": "customer_enquiries", "results": "items", "key": "id",
         "paging": {"type": "link"}}
    ]  # fmt: skip
    desk.answer_next(
        200, '{"items": [{"id": 1}]}', headers={"Link": '<http://elsewhere.example/x>; rel="next"'}
    )
    records = connect(config).export(arta())
    assert next(records).key == "/api/customers/1/calls:1"
    with pytest.raises(ConnectorError, match="points away"):
        next(records)


def test_it_quotes_the_subject_key_as_one_path_segment(connector, desk):
    for key, path in [
        ("1/../2", "/api/customers/1%2F..%2F2/tickets"),
        ("..", "/api/customers/%2E%2E/tickets"),
        ("1?x=2", "/api/customers/1%3Fx%3D2/tickets"),
    ]:
        with pytest.raises(ConnectorError, match="not found"):
            list(connector.export(SubjectMatch(key, found_by=ARTA_PHONE)))
        assert desk.requests[-1] == ("GET", path)


def test_it_reports_404_on_export_as_an_error(connector):
    with pytest.raises(ConnectorError, match=r"export /api/customers/\{subject_key\}/tickets: not"):
        list(connector.export(SubjectMatch("999", found_by=ARTA_PHONE)))


# --- failures ---------------------------------------------------------------------------------


def test_it_reports_a_wrong_token_as_credentials_refused(connect, config, monkeypatch):
    monkeypatch.setenv("SUPPORTDESK_TOKEN", "not-the-token")
    with pytest.raises(ConnectorError, match="credentials refused") as caught:
        connect(config).find_subject([ARTA_PHONE])
    assert not isinstance(caught.value, TransientConnectorError)
    assert "not-the-token" not in str(caught.value)


def test_it_names_a_missing_environment_variable(connect, config, monkeypatch):
    monkeypatch.delenv("SUPPORTDESK_TOKEN")
    with pytest.raises(ConfigurationError, match="SUPPORTDESK_TOKEN is not set"):
        connect(config).find_subject([ARTA_PHONE])


def test_it_passes_on_retry_after_from_a_503(connector, desk):
    desk.fail_next(1)
    with pytest.raises(TransientConnectorError) as caught:
        connector.find_subject([ARTA_PHONE])
    assert caught.value.retry_after == 1
    assert desk.requests_to("/api/customers") == 1  # no retry of its own
    assert [m.subject_key for m in connector.find_subject([ARTA_PHONE]).matches] == ["1"]


def test_it_reads_429_with_an_http_date_as_transient(connector, desk):
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    desk.fail_next(1, status=429, retry_after=later)
    with pytest.raises(TransientConnectorError) as caught:
        list(connector.export(arta()))
    assert 100 < caught.value.retry_after <= 120


def test_it_reads_retry_after_in_both_forms():
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_it_reports_a_slow_answer_as_transient(connect, config, desk):
    config["timeout"] = 0.3
    desk.slow_next(1, seconds=1.5)
    with pytest.raises(TransientConnectorError, match=r"no answer within 0\.3 s") as caught:
        connect(config).find_subject([ARTA_PHONE])
    assert caught.value.__suppress_context__  # httpx's own exception names the URL and query


def test_it_reports_a_refused_connection_as_transient(connect, config):
    config["base_url"] = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientConnectorError, match="could not connect"):
        connect(config).find_subject([ARTA_PHONE])


def test_it_reports_an_answer_that_is_not_json(connector, desk):
    desk.answer_next(200, "<html>Maintenance until 18:00</html>", content_type="text/html")
    with pytest.raises(ConnectorError, match="not JSON") as caught:
        connector.find_subject([ARTA_PHONE])
    assert not isinstance(caught.value, TransientConnectorError)
    assert "Maintenance" not in str(caught.value)


def test_its_messages_quote_neither_the_body_nor_the_identifier(connector, desk):
    desk.answer_next(400, '{"error": "bad phone +355691234567 for arta.krasniqi@demo.example"}')
    with pytest.raises(ConnectorError) as caught:
        connector.find_subject([ARTA_PHONE])
    message = str(caught.value)
    assert message == "supportdesk: lookup by phone (GET /api/customers): refused (HTTP 400)"
    assert caught.value.__context__ is None


def test_it_does_not_follow_redirects(connector, desk):
    desk.answer_next(302, "", headers={"Location": "http://elsewhere.example/"})
    with pytest.raises(ConnectorError, match="redirects are not followed"):
        connector.find_subject([ARTA_PHONE])


def test_it_keeps_identifiers_out_of_the_httpx_log(connector, caplog):
    caplog.set_level(logging.INFO, logger="httpx")
    connector.find_subject([ARTA_EMAIL])
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines and all("/api/customers?[redacted]" in line for line in lines)
    assert not any("arta" in line for line in lines)


# --- check() ----------------------------------------------------------------------------------


def test_check_finds_nothing_wrong_with_a_working_desk(connector):
    assert connector.check() == []


def test_check_reports_refused_credentials(connect, config, monkeypatch):
    monkeypatch.setenv("SUPPORTDESK_TOKEN", "not-the-token")
    assert connect(config).check() == [
        "supportdesk: lookup by phone (GET /api/customers): credentials refused (HTTP 401)"
    ]


def test_check_reports_a_missing_secret(connect, config, monkeypatch):
    monkeypatch.delenv("SUPPORTDESK_TOKEN")
    (problem,) = connect(config).check()
    assert "SUPPORTDESK_TOKEN is not set" in problem


def test_check_reports_an_unreachable_system(connect, config):
    config["base_url"] = f"http://127.0.0.1:{free_port()}"
    (problem,) = connect(config).check()
    assert "could not connect to 127.0.0.1" in problem
    assert "\n" not in problem


def test_check_reports_a_missing_check_path(connect, config):
    config["check"] = {"path": "/api/status"}
    assert connect(config).check() == ["supportdesk: check (GET /api/status): not found (HTTP 404)"]


def test_check_reports_a_lookup_answer_of_another_shape(connect, config):
    config["lookup"]["results"] = "customers"
    (problem,) = connect(config).check()
    assert "the answer has no list at 'customers'" in problem


def test_check_reports_a_failing_system(connector, desk):
    desk.fail_next(1)
    (problem,) = connector.check()
    assert "HTTP 503" in problem


# --- auth header shapes (the desk speaks bearer only) ------------------------------------------


def sent_headers(connect, monkeypatch, auth: dict, env: dict) -> httpx.Headers:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = desk_config("https://crm.example.com")
    config["auth"] = auth
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"items": []})

    connect(config, transport=httpx.MockTransport(answer)).find_subject([ARTA_EMAIL])
    (request,) = requests
    assert request.url.params["email"] == "arta.krasniqi@demo.example"
    return request.headers


def test_it_sends_basic_credentials(connect, monkeypatch):
    headers = sent_headers(
        connect,
        monkeypatch,
        {"type": "basic", "username_env": "CRM_USER", "password_env": "CRM_PASSWORD"},
        {"CRM_USER": "dsar", "CRM_PASSWORD": "pä:ss"},
    )
    assert headers["Authorization"] == "Basic " + base64.b64encode("dsar:pä:ss".encode()).decode()


def test_it_sends_an_api_key_in_its_header(connect, monkeypatch):
    headers = sent_headers(
        connect,
        monkeypatch,
        {"type": "api_key", "header": "X-API-Key", "key_env": "CRM_KEY"},
        {"CRM_KEY": "k-123"},
    )
    assert headers["X-API-Key"] == "k-123"
    assert "Authorization" not in headers


def test_it_sends_a_bearer_token(connect, monkeypatch):
    headers = sent_headers(connect, monkeypatch, {"type": "bearer", "token_env": "T"}, {"T": "t1"})
    assert headers["Authorization"] == "Bearer t1"


def test_it_sends_no_credentials_for_an_open_system(connect, monkeypatch):
    assert "Authorization" not in sent_headers(connect, monkeypatch, {"type": "none"}, {})


def test_it_names_each_missing_basic_variable(connect, config, monkeypatch):
    monkeypatch.setenv("CRM_USER", "dsar")
    monkeypatch.delenv("CRM_PASSWORD", raising=False)
    config["auth"] = {"type": "basic", "username_env": "CRM_USER", "password_env": "CRM_PASSWORD"}
    with pytest.raises(ConfigurationError, match=r"CRM_PASSWORD is not set \(auth.password_env\)"):
        connect(config).find_subject([ARTA_PHONE])


# --- configuration ----------------------------------------------------------------------------


VALID = desk_config("http://127.0.0.1:8765")


def changed(change) -> dict:
    config = copy.deepcopy(VALID)
    change(config)
    return config


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.pop("base_url"), "base_url is required"),
        (lambda c: c.update(base_url="ftp://desk"), "base_url must be an http:// or https://"),
        (lambda c: c.update(base_url="https://u:p@desk"), "base_url must not contain credentials"),
        (lambda c: c.pop("auth"), "auth is required"),
        (lambda c: c.update(auth={"type": "oauth"}), "auth.type must be one of"),
        (lambda c: c.update(auth={"type": "bearer"}), "auth.token_env is required"),
        (lambda c: c.update(auth={"type": "bearer", "token": "s3cret", "token_env": "T"}),
         "unknown setting auth.token"),
        (lambda c: c.update(auth={"type": "api_key", "key_env": "K"}), "auth.header is required"),
        (lambda c: c.update(auth={"type": "basic", "username_env": "U", "password_env": "p w"}),
         "auth.password_env is required"),
        (lambda c: c.update(timeout="ten"), "timeout must be a number"),
        (lambda c: c.update(timeout=0), "timeout must be more than 0"),
        (lambda c: c.update(retries=3), "unknown setting retries"),
        (lambda c: c.pop("lookup"), "lookup is required"),
        (lambda c: c["lookup"].update(method="DELETE"), "lookup.method must be GET or POST"),
        (lambda c: c["lookup"].update(path="api/customers"), "lookup.path must start with /"),
        (lambda c: c["lookup"].update(path="/api/customers?phone={value}"),
         "lookup.path must not contain ? or #"),
        (lambda c: c["lookup"].update(path="/api/customers/{subject_key}"),
         "lookup.path uses unknown placeholder {subject_key} (allowed: none)"),
        (lambda c: c["lookup"].update(params={"q": "{kind}"}), "lookup.params never uses {value}"),
        (lambda c: c["lookup"].update(params={"q": "{who}"}),
         "lookup.params['q'] uses unknown placeholder {who} (allowed: {kind} and {value})"),
        (lambda c: c["lookup"].update(params={"q": "{value.__class__}"}),
         "lookup.params['q'] is not a valid template"),
        (lambda c: c["lookup"].update(identifiers=["fax"]), "unknown identifier kind 'fax'"),
        (lambda c: c["lookup"].update(identifiers=[]), "lookup.identifiers is required"),
        (lambda c: c["lookup"].pop("subject_key"), "lookup.subject_key is required"),
        (lambda c: c["lookup"].update(identifier_fields={"fax": "fax"}),
         "lookup.identifier_fields: unknown identifier kind 'fax'"),
        (lambda c: c.update(export=[]), "export is required"),
        (lambda c: c["export"][0].update(path="/api/tickets"),
         "export[0] never uses {subject_key}: it would export every subject's records"),
        (lambda c: c["export"][0].update(path="/api/customers/{id}/tickets"),
         "export[0].path uses unknown placeholder {id} (allowed: {subject_key})"),
        (lambda c: c["export"][0].pop("category"), "export[0].category is required"),
        (lambda c: c["export"][1].pop("key"), "export[1].key is required"),
        (lambda c: c["export"][0].update(paging={"type": "offset"}),
         "export[0].paging.type must be one of none, cursor, page, link"),
        (lambda c: c["export"][0].update(paging={"type": "cursor", "param": "cursor"}),
         "export[0].paging.next is required for cursor paging"),
        (lambda c: c["export"][1]["paging"].update(size=0),
         "export[1].paging.size must be a whole number from 1 to 10000"),
        (lambda c: c["export"][0].update(fields="subject"), "export[0].fields must be a list"),
        (lambda c: c.update(check={"path": ""}), "check.path is required"),
        (lambda c: c["export"][0].update(single=True),
         "export[0]: an endpoint answering a single object has no paging"),
        (lambda c: c["export"][1].update(single="yes"), "export[1].single must be true or false"),
        (lambda c: c["export"][0].update(label="Tickets"), "export[0].label: must map language"),
    ],
)  # fmt: skip
def test_validate_config_names_each_fault(change, problem):
    problems = HttpConnector.validate_config(changed(change))
    assert any(problem in p for p in problems), problems


def test_validate_config_lists_every_fault_at_once():
    def break_three(config):
        config.pop("base_url")
        config["auth"] = {"type": "bearer"}
        config["export"][0].pop("key")

    assert len(HttpConnector.validate_config(changed(break_three))) == 3


def test_validate_config_accepts_the_documented_shapes():
    assert HttpConnector.validate_config(VALID) == []
    link = changed(lambda c: c["export"][1].update(paging={"type": "link"}))
    plain = changed(lambda c: c["export"][1].pop("paging"))
    assert HttpConnector.validate_config(link) == []
    assert HttpConnector.validate_config(plain) == []


def test_it_refuses_to_build_from_a_broken_config():
    with pytest.raises(ConfigurationError, match="base_url is required"):
        HttpConnector(changed(lambda c: c.pop("base_url")))


def test_it_is_the_registered_http_kind():
    assert connector_class("http") is HttpConnector
    assert validate_system("http", VALID) == []


def test_it_closes_its_one_client(connector):
    client = connector.client
    assert connector.client is client
    connector.close()
    assert client.is_closed


def test_every_connector_of_a_process_verifies_servers_with_one_tls_context(config, token_env):
    import ssl

    from dsar.connectors.http import tls_context

    first, second = HttpConnector(config), HttpConnector(config)
    try:
        # Made once: httpx's default loads the CA bundle again for every client (35-50 ms).
        assert first.client._transport._pool._ssl_context is tls_context()
        assert second.client._transport._pool._ssl_context is tls_context()
        assert tls_context().verify_mode == ssl.CERT_REQUIRED
        assert tls_context().check_hostname
    finally:
        first.close()
        second.close()
