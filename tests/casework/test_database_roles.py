"""The two database roles: the owner migrates, the application's role owns nothing and may only
append to the audit trail (casework.dbroles, docker/postgres-init).

The deployment is made for real, once for the module: the init script of docker-compose.yml
creates an owner and an application role (named per run: roles are shared by the whole
server) and their database, `migrate` and `grant_app_role` run as the owner, and the tests
connect as each role.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import errors
from psycopg import sql as pgsql

from casework.checks import check_database_role
from casework.dbroles import append_only_tables
from casework.models import AuditAnchor, AuditChain, Case
from tests.conftest import service_missing

INIT_SCRIPT = settings.BASE_DIR / "docker" / "postgres-init" / "10-dsar-roles.sh"
EVENTS, CHECKPOINTS = append_only_tables()


@dataclass
class Deployment:
    owner: str
    app: str
    owner_url: str
    app_url: str

    def manage(self, url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DATABASE_URL": url, "DSAR_SECURE": "0", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def connect(self, url: str) -> psycopg.Connection:
        return psycopg.connect(url, autocommit=True)


def _url(user: str, password: str, database: str) -> str:
    server = settings.DATABASES["default"]
    host, port = server.get("HOST") or "127.0.0.1", server.get("PORT") or 5432
    return f"postgres://{quote(user)}:{quote(password)}@{host}:{port}/{database}"


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    if not settings.DATABASE_IS_POSTGRES:
        service_missing("PostgreSQL (set DATABASE_URL)")
    if not shutil.which("psql"):
        service_missing("psql, to run the PostgreSQL init script")
    server = settings.DATABASES["default"]
    run = secrets.token_hex(4)
    owner, app, database = f"dsar_owner_{run}", f"dsar_app_{run}", f"dsar_roles_{run}"
    owner_password, app_password = secrets.token_hex(16), secrets.token_hex(16)
    admin_url = _url(server.get("USER") or "postgres", server.get("PASSWORD") or "", "postgres")
    try:
        subprocess.run(
            ["sh", str(INIT_SCRIPT)],
            env={
                **os.environ,
                "PGHOST": str(server.get("HOST") or "127.0.0.1"),
                "PGPORT": str(server.get("PORT") or 5432),
                "PGPASSWORD": server.get("PASSWORD") or "",
                "POSTGRES_USER": server.get("USER") or "postgres",
                "DSAR_DB_OWNER": owner,
                "DSAR_DB_APP": app,
                "DSAR_DB_NAME": database,
                "DSAR_DB_OWNER_PASSWORD": owner_password,
                "DSAR_DB_APP_PASSWORD": app_password,
            },
            check=True,
            capture_output=True,
            timeout=60,
        )
        deployment = Deployment(
            owner=owner,
            app=app,
            owner_url=_url(owner, owner_password, database),
            app_url=_url(app, app_password, database),
        )
        for args in (("migrate", "--noinput", "--skip-checks"), ("grant_app_role", app)):
            done = deployment.manage(deployment.owner_url, *args)
            assert done.returncode == 0, done.stderr
        yield deployment
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(database)
                )
            )
            for role in (app, owner):
                admin.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))


@pytest.fixture
def as_app(deployment):
    with deployment.connect(deployment.app_url) as connection:
        yield connection


def secure_env() -> dict[str, str]:
    """What settings demand with DSAR_SECURE=1 (throwaway keys)."""
    env = {"DSAR_SECURE": "1", "SECRET_KEY": secrets.token_urlsafe(50)}
    for name in ("DSAR_BUNDLE_KEY", "DSAR_AUDIT_KEY"):
        env[name] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return env


def test_the_init_script_makes_two_roles_that_are_not_superusers(deployment):
    with deployment.connect(deployment.owner_url) as connection:
        rows = connection.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = ANY(%s) ORDER BY rolname",
            [[deployment.owner, deployment.app]],
        ).fetchall()
        owners = connection.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    assert rows == [(deployment.app, False, False, False), (deployment.owner, False, False, False)]
    assert owners == [(deployment.owner,)]


def test_the_application_role_records_cases_and_their_audit_trail(deployment):
    created = deployment.manage(
        deployment.app_url, "create_case", "--type", "access", "--email", "arta@demo.example"
    )
    assert created.returncode == 0, created.stderr
    verified = deployment.manage(deployment.app_url, "verify_audit_trail")
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout


@pytest.mark.parametrize("table", [EVENTS, CHECKPOINTS])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {} SET seq = seq",
        "DELETE FROM {}",
        "TRUNCATE {}",
        "ALTER TABLE {} DISABLE TRIGGER ALL",
        "ALTER TABLE {} DISABLE TRIGGER USER",
        "DROP TABLE {}",
    ],
)
def test_the_application_role_cannot_change_or_unguard_the_audit_tables(as_app, table, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        as_app.execute(pgsql.SQL(statement).format(pgsql.Identifier(table)))


def test_the_application_role_cannot_drop_the_append_only_trigger(as_app):
    trigger = f"{EVENTS}_append_only"
    with pytest.raises(errors.InsufficientPrivilege):
        as_app.execute(
            pgsql.SQL("DROP TRIGGER {} ON {}").format(
                pgsql.Identifier(trigger), pgsql.Identifier(EVENTS)
            )
        )


@pytest.mark.parametrize(
    ("table", "column"),
    [(AuditChain._meta.db_table, "head_seq"), (AuditAnchor._meta.db_table, "seq")],
)
def test_the_application_role_moves_the_chain_heads_and_anchor_but_never_deletes_them(
    as_app, table, column
):
    # Every append locks and updates these rows; a rollback of them is what the exported
    # anchor catches (verify_audit_trail --anchors), so UPDATE is all that is given away.
    as_app.execute(
        pgsql.SQL("UPDATE {} SET {} = {} WHERE false").format(
            pgsql.Identifier(table), pgsql.Identifier(column), pgsql.Identifier(column)
        )
    )
    for statement in ("DELETE FROM {}", "TRUNCATE {}"):
        with pytest.raises(errors.InsufficientPrivilege):
            as_app.execute(pgsql.SQL(statement).format(pgsql.Identifier(table)))


def test_the_application_role_reads_and_writes_the_other_tables_but_not_their_structure(as_app):
    cases = pgsql.Identifier(Case._meta.db_table)
    as_app.execute(pgsql.SQL("SELECT count(*) FROM {}").format(cases))
    as_app.execute(pgsql.SQL("DELETE FROM {} WHERE false").format(cases))
    for statement in ("TRUNCATE {}", "ALTER TABLE {} ADD COLUMN extra text"):
        with pytest.raises(errors.InsufficientPrivilege):
            as_app.execute(pgsql.SQL(statement).format(cases))
    with pytest.raises(errors.InsufficientPrivilege):
        as_app.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())"
        )


def test_grant_app_role_takes_back_a_right_given_by_hand(deployment, as_app):
    events = pgsql.Identifier(EVENTS)
    with deployment.connect(deployment.owner_url) as owner:
        owner.execute(
            pgsql.SQL("GRANT DELETE ON {} TO {}").format(events, pgsql.Identifier(deployment.app))
        )
    granted = deployment.manage(deployment.owner_url, "grant_app_role", deployment.app)
    assert granted.returncode == 0, granted.stderr
    assert f"{EVENTS}: SELECT, INSERT" in granted.stdout
    with pytest.raises(errors.InsufficientPrivilege):
        as_app.execute(pgsql.SQL("DELETE FROM {}").format(events))


def test_grant_app_role_refuses_the_owner_itself(deployment):
    refused = deployment.manage(deployment.owner_url, "grant_app_role", deployment.owner)
    assert refused.returncode != 0
    assert "this connection's role" in refused.stderr


def test_the_system_check_passes_the_application_role_with_dsar_secure(deployment):
    checked = deployment.manage(
        deployment.app_url, "check", "--database", "default", **secure_env()
    )
    assert checked.returncode == 0, checked.stderr
    assert "casework.E002" not in checked.stderr + checked.stdout


def test_the_system_check_stops_the_owner_role_with_dsar_secure(deployment):
    checked = deployment.manage(
        deployment.owner_url, "check", "--database", "default", **secure_env()
    )
    assert checked.returncode != 0
    assert "casework.E002" in checked.stderr
    assert f"'{deployment.owner}' owns {CHECKPOINTS}, {EVENTS}" in checked.stderr


# --- against the test database, whose role owns its tables (and is a superuser in CI) --------


def test_the_system_check_warns_about_a_role_that_owns_the_audit_tables(require_postgres, db):
    (warning,) = check_database_role(databases=["default"])
    assert warning.id == "casework.W002"
    assert "append-only trigger" in warning.msg


def test_the_system_check_is_an_error_with_dsar_secure(require_postgres, db, settings):
    settings.DSAR_SECURE = True
    (error,) = check_database_role(databases=["default"])
    assert error.id == "casework.E002"


def test_the_system_check_asks_the_database_only_when_a_command_names_it():
    assert check_database_role(databases=None) == []


def test_grant_app_role_refuses_a_superuser_and_an_unknown_role(require_postgres, db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY oid LIMIT 1")
        (superuser,) = cursor.fetchone()
    with pytest.raises(CommandError, match="superuser"):
        call_command("grant_app_role", superuser)
    with pytest.raises(CommandError, match="no database role"):
        call_command("grant_app_role", "no_such_role_" + secrets.token_hex(4))
