"""The plain data an exporter is given: no models, no querysets, nothing from casework.

Casework turns a case and the register into a `BundleFacts` (the case's facts and, for every data
category of the register, a `CategoryInfo` with the texts already in the subject's language) and
hands over the subject's records as a function:

    records_by_category(slug) -> Iterable[dict]

Each call starts a new stream of the records of one category, so an exporter can read a category
twice (the CSV exporter collects the columns first, then writes) without holding it. A record is

    {"source": "crm accounts",        # the system it came from, as the subject may read it
     "key": "4711",                   # its key there
     "found_by": "email",             # the kind of identifier that found it (never the value)
     "data": {field: value, ...}}

A record may carry a fifth key, `"withheld": {field: reason}`, for values a reviewer withheld
(the value itself is then REDACTED, "[redacted]"); the reason is a ground of casework's review
(`other_person`, `legal_privilege`, `trade_secret`, `other_exemption`). Only the report reads it,
to say why; the data files show the value as "[redacted]".

Values are str, int, float, bool, None, nested dicts and lists, or a binary summary
`{"binary": n_bytes, "sha256": "..."}` (files are summarised, never exported whole).
`normalise_record()` makes any record fit this shape (dates, decimals and UUIDs become text,
bytes become a binary summary, NaN and infinities become text); every exporter reads records
through it, so all of them write the same values.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.text import slugify

# The connectors produce the records: one rule for plain values, kept in the lower layer.
from dsar.connectors.base import PLAIN_SCALARS, plain_value

LANGUAGES = ("sq", "en")
REQUEST_TYPES = ("access", "portability")
ORIGINS = ("provided", "observed", "inferred", "third_party")
# Portability (Art. 20) covers data the subject provided and data observed from their use.
PORTABLE_ORIGINS = ("provided", "observed")

Record = dict[str, Any]
REDACTED = "[redacted]"
RecordsByCategory = Callable[[str], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class CategoryInfo:
    """One data category of the register, its texts in the subject's language.

    `held` says whether the controller holds this kind of data at all (payment cards are not:
    `not_held_reason` says why). Lists are ready to print: legal bases name their article
    ("Legitimate interests (Art. 6(1)(f) GDPR)"), recipients the condition under which they
    receive it, if any ("Prospective buyer: only if we sell business assets"), transfers their
    destination and safeguard ("United States: EU standard contractual clauses"). `field_labels` optionally maps a data key to the
    register's name for it, used as column title in the report and as title in the schema.
    """

    slug: str
    code: str
    name: str
    description: str = ""
    examples: str = ""
    origin: str = "provided"
    portable: bool = False
    held: bool = True
    not_held_reason: str = ""
    purposes: list[str] = field(default_factory=list)
    legal_bases: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    retention: str = ""
    transfers: list[str] = field(default_factory=list)
    special_category_note: str = ""
    # "<field>: <Art. 9(2) condition>" for each field that may reveal Art. 9 data.
    special_category_conditions: list[str] = field(default_factory=list)
    other_people_note: str = ""
    field_labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, not {self.origin!r}")
        if not self.slug or "/" in self.slug or self.slug.startswith("."):
            raise ValueError(f"not a usable category slug: {self.slug!r}")

    @property
    def from_subject(self) -> bool:
        return self.origin == "provided"


@dataclass(frozen=True)
class ColumnInfo:
    """One exported column of a source, as the register describes its field: the report shows
    it under `label` (the field's name in the subject's language), as an amount when a
    currency is named; the portability schema states its `titles` in both languages
    ({"sq": ..., "en": ...}), its `value_type` (a DataField value type: string, integer,
    number, decimal, boolean, date, date-time, time) and `value_format` (email, uri, ...).
    `category` is the slug of the data category the column's values are exported under; an
    empty label or value type means the register has no field for the column."""

    label: str
    currency: str = ""
    category: str = ""
    titles: dict[str, str] = field(default_factory=dict)
    value_type: str = ""
    value_format: str = ""
    description: str = ""


@dataclass(frozen=True)
class SystemInfo:
    """A source system as the report names it, and its exported columns.

    Records name their source as "<system name>: <table, endpoint or file>" (the casework
    selector writes it so); `name` is the system's name in the register. `columns` maps a
    source (a table, an endpoint's path template, or "*" for any source of the system, as for
    the files of a folder) to its columns, `labels` such a source to its readable name.
    """

    name: str
    columns: dict[str, dict[str, ColumnInfo]] = field(default_factory=dict)
    slug: str = ""  # stable, for file names; the name's slug when empty
    # source -> what the mapping calls it in the subject's language ("*": every file)
    labels: dict[str, str] = field(default_factory=dict)

    def column(self, source: str, column: str) -> ColumnInfo | None:
        found = self.columns.get(source, {}).get(column)
        return found if found is not None else self.columns.get("*", {}).get(column)

    def place_label(self, place: str) -> str:
        """The mapping's name for a place in the subject's language; a file keeps its own
        name after its folder's ("Attendee lists: 2024.csv"). "" when the mapping names none."""
        if place in self.labels:
            return self.labels[place]
        if "*" in self.labels:
            return f"{self.labels['*']}: {place}" if place else self.labels["*"]
        return ""


