"""The demo's HTTP support-desk service: a small, real help desk that knows customers by phone.

A standard-library HTTP server (`ThreadingHTTPServer`) over a SQLite file, with bearer-token
auth, so that the HTTP connector is exercised against real sockets, real paging and real
failures, in the demo (`python manage.py run_supportdesk`) and in the tests (`serve(...)`).

Endpoints (JSON; all but the health check need `Authorization: Bearer <token>`):

    GET /api/health                            {"status": "ok"}
    GET /api/customers?phone=...|email=...     {"items": [{id, name, phone, email, company}]}
    POST /api/customers/search {"phone": ...}  the same, with the identifiers out of the URL
    GET /api/customers/{id}                    {id, name, phone, email, company}: the profile
    GET /api/customers/{id}/tickets?cursor=&limit=
        {"items": [{id, subject, body, status, channel, created_at, agent}], "next_cursor": ...}
        cursor paging by ticket id, 100 a page (limit at most 100)
    GET /api/customers/{id}/calls?page=&per_page=
        {"items": [{id, started_at, duration_s, direction, notes}], "page": n, "per_page": m}
        page paging, 50 a page (per_page at most 100), and a Link: <...>; rel="next" header

Changes (fulfilment; every one idempotent, so a caller may send it again after a failure):

    PATCH /api/customers/{id} {"name": ..., "phone": ..., "email": ..., "company": ...}
        any of the four; {"changed": true|false, "customer": {...}}
    POST /api/customers/{id}/restriction       {"changed": ..., "restricted": true}
    DELETE /api/customers/{id}/restriction     {"changed": ..., "restricted": false}
    DELETE /api/customers/{id}/tickets/{ticket} {"changed": true}; 404 when there is none
    DELETE /api/customers/{id}/calls/{call}    the same
    DELETE /api/customers/{id}                 the customer, their tickets and calls
    GET /api/suppressions                      {"items": [{kind, value, created_at}]}
    POST /api/suppressions {"email": ...}      put on the list (email, phone): 201
        {"changed": true}, or 200 {"changed": false} when it is listed already

The contract: `"changed": false` says there was nothing left to do; a DELETE of something
that is not there answers 404. The customer object shows `restricted` (Art. 18: kept, not
used). Changes are written to the desk's SQLite file: they last, and show in its answers.

Phones are matched on their digits (a leading 00 counts as +), e-mails case-insensitively.
Fault injection for tests and demos: `server.fail_next(n)` (503 with Retry-After: 1),
`server.slow_next(n, seconds)`, `server.answer_next(...)` (any canned answer), or the
environment variables SUPPORTDESK_FAIL_NEXT, SUPPORTDESK_SLOW_NEXT and SUPPORTDESK_SLOW_SECONDS.
The access log names method, path and status only: query strings carry phones and e-mails.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import socketserver
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

TOKEN_ENV = "SUPPORTDESK_TOKEN"  # noqa: S105 - the variable's name, not a token
TICKETS_PER_PAGE = 100
CALLS_PER_PAGE = 50
MAX_PER_PAGE = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    phone_key TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    email_key TEXT NOT NULL DEFAULT '',
    company TEXT NOT NULL DEFAULT '',
    restricted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS customers_phone_key ON customers (phone_key);
CREATE INDEX IF NOT EXISTS customers_email_key ON customers (email_key);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    channel TEXT NOT NULL DEFAULT 'phone',
    created_at TEXT NOT NULL,
    agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets (customer_id, id);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    started_at TEXT NOT NULL,
    duration_s INTEGER NOT NULL DEFAULT 0,
    direction TEXT NOT NULL DEFAULT 'inbound',
    notes TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS calls_customer ON calls (customer_id, id);
CREATE TABLE IF NOT EXISTS suppressions (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    value_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, value_key)
);
"""


# --- the data -----------------------------------------------------------------------------------


