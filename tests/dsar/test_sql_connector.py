"""The SQL connector against real databases: a SQLite file always, PostgreSQL (a scratch database
on the server of DATABASE_URL) and MariaDB/MySQL (a scratch database on the server of
MYSQL_TEST_URL) when they are there. Every test that takes `source` runs on each backend."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import types
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from dsar.connectors.base import (
    AmbiguousIdentifier,
    ConfigurationError,
    ConnectorError,
    TransientConnectorError,
)
from dsar.connectors.registry import connector_class
from dsar.connectors.sql import SqlConnector
from dsar.identifiers import Identifier
from tests.conftest import service_missing

ENV = "DSAR_TEST_SOURCE_URL"
SECRET = "s3cret-pw"
AVATAR = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
BULK_ORDERS = 5000

ARTA = Identifier("email", "Arta.Krasniqi@Demo.Example")
SWITCHBOARD = Identifier("phone", "+355 4 222 0000")


# --- the source database -------------------------------------------------------------------


@dataclass
class SourceDb:
    backend: str
    url: URL
    unreachable_url: str  # same kind of database, nobody listening (with a password in it)
    bad_credentials_url: str | None = None
    cleanup: list = field(default_factory=list)

    @property
    def url_text(self) -> str:
        return self.url.render_as_string(hide_password=False)

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url)


def _schema(backend: str) -> sa.MetaData:
    metadata = sa.MetaData()
    accounts = sa.Table(
        "accounts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("full_name", sa.String(200)),
        sa.Column("company", sa.String(200)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(40), index=True),
        sa.Column("customer_no", sa.String(40), index=True),
        sa.Column("last_login_ip", sa.String(45)),
        sa.Column("avatar", sa.LargeBinary),
        sa.Column("credit_limit", sa.Numeric(12, 2)),
        sa.Column("created_at", sa.DateTime),
    )
    if backend == "mysql":
        # *_ci collations compare case-insensitively: a plain index serves the lookup.
        sa.Index("ix_accounts_email", accounts.c.email)
        sa.Index("ix_accounts_name_company", accounts.c.full_name, accounts.c.company)
    else:
        sa.Index("ix_accounts_email_lower", sa.func.lower(accounts.c.email))
        sa.Index(
            "ix_accounts_name_company_lower",
            sa.func.lower(accounts.c.full_name),
            sa.func.lower(accounts.c.company),
        )
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, index=True),
        sa.Column("placed_at", sa.DateTime),
        sa.Column("total", sa.Numeric(12, 2)),
    )
    sa.Table(
        "order_lines",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer, index=True),
        sa.Column("product", sa.String(200)),
        sa.Column("quantity", sa.Integer),
    )
    sa.Table(
        "line_notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_line_id", sa.Integer, index=True),
        sa.Column("note", sa.Text),
    )
    return metadata


def _fill(engine: sa.Engine, backend: str) -> None:
    metadata = _schema(backend)
    metadata.create_all(engine)
    accounts, orders, lines, notes = (
        metadata.tables[name] for name in ("accounts", "orders", "order_lines", "line_notes")
    )
    people = [
        # Arta: e-mail in mixed case, a picture, a decimal and a datetime.
        dict(
            id=1,
            full_name="Arta Krasniqi",
            company="Demo Sh.p.k.",
            email="Arta.Krasniqi@Demo.Example",
            phone="+35542220000",
            customer_no="C-1001",
            last_login_ip="192.0.2.10",
            avatar=AVATAR,
            credit_limit=Decimal("1234.50"),
            created_at=datetime(2024, 3, 1, 9, 30),
        ),
        # Besnik shares the company's switchboard number with Arta.
        dict(
            id=2,
            full_name="Besnik Hoxha",
            company="Demo Sh.p.k.",
            email="besnik.hoxha@demo.example",
            phone="+35542220000",
            customer_no="C-1002",
            last_login_ip="192.0.2.20",
            avatar=None,
            credit_limit=Decimal("10.00"),
            created_at=datetime(2024, 3, 5, 14, 0),
        ),
        dict(
            id=3,
            full_name="Bulk Buyer",
            company="Wholesale",
            email="bulk@demo.example",
            phone="+35540000003",
            customer_no="C-1003",
            last_login_ip=None,
            avatar=None,
            credit_limit=None,
            created_at=None,
        ),
        # Capitals outside ASCII, which SQLite's lower() leaves alone.
        dict(
            id=4,
            full_name="Çlirim Çela",
            company="Ëra Sh.p.k.",
            email="clirim@era.example",
            phone=None,
            customer_no="C-1004",
            last_login_ip=None,
            avatar=None,
            credit_limit=None,
            created_at=None,
        ),
    ]
    # Enough other subjects for the planner to prefer the index.
    people += [
        dict(
            id=n,
            full_name=f"Filler {n}",
            company="Filler Co",
            email=f"filler{n}@demo.example",
            phone=f"+3556900{n:05d}",
            customer_no=f"F-{n}",
            last_login_ip=None,
            avatar=None,
            credit_limit=None,
            created_at=None,
        )
        for n in range(1000, 4000)
    ]
    with engine.begin() as conn:
        conn.execute(accounts.insert(), people)
        conn.execute(
            orders.insert(),
            [
                dict(
                    id=10, account_id=1, placed_at=datetime(2024, 3, 2, 10), total=Decimal("99.90")
                ),
                dict(
                    id=11, account_id=1, placed_at=datetime(2024, 4, 1, 8), total=Decimal("15.00")
                ),
                dict(
                    id=20, account_id=2, placed_at=datetime(2024, 3, 9, 12), total=Decimal("5.00")
                ),
            ]
            + [
                dict(id=100_000 + n, account_id=3, placed_at=None, total=Decimal(n))
                for n in range(BULK_ORDERS)
            ],
        )
        conn.execute(
            lines.insert(),
            [
                dict(id=100, order_id=10, product="Printer X200", quantity=1),
                dict(id=101, order_id=10, product="Toner", quantity=2),
                dict(id=102, order_id=11, product="Cable", quantity=3),
                dict(id=200, order_id=20, product="Laptop", quantity=1),
            ],
        )
        conn.execute(
            notes.insert(),
            [
                dict(id=1000, order_line_id=101, note="Deliver to reception"),
                dict(id=2000, order_line_id=200, note="Gift wrap"),
            ],
        )
        _add_boom_view(conn, backend)
    if backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    elif backend == "mysql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE TABLE accounts, orders, order_lines, line_notes").all()
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _add_boom_view(conn: sa.Connection, backend: str) -> None:
    """A view whose reading makes the database raise an error quoting a value, as a driver's
    constraint message does ("duplicate key value (email)=(...)")."""
    if backend == "postgresql":
        conn.exec_driver_sql(
            "CREATE FUNCTION dsar_boom(v text) RETURNS text LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'duplicate key value (email)=(%%)', v; END $$"
        )
        conn.exec_driver_sql(
            "CREATE VIEW account_boom AS SELECT id, dsar_boom(email) AS boom FROM accounts"
        )
    elif backend == "mysql":
        conn.exec_driver_sql(
            "CREATE FUNCTION dsar_boom(v VARCHAR(255)) RETURNS VARCHAR(255) DETERMINISTIC NO SQL "
            "BEGIN DECLARE msg VARCHAR(255); "
            "SET msg = CONCAT('duplicate key value (email)=(', v, ')'); "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg; RETURN v; END"
        )
        conn.exec_driver_sql(
            "CREATE VIEW account_boom AS SELECT id, dsar_boom(email) AS boom FROM accounts"
        )
    else:
        # SQLite never quotes values in its messages; the test stands in for such a driver.
        conn.exec_driver_sql("CREATE VIEW account_boom AS SELECT id, email AS boom FROM accounts")


def _sqlite_source(tmp_path_factory) -> SourceDb:
    path = tmp_path_factory.mktemp("sqlsource") / "crm.sqlite3"
    db = SourceDb(
        backend="sqlite",
        url=make_url(f"sqlite:///{path}"),
        unreachable_url=f"sqlite:///{path.parent}/no/such/folder/crm.sqlite3",
    )
    engine = db.engine()
    _fill(engine, "sqlite")
    engine.dispose()
    return db


def _postgres_source() -> SourceDb:
    raw = os.environ.get("DATABASE_URL", "")
    if raw.split(":", 1)[0] not in (
        "postgres",
        "postgresql",
        "pgsql",
        "psql",
        "postgresql+psycopg",
    ):
        service_missing("PostgreSQL (set DATABASE_URL to a postgres:// URL)")
    server = make_url(raw).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError:  # the project's database may not exist yet
        admin.dispose()
        admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"dsar_src_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = SourceDb(
        backend="postgresql",
        url=server.set(database=name),
        unreachable_url=f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/{name}",
        bad_credentials_url=server.set(
            database=name, username="dsar_no_such_role", password=SECRET
        ).render_as_string(hide_password=False),
    )

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    db.cleanup.append(drop)
    try:
        engine = db.engine()
        _fill(engine, "postgresql")
        engine.dispose()
    except BaseException:
        drop()
        raise
    return db


def _mysql_source() -> SourceDb:
    raw = os.environ.get("MYSQL_TEST_URL", "")
    if not raw:
        service_missing("MariaDB/MySQL (set MYSQL_TEST_URL)")
    server = make_url(raw)
    if server.drivername in ("mysql", "mariadb"):
        server = server.set(drivername="mysql+pymysql")
    admin = sa.create_engine(server.set(database=None), isolation_level="AUTOCOMMIT")
    name = f"dsar_src_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    db = SourceDb(
        backend="mysql",
        url=server.set(database=name),
        unreachable_url=f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/{name}",
        bad_credentials_url=server.set(
            database=name, username="dsar_no_such_user", password=SECRET
        ).render_as_string(hide_password=False),
    )

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()

    db.cleanup.append(drop)
    try:
        engine = db.engine()
        _fill(engine, "mysql")
        engine.dispose()
    except BaseException:
        drop()
        raise
    return db


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def source(request, tmp_path_factory):
    if request.param == "sqlite":
        db = _sqlite_source(tmp_path_factory)
    elif request.param == "postgresql":
        db = _postgres_source()
    else:
        db = _mysql_source()
    yield db
    for step in db.cleanup:
        step()


def mapping() -> dict:
    """The CRM's mapping, fresh for each test to change."""
    return {
        "url_env": ENV,
        "subject": {
            "table": "accounts",
            "key": "id",
            "identifiers": {
                "email": "email",
                "phone": "phone",
                "customer_number": "customer_no",
                "name_company": ["full_name", "company"],
            },
        },
        "tables": {
            "accounts": {
                "category": "online_account",
                "key": "id",
                "subject_column": "id",
                "columns": {
                    "full_name": {},
                    "email": {},
                    "last_login_ip": {"category": "browsing"},
                    "avatar": {},
                    "credit_limit": {},
                    "created_at": {},
                },
            },
            "orders": {
                "category": "purchases",
                "key": "id",
                "subject_column": "account_id",
                "columns": {"placed_at": {}, "total": {}},
            },
            "order_lines": {
                "category": "purchases",
                "key": "id",
                "via": {"table": "orders", "column": "order_id"},
                "columns": {"product": {}, "quantity": {}},
            },
            "line_notes": {
                "category": "fulfilment",
                "key": "id",
                "via": {"table": "order_lines", "column": "order_line_id"},
                "columns": {"note": {}},
            },
        },
    }


