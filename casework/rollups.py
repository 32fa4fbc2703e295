"""The dashboard's rollups (`casework.models.figures`) kept by the database: one SQL text per
figure's contribution, used by the triggers and by the rebuild alike, so they cannot disagree.

PostgreSQL: statement-level AFTER triggers with transition tables on the case table. Each
INSERT, UPDATE or DELETE statement adds up the old rows' contributions (negative) and the new
rows' (positive) by key, and applies only the keys whose counts changed (so the usual save of a
case that changes no figure writes nothing), in key order; rows left counting nothing are deleted.
A bulk INSERT of a million cases is one GROUP BY, not a million upserts. TRUNCATE empties them.

SQLite (the fast test run, `make run`): row-level triggers with the same SQL over OLD and NEW;
the controller's local month and days (and an md5) come from functions this module registers
on every connection (`register_sqlite_functions`), as Django does for its own date functions.

Months and days are the controller's local calendar (settings.DSAR_TIME_ZONE, written into the
triggers when they are installed: `manage.py rebuild_dashboard_rollups` installs them again
after the zone changed), the same as the selectors' TruncMonth(..., tzinfo=zone):
`date_trunc('month', closed_at AT TIME ZONE zone)` in PostgreSQL.
"""

# S608: the SQL here is built from this module's constants, the models' column names and a
# checked time zone name (`_zone`); no value from a request or a case reaches it.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import hashlib
import re
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from casework import deadlines
from casework.models import OPEN_STATES, CaseCloseDays, CaseGrounds, CaseMonthFigures, State

CASE_TABLE = "casework_case"
MONTHS = CaseMonthFigures._meta.db_table
DAYS = CaseCloseDays._meta.db_table
GROUNDS = CaseGrounds._meta.db_table
ROLLUPS = (CaseMonthFigures, CaseCloseDays, CaseGrounds)
ANSWERED = (State.COMPLETED, State.REJECTED)  # casework.selectors.dashboard.ANSWERED_STATES
# The case columns a figure reads: a change to any other leaves the rollups as they are.
COLUMNS = (
    "received_at",
    "closed_at",
    "due_at",
    "original_due_at",
    "extension_announced_at",
    "state",
    "regime",
    "request_type",
    "channel",
    "assignee_id",
    "rejected_as_unfounded",
    "rejection_reason",
    "extension_reason",
    "confidential",
)
TRIGGERS = ("insert", "update", "delete", "truncate")
SQLITE_TRIGGERS = ("insert", "update", "delete")
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-/]+$")


def _zone(zone: str | None = None) -> str:
    name = zone or deadlines.controller_tz().key
    if not _ZONE_NAME.match(name):
        raise ValueError(f"not a time zone name: {name!r}")
    ZoneInfo(name)  # raises for an unknown zone
    return name


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# --- the local calendar, in SQL ----------------------------------------------------------------


class _Postgres:
    def __init__(self, zone: str):
        self.zone = zone

    def month(self, column: str) -> str:
        return f"date_trunc('month', {column} AT TIME ZONE '{self.zone}')::date"

    def days(self, received: str, closed: str) -> str:
        return (
            f"(({closed} AT TIME ZONE '{self.zone}')::date"
            f" - ({received} AT TIME ZONE '{self.zone}')::date)"
        )

    def md5(self, text: str) -> str:
        return f"md5({text})"


class _Sqlite:
    def __init__(self, zone: str):
        self.zone = zone

    def month(self, column: str) -> str:
        return f"dsar_local_month({column}, '{self.zone}')"

    def days(self, received: str, closed: str) -> str:
        return f"dsar_local_days({received}, {closed}, '{self.zone}')"

    def md5(self, text: str) -> str:
        return f"dsar_md5({text})"


SUPPORTED_VENDORS = ("postgresql", "sqlite")


def _dialect(vendor: str, zone: str | None = None):
    if vendor == "postgresql":
        return _Postgres(_zone(zone))
    if vendor == "sqlite":
        return _Sqlite(_zone(zone))
    # casework.checks.check_database_vendor says so at start, before any migration runs.
    raise ImproperlyConfigured(f"the dashboard's rollups support {SUPPORTED_VENDORS}, not {vendor}")


