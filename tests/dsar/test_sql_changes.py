"""The SQL connector's change side (describe_records, plan_changes, apply) against real
databases: a SQLite file always, PostgreSQL (a scratch database on the server of DATABASE_URL)
and MariaDB/MySQL (on the server of MYSQL_TEST_URL) when they are there, as in
test_sql_connector.py. Every test that takes `source` runs on each backend, on fresh tables."""

from __future__ import annotations

import copy
import os
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from dsar.connectors.base import ConnectorError
from dsar.connectors.changes import (
    ERASED_MARK,
    Change,
    ChangeRequest,
    Intent,
    Mask,
    Outcome,
    RecordFacts,
    RecordRef,
    Strategy,
    salted_hash,
)
from dsar.connectors.sql import SqlConnector
from dsar.identifiers import Identifier
from tests.conftest import service_missing

ENV = "DSAR_TEST_CHANGES_URL"
SALT = "plan-salt-for-tests"
ARTA_EMAIL = "arta@demo.example"
ARTA_PHONE = "+355691111111"
# Another Arta Krasniqi, another company: never touched by what is done for the first.
NAMESAKE_EMAIL = "arta.k@other.example"


# --- the source database -------------------------------------------------------------------


@dataclass
class SourceDb:
    backend: str
    url: URL
    cleanup: list = field(default_factory=list)

    @property
    def url_text(self) -> str:
        return self.url.render_as_string(hide_password=False)


def _schema() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "accounts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("full_name", sa.String(200)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(40)),
        sa.Column("position", sa.String(200)),
        sa.Column("birth_date", sa.Date),
        sa.Column("credit_limit", sa.Numeric(12, 2)),
        sa.Column("created_at", sa.DateTime),
        sa.Column("restricted", sa.Boolean, nullable=False, default=False),
        sa.Column("marketing_opt_in", sa.Boolean),
        sa.Column("marketing_stopped_at", sa.DateTime),
    )
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), index=True),
        sa.Column("status", sa.String(40)),
        sa.Column("ordered_at", sa.DateTime),
        sa.Column("total", sa.Numeric(12, 2)),
        sa.Column("restricted", sa.Boolean, nullable=False, default=False),
    )
    sa.Table(
        "order_lines",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), index=True),
        sa.Column("product", sa.String(200)),
        sa.Column("quantity", sa.Integer),
    )
    sa.Table(
        "web_events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), index=True),
        sa.Column("url", sa.String(500)),
    )
    # Kept after the account goes: the link empties, the address stays listed.
    sa.Table(
        "marketing_suppressions",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(40)),
        sa.Column("reason", sa.String(40)),
        sa.Column("suppressed_at", sa.DateTime),
    )
    return metadata


def _account(id: int, email: str, phone: str, company_position: str) -> dict:
    return dict(
        id=id,
        full_name="Arta Krasniqi",
        email=email,
        phone=phone,
        position=company_position,
        birth_date=None,
        credit_limit=Decimal("100.00"),
        created_at=datetime(2021, 3, 15, 9, 12),
        restricted=False,
        marketing_opt_in=True,
        marketing_stopped_at=None,
    )


ROWS = {
    "accounts": [
        _account(1, ARTA_EMAIL, ARTA_PHONE, "Buyer"),
        _account(2, NAMESAKE_EMAIL, "+355692222222", "Office manager"),
    ],
    "orders": [
        dict(id=10, account_id=1, status="open", ordered_at=datetime(2024, 3, 2, 10), total=10),
        dict(id=11, account_id=1, status="delivered", ordered_at=datetime(2023, 5, 1), total=5),
        dict(id=20, account_id=2, status="open", ordered_at=datetime(2024, 1, 9), total=7),
    ],
    "order_lines": [
        dict(id=100, order_id=10, product="Toner", quantity=2),
        dict(id=101, order_id=10, product="Paper", quantity=5),
        dict(id=110, order_id=11, product="Drum", quantity=1),
        dict(id=200, order_id=20, product="Toner", quantity=1),
    ],
    "web_events": [
        dict(id=1000, account_id=1, url="https://portal.example/a"),
        dict(id=1001, account_id=1, url="https://portal.example/b"),
        dict(id=2000, account_id=2, url="https://portal.example/c"),
    ],
    # Her phone is listed already (a complaint): a suppression by phone finds it there.
    "marketing_suppressions": [
        # No id: the database numbers its rows (PostgreSQL's sequence would not know of one).
        dict(
            account_id=1,
            email=None,
            phone=ARTA_PHONE,
            reason="complaint",
            suppressed_at=datetime(2024, 1, 1),
        )
    ],
}