@pytest.fixture
def connect(source, monkeypatch):
    """Connectors to the source database, URL from the environment, closed after the test."""
    monkeypatch.setenv(ENV, source.url_text)
    made: list[SqlConnector] = []

    def _connect(config: dict | None = None) -> SqlConnector:
        connector = SqlConnector(config or mapping(), name="crm")
        made.append(connector)
        return connector

    yield _connect
    for connector in made:
        connector.close()


@pytest.fixture
def crm(connect) -> SqlConnector:
    return connect()


def match_of(connector: SqlConnector, identifier: Identifier):
    lookup = connector.find_subject([identifier])
    assert len(lookup.matches) == 1, lookup
    return lookup.matches[0]


# --- finding the subject -------------------------------------------------------------------


def test_it_finds_a_subject_by_email_whatever_its_case(crm):
    lookup = crm.find_subject([Identifier("email", "ARTA.krasniqi@demo.EXAMPLE ")])
    assert [m.subject_key for m in lookup.matches] == ["1"]
    assert lookup.matches[0].found_by == Identifier("email", "arta.krasniqi@demo.example")
    assert lookup.ambiguous == []


@pytest.mark.parametrize(
    "look_alike",
    [
        "arta.krasn\u0131q\u0131@demo.example",  # dotless i: upper() makes it I
        "arta.kra\u017fniqi@demo.example",  # long s: upper() makes it S
        "ARTA.KRASN\u0130Q\u0130@demo.example",  # dotted capital I: lower() makes it i
        "arta.\u212arasniqi@demo.example",  # the Kelvin sign: lower() makes it k
        "\u0430rta.krasniqi@demo.example",  # Cyrillic a
        "arta.krasniqi+dsar@demo.example",  # a plus-tag is another mailbox
    ],
)
def test_a_look_alike_address_finds_nobody(crm, look_alike):
    """Whatever the database folds (PostgreSQL's and MariaDB's lower() and _ci collations fold
    these letters), a row matches only under the one e-mail rule."""
    lookup = crm.find_subject([Identifier("email", look_alike)])
    assert lookup.matches == [] and lookup.ambiguous == []


