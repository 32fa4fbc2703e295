"""The one base class every connector extends (the pretix/healthchecks plug-in shape).

A connector is built from a system's `config` (a dict: JSON in the admin, or YAML in version
control). Any kind may keep its settings in a YAML file named by `mapping_file` (mapping.py):
this class merges it in, for every kind alike, before the connector validates or reads its
settings. A connector answers three questions:

- `check()`: can I reach the system with these credentials, and does the mapping match its
  schema? A list of plain-language problems, empty when all is well.
- `find_subject(identifiers)`: which subjects of this system do these identifiers point at?
  Each match carries the system's own subject key, the identifier that found it, and every
  identifier the system knows for that subject (so that other systems can be searched by them).
  An identifier that matches more than one subject (a switchboard phone, info@) is reported as
  ambiguous and not followed.
- `export(match)`: the subject's records, streamed one by one, each tagged with its data
  category (a DataCategory slug of the register) and the identifier that found it.

Errors: `TransientConnectorError` (timeouts, 429, 5xx, a dropped connection; carries any
Retry-After) is retried by the task; every other `ConnectorError` is permanent. Connectors
never retry by themselves, so retries never nest; and their messages never quote values from
the source (a driver's constraint message can carry an e-mail).

Record data holds plain JSON values only (`plain_value`): the exporters write them as they are.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

# The errors live in errors.py (mapping.py builds on them too); importers find them here as well.
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    ChangeResult,
    Intent,
    RecordFacts,
    RecordRef,
    Strategy,
)
from dsar.connectors.errors import ConfigurationError as ConfigurationError
from dsar.connectors.errors import ConnectorError as ConnectorError
from dsar.connectors.errors import TransientConnectorError as TransientConnectorError
from dsar.connectors.mapping import merged_config
from dsar.identifiers import Identifier


@dataclass(frozen=True)
class SubjectMatch:
    subject_key: str  # the system's own key for the subject (stringified)
    found_by: Identifier
    identifiers: frozenset[Identifier] = frozenset()  # everything the system knows of them


@dataclass(frozen=True)
class AmbiguousIdentifier:
    identifier: Identifier
    matches: int  # how many subjects it matched in this system


@dataclass
class Lookup:
    matches: list[SubjectMatch] = field(default_factory=list)
    ambiguous: list[AmbiguousIdentifier] = field(default_factory=list)

    def add(self, match: SubjectMatch) -> None:
        """One match per subject: found again by another identifier, the first match stays
        (and is exported once) and takes in what the new one taught."""
        for index, earlier in enumerate(self.matches):
            if earlier.subject_key == match.subject_key:
                self.matches[index] = SubjectMatch(
                    earlier.subject_key,
                    found_by=earlier.found_by,
                    identifiers=earlier.identifiers | match.identifiers,
                )
                return
        self.matches.append(match)

    def learnt(self) -> set[Identifier]:
        found: set[Identifier] = set()
        for match in self.matches:
            found |= match.identifiers
        return found


# --- record values -------------------------------------------------------------------------

# Values taken as they are: the common case, checked by exact type (subclasses go the long way).
PLAIN_SCALARS = (str, int, bool, type(None))


def binary_summary(content: bytes) -> dict[str, Any]:
    """What a record holds instead of binary content: its size and hash, never the bytes."""
    return {"binary": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def _finite(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _plain_dict(value: Mapping) -> dict[str, Any]:
    return {str(k): plain_value(v) for k, v in value.items()}


def _plain_list(value: Any) -> list[Any]:
    return [plain_value(v) for v in value]


# The exact types drivers hand back most, each to its plain form in one dictionary lookup
# (the isinstance chain below costs microseconds a value: tens of milliseconds a big subject).
EXACT_CONVERSIONS: dict[type, Any] = {
    float: _finite,
    dict: _plain_dict,
    list: _plain_list,
    tuple: _plain_list,
    decimal.Decimal: str,
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    dt.time: dt.time.isoformat,
    uuid.UUID: str,
    dt.timedelta: str,
}


def plain_value(value: Any) -> Any:
    """A value the JSON encoder takes as is: str, int, float, bool, None, dicts with text keys,
    lists, or a binary summary. Dates and times become ISO text; Decimal, UUID, timedelta and
    anything else their text; NaN and infinities text too; sets a list sorted for a stable
    output."""
    kind = type(value)
    # The exact built-in types first: this runs once per value of every exported record.
    if kind in PLAIN_SCALARS:
        return value
    convert = EXACT_CONVERSIONS.get(kind)
    if convert is not None:
        return convert(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return binary_summary(bytes(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return _plain_dict(value)
    if isinstance(value, list | tuple):  # subclasses (named tuples, ...)
        return _plain_list(value)
    if isinstance(value, set | frozenset):
        return sorted((plain_value(v) for v in value), key=repr)
    if isinstance(value, bool | int | str):  # subclasses (IntEnum, StrEnum, ...)
        return value
    if isinstance(value, float):
        return _finite(float(value))
    return str(value)  # Decimal subclasses, addresses, ranges, driver-specific types


@dataclass
class Record:
    category: str  # DataCategory slug
    source: str  # where in the system: a table, an endpoint, a file
    key: str  # stable within the system, so a record is stored once however often it is found
    data: dict[str, Any]
    subject_key: str = ""
    found_by: Identifier | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "source": self.source,
            "key": self.key,
            "subject_key": self.subject_key,
            "found_by": self.found_by.as_dict() if self.found_by else None,
            "data": self.data,
        }


# --- exported columns and the register's fields ----------------------------------------------

# What a mapping may say about one exported column, besides its category (SQL): the register's
# field it fills, and the currency of an amount.
COLUMN_OPTIONS = {"field", "currency"}
FIELD_KEY = re.compile(r"^[-a-z0-9_]+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def field_key(column: str) -> str:
    """The register field a column fills when its mapping names none: the column's name,
    normalised ("Dietary needs" -> "dietary_needs", "customerNo" -> "customerno")."""
    return re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


@dataclass(frozen=True)
class ExportedColumn:
    """One column a system exports: the report shows it under the name the register gives its
    field (DataField `field` of `category`), and as an amount in `currency` when one is named."""

    category: str
    source: str  # as records name it: a table, an endpoint's path template; "*": any source
    column: str
    field: str
    currency: str = ""


def check_column_options(options: Any, where: str, problems: list[str]) -> None:
    """Problems with a column's `field` and `currency` (other keys are the caller's to check)."""
    field_name = options.get("field")
    if field_name is not None and not (isinstance(field_name, str) and FIELD_KEY.match(field_name)):
        problems.append(f"{where}.field: must be a register field key such as customer_number")
    currency = options.get("currency")
    if currency is not None and not (isinstance(currency, str) and CURRENCY.match(currency)):
        problems.append(f"{where}.currency: must be an ISO 4217 code such as EUR or ALL")


LABEL_LANGUAGE = re.compile(r"^[a-z]{2}$")


def check_label(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    """A readable name for a table, endpoint or folder, per language ({sq: ..., en: ...}): what
    the report calls it instead of its technical name. {} when not given or not valid."""
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and LABEL_LANGUAGE.match(k) for k in value)
        or not all(isinstance(v, str) and v.strip() for v in value.values())
    ):
        problems.append(f"{where}: must map language codes to text, e.g. {{sq: ..., en: ...}}")
        return {}
    return {language: text.strip() for language, text in value.items()}


def listed_columns(spec: Any, where: str, problems: list[str]) -> list[tuple[str, dict]]:
    """A list of column names, or a mapping of column name to {field, currency}: both say which
    columns are exported; the mapping also says what they are. [(column, options)]."""
    if isinstance(spec, list) and spec and all(isinstance(c, str) and c.strip() for c in spec):
        return [(column, {}) for column in spec]
    if isinstance(spec, dict) and spec:
        columns = []
        for column, options in spec.items():
            options = {} if options is None else options
            if not isinstance(column, str) or not column.strip() or not isinstance(options, dict):
                problems.append(
                    f"{where}: {column!r} must map to {{}} or {{field: ..., currency: ...}}"
                )
                continue
            unknown = set(options) - COLUMN_OPTIONS
            if unknown:
                problems.append(f"{where}.{column}: unknown keys: {', '.join(sorted(unknown))}")
            check_column_options(options, f"{where}.{column}", problems)
            columns.append((column, options))
        return columns
    problems.append(f"{where} must be a list of names, or a mapping of name to {{field: ...}}")
    return []


class BaseConnector:
    """Subclass, set `kind` and `verbose_name`, implement the methods; register the class's
    dotted path in settings.DSAR_CONNECTORS."""

    kind: ClassVar[str] = ""
    verbose_name: ClassVar[str] = ""

    def __init__(self, config: dict[str, Any], *, name: str = "") -> None:
        # Merged once: the connector validates and then uses the same settings, even if the
        # mapping file changes meanwhile.
        merged = _merged(config)
        problems = self.validate_merged_config(merged)
        if problems:
            raise ConfigurationError("; ".join(problems))
        self.config = merged
        self.name = name or self.kind

    @classmethod
    def validate_config(cls, config: Any) -> list[str]:
        """Problems with the configuration as stored (its mapping file included), without
        contacting the system. Kinds override `validate_merged_config`, not this."""
        try:
            merged = _merged(config)
        except ConfigurationError as exc:
            return [str(exc)]
        return cls.validate_merged_config(merged)

    @classmethod
    def validate_merged_config(cls, config: dict[str, Any]) -> list[str]:
        """Problems with the settings once the mapping file is merged in (always a dict)."""
        return []

    @classmethod
    def exported_columns(cls, config: Any) -> list[ExportedColumn]:
        """The columns the mapping exports, each with the register field it fills; empty when
        the configuration is not valid, or when the mapping does not list its columns (then
        everything the source has is exported, and nobody can label it beforehand)."""
        try:
            merged = _merged(config)
        except ConfigurationError:
            return []
        if cls.validate_merged_config(merged):
            return []
        return cls.columns_of_merged_config(merged)

    @classmethod
    def columns_of_merged_config(cls, config: dict[str, Any]) -> list[ExportedColumn]:
        return []

    @classmethod
    def source_labels(cls, config: Any) -> dict[str, dict[str, str]]:
        """The readable names the mapping gives its sources: {source: {language: text}}, the
        source as records name it (a table, an endpoint's path template; "*" for every file of
        a folder). Empty when the configuration is not valid."""
        try:
            merged = _merged(config)
        except ConfigurationError:
            return {}
        if cls.validate_merged_config(merged):
            return {}
        return cls.labels_of_merged_config(merged)

    @classmethod
    def labels_of_merged_config(cls, config: dict[str, Any]) -> dict[str, dict[str, str]]:
        return {}

    def check(self) -> list[str]:
        """Problems found by contacting the system (reachable, credentials, schema)."""
        return []

    def find_subject(self, identifiers: Iterable[Identifier]) -> Lookup:
        raise ConnectorError(f"{type(self).__name__} cannot search for subjects")

    def export(self, match: SubjectMatch) -> Iterator[Record]:
        raise ConnectorError(f"{type(self).__name__} cannot export records")

    # --- the change side (changes.py) ---------------------------------------------------------

    def describe_records(self, records: Sequence[RecordRef]) -> dict[str, RecordFacts]:
        """What the retention rules need to know of each record (by key), read from the system
        now. By default nothing is known: every record exists and none is active."""
        return {record.key: RecordFacts() for record in records}

    def plan_changes(self, request: ChangeRequest) -> list[Change]:
        """Exactly what would change, in the order to apply it. By default every record is
        changed by hand: one manual change per source, saying what to do."""
        return manual_changes(request)

    def apply(self, change: Change) -> ChangeResult:
        """Carry out one planned change, idempotently (see changes.py)."""
        raise ConnectorError(f"{type(self).__name__} cannot change records: a person does")

    def searchable_kinds(self) -> frozenset[str] | None:
        """The identifier kinds this system can be searched by; None: any (a person searches)."""
        return None

    @property
    def is_manual(self) -> bool:
        """A manual system is searched by a person; the case waits for their answer."""
        return False

    def close(self) -> None:
        """Release connections; called when a run is done."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