def phone_key(phone: str) -> str:
    """How the desk matches phones: digits only, a leading 00 read as +."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[2:] if digits.startswith("00") else digits


def email_key(email: str) -> str:
    return (email or "").strip().lower()


# What the suppression list takes, each kind matched as the customers' own values are.
SUPPRESSIBLE = {"email": email_key, "phone": phone_key}
CUSTOMER_FIELDS = ("name", "phone", "email", "company")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def create_database(path: str | Path) -> Path:
    """Create the desk's tables and indexes (idempotent); WAL so a loader can write while the
    desk reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        # A desk file made before customers could be restricted gains the column.
        columns = {row[1] for row in conn.execute("PRAGMA table_info(customers)")}
        if "restricted" not in columns:
            conn.execute("ALTER TABLE customers ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0")
        conn.commit()
    finally:
        conn.close()
    return path


Database = str | Path | sqlite3.Connection


@contextmanager
def _connect(db: Database) -> Iterator[sqlite3.Connection]:
    """A connection in a transaction: the caller's own, or one opened (and closed) here."""
    if isinstance(db, sqlite3.Connection):
        with db:
            yield db
        return
    conn = sqlite3.connect(db, timeout=30)
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def _customer_row(row: Mapping[str, Any]) -> dict[str, Any]:
    phone, email = row.get("phone") or "", row.get("email") or ""
    return {
        "id": row.get("id"),
        "name": row["name"],
        "phone": phone,
        "phone_key": phone_key(phone),
        "email": email,
        "email_key": email_key(email),
        "company": row.get("company") or "",
    }


def _ticket_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row.get("id"),
        "customer_id": row["customer_id"],
        "subject": row["subject"],
        "body": row.get("body") or "",
        "status": row.get("status") or "open",
        "channel": row.get("channel") or "phone",
        "created_at": row.get("created_at") or _now(),
        "agent": row.get("agent") or "",
    }


def _call_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row.get("id"),
        "customer_id": row["customer_id"],
        "started_at": row.get("started_at") or _now(),
        "duration_s": int(row.get("duration_s") or 0),
        "direction": row.get("direction") or "inbound",
        "notes": row.get("notes") or "",
    }


_INSERT_CUSTOMER = (
    "INSERT INTO customers (id, name, phone, phone_key, email, email_key, company) "
    "VALUES (:id, :name, :phone, :phone_key, :email, :email_key, :company)"
)
_INSERT_TICKET = (
    "INSERT INTO tickets (id, customer_id, subject, body, status, channel, created_at, agent) "
    "VALUES (:id, :customer_id, :subject, :body, :status, :channel, :created_at, :agent)"
)
_INSERT_CALL = (
    "INSERT INTO calls (id, customer_id, started_at, duration_s, direction, notes) "
    "VALUES (:id, :customer_id, :started_at, :duration_s, :direction, :notes)"
)