def local_days_sql(vendor: str, received: str, closed: str) -> str:
    """The SQL of the local days from `received` to `closed` (for the live part months)."""
    return _dialect(vendor).days(received, closed)


def _parse(value: str) -> dt.datetime:
    """A datetime as Django stores it in SQLite (UTC, naive) as an aware datetime."""
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def local_month(value: str | None, zone: str) -> str | None:
    if value is None:
        return None
    return _parse(value).astimezone(ZoneInfo(zone)).date().replace(day=1).isoformat()


def local_days(received: str | None, closed: str | None, zone: str) -> int | None:
    if received is None or closed is None:
        return None
    tz = ZoneInfo(zone)
    return (_parse(closed).astimezone(tz).date() - _parse(received).astimezone(tz).date()).days


def md5(text: str | None) -> str | None:
    return None if text is None else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """`connection_created`: the functions the SQLite triggers and selectors call."""
    if connection.vendor != "sqlite":
        return
    connection.connection.create_function("dsar_local_month", 2, local_month, deterministic=True)
    connection.connection.create_function("dsar_local_days", 3, local_days, deterministic=True)
    connection.connection.create_function("dsar_md5", 1, md5, deterministic=True)


# --- what each case contributes ------------------------------------------------------------------


def _month_contributions(source: str, sign: int, sql) -> str:
    """The rows of CaseMonthFigures the cases of `source` (aliased c) add (`sign` 1) or take
    away (-1): one for the receipt, one for the answer, one for the extension's
    announcement."""
    s = str(sign)
    answered = f"c.state IN {_in(ANSWERED)}"
    refused = f"c.state = '{State.REJECTED}'"
    in_time = "c.closed_at <= c.due_at"
    key = "c.regime, c.request_type, c.channel, COALESCE(c.assignee_id, 0) AS assignee_id"

    def when(condition: str) -> str:
        return f"CASE WHEN {condition} THEN {s} ELSE 0 END"

    received = (
        f"SELECT {sql.month('c.received_at')} AS month, {key}, {s} AS received, "
        f"{when(answered)} AS received_answered, "
        f"{when(f'{answered} AND {in_time}')} AS received_in_time, "
        f"{when('c.original_due_at IS NOT NULL')} AS received_extended, "
        f"{when(refused)} AS received_refused, "
        f"{when(f'c.state IN {_in(OPEN_STATES)}')} AS received_open, "
        "0 AS answered, 0 AS answered_in_time, 0 AS refused, 0 AS refused_unfounded, "
        f"0 AS extended FROM {source} AS c"
    )
    closed = (
        f"SELECT {sql.month('c.closed_at')} AS month, {key}, 0, 0, 0, 0, 0, 0, {s}, "
        f"{when(in_time)}, {when(refused)}, {when(f'{refused} AND c.rejected_as_unfounded')}, "
        f"0 FROM {source} AS c WHERE {answered} AND c.closed_at IS NOT NULL"
    )
    extended = (
        f"SELECT {sql.month('c.extension_announced_at')} AS month, {key}, "
        f"0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {s} FROM {source} AS c "
        "WHERE c.original_due_at IS NOT NULL AND c.extension_announced_at IS NOT NULL"
    )
    return f"{received} UNION ALL {closed} UNION ALL {extended}"


def _days_contributions(source: str, sign: int, sql) -> str:
    return (
        f"SELECT {sql.month('c.closed_at')} AS month, c.regime, c.request_type, "
        f"COALESCE(c.assignee_id, 0) AS assignee_id, "
        f"{sql.days('c.received_at', 'c.closed_at')} AS days, {sign} AS answered "
        f"FROM {source} AS c WHERE c.state IN {_in(ANSWERED)} AND c.closed_at IS NOT NULL"
    )