def _refill(db: SourceDb) -> None:
    engine = sa.create_engine(db.url)
    metadata = _schema()
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(table.insert(), ROWS[table.name])
    engine.dispose()


def _scratch_postgres() -> SourceDb:
    raw = os.environ.get("DATABASE_URL", "")
    if raw.split(":", 1)[0] not in ("postgres", "postgresql", "pgsql", "postgresql+psycopg"):
        service_missing("PostgreSQL (set DATABASE_URL to a postgres:// URL)")
    server = make_url(raw).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError:  # the project's database may not exist yet
        admin.dispose()
        admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"dsar_chg_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return SourceDb("postgresql", server.set(database=name), cleanup=[drop])


def _scratch_mysql() -> SourceDb:
    raw = os.environ.get("MYSQL_TEST_URL", "")
    if not raw:
        service_missing("MariaDB/MySQL (set MYSQL_TEST_URL)")
    server = make_url(raw)
    if server.drivername in ("mysql", "mariadb"):
        server = server.set(drivername="mysql+pymysql")
    admin = sa.create_engine(server.set(database=None), isolation_level="AUTOCOMMIT")
    name = f"dsar_chg_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()

    return SourceDb("mysql", server.set(database=name), cleanup=[drop])


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def database(request, tmp_path_factory):
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlchanges") / "crm.sqlite3"
        db = SourceDb("sqlite", make_url(f"sqlite:///{path}"))
    elif request.param == "postgresql":
        db = _scratch_postgres()
    else:
        db = _scratch_mysql()
    yield db
    from dsar.connectors.sql import dispose_engines

    dispose_engines()
    for step in db.cleanup:
        step()


@pytest.fixture
def source(database, monkeypatch) -> SourceDb:
    """The database with fresh rows: every test changes them."""
    _refill(database)
    monkeypatch.setenv(ENV, database.url_text)
    return database


def mapping() -> dict:
    return {
        "url_env": ENV,
        "subject": {
            "table": "accounts",
            "key": "id",
            "identifiers": {"email": "email", "phone": "phone"},
        },
        "tables": {
            "accounts": {
                "category": "online_account",
                "key": "id",
                "subject_column": "id",
                "columns": {
                    "full_name": {},
                    "email": {},
                    "phone": {},
                    "position": {"field": "job_title"},
                    "birth_date": {},
                    "credit_limit": {},
                    "created_at": {},
                },
                "changes": {
                    "erase": {
                        "mask": {
                            "full_name": "redact",
                            "email": "hash",
                            "phone": None,  # YAML's unquoted null: the mask "null"
                            "created_at": "generalise",
                        }
                    },
                    "rectify": ["full_name", "position", "birth_date", "credit_limit"],
                    "restrict": {"column": "restricted"},
                    "stop_marketing": {"column": "marketing_opt_in", "value": False},
                },
            },
            "orders": {
                "category": "purchases",
                "key": "id",
                "subject_column": "account_id",
                "columns": {"status": {}, "ordered_at": {}, "total": {}},
                "changes": {
                    "erase": "delete",
                    "restrict": {"column": "restricted"},
                    "active": {"column": "status", "in": ["open", "processing"]},
                    "dated_by": "ordered_at",
                },
            },
            "order_lines": {
                "category": "purchases",
                "key": "id",
                "via": {"table": "orders", "column": "order_id"},
                "columns": {"product": {}, "quantity": {}},
                "changes": {"erase": "delete"},
            },
            # Nothing declared: changed by hand.
            "web_events": {
                "category": "browsing",
                "key": "id",
                "subject_column": "account_id",
                "columns": {"url": {}},
            },
        },
        "suppression": {
            "table": "marketing_suppressions",
            "columns": {"email": "email", "phone": "phone"},
            "values": {"reason": "objection"},
            "at": "suppressed_at",
        },
    }