def add_customers(db: Database, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk insert (executemany, one transaction) of {name, phone, email, company[, id]}."""
    with _connect(db) as conn:
        return conn.executemany(_INSERT_CUSTOMER, map(_customer_row, rows)).rowcount


def add_tickets(db: Database, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk insert of {customer_id, subject, body, status, channel, created_at, agent[, id]}."""
    with _connect(db) as conn:
        return conn.executemany(_INSERT_TICKET, map(_ticket_row, rows)).rowcount


def add_calls(db: Database, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk insert of {customer_id, started_at, duration_s, direction, notes[, id]}."""
    with _connect(db) as conn:
        return conn.executemany(_INSERT_CALL, map(_call_row, rows)).rowcount


def add_customer(db: Database, **fields: Any) -> int:
    """One customer; returns its id."""
    with _connect(db) as conn:
        return conn.execute(_INSERT_CUSTOMER, _customer_row(fields)).lastrowid


def add_ticket(db: Database, **fields: Any) -> int:
    """One ticket; returns its id."""
    with _connect(db) as conn:
        return conn.execute(_INSERT_TICKET, _ticket_row(fields)).lastrowid


def add_call(db: Database, **fields: Any) -> int:
    """One call; returns its id."""
    with _connect(db) as conn:
        return conn.execute(_INSERT_CALL, _call_row(fields)).lastrowid


# --- faults -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A canned misbehaviour for the next `count` requests: wait `delay` seconds, then answer
    `status` with `body` (or, when status is None, answer normally)."""

    status: int | None = 503
    delay: float = 0.0
    body: bytes = b'{"error": "unavailable"}'
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    count: int = 1


def _env_number(environ: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    raw = environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


def faults_from_env(environ: Mapping[str, str] | None = None) -> list[Fault]:
    """SUPPORTDESK_FAIL_NEXT=n: the next n requests answer 503 (Retry-After: 1);
    SUPPORTDESK_SLOW_NEXT=n: the n after those wait SUPPORTDESK_SLOW_SECONDS (default 30)."""
    environ = os.environ if environ is None else environ
    faults = []
    failing = _env_number(environ, "SUPPORTDESK_FAIL_NEXT", int, 0)
    slow = _env_number(environ, "SUPPORTDESK_SLOW_NEXT", int, 0)
    seconds = _env_number(environ, "SUPPORTDESK_SLOW_SECONDS", float, 30.0)
    if failing:
        faults.append(unavailable(count=failing))
    if slow:
        faults.append(Fault(status=None, delay=seconds, count=slow))
    return faults


def unavailable(*, count: int = 1, status: int = 503, retry_after: str = "1") -> Fault:
    return Fault(status=status, headers={"Retry-After": retry_after}, count=count)


# --- the server ---------------------------------------------------------------------------------


_QUERY = re.compile(r"\?[^\s\"']*")
_CUSTOMER_PATH = re.compile(r"^/api/customers/([^/]+)(?:/(tickets|calls))?$")


class SupportDeskServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow (fault-injected) answer must not hold up shutdown

    def __init__(
        self,
        address: tuple[str, int],
        db_path: str | Path,
        token: str | None = None,
        *,
        faults: Iterable[Fault] = (),
    ) -> None:
        token = token or os.environ.get(TOKEN_ENV, "")
        if not token.strip():
            raise ValueError(f"the support desk needs a bearer token: set {TOKEN_ENV}")
        self.db_path = create_database(db_path)
        self.token = token.strip()
        self._lock = threading.Lock()
        self._faults: deque[list[Any]] = deque([fault, fault.count] for fault in faults)
        self.requests: deque[tuple[str, str]] = deque(maxlen=10_000)  # (method, path), no query
        super().__init__(address, SupportDeskHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    # faults and the request log, shared by the handler threads

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append([fault, fault.count])

    def fail_next(self, count: int = 1, *, status: int = 503, retry_after: str = "1") -> None:
        self.inject(unavailable(count=count, status=status, retry_after=retry_after))

    def slow_next(self, count: int = 1, *, seconds: float) -> None:
        self.inject(Fault(status=None, delay=seconds, count=count))

    def answer_next(
        self,
        status: int,
        body: bytes | str = b"",
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> None:
        body = body.encode() if isinstance(body, str) else body
        self.inject(Fault(status, 0.0, body, content_type, dict(headers or {}), count))

    def take_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            entry = self._faults[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self._faults.popleft()
            return entry[0]

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def requests_to(self, suffix: str) -> int:
        """How many requests reached a path ending in `suffix`."""
        with self._lock:
            return sum(1 for _method, path in self.requests if path.endswith(suffix))

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class SupportDeskHandler(BaseHTTPRequestHandler):
    server: SupportDeskServer
    protocol_version = "HTTP/1.1"  # keep-alive: the connector reuses one connection
    server_version = "SupportDesk/1.0"
    timeout = 30  # an idle keep-alive connection gives its thread back
    disable_nagle_algorithm = True  # headers and body go out separately; no 40 ms stalls

    # --- plumbing -------------------------------------------------------------------------------

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout in a test): nobody left to answer.
            self.close_connection = True

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        path = urlsplit(getattr(self, "path", "")).path
        status = getattr(code, "value", code)
        method = self.command or "-"
        logger.info('%s "%s %s" %s', self.address_string(), method, path or "-", status)

    def log_message(self, format: str, *args: Any) -> None:
        # Error lines can quote the raw request line; its query carries phones and e-mails.
        logger.warning("%s %s", self.address_string(), _QUERY.sub("?[query]", format % args))

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self._json(status, {"error": message}, headers)

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.server.token.encode()
        )

    def _db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.server.db_path, timeout=10)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _fault(self) -> bool:
        """Play the next injected fault, if any; True when it answered the request."""
        fault = self.server.take_fault()
        if fault is None:
            return False
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return False
        self._send(fault.status, fault.body, fault.content_type, fault.headers)
        return True

    # --- requests -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.record(self.command, parts.path)
        if self._fault():
            return
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if parts.path == "/api/health":
            self._json(200, {"status": "ok"})
            return
        if not parts.path.startswith("/api/"):
            self._error(404, "not found")
            return
        if not self._authorised():
            self._error(401, "unauthorised", {"WWW-Authenticate": 'Bearer realm="supportdesk"'})
            return
        try:
            if parts.path == "/api/suppressions":
                self._route_suppressions()
                return
            self._route(parts.path, query)
        except sqlite3.Error as exc:
            logger.error("support desk database error (%s)", type(exc).__name__)
            self._error(500, "internal error")

    def _route(self, path: str, query: dict[str, str]) -> None:
        if path == "/api/customers":
            self._customers(query)
            return
        found = _CUSTOMER_PATH.match(path)
        customer = unquote(found.group(1)) if found else ""
        if not customer.isdigit():
            self._error(404, "not found")
            return
        with closing(self._db()) as conn:
            profile = _profile(conn, int(customer))
            if profile:
                if found.group(2) is None:
                    self._json(200, profile)
                elif found.group(2) == "tickets":
                    self._tickets(conn, int(customer), query)
                else:
                    self._calls(conn, int(customer), query)
                return
        self._error(404, "no such customer")

    def _route_suppressions(self) -> None:
        with closing(self._db()) as conn:
            rows = conn.execute(
                "SELECT kind, value, created_at FROM suppressions ORDER BY created_at, kind"
            )
            self._json(200, {"items": [dict(row) for row in rows]})

    def _customers(self, query: dict[str, str]) -> None:
        with closing(self._db()) as conn:
            self._json(*_search_customers(conn, query))

    def _tickets(self, conn: sqlite3.Connection, customer: int, query: dict[str, str]) -> None:
        cursor, limit = query.get("cursor") or "0", query.get("limit") or str(TICKETS_PER_PAGE)
        if not (cursor.isdigit() and limit.isdigit() and int(limit) > 0):
            self._error(400, "cursor and limit must be whole numbers")
            return
        limit = min(int(limit), MAX_PER_PAGE)
        rows = conn.execute(
            "SELECT id, subject, body, status, channel, created_at, agent FROM tickets "
            "WHERE customer_id = ? AND id > ? ORDER BY id LIMIT ?",
            (customer, int(cursor), limit + 1),
        ).fetchall()
        items = [dict(row) for row in rows[:limit]]
        following = str(items[-1]["id"]) if len(rows) > limit else None
        self._json(200, {"items": items, "next_cursor": following})

    def _calls(self, conn: sqlite3.Connection, customer: int, query: dict[str, str]) -> None:
        page, per_page = query.get("page") or "1", query.get("per_page") or str(CALLS_PER_PAGE)
        if not (page.isdigit() and per_page.isdigit() and int(page) > 0 and int(per_page) > 0):
            self._error(400, "page and per_page must be whole numbers from 1")
            return
        page, per_page = int(page), min(int(per_page), MAX_PER_PAGE)
        rows = conn.execute(
            "SELECT id, started_at, duration_s, direction, notes FROM calls "
            "WHERE customer_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (customer, per_page + 1, (page - 1) * per_page),
        ).fetchall()
        headers = {}
        if len(rows) > per_page:
            following = f"/api/customers/{customer}/calls?page={page + 1}&per_page={per_page}"
            headers["Link"] = f'<{following}>; rel="next"'
        items = [dict(row) for row in rows[:per_page]]
        self._json(200, {"items": items, "page": page, "per_page": per_page}, headers)

    # --- changes --------------------------------------------------------------------------------

    def _change_request(self) -> tuple[str, Any] | None:
        """The path and JSON body (None when empty) of a POST, PATCH or DELETE, once faults
        and the token are dealt with; None when it has been answered already."""
        path = urlsplit(self.path).path
        self.server.record(self.command, path)
        length = self.headers.get("Content-Length", "0")
        raw = self.rfile.read(int(length)) if length.isdigit() else b""
        if self._fault():
            return None
        if not self._authorised():
            self._error(401, "unauthorised", {"WWW-Authenticate": 'Bearer realm="supportdesk"'})
            return None
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            self._error(400, "send a JSON object")
            return None
        return path, body

    def _write_db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.server.db_path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def _change(self, routes: Mapping[re.Pattern, Any]) -> None:
        """Answer a change request by the first route whose pattern matches its path: the
        route is called with a connection in a transaction, the body and the path's parts,
        and returns the status and the JSON to answer."""
        begun = self._change_request()
        if begun is None:
            return
        path, body = begun
        for pattern, route in routes.items():
            found = pattern.match(path)
            if not found:
                continue
            parts = [unquote(part) for part in found.groups()]
            if not all(part.isdigit() for part in parts):
                self._error(404, "not found")
                return
            try:
                with closing(self._write_db()) as conn, conn:
                    status, answer = route(conn, body, *map(int, parts))
            except sqlite3.Error as exc:
                logger.error("support desk database error (%s)", type(exc).__name__)
                self._error(500, "internal error")
                return
            # Answered once committed: whoever reads next sees the change.
            self._json(status, answer)
            return
        self._error(404, "not found")

    def do_POST(self) -> None:
        self._change(
            {
                re.compile(r"^/api/customers/search$"): self._search,
                re.compile(r"^/api/suppressions$"): self._suppress,
                re.compile(r"^/api/customers/([^/]+)/restriction$"): self._restrict,
            }
        )

    def do_PATCH(self) -> None:
        self._change({re.compile(r"^/api/customers/([^/]+)$"): self._correct})

    def do_DELETE(self) -> None:
        self._change(
            {
                re.compile(r"^/api/customers/([^/]+)/restriction$"): self._lift_restriction,
                re.compile(r"^/api/customers/([^/]+)/tickets/([^/]+)$"): self._delete_ticket,
                re.compile(r"^/api/customers/([^/]+)/calls/([^/]+)$"): self._delete_call,
                re.compile(r"^/api/customers/([^/]+)$"): self._delete_customer,
            }
        )

    def _search(self, conn: sqlite3.Connection, body: Any) -> Answer:
        # POST /api/customers/search {"phone": ...} keeps identifiers out of URLs altogether.
        if not isinstance(body, dict):
            return _refusal(400, "send a JSON object")
        return _search_customers(conn, {key: str(value) for key, value in body.items()})

    def _suppress(self, conn: sqlite3.Connection, body: Any) -> Answer:
        if not (
            isinstance(body, dict)
            and body
            and all(kind in SUPPRESSIBLE and isinstance(v, str) for kind, v in body.items())
        ):
            return _refusal(400, f"send {{kind: value}}, kind one of {', '.join(SUPPRESSIBLE)}")
        added = 0
        for kind, value in body.items():
            value_key = SUPPRESSIBLE[kind](value)
            if not value_key:
                return _refusal(400, f"the {kind} is empty")
            added += conn.execute(
                "INSERT OR IGNORE INTO suppressions (kind, value, value_key, created_at) "
                "VALUES (?, ?, ?, ?)",
                (kind, value, value_key, _now()),
            ).rowcount
        return (201 if added else 200), {"changed": bool(added)}

    def _restrict(self, conn: sqlite3.Connection, body: Any, customer: int) -> Answer:
        return self._set_restricted(conn, customer, True)

    def _lift_restriction(self, conn: sqlite3.Connection, body: Any, customer: int) -> Answer:
        return self._set_restricted(conn, customer, False)

    def _set_restricted(self, conn: sqlite3.Connection, customer: int, restricted: bool) -> Answer:
        changed = conn.execute(
            "UPDATE customers SET restricted = ? WHERE id = ? AND restricted != ?",
            (int(restricted), customer, int(restricted)),
        ).rowcount
        if not changed and _profile(conn, customer) is None:
            return _refusal(404, "no such customer")
        return 200, {"changed": bool(changed), "restricted": restricted}

    def _correct(self, conn: sqlite3.Connection, body: Any, customer: int) -> Answer:
        if not isinstance(body, dict) or not body:
            return _refusal(400, f"send a JSON object of {', '.join(CUSTOMER_FIELDS)}")
        unknown = sorted(set(body) - set(CUSTOMER_FIELDS))
        if unknown or not all(isinstance(value, str) for value in body.values()):
            return _refusal(400, f"only text values of {', '.join(CUSTOMER_FIELDS)} can be set")
        if "name" in body and not body["name"].strip():
            return _refusal(400, "a customer needs a name")
        profile = _profile(conn, customer)
        if profile is None:
            return _refusal(404, "no such customer")
        if all(profile[name] == value for name, value in body.items()):
            return 200, {"changed": False, "customer": profile}
        row = _customer_row({**profile, **body})
        conn.execute(
            "UPDATE customers SET name = :name, phone = :phone, phone_key = :phone_key, "
            "email = :email, email_key = :email_key, company = :company WHERE id = :id",
            row,
        )
        return 200, {"changed": True, "customer": _profile(conn, customer)}

    def _delete_ticket(
        self, conn: sqlite3.Connection, body: Any, customer: int, ticket: int
    ) -> Answer:
        return self._delete_one(conn, "tickets", customer, ticket)

    def _delete_call(self, conn: sqlite3.Connection, body: Any, customer: int, call: int) -> Answer:
        return self._delete_one(conn, "calls", customer, call)

    def _delete_one(self, conn: sqlite3.Connection, table: str, customer: int, row: int) -> Answer:
        deleted = conn.execute(
            f"DELETE FROM {table} WHERE id = ? AND customer_id = ?",  # noqa: S608 - fixed names
            (row, customer),
        ).rowcount
        return (200, {"changed": True}) if deleted else _refusal(404, f"no such {table[:-1]}")

    def _delete_customer(self, conn: sqlite3.Connection, body: Any, customer: int) -> Answer:
        conn.execute("DELETE FROM tickets WHERE customer_id = ?", (customer,))
        conn.execute("DELETE FROM calls WHERE customer_id = ?", (customer,))
        if conn.execute("DELETE FROM customers WHERE id = ?", (customer,)).rowcount:
            return 200, {"changed": True}
        return _refusal(404, "no such customer")

    def do_PUT(self) -> None:
        self.server.record(self.command, urlsplit(self.path).path)
        self._error(405, "method not allowed", {"Allow": "GET, POST, PATCH, DELETE"})


Answer = tuple[int, Any]  # status, JSON


def _refusal(status: int, message: str) -> Answer:
    return status, {"error": message}


def _search_customers(conn: sqlite3.Connection, query: dict[str, str]) -> Answer:
    clauses, args = [], []
    if "phone" in query:
        clauses.append("phone_key = ?")
        args.append(phone_key(query["phone"]))
    if "email" in query:
        clauses.append("email_key = ?")
        args.append(email_key(query["email"]))
    if not clauses:
        return _refusal(400, "search by phone or email")
    if not all(args):  # an empty key would match everyone without one
        return 200, {"items": []}
    sql = (
        "SELECT id, name, phone, email, company FROM customers WHERE "  # noqa: S608 - fixed clauses
        + " AND ".join(clauses)
        + " ORDER BY id"
    )
    return 200, {"items": [dict(row) for row in conn.execute(sql, args)]}


def _profile(conn: sqlite3.Connection, customer: int) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, name, phone, email, company, restricted FROM customers WHERE id = ?",
        (customer,),
    ).fetchone()
    if row is None:
        return None
    return {**dict(row), "restricted": bool(row["restricted"])}


def make_server(
    host: str,
    port: int,
    db_path: str | Path,
    token: str | None = None,
    *,
    faults: Iterable[Fault] | None = None,
) -> SupportDeskServer:
    """A bound server, not yet serving; faults default to those in the environment."""
    return SupportDeskServer(
        (host, port), db_path, token, faults=faults_from_env() if faults is None else faults
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str | Path = "supportdesk.sqlite3",
    token: str | None = None,
    *,
    faults: Iterable[Fault] | None = None,
) -> tuple[SupportDeskServer, threading.Thread]:
    """Start the desk in a background thread; `server.url` says where, `server.stop()` ends it."""
    server = make_server(host, port, db_path, token, faults=faults)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # how soon stop() returns
        name="supportdesk",
        daemon=True,
    )
    thread.start()
    return server, thread