def _grounds_contributions(source: str, sign: int, sql) -> str:
    """The grounds of refusals and extensions, of the cases that are not confidential."""
    key = "c.regime, c.request_type, COALESCE(c.assignee_id, 0) AS assignee_id"
    shown = "NOT c.confidential"
    refusal = (
        f"SELECT {sql.month('c.closed_at')} AS month, '{CaseGrounds.Kind.REFUSAL}' AS kind, "
        f"{key}, {sql.md5('c.rejection_reason')} AS reason_key, "
        f"c.rejection_reason AS reason, {sign} AS cases FROM {source} AS c "
        f"WHERE c.state = '{State.REJECTED}' AND c.closed_at IS NOT NULL AND {shown} "
        "AND c.rejection_reason <> ''"
    )
    extension = (
        f"SELECT {sql.month('c.extension_announced_at')}, '{CaseGrounds.Kind.EXTENSION}', "
        f"{key}, {sql.md5('c.extension_reason')}, c.extension_reason, {sign} "
        f"FROM {source} AS c WHERE c.original_due_at IS NOT NULL "
        f"AND c.extension_announced_at IS NOT NULL AND {shown} AND c.extension_reason <> ''"
    )
    return f"{refusal} UNION ALL {extension}"


def _summed(model, contributions: str) -> str:
    """The contributions added up by key, the keys whose counts do not all cancel out."""
    key = ", ".join(model.KEY)
    sums = ", ".join(
        [f"MAX({name}) AS {name}" for name in model.CARRIED]
        + [f"SUM({name}) AS {name}" for name in model.COUNTS]
    )
    changed = " OR ".join(f"SUM({name}) <> 0" for name in model.COUNTS)
    return f"SELECT {key}, {sums} FROM ({contributions}) AS d GROUP BY {key} HAVING {changed}"


def _upsert(model, summed: str, alias: str = "") -> str:
    """Add `summed` to the rows of `model`'s table (named `alias` where given: PostgreSQL;
    SQLite takes no alias in a trigger)."""
    table = model._meta.db_table
    key = ", ".join(model.KEY)
    columns = ", ".join((*model.KEY, *model.CARRIED, *model.COUNTS))
    prefix = f"{alias}." if alias else ""
    added = ", ".join(f"{name} = {prefix}{name} + excluded.{name}" for name in model.COUNTS)
    named = f"{table} AS {alias}" if alias else table
    return (
        f"INSERT INTO {named} ({columns}) SELECT {columns} FROM ({summed}) AS s "
        f"WHERE true ORDER BY {key} ON CONFLICT ({key}) DO UPDATE SET {added}"
    )


def _empty(model, alias: str = "") -> str:
    """A row that counts nothing. Counts are never below zero while the rollups match the
    cases; `<= 0` rather than `= 0` also clears what a delete of cases after their rollups
    leaves (Django's test flush on SQLite empties the tables in any order)."""
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f"{prefix}{name} <= 0" for name in model.COUNTS)


def _changes(model, old: str | None, new: str | None, sql) -> str:
    contributions = {
        CaseMonthFigures: _month_contributions,
        CaseCloseDays: _days_contributions,
        CaseGrounds: _grounds_contributions,
    }[model]
    parts = [contributions(source, sign, sql) for source, sign in ((old, -1), (new, 1)) if source]
    return _summed(model, " UNION ALL ".join(parts))


# --- PostgreSQL ------------------------------------------------------------------------------


def _postgres_function(operation: str, sql) -> str:
    old = "old_c" if operation in ("update", "delete") else None
    new = "new_c" if operation in ("update", "insert") else None
    # The transition tables hold whole case rows: read each once, into the columns used.
    columns = ", ".join(COLUMNS)
    narrowed = "".join(
        f"{name}_c AS MATERIALIZED (SELECT {columns} FROM {name}_rows), "
        for name, used in (("old", old), ("new", new))
        if used
    )
    body = []
    for model in ROLLUPS:
        table = model._meta.db_table
        body.append(
            f"WITH {narrowed}"
            f"applied AS ({_upsert(model, _changes(model, old, new, sql), 't')} "
            f"RETURNING t.id, ({_empty(model, 't')}) AS empty) "
            "SELECT array_agg(id) INTO emptied FROM applied WHERE empty;\n"
            f"IF emptied IS NOT NULL THEN DELETE FROM {table} "
            f"WHERE id = ANY(emptied) AND {_empty(model)}; END IF;"
        )
    return (
        f"CREATE OR REPLACE FUNCTION casework_case_figures_{operation}() RETURNS trigger AS $$\n"
        "DECLARE emptied bigint[];\nBEGIN\n" + "\n".join(body) + "\nRETURN NULL;\nEND;\n"
        "$$ LANGUAGE plpgsql;"
    )