def test_it_finds_a_subject_by_customer_number(crm):
    lookup = crm.find_subject([Identifier("customer_number", " c-1002 ")])
    assert [m.subject_key for m in lookup.matches] == ["2"]


def test_it_finds_a_subject_by_name_and_company(crm):
    lookup = crm.find_subject([Identifier("name_company", "arta   KRASNIQI|demo sh.p.k.")])
    assert [m.subject_key for m in lookup.matches] == ["1"]


def test_it_finds_a_name_with_capitals_outside_ascii(crm):
    lookup = crm.find_subject([Identifier("name_company", "ÇLIRIM çela|ëra SH.P.K.")])
    assert [m.subject_key for m in lookup.matches] == ["4"]


def test_it_returns_every_identifier_it_learns(crm):
    match = match_of(crm, ARTA)
    assert match.identifiers == {
        Identifier("email", "arta.krasniqi@demo.example"),
        Identifier("phone", "+35542220000"),
        Identifier("customer_number", "C-1001"),
        Identifier("name_company", "Arta Krasniqi|Demo Sh.p.k."),
    }


def test_it_learns_nothing_from_empty_columns(crm):
    match = match_of(crm, Identifier("email", "clirim@era.example"))
    assert {identifier.kind for identifier in match.identifiers} == {
        "email",
        "customer_number",
        "name_company",
    }


def test_it_does_not_follow_an_ambiguous_phone(crm):
    lookup = crm.find_subject([SWITCHBOARD])
    assert lookup.matches == []
    assert lookup.ambiguous == [AmbiguousIdentifier(Identifier("phone", "+35542220000"), 2)]


def test_an_ambiguous_identifier_does_not_hide_a_specific_one(crm):
    lookup = crm.find_subject([SWITCHBOARD, ARTA])
    assert [m.subject_key for m in lookup.matches] == ["1"]
    assert [a.identifier.kind for a in lookup.ambiguous] == ["phone"]


