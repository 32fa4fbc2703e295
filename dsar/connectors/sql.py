"""The SQL connector: any database SQLAlchemy reaches (PostgreSQL, MySQL/MariaDB, SQLite, ...).

A declarative mapping says where the subjects are and what to export:

    url_env: CRM_DATABASE_URL        # the environment variable holding the URL (or `url`,
                                     # refused when it carries a password)
    schema: crm                      # optional; the default schema otherwise
    connect_timeout: 5               # optional, seconds
    subject:
      table: accounts                # the table of subjects
      key: id                        # the column telling one subject from another
      identifiers: {email: email, phone: phone, name_company: [full_name, company]}
    tables:                          # every table to export, each reachable from the subject
      accounts: {category: online_account, key: id, subject_column: id,
                 columns: {email: {}, last_login_ip: {category: browsing},
                           customer_no: {field: customer_number},   # the register's field
                           paid_amount: {currency: EUR}}}           # an amount, in euros
      order_lines: {category: purchases, key: id, via: {table: orders, column: order_id},
                    columns: {product: {}}}   # order_id is exported too: the link is kept
      registrations: {category: events, key: id, subject_column: account_id,
                      label: {sq: Regjistrimet, en: Registrations},   # the report's caption
                      columns: {event_id: {field: event,
                                           lookup: {table: events, key: id, column: title}}}}

A column fills the register's field (DataField) whose key is its name, normalised, unless it
names another with `field`; the report shows it under that field's name in the subject's
language (`manage.py check_connectors` warns about columns without one).

A column holding another table's id can show that row's name instead (`lookup`): the export
query LEFT OUTER JOINs the lookup table on `key` and selects its `column` in place of the id
(a dangling id gives null, and the row is still exported). A looked-up column must name its
`field`, and its value is exported under that field's key, not the column's name: the value
is no longer the column's ("event": "Print summit", never "event_id": "Print summit"). The
lookup table needs no entry of its own under `tables`; `check()` names it when it is missing.

A table may carry a `label` ({sq: ..., en: ...}): what the report calls it in the subject's
language instead of the table's own name.

Fulfilment (changes.py) changes only what a table declares under `changes:`, and the
suppression list named at the top level:

    tables:
      accounts:
        changes:
          erase: delete             # or {mask: {full_name: redact, phone: "null",
                                    #              email: hash, created_at: generalise}}
          rectify: [full_name, phone]   # the columns that may be corrected; a column takes
                                        # the correction of the register field it fills
          restrict: {column: restricted}    # a boolean column: true = restricted
          stop_marketing: {column: marketing_opt_in, value: false}   # value "now": the time
          active: {column: status, in: [open, processing]}   # a row of an active relationship
          dated_by: ordered_at      # the date that counts for retention
    suppression:                    # the marketing suppression list, kept after an erasure
      table: marketing_suppressions
      columns: {email: email, phone: phone}   # identifier kind -> column; a row per identifier
      values: {reason: objection}             # optional constant columns
      at: suppressed_at                       # optional, set to the time of listing

Erasing deletes children before parents (an order's lines, then the order, then the account);
a foreign key that still points at a row makes the delete fail with a plain error, nothing is
half done. A record of a table that declares nothing for the intent is planned as a change by
hand. On SQLite, foreign keys are enforced (PRAGMA foreign_keys) on every connection.

The same keys may live in a YAML file named by `mapping_file` (see mapping.py), merged in by
BaseConnector as for every kind of connector.

Only names from the mapping go into SQL text, and only after they passed the identifier check;
values always travel as bound parameters. Driver messages never leave this module: they can
quote values ("Key (email)=(x@y) already exists"), so errors carry a fixed text naming the
system, the operation and the exception class.

Lookups compare normalised values (dsar.identifiers). E-mail and name+company compare
case-insensitively: `lower(column)` on PostgreSQL and SQLite (index it as `lower(column)`),
the column itself on MySQL/MariaDB, whose default *_ci collations already ignore case and so
keep a plain index usable. Phone numbers and codes are compared as stored: a column holding
"+355 4 222 0000" is not found by "+35542220000". Store them normalised, or name a column
that is (a generated column, indexed) for the lookups to compare:

      identifiers: {phone: {column: phone, normalised: phone_e164}}

  e.g. on PostgreSQL `phone_e164 text GENERATED ALWAYS AS (regexp_replace(phone, '[^0-9+]',
  '', 'g')) STORED` with an index; the stored value is still checked by the rule in Python.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time as clock
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url

from dsar.connectors.base import (
    AmbiguousIdentifier,
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    ExportedColumn,
    Lookup,
    Record,
    SubjectMatch,
    TransientConnectorError,
    check_column_options,
    check_label,
    field_key,
    manual_changes,
    plain_value,
)
from dsar.connectors.changes import (
    ERASED_MARK,
    Change,
    ChangeRequest,
    ChangeResult,
    Intent,
    Mask,
    Outcome,
    RecordFacts,
    RecordRef,
    Strategy,
    generalised,
    salted_hash,
)
from dsar.connectors.mapping import merged_config
from dsar.identifiers import IDENTIFIER_KINDS, Identifier

SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CATEGORY_SLUG = re.compile(r"^[-A-Za-z0-9_]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TOP_KEYS = {"url", "url_env", "schema", "connect_timeout", "subject", "tables", "suppression"}
SUBJECT_KEYS = {"table", "key", "identifiers"}
TABLE_KEYS = {"category", "key", "subject_column", "via", "columns", "label", "changes"}
CHANGES_KEYS = {"erase", "rectify", "restrict", "stop_marketing", "active", "dated_by"}
SUPPRESSION_KEYS = {"table", "columns", "values", "at"}
# What `stop_marketing.value` and the suppression's `at` set: the time the change is applied.
NOW = "now"
VIA_KEYS = {"table", "column"}
COLUMN_KEYS = {"category", "field", "currency", "lookup"}
LOOKUP_KEYS = {"table", "key", "column"}

DEFAULT_CONNECT_TIMEOUT = 5
YIELD_PER = 1000
IDENTIFIER_ROWS = 100  # rows of one subject read for its identifiers (a subject table may repeat)

# Kinds whose normalisation folds case: compared case-insensitively in SQL too.
CASE_FOLDED_KINDS = {"email", "name_company"}
# Rows a lookup reads as candidates before the identifier's rule picks the matches: more than
# one subject left means the identifier is ambiguous there.
CANDIDATE_ROWS = 50
# A harmless value per kind for explain(): the plan, not the answer, is wanted.
EXPLAIN_SAMPLES = {
    "email": "nobody@example.invalid",
    "phone": "+0",
    "customer_number": "0",
    "account_id": "0",
    "serial_number": "0",
    "name_company": "nobody|nowhere",
}


# --- the mapping ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectMap:
    table: str
    key: str
    identifiers: dict[str, tuple[str, ...]]  # kind -> column(s); two for name_company
    # kind -> a column holding the normalised form (E.164 for phones): what lookups compare
    normalised: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnLookup:
    """Show `table`.`column` of the row whose `key` equals the column's value."""

    table: str
    key: str
    column: str


@dataclass(frozen=True)
class TableChanges:
    """What fulfilment may change in a table (`changes:`), and what retention reads of it."""

    erase: Strategy | None = None  # DELETE or MASK
    masks: tuple[tuple[str, Mask], ...] = ()  # for MASK: (column, mask)
    rectify: tuple[str, ...] = ()  # the columns that may be corrected
    restrict: str | None = None  # a boolean column: true = restricted
    stop_marketing: tuple[str, Any] | None = None  # (column, value); value may be NOW
    active: tuple[str, tuple[Any, ...]] | None = None  # (column, the states of an active row)
    dated_by: str | None = None  # the column whose date counts for retention

    def columns(self) -> list[str]:
        """Every column named, for check() to find in the table."""
        names = [column for column, _mask in self.masks] + list(self.rectify)
        names += [self.restrict] if self.restrict else []
        names += [self.stop_marketing[0]] if self.stop_marketing else []
        names += [self.active[0]] if self.active else []
        names += [self.dated_by] if self.dated_by else []
        return names