def deleting_accounts() -> dict:
    config = mapping()
    config["tables"]["accounts"]["changes"]["erase"] = "delete"
    return config


@pytest.fixture
def connect(source):
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


def records_of(connector: SqlConnector, email: str = ARTA_EMAIL) -> list[RecordRef]:
    """Her records as gathering stores them: one per exported record."""
    lookup = connector.find_subject([Identifier("email", email)])
    (match,) = lookup.matches
    return [
        RecordRef(record.source, record.key, record.category, record.subject_key)
        for record in connector.export(match)
    ]


def request_for(connector: SqlConnector, intent: Intent, **extra) -> ChangeRequest:
    return ChangeRequest(intent=intent, records=records_of(connector), salt=SALT, **extra)


def contents(source: SourceDb) -> dict[str, list[tuple]]:
    engine = sa.create_engine(source.url)
    metadata = _schema()
    with engine.connect() as conn:
        tables = {
            table.name: [tuple(row) for row in conn.execute(sa.select(table).order_by(table.c.id))]
            for table in metadata.sorted_tables
        }
    engine.dispose()
    return tables


def row(source: SourceDb, table: str, key: int) -> dict:
    engine = sa.create_engine(source.url)
    described = _schema().tables[table]
    with engine.connect() as conn:
        found = conn.execute(sa.select(described).where(described.c.id == key)).mappings().first()
    engine.dispose()
    return dict(found) if found else {}


def apply_all(connector: SqlConnector, changes: list[Change]) -> dict[str, dict[str, Outcome]]:
    """Every automatic change, in order: target -> outcomes."""
    return {
        change.target: connector.apply(change).outcomes for change in changes if not change.manual
    }


def namesake_rows(source: SourceDb) -> dict[str, list[tuple]]:
    """Everything of the other Arta (account 2)."""
    tables = contents(source)
    return {
        "accounts": [r for r in tables["accounts"] if r[0] == 2],
        "orders": [r for r in tables["orders"] if r[1] == 2],
        "order_lines": [r for r in tables["order_lines"] if r[1] == 20],
        "web_events": [r for r in tables["web_events"] if r[1] == 2],
    }


# --- the mapping ---------------------------------------------------------------------------


def _set(path: str, value):
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        target = config
        for part in parents:
            target = target[part]
        target[last] = value

    return change


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            _set("tables.orders.changes.erase", "shred"),
            "tables.orders.changes.erase: must be delete, or {mask: {column: mask}}",
        ),
        (
            _set("tables.accounts.changes.erase", {"mask": {"full_name": "scramble"}}),
            "tables.accounts.changes.erase.mask.full_name: must be one of null, redact, hash, "
            "generalise",
        ),
        (
            _set("tables.accounts.changes.erase", {"mask": {"full name": "redact"}}),
            "tables.accounts.changes.erase.mask: 'full name' is not a plain SQL identifier",
        ),
        (
            _set("tables.accounts.changes.rectify", "full_name"),
            "tables.accounts.changes.rectify: must be a list of the columns that may be corrected",
        ),
        (
            _set("tables.accounts.changes.rectify", ["full_name; drop"]),
            "tables.accounts.changes.rectify: 'full_name; drop' is not a plain SQL identifier",
        ),
        (
            _set("tables.orders.changes.restrict", {"column": "restricted", "to": True}),
            "tables.orders.changes.restrict: unknown key 'to'",
        ),
        (
            _set("tables.accounts.changes.stop_marketing", {"column": "marketing_opt_in"}),
            "tables.accounts.changes.stop_marketing.value: required",
        ),
        (
            _set("tables.orders.changes.active", {"column": "status"}),
            "tables.orders.changes.active: must be {column: ..., in: [...]}",
        ),
        (
            _set("tables.orders.changes.dated_by", "ordered at"),
            "tables.orders.changes.dated_by: 'ordered at' is not a plain SQL identifier",
        ),
        (
            _set("tables.orders.changes.purge", "delete"),
            "tables.orders.changes: unknown key 'purge'",
        ),
        (
            _set("tables.orders.changes", "delete"),
            "tables.orders.changes: must be a mapping",
        ),
        (
            _set("suppression.columns", {"name_company": "name"}),
            "suppression.columns: 'name_company' is not an identifier kind of one column",
        ),
        (_set("suppression.table", None), "suppression.table: required"),
        (_set("suppression.when", "now"), "suppression: unknown key 'when'"),
        (
            _set("suppression.values", {"reason": ["a", "b"]}),
            "suppression.values.reason: must be a plain value",
        ),
    ],
)
def test_validate_config_names_a_broken_change(change, problem):
    config = copy.deepcopy(mapping())
    change(config)
    problems = SqlConnector.validate_config(config)
    assert any(problem in text for text in problems), problems