def test_an_unknown_identifier_finds_nobody(crm):
    lookup = crm.find_subject(
        [Identifier("email", "nobody@demo.example"), Identifier("customer_number", "X-1")]
    )
    assert lookup.matches == []
    assert lookup.ambiguous == []


def test_identifiers_of_one_subject_give_one_match_found_by_the_first(crm):
    lookup = crm.find_subject(
        [
            Identifier("customer_number", "C-1001"),
            ARTA,
            Identifier("name_company", "arta krasniqi|demo sh.p.k."),
        ]
    )
    assert len(lookup.matches) == 1
    assert lookup.matches[0].found_by == Identifier("customer_number", "C-1001")


def test_it_ignores_kinds_it_has_no_column_for_without_connecting(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)  # a connection attempt would fail
    connector = SqlConnector(mapping(), name="crm")
    lookup = connector.find_subject([Identifier("serial_number", "SN-1")])
    assert lookup.matches == [] and lookup.ambiguous == []


def test_a_mapping_is_parsed_once_per_configuration_and_again_when_it_changes():
    first = SqlConnector(mapping(), name="crm").mapping
    assert SqlConnector(mapping(), name="crm").mapping is first  # every run builds a connector
    changed = mapping()
    changed["tables"]["orders"]["columns"]["total"] = {"category": "fulfilment"}
    other = SqlConnector(changed, name="crm").mapping
    assert other is not first
    assert dict(other.tables["orders"].columns)["total"] == "fulfilment"
    broken = mapping()
    del broken["tables"]
    with pytest.raises(ConfigurationError):
        SqlConnector(broken, name="crm")
    with pytest.raises(ConfigurationError):  # a refusal is kept as well, and raised again
        SqlConnector(broken, name="crm")


def test_explain_shows_the_index_behind_the_lookup(crm, source):
    plan = crm.explain("email")
    assert plan.strip()
    index = "ix_accounts_email" if source.backend == "mysql" else "ix_accounts_email_lower"
    assert index in plan


def test_explain_refuses_an_unmapped_kind(crm):
    with pytest.raises(ConfigurationError, match="serial_number"):
        crm.explain("serial_number")


# --- exporting -----------------------------------------------------------------------------


def test_export_yields_every_mapped_row_with_its_category(crm):
    records = list(crm.export(match_of(crm, ARTA)))
    assert [(r.category, r.key) for r in records] == [
        ("online_account", "accounts:1"),
        ("browsing", "accounts:1"),
        ("purchases", "orders:10"),
        ("purchases", "orders:11"),
        ("purchases", "order_lines:100"),
        ("purchases", "order_lines:101"),
        ("purchases", "order_lines:102"),
        ("fulfilment", "line_notes:1000"),
    ]
    assert {r.source for r in records} == {"accounts", "orders", "order_lines", "line_notes"}
    assert all(r.subject_key == "1" for r in records)
    assert all(r.found_by == Identifier("email", "arta.krasniqi@demo.example") for r in records)
    assert records[1].data == {"last_login_ip": "192.0.2.10"}
    assert records[4].data == {"order_id": 10, "product": "Printer X200", "quantity": 1}
    assert records[7].data == {"order_line_id": 101, "note": "Deliver to reception"}


def test_a_row_exported_through_another_table_keeps_its_link_to_it(crm):
    """Order lines carry their order's key, so the subject can tell which order they are of."""
    lines = [r for r in crm.export(match_of(crm, ARTA)) if r.source == "order_lines"]
    assert [(r.key, r.data["order_id"]) for r in lines] == [
        ("order_lines:100", 10),
        ("order_lines:101", 10),
        ("order_lines:102", 11),
    ]
    columns = [
        (c.source, c.column, c.field)
        for c in SqlConnector.exported_columns(crm.config)
        if c.source == "order_lines"
    ]
    assert columns[0] == ("order_lines", "order_id", "order_id")


def test_a_listed_link_column_keeps_its_place_and_options():
    config = mapping()
    config["tables"]["order_lines"]["columns"] = {
        "product": {},
        "order_id": {"field": "order_number"},
    }
    columns = [
        (c.column, c.field)
        for c in SqlConnector.exported_columns(config)
        if c.source == "order_lines"
    ]
    assert columns == [("product", "product"), ("order_id", "order_number")]


def test_export_holds_nothing_of_another_subject(crm):
    records = list(crm.export(match_of(crm, Identifier("customer_number", "C-1002"))))
    assert [r.key for r in records] == [
        "accounts:2",
        "accounts:2",
        "orders:20",
        "order_lines:200",
        "line_notes:2000",
    ]
    text = json.dumps([r.as_dict() for r in records])
    assert "Arta" not in text and "Toner" not in text


def test_export_values_are_json_safe_and_binary_is_summarised(crm):
    account = next(iter(crm.export(match_of(crm, ARTA))))
    assert account.data == {
        "full_name": "Arta Krasniqi",
        "email": "Arta.Krasniqi@Demo.Example",
        "avatar": {"binary": len(AVATAR), "sha256": hashlib.sha256(AVATAR).hexdigest()},
        "credit_limit": "1234.50",
        "created_at": "2024-03-01T09:30:00",
    }
    json.dumps(account.as_dict())