@dataclass(frozen=True)
class Suppression:
    """The system's marketing suppression list: a row per identifier that must never be
    marketed to, kept after the subject's account is gone."""

    table: str
    columns: dict[str, str]  # identifier kind -> column
    values: dict[str, Any] = field(default_factory=dict)  # constant columns (reason: ...)
    at: str | None = None  # a timestamp column set to the time of listing


@dataclass(frozen=True)
class TableMap:
    name: str
    key: str
    columns: tuple[tuple[str, str], ...]  # (column, category), in mapping order
    subject_column: str | None = None
    via_table: str | None = None
    via_column: str | None = None
    # (column, register field, currency) for every exported column
    fields: tuple[tuple[str, str, str], ...] = ()
    # column -> its lookup, for the columns exported as another table's value
    lookups: dict[str, ColumnLookup] = field(default_factory=dict)
    label: dict[str, str] = field(default_factory=dict)  # language -> the report's caption
    changes: TableChanges = field(default_factory=TableChanges)

    def field_of(self, column: str) -> str:
        """The register field a column fills: as exported, or else its name normalised."""
        for name, field_name, _currency in self.fields:
            if name == column:
                return field_name
        return field_key(column)

    def data_key(self, column: str) -> str:
        """The key a column's value has in a record: a looked-up value goes under its field."""
        if column in self.lookups:
            return dict((c, f) for c, f, _currency in self.fields)[column]
        return column

    def category_groups(self) -> list[tuple[str, tuple[str, ...]]]:
        """One (category, columns) per category, in the order the columns name them."""
        groups: dict[str, list[str]] = {}
        for column, category in self.columns:
            groups.setdefault(category, []).append(column)
        return [(category, tuple(columns)) for category, columns in groups.items()]


@dataclass(frozen=True)
class SqlMapping:
    subject: SubjectMap
    tables: dict[str, TableMap]
    url: str | None = None
    url_env: str | None = None
    schema: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    suppression: Suppression | None = None

    def depth(self, table: str) -> int:
        """How many tables a table's rows hang from: 0 for the subject table, 1 for a table
        pointing at the subject, one more for each `via` step. Deleting goes deepest first."""
        if table not in self.tables:
            return 0
        if table == self.subject.table:
            return 0
        return len(self.chain(table))

    def chain(self, table: str) -> list[TableMap]:
        """The table and the tables its `via` leads through, ending at the directly linked one."""
        chain = [self.tables[table]]
        while chain[-1].via_table:
            chain.append(self.tables[chain[-1].via_table])
        return chain


def parse_mapping(config: Any) -> tuple[SqlMapping | None, list[str]]:
    """parse_merged_mapping() of a stored configuration, for readers that build no connector
    (the demo loader); its mapping file merged in by the same rule as for every connector."""
    try:
        merged = merged_config(config)
    except ConfigurationError as exc:
        return None, [str(exc)]
    return parse_merged_mapping(merged)


# Parsed mappings by their configuration's text: every gathering run builds its connector (and
# the planner one per system), and parsing a large mapping cost about 2 ms each time. A mapping
# is frozen once parsed, so runs may share it; a changed configuration is another key.
_PARSED: dict[str, tuple[SqlMapping | None, tuple[str, ...]]] = {}
_PARSED_LOCK = threading.Lock()
_PARSED_MAX = 64


def parse_merged_mapping(config: dict[str, Any]) -> tuple[SqlMapping | None, list[str]]:
    """The mapping and no problems, or None and every problem found (no connection made)."""
    try:
        key = json.dumps(config, sort_keys=True)
    except (TypeError, ValueError):  # not JSON (a test's odd value): parsed, not kept
        return _parse_merged_mapping(config)
    with _PARSED_LOCK:
        found = _PARSED.get(key)
    if found is None:
        mapping, problems = _parse_merged_mapping(config)
        found = (mapping, tuple(problems))
        with _PARSED_LOCK:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[key] = found
    return found[0], list(found[1])


def _parse_merged_mapping(config: dict[str, Any]) -> tuple[SqlMapping | None, list[str]]:
    problems: list[str] = []
    _unknown_keys(config, TOP_KEYS, "", problems)
    url, url_env = _parse_url(config, problems)
    schema = _name(config.get("schema"), "schema", problems, required=False)
    timeout = config.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        problems.append("connect_timeout: must be a positive number of seconds")
    subject = _parse_subject(config.get("subject"), problems)
    tables = _parse_tables(config.get("tables"), problems)
    suppression = _parse_suppression(config.get("suppression"), problems)
    if problems or subject is None or tables is None:
        return None, problems
    return (
        SqlMapping(
            subject=subject,
            tables=tables,
            url=url,
            url_env=url_env,
            schema=schema,
            connect_timeout=float(timeout),
            suppression=suppression,
        ),
        [],
    )


