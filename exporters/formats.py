"""The per-category file formats of a bundle: JSON, CSV and a JSON Schema of the JSON.

Each streams: JSON writes one record at a time between "[" and "]"; CSV reads the category
twice (the column names first, keeping only the names, then the rows); the schema keeps one
small description per distinct field, never a record.
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
    BundleFacts,
    CategoryInfo,
    Record,
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
    """`data/<slug>.json`: an array of the records, exactly as the contract describes them."""

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
    """`data/<slug>.csv`: one row per record, one column per data field (flattened one level:
    nested values as compact JSON, binary content as a summary), spreadsheet-safe."""

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
    ) -> ExportStats:
        records = reiterable(records)
        columns = csv_columns(data_keys(records))  # first pass: the names only
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
_MAX_DEPTH = 6  # deeper values are described as "any value"
_MAX_PROPERTIES = 1000  # per object; beyond it the object is left open
_SCALAR_ORDER = ("string", "integer", "number", "boolean", "null")
_SCALAR_TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class Shape:
    """What the values seen at one place of the records looked like: their JSON types, the
    fields of objects (and how often each was present), the items of arrays."""

    __slots__ = ("binary", "count", "items", "objects", "open", "properties", "types", "unbounded")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.properties: dict[str, Shape] = {}
        self.objects = 0  # how many objects were seen here
        self.count = 0  # how many times this place was present in its parent object
        self.items: Shape | None = None
        self.binary = False
        self.open = False  # an object had more fields than we describe
        self.unbounded = False  # too deep to describe

    def observe(self, value: Any, depth: int = 0) -> None:
        scalar = _SCALAR_TYPES.get(type(value))
        if scalar is not None:
            self.types.add(scalar)
        elif depth > _MAX_DEPTH:
            self.unbounded = True
        elif is_binary_summary(value):
            self.binary = True
        elif isinstance(value, dict):
            self.types.add("object")
            self.objects += 1
            for key, item in value.items():
                child = self.properties.get(key)
                if child is None:
                    if len(self.properties) >= _MAX_PROPERTIES:
                        self.open = True
                        continue
                    child = self.properties[key] = Shape()
                child.count += 1
                child.observe(item, depth + 1)
        elif isinstance(value, list):
            self.types.add("array")
            if self.items is None:
                self.items = Shape()
            for item in value:
                self.items.observe(item, depth + 1)
        elif value is None:
            self.types.add("null")
        elif isinstance(value, bool):
            self.types.add("boolean")
        elif isinstance(value, int):
            self.types.add("integer")
        elif isinstance(value, float):
            self.types.add("number")
        else:
            self.types.add("string")

    def schema(self, labels: dict[str, str] | None = None) -> dict[str, Any]:
        if self.unbounded:
            return {}
        scalars = [t for t in _SCALAR_ORDER if t in self.types]
        if "number" in scalars and "integer" in scalars:
            scalars.remove("integer")  # every integer is a number
        branches: list[dict[str, Any]] = []
        if scalars:
            branches.append({"type": scalars[0] if len(scalars) == 1 else scalars})
        if "object" in self.types:
            branches.append(self._object_schema(labels or {}))
        if "array" in self.types:
            items = self.items.schema() if self.items is not None else {}
            branches.append({"type": "array", "items": items})
        if self.binary:
            branches.append({"$ref": "#/$defs/binary"})
        if not branches:
            return {}
        if len(branches) == 1:
            return branches[0]
        return {"anyOf": branches}

    def _object_schema(self, labels: dict[str, str]) -> dict[str, Any]:
        properties = {}
        for key, child in self.properties.items():
            described = child.schema()
            if key in labels:
                described = {"title": labels[key], **described}
            properties[key] = described
        required = [key for key, child in self.properties.items() if child.count == self.objects]
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        schema["additionalProperties"] = self.open
        return schema


def category_schema(facts: BundleFacts, category: CategoryInfo, data: Shape) -> dict[str, Any]:
    """The JSON Schema of `data/<slug>.json`, texts in the subject's language."""
    with translation.override(facts.language):
        data_schema = data.schema(category.field_labels) if data.types else {"type": "object"}
        if data_schema.get("type") == "object":
            data_schema.setdefault("properties", {})
        description = category.description
        if category.examples:
            description = f"{description}\n\n{_('Examples')}: {category.examples}".strip()
        return {
            "$schema": SCHEMA_DIALECT,
            "title": f"{category.code} {category.name}".strip(),
            "description": description,
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
    """`schema/<slug>.schema.json`: a JSON Schema (draft 2020-12) of `data/<slug>.json`, built
    from the fields and value types seen in the records (portability bundles, Art. 20)."""

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
    ) -> ExportStats:
        data = Shape()
        stats = ExportStats()
        for record in records:
            data.observe(record["data"])
            stats.records += 1
        schema = category_schema(facts, category, data)
        with text_writer(fileobj) as out:
            out.write(json.dumps(schema, ensure_ascii=False, indent=2))
            out.write("\n")
        return stats