def test_export_keeps_none_as_none(crm):
    account = next(iter(crm.export(match_of(crm, Identifier("email", "bulk@demo.example")))))
    assert account.data["avatar"] is None
    assert account.data["credit_limit"] is None


def test_export_streams_lazily_through_a_server_side_cursor(crm, source):
    match = match_of(crm, Identifier("email", "bulk@demo.example"))
    executed = []
    sa.event.listen(
        crm.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, params, context, many: executed.append((context, cursor)),
    )
    records = crm.export(match)
    assert isinstance(records, types.GeneratorType)
    assert executed == []  # nothing runs before the first record is asked for
    assert next(records).key == "accounts:3"
    orders = [r for r in records if r.source == "orders"]
    assert len(orders) == BULK_ORDERS
    assert [r.key for r in orders[:2]] == ["orders:100000", "orders:100001"]
    context, cursor = next(
        (context, cursor)
        for context, cursor in executed
        if context.statement.startswith("SELECT") and "FROM orders" in context.statement
    )
    assert context.execution_options.get("yield_per") == 1000
    assert context.execution_options.get("stream_results") is True
    if source.backend != "sqlite":  # SQLite's own cursor already fetches row by row
        assert type(cursor).__name__ in ("ServerCursor", "SSCursor")


def test_an_abandoned_export_gives_its_connection_back(crm):
    records = crm.export(match_of(crm, Identifier("email", "bulk@demo.example")))
    for _ in range(10):
        next(records)
    assert crm.engine.pool.checkedout() == 1
    records.close()
    assert crm.engine.pool.checkedout() == 0


def test_a_missing_table_is_a_permanent_error_naming_it(connect):
    config = mapping()
    config["tables"]["refunds"] = {
        "category": "purchases",
        "key": "id",
        "subject_column": "account_id",
        "columns": {"amount": {}},
    }
    crm = connect(config)
    with pytest.raises(ConnectorError, match="'refunds' is missing") as caught:
        list(crm.export(match_of(crm, ARTA)))
    assert not isinstance(caught.value, TransientConnectorError)


def _boom_config() -> dict:
    config = mapping()
    config["tables"] = {
        "account_boom": {
            "category": "online_account",
            "key": "id",
            "subject_column": "id",
            "columns": {"boom": {}},
        }
    }
    return config


def _raise_like_a_driver(connector: SqlConnector) -> None:
    """SQLite never quotes values; stand in for a driver that does, at the DB-API edge."""

    @sa.event.listens_for(connector.engine, "do_execute")
    def boom(cursor, statement, parameters, context):
        if "account_boom" in statement:
            raise sqlite3.IntegrityError(
                "duplicate key value (email)=(Arta.Krasniqi@Demo.Example) already exists"
            )


def test_driver_messages_are_not_passed_through(connect, source):
    crm = connect(_boom_config())
    if source.backend == "sqlite":
        _raise_like_a_driver(crm)
    match = match_of(crm, ARTA)
    with pytest.raises(ConnectorError) as caught:
        list(crm.export(match))
    message = str(caught.value)
    assert message.startswith("crm: export failed")
    assert "Error" in message  # the exception class is named
    assert "Arta" not in message and "duplicate" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- checking the system -------------------------------------------------------------------


def test_check_is_clean_when_the_mapping_matches(crm):
    assert crm.check() == []


def test_check_reports_a_missing_table_and_column_by_name(connect):
    config = mapping()
    config["tables"]["refunds"] = {
        "category": "purchases",
        "key": "id",
        "subject_column": "account_id",
        "columns": {"amount": {}},
    }
    config["tables"]["orders"]["columns"]["discount"] = {}
    config["subject"]["identifiers"]["serial_number"] = "serial_no"
    assert connect(config).check() == [
        "table 'accounts' has no column 'serial_no'",
        "table 'orders' has no column 'discount'",
        "table 'refunds' is missing",
    ]


@pytest.mark.parametrize("source", ["mysql"], indirect=True)
def test_check_warns_of_a_case_sensitive_collation_on_mysql(connect, source):
    engine = source.engine()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE contacts_bin (id INT PRIMARY KEY, email VARCHAR(254) COLLATE utf8mb4_bin)"
        )
    try:
        config = mapping()
        config["subject"] = {
            "table": "contacts_bin",
            "key": "id",
            "identifiers": {"email": "email"},
        }
        assert connect(config).check() == [
            "table 'contacts_bin' column 'email' compares case-sensitively (collation "
            "utf8mb4_bin): email lookups may miss mixed-case values"
        ]
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE contacts_bin")
        engine.dispose()