def _unknown_keys(data: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    for key in data:
        if key not in allowed:
            prefix = f"{where}: " if where else ""
            problems.append(f"{prefix}unknown key {key!r}")


def _name(
    value: Any, where: str, problems: list[str], *, required: bool = True, what: str = "name"
) -> str | None:
    if value is None:
        if required:
            problems.append(f"{where}: required")
        return None
    if not isinstance(value, str):
        problems.append(f"{where}: must be a {what}")
        return None
    if not SQL_NAME.match(value):
        problems.append(f"{where}: {value!r} is not a plain SQL identifier")
        return None
    return value


def _parse_url(config: dict, problems: list[str]) -> tuple[str | None, str | None]:
    url, url_env = config.get("url"), config.get("url_env")
    if url is None and url_env is None:
        problems.append("url_env (or url) is required: the database to connect to")
        return None, None
    if url is not None and url_env is not None:
        problems.append("url and url_env are both given: use one (url_env keeps secrets out)")
    if url_env is not None and not (isinstance(url_env, str) and ENV_NAME.match(url_env)):
        problems.append("url_env: must be the name of an environment variable")
        url_env = None
    if url is not None:
        if not isinstance(url, str) or not url.strip():
            problems.append("url: must be a database URL")
            return None, url_env
        try:
            parsed = make_url(url)
        except (sa_exc.ArgumentError, ValueError):
            # The parser's own message quotes the URL, password and all.
            problems.append("url: not a valid SQLAlchemy database URL")
            return None, url_env
        if parsed.password or any("pass" in key.lower() for key in parsed.query):
            problems.append(
                "url: contains a password; keep the URL in an environment variable and "
                "name it in url_env"
            )
            return None, url_env
    return url, url_env


def _parse_subject(data: Any, problems: list[str]) -> SubjectMap | None:
    if not isinstance(data, dict):
        problems.append(
            "subject: required, a mapping with table, key and identifiers"
            if data is None
            else "subject: must be a mapping with table, key and identifiers"
        )
        return None
    _unknown_keys(data, SUBJECT_KEYS, "subject", problems)
    table = _name(data.get("table"), "subject.table", problems, what="table name")
    key = _name(data.get("key"), "subject.key", problems, what="column name")
    identifiers: dict[str, tuple[str, ...]] = {}
    normalised: dict[str, str] = {}
    raw = data.get("identifiers")
    if not isinstance(raw, dict) or not raw:
        problems.append(
            "subject.identifiers: required, a mapping of identifier kind to column "
            f"(kinds: {', '.join(IDENTIFIER_KINDS)})"
        )
        raw = {}
    for kind, spec in raw.items():
        where = f"subject.identifiers.{kind}"
        if kind not in IDENTIFIER_KINDS:
            problems.append(
                f"subject.identifiers: unknown identifier kind {kind!r} "
                f"(known: {', '.join(IDENTIFIER_KINDS)})"
            )
            continue
        if kind == "name_company":
            if not (isinstance(spec, list | tuple) and len(spec) == 2):
                problems.append(f"{where}: must be a list of two columns [name, company]")
                continue
            columns = [_name(c, where, problems, what="column name") for c in spec]
            if all(columns):
                identifiers[kind] = tuple(columns)
            continue
        if isinstance(spec, dict):
            _unknown_keys(spec, {"column", "normalised"}, where, problems)
            column = _name(spec.get("column"), f"{where}.column", problems, what="column name")
            if spec.get("normalised") is not None:
                found = _name(
                    spec["normalised"], f"{where}.normalised", problems, what="column name"
                )
                if found:
                    normalised[kind] = found
        else:
            column = _name(spec, where, problems, what="column name")
        if column:
            identifiers[kind] = (column,)
    if problems or table is None or key is None:
        return None
    return SubjectMap(table=table, key=key, identifiers=identifiers, normalised=normalised)


def _category(value: Any, where: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CATEGORY_SLUG.match(value):
        problems.append(f"{where}: must be a data category slug")
        return None
    return value


def _parse_tables(data: Any, problems: list[str]) -> dict[str, TableMap] | None:
    if not isinstance(data, dict) or not data:
        problems.append("tables: required, a mapping of table name to what to export from it")
        return None
    before = len(problems)
    tables: dict[str, TableMap] = {}
    for name, spec in data.items():
        if not isinstance(name, str) or not SQL_NAME.match(name):
            problems.append(f"tables: {name!r} is not a plain SQL identifier")
            continue
        table = _parse_table(name, spec, problems)
        if table is not None:
            tables[name] = table
    for table in tables.values():
        if table.via_table and table.via_table not in data:
            problems.append(f"tables.{table.name}: via names unknown table {table.via_table!r}")
    _find_loops(tables, problems)
    return tables if len(problems) == before else None


def _parse_table(name: str, spec: Any, problems: list[str]) -> TableMap | None:
    where = f"tables.{name}"
    if not isinstance(spec, dict):
        problems.append(f"{where}: must be a mapping with key, columns and subject_column or via")
        return None
    before = len(problems)
    _unknown_keys(spec, TABLE_KEYS, where, problems)
    category = _category(spec.get("category"), f"{where}.category", problems)
    key = _name(spec.get("key"), f"{where}.key", problems, what="column name")
    subject_column, via_table, via_column = None, None, None
    has_direct, has_via = "subject_column" in spec, "via" in spec
    if has_direct == has_via:
        problems.append(
            f"{where}: give exactly one of subject_column (the column holding the subject "
            "key) or via (the table it belongs to)"
        )
    elif has_direct:
        subject_column = _name(
            spec["subject_column"], f"{where}.subject_column", problems, what="column name"
        )
    else:
        via = spec["via"]
        if not isinstance(via, dict):
            problems.append(f"{where}.via: must be a mapping {{table: ..., column: ...}}")
        else:
            _unknown_keys(via, VIA_KEYS, f"{where}.via", problems)
            via_table = _name(via.get("table"), f"{where}.via.table", problems, what="table name")
            via_column = _name(
                via.get("column"), f"{where}.via.column", problems, what="column name"
            )
    label = check_label(spec.get("label"), f"{where}.label", problems)
    changes = _parse_changes(spec.get("changes"), f"{where}.changes", problems)
    columns: list[tuple[str, str]] = []
    fields: list[tuple[str, str, str]] = []
    lookups: dict[str, ColumnLookup] = {}
    raw = spec.get("columns")
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}.columns: required, a mapping of column name to {{}} or options")
        raw = {}
    for column, options in raw.items():
        if not isinstance(column, str) or not SQL_NAME.match(column):
            problems.append(f"{where}.columns: {column!r} is not a plain SQL identifier")
            continue
        if options is None:
            options = {}
        if not isinstance(options, dict):
            problems.append(f"{where}.columns.{column}: must be {{}} or {{category: ...}}")
            continue
        _unknown_keys(options, COLUMN_KEYS, f"{where}.columns.{column}", problems)
        check_column_options(options, f"{where}.columns.{column}", problems)
        column_category = _category(
            options.get("category"), f"{where}.columns.{column}.category", problems
        )
        if "category" not in options and "category" not in spec:
            problems.append(
                f"{where}.columns.{column}: no data category (set one on the table or the column)"
            )
            continue
        if options.get("lookup") is not None:
            found = _parse_lookup(options, f"{where}.columns.{column}", problems)
            if found is not None:
                lookups[column] = found
        if column_category or category:
            columns.append((column, column_category or category))
            fields.append(
                (column, options.get("field") or field_key(column), options.get("currency") or "")
            )
    if len(problems) > before or key is None:
        return None
    if via_column and columns and via_column not in dict(columns):
        # A row exported through another table keeps its link to it (an order line its
        # order): without it the subject could not tell which order a line belongs to.
        columns.insert(0, (via_column, category or columns[0][1]))
        fields.insert(0, (via_column, field_key(via_column), ""))
    return TableMap(
        name=name,
        key=key,
        columns=tuple(columns),
        subject_column=subject_column,
        via_table=via_table,
        via_column=via_column,
        fields=tuple(fields),
        lookups=lookups,
        label=label,
        changes=changes,
    )


def _parse_lookup(options: dict, where: str, problems: list[str]) -> ColumnLookup | None:
    spec = options["lookup"]
    if not isinstance(spec, dict):
        problems.append(f"{where}.lookup: must be a mapping {{table: ..., key: ..., column: ...}}")
        return None
    _unknown_keys(spec, LOOKUP_KEYS, f"{where}.lookup", problems)
    table = _name(spec.get("table"), f"{where}.lookup.table", problems, what="table name")
    key = _name(spec.get("key"), f"{where}.lookup.key", problems, what="column name")
    column = _name(spec.get("column"), f"{where}.lookup.column", problems, what="column name")
    if not options.get("field"):
        # The value is no longer the column's: it needs a name of its own.
        problems.append(f"{where}: a looked-up column must name its field")
        return None
    if table is None or key is None or column is None:
        return None
    return ColumnLookup(table=table, key=key, column=column)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _parse_changes(spec: Any, where: str, problems: list[str]) -> TableChanges:
    """A table's `changes:` block; TableChanges() when absent (problems say what is wrong)."""
    if spec is None:
        return TableChanges()
    if not isinstance(spec, dict):
        problems.append(f"{where}: must be a mapping (keys: {', '.join(sorted(CHANGES_KEYS))})")
        return TableChanges()
    _unknown_keys(spec, CHANGES_KEYS, where, problems)
    column = "column name"
    erase, masks = None, []
    if "erase" in spec:
        raw = spec["erase"]
        if raw == "delete":
            erase = Strategy.DELETE
        elif isinstance(raw, dict) and set(raw) == {"mask"} and isinstance(raw["mask"], dict):
            erase = Strategy.MASK
            for name, mask in raw["mask"].items():
                found = _name(name, f"{where}.erase.mask", problems, what=column)
                # YAML reads an unquoted null as None: the mask "null" all the same.
                mask = Mask.NULL.value if mask is None else mask
                if mask not in {m.value for m in Mask}:
                    problems.append(
                        f"{where}.erase.mask.{name}: must be one of "
                        f"{', '.join(m.value for m in Mask)}"
                    )
                elif found:
                    masks.append((found, Mask(mask)))
            if not raw["mask"]:
                problems.append(f"{where}.erase.mask: name at least one column")
        else:
            problems.append(f"{where}.erase: must be delete, or {{mask: {{column: mask}}}}")
    rectify = []
    if "rectify" in spec:
        raw = spec["rectify"]
        if not isinstance(raw, list) or not raw:
            problems.append(f"{where}.rectify: must be a list of the columns that may be corrected")
        else:
            rectify = [_name(name, f"{where}.rectify", problems, what=column) for name in raw]
    restrict = None
    if "restrict" in spec:
        raw = spec["restrict"]
        if not isinstance(raw, dict):
            problems.append(f"{where}.restrict: must be {{column: ...}}, a boolean column")
        else:
            _unknown_keys(raw, {"column"}, f"{where}.restrict", problems)
            restrict = _name(raw.get("column"), f"{where}.restrict.column", problems, what=column)
    stop_marketing = None
    if "stop_marketing" in spec:
        raw = spec["stop_marketing"]
        if not isinstance(raw, dict):
            problems.append(f"{where}.stop_marketing: must be {{column: ..., value: ...}}")
        else:
            _unknown_keys(raw, {"column", "value"}, f"{where}.stop_marketing", problems)
            name = _name(raw.get("column"), f"{where}.stop_marketing.column", problems, what=column)
            if "value" not in raw or not _scalar(raw["value"]):
                problems.append(
                    f"{where}.stop_marketing.value: required, the value that means no marketing "
                    f"(a plain value, or {NOW!r} for the current time)"
                )
            elif name:
                stop_marketing = (name, raw["value"])
    active = None
    if "active" in spec:
        raw = spec["active"]
        states = raw.get("in") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or not isinstance(states, list) or not states:
            problems.append(
                f"{where}.active: must be {{column: ..., in: [...]}}, the states of an active row"
            )
        else:
            _unknown_keys(raw, {"column", "in"}, f"{where}.active", problems)
            name = _name(raw.get("column"), f"{where}.active.column", problems, what=column)
            if not all(_scalar(state) and state is not None for state in states):
                problems.append(f"{where}.active.in: must list plain values")
            elif name:
                active = (name, tuple(states))
    dated_by = _name(
        spec.get("dated_by"), f"{where}.dated_by", problems, required=False, what=column
    )
    return TableChanges(
        erase=erase,
        masks=tuple(masks),
        rectify=tuple(name for name in rectify if name),
        restrict=restrict,
        stop_marketing=stop_marketing,
        active=active,
        dated_by=dated_by,
    )


def _parse_suppression(spec: Any, problems: list[str]) -> Suppression | None:
    if spec is None:
        return None
    where = "suppression"
    if not isinstance(spec, dict):
        problems.append(f"{where}: must be a mapping with table and columns")
        return None
    before = len(problems)
    _unknown_keys(spec, SUPPRESSION_KEYS, where, problems)
    table = _name(spec.get("table"), f"{where}.table", problems, what="table name")
    columns: dict[str, str] = {}
    raw = spec.get("columns")
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}.columns: required, a mapping of identifier kind to column")
        raw = {}
    for kind, name in raw.items():
        if kind not in IDENTIFIER_KINDS or kind == "name_company":
            problems.append(
                f"{where}.columns: {kind!r} is not an identifier kind of one column "
                f"(known: {', '.join(k for k in IDENTIFIER_KINDS if k != 'name_company')})"
            )
            continue
        found = _name(name, f"{where}.columns.{kind}", problems, what="column name")
        if found:
            columns[kind] = found
    values: dict[str, Any] = {}
    raw = spec.get("values", {})
    if not isinstance(raw, dict):
        problems.append(f"{where}.values: must map columns to constant values")
        raw = {}
    for name, value in raw.items():
        found = _name(name, f"{where}.values", problems, what="column name")
        if not _scalar(value):
            problems.append(f"{where}.values.{name}: must be a plain value")
        elif found:
            values[found] = value
    at = _name(spec.get("at"), f"{where}.at", problems, required=False, what="column name")
    if len(problems) > before or table is None:
        return None
    return Suppression(table=table, columns=columns, values=values, at=at)


