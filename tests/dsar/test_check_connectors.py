"""check_connectors and the admin refuse each bad configuration with a message naming it."""

from __future__ import annotations

from io import StringIO

import pytest
import sqlalchemy as sa
from django.core.management import call_command

from dsar.demo import supportdesk
from dsar.models import SourceSystem

pytestmark = pytest.mark.django_db


@pytest.fixture
def source_db(tmp_path):
    path = tmp_path / "crm.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT)")
    return path


def sql_config(path, table="accounts", column="email"):
    return {
        "url": f"sqlite:///{path}",
        "subject": {"table": table, "key": "id", "identifiers": {"email": column}},
        "tables": {
            table: {
                "category": "online_account",
                "key": "id",
                "subject_column": "id",
                "columns": {column: {}},
            }
        },
    }


@pytest.fixture
def desk(tmp_path, monkeypatch):
    monkeypatch.setenv("DESK_TOKEN", "right-token-0123456789")
    db = supportdesk.create_database(tmp_path / "desk.sqlite3")
    server, _ = supportdesk.serve("127.0.0.1", 0, db, "right-token-0123456789")
    yield server
    server.stop()


def http_config(base_url, token_env="DESK_TOKEN"):
    return {
        "base_url": base_url,
        "auth": {"type": "bearer", "token_env": token_env},
        "timeout": 2,
        "lookup": {
            "path": "/api/customers",
            "params": {"{kind}": "{value}"},
            "identifiers": ["phone"],
            "results": "items",
            "subject_key": "id",
        },
        "export": [
            {
                "path": "/api/customers/{subject_key}/tickets",
                "category": "customer_enquiries",
                "results": "items",
                "key": "id",
            }
        ],
    }


