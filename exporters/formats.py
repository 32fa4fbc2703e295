"""The file formats of a bundle: JSON, CSV and a JSON Schema of the JSON, one file each per
source table of a category (see `SourceTable`).

Each streams: JSON writes one record at a time between "[" and "]"; CSV writes the table's
columns (given by the bundle; read from the records first when not) and then the rows; the
schema is written from the register's description of the table's columns, never from values.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Any

from django.utils import translation
from django.utils.translation import gettext as _

from exporters.base import BaseExporter, ExportStats, text_writer
from exporters.context import (
    REDACTED,
    BundleFacts,
    CategoryInfo,
    ColumnInfo,
    Record,
    SourceTable,
    data_keys,
    is_binary_summary,
    reiterable,
)

# Made once: json.dumps() with options builds a new encoder for every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def compact_json(value: Any) -> str:
    return _COMPACT.encode(value)


# --- JSON -----------------------------------------------------------------------------------------


class JsonExporter(BaseExporter):
    """`data/<slug>/<table>.json`: an array of the records, exactly as the contract describes
    them."""

    identifier = "json"
    verbose_name = "JSON"
    extension = "json"
    media_type = "application/json"

    def write(
        self,
        fileobj: IO[bytes],
        facts: BundleFacts,
        category: CategoryInfo,
        records: Iterable[Record],
        table: SourceTable | None = None,
    ) -> ExportStats:
        stats = ExportStats()
        encode = _ENCODER.encode
        with text_writer(fileobj) as out:
            write = out.write
            write("[")
            for record in records:
                write(",\n" if stats.records else "\n")
                write(encode(record))
                stats.records += 1
            write("\n]\n")
        return stats


# --- CSV ------------------------------------------------------------------------------------------

# Spreadsheets run a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
META_COLUMNS = ("source", "key", "found_by")


def neutralise(text: str) -> str:
    """A leading apostrophe makes a spreadsheet show the cell as text instead of running it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Any) -> str:
    """The text of one CSV cell for a (normalised) value."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return neutralise(value)
    if is_binary_summary(value):
        return f"<binary: {value['binary']} bytes, sha256 {value['sha256']}>"
    return neutralise(compact_json(value))


def csv_columns(data_keys: Iterable[str]) -> list[tuple[str, str | None]]:
    """(header, data key) pairs: the three record columns, then one per data key. A data key
    that is also a record column's name is headed `data.<key>`."""
    columns: list[tuple[str, str | None]] = [(name, None) for name in META_COLUMNS]
    columns += [(f"data.{key}" if key in META_COLUMNS else key, key) for key in data_keys]
    return columns


class CsvExporter(BaseExporter):
    """`data/<slug>/<table>.csv`: one row per record, one column per column of the source
    table in mapping order (flattened one level: nested values as compact JSON, binary content
    as a summary), spreadsheet-safe. Without a table, the union of the records' fields."""

    identifier = "csv"
    verbose_name = "CSV"
    extension = "csv"
    media_type = "text/csv"

    def write(
        self,
        fileobj: IO[bytes],
        facts: BundleFacts,
        category: CategoryInfo,
        records: Iterable[Record],
        table: SourceTable | None = None,
    ) -> ExportStats:
        records = reiterable(records)
        # The table's columns are known beforehand; otherwise a first pass reads the names.
        columns = csv_columns(table.columns if table is not None else data_keys(records))
        data_columns = [key for _header, key in columns[len(META_COLUMNS) :]]
        stats = ExportStats()
        with text_writer(fileobj) as out:
            writerow = csv.writer(out, lineterminator="\r\n").writerow
            writerow([neutralise(header) for header, _key in columns])
            for record in records:
                data = record["data"]
                row = [
                    neutralise(record["source"]),
                    neutralise(record["key"]),
                    neutralise(record["found_by"]),
                ]
                row.extend([csv_cell(data[key]) if key in data else "" for key in data_columns])
                writerow(row)
                stats.records += 1
        return stats