def _find_loops(tables: dict[str, TableMap], problems: list[str]) -> None:
    reported: set[frozenset[str]] = set()
    for name in tables:
        path = [name]
        while (target := tables[path[-1]].via_table) in tables:
            if target in path:
                loop = frozenset(path[path.index(target) :])
                if loop not in reported:
                    reported.add(loop)
                    problems.append(
                        f"tables.{name}: via chain loops ({' -> '.join([*path, target])})"
                    )
                break
            path.append(target)


# --- values --------------------------------------------------------------------------------


def key_text(value: Any) -> str:
    """A row key as text: stable across runs, the same for one row wherever it is read."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


_NO_MATCH = object()


def _bind_value(column: sa.Column, value: str) -> Any:
    """A text value in the column's Python type, or _NO_MATCH when it cannot equal any row
    (a customer number "C-1001" against an integer column)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    try:
        if python_type is int:
            return int(value) if re.fullmatch(r"[+-]?\d+", value.strip()) else _NO_MATCH
        if python_type in (Decimal, float):
            return python_type(value)
        if python_type is uuid.UUID:
            return uuid.UUID(value)
    except (ValueError, InvalidOperation):
        return _NO_MATCH
    return value


CHANGE_BATCH = 500  # keys bound in one IN (...)


def _batches(bound: dict[str, Any]) -> Iterator[dict[str, Any]]:
    items = list(bound.items())
    for start in range(0, len(items), CHANGE_BATCH):
        yield dict(items[start : start + CHANGE_BATCH])


def _in_states(value: Any, states: tuple[Any, ...]) -> bool:
    """Whether a row's state is one of the mapping's active states (compared as text too:
    the YAML says 1, the column holds "1", or the other way round)."""
    return value in states or key_text(value) in {key_text(state) for state in states}


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        # An aware and a naive time are never equal: compare the naive parts.
        return old.replace(tzinfo=None) == new.replace(tzinfo=None)
    return old == new


def _typed_value(column: sa.Column, value: Any) -> Any:
    """A new value in the column's Python type (a corrected date arrives as text); ValueError
    when it is not one."""
    if not isinstance(value, str):
        return value
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if python_type is str:
        return value
    if python_type is bool:
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError("not a boolean")
    if python_type is datetime:
        return datetime.fromisoformat(value.strip())
    if python_type is date:
        return date.fromisoformat(value.strip())
    bound = _bind_value(column, value)
    if bound is _NO_MATCH:
        raise ValueError("not of the column's type")
    return bound


def _now_for(column: sa.Column) -> Any:
    """The current time as the column holds it: aware or naive UTC, a date, or ISO text."""
    now = datetime.now(UTC)
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is datetime:
        return now if getattr(column.type, "timezone", False) else now.replace(tzinfo=None)
    if python_type is date:
        return now.date()
    return now.isoformat(sep=" ", timespec="seconds")


def _same_identifier(identifier: Identifier, stored: Sequence[Any]) -> bool:
    """Whether the stored column values are `identifier` under its kind's rule."""
    parts = ["" if value is None else str(value) for value in stored]
    text = "|".join(parts) if identifier.kind == "name_company" else parts[0]
    return Identifier(identifier.kind, text).value == identifier.value


def _case_variants(value: str) -> list[str]:
    """What `lower(column)` may yield for a stored value that folds to `value`.

    SQLite's lower(), and PostgreSQL's under the C locale, fold ASCII letters only: a stored
    "Çela" stays "Çela". For values with other letters, also try the usual stored casings
    (Title, UPPER) with their ASCII letters lowered, as such a lower() leaves them."""
    if value.isascii():
        return [value]

    def ascii_lower(text: str) -> str:
        return "".join(ch.lower() if ch.isascii() else ch for ch in text)

    return list(dict.fromkeys([value, ascii_lower(value.title()), ascii_lower(value.upper())]))


# --- errors --------------------------------------------------------------------------------

_MYSQL_CREDENTIALS = {1044, 1045, 1698, 1251}
_MYSQL_NO_DATABASE = {1049}
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013, 2055}
# libpq reports connection failures without a SQLSTATE; its (English) text is only classified
# here, never shown.
_PG_CREDENTIALS = re.compile(
    r"password authentication failed|role \".*\" does not exist|no pg_hba\.conf entry|"
    r"authentication failed|no password supplied|password is required"
)
_PG_NO_DATABASE = re.compile(r"database \".*\" does not exist")
_UNREACHABLE = re.compile(
    r"connection refused|timeout expired|timed out|could not translate host name|"
    r"name or service not known|no route to host|network is unreachable|"
    r"server closed the connection|unable to open database file|connection reset"
)


def _classify(exc: BaseException) -> str | None:
    """'credentials', 'database', 'unreachable' or None, from a driver's exception."""
    orig = getattr(exc, "orig", None) or exc
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code in _MYSQL_CREDENTIALS:
        return "credentials"
    if code in _MYSQL_NO_DATABASE:
        return "database"
    if code in _MYSQL_UNREACHABLE:
        return "unreachable"
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate.startswith("28"):
            return "credentials"
        if sqlstate == "3D000":
            return "database"
        if sqlstate.startswith("08"):
            return "unreachable"
    text = str(orig).lower()
    if _PG_CREDENTIALS.search(text):
        return "credentials"
    if _PG_NO_DATABASE.search(text):
        return "database"
    if _UNREACHABLE.search(text) or isinstance(orig, TimeoutError | ConnectionError):
        return "unreachable"
    return None


def _class_name(exc: BaseException) -> str:
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        name = f"{name}: {type(orig).__module__}.{type(orig).__qualname__}"
    return name