@dataclass
class SourceTable:
    """The records of one category that came from one table of a system (an endpoint, or
    every file of a folder: the mapping is the same for all of them), written to one file per
    format so that its columns stay consistent.

    `stem` names the files (`data/<category>/<stem>.json`); `columns` are the table's mapped
    columns of this category in mapping order, with what the register says of each (None:
    not described), followed by any other field its records carried; `mapped` is true when
    the mapping listed every column seen. `sources` are the record sources it gathers.
    """

    stem: str
    system: str
    place: str
    columns: dict[str, ColumnInfo | None] = field(default_factory=dict)
    mapped: bool = False
    sources: set[str] = field(default_factory=set)
    records: int = 0


def place_stem(place: str) -> str:
    """A table's, endpoint's or file's name as part of a file name: "order_lines",
    "/api/customers/{subject_key}/tickets" -> "tickets", "Attendees 2024.csv" -> "attendees-2024-csv"."""
    if "/" in place or "{" in place:
        segments = [s for s in place.split("?")[0].split("/") if s and "{" not in s]
        place = segments[-1] if segments else ""
    return slugify(place.replace(".", "-"))


class SourceIndex:
    """Which system and table a record's source names, and the table's file within a
    category: looked up once per distinct source, never per record."""

    def __init__(self, facts: BundleFacts | None):
        # Longest name first: "CRM: archive" is not taken for the system "CRM" plus "archive"
        # when a system is called "CRM: archive".
        systems = facts.systems if facts else []
        self.systems = sorted(systems, key=lambda s: len(s.name), reverse=True)
        self._places: dict[str, tuple[str, str, SystemInfo | None]] = {}

    def place(self, source: str) -> tuple[str, str, SystemInfo | None]:
        """(system name, place within it as the mapping names it, the system's info)."""
        found = self._places.get(source)
        if found is None:
            for system in self.systems:
                if source == system.name or source.startswith(system.name + ": "):
                    found = (system.name, source[len(system.name) + 2 :], system)
                    break
            else:
                name, _sep, place = source.partition(": ")
                found = (name, place, None)
            self._places[source] = found
        return found

    def table_key(self, source: str) -> tuple[str, str, SystemInfo | None]:
        """(system, mapped place, info): the files of a folder share their system's "*"."""
        name, place, system = self.place(source)
        if system is not None and place not in system.columns and "*" in system.columns:
            place = "*"
        return name, place, system


