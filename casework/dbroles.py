"""The two PostgreSQL roles of a deployment: the owner, which migrates, and the application's
role, which owns nothing and may only append to the audit trail.

The trigger of migration 0003 refuses UPDATE and DELETE on the audit tables, but an owner can
disable a trigger, and TRUNCATE does not fire it. So the role the web server and the workers
connect as must not own those tables, and gets only SELECT and INSERT on them. The chain heads
and the anchor row need UPDATE too (every append moves them); a rollback of those rows is what
the anchor exported outside the database catches (casework.anchors).
"""

from __future__ import annotations

from django.db import connections, transaction
from psycopg import sql

from casework.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent

# Every other table in the schema: read and write, nothing more (no TRUNCATE, REFERENCES or
# TRIGGER; those, and ALTER, stay with the owner).
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")


def append_only_tables() -> list[str]:
    """The tables the trigger guards."""
    return [AuditEvent._meta.db_table, AuditCheckpoint._meta.db_table]


def app_role_privileges() -> dict[str, tuple[str, ...]]:
    """The tables the application's role gets less than READ_WRITE on, and what it gets."""
    privileges = {table: ("SELECT", "INSERT") for table in append_only_tables()}
    # Moved by every append (under a row lock, which needs UPDATE); never deleted.
    for model in (AuditChain, AuditAnchor):
        privileges[model._meta.db_table] = ("SELECT", "INSERT", "UPDATE")
    # Only `migrate`, run by the owner, writes here.
    privileges["django_migrations"] = ("SELECT",)
    return privileges


class RoleError(Exception):
    pass


def grant_app_role(role: str, *, using: str = "default") -> list[str]:
    """Give `role` exactly the application's rights on every table of the current schema,
    taking back anything else it had there. Run by the owner after every `migrate` (new tables
    get no rights until then). Returns the tables whose rights are narrower than READ_WRITE."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise RoleError("database roles exist only on PostgreSQL")
    restricted = app_role_privileges()
    identifier = sql.Identifier(role)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, pg_has_role(oid, current_user, 'MEMBER'), current_schema() "
            "FROM pg_roles WHERE rolname = %s",
            [role],
        )
        row = cursor.fetchone()
        if row is None:
            raise RoleError(f"there is no database role {role!r}")
        superuser, owner_rights, schema = row
        if superuser:
            raise RoleError(f"{role!r} is a superuser: no grant can limit it")
        if owner_rights:
            # A member of the owner role has the owner's rights, whatever it is granted.
            raise RoleError(f"{role!r} is this connection's role, or a member of it")
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        tables = [name for (name,) in cursor.fetchall()]
        statements = [
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), identifier),
            # Start from nothing, so that a right given by hand or by an older version goes.
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(
                sql.Identifier(schema), identifier
            ),
            # None needed: an INSERT draws from the identity columns' sequences by itself.
            sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(
                sql.Identifier(schema), identifier
            ),
        ]
        for table in tables:
            statements.append(
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(map(sql.SQL, restricted.get(table, READ_WRITE))),
                    sql.Identifier(schema, table),
                    identifier,
                )
            )
        # One transaction: the application never sees a moment without its rights.
        with transaction.atomic(using=using):
            for statement in statements:
                cursor.execute(statement.as_string(cursor.connection))
    return [table for table in tables if table in restricted]


def connected_role(*, using: str = "default") -> tuple[str, bool, list[str]]:
    """The role this connection runs as, whether it is a superuser, and which of the audit
    tables it owns (or belongs to the owner role of: a member has the owner's rights)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        role, superuser = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname FROM pg_class c "
            "WHERE c.oid IN (SELECT to_regclass(t) FROM unnest(%s::text[]) AS t) "
            "AND pg_has_role(current_user, c.relowner, 'MEMBER') ORDER BY 1",
            [append_only_tables()],
        )
        owned = [name for (name,) in cursor.fetchall()]
    return role, superuser, owned