_TRANSIENT = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    TimeoutError,
    ConnectionError,
)


# --- the connector -------------------------------------------------------------------------


# Engines (and their connection pools) are shared by the connectors of one database within a
# process, and table descriptions cached for a while: a worker searches the same systems over
# and over, and connecting and reflecting each time was most of a search's cost.
TABLE_CACHE_SECONDS = 300
_ENGINES: dict[tuple, tuple[Engine, dict[str, tuple[float, sa.Table]]]] = {}
_ENGINES_LOCK = threading.Lock()


def _shared_engine(url: URL, connect_args: dict, schema: str | None, name: str):
    key = (url.render_as_string(hide_password=False), tuple(sorted(connect_args.items())), schema)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            try:
                engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
            except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
                raise ConfigurationError(
                    f"{name}: cannot use a database of type {url.drivername!r} "
                    f"({type(exc).__name__})"
                ) from None
            if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
                sa.event.listen(engine, "connect", _addresses_as_text)
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _enforce_foreign_keys)
            _ENGINES[key] = (engine, {})
        return _ENGINES[key]


def _addresses_as_text(dbapi_connection, _record) -> None:
    """PostgreSQL's network addresses (inet, cidr) come as the server's text: psycopg would
    parse each into an ipaddress object that the export turns back into the same text, a
    fifth of the CPU of exporting web events."""
    from psycopg.types.string import TextLoader

    for name in ("inet", "cidr"):
        dbapi_connection.adapters.register_loader(name, TextLoader)