def _postgres_install(zone: str | None) -> list[str]:
    sql = _dialect("postgresql", zone)
    statements = [_postgres_function(op, sql) for op in ("insert", "update", "delete")]
    statements.append(
        "CREATE OR REPLACE FUNCTION casework_case_figures_truncate() RETURNS trigger AS $$\n"
        f"BEGIN DELETE FROM {MONTHS}; DELETE FROM {DAYS}; DELETE FROM {GROUNDS}; RETURN NULL;"
        " END;\n"
        "$$ LANGUAGE plpgsql;"
    )
    transitions = {
        "insert": "REFERENCING NEW TABLE AS new_rows",
        "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "delete": "REFERENCING OLD TABLE AS old_rows",
        "truncate": "",
    }
    for operation in TRIGGERS:
        statements.append(
            f"CREATE TRIGGER casework_case_figures_{operation} AFTER {operation.upper()} "
            f"ON {CASE_TABLE} {transitions[operation]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION casework_case_figures_{operation}()"
        )
    return statements


def _postgres_uninstall() -> list[str]:
    return [
        *(f"DROP TRIGGER IF EXISTS casework_case_figures_{op} ON {CASE_TABLE}" for op in TRIGGERS),
        *(f"DROP FUNCTION IF EXISTS casework_case_figures_{op}()" for op in TRIGGERS),
    ]


# --- SQLite ------------------------------------------------------------------------------------


def _row(name: str) -> str:
    """OLD or NEW as a one-row relation of the columns the figures read."""
    return "(SELECT " + ", ".join(f"{name}.{column} AS {column}" for column in COLUMNS) + ")"


def _sqlite_install(zone: str | None) -> list[str]:
    sql = _dialect("sqlite", zone)
    rows = {"insert": (None, "NEW"), "update": ("OLD", "NEW"), "delete": ("OLD", None)}
    statements = []
    for operation, (old, new) in rows.items():
        body = []
        for model in ROLLUPS:
            changes = _changes(model, old and _row(old), new and _row(new), sql)
            body.append(_upsert(model, changes) + ";")
            body.append(f"DELETE FROM {model._meta.db_table} WHERE {_empty(model)};")
        when = ""
        if operation == "update":
            when = "WHEN " + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS) + " "
        statements.append(
            f"CREATE TRIGGER casework_case_figures_{operation} AFTER {operation.upper()} "
            f"ON {CASE_TABLE} FOR EACH ROW {when}BEGIN\n" + "\n".join(body) + "\nEND"
        )
    return statements


def _sqlite_uninstall() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS casework_case_figures_{op}" for op in SQLITE_TRIGGERS]


# --- installing and rebuilding ---------------------------------------------------------------


def install(connection, zone: str | None = None) -> None:
    """(Re)install the triggers, with the controller's time zone (or `zone`)."""
    vendor = connection.vendor
    statements = _postgres_uninstall() if vendor == "postgresql" else _sqlite_uninstall()
    statements += _postgres_install(zone) if vendor == "postgresql" else _sqlite_install(zone)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def uninstall(connection) -> None:
    vendor = connection.vendor
    statements = _postgres_uninstall() if vendor == "postgresql" else _sqlite_uninstall()
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def rebuild(connection, zone: str | None = None) -> dict[str, int]:
    """Count the rollups again from every case, in one transaction, with writes to the cases
    held off meanwhile (PostgreSQL: SHARE lock; SQLite has one writer anyway). Returns the
    number of rows of each table."""
    sql = _dialect(connection.vendor, zone)
    made = {}
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {CASE_TABLE} IN SHARE MODE")
        for model in ROLLUPS:
            table = model._meta.db_table
            columns = ", ".join((*model.KEY, *model.CARRIED, *model.COUNTS))
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} "
                f"FROM ({_changes(model, None, CASE_TABLE, sql)}) AS s"
            )
            made[table] = cursor.rowcount
    return made