def test_validate_config_accepts_the_changes_and_the_suppression_list():
    assert SqlConnector.validate_config(mapping()) == []


def test_check_is_clean_when_the_changed_columns_exist(crm):
    assert crm.check() == []


def test_check_names_a_missing_change_column(connect):
    config = mapping()
    config["tables"]["orders"]["changes"]["dated_by"] = "shipped_at"
    config["suppression"]["at"] = "listed_at"
    problems = connect(config).check()
    assert "table 'orders' has no column 'shipped_at'" in problems
    assert "table 'marketing_suppressions' has no column 'listed_at'" in problems


# --- describing records --------------------------------------------------------------------


def test_describe_records_reads_whether_a_row_is_active_and_its_date(crm):
    facts = crm.describe_records(
        [
            RecordRef("orders", "orders:10"),
            RecordRef("orders", "orders:11"),
            RecordRef("accounts", "accounts:1"),
            RecordRef("orders", "orders:99"),
            RecordRef("orders", "orders:not-a-number"),
            RecordRef("somewhere_else", "somewhere_else:1"),
        ]
    )
    assert facts == {
        "orders:10": RecordFacts(exists=True, active=True, dated=date(2024, 3, 2)),
        "orders:11": RecordFacts(exists=True, active=False, dated=date(2023, 5, 1)),
        "accounts:1": RecordFacts(exists=True, active=False, dated=None),
        "orders:99": RecordFacts(exists=False),
        "orders:not-a-number": RecordFacts(exists=False),
        "somewhere_else:1": RecordFacts(),
    }


def test_describe_records_reads_many_keys_in_batches(crm, monkeypatch):
    monkeypatch.setattr("dsar.connectors.sql.CHANGE_BATCH", 2)
    refs = [RecordRef("order_lines", f"order_lines:{key}") for key in (100, 101, 110, 200, 300)]
    facts = crm.describe_records(refs)
    assert [facts[ref.key].exists for ref in refs] == [True, True, True, True, False]


# --- planning ------------------------------------------------------------------------------


def test_an_erasure_is_planned_children_first_and_by_hand_where_nothing_is_declared(connect):
    crm = connect(deleting_accounts())
    changes = crm.plan_changes(request_for(crm, Intent.ERASE))
    order = [change.target for change in changes]
    assert order.index("order_lines") < order.index("orders") < order.index("accounts")
    assert order[-1] == "accounts"
    planned = {change.target: change for change in changes}
    assert planned["order_lines"].keys == ("order_lines:100", "order_lines:101", "order_lines:110")
    assert planned["orders"].strategy == Strategy.DELETE
    assert planned["accounts"].keys == ("accounts:1",)
    assert planned["web_events"].manual
    assert planned["web_events"].keys == ("web_events:1000", "web_events:1001")
    assert not any(change.manual for target, change in planned.items() if target != "web_events")


def test_an_erasure_by_mask_carries_the_columns_masks_and_the_plans_salt(crm):
    changes = crm.plan_changes(request_for(crm, Intent.ERASE))
    (accounts,) = [change for change in changes if change.target == "accounts"]
    assert accounts.strategy == Strategy.MASK
    assert accounts.columns == (
        ("full_name", Mask.REDACT),
        ("email", Mask.HASH),
        ("phone", Mask.NULL),
        ("created_at", Mask.GENERALISE),
    )
    assert accounts.salt == SALT