class SourceTables:
    """The source tables of one category, in the order their records first come, each with
    unique file stems; built by `add(source, data_keys)` over one pass of the records."""

    def __init__(self, index: SourceIndex, category: str):
        self.index = index
        self.category = category
        self.tables: dict[tuple[str, str], SourceTable] = {}
        self._by_source: dict[str, SourceTable] = {}
        self._stems: set[str] = set()

    def table(self, source: str) -> SourceTable:
        table = self._by_source.get(source)
        if table is None:
            name, place, system = self.index.table_key(source)
            table = self.tables.get((name, place))
            if table is None:
                table = self.tables[(name, place)] = self._new(name, place, system)
            table.sources.add(source)
            self._by_source[source] = table
        return table

    def _new(self, name: str, place: str, system: SystemInfo | None) -> SourceTable:
        prefix = (system.slug if system is not None and system.slug else "") or slugify(name)
        stem = "-".join(p for p in (prefix, place_stem(place) if place != "*" else "") if p)
        stem = stem or "records"
        unique, n = stem, 2
        while unique in self._stems:
            unique, n = f"{stem}-{n}", n + 1
        self._stems.add(unique)
        table = SourceTable(stem=unique, system=name, place=place)
        if system is not None and place in system.columns:
            table.columns = {
                column: info
                for column, info in system.columns[place].items()
                if not info.category or info.category == self.category
            }
            table.mapped = bool(table.columns)
        return table

    def add(self, source: str, keys: Iterable[str]) -> SourceTable:
        table = self.table(source)
        table.records += 1
        columns = table.columns
        for key in keys:
            if key not in columns:
                columns[key] = None
                table.mapped = False
        return table

    def __iter__(self) -> Iterator[SourceTable]:
        return iter(self.tables.values())


@dataclass(frozen=True)
class Authority:
    """The supervisory authority the subject may complain to (Art. 77 GDPR), named in full."""

    name: str
    address: str = ""
    website: str = ""


@dataclass(frozen=True)
class BundleFacts:
    """What the report and the manifest say about the case, in the subject's language.

    Empty `rights_text`, `complaint_text` and `automated_decisions_text` are replaced by the
    exporters' standard texts in the subject's language (no automated decision-making, the
    rights of Art. 16-21, a complaint to a supervisory authority). `failed_sources` names the
    systems that could not be searched: the report then says that the answer is incomplete.
    `categories` is the whole register, held or not, in the order the report shows them.
    `time_zone` is the controller's (dates are printed there); empty means
    settings.DSAR_TIME_ZONE. `systems` name the source systems and label their columns for
    the report's data tables (records of a system not listed are shown under the name their
    source gives, their columns under the category's `field_labels` or a readable form of
    the column's name).
    `controller_entity` and `controller_address` name the legal person behind
    `controller_name` and where to write to it; `authority` is the supervisory authority
    (without it the report speaks of "a supervisory authority"); `laws` are the laws the
    answer is given under (the GDPR and the local law).
    """

    reference: str
    request_type: str
    language: str
    subject_name: str
    received_on: dt.date
    due_on: dt.date
    generated_at: dt.datetime
    controller_name: str
    controller_contact: str = ""
    dpo_email: str = ""
    rights_text: str = ""
    complaint_text: str = ""
    automated_decisions_text: str = ""
    failed_sources: list[str] = field(default_factory=list)
    categories: list[CategoryInfo] = field(default_factory=list)
    generator_version: str = ""
    time_zone: str = ""
    systems: list[SystemInfo] = field(default_factory=list)
    controller_entity: str = ""
    controller_address: str = ""
    authority: Authority | None = None
    laws: list[str] = field(default_factory=list)
    # The recipients the systems that hold the subject's data disclose it to (Art. 15(1)(c):
    # the recipients "to whom the personal data have been or will be disclosed").
    disclosed_to: list[str] = field(default_factory=list)
    # The subject asked only for the categories of their data and how they are used (the
    # register's part: Art. 15(1)(a)-(h)): the report describes the register's categories,
    # with no data pages, and the bundle holds no data files. No system was searched.
    register_only: bool = False

    def __post_init__(self) -> None:
        if self.request_type not in REQUEST_TYPES:
            raise ValueError(f"request_type must be one of {REQUEST_TYPES}")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}")
        if self.generated_at.tzinfo is None:
            raise ValueError("generated_at must be an aware datetime")
        slugs = [c.slug for c in self.categories]
        if len(slugs) != len(set(slugs)):
            raise ValueError("category slugs must be unique")

    @property
    def complete(self) -> bool:
        return not self.failed_sources

    def category(self, slug: str) -> CategoryInfo:
        for category in self.categories:
            if category.slug == slug:
                return category
        raise KeyError(slug)