def _enforce_foreign_keys(dbapi_connection, _record) -> None:
    """SQLite checks foreign keys only when asked, per connection: without it a delete would
    leave rows pointing at nothing, and ON DELETE SET NULL would not run."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def dispose_engines() -> None:
    """Close every shared pool (tests that drop a database; a worker shutting down)."""
    with _ENGINES_LOCK:
        for engine, _tables in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


class SqlConnector(BaseConnector):
    kind = "sql"
    verbose_name = "SQL database"

    def __init__(self, config: dict[str, Any], *, name: str = "") -> None:
        super().__init__(config, name=name)
        mapping, problems = parse_merged_mapping(self.config)
        if mapping is None:  # validated by super(): cannot happen
            raise ConfigurationError("; ".join(problems))
        self.mapping = mapping
        self._engine: Engine | None = None
        self._tables: dict[str, tuple[float, sa.Table]] = {}

    @classmethod
    def validate_merged_config(cls, config: dict[str, Any]) -> list[str]:
        return parse_merged_mapping(config)[1]

    @classmethod
    def columns_of_merged_config(cls, config: dict[str, Any]) -> list[ExportedColumn]:
        mapping, _problems = parse_merged_mapping(config)
        if mapping is None:
            return []
        exported = []
        for table in mapping.tables.values():
            categories = dict(table.columns)
            for column, field_name, currency in table.fields:
                exported.append(
                    ExportedColumn(
                        categories[column],
                        table.name,
                        table.data_key(column),
                        field_name,
                        currency,
                    )
                )
        return exported

    @classmethod
    def labels_of_merged_config(cls, config: dict[str, Any]) -> dict[str, dict[str, str]]:
        mapping, _problems = parse_merged_mapping(config)
        if mapping is None:
            return {}
        return {table.name: table.label for table in mapping.tables.values() if table.label}

    def searchable_kinds(self) -> frozenset[str]:
        return frozenset(self.mapping.subject.identifiers)

    # -- connection --------------------------------------------------------------------------

    def _database_url(self) -> URL:
        """The URL to connect to, read now (an environment variable may be set after start)."""
        mapping = self.mapping
        if mapping.url_env:
            raw = os.environ.get(mapping.url_env, "")
            if not raw.strip():
                raise ConfigurationError(
                    f"{self.name}: the environment variable {mapping.url_env} is not set"
                )
            where = f"the environment variable {mapping.url_env}"
        else:
            raw, where = mapping.url or "", "url"
        try:
            url = make_url(raw.strip())
        except (sa_exc.ArgumentError, ValueError):
            raise ConfigurationError(
                f"{self.name}: {where} does not hold a valid SQLAlchemy database URL"
            ) from None
        return _with_driver(url)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            url = self._database_url()
            timeout = self.mapping.connect_timeout
            backend = url.get_backend_name()
            if backend == "postgresql":
                connect_args = {"connect_timeout": max(1, round(timeout))}
            elif backend in ("mysql", "mariadb"):
                connect_args = {"connect_timeout": timeout}
            elif backend == "sqlite":
                connect_args = {"timeout": timeout}
            else:
                connect_args = {}
            self._engine, self._tables = _shared_engine(
                url, connect_args, self.mapping.schema, self.name
            )
        return self._engine

    def close(self) -> None:
        # The engine and its pool are shared by every connector of the same database in this
        # process (a worker runs many searches): only this instance lets go of them.
        self._engine = None
        self._tables = {}

    def _location(self) -> str:
        try:
            url = self._database_url()
        except ConfigurationError:
            return "the database"
        if url.get_backend_name() == "sqlite":
            return f"the database file {url.database!r}" if url.database else "the database"
        where = url.host or "localhost"
        if url.port:
            where = f"{where}:{url.port}"
        return f"the database server at {where}"

    def _problem_text(self, exc: BaseException) -> str:
        """One line for a failure, naming what went wrong, never quoting the driver."""
        kind = _classify(exc)
        if kind == "credentials":
            reason = f"{self._location()} refused the credentials"
        elif kind == "database":
            reason = f"the database named in the URL does not exist on {self._location()}"
        elif kind == "unreachable":
            location = self._location()
            verb = "opened" if location.startswith("the database file") else "reached"
            reason = f"{location} could not be {verb}"
        else:
            reason = "the database reported an error"
        return f"{reason} ({_class_name(exc)})"

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Driver and SQLAlchemy errors as connector errors, with a fixed message: retry only
        what may pass (a lost connection, a timeout), never a bad password or a missing table."""
        try:
            yield
        except ConnectorError:
            raise
        except (sa_exc.SQLAlchemyError, TimeoutError, ConnectionError) as exc:
            message = f"{self.name}: {operation} failed: {self._problem_text(exc)}"
            kind = _classify(exc)
            transient = kind == "unreachable" or (
                isinstance(exc, _TRANSIENT) and kind not in ("credentials", "database")
            )
            if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
                transient = True
            # `from None`: the driver's exception (and its message) stays out of the chain.
            if transient:
                raise TransientConnectorError(message) from None
            raise ConnectorError(message) from None

    def _folds_names(self, conn: Connection) -> bool:
        return conn.dialect.name in ("mysql", "mariadb", "sqlite")

    def _table(self, conn: Connection, name: str) -> sa.Table:
        """The table with its columns as the database describes them (cached), so that values
        bind by type. Columns only: keys, indexes and constraints are not needed to read."""
        cached = self._tables.get(name)
        if cached is None or clock.monotonic() - cached[0] > TABLE_CACHE_SECONDS:
            schema = self.mapping.schema
            try:
                described = sa.inspect(conn).get_columns(name, schema=schema)
            except sa_exc.NoSuchTableError:
                raise ConnectorError(f"{self.name}: table {name!r} is missing") from None
            columns = [sa.Column(column["name"], column["type"]) for column in described]
            cached = (clock.monotonic(), sa.Table(name, sa.MetaData(), *columns, schema=schema))
            self._tables[name] = cached
        return cached[1]

    def _column(self, conn: Connection, table: sa.Table, name: str) -> sa.Column:
        if name in table.c:
            return table.c[name]
        if self._folds_names(conn):
            for column in table.c:
                if column.name.lower() == name.lower():
                    return column
        raise ConnectorError(f"{self.name}: table {table.name!r} has no column {name!r}")

    # -- check -------------------------------------------------------------------------------

    def check(self) -> list[str]:
        try:
            engine = self.engine
        except ConfigurationError as exc:
            return [str(exc)]
        step = "cannot connect"
        try:
            with engine.connect() as conn:
                step = "cannot read the schema"
                return self._schema_problems(conn)
        except (sa_exc.SQLAlchemyError, TimeoutError, ConnectionError) as exc:
            return [f"{step}: {self._problem_text(exc)}"]

    def _needed_columns(self) -> dict[str, list[str]]:
        """Every table the mapping reads, with the columns it reads from it."""
        needed: dict[str, list[str]] = {}
        subject = self.mapping.subject
        needed.setdefault(subject.table, []).append(subject.key)
        for columns in subject.identifiers.values():
            needed[subject.table].extend(columns)
        needed[subject.table].extend(subject.normalised.values())
        for table in self.mapping.tables.values():
            columns = needed.setdefault(table.name, [])
            columns.append(table.key)
            columns.append(table.subject_column or table.via_column)
            columns.extend(column for column, _ in table.columns)
            for lookup in table.lookups.values():
                needed.setdefault(lookup.table, []).extend([lookup.key, lookup.column])
            columns.extend(table.changes.columns())
        suppression = self.mapping.suppression
        if suppression is not None:
            needed.setdefault(suppression.table, []).extend(
                [*suppression.columns.values(), *suppression.values]
                + ([suppression.at] if suppression.at else [])
            )
        return {table: list(dict.fromkeys(columns)) for table, columns in needed.items()}

    def _schema_problems(self, conn: Connection) -> list[str]:
        inspector = sa.inspect(conn)
        schema = self.mapping.schema
        fold = (lambda text: text.lower()) if self._folds_names(conn) else (lambda text: text)
        existing = {
            fold(name): name
            for name in [
                *inspector.get_table_names(schema=schema),
                *inspector.get_view_names(schema=schema),
            ]
        }
        problems = []
        for table, columns in self._needed_columns().items():
            actual = existing.get(fold(table))
            if actual is None:
                problems.append(f"table {table!r} is missing")
                continue
            described = {
                fold(column["name"]): column
                for column in inspector.get_columns(actual, schema=schema)
            }
            for column in columns:
                if fold(column) not in described:
                    problems.append(f"table {table!r} has no column {column!r}")
            if conn.dialect.name in ("mysql", "mariadb"):
                problems.extend(self._case_sensitive_columns(table, described))
        return problems

    def _case_sensitive_columns(self, table: str, described: dict[str, dict]) -> list[str]:
        """On MySQL/MariaDB, case-folded identifiers rely on the column's collation."""
        if table != self.mapping.subject.table:
            return []
        problems = []
        for kind, columns in self.mapping.subject.identifiers.items():
            if kind not in CASE_FOLDED_KINDS:
                continue
            for column in columns:
                info = described.get(column.lower())
                collation = getattr(info and info["type"], "collation", None) or ""
                if collation.endswith(("_bin", "_cs")) or collation == "binary":
                    problems.append(
                        f"table {table!r} column {column!r} compares case-sensitively "
                        f"(collation {collation}): {kind} lookups may miss mixed-case values"
                    )
        return problems

    # -- find --------------------------------------------------------------------------------

    def find_subject(self, identifiers: Iterable[Identifier]) -> Lookup:
        lookup = Lookup()
        known = self.mapping.subject.identifiers
        wanted = [ident for ident in dict.fromkeys(identifiers) if ident.kind in known]
        if not wanted:
            return lookup
        found: set[str] = set()
        with self._errors("find_subject"), self.engine.connect() as conn:
            for identifier in wanted:
                query = self._lookup_query(conn, identifier)
                if query is None:
                    continue
                # SQL narrows to candidates; a row matches only under the identifier's own
                # rule, checked here (dsar.identifiers): never a database's case folding.
                keys = list(
                    dict.fromkeys(
                        row[0]
                        for row in conn.execute(query)
                        if _same_identifier(identifier, row[1:])
                    )
                )
                if len(keys) > 1:
                    # Two or more subjects share it (a switchboard, info@): not followed.
                    lookup.ambiguous.append(AmbiguousIdentifier(identifier, len(keys)))
                    continue
                if not keys or key_text(keys[0]) in found:
                    continue
                found.add(key_text(keys[0]))
                lookup.matches.append(
                    SubjectMatch(
                        subject_key=key_text(keys[0]),
                        found_by=identifier,
                        identifiers=self._identifiers_of(conn, keys[0]),
                    )
                )
        return lookup

    def _lookup_query(self, conn: Connection, identifier: Identifier) -> sa.Select | None:
        """DISTINCT subject keys for one identifier; two are enough to call it ambiguous.
        None when the value cannot match (empty, or not of the column's type)."""
        subject = self.mapping.subject
        table = self._table(conn, subject.table)
        columns = [self._column(conn, table, name) for name in subject.identifiers[identifier.kind]]
        if identifier.kind == "name_company":
            values = identifier.value.split("|", 1)
        else:
            values = [identifier.value]
        if len(values) != len(columns) or not all(value.strip() for value in values):
            return None
        conditions = []
        folds_in_sql = conn.dialect.name not in ("mysql", "mariadb")
        if identifier.kind in subject.normalised:
            # The mapping names a column holding the normalised form: compare that (indexed).
            compared = self._column(conn, table, subject.normalised[identifier.kind])
            key = self._column(conn, table, subject.key)
            return sa.select(key, *columns).where(compared == values[0]).limit(CANDIDATE_ROWS)
        for column, value in zip(columns, values, strict=True):
            if identifier.kind == "email" and folds_in_sql:
                # Every casing of the address is a candidate (the database lowers both sides
                # alike; an index on lower(column) serves it); the rule then decides.
                conditions.append(sa.func.lower(column) == sa.func.lower(sa.literal(value)))
                continue
            if identifier.kind in CASE_FOLDED_KINDS and folds_in_sql:
                variants = _case_variants(value)
                lowered = sa.func.lower(column)
                conditions.append(lowered == value if len(variants) == 1 else lowered.in_(variants))
                continue
            bound = _bind_value(column, value)
            if bound is _NO_MATCH:
                return None
            conditions.append(column == bound)
        key = self._column(conn, table, subject.key)
        return sa.select(key, *columns).where(*conditions).limit(CANDIDATE_ROWS)

    def _identifiers_of(self, conn: Connection, key: Any) -> frozenset[Identifier]:
        """Every identifier the subject table holds for this subject, normalised."""
        subject = self.mapping.subject
        table = self._table(conn, subject.table)
        kinds = list(subject.identifiers.items())
        names = [name for _, columns in kinds for name in columns]
        columns = [
            self._column(conn, table, name).label(f"c{index}") for index, name in enumerate(names)
        ]
        query = (
            sa.select(*columns)
            .where(self._column(conn, table, subject.key) == key)
            .limit(IDENTIFIER_ROWS)
        )
        learnt: set[Identifier] = set()
        for row in conn.execute(query):
            values = iter(row)
            for kind, names in kinds:
                parts = [next(values) for _ in names]
                if any(part is None or not str(part).strip() for part in parts):
                    continue
                identifier = Identifier(kind, "|".join(key_text(part) for part in parts))
                if identifier.usable:
                    learnt.add(identifier)
        return frozenset(learnt)

    def explain(self, identifier_kind: str) -> str:
        """The database's plan for the subject lookup by this kind of identifier, to show that
        it is index-backed (EXPLAIN; EXPLAIN QUERY PLAN on SQLite)."""
        if identifier_kind not in self.mapping.subject.identifiers:
            raise ConfigurationError(
                f"{self.name}: no column is mapped for identifier kind {identifier_kind!r}"
            )
        sample = Identifier(identifier_kind, EXPLAIN_SAMPLES.get(identifier_kind, "0"))
        with self._errors("explain"), self.engine.connect() as conn:
            query = self._lookup_query(conn, sample)
            if query is None:
                raise ConnectorError(f"{self.name}: no plan for {identifier_kind!r} lookups")
            compiled = query.compile(
                dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
            )
            params = compiled.construct_params()
            if compiled.positional:
                args: Any = tuple(params[name] for name in compiled.positiontup or ())
            else:
                args = params
            prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
            result = conn.exec_driver_sql(prefix + compiled.string, args)
            return "\n".join(_plan_line(row._mapping) for row in result)

    # -- export ------------------------------------------------------------------------------

    def export(self, match: SubjectMatch) -> Iterator[Record]:
        """Every mapped row of the subject, table by table in mapping order, each in key order;
        streamed through a server-side cursor, so a million rows never sit in memory."""
        with self._errors("export"), self.engine.connect() as conn:
            # Described before streaming: MySQL cannot run a query while a stream is open.
            queries = [
                (table, self._export_query(conn, table, match.subject_key))
                for table in self.mapping.tables.values()
            ]
            conn = conn.execution_options(stream_results=True, yield_per=YIELD_PER)
            for table, query in queries:
                if query is None:
                    continue
                # (category, the record's keys, where its values start and end in the row)
                groups = []
                start = 1  # after the row's key
                for category, columns in table.category_groups():
                    keys = [table.data_key(column) for column in columns]
                    groups.append((category, keys, start, start + len(keys)))
                    start += len(keys)
                source, subject_key, found_by = table.name, match.subject_key, match.found_by
                for row in conn.execute(query):
                    record_key = f"{source}:{key_text(row[0])}"
                    for category, keys, first, last in groups:
                        yield Record(
                            category,
                            source,
                            record_key,
                            dict(zip(keys, map(plain_value, row[first:last]), strict=True)),
                            subject_key,
                            found_by,
                        )

    def _export_query(
        self, conn: Connection, table: TableMap, subject_key: str
    ) -> sa.Select | None:
        """The table's rows for one subject: its own subject column, or a JOIN up its via
        chain to the table that has one. None when the key cannot match the column's type."""
        chain = self.mapping.chain(table.name)
        tables = [self._table(conn, link.name) for link in chain]
        leaf = tables[0]
        # Labelled, so that a column exported and used as the key is selected twice, not once;
        # grouped by category, the order records are built in.
        names = [table.key] + [c for _, columns in table.category_groups() for c in columns]
        joined = leaf
        for step in range(len(chain) - 1):
            # child.via_column -> parent.key, one JOIN per link (never IN with a key list)
            child, parent = chain[step], chain[step + 1]
            joined = joined.join(
                tables[step + 1],
                self._column(conn, tables[step], child.via_column)
                == self._column(conn, tables[step + 1], parent.key),
            )
        selected = []
        for index, name in enumerate(names):
            lookup = table.lookups.get(name) if index else None
            if lookup is None:
                selected.append(self._column(conn, leaf, name).label(f"c{index}"))
                continue
            # An alias per looked-up column: two columns may look up the same table. LEFT
            # OUTER: a row whose id points nowhere is still the subject's, exported with null.
            described = self._table(conn, lookup.table)
            key = self._column(conn, described, lookup.key)
            shown = self._column(conn, described, lookup.column)
            target = described.alias(f"lookup{index}")
            joined = joined.outerjoin(target, self._column(conn, leaf, name) == target.c[key.name])
            selected.append(target.c[shown.name].label(f"c{index}"))
        root = chain[-1]
        link = self._column(conn, tables[-1], root.subject_column)
        bound = _bind_value(link, subject_key)
        if bound is _NO_MATCH:
            return None
        return (
            sa.select(*selected)
            .select_from(joined)
            .where(link == bound)
            .order_by(self._column(conn, leaf, table.key))
        )

    # -- the change side (changes.py) --------------------------------------------------------

    def describe_records(self, records: Sequence[RecordRef]) -> dict[str, RecordFacts]:
        """Per record: is its row still there, is it part of an active relationship (`active:`)
        and of which date (`dated_by:`). One query per table and batch of keys."""
        facts = {record.key: RecordFacts() for record in records}
        by_table: dict[str, list[str]] = {}
        for record in records:
            if record.source in self.mapping.tables:
                by_table.setdefault(record.source, []).append(record.key)
        if not by_table:
            return facts
        with self._errors("describe_records"), self.engine.connect() as conn:
            for name, keys in by_table.items():
                table_map = self.mapping.tables[name]
                changes = table_map.changes
                table = self._table(conn, name)
                key_column = self._column(conn, table, table_map.key)
                selected = [key_column.label("k")]
                if changes.active:
                    selected.append(self._column(conn, table, changes.active[0]).label("active"))
                if changes.dated_by:
                    selected.append(self._column(conn, table, changes.dated_by).label("dated"))
                found: dict[str, Any] = {}
                for batch in _batches(self._bound_keys(key_column, name, keys)):
                    query = sa.select(*selected).where(key_column.in_(batch.values()))
                    for row in conn.execute(query):
                        found[f"{name}:{key_text(row.k)}"] = row
                for key in keys:
                    row = found.get(key)
                    if row is None:
                        facts[key] = RecordFacts(exists=False)
                        continue
                    facts[key] = RecordFacts(
                        exists=True,
                        active=bool(changes.active) and _in_states(row.active, changes.active[1]),
                        dated=_as_date(row.dated) if changes.dated_by else None,
                    )
        return facts

    def plan_changes(self, request: ChangeRequest) -> list[Change]:
        """One change per table the mapping declares a change for, deepest tables first (an
        order's lines before the order, everything before the subject's own row); records of
        the other tables are changed by hand (see `_by_hand`)."""
        by_table: dict[str, dict[str, RecordRef]] = {}
        for record in request.records:
            by_table.setdefault(record.source, {}).setdefault(record.key, record)
        changes: list[Change] = []
        for name, records in by_table.items():
            table = self.mapping.tables.get(name)
            change = self._planned(request, table, tuple(records)) if table else None
            if change is not None:
                changes.append(change)
            else:
                changes.extend(self._by_hand(request, table, list(records.values())))
        changes.sort(key=lambda change: -self.mapping.depth(change.target))
        if request.intent == Intent.STOP_MARKETING:
            suppress = self._planned_suppression(request)
            if suppress is not None:
                changes.append(suppress)
        return changes

    def _planned(
        self, request: ChangeRequest, table: TableMap, keys: tuple[str, ...]
    ) -> Change | None:
        """The table's own change for the request's intent; None when it declares none."""
        declared = table.changes
        intent = request.intent
        if intent == Intent.ERASE and declared.erase == Strategy.DELETE:
            return Change(target=table.name, strategy=Strategy.DELETE, keys=keys)
        if intent == Intent.ERASE and declared.erase == Strategy.MASK:
            return Change(
                target=table.name,
                strategy=Strategy.MASK,
                keys=keys,
                columns=declared.masks,
                salt=request.salt,
            )
        if intent == Intent.RECTIFY and declared.rectify:
            # A correction no listed column takes is left out: the caller reports it.
            columns = tuple(
                (column, request.corrections[table.field_of(column)])
                for column in declared.rectify
                if table.field_of(column) in request.corrections
            )
            if not columns:
                return None
            return Change(target=table.name, strategy=Strategy.RECTIFY, keys=keys, columns=columns)
        if intent in (Intent.RESTRICT, Intent.LIFT_RESTRICTION) and declared.restrict:
            restricted = intent == Intent.RESTRICT
            return Change(
                target=table.name,
                strategy=Strategy.RESTRICT if restricted else Strategy.LIFT_RESTRICTION,
                keys=keys,
                columns=((declared.restrict, restricted),),
            )
        if intent == Intent.STOP_MARKETING and declared.stop_marketing:
            return Change(
                target=table.name,
                strategy=Strategy.STOP_MARKETING,
                keys=keys,
                columns=(declared.stop_marketing,),
            )
        return None

    def _by_hand(
        self, request: ChangeRequest, table: TableMap | None, records: list[RecordRef]
    ) -> list[Change]:
        """Manual changes for records the mapping declares nothing for. Not every table needs
        a person, though: a rectification concerns only the tables holding a corrected field,
        and marketing stops through the tables and the list the mapping names, when it names
        any (a web event has no marketing to stop)."""
        intent = request.intent
        if intent == Intent.RECTIFY:
            if table is None or table.changes.rectify:
                # An unknown table cannot say what it holds; a rectifiable one left out the
                # corrections it does not take on purpose.
                return []
            held = {field_name for _column, field_name, _currency in table.fields}
            corrections = {k: v for k, v in request.corrections.items() if k in held}
            if not corrections:
                return []
            request = ChangeRequest(
                intent=intent, records=records, corrections=corrections, salt=request.salt
            )
        if intent == Intent.STOP_MARKETING and self._stops_marketing():
            return []
        return manual_changes(request, records)

    def _stops_marketing(self) -> bool:
        return self.mapping.suppression is not None or any(
            table.changes.stop_marketing for table in self.mapping.tables.values()
        )

    def _planned_suppression(self, request: ChangeRequest) -> Change | None:
        suppression = self.mapping.suppression
        if suppression is None:
            return None
        listed = tuple(
            (kind, value)
            for kind, value in request.identifiers.items()
            if kind in suppression.columns and value
        )
        if not listed:
            return None
        subjects = tuple(dict.fromkeys(r.subject_key for r in request.records if r.subject_key))
        return Change(
            target=suppression.table,
            strategy=Strategy.SUPPRESS,
            keys=subjects or ("subject",),
            columns=listed,
        )

    def apply(self, change: Change) -> ChangeResult:
        """One change in one transaction, idempotently: rows gone or already as wanted are
        ALREADY_DONE, rows no longer there MISSING (see changes.py)."""
        if change.manual:
            raise ConnectorError(f"{self.name}: a person carries out this change, not the system")
        operation = f"{change.strategy} in {change.target}"
        if change.strategy == Strategy.SUPPRESS:
            suppression = self.mapping.suppression
            if suppression is None or suppression.table != change.target:
                raise ConnectorError(f"{self.name}: {change.target!r} is not the suppression list")
            with self._errors(operation), self.engine.begin() as conn:
                return self._suppress(conn, suppression, change)
        table = self.mapping.tables.get(change.target)
        if table is None:
            raise ConnectorError(f"{self.name}: the mapping has no table {change.target!r}")
        with self._errors(operation):
            try:
                with self.engine.begin() as conn:
                    if change.strategy == Strategy.DELETE:
                        return self._delete(conn, table, change)
                    return self._update(conn, table, change)
            except sa_exc.IntegrityError:
                # The driver's message would quote the row; say what it means instead.
                if change.strategy == Strategy.DELETE:
                    raise ConnectorError(
                        f"{self.name}: the rows of {table.name!r} cannot be deleted before "
                        "the rows of other tables that refer to them (delete or unlink those "
                        "first)"
                    ) from None
                raise ConnectorError(
                    f"{self.name}: {operation} breaks a rule of the table (a column that "
                    "may not be empty, a value that must be unique)"
                ) from None

    def _bound_keys(self, column: sa.Column, table: str, keys: Iterable[str]) -> dict[str, Any]:
        """Record keys ("table:key") of `table` -> the key in the column's type. Keys of other
        tables, or not of the column's type, match no row and are left out."""
        bound = {}
        for key in dict.fromkeys(keys):
            prefix, _, text = key.partition(":")
            if prefix != table:
                continue
            value = _bind_value(column, text)
            if value is not _NO_MATCH:
                bound[key] = value
        return bound

    def _delete(self, conn: Connection, table_map: TableMap, change: Change) -> ChangeResult:
        table = self._table(conn, table_map.name)
        key_column = self._column(conn, table, table_map.key)
        result = ChangeResult({key: Outcome.ALREADY_DONE for key in change.keys})
        for batch in _batches(self._bound_keys(key_column, table_map.name, change.keys)):
            there = {
                f"{table_map.name}:{key_text(row[0])}"
                for row in conn.execute(
                    sa.select(key_column).where(key_column.in_(batch.values())).with_for_update()
                )
            }
            if not there:
                continue
            conn.execute(sa.delete(table).where(key_column.in_(batch.values())))
            for key in batch:
                if key in there:
                    result.outcomes[key] = Outcome.DONE
        return result

    def _update(self, conn: Connection, table_map: TableMap, change: Change) -> ChangeResult:
        """MASK, RECTIFY, RESTRICT, LIFT_RESTRICTION and STOP_MARKETING: read the rows (locked),
        work out each column's new value, write only the rows where one differs."""
        masks = change.columns if change.strategy == Strategy.MASK else ()
        if not change.salt and any(Mask(how) == Mask.HASH for _column, how in masks):
            # Unsalted, a hashed e-mail address is found again by hashing a guess.
            raise ConnectorError(f"{self.name}: a hash mask needs the plan's salt")
        table = self._table(conn, table_map.name)
        key_column = self._column(conn, table, table_map.key)
        columns = [(self._column(conn, table, name), how) for name, how in change.columns]
        selected = [key_column.label("k")]
        selected += [column.label(f"c{index}") for index, (column, _how) in enumerate(columns)]
        result = ChangeResult({key: Outcome.MISSING for key in change.keys})
        for batch in _batches(self._bound_keys(key_column, table_map.name, change.keys)):
            query = sa.select(*selected).where(key_column.in_(batch.values())).with_for_update()
            for row in conn.execute(query).all():
                key = f"{table_map.name}:{key_text(row[0])}"
                new_values = {}
                for (column, how), old in zip(columns, row[1:], strict=True):
                    new = self._new_value(change, column, how, old)
                    if not _same(old, new):
                        new_values[column.name] = new
                if new_values:
                    conn.execute(sa.update(table).where(key_column == row[0]).values(new_values))
                    result.outcomes[key] = Outcome.DONE
                elif result.outcomes.get(key) != Outcome.DONE:
                    result.outcomes[key] = Outcome.ALREADY_DONE
        return result

    def _new_value(self, change: Change, column: sa.Column, how: Any, old: Any) -> Any:
        if change.strategy == Strategy.MASK:
            mask = Mask(how)
            if mask == Mask.NULL or old is None:
                return None
            if mask == Mask.REDACT:
                return ERASED_MARK
            if mask == Mask.HASH:
                # Hashed already (a change applied again): hashing the hash would differ.
                return old if str(old).startswith("sha256:") else salted_hash(old, change.salt)
            return generalised(old)
        if change.strategy == Strategy.STOP_MARKETING and how == NOW:
            return old if old is not None else _now_for(column)  # the first opt-out's time stays
        try:
            return _typed_value(column, how)
        except ValueError:
            raise ConnectorError(
                f"{self.name}: the new value of {change.target}.{column.name} is not of the "
                "column's type"
            ) from None

    def _suppress(self, conn: Connection, suppression: Suppression, change: Change) -> ChangeResult:
        """A row per identifier not listed yet. Two requests listing the same address at the
        same moment may both add it: a duplicate on a suppression list does no harm."""
        table = self._table(conn, suppression.table)
        added = False
        for kind, value in change.columns:
            if kind not in suppression.columns:
                raise ConnectorError(f"{self.name}: the suppression list has no column for {kind}")
            column = self._column(conn, table, suppression.columns[kind])
            if kind in CASE_FOLDED_KINDS and conn.dialect.name not in ("mysql", "mariadb"):
                listed = sa.func.lower(column) == str(value).lower()
            else:
                listed = column == value
            if conn.execute(sa.select(column).where(listed).limit(1)).first() is not None:
                continue
            row = {column.name: value}
            for name, constant in suppression.values.items():
                row[self._column(conn, table, name).name] = constant
            if suppression.at:
                at = self._column(conn, table, suppression.at)
                row[at.name] = _now_for(at)
            conn.execute(sa.insert(table).values(row))
            added = True
        outcome = Outcome.DONE if added else Outcome.ALREADY_DONE
        return ChangeResult({key: outcome for key in change.keys})


def _with_driver(url: URL) -> URL:
    """postgres:// and mysql:// as this project's drivers (psycopg 3, PyMySQL); relative SQLite
    paths from the project directory, so the worker finds the file whatever its cwd."""
    drivername = url.drivername
    if drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    elif drivername == "mysql":
        url = url.set(drivername="mysql+pymysql")
    elif drivername == "mariadb":
        url = url.set(drivername="mariadb+pymysql")
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            if not path.is_absolute():
                from django.conf import settings

                url = url.set(database=str(Path(settings.BASE_DIR) / path))
    return url


def _plan_line(row: Any) -> str:
    values = dict(row)
    if "detail" in values:  # SQLite: id, parent, notused, detail
        return str(values["detail"])
    if len(values) == 1:  # PostgreSQL: one "QUERY PLAN" column
        return str(next(iter(values.values())))
    return ", ".join(f"{key}={value}" for key, value in values.items() if value is not None)