def test_a_rectification_maps_register_fields_onto_the_listed_columns(crm):
    changes = crm.plan_changes(
        request_for(
            crm,
            Intent.RECTIFY,
            corrections={"job_title": "Head of print", "full_name": "Arta Hoxha", "email": "x@y"},
        )
    )
    # e-mail is not rectifiable here: not planned (the caller reports it); the tables holding
    # no corrected field get nothing, not even a change by hand.
    assert changes == [
        Change(
            target="accounts",
            strategy=Strategy.RECTIFY,
            keys=("accounts:1",),
            columns=(("full_name", "Arta Hoxha"), ("position", "Head of print")),
        )
    ]


def test_a_table_holding_a_corrected_field_without_rectify_is_corrected_by_hand(crm):
    changes = crm.plan_changes(
        request_for(crm, Intent.RECTIFY, corrections={"url": "https://x", "full_name": "A"})
    )
    by_hand = [change for change in changes if change.manual]
    assert [(c.target, c.columns) for c in by_hand] == [("web_events", (("url", "https://x"),))]


def test_a_restriction_is_planned_on_the_flagged_tables_and_by_hand_elsewhere(crm):
    changes = crm.plan_changes(request_for(crm, Intent.RESTRICT))
    planned = {change.target: change for change in changes}
    assert planned["accounts"].columns == (("restricted", True),)
    assert planned["orders"].strategy == Strategy.RESTRICT
    assert planned["order_lines"].manual and planned["web_events"].manual
    lifted = crm.plan_changes(request_for(crm, Intent.LIFT_RESTRICTION))
    assert {c.target: c.columns for c in lifted if not c.manual} == {
        "accounts": (("restricted", False),),
        "orders": (("restricted", False),),
    }


def test_stopping_marketing_clears_the_flag_and_lists_the_mapped_identifiers(crm):
    changes = crm.plan_changes(
        request_for(
            crm,
            Intent.STOP_MARKETING,
            identifiers={"email": ARTA_EMAIL, "phone": ARTA_PHONE, "customer_number": "C-1"},
        )
    )
    # Marketing stops through the flag and the list: no table is left to a person.
    assert changes == [
        Change(
            target="accounts",
            strategy=Strategy.STOP_MARKETING,
            keys=("accounts:1",),
            columns=(("marketing_opt_in", False),),
        ),
        Change(
            target="marketing_suppressions",
            strategy=Strategy.SUPPRESS,
            keys=("1",),
            columns=(("email", ARTA_EMAIL), ("phone", ARTA_PHONE)),
        ),
    ]


def test_an_erasure_adds_nothing_to_the_suppression_list(crm):
    changes = crm.plan_changes(request_for(crm, Intent.ERASE, identifiers={"email": ARTA_EMAIL}))
    assert all(change.strategy != Strategy.SUPPRESS for change in changes)


# --- applying ------------------------------------------------------------------------------


def test_a_delete_removes_the_rows_and_applied_again_finds_them_gone(crm, source):
    changes = [
        c for c in crm.plan_changes(request_for(crm, Intent.ERASE)) if c.strategy == Strategy.DELETE
    ]
    assert apply_all(crm, changes) == {
        "order_lines": {
            "order_lines:100": Outcome.DONE,
            "order_lines:101": Outcome.DONE,
            "order_lines:110": Outcome.DONE,
        },
        "orders": {"orders:10": Outcome.DONE, "orders:11": Outcome.DONE},
    }
    after = contents(source)
    assert [r[0] for r in after["orders"]] == [20]
    assert [r[0] for r in after["order_lines"]] == [200]
    again = apply_all(crm, changes)
    assert set(again["orders"].values()) == {Outcome.ALREADY_DONE}
    assert set(again["order_lines"].values()) == {Outcome.ALREADY_DONE}
    assert contents(source) == after