LETTER_KINDS = (
    "rectification",  # done: what was corrected
    "erasure",  # done: what was erased, what was kept and why
    "restriction",  # done: what is restricted
    "objection",  # done: what processing stopped
    "refusal",  # the request is refused, with the reason
    "extension",  # the deadline is extended, with the new date and the reason
    "lifting",  # a restriction is about to be lifted, with the reason (Art. 18(3))
    # Notices by post, for a subject who may not be e-mailed:
    "acknowledgement",  # the request is received, and the date of the answer
    "question",  # what we need from the subject (`message`)
    "ready",  # the subject's data is ready: how to receive it
    "completion",  # the request is completed
)
DONE_KINDS = LETTER_KINDS[:4]


@dataclass(frozen=True)
class LetterFacts:
    """A letter for the outcomes other than access and portability.

    `done` lists what was done, one sentence each ("Your phone number in the CRM was
    corrected."); `kept` lists (category, reason) pairs for data that was not erased,
    restricted or changed. `request_type` is the request the letter answers (for a refusal or
    an extension it may be any of the six); `reason` is required for a refusal, an
    extension and the lifting of a restriction, `new_due_on` for an extension.
    """

    kind: str
    reference: str
    language: str
    subject_name: str
    request_type: str
    received_on: dt.date
    generated_at: dt.datetime
    controller_name: str
    controller_contact: str = ""
    dpo_email: str = ""
    complaint_text: str = ""
    done: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)
    # A rectification: (what the subject asked to correct, why it was not) per refusal.
    refused: list[tuple[str, str]] = field(default_factory=list)
    # The processors instructed to make the change in systems they run for the controller
    # (one sentence each), when copies leave the backups (one sentence per system), and the
    # recipients the data was disclosed to with what they were told: (recipient, what).
    processors: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    recipients: list[tuple[str, str]] = field(default_factory=list)
    reason: str = ""
    message: str = ""  # a question's text, as staff wrote it for the subject
    due_on: dt.date | None = None
    new_due_on: dt.date | None = None
    generator_version: str = ""
    time_zone: str = ""
    authority: Authority | None = None
    # An objection to processing on legitimate interests: what the DPO decided ("stop" or
    # "compelling"), told with `reason`.
    objection_decided: str = ""
    # An objection to direct marketing or disclosure, or its lifting: what the subject is told
    # of their opt-out, one paragraph each (marketing stopped, disclosure stopped; or lifted).
    opt_out: list[str] = field(default_factory=list)
    # The objection case lifts the subject's earlier objection (an opt-in).
    lifting: bool = False

    def __post_init__(self) -> None:
        if self.kind not in LETTER_KINDS:
            raise ValueError(f"kind must be one of {LETTER_KINDS}")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}")
        if self.generated_at.tzinfo is None:
            raise ValueError("generated_at must be an aware datetime")
        if self.kind in ("refusal", "extension", "lifting") and not self.reason.strip():
            raise ValueError(f"a {self.kind} letter needs the reason the subject is told")
        if self.kind == "question" and not self.message.strip():
            raise ValueError("a question letter needs the question")
        if self.kind == "extension" and self.new_due_on is None:
            raise ValueError("an extension letter needs the new due date")