MANUAL_STRATEGY = {
    Intent.ERASE: Strategy.DELETE,
    Intent.RECTIFY: Strategy.RECTIFY,
    Intent.RESTRICT: Strategy.RESTRICT,
    Intent.LIFT_RESTRICTION: Strategy.LIFT_RESTRICTION,
    Intent.STOP_MARKETING: Strategy.STOP_MARKETING,
    Intent.OBJECT: Strategy.STOP_PROCESSING,
}
MANUAL_INSTRUCTIONS = {
    Intent.ERASE: "Erase these records, or every personal value in them.",
    Intent.RECTIFY: "Set the listed fields of these records to the approved values.",
    Intent.RESTRICT: "Mark these records restricted: keep them, use them for nothing else.",
    Intent.LIFT_RESTRICTION: "Lift the restriction of these records.",
    Intent.STOP_MARKETING: "Stop all marketing to this person and list them as opted out.",
    Intent.OBJECT: (
        "Stop using these records for the processing the person objected to (based on our "
        "legitimate interests, such as profiling or analytics); keep them for other purposes."
    ),
}


def manual_changes(
    request: ChangeRequest, records: Sequence[RecordRef] | None = None
) -> list[Change]:
    """One change by hand per source of `records` (default: all of the request's)."""
    by_source: dict[str, list[str]] = {}
    for record in request.records if records is None else records:
        by_source.setdefault(record.source, []).append(record.key)
    columns = tuple(sorted(request.corrections.items())) if request.intent == Intent.RECTIFY else ()
    return [
        Change(
            target=source,
            strategy=MANUAL_STRATEGY[request.intent],
            keys=tuple(keys),
            columns=columns,
            manual=True,
            instructions=MANUAL_INSTRUCTIONS[request.intent],
        )
        for source, keys in by_source.items()
    ]


def _merged(config: Any) -> dict[str, Any]:
    return merged_config(config)