def test_a_mask_masks_each_column_by_its_rule_and_applied_again_changes_nothing(crm, source):
    namesake = namesake_rows(source)
    (mask,) = [
        c for c in crm.plan_changes(request_for(crm, Intent.ERASE)) if c.strategy == Strategy.MASK
    ]
    assert crm.apply(mask).outcomes == {"accounts:1": Outcome.DONE}
    masked = row(source, "accounts", 1)
    assert masked["full_name"] == ERASED_MARK
    assert masked["email"] == salted_hash(ARTA_EMAIL, SALT)
    assert masked["phone"] is None
    assert masked["created_at"] == datetime(2021, 1, 1)
    assert masked["position"] == "Buyer"  # not named by the mask
    after = contents(source)
    assert crm.apply(mask).outcomes == {"accounts:1": Outcome.ALREADY_DONE}
    assert contents(source) == after
    assert namesake_rows(source) == namesake


def test_a_stored_change_applies_the_same_with_the_salt_given_back(crm, source):
    (mask,) = [
        c for c in crm.plan_changes(request_for(crm, Intent.ERASE)) if c.strategy == Strategy.MASK
    ]
    stored = Change.from_dict(mask.to_dict(), salt=SALT)
    assert crm.apply(stored).outcomes == {"accounts:1": Outcome.DONE}
    assert row(source, "accounts", 1)["email"] == salted_hash(ARTA_EMAIL, SALT)


def test_a_hash_mask_without_the_salt_is_refused(crm, source):
    before = contents(source)
    change = Change("accounts", Strategy.MASK, ("accounts:1",), columns=(("email", "hash"),))
    with pytest.raises(ConnectorError, match="needs the plan's salt"):
        crm.apply(change)
    assert contents(source) == before


def test_a_rectification_converts_text_to_the_columns_types_and_touches_only_its_row(crm, source):
    namesake = namesake_rows(source)
    (change,) = crm.plan_changes(
        request_for(
            crm,
            Intent.RECTIFY,
            corrections={
                "full_name": "Arta Krasniqi-Hoxha",
                "birth_date": "1990-05-04",
                "credit_limit": "250.50",
            },
        )
    )
    assert crm.apply(change).outcomes == {"accounts:1": Outcome.DONE}
    rectified = row(source, "accounts", 1)
    assert rectified["full_name"] == "Arta Krasniqi-Hoxha"
    assert rectified["birth_date"] == date(1990, 5, 4)
    assert rectified["credit_limit"] == Decimal("250.50")
    after = contents(source)
    assert crm.apply(change).outcomes == {"accounts:1": Outcome.ALREADY_DONE}
    assert contents(source) == after
    assert namesake_rows(source) == namesake


def test_a_correction_not_of_the_columns_type_is_refused_without_its_value(crm, source):
    before = contents(source)
    change = Change(
        "accounts", Strategy.RECTIFY, ("accounts:1",), columns=(("birth_date", "4 May 1990"),)
    )
    with pytest.raises(ConnectorError) as caught:
        crm.apply(change)
    assert "accounts.birth_date is not of the column's type" in str(caught.value)
    assert "1990" not in str(caught.value)
    assert contents(source) == before


def test_restricting_sets_the_flag_once_and_lifting_clears_it(crm, source):
    restrict = [c for c in crm.plan_changes(request_for(crm, Intent.RESTRICT)) if not c.manual]
    assert apply_all(crm, restrict) == {
        "accounts": {"accounts:1": Outcome.DONE},
        "orders": {"orders:10": Outcome.DONE, "orders:11": Outcome.DONE},
    }
    assert row(source, "orders", 10)["restricted"] is True
    assert row(source, "orders", 20)["restricted"] is False  # the namesake's
    after = contents(source)
    assert set(apply_all(crm, restrict)["orders"].values()) == {Outcome.ALREADY_DONE}
    assert contents(source) == after
    lift = [c for c in crm.plan_changes(request_for(crm, Intent.LIFT_RESTRICTION)) if not c.manual]
    assert apply_all(crm, lift)["accounts"] == {"accounts:1": Outcome.DONE}
    assert row(source, "accounts", 1)["restricted"] is False