def controller_zone(name: str = "") -> zoneinfo.ZoneInfo:
    """The controller's time zone: `name`, else settings.DSAR_TIME_ZONE."""
    from django.conf import settings

    return zoneinfo.ZoneInfo(name or getattr(settings, "DSAR_TIME_ZONE", "") or "Europe/Tirane")


# --- records --------------------------------------------------------------------------------------


def is_binary_summary(value: Any) -> bool:
    return (
        type(value) is dict
        and len(value) == 2
        and type(value.get("binary")) is int
        and isinstance(value.get("sha256"), str)
    )


def _text(value: Any) -> str:
    return value if type(value) is str else ("" if value is None else str(value))


def normalise_record(record: Mapping[str, Any]) -> Record:
    """The record in the contract's shape, with exactly its four keys."""
    data = record.get("data") or {}
    if type(data) is dict:
        # The usual record (text keys, scalar values) keeps its data dict as it is: this runs
        # once per record and pass, so it is kept cheap. Exporters never change a record.
        for key, value in data.items():
            kind = type(value)
            if type(key) is not str or (
                kind not in PLAIN_SCALARS and not (kind is float and math.isfinite(value))
            ):
                data = {str(k): plain_value(v) for k, v in data.items()}
                break
    elif isinstance(data, Mapping):
        data = {str(k): plain_value(v) for k, v in data.items()}
    else:
        data = {"value": plain_value(data)}
    source, key, found_by = record.get("source"), record.get("key"), record.get("found_by")
    return {
        "source": source if type(source) is str else _text(source),
        "key": key if type(key) is str else _text(key),
        "found_by": found_by if type(found_by) is str else _text(found_by),
        "data": data,
    }


class CategoryRecords:
    """The records of one category, re-iterable: each `iter()` starts a new stream.

    An exporter that needs two passes simply iterates twice; nothing is kept in between.
    """

    def __init__(self, records_by_category: RecordsByCategory, slug: str):
        self._records_by_category = records_by_category
        self.slug = slug

    def __iter__(self) -> Iterator[Record]:
        for record in self._records_by_category(self.slug):
            yield normalise_record(record)

    def raw(self) -> Iterable[Mapping[str, Any]]:
        """The source's records as they come (for a pass that reads only keys)."""
        return self._records_by_category(self.slug)


def source_text(source: Any) -> str:
    """A record's source as text, the same wherever records are grouped by it."""
    return source if type(source) is str else _text(source)


class TableRecords:
    """The records of one category that came from one source table, re-iterable like
    CategoryRecords: each pass reads the category's stream anew and keeps that table's."""

    def __init__(self, records_by_category: RecordsByCategory, slug: str, sources: set[str]):
        self._records_by_category = records_by_category
        self.slug = slug
        self.sources = sources

    def __iter__(self) -> Iterator[Record]:
        sources = self.sources
        for record in self._records_by_category(self.slug):
            if source_text(record.get("source")) in sources:
                yield normalise_record(record)


def data_keys(records: Iterable[Mapping[str, Any]]) -> dict[str, None]:
    """The data fields of the records, in the order first seen (a dict used as ordered set).
    Over CategoryRecords the source's records are read as they are, without normalising them."""
    keys: dict[str, None] = {}
    if isinstance(records, CategoryRecords):
        for record in records.raw():
            data = record.get("data") or {}
            if not isinstance(data, Mapping):
                keys.setdefault("value")
                continue
            for key in data:
                if key not in keys:
                    keys[str(key)] = None
    else:
        for record in records:
            for key in record["data"]:
                if key not in keys:
                    keys[key] = None
    return keys


def reiterable(records: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Refuse a one-shot iterator where two passes may be needed."""
    if iter(records) is records:
        raise TypeError(
            "records must be re-iterable (a list, or CategoryRecords), not a one-shot iterator"
        )
    return records