def run_check(*slugs) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("check_connectors", *slugs, stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def add(slug, connector, config):
    return SourceSystem.objects.create(name=slug, slug=slug, connector=connector, config=config)


def test_a_good_configuration_passes(source_db, desk):
    add("crm", "sql", sql_config(source_db))
    add("desk", "http", http_config(desk.url))
    code, out = run_check()
    assert code == 0
    assert "ok   crm (sql)" in out and "ok   desk (http)" in out


@pytest.mark.parametrize(
    ("slug", "connector", "make_config", "expected"),
    [
        ("kind", "ftp", lambda db, desk: {}, "unknown connector type 'ftp'"),
        (
            "malformed",
            "sql",
            lambda db, desk: {"url": f"sqlite:///{db}", "subject": "accounts"},
            "subject",
        ),
        ("no-table", "sql", lambda db, desk: sql_config(db, table="customers"), "customers"),
        ("no-column", "sql", lambda db, desk: sql_config(db, column="mail"), "mail"),
        ("unreachable", "http", lambda db, desk: http_config("http://127.0.0.1:1"), "127.0.0.1:1"),
        (
            "bad-credentials",
            "http",
            lambda db, desk: http_config(desk.url, token_env="WRONG_TOKEN"),
            "credentials",
        ),
        (
            "missing-secret",
            "http",
            lambda db, desk: http_config(desk.url, token_env="NOT_SET_ANYWHERE"),
            "NOT_SET_ANYWHERE",
        ),
    ],
)
def test_check_connectors_names_each_fault(
    slug, connector, make_config, expected, source_db, desk, monkeypatch
):
    monkeypatch.setenv("WRONG_TOKEN", "not-the-token-000000")
    add("good", "sql", sql_config(source_db))
    add(slug, connector, make_config(source_db, desk))
    code, out = run_check()
    assert code == 1
    fail_lines = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert fail_lines and all(f"FAIL {slug} " in line for line in fail_lines)
    assert any(expected.lower() in line.lower() for line in fail_lines), out
    assert "ok   good (sql)" in out


def test_postgres_bad_credentials_are_named(require_postgres):
    add(
        "pg",
        "sql",
        {
            "url": "postgresql+psycopg://no_such_role@127.0.0.1:5432/postgres",
            "subject": {"table": "accounts", "key": "id", "identifiers": {"email": "email"}},
            "tables": {
                "accounts": {
                    "category": "online_account",
                    "key": "id",
                    "subject_column": "id",
                    "columns": {"email": {}},
                }
            },
        },
    )
    code, out = run_check("pg")
    assert code == 1
    assert "refused the credentials" in out


def test_the_admin_refuses_to_save_a_system_with_a_missing_table(
    client, django_user_model, source_db
):
    admin_user = django_user_model.objects.create_superuser(
        "root", "root@staff.demo.example", "x" * 20
    )
    client.force_login(admin_user)
    import json

    response = client.post(
        "/admin/dsar/sourcesystem/add/",
        {
            "name": "CRM",
            "slug": "crm",
            "connector": "sql",
            "active": "on",
            "config": json.dumps(sql_config(source_db, table="customers")),
            "description": "",
            "owner_email": "",
        },
    )
    assert response.status_code == 200
    assert "customers" in response.content.decode()
    assert not SourceSystem.objects.filter(slug="crm").exists()


def test_the_admin_refuses_an_unknown_connector_type(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser(
        "root", "root@staff.demo.example", "x" * 20
    )
    client.force_login(admin_user)
    response = client.post(
        "/admin/dsar/sourcesystem/add/",
        {
            "name": "X",
            "slug": "x",
            "connector": "ftp",
            "active": "on",
            "config": "{}",
            "description": "",
            "owner_email": "",
        },
    )
    assert "unknown connector type" in response.content.decode()
    assert not SourceSystem.objects.exists()


def test_columns_without_a_register_field_are_warned_about_without_failing(source_db):
    from dsar.models import DataCategory, DataField

    category, _ = DataCategory.objects.get_or_create(
        slug="online_account", defaults={"code": "2.1", "name_sq": "Llogaria", "name_en": "Account"}
    )
    config = sql_config(source_db)
    config["tables"]["accounts"]["columns"] = {"email": {"field": "business_email"}}
    add("crm", "sql", config)
    code, out = run_check()
    assert code == 0
    assert "WARN crm (sql): accounts: column 'email' fills no field of the register" in out
    DataField.objects.create(
        category=category, key="business_email", name_sq="Emaili", name_en="E-mail"
    )
    code, out = run_check()
    assert code == 0 and "WARN" not in out


def test_each_kind_of_mapping_names_the_field_of_its_columns(tmp_path):
    from dsar.connectors.files import CsvFolderConnector
    from dsar.connectors.http import HttpConnector
    from dsar.connectors.sql import SqlConnector

    sql = sql_config(tmp_path / "x.sqlite3")
    sql["tables"]["accounts"]["columns"] = {
        "email": {"field": "business_email"},
        "paid_amount": {"currency": "EUR"},
    }
    assert [
        (c.category, c.source, c.column, c.field, c.currency)
        for c in SqlConnector.exported_columns(sql)
    ] == [
        ("online_account", "accounts", "email", "business_email", ""),
        ("online_account", "accounts", "paid_amount", "paid_amount", "EUR"),
    ]
    desk = http_config("http://127.0.0.1:1")
    desk["export"][0]["fields"] = {"subject": {}, "body": {"field": "enquiry"}}
    assert [(c.source, c.column, c.field) for c in HttpConnector.exported_columns(desk)] == [
        ("/api/customers/{subject_key}/tickets", "subject", "subject"),
        ("/api/customers/{subject_key}/tickets", "body", "enquiry"),
    ]
    lists = {
        "folder": str(tmp_path),
        "category": "events",
        "identifiers": {"email": "Email"},
        "columns": {"Email": {}, "Dietary needs": {"field": "dietary_requirements"}},
    }
    assert [(c.source, c.column, c.field) for c in CsvFolderConnector.exported_columns(lists)] == [
        ("*", "Email", "email"),
        ("*", "Dietary needs", "dietary_requirements"),
    ]


def test_a_bad_field_or_currency_is_refused():
    from dsar.connectors.sql import SqlConnector

    config = sql_config("/nowhere.sqlite3")
    config["tables"]["accounts"]["columns"] = {"email": {"field": "Not A Key", "currency": "euro"}}
    problems = SqlConnector.validate_config(config)
    assert any("field" in p for p in problems) and any("currency" in p for p in problems)