def test_stopping_marketing_lists_the_address_once_beside_the_phone_listed_before(crm, source):
    changes = crm.plan_changes(
        request_for(
            crm, Intent.STOP_MARKETING, identifiers={"email": ARTA_EMAIL, "phone": ARTA_PHONE}
        )
    )
    assert apply_all(crm, changes) == {
        "accounts": {"accounts:1": Outcome.DONE},
        "marketing_suppressions": {"1": Outcome.DONE},
    }
    assert row(source, "accounts", 1)["marketing_opt_in"] is False
    listed = contents(source)["marketing_suppressions"]
    assert [(r[2], r[3], r[4]) for r in listed] == [
        (None, ARTA_PHONE, "complaint"),  # listed before: not listed twice
        (ARTA_EMAIL, None, "objection"),
    ]
    assert listed[1][5] is not None  # when
    after = contents(source)
    assert apply_all(crm, changes) == {
        "accounts": {"accounts:1": Outcome.ALREADY_DONE},
        "marketing_suppressions": {"1": Outcome.ALREADY_DONE},
    }
    assert contents(source) == after


def test_stopping_marketing_at_a_time_keeps_the_first_time(connect, source):
    config = mapping()
    config["tables"]["accounts"]["changes"]["stop_marketing"] = {
        "column": "marketing_stopped_at",
        "value": "now",
    }
    crm = connect(config)
    (change,) = [
        c
        for c in crm.plan_changes(request_for(crm, Intent.STOP_MARKETING))
        if c.target == "accounts"
    ]
    assert crm.apply(change).outcomes == {"accounts:1": Outcome.DONE}
    stopped = row(source, "accounts", 1)["marketing_stopped_at"]
    assert isinstance(stopped, datetime)
    assert crm.apply(change).outcomes == {"accounts:1": Outcome.ALREADY_DONE}
    assert row(source, "accounts", 1)["marketing_stopped_at"] == stopped


def test_the_suppression_list_survives_an_erasure_of_the_account(connect, source):
    crm = connect(deleting_accounts())
    suppress = crm.plan_changes(
        request_for(crm, Intent.STOP_MARKETING, identifiers={"email": ARTA_EMAIL})
    )
    apply_all(crm, suppress)
    erase = crm.plan_changes(request_for(crm, Intent.ERASE))
    # A person deletes the web events (the change by hand); the rest runs in plan order.
    engine = sa.create_engine(source.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM web_events WHERE account_id = 1")
    engine.dispose()
    outcomes = apply_all(crm, erase)
    assert outcomes["accounts"] == {"accounts:1": Outcome.DONE}
    after = contents(source)
    assert [r[0] for r in after["accounts"]] == [2]
    # Both rows stay listed, no longer linked to an account that is gone.
    assert [(r[1], r[2], r[3]) for r in after["marketing_suppressions"]] == [
        (None, None, ARTA_PHONE),
        (None, ARTA_EMAIL, None),
    ]


def test_a_delete_blocked_by_a_foreign_key_is_a_plain_error_and_deletes_nothing(connect, source):
    crm = connect(deleting_accounts())
    before = contents(source)
    delete = Change("accounts", Strategy.DELETE, ("accounts:1",))
    with pytest.raises(ConnectorError) as caught:
        crm.apply(delete)
    message = str(caught.value)
    assert "the rows of 'accounts' cannot be deleted before the rows of other tables" in message
    assert ARTA_EMAIL not in message and "Arta" not in message and "1" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert contents(source) == before


def test_the_namesake_is_never_touched_by_her_whole_erasure(crm, source):
    namesake = namesake_rows(source)
    apply_all(crm, crm.plan_changes(request_for(crm, Intent.ERASE)))
    assert namesake_rows(source) == namesake
    assert row(source, "accounts", 2)["email"] == NAMESAKE_EMAIL


def test_keys_of_another_table_or_type_and_rows_gone_are_missing(crm, source):
    before = contents(source)
    change = Change(
        "orders",
        Strategy.RESTRICT,
        ("accounts:2", "orders:abc", "orders:99"),
        columns=(("restricted", True),),
    )
    assert crm.apply(change).outcomes == {
        "accounts:2": Outcome.MISSING,
        "orders:abc": Outcome.MISSING,
        "orders:99": Outcome.MISSING,
    }
    assert contents(source) == before


def test_a_change_by_hand_is_not_applied_by_the_connector(crm):
    change = Change("web_events", Strategy.DELETE, ("web_events:1000",), manual=True)
    with pytest.raises(ConnectorError, match="a person carries out this change"):
        crm.apply(change)