def _one_line_without_secrets(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    (problem,) = problems
    assert "\n" not in problem
    assert SECRET not in problem
    assert "dsar_no_such" not in problem
    return problem


def test_check_reports_an_unreachable_server_in_one_line(source, monkeypatch):
    monkeypatch.setenv(ENV, source.unreachable_url)
    with SqlConnector(mapping(), name="crm") as crm:
        problem = _one_line_without_secrets(crm.check())
    assert "could not be" in problem
    assert "Traceback" not in problem


def test_an_unreachable_server_is_a_transient_error(source, monkeypatch):
    monkeypatch.setenv(ENV, source.unreachable_url)
    with (
        SqlConnector(mapping(), name="crm") as crm,
        pytest.raises(TransientConnectorError) as caught,
    ):
        crm.find_subject([ARTA])
    assert str(caught.value).startswith("crm: find_subject failed")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("source", ["postgresql", "mysql"], indirect=True)
def test_check_reports_bad_credentials_in_one_line(source, monkeypatch):
    monkeypatch.setenv(ENV, source.bad_credentials_url)
    with SqlConnector(mapping(), name="crm") as crm:
        problem = _one_line_without_secrets(crm.check())
    assert "refused the credentials" in problem


@pytest.mark.parametrize("source", ["postgresql", "mysql"], indirect=True)
def test_bad_credentials_are_not_retried(source, monkeypatch):
    monkeypatch.setenv(ENV, source.bad_credentials_url)
    with SqlConnector(mapping(), name="crm") as crm, pytest.raises(ConnectorError) as caught:
        crm.find_subject([ARTA])
    assert not isinstance(caught.value, TransientConnectorError)
    assert SECRET not in str(caught.value)


def test_url_env_is_read_when_connecting(source, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    crm = SqlConnector(mapping(), name="crm")  # no URL yet: nothing connects
    assert crm.check() == [f"crm: the environment variable {ENV} is not set"]
    with pytest.raises(ConfigurationError, match=ENV):
        crm.find_subject([ARTA])
    monkeypatch.setenv(ENV, source.url_text)
    assert [m.subject_key for m in crm.find_subject([ARTA]).matches] == ["1"]
    crm.close()


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
def test_a_plain_url_without_password_works_and_sqlite_paths_are_project_relative(
    source, settings, monkeypatch, tmp_path
):
    path = source.url.database
    settings.BASE_DIR = os.path.dirname(path)
    monkeypatch.chdir(tmp_path)  # not where the file is
    config = mapping()
    del config["url_env"]
    config["url"] = f"sqlite:///{os.path.basename(path)}"
    with SqlConnector(config, name="crm") as crm:
        assert crm.check() == []
        assert [m.subject_key for m in crm.find_subject([ARTA]).matches] == ["1"]


def test_connectors_of_one_database_share_an_engine_until_disposed(crm):
    from dsar.connectors.sql import SqlConnector, dispose_engines

    crm.find_subject([ARTA])
    engine = crm.engine
    crm.close()
    again = SqlConnector(crm.config, name="crm-again")
    assert again.engine is engine  # a worker reuses the pool across searches
    dispose_engines()
    assert again.find_subject([ARTA]).matches  # a fresh engine is made when needed
    assert SqlConnector(crm.config, name="crm-3").engine is not engine


# --- the configuration, without a database -------------------------------------------------


def _without(path: str):
    def change(config):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        del node[last]

    return change


def _set(path: str, value):
    def change(config):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def _loop(config):
    config["tables"]["orders"] = {
        "category": "purchases",
        "key": "id",
        "via": {"table": "order_lines", "column": "line_id"},
        "columns": {"total": {}},
    }


MALFORMED = [
    (_without("url_env"), "url_env (or url) is required"),
    (_set("url", "sqlite:///x.sqlite3"), "url and url_env are both given"),
    (_set("url_env", "CRM-URL"), "url_env: must be the name of an environment variable"),
    (_without("subject"), "subject: required"),
    (
        _set("subject.table", "accounts; DROP TABLE x"),
        "subject.table: 'accounts; DROP TABLE x' is not a plain SQL identifier",
    ),
    (_without("subject.key"), "subject.key: required"),
    (
        _set("subject.identifiers.emial", "email"),
        "subject.identifiers: unknown identifier kind 'emial'",
    ),
    (
        _set("subject.identifiers.name_company", "full_name"),
        "subject.identifiers.name_company: must be a list of two columns",
    ),
    (
        _set("subject.identifiers.email", ["email"]),
        "subject.identifiers.email: must be a column name",
    ),
    (_set("subject.identifiers", {}), "subject.identifiers: required"),
    (_without("tables"), "tables: required"),
    (
        _set("tables.orders.via", {"table": "accounts", "column": "account_id"}),
        "tables.orders: give exactly one of subject_column",
    ),
    (_without("tables.orders.subject_column"), "tables.orders: give exactly one of subject_column"),
    (_without("tables.orders.key"), "tables.orders.key: required"),
    (
        _set("tables.order_lines.via", {"table": "order", "column": "order_id"}),
        "tables.order_lines: via names unknown table 'order'",
    ),
    (
        _set("tables.order_lines.via", {"table": "orders"}),
        "tables.order_lines.via.column: required",
    ),
    (_loop, "tables.orders: via chain loops (orders -> order_lines -> orders)"),
    (
        _set("tables.orders.columns", {"total amount": {}}),
        "tables.orders.columns: 'total amount' is not a plain SQL identifier",
    ),
    (_set("tables.orders.columns", {}), "tables.orders.columns: required"),
    (
        _set("tables.orders.columns.total", {"categry": "x"}),
        "tables.orders.columns.total: unknown key 'categry'",
    ),
    (_set("tables.orders.colums", {}), "tables.orders: unknown key 'colums'"),
    (
        _set("tables.orders.category", "purchases; --"),
        "tables.orders.category: must be a data category slug",
    ),
    (
        _set("tables.orders.subject_column", "account-id"),
        "tables.orders.subject_column: 'account-id' is not a plain SQL identifier",
    ),
    (_set("tables.orders-2", {}), "tables: 'orders-2' is not a plain SQL identifier"),
    (_set("connect_timeout", "5s"), "connect_timeout: must be a positive number"),
    (_set("shema", "crm"), "unknown key 'shema'"),
    (
        _set("mapping_file", "no/such/mapping.yaml"),
        "mapping_file: cannot read 'no/such/mapping.yaml'",
    ),
]


def _no_category(config):
    del config["tables"]["orders"]["category"]


MALFORMED.append((_no_category, "tables.orders.columns.placed_at: no data category"))


@pytest.mark.parametrize(("change", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_validate_config_names_the_fault(change, message):
    config = mapping()
    change(config)
    problems = SqlConnector.validate_config(config)
    assert any(message in problem for problem in problems), problems
    with pytest.raises(ConfigurationError):
        SqlConnector(config)


def test_validate_config_accepts_the_mapping():
    assert SqlConnector.validate_config(mapping()) == []


def test_validate_config_refuses_what_is_not_a_mapping():
    assert SqlConnector.validate_config(["url_env"]) == ["the configuration must be a mapping"]


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://crm:{SECRET}@db.internal/crm",
        f"mysql+pymysql://crm@db/crm?password={SECRET}",
    ],
)
def test_a_url_with_a_password_is_refused(url):
    config = mapping()
    del config["url_env"]
    config["url"] = url
    problems = SqlConnector.validate_config(config)
    assert problems == [
        "url: contains a password; keep the URL in an environment variable and name it in url_env"
    ]
    with pytest.raises(ConfigurationError) as caught:
        SqlConnector(config)
    assert SECRET not in str(caught.value)


def test_an_unparsable_url_is_refused_without_quoting_it():
    config = mapping()
    del config["url_env"]
    config["url"] = f"not a url {SECRET}"
    problems = SqlConnector.validate_config(config)
    assert problems == ["url: not a valid SQLAlchemy database URL"]


def test_a_mapping_file_is_merged_under_the_inline_keys(tmp_path, settings):
    import yaml

    in_file = mapping()
    in_file["url_env"] = "FROM_THE_FILE"
    (tmp_path / "crm.yaml").write_text(yaml.safe_dump(in_file, sort_keys=False), encoding="utf-8")
    settings.BASE_DIR = tmp_path
    for name in ("crm.yaml", str(tmp_path / "crm.yaml")):
        connector = SqlConnector({"mapping_file": name, "url_env": "INLINE"}, name="crm")
        assert connector.mapping.url_env == "INLINE"
        assert connector.mapping.tables == SqlConnector(mapping()).mapping.tables
        assert connector.mapping.subject == SqlConnector(mapping()).mapping.subject


def test_a_broken_mapping_file_is_reported(tmp_path):
    path = tmp_path / "crm.yaml"
    path.write_text("subject: [unclosed\n", encoding="utf-8")
    assert SqlConnector.validate_config({"mapping_file": str(path)}) == [
        f"mapping_file: '{path}' is not valid YAML at line 2"
    ]
    path.write_text("- a list\n", encoding="utf-8")
    assert SqlConnector.validate_config({"mapping_file": str(path)}) == [
        f"mapping_file: '{path}' must hold a mapping at its top level"
    ]


def test_the_sql_kind_is_registered():
    assert connector_class("sql") is SqlConnector


# --- a phone column stored in a human format, with a normalised column beside it --------------


@pytest.fixture
def formatted_phones(tmp_path):
    path = tmp_path / "phones.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, phone TEXT, phone_e164 TEXT "
            "GENERATED ALWAYS AS ('+' || replace(replace(replace(phone, '+', ''), '-', ''), "
            "' ', '')) STORED)"
        )
        db.execute("CREATE INDEX people_phone_e164 ON people (phone_e164)")
        db.execute("INSERT INTO people (id, phone) VALUES (1, '+1-555-0000002')")
        db.execute("INSERT INTO people (id, phone) VALUES (2, '+1 555 000 0003')")
    return f"sqlite:///{path}"


def phone_mapping(url: str, spec) -> dict:
    return {
        "url": url,
        "subject": {"table": "people", "key": "id", "identifiers": {"phone": spec}},
        "tables": {
            "people": {
                "category": "online_account",
                "key": "id",
                "subject_column": "id",
                "columns": {"phone": {}},
            }
        },
    }


def test_a_phone_stored_with_dashes_is_found_through_its_normalised_column(formatted_phones):
    spec = {"column": "phone", "normalised": "phone_e164"}
    with SqlConnector(phone_mapping(formatted_phones, spec), name="people") as people:
        assert people.check() == []
        lookup = people.find_subject([Identifier("phone", "+1 555 000 0002")])
        assert [m.subject_key for m in lookup.matches] == ["1"]
        assert "USING INDEX people_phone_e164" in people.explain("phone")


def test_without_the_normalised_column_the_stored_format_is_not_found(formatted_phones):
    with SqlConnector(phone_mapping(formatted_phones, "phone"), name="people") as people:
        assert people.find_subject([Identifier("phone", "+15550000002")]).matches == []


def test_a_misnamed_normalised_column_is_a_configuration_problem(formatted_phones):
    from dsar.connectors.errors import ConfigurationError

    spec = {"column": "phone", "normalised": "phone e164; drop table people"}
    with pytest.raises(ConfigurationError, match="normalised"):
        SqlConnector(phone_mapping(formatted_phones, spec), name="people")


# --- lookups and labels (SQLite) -------------------------------------------------------------


@pytest.fixture
def events_db(tmp_path, monkeypatch):
    """Accounts with registrations pointing at an events catalogue (one id points nowhere)."""
    path = tmp_path / "events.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT);
            CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT, city TEXT);
            CREATE TABLE registrations (
                id INTEGER PRIMARY KEY, account_id INTEGER, event_id INTEGER, attended BOOLEAN
            );
            INSERT INTO accounts VALUES (1, 'arta@demo.example'), (2, 'besnik@demo.example');
            INSERT INTO events VALUES (10, 'Print summit', 'Tirana'), (11, 'Webinar', 'online');
            INSERT INTO registrations VALUES (1, 1, 10, 1), (2, 1, 99, 0), (3, 2, 11, 1);
            """
        )
    monkeypatch.setenv(ENV, f"sqlite:///{path}")
    return path


def events_mapping(lookup: dict | None = None) -> dict:
    return {
        "url_env": ENV,
        "subject": {"table": "accounts", "key": "id", "identifiers": {"email": "email"}},
        "tables": {
            "registrations": {
                "category": "events",
                "key": "id",
                "subject_column": "account_id",
                "label": {"sq": "Regjistrimet në aktivitete", "en": "Event registrations"},
                "columns": {
                    "event_id": {
                        "field": "event",
                        "lookup": lookup or {"table": "events", "key": "id", "column": "title"},
                    },
                    "attended": {},
                },
            }
        },
    }


def test_a_looked_up_column_shows_the_other_tables_value_under_its_field(events_db):
    with SqlConnector(events_mapping(), name="crm") as crm:
        match = crm.find_subject([Identifier("email", "arta@demo.example")]).matches[0]
        records = list(crm.export(match))
    # The dangling id (99) still exports its row, with no event.
    assert [r.data for r in records] == [
        {"event": "Print summit", "attended": 1},
        {"event": None, "attended": 0},
    ]


def test_a_looked_up_column_is_listed_under_its_field_for_the_report(events_db):
    columns = SqlConnector.exported_columns(events_mapping())
    assert [(c.source, c.column, c.field) for c in columns] == [
        ("registrations", "event", "event"),
        ("registrations", "attended", "attended"),
    ]


def test_check_reports_a_missing_lookup_table(events_db):
    mapping = events_mapping({"table": "event_catalogue", "key": "id", "column": "title"})
    with SqlConnector(mapping, name="crm") as crm:
        assert crm.check() == ["table 'event_catalogue' is missing"]


def test_check_reports_a_missing_lookup_column(events_db):
    mapping = events_mapping({"table": "events", "key": "id", "column": "name"})
    with SqlConnector(mapping, name="crm") as crm:
        assert crm.check() == ["table 'events' has no column 'name'"]


@pytest.mark.parametrize(
    ("lookup", "problem"),
    [
        ({"table": "events;drop", "key": "id", "column": "title"},
         "lookup.table: 'events;drop' is not a plain SQL identifier"),
        ({"table": "events", "column": "title"}, "lookup.key: required"),
        ({"table": "events", "key": "id", "column": "title", "where": "1=1"},
         "unknown key 'where'"),
        ("events.title", "lookup: must be a mapping"),
    ],
)  # fmt: skip
def test_validate_config_names_a_broken_lookup(lookup, problem):
    config = events_mapping()
    config["tables"]["registrations"]["columns"]["event_id"]["lookup"] = lookup
    problems = SqlConnector.validate_config(config)
    assert any(problem in p for p in problems), problems


def test_a_looked_up_column_must_name_its_field():
    config = events_mapping()
    del config["tables"]["registrations"]["columns"]["event_id"]["field"]
    assert SqlConnector.validate_config(config) == [
        "tables.registrations.columns.event_id: a looked-up column must name its field"
    ]


def test_table_labels_are_read_per_table():
    assert SqlConnector.source_labels(events_mapping()) == {
        "registrations": {"sq": "Regjistrimet në aktivitete", "en": "Event registrations"}
    }
    config = events_mapping()
    config["tables"]["registrations"]["label"] = "Registrations"
    assert "tables.registrations.label: must map language codes to text" in " ".join(
        SqlConnector.validate_config(config)
    )


@pytest.fixture(scope="module")
def postgres_crm():
    """The CRM on PostgreSQL alone: inet and cidr are PostgreSQL's types."""
    db = _postgres_source()
    yield db
    for step in db.cleanup:
        step()


def test_network_addresses_come_as_the_servers_text(postgres_crm, monkeypatch):
    monkeypatch.setenv(ENV, postgres_crm.url_text)
    crm = SqlConnector(mapping(), name="crm")
    with crm.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT '80.78.1.1'::inet, '10.0.0.0/8'::cidr, '2001:db8::1/64'::inet"
        ).one()
    crm.close()
    assert tuple(row) == ("80.78.1.1", "10.0.0.0/8", "2001:db8::1/64")
