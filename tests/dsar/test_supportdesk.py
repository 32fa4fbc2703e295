"""The demo support desk (dsar/demo/supportdesk.py): a real HTTP service over SQLite."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from dsar.demo.supportdesk import (
    add_call,
    add_calls,
    add_customer,
    add_customers,
    add_ticket,
    add_tickets,
    create_database,
    faults_from_env,
    serve,
)

TOKEN = "desk-token-for-tests-0123456789abcdef"
ARTA_PHONE = "+355 69 123 4567"


@pytest.fixture(scope="module")
def desk_db(tmp_path_factory) -> Path:
    path = create_database(tmp_path_factory.mktemp("desk") / "desk.sqlite3")
    add_customers(
        path,
        [
            {"id": 1, "name": "Arta Krasniqi", "phone": ARTA_PHONE,
             "email": "Arta.Krasniqi@demo.example", "company": "Demo Print shpk"},
            {"id": 2, "name": "Besnik Hoxha", "phone": "+355 4 222 3333",
             "email": "besnik@office.demo.example", "company": "Tirana Office"},
        ],
    )  # fmt: skip
    add_tickets(path, ({"customer_id": 1, "subject": f"Jam #{n}"} for n in range(1, 251)))
    add_calls(path, ({"customer_id": 1, "duration_s": 60 + n} for n in range(120)))
    return path


@pytest.fixture
def desk(desk_db):
    server, thread = serve("127.0.0.1", 0, desk_db, TOKEN, faults=[])
    yield server
    server.stop()
    thread.join(timeout=5)


@pytest.fixture
def api(desk):
    with httpx.Client(
        base_url=desk.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ) as client:
        yield client


# --- the data ---------------------------------------------------------------------------------


def test_it_creates_indexed_tables_idempotently(tmp_path):
    path = create_database(tmp_path / "desk.sqlite3")
    create_database(path)
    with sqlite3.connect(path) as conn:
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    assert {"customers_phone_key", "customers_email_key", "tickets_customer", "calls_customer"} <= (
        indexes
    )


def test_its_helpers_add_rows_in_bulk_and_one_by_one(tmp_path):
    path = create_database(tmp_path / "desk.sqlite3")
    customer = add_customer(path, name="Drita Leka", phone="0692223333", email="d@demo.example")
    with sqlite3.connect(path) as conn:
        assert (
            add_tickets(conn, ({"customer_id": customer, "subject": str(n)} for n in range(5))) == 5
        )
    ticket = add_ticket(path, customer_id=customer, subject="One more", status="closed")
    add_call(path, customer_id=customer, duration_s=30, direction="outbound")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (6,)
        assert conn.execute("SELECT status FROM tickets WHERE id = ?", (ticket,)).fetchone() == (
            "closed",
        )
        assert conn.execute("SELECT direction FROM calls").fetchone() == ("outbound",)


# --- the endpoints --------------------------------------------------------------------------


def test_its_health_check_needs_no_token(desk):
    assert httpx.get(f"{desk.url}/api/health").json() == {"status": "ok"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
def test_it_refuses_requests_without_the_bearer_token(desk, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{desk.url}/api/customers", params={"phone": ARTA_PHONE}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Arta" not in response.text


@pytest.mark.parametrize("phone", [ARTA_PHONE, "+355691234567", "00355 69 123 4567"])
def test_it_finds_customers_by_phone_in_any_format(api, phone):
    items = api.get("/api/customers", params={"phone": phone}).json()["items"]
    assert items == [
        {"id": 1, "name": "Arta Krasniqi", "phone": ARTA_PHONE,
         "email": "Arta.Krasniqi@demo.example", "company": "Demo Print shpk"}
    ]  # fmt: skip


def test_it_finds_customers_by_email_ignoring_case(api):
    items = api.get("/api/customers", params={"email": "ARTA.krasniqi@demo.example"}).json()
    assert [item["id"] for item in items["items"]] == [1]


def test_it_finds_customers_by_a_post_search(api):
    response = api.post("/api/customers/search", json={"email": "besnik@office.demo.example"})
    assert [item["id"] for item in response.json()["items"]] == [2]


def test_it_answers_one_customer_record_by_id(api):
    assert api.get("/api/customers/2").json() == {
        "id": 2, "name": "Besnik Hoxha", "phone": "+355 4 222 3333",
        "email": "besnik@office.demo.example", "company": "Tirana Office", "restricted": False,
    }  # fmt: skip
    assert api.get("/api/customers/99").status_code == 404


def test_its_customer_record_needs_the_bearer_token(desk):
    assert httpx.get(f"{desk.url}/api/customers/1", timeout=5).status_code == 401


def test_it_needs_a_phone_or_email_to_search(api):
    assert api.get("/api/customers").status_code == 400
    assert api.get("/api/customers", params={"phone": "n/a"}).json() == {"items": []}


def test_it_pages_tickets_by_cursor(api):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = api.get("/api/customers/1/tickets", params=params).json()
        pages += 1
        seen += [ticket["id"] for ticket in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(range(1, 251))
    ticket = api.get("/api/customers/1/tickets", params={"limit": 1}).json()["items"][0]
    assert set(ticket) == {"id", "subject", "body", "status", "channel", "created_at", "agent"}


def test_it_pages_calls_by_number_with_a_link_header(api):
    first = api.get("/api/customers/1/calls")
    assert len(first.json()["items"]) == 50
    assert first.links["next"]["url"] == "/api/customers/1/calls?page=2&per_page=50"
    last = api.get("/api/customers/1/calls", params={"page": 2, "per_page": 500})
    assert last.json()["per_page"] == 100  # capped
    assert len(last.json()["items"]) == 20
    assert "next" not in last.links
    assert set(last.json()["items"][0]) == {"id", "started_at", "duration_s", "direction", "notes"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/customers/999/tickets", 404),
        ("/api/customers/abc/calls", 404),
        ("/api/customers/1/tickets?cursor=x", 400),
        ("/api/nothing", 404),
    ],
)
def test_it_answers_bad_requests_with_json_errors(api, path, status):
    response = api.get(path)
    assert response.status_code == status
    assert "error" in response.json()


# --- faults -----------------------------------------------------------------------------------


def test_it_fails_the_next_requests_on_demand(api, desk):
    desk.fail_next(2)
    for _ in range(2):
        response = api.get("/api/health")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
    assert api.get("/api/health").status_code == 200


def test_it_answers_slowly_on_demand(desk):
    desk.slow_next(1, seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{desk.url}/api/health", timeout=0.2)
    assert httpx.get(f"{desk.url}/api/health", timeout=2).status_code == 200


def test_it_reads_faults_from_the_environment(desk_db, monkeypatch):
    monkeypatch.setenv("SUPPORTDESK_FAIL_NEXT", "1")
    server, thread = serve("127.0.0.1", 0, desk_db, TOKEN)
    try:
        assert httpx.get(f"{server.url}/api/health").status_code == 503
        assert httpx.get(f"{server.url}/api/health").status_code == 200
    finally:
        server.stop()
        thread.join(timeout=5)


def test_it_refuses_a_malformed_fault_setting():
    with pytest.raises(ValueError, match="SUPPORTDESK_SLOW_NEXT"):
        faults_from_env({"SUPPORTDESK_SLOW_NEXT": "many"})
    slow = faults_from_env({"SUPPORTDESK_SLOW_NEXT": "2", "SUPPORTDESK_SLOW_SECONDS": "1.5"})
    assert [(fault.status, fault.delay, fault.count) for fault in slow] == [(None, 1.5, 2)]


def test_it_will_not_run_without_a_token(desk_db, monkeypatch):
    monkeypatch.delenv("SUPPORTDESK_TOKEN", raising=False)
    with pytest.raises(ValueError, match="SUPPORTDESK_TOKEN"):
        serve("127.0.0.1", 0, desk_db, faults=[])


# --- the access log -------------------------------------------------------------------------


def test_its_access_log_leaves_out_query_strings(api, caplog):
    caplog.set_level(logging.INFO, logger="dsar.demo.supportdesk")
    api.get("/api/customers", params={"phone": ARTA_PHONE, "email": "arta.krasniqi@demo.example"})
    lines = [r.getMessage() for r in caplog.records if r.name == "dsar.demo.supportdesk"]
    assert any('"GET /api/customers" 200' in line for line in lines)
    assert not any("355" in line or "arta" in line or "?" in line for line in lines)


def test_its_error_log_leaves_out_query_strings(desk, caplog):
    caplog.set_level(logging.INFO, logger="dsar.demo.supportdesk")
    with socket.create_connection(desk.server_address[:2], timeout=5) as sock:
        # Four words: the server's "Bad request syntax" line quotes the whole request line.
        sock.sendall(b"GET /api/customers?email=arta.krasniqi@demo.example x HTTP/1.1\r\n\r\n")
        assert b"400" in sock.recv(1024)
    lines = [record.getMessage() for record in caplog.records]
    assert any("Bad request syntax ('GET /api/customers?[query]" in line for line in lines)
    assert not any("arta" in line for line in lines)


# --- the command ----------------------------------------------------------------------------


def test_the_command_needs_the_token_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("SUPPORTDESK_TOKEN", raising=False)
    with pytest.raises(CommandError, match="SUPPORTDESK_TOKEN"):
        call_command("run_supportdesk", "--port", "0", "--db", str(tmp_path / "d.sqlite3"))


def test_the_command_serves_in_the_foreground(tmp_path):
    env = {**os.environ, "SUPPORTDESK_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    db = tmp_path / "desk.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_supportdesk", "--port", "0", "--db", str(db)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Support desk at http://127.0.0.1:"), line
        url = line.split()[3]
        assert httpx.get(f"{url}/api/health", timeout=5).json() == {"status": "ok"}
        assert db.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