# --- JSON Schema ----------------------------------------------------------------------------------

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A DataField's value type as JSON Schema. Every column may be null: the register does not know
# whether a source leaves a value empty. Exact amounts come as numbers from some drivers and as
# decimal text ("12.50") from others (Decimal), so both are allowed, the text as a decimal.
_VALUE_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "decimal": {"type": ["number", "string", "null"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
    "boolean": {"type": ["boolean", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "date-time": {"type": ["string", "null"], "format": "date-time"},
    "time": {"type": ["string", "null"], "format": "time"},
}


def column_schema(column: str, info: ColumnInfo | None) -> dict[str, Any]:
    """One column as the register describes it: titles in both languages, type, format and
    currency. A column the register does not describe may hold any value."""
    if info is None or not info.value_type:
        described: dict[str, Any] = {"title": info.label if info and info.label else column}
        described["description"] = _("Not described in our register of processing.")
        return described
    value = dict(_VALUE_TYPES.get(info.value_type, _VALUE_TYPES["string"]))
    if info.value_format and value["type"] == ["string", "null"]:
        value["format"] = info.value_format
    described = {"title": info.label or column}
    for other in sorted(info.titles):
        described[f"x-title-{other}"] = info.titles[other]
    texts = [info.description] if info.description else []
    if info.currency:
        texts.append(_("An amount in %(currency)s.") % {"currency": info.currency})
        described["x-currency"] = info.currency
    if texts:
        described["description"] = " ".join(texts)
    if value["type"] == ["string", "null"] and "format" not in value and "pattern" not in value:
        return {**described, **value}  # "[redacted]" is text too
    # A reviewer may have withheld the value: the data files then hold "[redacted]".
    return {**described, "anyOf": [value, {"$ref": "#/$defs/withheld"}]}


def table_schema(facts: BundleFacts, category: CategoryInfo, table: SourceTable) -> dict[str, Any]:
    """The JSON Schema of one data file, texts in the subject's language."""
    with translation.override(facts.language):
        properties = {column: column_schema(column, info) for column, info in table.columns.items()}
        data_schema: dict[str, Any] = {"type": "object", "properties": properties}
        # Closed only when the mapping named every column seen: then nothing else can appear.
        data_schema["additionalProperties"] = not table.mapped
        description = category.description
        if category.examples:
            description = f"{description}\n\n{_('Examples')}: {category.examples}".strip()
        title = f"{category.code} {category.name}".strip()
        where = table.system if table.place in ("", "*") else f"{table.system} ({table.place})"
        if where:
            title = f"{title}: {where}"
        return {
            "$schema": SCHEMA_DIALECT,
            "title": title,
            "description": description,
            "x-language": facts.language,
            "type": "array",
            "items": {"$ref": "#/$defs/record"},
            "$defs": {
                "record": {
                    "type": "object",
                    "title": _("Record"),
                    "properties": {
                        "source": {
                            "type": "string",
                            "title": _("Source system"),
                            "description": _("The system of ours this record was found in."),
                        },
                        "key": {
                            "type": "string",
                            "title": _("Record key"),
                            "description": _("The record's identifier in that system."),
                        },
                        "found_by": {
                            "type": "string",
                            "title": _("Found by"),
                            "description": _(
                                "The kind of identifier that found this record (for example "
                                "e-mail); the identifier itself is not repeated."
                            ),
                        },
                        "data": {
                            "title": _("Data"),
                            "description": _("The fields of the record and their values."),
                            **data_schema,
                        },
                    },
                    "required": ["source", "key", "found_by", "data"],
                    "additionalProperties": False,
                },
                "withheld": {
                    "const": REDACTED,
                    "title": _("Withheld"),
                    "description": _(
                        "A value we withheld, for example because it is about another person; "
                        "the report says why."
                    ),
                },
                "binary": {
                    "type": "object",
                    "title": _("Binary content (summary)"),
                    "description": _(
                        "Files and other binary content are summarised by their size and "
                        "SHA-256 hash."
                    ),
                    "properties": {
                        "binary": {
                            "type": "integer",
                            "minimum": 0,
                            "description": _("Size in bytes"),
                        },
                        "sha256": {
                            "type": "string",
                            "description": _("SHA-256 hash, hexadecimal"),
                        },
                    },
                    "required": ["binary", "sha256"],
                    "additionalProperties": False,
                },
            },
        }


class JsonSchemaExporter(BaseExporter):
    """`schema/<slug>/<table>.schema.json`: a JSON Schema (draft 2020-12) of the table's data
    file, from the register's description of its columns (portability bundles, Art. 20)."""

    identifier = "jsonschema"
    verbose_name = "JSON Schema"
    extension = "schema.json"
    media_type = "application/schema+json"
    folder = "schema"
    kinds = ("portability",)
    holds_records = False

    def write(
        self,
        fileobj: IO[bytes],
        facts: BundleFacts,
        category: CategoryInfo,
        records: Iterable[Record],
        table: SourceTable | None = None,
    ) -> ExportStats:
        stats = ExportStats()
        if table is None:
            # A whole category: its fields by name only (their types are not guessed).
            table = SourceTable(stem=category.slug, system="", place="")
            for record in records:
                table.columns.update(dict.fromkeys(record["data"]))
                stats.records += 1
        else:
            stats.records = table.records  # the bundle counted them: nothing to read
        schema = table_schema(facts, category, table)
        with text_writer(fileobj) as out:
            out.write(json.dumps(schema, ensure_ascii=False, indent=2))
            out.write("\n")
        return stats
